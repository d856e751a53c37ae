"""Training loop: learning, checkpoints, exact resume, config guard, divergence, CLI."""

import json
import shutil
import subprocess
import sys

import jax
import numpy as np
import pytest
from flax import nnx

from icl_ood import presets
from icl_ood.config import ConfigError
from icl_ood.reliability import newest_step
from icl_ood.train import TrainingDiverged, load_model, train
from icl_ood.train.rundir import record_resolved

TINY = presets.get("tiny")


def records(run_dir):
    return [json.loads(ln) for ln in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_tiny_loss_falls_on_linear_regression(tiny_run):
    run_dir, summary = tiny_run
    recs = records(run_dir)
    assert [r["step"] for r in recs] == [100 * i for i in range(1, 11)]
    # Predicting zero scores E[y^2] = 1 here; the trained model must do far better.
    assert recs[0]["loss"] > 0.8 and recs[-1]["loss"] < 0.4 * recs[0]["loss"]
    for key in ("loss_per_family", "lr", "steps_per_s", "wall_s"):
        assert key in recs[-1]
    assert summary["steps"] == 1000 and summary["resumed_from"] == 0


def test_outputs_on_disk(tiny_run):
    run_dir, _ = tiny_run
    saved = json.loads((run_dir / "config.json").read_text())
    assert saved["train"]["steps"] == 1000 and saved["model"]["d_model"] == 32
    steps = sorted(int(p.name) for p in (run_dir / "ckpt").iterdir() if p.name.isdigit())
    assert steps == [600, 800, 1000]  # keep_ckpts=3, every 200 steps


def test_resume_is_exact(tiny_run, tmp_path):
    """Stop at step 300 (off the checkpoint grid), rerun: same params and metrics as straight."""
    run_dir, _ = tiny_run
    part = tmp_path / "run"
    assert train(TINY, part, progress=False, stop_at=300)["steps"] == 300
    with (part / "metrics.jsonl").open("a") as fh:  # as if killed after logging past the ckpt
        fh.write(json.dumps({"step": 400, "loss": 123.0}) + "\n")
    summary = train(TINY, part, progress=False)
    assert summary["resumed_from"] == 300 and summary["steps"] == 1000
    (m_full, _, _), (m_part, _, _) = load_model(run_dir), load_model(part)
    a, b = nnx.state(m_full, nnx.Param), nnx.state(m_part, nnx.Param)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    full, resumed = records(run_dir), records(part)
    assert [r["step"] for r in resumed] == [100 * i for i in range(1, 11)]
    assert [r["loss"] for r in full] == [r["loss"] for r in resumed]


def test_config_mismatch_is_refused(tiny_run, tmp_path):
    run_dir = tmp_path / "run"  # a copy: a failing guard must not write into the shared run
    shutil.copytree(tiny_run[0], run_dir)
    before = (run_dir / "metrics.jsonl").read_text()
    with pytest.raises(ConfigError, match=r"train\.lr"):
        train(TINY.override(["train.lr=0.5"]), run_dir, progress=False)
    assert (run_dir / "metrics.jsonl").read_text() == before


def test_a_run_whose_auto_attention_meant_another_kernel_is_refused_or_continued_exactly(tmp_path):
    """A run made where model.attention="auto" meant XLA's attention (an older commit on a CPU;
    resolved.json records it): resuming it with "auto" here, the einsum path, is refused before
    any training; with model.attention="xla" it continues, bitwise as trained straight; once
    finished, rerunning it with "auto" is a no-op, not an error."""
    base = TINY.override(["train.steps=60", "train.log_every=20", "train.ckpt_every=20"])
    xla = base.override(['model.attention="xla"'])
    part = tmp_path / "part"
    train(xla, part, progress=False, stop_at=20)
    assert json.loads((part / "resolved.json").read_text()) == \
        {"model.attention": "xla", "backend": "cpu"}
    (part / "config.json").write_text(base.to_json())  # as that commit saved it: "auto"
    before = (part / "metrics.jsonl").read_text()
    with pytest.raises(ConfigError, match=r"'xla' attention .* would be 'einsum'.*"
                                          r"model\.attention=\"xla\""):
        train(base, part, progress=False)
    assert (part / "metrics.jsonl").read_text() == before and newest_step(part) == 20
    assert train(xla, part, progress=False)["resumed_from"] == 20
    train(xla, tmp_path / "straight", progress=False)
    (m_part, _, _), (m_str, _, _) = load_model(part), load_model(tmp_path / "straight")
    for x, y in zip(jax.tree.leaves(nnx.state(m_part, nnx.Param)),
                    jax.tree.leaves(nnx.state(m_str, nnx.Param)), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    assert [r["loss"] for r in records(part)] == [r["loss"] for r in records(tmp_path / "straight")]
    assert train(base, part, progress=False)["steps"] == 60  # finished: nothing to continue
    record_resolved(base, tmp_path)  # a new run with "auto" on this CPU records the einsum path
    assert json.loads((tmp_path / "resolved.json").read_text())["model.attention"] == "einsum"


def test_a_constant_rate_run_is_extended_exactly_and_a_decayed_one_is_refused(tmp_path):
    """Changing train.steps of a constant-rate run (not below its newest checkpoint) continues
    it: the same params as a run trained that long from the start; with a decaying rate the
    guard refuses and says why."""
    const = TINY.override(["train.schedule=\"constant\"", "train.steps=60",
                           "train.ckpt_every=40", "train.log_every=20"])
    longer = const.override(["train.steps=100"])
    train(const, tmp_path / "ext", progress=False)
    summary = train(longer, tmp_path / "ext", progress=False)
    assert summary["resumed_from"] == 60 and summary["steps"] == 100
    train(longer, tmp_path / "straight", progress=False)
    (m_ext, cfg_ext, _), (m_str, _, _) = load_model(tmp_path / "ext"), load_model(tmp_path / "straight")
    assert cfg_ext.train.steps == 100  # config.json says what the run now is
    for x, y in zip(jax.tree.leaves(nnx.state(m_ext, nnx.Param)),
                    jax.tree.leaves(nnx.state(m_str, nnx.Param)), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    assert [r["loss"] for r in records(tmp_path / "ext")] == \
        [r["loss"] for r in records(tmp_path / "straight")]
    cosine = TINY.override(["train.steps=40", "train.log_every=20"])
    train(cosine, tmp_path / "cos", progress=False)
    with pytest.raises(ConfigError, match="only a constant-schedule run can be trained to another length"):
        train(cosine.override(["train.steps=60"]), tmp_path / "cos", progress=False)
    with pytest.raises(ConfigError, match="train.steps: 100 -> 80"):  # never below its step
        train(const.override(["train.steps=80"]), tmp_path / "ext", progress=False)
    train(longer, tmp_path / "cut", progress=False, stop_at=60)  # a 100-step run stopped at 60
    assert train(const.override(["train.steps=80"]), tmp_path / "cut", progress=False)["steps"] == 80
    assert [r["loss"] for r in records(tmp_path / "cut")] == \
        [r["loss"] for r in records(tmp_path / "straight") if r["step"] <= 80]


def test_divergence_stops_and_keeps_checkpoint(tmp_path):
    cfg = TINY.override(["train.lr=1e6", "train.schedule=\"constant\"", "train.warmup_steps=0"])
    with pytest.raises(TrainingDiverged, match="at step"):
        train(cfg, tmp_path / "run", progress=False)
    ckpt = tmp_path / "run" / "ckpt"
    assert not ckpt.exists() or not any(p.name.isdigit() for p in ckpt.iterdir())


def test_cli_end_to_end(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "icl_ood.cli", "train", "--quiet",
         "--run-dir", str(tmp_path / "cli"), "--set", "train.steps=40",
         "--set", "train.ckpt_every=20", "--set", "train.log_every=20"],
        capture_output=True, text=True, check=True)
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert summary["steps"] == 40 and summary["n_params"] > 0
    # no --preset: the tiny preset, and it says so (the summary and one line on stderr)
    assert summary["preset"] == "tiny" and "no --preset given" in out.stderr
    assert (tmp_path / "cli" / "metrics.jsonl").exists()
    bad = subprocess.run(
        [sys.executable, "-m", "icl_ood.cli", "train", "--preset", "tiny",
         "--run-dir", str(tmp_path / "bad"), "--set", "model.n_heads=3"],
        check=False, capture_output=True, text=True)
    assert bad.returncode == 2 and "model.d_model" in bad.stderr
    assert not (tmp_path / "bad").exists()


def test_time_estimate_after_compilation_once_with_a_cpu_warning_past_30_minutes():
    """The estimate skips the first two chunks (compilation, first executions), times 5 s of the
    chunks after them, is given once, only when more than a minute is left, and warns on a CPU
    past 30 minutes."""
    from icl_ood.train.loop import Estimate

    def run(end, backend, times_steps):
        clock = iter(t for t, _ in times_steps)
        est = Estimate("demo", end, backend, clock=lambda: next(clock))
        return [est.update(s) for _, s in times_steps]

    # chunk 1 compiles, chunk 2 starts the clock, then 40 steps/s for 5 s
    chunks = [(10.0, 50), (11.0, 100), (13.5, 200), (16.0, 300), (17.0, 340)]
    lines = run(100_000, "cpu", chunks)
    assert lines[:3] == [None, None, None] and lines[4] is None  # once, after 5 s
    assert lines[3].startswith("demo: 40 steps/s on this cpu; the remaining 99,700 steps take "
                               "about 42 min. Warning: long for a CPU")
    assert "Warning" not in run(100_000, "gpu", chunks)[3]
    assert "Warning" not in run(60_000, "cpu", chunks)[3]  # 25 min left
    assert run(2_000, "cpu", chunks)[3] is None  # 43 s left: nothing to say


def test_runs_differing_only_in_seed_or_constant_schedule_length_share_one_compilation(tmp_path):
    """The compiled step's static config drops what it never reads: the seed (given as keys)
    and, with a constant schedule, the run length; a cosine schedule keeps it (it decays over
    it), and the learning rate it computes is the original config's at every step."""
    from icl_ood.train.step import compiled_config, schedule, train_chunk
    const = TINY.override(["train.schedule=\"constant\"", "train.steps=40"])
    other = const.override(["train.seed=5", "train.steps=60"])
    assert compiled_config(const) == compiled_config(other)
    assert compiled_config(TINY) != compiled_config(TINY.override(["train.steps=900"]))
    for cfg in (const, TINY, TINY.override(["train.warmup_steps=0"])):
        full, kept = schedule(cfg.train), schedule(compiled_config(cfg).train)
        assert [float(full(s)) for s in range(0, cfg.train.steps + 1, 7)] == \
               [float(kept(s)) for s in range(0, cfg.train.steps + 1, 7)]
    train(const, tmp_path / "a", progress=False)
    before = train_chunk._cache_size()
    train(other, tmp_path / "b", progress=False)
    assert train_chunk._cache_size() == before  # no new program for seed 5, 60 steps


def test_weight_decay_shrinks_weight_matrices_only_and_zero_is_adam():
    """AdamW's decoupled decay (train.weight_decay) acts on parameters of rank >= 2 alone: with
    zero gradients one step scales each matrix by 1 - lr * wd and leaves biases and LayerNorm
    scales; at 0 the optimizer is Adam and the saved config has no such field."""
    import dataclasses

    import jax
    import numpy as np

    from icl_ood import presets
    from icl_ood.config import Config
    from icl_ood.train.step import init_state, optimizer
    cfg = presets.get("tiny").override(["train.weight_decay=0.1", "train.lr=0.5",
                                       "train.warmup_steps=0"])
    assert Config.from_dict(cfg.to_dict()).train.weight_decay == 0.1
    assert "weight_decay" not in presets.get("tiny").to_dict()["train"]
    _, state = init_state(cfg, jax.random.key(0))
    opt = optimizer(cfg.train)
    zeros = jax.tree.map(np.zeros_like, state.params)
    updates, _ = opt.update(zeros, opt.init(state.params), state.params)
    ranks = set()
    for u, p in zip(jax.tree.leaves(updates), jax.tree.leaves(state.params), strict=True):
        ranks.add(p.ndim)
        want = -0.5 * 0.1 * np.asarray(p) if p.ndim >= 2 else np.zeros_like(p)
        np.testing.assert_allclose(np.asarray(u), want, rtol=1e-6, atol=1e-12)
    assert {1, 2} <= ranks
    adam = optimizer(dataclasses.replace(cfg.train, weight_decay=0.0))
    assert all(np.all(np.asarray(u) == 0) for u in jax.tree.leaves(
        adam.update(zeros, adam.init(state.params), state.params)[0]))
