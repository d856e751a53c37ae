"""Model selection: the paired excess error over the family oracle (the selection cost), and
family hints (conditional pretraining)."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from icl_ood import evaluate as ev
from icl_ood import presets
from icl_ood.config import Config, ConfigError, DataConfig
from icl_ood.data import prompts
from icl_ood.train import init_runs, train
from icl_ood.train.step import loss_fn, train_step

KEY = jax.random.key(3)
SEL = DataConfig(dim=4, n_points=10, families=("linear", "sparse_linear"), weights=(0.5, 0.5),
                 noise_std=0.3).with_prior("sparse_linear", sparsity=1)


def rows_of(res, predictor):
    return {r["k"]: r for r in res.rows if r["predictor"] == predictor}


def test_selection_cost_is_the_paired_excess_over_the_family_oracle():
    """Known answers: at k = 0 every Bayes predictor predicts 0, so every excess is exactly 0;
    a pretraining prior of one family makes bayes_mixture the family oracle (excess 0 at every
    k); and each excess is the difference of the two rows' errors, its interval paired."""
    task = ev.Task(family="sparse_linear", n_prompts=512)
    res = ev.evaluate(None, SEL, task, ("zero", "least_squares", "bayes_mixture", "task_bayes"),
                      KEY, n_boot=300)
    oracle = rows_of(res, "task_bayes")
    for p in ("zero", "least_squares", "bayes_mixture", "task_bayes"):
        for k, r in rows_of(res, p).items():
            assert r["excess_over"] == "task_bayes"
            assert r["excess"] == pytest.approx(r["error"] - oracle[k]["error"], abs=1e-12)
            assert r["norm_excess"] == pytest.approx(r["excess"] / r["normalizer"], rel=1e-12)
            assert r["norm_excess_lower"] <= r["norm_excess"] + 1e-15
            assert r["norm_excess"] <= r["norm_excess_upper"] + 1e-15
    assert rows_of(res, "bayes_mixture")[0]["excess"] == pytest.approx(0.0, abs=1e-12)
    # Ideal selection costs something at small k, and nothing once the family is plain.
    bm = rows_of(res, "bayes_mixture")
    assert bm[2]["norm_excess_lower"] > 0 and bm[9]["norm_excess"] < bm[2]["norm_excess"]
    # Paired: least squares is worse on every resample; its interval is much narrower than the
    # unpaired difference of the two intervals.
    ls = rows_of(res, "least_squares")[3]
    assert ls["norm_excess_lower"] > 0
    width = ls["norm_excess_upper"] - ls["norm_excess_lower"]
    assert width < (ls["norm_upper"] - ls["norm_lower"]) + (oracle[3]["norm_upper"]
                                                           - oracle[3]["norm_lower"])
    # One pretraining family: the pretraining-prior Bayes predictor is the family oracle.
    one = dataclasses.replace(SEL, weights=(0.0, 1.0))
    res1 = ev.evaluate(None, one, task, ("bayes_mixture", "task_bayes"), KEY, n_boot=100)
    assert max(abs(r["norm_excess"]) for r in rows_of(res1, "bayes_mixture").values()) < 1e-9


def test_no_excess_without_the_task_prior_bayes_predictor():
    res = ev.evaluate(None, SEL, ev.Task(family="linear", n_prompts=64), ("least_squares",), KEY,
                      n_boot=50)
    assert all(r["excess_over"] is None and r["norm_excess"] is None for r in res.rows)


def test_family_hint_config():
    assert SEL.input_dim == 4
    hinted = dataclasses.replace(SEL, family_hint=True)
    assert hinted.input_dim == 6
    assert "family_hint" not in SEL.to_dict() and hinted.to_dict()["family_hint"] is True
    assert DataConfig.from_dict(hinted.to_dict()) == hinted
    with pytest.raises(ConfigError, match="data.family_hint"):
        dataclasses.replace(SEL, family_hint=1)


def test_hints_per_task():
    hinted = dataclasses.replace(SEL, family_hint=True)
    assert ev.hints(SEL, ev.Task(family="linear")) == {"model": None}
    h = ev.hints(hinted, ev.Task(family="sparse_linear"))
    assert [list(v) for v in h.values()] == [[0, 1], [0, 0], [1, 0]]
    assert list(h) == ["model", "model_no_hint", "model_wrong_hint"]
    mix = ev.hints(hinted, ev.Task(mix=("linear", "sparse_linear", 0.5)))
    assert list(mix) == ["model"] and not mix["model"].any()


def _step_loss(cfg: Config):
    graphdef, state_R, keys_R = init_runs(cfg, [0])
    state = jax.tree.map(lambda x: x[0], state_R)
    step = jax.jit(train_step, static_argnames=("graphdef", "cfg"))
    _, m = step(state, jnp.asarray(0), keys_R[0], graphdef=graphdef, cfg=cfg)
    return graphdef, state, keys_R[0], m["loss"]


def test_hint_off_trains_on_the_plain_batch_and_on_the_hinted_batch_when_on():
    """The training step feeds the model exactly the prompts of training_batch (bitwise), with
    the one-hot family appended to every x token when data.family_hint is set."""
    base = dataclasses.replace(presets.get("tiny"), data=dataclasses.replace(
        SEL, n_points=presets.get("tiny").data.n_points))
    for hint in (False, True):
        cfg = dataclasses.replace(base, data=dataclasses.replace(base.data, family_hint=hint))
        graphdef, state, data_key, loss = _step_loss(cfg)
        xs, ys, fam, mask = prompts.training_batch(jax.random.fold_in(data_key, 0),
                                                   jnp.asarray(0), cfg.train.batch_size,
                                                   cfg.data)
        if hint:
            xs = prompts.with_hint(xs, jax.nn.one_hot(fam, 2))
            assert xs.shape[-1] == 6 and bool(jnp.all(xs[..., 4:].sum(-1) == 1))
        want, _ = jax.jit(loss_fn, static_argnums=(1, 6))(state.params, graphdef, xs, ys, mask,
                                                          fam, 2)
        # the same prompts give the same loss; the two compiled programs may round apart by
        # an ulp (jax 0.12.1 fuses them differently; 0.10.2 and 0.12.0.1 agree bitwise)
        np.testing.assert_allclose(np.asarray(loss), np.asarray(want), rtol=1e-6)


def test_tiny_hinted_run_trains_and_is_scored_with_each_hint(tmp_path):
    """A tiny hinted run on 1-D linear + sinusoid trains (the loss falls) and its k sweep scores
    the correct, no and wrong hint on the same prompts; the hint changes its predictions."""
    cfg = presets.get("tiny").override([
        "data.families=linear,sinusoid", "data.weights=0.5,0.5", "data.family_hint=true",
        "train.steps=300"])
    summary = train(cfg, tmp_path / "run", progress=False)
    assert summary["steps"] == 300 and summary["final_loss"] < 0.6, summary
    res = ev.run_sweep(tmp_path / "run", "k", n_prompts=64, n_boot=50,
                       baselines=("bayes_mixture", "task_bayes"))
    preds = {r["predictor"] for r in res.rows}
    assert {"model", "model_no_hint", "model_wrong_hint", "bayes_mixture"} <= preds
    for fam in ("linear", "sinusoid"):
        right = {r["k"]: r["error"] for r in res.rows if r["task"] == fam
                 and r["predictor"] == "model"}
        wrong = {r["k"]: r["error"] for r in res.rows if r["task"] == fam
                 and r["predictor"] == "model_wrong_hint"}
        assert any(right[k] != wrong[k] for k in right)


def test_runs_that_differ_only_in_seed_share_a_figure_column():
    from icl_ood.experiments import get
    from icl_ood.figures import seed_groups
    exp = get("selection")
    runs = [{"label": r.label, "config": exp.config("small", r).to_dict()} for r in exp.runs]
    groups = seed_groups(runs)
    assert [t for t, _ in groups] == [
        "linear + sparse (50/50) (2 seeds)", "linear + sparse (90/10) (2 seeds)",
        "linear + sparse (99/1) (2 seeds)", "linear only (2 seeds)", "sparse only (2 seeds)",
        "linear + sparse (50/50), hinted (2 seeds)"]
    assert all([m["config"]["train"]["seed"] for m in g] == [0, 1] for _, g in groups)


def test_model_rows_carry_their_distance_to_the_yardsticks(tiny_run):
    """dist_<yardstick> = mean over prompts of (model - yardstick)^2 / E[y^2], per k."""
    from icl_ood.train import load_model
    model, cfg, _ = load_model(tiny_run[0])
    res = ev.evaluate(model, cfg.data, ev.Task(family="linear", n_prompts=128),
                      ("least_squares", "bayes_mixture", "task_bayes"), KEY, n_boot=50,
                      keep_preds=True)
    for r in res.rows:
        if r["predictor"] != "model":
            assert r["dist_task_bayes"] is None
            continue
        k, norm = r["k"], r["normalizer"]
        for b in ("bayes_mixture", "task_bayes"):
            want = np.mean((res.preds["model"][:, k] - res.preds[b][:, k]) ** 2) / norm
            assert r[f"dist_{b}"] == pytest.approx(want, rel=1e-9, abs=1e-15)
            assert r[f"dist_{b}_lower"] <= r[f"dist_{b}"] <= r[f"dist_{b}_upper"]
