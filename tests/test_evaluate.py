"""Evaluation engine: metric, bootstrap, pairing, tasks, sweeps, errors and the CLI end to end."""

import dataclasses
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from icl_ood import evaluate as ev
from icl_ood import presets
from icl_ood.baselines import averaging
from icl_ood.cli import main
from icl_ood.config import DataConfig
from icl_ood.presets import LINEAR_SINE_1D

KEY = jax.random.key(1)
LIN2 = DataConfig(dim=2, n_points=8, families=("linear",), weights=(1.0,))


class AveragingModel(nnx.Module):
    """A stand-in 'model' that is the averaging estimator, to check that the model and the
    baselines see the same prompts."""

    def __init__(self, max_points: int):
        self.pos = nnx.Embed(2 * max_points, 1, rngs=nnx.Rngs(0))

    def __call__(self, xs_BxNxD, ys_BxN):
        return averaging.averaging_predict(xs_BxNxD, ys_BxN)


def by(rows, predictor):
    return {r["k"]: r for r in rows if r["predictor"] == predictor}


def test_zero_predictor_scores_one_against_the_tasks_own_second_moment():
    """The normalizer is the task's E[y^2] (closed form), not the scored prompts' mean: the zero
    predictor's normalized error is the prompts' mean y^2 / E[y^2], near 1 for many prompts."""
    res = ev.evaluate(None, LIN2, ev.Task(family="linear", n_prompts=4096), ("zero",), KEY,
                      n_boot=200)
    assert len(res.rows) == 8
    for r in res.rows:
        assert r["normalizer"] == LIN2.dim * LIN2.x_scale ** 2 and r["normalizer_how"] == "closed form"
        assert r["normalized"] == pytest.approx(r["error"] / r["normalizer"], rel=1e-12)
        assert r["normalized"] == pytest.approx(1.0, abs=0.06) and r["normalized"] != 1.0
        assert r["norm_lower"] < r["normalized"] < r["norm_upper"]


@pytest.mark.parametrize("task", [
    ev.Task(family="sinusoid"), ev.Task(family="relu_net"), ev.Task(family="sparse_linear"),
    ev.Task(mix=("linear", "sinusoid", 0.3), y_scale=2.0, noise_std=0.5),
    ev.Task(family="sinusoid", x_dist="uniform", x_scale=3.0,
            priors=(("sinusoid.amp_dist", "uniform"), ("sinusoid.amp", (0.5, 2.0))))])
def test_closed_form_normalizer_matches_monte_carlo(task):
    """tasks.mean_square in closed form equals a large Monte Carlo sample (within 4 s.e.)."""
    from icl_ood.config import DataConfig
    base = DataConfig(dim=3 if task.family in ("relu_net", "sparse_linear") else 1,
                      n_points=16, families=("linear",), weights=(1.0,))
    cfg = task.data_config(base.with_prior("sparse_linear", sparsity=2))
    norm, how = ev.mean_square(task, cfg)
    assert how == "closed form"
    import dataclasses
    _, ys = ev.draw(jax.random.key(5), dataclasses.replace(task, n_prompts=20000), cfg)
    y2 = np.asarray(ys, np.float64) ** 2
    per_prompt = y2.mean(1)
    assert abs(per_prompt.mean() - norm) < 4 * per_prompt.std() / np.sqrt(per_prompt.size) + 1e-9


def test_metric_matches_direct_computation_and_intervals_cover():
    task = ev.Task(family="linear", n_prompts=256)
    res = ev.evaluate(None, LIN2, task, ("averaging",), KEY, n_boot=500)
    xs, ys = ev.draw(KEY, task, task.data_config(LIN2))
    x, y = np.asarray(xs, np.float64), np.asarray(ys, np.float64)
    s = np.cumsum(x * y[..., None], 1) - x * y[..., None]
    pred = np.sum(s / np.maximum(np.arange(8), 1)[:, None] * x, -1)
    for k, r in by(res.rows, "averaging").items():
        err = np.mean((pred[:, k] - y[:, k]) ** 2)
        assert r["error"] == pytest.approx(err, rel=1e-6)
        assert r["normalized"] == pytest.approx(err / LIN2.dim, rel=1e-6)  # E[y^2] = d
        assert r["norm_lower"] <= r["normalized"] <= r["norm_upper"]


def test_bootstrap_intervals_shrink_with_more_prompts():
    widths = []
    for n in (64, 1024):
        rows = ev.evaluate(None, LIN2, ev.Task(family="linear", n_prompts=n), ("knn3",), KEY,
                           n_boot=500).rows
        r = by(rows, "knn3")[4]
        widths.append(r["norm_upper"] - r["norm_lower"])
    assert widths[1] < 0.5 * widths[0]  # ~ 1/sqrt(n): a factor 4 expected


def test_model_and_baselines_are_scored_on_the_same_prompts():
    res = ev.evaluate(AveragingModel(8), LIN2, ev.Task(family="linear", n_prompts=128),
                      ("averaging", "least_squares"), KEY, n_boot=100)
    m, avg = by(res.rows, "model"), by(res.rows, "averaging")
    for k in range(1, 8):  # float32 model vs float64 baseline on the very same prompts
        for f in ("error", "lower", "upper", "normalized", "norm_lower", "norm_upper"):
            assert m[k][f] == pytest.approx(avg[k][f], rel=1e-4)
    assert by(res.rows, "least_squares")[3]["error"] < 0.01 * m[3]["error"]


def test_model_rows_carry_the_paired_gap_to_the_pretraining_bayes_predictor():
    """gap_bayes_mixture = the model's normalized error minus Bayes's on the same prompts, its
    interval from the paired bootstrap (so narrower than the two intervals' spread)."""
    res = ev.evaluate(AveragingModel(8), LIN2, ev.Task(family="linear", n_prompts=256),
                      ("bayes_mixture",), KEY, n_boot=200)
    m, bayes = by(res.rows, "model"), by(res.rows, "bayes_mixture")
    for k in range(1, 8):
        g, lo, hi = (m[k][f] for f in ("gap_bayes_mixture", "gap_bayes_mixture_lower",
                                       "gap_bayes_mixture_upper"))
        assert g == pytest.approx(m[k]["normalized"] - bayes[k]["normalized"], rel=1e-9)
        assert lo <= g <= hi
        assert bayes[k]["gap_bayes_mixture"] is None
    # averaging is far worse than Bayes from k = 3 on: wholly above 0
    assert all(m[k]["gap_bayes_mixture_lower"] > 0 for k in range(3, 8))


class LeastSquaresModel(AveragingModel):
    """A stand-in 'model' that is least squares on x (float32)."""

    def __call__(self, xs_BxNxD, ys_BxN):
        from icl_ood.baselines import prefix
        return prefix.lstsq_predict(xs_BxNxD, ys_BxN)


def test_model_rows_decompose_the_model_into_the_yardsticks():
    """A model that is least squares is, per k, 100% least squares in the convex decomposition
    over the yardsticks present (noise 0.5: least squares and the Bayes predictors differ; from
    k = 3 > d, where the float32 stand-in's least squares is well conditioned)."""
    cfg = dataclasses.replace(LIN2, noise_std=0.5)
    res = ev.evaluate(LeastSquaresModel(8), cfg, ev.Task(family="linear", n_prompts=256),
                      ("least_squares", "bayes_mixture", "task_bayes"), KEY, n_boot=20)
    m = by(res.rows, "model")
    for k in range(3, 8):
        assert m[k]["mix_least_squares"] == pytest.approx(1.0, abs=1e-3), m[k]
        assert m[k]["mix_residual"] < 1e-6 and m[k]["mix_sin_ls_known"] is None
        assert m[k]["mix_least_squares_lower"] == pytest.approx(1.0, abs=1e-3)  # over prompts
        assert m[k]["mix_task_bayes_upper"] < 1e-3 and m[k]["mix_sin_ls_known_lower"] is None
    assert by(res.rows, "least_squares")[3]["mix_least_squares"] is None  # model rows only


def test_model_predict_chunks_and_padding_match_one_call():
    from icl_ood.config import ModelConfig
    from icl_ood.model.transformer import Transformer
    model = Transformer(ModelConfig(n_layers=1, n_heads=2, d_model=16, max_points=8), 2,
                        rngs=nnx.Rngs(0))
    xs, ys = ev.draw(KEY, ev.Task(family="linear", n_prompts=12), LIN2)
    one_call = ev.model_predict(model, xs, ys, chunk=64)  # 12 prompts: one unpadded call
    assert one_call.shape == (12, 8) and np.all(np.isfinite(one_call))
    np.testing.assert_allclose(ev.model_predict(model, xs, ys, chunk=5), one_call,
                               rtol=1e-5, atol=1e-6)


def test_bad_inputs_give_clear_errors():
    with pytest.raises(ValueError, match="unknown family"):
        ev.Task(family="cubic")
    with pytest.raises(ValueError, match=r"a must be in \[0, 1\]"):
        ev.Task(mix=("linear", "sinusoid", 1.2))
    with pytest.raises(ValueError, match="exactly one"):
        ev.Task()
    with pytest.raises(ValueError, match="positions for 8 points"):
        ev.evaluate(AveragingModel(8), LIN2, ev.Task(family="linear", n_points=20), (), KEY)
    with pytest.raises(ValueError, match="unknown sweep"):
        ev.sweep_tasks(LIN2, "everything")
    with pytest.raises(ValueError, match="one family"):
        ev.sweep_tasks(LIN2, "convex")


def test_task_overrides_y_scale_and_skew():
    cfg = DataConfig(dim=3, n_points=16, families=("linear",), weights=(1.0,), noise_std=0.1)
    base = ev.Task(family="linear", n_prompts=4000)
    xs0, ys0 = ev.draw(KEY, base, base.data_config(cfg))
    xs1, ys1 = ev.draw(KEY, dataclasses.replace(base, y_scale=3.0), base.data_config(cfg))
    np.testing.assert_array_equal(xs0, xs1)
    # y = f + e and the scaled task's y = 3 f + e with the same e, so ys1 - 3 ys0 = -2 e.
    assert abs(np.std(np.asarray(ys1) - 3 * np.asarray(ys0)) / 2 - 0.1) < 0.005
    skew = dataclasses.replace(base, x_skew=True)
    xs2, _ = ev.draw(KEY, skew, skew.data_config(cfg))
    eig = np.sort(np.linalg.eigvalsh(np.cov(np.asarray(xs2).reshape(-1, 3).T)))[::-1]
    expect = np.array([1, 1 / 4, 1 / 9]) * 3 / (1 + 1 / 4 + 1 / 9)
    np.testing.assert_allclose(eig, expect, rtol=0.05)
    assert base.data_config(cfg).families == ("linear",)
    tcfg = ev.Task(family="sinusoid", priors=(("sinusoid.freq", (2.0, 2.0)),)).data_config(
        LINEAR_SINE_1D)
    assert tcfg.sinusoid.freq == (2.0, 2.0) and tcfg.x_scale == 3.0


def test_sweep_task_lists():
    conv = ev.sweep_tasks(LINEAR_SINE_1D, "convex", 10)
    assert [t.a for t in conv] == pytest.approx([0.1 * i for i in range(11)])
    assert conv[0].families == ("linear", "sinusoid")
    freqs = [t.data_config(LINEAR_SINE_1D).sinusoid.freq[0]
             for t in ev.sweep_tasks(LINEAR_SINE_1D, "freq", 10)]
    assert min(freqs) <= 0.25 and max(freqs) >= 4 and 1.0 in freqs
    shifts = ev.sweep_tasks(DataConfig(dim=3), "shifts", 10)
    assert any(t.x_skew for t in shifts) and len({t.label for t in shifts}) == len(shifts)


@pytest.fixture(scope="module")
def eval_run(tiny_run, tmp_path_factory):
    """A copy of the session's trained tiny run (step 1000), to evaluate into."""
    run_dir = tmp_path_factory.mktemp("eval") / "run"
    shutil.copytree(tiny_run[0], run_dir)
    return run_dir


def test_cli_end_to_end(eval_run, capsys):
    rc = main(["evaluate", "--run", str(eval_run), "--sweep", "k", "--n-prompts", "64",
               "--n-boot", "100", "--k", "1", "10"])
    out, err = capsys.readouterr()
    assert rc == 0 and "normalized squared error" in out and "wall time" in out
    assert f"{eval_run.name}: k sweep" in err and "task" in err  # the progress bar
    rows = ev.read_jsonl(eval_run / "eval" / "k.n64.boot100.jsonl")  # keyed by the options
    preds = {r["predictor"] for r in rows}
    assert {"model", "least_squares", "bayes_mixture", "task_bayes"} <= preds
    assert len(rows) == len(preds) * 11
    for r in rows:
        assert set(ev.ROW_FIELDS) <= set(r) and r["n_prompts"] == 64 and r["step"] == 1000
        assert np.isfinite(r["normalized"]) and r["norm_lower"] <= r["norm_upper"]
    ls = by(rows, "least_squares")
    assert ls[5]["normalized"] < 1e-6  # 1-D noiseless linear: exact from one point
    weights = ev.read_jsonl(eval_run / "eval" / "k_bayes_weights.n64.boot100.jsonl")
    assert {w["component"] for w in weights} == {"linear"} and len(weights) == 11


def test_cli_convex_with_mix_and_errors(eval_run, capsys):
    rc = main(["evaluate", "--run", str(eval_run), "--sweep", "convex", "--mix",
               "linear,sinusoid", "--n-prompts", "32", "--n-boot", "50",
               "--baselines", "least_squares,task_bayes"])
    assert rc == 0
    rows = ev.read_jsonl(eval_run / "eval" /
                         "convex.n32.bl=least_squares+task_bayes.mix=linear+sinusoid.boot50.jsonl")
    assert sorted({r["a"] for r in rows}) == pytest.approx([0.1 * i for i in range(11)])
    assert {r["predictor"] for r in rows} == {"model", "least_squares", "task_bayes"}
    assert main(["evaluate", "--run", str(eval_run), "--sweep", "k", "--k", "50"]) == 2
    assert main(["evaluate", "--run", str(eval_run), "--baselines", "xgboost"]) == 2
    assert main(["evaluate", "--run", str(eval_run / "nope")]) == 2
    assert "error" in capsys.readouterr().err


def test_draw_uses_sample_family_prompts():
    task = ev.Task(family="linear", n_prompts=16)
    from icl_ood.data import prompts
    xs, ys = ev.draw(KEY, task, task.data_config(LIN2))
    xs_ref, ys_ref, _ = prompts.sample_family(KEY, "linear", 16, task.data_config(LIN2))
    np.testing.assert_array_equal(xs, xs_ref)
    np.testing.assert_array_equal(ys, jnp.asarray(ys_ref))


def test_evaluate_kept_log_spaced_steps(tmp_path, capsys):
    """train.keep_log keeps checkpoints at steps_per_dispatch * 2^i; `evaluate --steps all`
    scores every kept step on the same prompts, each in its own file, rows carrying the step."""
    from icl_ood.checkpoint import Checkpoints
    from icl_ood.train import train

    run = tmp_path / "run"
    cfg = presets.get("tiny").override(["train.keep_log=true", "train.steps=200",
                                        "train.ckpt_every=100", "train.keep_ckpts=1"])
    train(cfg, run, progress=False)
    ckpts = Checkpoints(run / "ckpt")
    assert ckpts.steps() == [20, 40, 80, 160, 200]  # log-spaced + latest
    ckpts.close()
    capsys.readouterr()
    assert main(["evaluate", "--run", str(run), "--sweep", "k", "--steps", "all",
                 "--n-prompts", "32", "--n-boot", "50",
                 "--baselines", "least_squares,task_bayes,bayes_mixture"]) == 0
    by_step = {}
    for s in (20, 40, 80, 160, 200):
        rows = ev.read_jsonl(run / "eval" / f"k.n32.bl=least_squares+task_bayes+bayes_mixture"
                                            f".boot50.step{s}.jsonl")
        assert {r["step"] for r in rows} == {s}
        by_step[s] = {(r["predictor"], r["k"]): r["normalized"] for r in rows}
    # Same prompts at every step: the baseline's numbers are identical; the model's change.
    assert all(by_step[s][("least_squares", 5)] == by_step[20][("least_squares", 5)]
               for s in by_step)
    assert by_step[200][("model", 10)] < by_step[20][("model", 10)]
    # `figures --run` reads every step back and draws error and selection cost along training.
    from icl_ood import figures, results
    along = results.load_run(run)["runs"][0]["along"]["k"]
    assert sorted(along) == [20, 40, 80, 160, 200]
    assert {r["step"] for r in along[40]} == {40}
    assert [r["normalized"] for r in along[80] if (r["predictor"], r["k"]) == ("model", 10)] \
        == [by_step[80][("model", 10)]]
    assert run / "figures" / "9_selection_along_training.png" in figures.draw_run(run)
    assert main(["evaluate", "--run", str(run), "--steps", "30"]) == 2
    assert "no checkpoint at [30]" in capsys.readouterr().err


def test_a_user_baseline_is_saved_with_its_registered_label_and_style(tiny_run, tmp_path,
                                                                       monkeypatch):
    """What each predictor is (label, line style, definition) is saved with the evaluation, so
    figures and the report show a user's baseline as registered after it is gone, and the
    built-ins as their registry says, without importing any baseline."""
    from icl_ood import baselines as bl
    from icl_ood import figures, results

    def build(ctx):
        def fn(xs, ys):  # the mean of the previous y's (0 with none)
            n = jnp.arange(ys.shape[1])
            prev = jnp.concatenate([jnp.zeros_like(ys[:, :1]), jnp.cumsum(ys, 1)[:, :-1]], 1)
            return prev / jnp.maximum(n, 1), {}
        return fn, "running mean of y"

    bl.names()  # the built-ins first
    monkeypatch.setitem(bl.REGISTRY._items, "mean_so_far", bl.Spec(
        "mean_so_far", build, "running mean of y", ("tab:olive", (0, (5, 1)), 1.3),
        default=False, doc="The mean of the previous y's.\n\nMore text."))
    run = tmp_path / "run"
    shutil.copytree(tiny_run[0], run)
    res = ev.run_sweep(run, "k", n_prompts=32, n_boot=50, progress=False,
                       baselines=("least_squares", "mean_so_far"))
    saved = results.read_manifest(res.path)["predictors"]
    assert saved["mean_so_far"] == {"label": "running mean of y",
                                    "style": ["tab:olive", [0, [5, 1]], 1.3],
                                    "doc": "The mean of the previous y's."}
    assert saved["least_squares"]["label"] == bl.REGISTRY.get("least_squares").label
    assert saved["model"]["label"] == "Transformer" and set(saved) == {
        "model", "least_squares", "mean_so_far"}
    monkeypatch.delitem(bl.REGISTRY._items, "mean_so_far")  # gone: drawing needs only files
    data = results.load_run(run)
    with figures.saved(data):
        assert figures.look("mean_so_far") == ("running mean of y", "tab:olive", (0, (5, 1)),
                                               1.3)
    assert figures.look("mean_so_far")[0] == "mean_so_far"  # outside: not known
    assert figures.look("least_squares") == figures.LEGACY_STYLE["least_squares"]
    assert len(figures.draw_run(run)) > 0


def test_nearness_counts_prompts_nearer_each_fit_against_the_bayes_posterior():
    """Per prompt: nearer the line fit (1), the sinusoid fit (0) or tied (1/2); agreement with
    the family the Bayes posterior favours on the prompt; bootstrap intervals around the shares."""
    p, n = 400, 3
    ls, sin = np.zeros((p, n)), np.ones((p, n))
    model = np.full((p, n), 0.9)
    model[: 3 * p // 4] = 0.1  # nearer the line fit on 3/4 of the prompts
    model[:, 2] = 0.5  # at k = 2 tied everywhere
    w_lin = np.where(np.arange(p) < p // 2, 0.8, 0.2)[:, None] * np.ones(n)
    counts = ev.bootstrap_counts(p, 200, 0)
    preds = {"model": model, "least_squares": ls, "sin_ls_known": sin}
    out = ev.nearness("model", preds, {"linear": w_lin, "sinusoid": 1 - w_lin}, counts)
    assert out["near_least_squares"][:2] == [0.75, 0.75] and out["near_least_squares"][2] == 0.5
    # agree: first half (near line, favours line) and last quarter (near sine, favours sine)
    assert out["near_agrees_bayes"][:2] == [0.75, 0.75] and out["near_agrees_bayes"][2] == 0.5
    for f in ("near_least_squares", "near_agrees_bayes"):
        for k in range(2):
            assert out[f"{f}_lower"][k] < out[f][k] < out[f"{f}_upper"][k]
    assert ev.nearness("least_squares", preds, {}, counts) == {}
    assert set(ev.nearness("model", preds, {}, counts)) == {
        "near_least_squares", "near_least_squares_lower", "near_least_squares_upper"}


def test_a_least_squares_model_is_nearer_the_line_fit_on_lines():
    """End to end on the 1-D lines + sinusoids prior, a = 1 (pure lines): a least-squares
    'model' is nearer the line fit on every prompt, and from a few points on the Bayes posterior
    favours lines on almost every prompt, so the two agree."""
    task = next(t for t in ev.sweep_tasks(LINEAR_SINE_1D, "convex", 256) if t.label == "a=1")
    res = ev.evaluate(LeastSquaresModel(LINEAR_SINE_1D.n_points), LINEAR_SINE_1D, task,
                      ("least_squares", "sin_ls_known", "bayes_mixture"), KEY, n_boot=50)
    m = by(res.rows, "model")
    for k in (5, 20, 40):
        assert m[k]["near_least_squares"] == 1.0
        assert m[k]["near_agrees_bayes"] > 0.95
    assert by(res.rows, "least_squares")[5]["near_least_squares"] is None
    assert by(res.rows, "bayes_mixture")[20]["near_agrees_bayes"] > 0.9
