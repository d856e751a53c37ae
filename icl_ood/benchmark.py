"""Training-step benchmark: ms per step, throughput, model FLOPs, MFU, compile time, memory.

FLOPs per step are counted from the config (PaLM's convention, Chowdhery et al. 2022, App. B):
6 * N * tokens for the parameter matmuls (forward + backward) plus 12 * L * T * d_model * tokens
for attention scores and values (counted as if non-causal), with N the parameters in matmuls
(12 L d_model^2 + read-in + read-out) and T = 2 * points tokens per prompt.
"""

from __future__ import annotations

import statistics
import time

import jax
import jax.numpy as jnp

from icl_ood.config import Config
from icl_ood.train import _host, batch_sharding_for, init_runs, make_mesh, train_chunk

# Dense peak FLOP/s by (device kind prefix, dtype). float32 matmuls on NVIDIA GPUs run as TF32
# under JAX's default precision, so the TF32 tensor-core peak is the fair ceiling there.
PEAK_FLOPS = {
    ("NVIDIA H100", "bfloat16"): 989e12, ("NVIDIA H100", "float32"): 494.7e12,
    ("NVIDIA H200", "bfloat16"): 989e12, ("NVIDIA H200", "float32"): 494.7e12,
    ("NVIDIA A100", "bfloat16"): 312e12, ("NVIDIA A100", "float32"): 156e12,
}


def flops_per_step(cfg: Config) -> float:
    """Model FLOPs of one training step (forward + backward), see the module docstring."""
    m, d = cfg.model, cfg.model.d_model
    t = 2 * cfg.data.n_points
    tokens = cfg.train.batch_size * t
    n_matmul = 12 * m.n_layers * d * d + cfg.data.dim * d + d
    return 6.0 * n_matmul * tokens + 12.0 * m.n_layers * t * d * tokens


def peak_flops(device_kind: str, dtype: str) -> float | None:
    for (prefix, dt), v in PEAK_FLOPS.items():
        if device_kind.startswith(prefix) and dt == dtype:
            return v
    return None


def benchmark(cfg: Config, windows: int = 5, window_steps: int = 0, num_runs: int = 1):
    """Yields one record (dict) for `cfg`: median ms per step over `windows` timed windows.

    A step is one optimizer step of every one of the `num_runs` runs trained together; the
    global batch is split over all devices, as in training.
    """
    n = window_steps or cfg.train.steps_per_dispatch
    mesh = make_mesh()
    sharding = batch_sharding_for(cfg, mesh)
    seeds = [cfg.train.seed + i for i in range(num_runs)]
    graphdef, state, data_key = init_runs(cfg, seeds, mesh)
    step0 = jnp.asarray(0, jnp.int32)
    t0 = time.perf_counter()
    compiled = train_chunk.lower(state, step0, data_key, graphdef=graphdef, cfg=cfg,
                                 n_steps=n, batch_sharding=sharding).compile()
    compile_s = time.perf_counter() - t0
    state, m = compiled(state, step0, data_key)  # warm-up
    jax.block_until_ready(m)
    times = []
    for w in range(windows):
        t0 = time.perf_counter()
        state, m = compiled(state, jnp.asarray((w + 1) * n, jnp.int32), data_key)
        jax.block_until_ready((state, m))
        times.append((time.perf_counter() - t0) / n)
    dev = jax.devices()[0]
    s = statistics.median(times)
    fl = flops_per_step(cfg) * num_runs
    peak = peak_flops(dev.device_kind, cfg.model.dtype)
    stats = dev.memory_stats() if dev.platform != "cpu" else None
    mem = (stats or {}).get("peak_bytes_in_use")
    tokens = cfg.train.batch_size * 2 * cfg.data.n_points * num_runs
    yield {
        "device": dev.device_kind, "platform": dev.platform, "n_devices": jax.device_count(),
        "preset": cfg.name, "batch_size": cfg.train.batch_size, "dim": cfg.data.dim,
        "n_points": cfg.data.n_points, "dtype": cfg.model.dtype, "attention": cfg.model.attention,
        "num_runs": num_runs, "steps_per_dispatch": n,
        "ms_per_step": 1e3 * s, "ms_per_step_min": 1e3 * min(times),
        "steps_per_s": 1 / s, "tokens_per_s": tokens / s,
        "model_flops_per_step": fl, "achieved_flops_per_s": fl / s,
        "mfu": (fl / s / peak) if peak else None, "peak_flops_per_s": peak,
        "compile_s": compile_s, "peak_device_bytes": mem, "final_loss": float(_host(m["loss"])[0, -1]),
        "jax": jax.__version__,
    }
