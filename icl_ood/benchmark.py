"""Training-step benchmark: ms per step, throughput, model FLOPs, MFU, compile time, memory.

FLOPs per step are counted from the config (PaLM's convention, Chowdhery et al. 2022, App. B):
6 * N * tokens for the parameter matmuls (forward + backward) plus 12 * L * T * d_model * tokens
for attention scores and values (counted as if non-causal), with N the parameters in matmuls
(12 L d_model^2 + read-in + read-out) and T = 2 * points tokens per prompt.
"""

from __future__ import annotations

import collections
import gzip
import json
import math
import os
import statistics
import time
from pathlib import Path

import jax
import jax.numpy as jnp

from icl_ood.config import Config, ConfigError, flops_per_step  # noqa: F401  (re-exported)
from icl_ood.model.transformer import attention_impl
from icl_ood.train import (
    batch_sharding_for,
    init_runs,
    make_mesh,
    resolve_run_batch,
    train_chunk,
)
from icl_ood.train.mesh import _host

# Dense peak FLOP/s by (device kind prefix, dtype). float32 matmuls on NVIDIA GPUs run as TF32
# under JAX's default precision, so the TF32 tensor-core peak is the fair ceiling there.
PEAK_FLOPS = {
    ("NVIDIA H100", "bfloat16"): 989e12, ("NVIDIA H100", "float32"): 494.7e12,
    ("NVIDIA H200", "bfloat16"): 989e12, ("NVIDIA H200", "float32"): 494.7e12,
    ("NVIDIA A100", "bfloat16"): 312e12, ("NVIDIA A100", "float32"): 156e12,
}


def peak_flops(device_kind: str, dtype: str) -> float | None:
    for (prefix, dt), v in PEAK_FLOPS.items():
        if device_kind.startswith(prefix) and dt == dtype:
            return v
    return None


def timed_window(cfg: Config, window_steps: int = 0, num_runs: int = 1,
                 run_batch: int | None = None, dispatches: int = 1):
    """Compiles `cfg`'s training chunk, runs it once, and returns (window, compile_s): each call
    of window() trains `dispatches` chunks of `window_steps` steps (issued without waiting, then
    one wait) and returns the seconds per step (the runs' state carries on between calls)."""
    for name, v, lo in (("--num-runs", num_runs, 1), ("--window-steps", window_steps, 0),
                        ("--dispatches", dispatches, 1)):
        if v < lo:
            raise ConfigError(f"{name}: must be >= {lo}, got {v}")
    run_batch = resolve_run_batch(run_batch, num_runs, "--run-batch")
    n = window_steps or cfg.train.steps_per_dispatch
    mesh = make_mesh()
    sharding = batch_sharding_for(cfg, mesh)
    seeds = [cfg.train.seed + i for i in range(num_runs)]
    graphdef, state, data_key = init_runs(cfg, seeds, mesh)
    step0 = jnp.asarray(0, jnp.int32)
    t0 = time.perf_counter()
    compiled = train_chunk.lower(state, step0, data_key, graphdef=graphdef, cfg=cfg,
                                 n_steps=n, batch_sharding=sharding,
                                 run_batch=run_batch).compile()
    compile_s = time.perf_counter() - t0
    state, m = compiled(state, step0, data_key)  # warm-up
    jax.block_until_ready(m)
    step = n

    def window():
        nonlocal state, m, step
        t0 = time.perf_counter()
        for _ in range(dispatches):
            state, m = compiled(state, jnp.asarray(step, jnp.int32), data_key)
            step += n
        jax.block_until_ready((state, m))
        dt = (time.perf_counter() - t0) / (n * dispatches)
        window.last_loss = float(_host(m["loss"])[0, -1])
        return dt

    return window, compile_s


def benchmark(cfg: Config, windows: int = 5, window_steps: int = 0, num_runs: int = 1,
              run_batch: int | None = None, dispatches: int = 1, profile: str | None = None):
    """Yields one record (dict) for `cfg`: median ms per step over `windows` timed windows.

    A window is `dispatches` calls of the compiled chunk of `window_steps` scan-fused steps,
    issued without waiting, then one wait. A step is one optimizer step of every one of the
    `num_runs` runs trained together (`run_batch` at a time vectorised, as in training); the
    global batch is split over all devices, as in training. With `profile` (a folder), one
    more window is traced with jax.profiler and the record gets its device-time summary.
    """
    if windows < 1:
        raise ConfigError(f"--windows: must be >= 1, got {windows}")
    window, compile_s = timed_window(cfg, window_steps, num_runs, run_batch, dispatches)
    run_batch = resolve_run_batch(run_batch, num_runs, "--run-batch")
    n = window_steps or cfg.train.steps_per_dispatch
    times = [window() for _ in range(windows)]
    summary = None
    if profile:
        with jax.profiler.trace(profile, create_perfetto_trace=True):
            traced_s = window() * n * dispatches
        summary = summarize_trace(latest_trace(profile), traced_s, n * dispatches)
    dev = jax.devices()[0]
    s = statistics.median(times)
    fl = flops_per_step(cfg) * num_runs
    peak = peak_flops(dev.device_kind, cfg.model.dtype)
    stats = dev.memory_stats() if dev.platform != "cpu" else None
    mem = (stats or {}).get("peak_bytes_in_use")
    tokens = cfg.train.batch_size * 2 * cfg.data.n_points * num_runs
    rec = {
        "device": dev.device_kind, "platform": dev.platform, "n_devices": jax.device_count(),
        "preset": cfg.name, "batch_size": cfg.train.batch_size, "dim": cfg.data.dim,
        "n_points": cfg.data.n_points, "dtype": cfg.model.dtype, "attention": cfg.model.attention,
        "attention_impl": attention_impl(cfg.model),
        "num_runs": num_runs, "run_batch": run_batch, "steps_per_dispatch": n,
        "dispatches_per_window": dispatches,
        "ms_per_step": 1e3 * s, "ms_per_step_min": 1e3 * min(times),
        "steps_per_s": 1 / s, "tokens_per_s": tokens / s,
        "model_flops_per_step": fl, "achieved_flops_per_s": fl / s,
        "mfu": (fl / s / peak) if peak else None, "peak_flops_per_s": peak,
        "compile_s": compile_s, "peak_device_bytes": mem, "final_loss": window.last_loss,
        "jax": jax.__version__, "xla_flags": os.environ.get("XLA_FLAGS", ""),
    }
    if summary is not None:
        rec["profile"] = summary
    yield rec


def latest_trace(folder: str | Path) -> Path:
    """The newest perfetto_trace.json.gz that jax.profiler.trace wrote under `folder`."""
    found = sorted(Path(folder).glob("plugins/profile/*/perfetto_trace.json.gz"))
    if not found:
        raise FileNotFoundError(f"{folder}: no perfetto_trace.json.gz (jax.profiler wrote none)")
    return found[-1]


def summarize_trace(path: str | Path, wall_s: float, steps: int, top: int = 12) -> dict:
    """Where the device's time went in a traced window of `steps` steps taking `wall_s`.

    Reads the Chrome-format trace: kernels are the complete ("X") events on the device's stream
    lines (GPU: "Stream #..."; otherwise "XLA Ops"). busy_fraction = the union of kernel
    intervals over the wall time: far below 1 means launches or the host, not arithmetic,
    bound the step. Empty (kernels 0) where no device lines exist, e.g. on a CPU.
    """
    with gzip.open(path, "rt") as fh:
        data = json.load(fh)
    events = data["traceEvents"] if isinstance(data, dict) else data
    procs, threads = {}, {}
    for e in events:
        if e.get("ph") == "M" and e.get("name") == "process_name":
            procs[e["pid"]] = e["args"]["name"]
        elif e.get("ph") == "M" and e.get("name") == "thread_name":
            threads[(e["pid"], e["tid"])] = e["args"]["name"]
    lines = {k: v for k, v in threads.items() if procs.get(k[0], "").startswith("/device:")}
    kind = "Stream" if any(v.startswith("Stream") for v in lines.values()) else "XLA Ops"
    lines = {k for k, v in lines.items() if v.startswith(kind)}
    kernels = [e for e in events if e.get("ph") == "X" and (e.get("pid"), e.get("tid")) in lines]
    busy_us, end = 0.0, -math.inf
    for e in sorted(kernels, key=lambda e: e["ts"]):  # union of [ts, ts + dur)
        lo, hi = max(e["ts"], end), e["ts"] + e["dur"]
        busy_us, end = busy_us + max(0.0, hi - lo), max(end, hi)
    by_name = collections.defaultdict(float)
    for e in kernels:
        by_name[e["name"]] += e["dur"]
    total_us = sum(by_name.values())
    return {
        "steps": steps, "wall_ms_per_step": 1e3 * wall_s / steps,
        "kernels_per_step": len(kernels) / steps,
        "kernel_ms_per_step": total_us / 1e3 / steps,
        "busy_fraction": busy_us / 1e6 / wall_s if wall_s > 0 else None,
        "top_kernels": [{"name": k[:120], "ms_per_step": v / 1e3 / steps,
                         "share": v / total_us}
                        for k, v in sorted(by_name.items(), key=lambda kv: -kv[1])[:top]],
    }
