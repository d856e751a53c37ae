"""Evaluation along training: log steps, the distance metric, the budgeted loop and its files."""

import gzip
import json
import math

import jax
import numpy as np
import pytest

from icl_ood import along_folder, along_report, presets, stats
from icl_ood import along_training as at
from icl_ood import baselines as bl
from icl_ood import evaluate as ev
from icl_ood.config import ConfigError

# The paper's linear + sinusoid data and bfloat16 compute, at a size a CPU trains in seconds.
TINY_PAPER = ["model.n_layers=1", "model.d_model=32", "model.n_heads=2", "data.n_points=11",
              "model.max_points=11", "train.steps_per_dispatch=10", "model.dtype=bfloat16",
              "train.steps=40"]
CFG = presets.get("paper").override(TINY_PAPER)
N_PROMPTS = 64


def read(out):
    return ev.read_jsonl(out / "rows.jsonl"), json.loads((out / "provenance.json").read_text())


@pytest.fixture(scope="module")
def done(tmp_path_factory):
    """A run to train.steps = 40, scored at 10, 20, 40 (no budget)."""
    root = tmp_path_factory.mktemp("along")
    prov = at.run(CFG, root / "out", root / "run", n_prompts=N_PROMPTS, every=10, quiet=True)
    return root, prov


def test_log_steps():
    assert at.log_steps(500_000, 100)[:4] == [100, 200, 400, 800]
    assert at.log_steps(500_000, 100)[-2:] == [409_600, 500_000]
    assert at.log_steps(400, 100) == [100, 200, 400]
    assert at.log_steps(300, 100) == [100, 200, 300]
    with pytest.raises(ConfigError):
        at.log_steps(50, 100)


def test_plan_segment_caps_the_last_segment_to_what_fits():
    # 1 s per step, 5 s of fixed costs: 100 s left fit 95 steps -> 90 (a multiple of 10).
    assert at.plan_segment(100, 200, 10, 100.0, 1.0, 5.0) == 190
    assert at.plan_segment(100, 150, 10, 100.0, 1.0, 5.0) == 150  # fits: the log step itself
    assert at.plan_segment(100, 200, 10, 12.0, 1.0, 5.0) == 100  # under one dispatch: stop
    assert at.plan_segment(100, 200, 10, -3.0, 1.0, 5.0) == 100  # over budget already


def test_distance_invariants():
    data = CFG.data
    task = ev.Task(mix=("linear", "sinusoid", 0.5), n_prompts=256)
    tcfg = task.data_config(data)
    xs, ys = ev.draw(jax.random.key(3), task, tcfg)
    bayes, _ = bl.make("bayes_mixture", data, tcfg, task.families).predict(xs, ys)
    norm, _ = ev.mean_square(task, tcfg)
    counts = ev.bootstrap_counts(task.n_prompts, 200, 0)
    same = stats.distance(bayes, bayes, norm, counts)
    for f in stats.STAT_FIELDS:
        assert np.all(same[f] == 0.0)
    to_zero = stats.distance(bayes, np.zeros_like(bayes), norm, counts)
    expect = np.mean(bayes ** 2, 0) / norm
    np.testing.assert_allclose(to_zero["normalized"], expect, rtol=1e-12)
    np.testing.assert_allclose(to_zero["error"], np.mean(bayes ** 2, 0), rtol=1e-12)
    assert np.all(to_zero["norm_lower"] <= to_zero["normalized"])
    assert np.all(to_zero["normalized"] <= to_zero["norm_upper"])
    assert np.all(to_zero["normalized"][1:] > 0.01)  # Bayes predicts far from 0 once k >= 1


def test_records_at_log_steps_with_baselines_once(done):
    root, prov = done
    rows, saved = read(root / "out")
    assert prov["status"] == saved["status"] == "reached train.steps"
    assert [s["step"] for s in saved["segments"]] == [10, 20, 40] and saved["steps_reached"] == 40
    assert all(set(r) == set(at.FIELDS) for r in rows)
    n_tasks = len(ev.sweep_tasks(CFG.data, "convex")) + len(ev.sweep_tasks(CFG.data, "freq"))
    k = CFG.data.n_points
    model = [r for r in rows if r["predictor"] == "model" and r["metric"] == "error"]
    assert sorted({r["step"] for r in model}) == [10, 20, 40]
    assert len(model) == 3 * n_tasks * k
    base = [r for r in rows if r["predictor"] != "model"]
    assert {r["step"] for r in base} == {None} and {r["predictor"] for r in base} == set(at.BASELINES)
    assert len(base) == len(at.BASELINES) * n_tasks * k  # once, not per step
    dist = [r for r in rows if r["metric"] == "distance"]
    assert {r["versus"] for r in dist} == set(at.VERSUS) and len(dist) == 2 * len(model)
    # Same prompts at every step: the normalizer (error / normalized = E[y^2]) is shared.
    y2 = {}
    for r in rows:
        v = r["error"] / r["normalized"]
        assert math.isclose(y2.setdefault((r["task"], r["k"]), v), v, rel_tol=1e-9)
    # Training changes the model's predictions between the evaluated steps.
    err = {(r["step"], r["task"], r["k"]): r["normalized"] for r in model}
    assert any(abs(err[10, t, kk] - err[40, t, kk]) > 1e-3 for _, t, kk in err if _ == 10)


def test_distance_rows_are_distances_to_the_named_predictor(done):
    """Minkowski: |rms(model - y) - rms(b - y)| <= rms(model - b) <= the sum, per task and k."""
    rows, _ = read(done[0] / "out")
    e = {(r["predictor"], r["step"], r["task"], r["k"]): r["error"] for r in rows
         if r["metric"] == "error"}
    dist = [r for r in rows if r["metric"] == "distance"]
    assert all(math.isfinite(r["normalized"]) and r["normalized"] >= 0 for r in dist)
    for r in dist:
        m, b, d = (math.sqrt(x) for x in (e["model", r["step"], r["task"], r["k"]],
                                          e[r["versus"], None, r["task"], r["k"]], r["error"]))
        assert abs(m - b) <= d * (1 + 1e-6) + 1e-12 and d <= (m + b) * (1 + 1e-6) + 1e-12


def test_outputs_provenance_and_figure(done):
    root, _ = done
    out = root / "out"
    assert sorted(p.name for p in out.iterdir()) == [
        "along_training.pdf", "along_training.png", "log.txt", "metrics.jsonl",
        "provenance.json", "report.md", "rows.jsonl"]
    assert (root / "run" / "ckpt").exists()  # checkpoints stay in the run folder
    _, prov = read(out)
    for key in ("command", "config", "commit", "device", "jax", "loss_definition", "baselines_s"):
        assert key in prov
    assert prov["config"]["model"]["dtype"] == "bfloat16"
    assert all(math.isfinite(s["loss"]) and s["train_s"] > 0 and s["eval_s"] > 0
               for s in prov["segments"])
    assert len((out / "log.txt").read_text().splitlines()) == 5  # baselines, 3 steps, end
    assert (out / "along_training.png").stat().st_size > 10_000
    # the report: one table row per evaluated step with the saved numbers, and the crossing
    rows = [json.loads(ln) for ln in (out / "rows.jsonl").read_text().splitlines()]
    report = (out / "report.md").read_text()
    steps = sorted({r["step"] for r in rows if r["step"] is not None})
    for step in steps:
        v = along_report.pick(rows, "a=0.5", 10, step=step)
        assert f"| {step} | {v:.3g} |" in report, step
    assert "- a=0.5, k = 10 (Bayes" in report


def test_sizes_figure_draws_each_runs_values(done, tmp_path, monkeypatch):
    """The by-size figure (scripts/along_training.py --compare): one column per size, each
    run's line through its saved normalized errors."""
    from icl_ood import figures as fg
    from icl_ood.along_report import sizes
    rows, drawn, real = ev.read_jsonl(done[0] / "out" / "rows.jsonl"), {}, fg._save

    def save(fig, out, name):
        drawn["fig"] = fig
        return real(fig, out, name)

    monkeypatch.setattr(fg, "_save", save)
    shifted = [{**r, "normalized": r["normalized"] * 2} if r["predictor"] == "model" else r
               for r in rows]
    paths = sizes.draw_sizes([("one", [("seed 0", rows)]),
                               ("two", [("seed 0", rows), ("seed 1", shifted)])], "Head.", tmp_path)
    assert [p.name for p in paths] == ["along_sizes.png", "along_sizes.pdf"]
    axes = drawn["fig"].axes  # row-major: the first row is a = 0.5, k = 10
    steps = along_report.model_steps(rows)
    want = [max(along_report.pick(rows, "a=0.5", 10, step=s), fg.FLOOR) for s in steps]
    np.testing.assert_allclose(axes[0].lines[0].get_ydata(), want)
    np.testing.assert_allclose(axes[1].lines[1].get_ydata(), np.maximum(2 * np.array(want),
                                                                        fg.FLOOR))
    np.testing.assert_allclose(axes[0].lines[0].get_xdata(), steps)


def test_crossing_sentences_follow_the_rows():
    def rows(errs, bayes=0.1):
        out = [{"task": "a=0.5", "k": 10, "predictor": "bayes_mixture", "step": None,
                "normalized": bayes}]
        return out + [{"task": "a=0.5", "k": 10, "predictor": "model", "step": s,
                       "normalized": e} for s, e in errs]
    s = along_report.crossing(rows([(100, 0.5), (200, 0.08), (400, 0.09), (800, 0.12)]),
                              "a=0.5", 10)
    assert "below the Bayes predictor from step 200; crosses above it between steps 400 and " \
        "800 (0.12 at 800)" in s
    assert "above the Bayes predictor at every evaluated step (up to 200)" in \
        along_report.crossing(rows([(100, 0.5), (200, 0.2)]), "a=0.5", 10)
    assert "below the Bayes predictor from step 200 to the last evaluated step 400 (0.05)" in \
        along_report.crossing(rows([(100, 0.5), (200, 0.08), (400, 0.05)]), "a=0.5", 10)


def test_budget_stops_early_with_complete_files(tmp_path):
    prov = at.run(CFG, tmp_path / "out", tmp_path / "run", budget_s=0.0, n_prompts=N_PROMPTS,
                  every=10, quiet=True)
    rows, saved = read(tmp_path / "out")
    assert prov["status"] == saved["status"] == "budget"
    assert "status budget" in (tmp_path / "out" / "report.md").read_text()  # the final status
    assert saved["steps_reached"] == 10 < CFG.train.steps  # the first segment always runs
    model = [r for r in rows if r["predictor"] == "model"]
    n_tasks = len(ev.sweep_tasks(CFG.data, "convex")) + len(ev.sweep_tasks(CFG.data, "freq"))
    assert len(model) == 3 * n_tasks * CFG.data.n_points and {r["step"] for r in model} == {10}
    assert not list((tmp_path / "out").glob("*.tmp"))


def test_a_crash_keeps_earlier_results(tmp_path, monkeypatch):
    calls = []

    def failing(*args, **kw):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("boom")
        return score(*args, **kw)

    score = at.score
    monkeypatch.setattr(at, "score", failing)
    with pytest.raises(RuntimeError, match="boom"):
        at.run(CFG, tmp_path / "out", tmp_path / "run", n_prompts=N_PROMPTS, every=10,
               quiet=True, figure=False)
    rows, prov = read(tmp_path / "out")
    assert prov["status"].startswith("failed: RuntimeError: boom")
    assert prov["steps_reached"] == 10
    assert {r["step"] for r in rows if r["predictor"] == "model"} == {10}


def test_refuses_run_dir_inside_out_or_reused(tmp_path, done):
    with pytest.raises(ConfigError, match="inside --out"):
        at.run(CFG, tmp_path, tmp_path / "ckpts", quiet=True)
    with pytest.raises(ConfigError, match="already holds"):
        at.run(CFG, tmp_path / "out", done[0] / "run", quiet=True)
    with pytest.raises(ConfigError, match="multiple"):
        at.run(CFG, tmp_path / "out", tmp_path / "run", every=15, quiet=True)


def test_complete_means_the_same_config_and_evaluation_under_any_name(done):
    import dataclasses
    out = done[0] / "out"
    assert along_folder.complete(out, CFG, N_PROMPTS)
    assert along_folder.complete(out, dataclasses.replace(CFG, name="compute/seed0"), N_PROMPTS)
    assert not along_folder.complete(out, CFG.override(["train.lr=2e-4"]), N_PROMPTS)
    assert not along_folder.complete(out, CFG, 2 * N_PROMPTS)
    assert not along_folder.complete(out, CFG.override(["train.steps=80"]), N_PROMPTS)


def test_resume_trains_a_constant_rate_run_to_a_new_length(tmp_path, done):
    """--resume with only train.steps changed (a constant rate, not below the step reached)
    trains on and scores the new steps only, keeping the rows and the earlier provenance; any
    other change is refused."""
    import shutil
    shutil.copytree(done[0] / "out", tmp_path / "out")
    shutil.copytree(done[0] / "run", tmp_path / "run")
    before, _ = read(tmp_path / "out")
    with pytest.raises(ConfigError, match="other config"):
        at.run(CFG.override(["train.lr=2e-4"]), tmp_path / "out", tmp_path / "run",
               n_prompts=N_PROMPTS, every=10, quiet=True, resume=True)
    longer = CFG.override(["train.steps=80"])
    prov = at.run(longer, tmp_path / "out", tmp_path / "run", n_prompts=N_PROMPTS, every=10,
                  quiet=True, figure=False, resume=True)
    rows, _ = read(tmp_path / "out")
    assert rows[:len(before)] == before and along_report.model_steps(rows) == [10, 20, 40, 80]
    assert prov["steps_reached"] == 80 and prov["config"]["train"]["steps"] == 80
    assert prov["earlier"][0]["train_steps"] == 40 and prov["resumed"] == [40]
    assert json.loads((tmp_path / "run" / "config.json").read_text())["train"]["steps"] == 80


def test_baselines_fall_back_to_the_host_cpu(tmp_path, monkeypatch):
    """If the baselines fail on the default device, they are computed on the host CPU."""
    real = at.reference

    def flaky(*args, **kw):
        if not hasattr(flaky, "failed"):
            flaky.failed = True
            raise RuntimeError("no float64 here")
        return real(*args, **kw)

    monkeypatch.setattr(at, "reference", flaky)
    prov = at.run(CFG, tmp_path / "out", tmp_path / "run", budget_s=0.0, n_prompts=N_PROMPTS,
                  every=10, quiet=True, figure=False)
    assert "no float64 here" in prov["baselines_on_cpu"] and prov["steps_reached"] == 10
    rows, _ = read(tmp_path / "out")
    assert {r["predictor"] for r in rows} == {"model", *at.BASELINES}


def test_replicate_compute_study_stops_on_a_signal_resumes_and_reports_per_seed(tmp_path,
                                                                              monkeypatch):
    """`icl-ood replicate --experiment compute` (at the size of `done`, whose compiled programs
    it shares): a SIGINT during the second segment stops it (Interrupted, no study report or
    figure); the same command continues the run from its checkpoint, scoring only new steps, and
    the report states per seed where the mixture error lies against Bayes; a third call reuses
    everything; `figures --from` redraws."""
    from icl_ood import replicate as rp
    from icl_ood import train as tr
    from icl_ood.cli import main
    out, logged = tmp_path / "compute", []
    args = {"overrides": (*TINY_PAPER, "train.lr=1e-4"), "n_prompts": N_PROMPTS,
            "progress": False, "log": logged.append}
    real, calls = tr.train_many, []

    def stopped_at_20(cfgs, dirs, stop_at=None, **kw):
        calls.append(stop_at)
        summary = real(cfgs, dirs, stop_at=stop_at, **kw)
        return {**summary, "interrupted": "SIGINT"} if stop_at == 20 else summary

    monkeypatch.setattr(tr, "train_many", stopped_at_20)
    with pytest.raises(rp.Interrupted) as e:
        rp.replicate("compute", "paper", out, **args)
    assert e.value.signal == "SIGINT" and calls == [10, 20]
    assert not (out / "report.md").exists() and not (out / "along_training.png").exists()
    first = ev.read_jsonl(out / "along" / "seed0" / "rows.jsonl")
    assert along_report.model_steps(first) == [10, 20]
    monkeypatch.setattr(tr, "train_many", real)

    rp.replicate("compute", "paper", out, **args)
    rows = {s: ev.read_jsonl(out / "along" / s / "rows.jsonl") for s in ("seed0", "seed1")}
    assert {s: along_report.model_steps(r) for s, r in rows.items()} == \
        {"seed0": [10, 20, 40], "seed1": [10, 20, 40]}
    assert rows["seed0"][:len(first)] == first  # the scored steps kept as they were
    prov = json.loads((out / "along" / "seed0" / "provenance.json").read_text())
    assert prov["resumed"] == [20] and prov["config"]["train"]["schedule"] == "constant"
    assert prov["elapsed_s"] > prov["segments"][1]["elapsed_s"]  # both invocations counted
    report = (out / "report.md").read_text()
    for seed in ("seed0", "seed1"):
        sentence = along_report.crossing(rows[seed], "a=0.5", 10)
        assert f"`{seed}`" in report and f"- {sentence}" in report
    assert (out / "along_training.png").exists()
    logged.clear()
    rp.replicate("compute", "paper", out, **args)
    assert sum("reused" in m for m in logged) == 2
    assert main(["figures", "--from", str(out)]) == 0
    for seed in ("seed0", "seed1"):  # as committed: the rows gzipped
        rows_path = out / "along" / seed / "rows.jsonl"
        rows_path.with_suffix(".jsonl.gz").write_bytes(gzip.compress(rows_path.read_bytes()))
        rows_path.unlink()
    assert main(["figures", "--from", str(out)]) == 0
    (out / "along" / "seed1" / "provenance.json").unlink()
    assert main(["figures", "--from", str(out)]) == 2  # a run's results gone: refused


def test_a_folder_whose_auto_attention_meant_xla_continues_only_on_xla(tmp_path):
    """along_folder.continued: a run whose checkpoints were made where model.attention="auto"
    meant XLA's attention continues with "xla" (another spelling of the same kernel) and is
    refused with "auto", which is the einsum path on this CPU (not an exact continuation)."""
    cfg = along_folder.along_config(CFG.override(['train.schedule="constant"']))
    out, run = tmp_path / "out", tmp_path / "run"
    (run / "ckpt" / "20").mkdir(parents=True)
    out.mkdir()
    (run / "resolved.json").write_text(json.dumps({"model.attention": "xla", "backend": "cpu"}))
    prov = {"config": cfg.to_dict(), "n_prompts": 8, "eval_seed": 0, "every": 10,
            "steps_reached": 20}
    (out / "provenance.json").write_text(json.dumps(prov))
    rows = [{"predictor": "model", "step": 20, "error": 0.5}]
    (out / "rows.jsonl").write_text(json.dumps(rows[0]) + "\n")
    got = along_folder.continued(out, run, cfg.override(['model.attention="xla"']), 8, 0, 10)
    assert got is not None and got[1] == rows
    with pytest.raises(ConfigError, match=r"'xla' attention .* would be 'einsum'"):
        along_folder.continued(out, run, cfg, 8, 0, 10)
