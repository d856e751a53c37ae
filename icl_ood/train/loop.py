"""The host loop: trains runs chunk by chunk, logs, checkpoints and resumes.

The host never waits on the device inside the loop: it dispatches chunk i+1 before it reads
chunk i's metrics, and only synchronises to write a checkpoint.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.experimental import multihost_utils
from tqdm.auto import tqdm

from icl_ood.checkpoint import CheckpointError, Checkpoints, close_all
from icl_ood.config import Config, ConfigError
from icl_ood.data import pool
from icl_ood.model.transformer import count_params
from icl_ood.reliability import GracefulStop, newest_step
from icl_ood.train.mesh import _host, batch_sharding_for, make_mesh, make_run_mesh, run_sharding
from icl_ood.train.rundir import (
    _abstract,
    _Logger,
    _truncate_metrics,
    _write_atomic,
    check_run_dir,
    record_resolved,
)
from icl_ood.train.runs import group_config, log_steps, resolve_run_batch, run_configs
from icl_ood.train.step import TrainingDiverged, TrainState, compiled_config, init_runs, train_chunk


def train(cfg: Config, run_dir: str | Path, *, progress: bool = True,
          stop_at: int | None = None, num_runs: int = 1,
          vary: list[str] | tuple[str, ...] = (), run_batch: int | None = None) -> dict:
    """Trains `cfg` in `run_dir`, resuming from its latest good checkpoint; returns a summary.

    Writes run_dir/config.json, run_dir/metrics.jsonl (one JSON record per log_every steps)
    and orbax checkpoints under run_dir/ckpt (parameters, optimizer state, step, config).
    `num_runs` > 1 trains seeds seed, seed+1, ... in one program, each in its own
    run_dir/seed<S> with its own config, metrics and checkpoints; `vary` adds pretraining
    mixtures, e.g. ["data.weights=[[1,0],[0,1],[0.5,0.5]]"] (see run_configs and train_many).
    The global batch is split over all devices (data parallelism). `stop_at` ends this
    invocation (with a checkpoint) at that step, e.g. to fit a time-limited session; rerunning
    the same command continues exactly. So does a SIGINT (Ctrl-C) or SIGTERM (one process):
    a checkpoint at the end of the current chunk, then the summary with "interrupted" set.
    """
    runs = run_configs(cfg, Path(run_dir), num_runs, vary)
    return train_many([c for c, _ in runs], [d for _, d in runs], progress=progress,
                      stop_at=stop_at, run_batch=run_batch)


def train_many(cfgs: list[Config], run_dirs: list[str | Path], *, progress: bool = True,
               stop_at: int | None = None, run_batch: int | None = None,
               shard_runs: bool = False, keep_steps: tuple[int, ...] = ()) -> dict:
    """Trains several runs in one compiled program, run i of `cfgs[i]` in `run_dirs[i]`, each
    with its own config.json, metrics.jsonl and checkpoints, resuming all from the newest step
    every run has a checkpoint for. The configs may differ only in GROUP_FIELDS (seed and
    mixture weights; ConfigError names any other difference). `run_batch` runs at a time are
    vectorised (vmap; default_run_batch: all on an accelerator, one on a CPU). Each run's
    results equal training its config alone: bitwise with run_batch=1, to float tolerance
    when vmapped (batched matmuls round differently). `shard_runs`: split the runs (not the
    batch) over this process's devices, the most that divide their number (make_run_mesh; each
    device trains whole runs, as one device would with the same run_batch). `keep_steps`:
    checkpoints kept for good besides train.keep_log's (e.g. a study's score steps).
    """
    if len(cfgs) != len(run_dirs):
        raise ConfigError(f"train_many: {len(cfgs)} configs but {len(run_dirs)} run folders")
    runs = list(zip(cfgs, (Path(d) for d in run_dirs)))
    dup = {str(d) for _, d in runs if sum(e.resolve() == d.resolve() for _, e in runs) > 1}
    if dup:
        raise ConfigError(f"train_many: several runs share the folder(s) {sorted(dup)}")
    cfg, num_runs = group_config(list(cfgs)), len(runs)
    run_batch = resolve_run_batch(run_batch, num_runs)
    if shard_runs and jax.process_count() > 1:
        raise ConfigError("train_many: shard_runs splits runs over one process's devices; "
                          "not with several processes")
    mesh = make_run_mesh(num_runs) if shard_runs else make_mesh()
    run_mesh = mesh if shard_runs and mesh.devices.size > 1 else None
    sharding = None if shard_runs else batch_sharding_for(cfg, mesh)
    longer = [check_run_dir(c, d) for c, d in runs]
    lead = jax.process_index() == 0
    for (c, d), extend in zip(runs, longer):
        d.mkdir(parents=True, exist_ok=True)
        if lead and (extend or not (d / "config.json").exists()):
            _write_atomic(d / "config.json", c.to_json())
        if lead and newest_step(d) == 0:
            record_resolved(c, d)
        if lead:
            pool.prepare(c.data, d)  # a task pool is fixed in the folder (data/pool.py)
    graphdef, state, data_keys = init_runs(cfg, [c.train.seed for c, _ in runs], mesh)
    step_cfg = compiled_config(cfg)
    weights = jnp.asarray([c.data.weights for c, _ in runs], jnp.float32)
    if run_mesh is not None:  # every array with a leading run axis: split over the devices
        state, data_keys, weights = jax.device_put((state, data_keys, weights),
                                                   run_sharding(run_mesh))
    kept = tuple(sorted(set(log_steps(cfg.train)) | set(keep_steps)))
    ckpts = [Checkpoints(d / "ckpt", keep=cfg.train.keep_ckpts, keep_steps=kept) for _, d in runs]
    start, state, metas = _restore(ckpts, state)
    for _, d in runs:
        if lead:
            _truncate_metrics(d / "metrics.jsonl", start)
    n_params = count_params(nnx.merge(graphdef, jax.tree.map(lambda x: x[0], state.params)))
    t0 = time.perf_counter()
    logs = [_Logger(c, d / "metrics.jsonl" if lead else None, t0) for c, d in runs]
    for log, meta in zip(logs, metas):
        log.load(meta.get("log"))
    desc = f"{cfg.name} ({n_params / 1e6:.2f}M params{f', {num_runs} runs' if num_runs > 1 else ''})"
    bar = tqdm(total=cfg.train.steps, initial=start, disable=not (progress and lead), unit="step",
               desc=desc, dynamic_ncols=True)

    step, pending, k = start, None, cfg.train.steps_per_dispatch
    end = cfg.train.steps if stop_at is None else max(start, min(stop_at, cfg.train.steps))
    estimate = Estimate(desc, end, jax.default_backend())

    def consume(pending):
        step0, m = pending
        m = _host(m)
        for r, log in enumerate(logs):
            log.add(step0, m["loss"][r], m["fam_sum"][r], m["fam_count"][r])
        bar.update(m["loss"].shape[1])
        last = [log.last_loss for log in logs]
        if np.isfinite(last).all():  # the metrics.jsonl loss (mean of the last log window)
            bar.set_postfix(logged_loss=f"{np.mean(last):.4f}", refresh=False)
        line = estimate.update(step0 + m["loss"].shape[1])
        if line and progress and lead:
            tqdm.write(line, file=sys.stderr)

    stop = GracefulStop(enabled=jax.process_count() == 1)  # Ctrl-C: checkpoint, then return
    interrupted = None
    try:
        stop.__enter__()
        while step < end:
            n = min(k, end - step)
            state, m = train_chunk(state, jnp.asarray(step, jnp.int32), data_keys, weights,
                                   graphdef=graphdef, cfg=step_cfg, n_steps=n, batch_sharding=sharding,
                                   run_batch=run_batch, run_mesh=run_mesh)
            if pending is not None:  # the device is already busy with the chunk just sent
                consume(pending)
            pending, step = (step, m), step + n
            if stop.requested and step < end:
                end, interrupted = step, stop.name
            if step % cfg.train.ckpt_every == 0 or step == end or step in kept:
                consume(pending)  # never checkpoint a diverged state
                pending = None
                _check_finite(state.params, runs, step)
                for r, ((c, _), ck) in enumerate(zip(runs, ckpts)):
                    ck.save(step, jax.tree.map(lambda x, r=r: x[r], state),
                            {"step": step, "config": c.to_dict(), "log": logs[r].snapshot()})
        if pending is not None:
            consume(pending)
        if stop.requested and interrupted is None:  # during the last chunk: still a stop (a
            interrupted = stop.name                  # caller training in segments must see it)
    finally:
        try:
            bar.close()
            close_all(ckpts)  # waits for the last save; CheckpointError if it failed
        finally:
            stop.__exit__()  # a signal during the last save only sets the flag
    return {"steps": step, "resumed_from": start, "num_runs": num_runs, "interrupted": interrupted,
            "final_loss": [log.last_loss for log in logs] if num_runs > 1 else logs[0].last_loss,
            "n_params": n_params, "n_devices": jax.device_count(),
            "run_devices": 1 if run_mesh is None else run_mesh.devices.size,
            "wall_s": time.perf_counter() - t0}


class Estimate:
    """The training time left, measured once: steps per second over `min_s` seconds of chunks
    after the first `skip` (compilation and the slower first executions), reported as one line
    when more than a minute is left, with a warning past 30 minutes on a CPU."""

    CPU_WARN_S = 1800.0

    def __init__(self, name: str, end: int, backend: str, min_s: float = 5.0, skip: int = 2,
                 clock: Callable[[], float] = time.perf_counter):
        self.name, self.end, self.backend, self.min_s, self.clock = name, end, backend, min_s, clock
        self.skip, self.seen = skip, 0
        self.first: tuple[float, int] | None = None
        self.done = False

    def update(self, step: int) -> str | None:
        """Called when the metrics of the chunk ending at `step` arrive; the line, once."""
        now = self.clock()
        self.seen += 1
        if self.done:
            return None
        if self.first is None:
            if self.seen >= self.skip:
                self.first = (now, step)
            return None
        t1, s1 = self.first
        if now - t1 < self.min_s and step < self.end:
            return None
        self.done = True
        rate = (step - s1) / max(now - t1, 1e-9)
        left_s = (self.end - step) / rate
        if left_s < 60:
            return None
        line = (f"{self.name}: {rate:.3g} steps/s on this {self.backend}; the remaining "
                f"{self.end - step:,} steps take about {_duration(left_s)}")
        if self.backend == "cpu" and left_s > self.CPU_WARN_S:
            line += (". Warning: long for a CPU; the same command on a GPU or TPU is far faster "
                     "(README: Running on GPU, TPU and clusters), or train fewer steps with "
                     "--set train.steps=N")
        return line


def _duration(s: float) -> str:
    return f"{s / 60:.0f} min" if s < 5400 else f"{s / 3600:.1f} h"


@jax.jit
def _finite_R(params_R) -> jax.Array:
    """(R,) bool: every parameter of run r is finite."""
    return jnp.stack([jnp.isfinite(x).reshape(x.shape[0], -1).all(1)
                      for x in jax.tree.leaves(params_R)]).all(0)


def _check_finite(params_R, runs, step: int) -> None:
    """TrainingDiverged if a run's parameters hold NaN/inf (never checkpoint them)."""
    for (c, d), ok in zip(runs, _host(_finite_R(params_R))):
        if not ok:
            raise TrainingDiverged(
                f"run seed={c.train.seed} ({d}): parameters are not finite at step {step}; the "
                "last good checkpoint is kept. Try a lower train.lr, train.grad_clip=1.0, or "
                "train.warmup_steps.")


def _restore(ckpts: list[Checkpoints], state_R: TrainState
             ) -> tuple[int, TrainState, list[dict]]:
    """(step, stacked state, metas) from the newest checkpoint step that every run can restore.

    Checkpoint folders past that step (unreadable ones, or ones other runs lack) are renamed
    aside (`<step>.unreadable`, `<step>.ahead`), never deleted, so the step can be saved again.
    """
    if not any(ck.steps() for ck in ckpts):
        return 0, state_R, [{} for _ in ckpts]
    one = jax.tree.map(lambda x: _abstract(x[0]), state_R)
    found = [ck.restore_latest(one) for ck in ckpts]
    for f, ck in zip(found, ckpts):
        if f is None:  # never start over on top of existing results
            raise CheckpointError(f"{ck.directory}: no readable checkpoint among steps "
                                  f"{ck.steps()} while this run has been started before; "
                                  "to start afresh, rerun with --new-run (moves it aside)")
    step = min(f[0] for f in found)
    per_run = [f[1:] if f[0] == step else ck.restore(step, one) for f, ck in zip(found, ckpts)]
    newer = [[s for s in ck.steps() if s > step] for ck in ckpts]
    if any(newer):
        if jax.process_index() == 0:
            for ck, ss in zip(ckpts, newer):
                for s in ss:
                    ck.set_aside(s, "unreadable" if s in ck.unreadable else "ahead")
        if jax.process_count() > 1:
            multihost_utils.sync_global_devices("icl_ood: checkpoints set aside")
            for ck in ckpts:
                ck.manager.reload()
    stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *(p[0] for p in per_run))
    return (step, jax.device_put(stacked, jax.tree.map(lambda x: x.sharding, state_R)),
            [p[1] for p in per_run])
