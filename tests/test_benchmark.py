"""The benchmark: FLOP count, record fields, argument errors, the trace summary."""

import gzip
import importlib.util
import json
from pathlib import Path

import jax
import pytest
from flax import nnx

from icl_ood import presets
from icl_ood.benchmark import benchmark, flops_per_step, summarize_trace
from icl_ood.cli import main
from icl_ood.model.transformer import Transformer

TINY = presets.get("tiny")


def test_flops_per_step_of_the_paper_step():
    """6 N tokens for the matmul weights N of the real model plus 12 L T d tokens for attention
    (PaLM's count); ~0.31 TFLOP for the paper-size step."""
    cfg = presets.get("paper").override(["data.dim=20", "data.n_points=41"])
    model = nnx.eval_shape(lambda: Transformer(cfg.model, 20, rngs=nnx.Rngs(0)))
    kernels = [x for path, x in jax.tree.leaves_with_path(nnx.state(model, nnx.Param))
               if "kernel" in jax.tree_util.keystr(path)]
    n_matmul = sum(x.size for x in kernels)
    assert len(kernels) == 4 * 12 + 2  # qkv, out, fc, proj per block; read-in, read-out
    tokens, t = 64 * 82, 82
    assert flops_per_step(cfg) == 6 * n_matmul * tokens + 12 * 12 * t * 256 * tokens
    assert flops_per_step(cfg) == pytest.approx(3.13e11, rel=1e-3)


def test_record_counts_every_run_and_step():
    one, = benchmark(TINY, windows=2, window_steps=5)
    three, = benchmark(TINY, windows=2, window_steps=5, num_runs=3, dispatches=2)
    assert (one["num_runs"], three["num_runs"], three["dispatches_per_window"]) == (1, 3, 2)
    assert three["run_batch"] == 1  # one run at a time on a CPU
    assert three["model_flops_per_step"] == 3 * one["model_flops_per_step"]
    assert three["tokens_per_s"] == pytest.approx(3 * 64 * 22 / (three["ms_per_step"] / 1e3))
    for r in (one, three):
        assert r["ms_per_step"] > 0 and r["steps_per_s"] == pytest.approx(1e3 / r["ms_per_step"])
        assert r["mfu"] is None and r["attention_impl"] == "einsum"  # no peak known for a CPU


@pytest.mark.parametrize(("args", "msg"), [
    (["--num-runs", "0"], "--num-runs: must be >= 1"),
    (["--run-batch", "0"], "--run-batch: must be >= 1"),
    (["--dispatches", "0"], "--dispatches: must be >= 1"),
    (["--set", "model.dtype=float16"], "model.dtype: must be"),
])
def test_bad_arguments_fail_before_compiling(capsys, args, msg):
    assert main(["benchmark", "--preset", "tiny", *args]) == 2
    assert msg in capsys.readouterr().err


def _event(tid, ts, dur, name):
    return {"ph": "X", "pid": 1, "tid": tid, "ts": ts, "dur": dur, "name": name}


def test_trace_summary_counts_stream_kernels_and_their_union(tmp_path):
    """Two streams overlap on [10, 15) us: busy time is their union; the derived "XLA Ops" line
    of the same device and the host's lines are not kernels."""
    meta = [{"ph": "M", "name": "process_name", "pid": 1, "args": {"name": "/device:GPU:0"}},
            {"ph": "M", "name": "process_name", "pid": 2, "args": {"name": "/host:CPU"}}]
    meta += [{"ph": "M", "name": "thread_name", "pid": pid, "tid": tid, "args": {"name": n}}
             for pid, tid, n in ((1, 7, "Stream #7(Compute)"), (1, 8, "Stream #8(Compute)"),
                                 (1, 9, "XLA Ops"), (2, 1, "python"))]
    events = [_event(7, 0, 10, "gemm"), _event(8, 5, 10, "fusion"), _event(7, 40, 20, "gemm"),
              _event(9, 0, 60, "dot.1"), {**_event(1, 0, 100, "host"), "pid": 2}]
    path = tmp_path / "perfetto_trace.json.gz"
    with gzip.open(path, "wt") as fh:
        json.dump({"traceEvents": meta + events}, fh)
    s = summarize_trace(path, wall_s=100e-6, steps=2)
    assert s["kernels_per_step"] == 1.5 and s["kernel_ms_per_step"] == pytest.approx(0.02)
    assert s["busy_fraction"] == pytest.approx((15 + 20) / 100)
    assert [(k["name"], k["share"]) for k in s["top_kernels"]] == [("gemm", 0.75),
                                                                  ("fusion", 0.25)]


def _script():
    spec = importlib.util.spec_from_file_location(
        "bench_script", Path(__file__).parents[1] / "scripts" / "benchmark.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.slow
def test_suite_entries_that_fail_or_hang_become_error_records():
    """A variant that errors or outlives its limit (e.g. under experimental XLA flags) costs its
    limit and leaves an error record; the suite goes on and the table shows it."""
    bench = _script()
    killed = bench.run_entry(bench.entry("tiny", limit_s=1), windows=1, rev="abc")
    assert killed["error"] == "no result within 1 s (killed)" and killed["commit"] == "abc"
    bad = bench.run_entry(bench.entry("tiny", ["model.dtype=float16"]), windows=1, rev="abc")
    assert "model.dtype: must be" in bad["error"]
    ok = bench.run_entry(bench.entry("tiny", steps=5, run_batch=2, runs=2), windows=1, rev="abc")
    assert (ok["run_batch"], ok["num_runs"], ok["commit"]) == (2, 2, "abc")
    rows = bench.table([{**bad, "entry": 0}, {**ok, "entry": 1}]).splitlines()
    assert "error: " in rows[1] and rows[2].split()[:7] == ["1", "tiny", "64", "float32", "2",
                                                            "2", "5"]


def test_reference_speed_alternates_the_sides_and_takes_medians():
    """scripts/reference_speed.py's interleaving: ABBA order, each side timed once per round,
    medians over rounds per side and of the per-round ratios (fake timers: no torch needed)."""
    spec = importlib.util.spec_from_file_location(
        "reference_speed", Path(__file__).parents[1] / "scripts" / "reference_speed.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    calls, ours_s, ref_s = [], iter([0.05, 0.06, 0.04, 0.05]), iter([0.1, 0.1, 0.2, 0.1])

    def ours():
        calls.append("ours")
        return next(ours_s)

    def ref():
        calls.append("ref")
        return next(ref_s)

    got = mod.interleaved(ours, ref, rounds=4, pause_s=0, warmup=0)
    assert calls == ["ours", "ref", "ref", "ours", "ours", "ref", "ref", "ours"]
    assert got["icl_ood_ms_per_step"] == pytest.approx(50.0)  # median of 50, 60, 40, 50
    assert got["reference_ms_per_step"] == pytest.approx(100.0)
    assert got["ratio"] == pytest.approx(0.5)
    assert got["ratio_min"] == pytest.approx(0.2) and got["ratio_max"] == pytest.approx(0.6)
    assert got["ratio_median_of_rounds"] == pytest.approx(0.5)  # of 0.5, 0.6, 0.2, 0.5
    calls.clear()
    ours_s, ref_s = iter([9, 0.05] * 2), iter([9, 0.1] * 2)
    got = mod.interleaved(ours, ref, rounds=2, pause_s=0, warmup=1)  # the warm-up call untimed
    assert calls == ["ours", "ours", "ref", "ref", "ref", "ref", "ours", "ours"]
    assert got["ratio"] == pytest.approx(0.5)
