"""Training: a pure, jitted chunk of `lax.scan`-fused steps, and the host loop around it.

Data is generated on the device inside the step from `fold_in(data_key, step)`, so there is no
input pipeline and a resumed run sees exactly the batches an uninterrupted run would.
The host never waits on the device inside the loop: it dispatches chunk i+1 before it reads
chunk i's metrics, and only synchronises to write a checkpoint.
"""

from __future__ import annotations

import functools
import json
import math
import os
import time
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from tqdm.auto import tqdm

from icl_ood.checkpoint import Checkpoints
from icl_ood.config import Config, ConfigError, TrainConfig
from icl_ood.data import prompts
from icl_ood.model.transformer import Transformer, count_params


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


class TrainState(NamedTuple):
    params: nnx.State
    opt_state: Any


def keys(seed: int) -> tuple[jax.Array, jax.Array]:
    """(init_key, data_key): one root key per run, one fixed fold per purpose."""
    root = jax.random.key(seed)
    return jax.random.fold_in(root, 0), jax.random.fold_in(root, 1)


def schedule(cfg: TrainConfig) -> optax.Schedule:
    """Learning rate vs step: constant (Garg et al.) or linear warmup + cosine decay to 0."""
    if cfg.schedule == "constant":
        if cfg.warmup_steps == 0:
            return optax.constant_schedule(cfg.lr)
        return optax.join_schedules(
            [optax.linear_schedule(0.0, cfg.lr, cfg.warmup_steps), optax.constant_schedule(cfg.lr)],
            [cfg.warmup_steps])
    return optax.warmup_cosine_decay_schedule(0.0, cfg.lr, cfg.warmup_steps, cfg.steps, 0.0)


def optimizer(cfg: TrainConfig) -> optax.GradientTransformation:
    """Adam on the schedule, with optional global-norm clipping."""
    adam = optax.adam(schedule(cfg))
    return optax.chain(optax.clip_by_global_norm(cfg.grad_clip), adam) if cfg.grad_clip else adam


def init_model(cfg: Config, key: jax.Array) -> Transformer:
    return Transformer(cfg.model, cfg.data.dim, rngs=nnx.Rngs(params=key))


def init_state(cfg: Config, key: jax.Array) -> tuple[nnx.GraphDef, TrainState]:
    """(graphdef, state) of a freshly initialised model and optimizer."""
    graphdef, params = nnx.split(init_model(cfg, key), nnx.Param)
    return graphdef, TrainState(params, optimizer(cfg.train).init(params))


def loss_fn(params: nnx.State, graphdef: nnx.GraphDef, xs, ys, mask_BxN, family_B, n_fam: int):
    """Squared error averaged over all (active) prefix positions; also per-family sums."""
    preds_BxN = nnx.merge(graphdef, params)(xs, ys)
    err_BxN = jnp.square(preds_BxN.astype(jnp.float32) - ys) * mask_BxN
    loss_B = err_BxN.sum(1) / mask_BxN.sum(1)
    onehot_BxF = jax.nn.one_hot(family_B, n_fam, dtype=jnp.float32)
    return loss_B.mean(), (onehot_BxF.T @ loss_B, onehot_BxF.sum(0))


def train_step(state: TrainState, step, data_key, graphdef, cfg: Config):
    """One optimizer step on a batch made on the device from fold_in(data_key, step)."""
    batch_key = jax.random.fold_in(data_key, step)
    xs, ys, family_B, mask = prompts.training_batch(batch_key, step, cfg.train.batch_size, cfg.data)
    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
    (loss, (fam_sum, fam_count)), grads = grad_fn(
        state.params, graphdef, xs, ys, mask, family_B, len(cfg.data.families))
    updates, opt_state = optimizer(cfg.train).update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    return TrainState(params, opt_state), {"loss": loss, "fam_sum": fam_sum, "fam_count": fam_count}


@functools.partial(jax.jit, static_argnames=("graphdef", "cfg", "n_steps"), donate_argnums=0)
def train_chunk(state: TrainState, step0, data_key, *, graphdef, cfg: Config, n_steps: int):
    """`n_steps` train steps fused by lax.scan; metrics are stacked per step."""
    def body(s, step):
        return train_step(s, step, data_key, graphdef, cfg)
    return jax.lax.scan(body, state, step0 + jnp.arange(n_steps))


# ----------------------------------------------------------------------------------- host loop

def check_run_dir(cfg: Config, run_dir: Path) -> None:
    """Refuses to train into a folder that holds a different run (names the differing fields)."""
    saved = run_dir / "config.json"
    if not saved.exists():
        if run_dir.exists() and (run_dir / "ckpt").exists():
            raise ConfigError(f"{run_dir}: holds checkpoints but no config.json; "
                              "refusing to guess; use another --run-dir")
        return
    try:
        old = Config.from_dict(json.loads(saved.read_text()))
    except (json.JSONDecodeError, ConfigError) as e:
        raise ConfigError(f"{saved}: unreadable saved config ({e}); use another --run-dir") from e
    differ = cfg.diff(old)
    if differ:
        raise ConfigError(f"{run_dir} holds a run with a different config ({'; '.join(differ)}); "
                          "rerun with the same config to resume, or pick a new --run-dir")


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _truncate_metrics(path: Path, step: int) -> None:
    """Drops records past `step` (written after the checkpoint we resume from)."""
    if not path.exists():
        return
    keep = [ln for ln in path.read_text().splitlines()
            if ln.strip() and json.loads(ln)["step"] <= step]
    _write_atomic(path, "".join(ln + "\n" for ln in keep))


class _Logger:
    """Turns per-step metrics into metrics.jsonl records every `log_every` steps."""

    def __init__(self, cfg: Config, path: Path, bar, t0: float):
        self.cfg, self.path, self.bar, self.t0 = cfg, path, bar, t0
        self.sched = schedule(cfg.train)
        self.reset(time.perf_counter())
        self.last_loss = math.nan

    def reset(self, now: float) -> None:
        self.losses, self.fam_sum, self.fam_count, self.t_start = [], 0.0, 0.0, now

    def add(self, step0: int, m: dict) -> None:
        """Consumes one chunk's metrics (already on the host) that started at step0."""
        loss = np.asarray(m["loss"])
        bad = np.flatnonzero(~np.isfinite(loss))
        if bad.size:
            raise TrainingDiverged(
                f"loss is {loss[bad[0]]} at step {step0 + int(bad[0])}; the last good checkpoint "
                "is kept. Try a lower train.lr, train.grad_clip=1.0, or train.warmup_steps.")
        self.losses.extend(loss.tolist())
        self.fam_sum = self.fam_sum + np.asarray(m["fam_sum"]).sum(0)
        self.fam_count = self.fam_count + np.asarray(m["fam_count"]).sum(0)
        step = step0 + loss.size
        self.last_loss = float(loss[-1])
        self.bar.update(loss.size)
        self.bar.set_postfix(loss=f"{np.mean(self.losses):.4f}", refresh=False)
        if step % self.cfg.train.log_every == 0 or step == self.cfg.train.steps:
            self.flush(step)

    def flush(self, step: int) -> None:
        now = time.perf_counter()
        fam_mean = np.asarray(self.fam_sum) / np.maximum(np.asarray(self.fam_count), 1)
        rec = {
            "step": step,
            "loss": float(np.mean(self.losses)),
            "loss_per_family": {f: float(v) for f, v in zip(self.cfg.data.families, fam_mean)},
            "lr": float(self.sched(step - 1)),
            "steps_per_s": len(self.losses) / max(now - self.t_start, 1e-9),
            "wall_s": now - self.t0,
        }
        with self.path.open("a") as fh:
            fh.write(json.dumps(rec) + "\n")
        self.reset(now)


def train(cfg: Config, run_dir: str | Path, *, progress: bool = True,
          stop_at: int | None = None) -> dict:
    """Trains `cfg` in `run_dir`, resuming from its latest good checkpoint; returns a summary.

    `stop_at` ends this invocation (with a checkpoint) at that step, e.g. to fit a time-limited
    session; rerunning the same command later continues exactly.

    Writes run_dir/config.json, run_dir/metrics.jsonl (one JSON record per log_every steps)
    and orbax checkpoints under run_dir/ckpt (parameters, optimizer state, step, config).
    """
    run_dir = Path(run_dir)
    check_run_dir(cfg, run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if not (run_dir / "config.json").exists():
        _write_atomic(run_dir / "config.json", cfg.to_json())
    init_key, data_key = keys(cfg.train.seed)
    graphdef, state = init_state(cfg, init_key)
    ckpts = Checkpoints(run_dir / "ckpt", keep=cfg.train.keep_ckpts)
    start = 0
    found = ckpts.restore_latest(jax.tree.map(_abstract, state)) if ckpts.steps() else None
    if found is not None:
        start, state, _ = found
    metrics_path = run_dir / "metrics.jsonl"
    _truncate_metrics(metrics_path, start)
    n_params = count_params(nnx.merge(graphdef, state.params))
    t0 = time.perf_counter()
    bar = tqdm(total=cfg.train.steps, initial=start, disable=not progress, unit="step",
               desc=f"{cfg.name} ({n_params / 1e6:.2f}M params)", dynamic_ncols=True)
    log = _Logger(cfg, metrics_path, bar, t0)
    step, pending, k = start, None, cfg.train.steps_per_dispatch
    end = cfg.train.steps if stop_at is None else max(start, min(stop_at, cfg.train.steps))
    try:
        while step < end:
            n = min(k, end - step)
            state, m = train_chunk(state, jnp.asarray(step, jnp.int32), data_key,
                                   graphdef=graphdef, cfg=cfg, n_steps=n)
            if pending is not None:  # the device is already busy with this chunk
                log.add(*jax.device_get(pending))
            pending, step = (step, m), step + n
            if step % cfg.train.ckpt_every == 0 or step == end:
                log.add(*jax.device_get(pending))  # never checkpoint a diverged state
                pending = None
                ckpts.save(step, state, {"step": step, "config": cfg.to_dict()})
        if pending is not None:
            log.add(*jax.device_get(pending))
    finally:
        bar.close()
        ckpts.close()
    return {"steps": step, "resumed_from": start, "final_loss": log.last_loss,
            "n_params": n_params, "wall_s": time.perf_counter() - t0}


def _abstract(x):
    return jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=getattr(x, "sharding", None))


def load_model(run_dir: str | Path, step: int | None = None) -> tuple[Transformer, Config, int]:
    """(model, config, step) from a run folder's latest good (or given) checkpoint."""
    from icl_ood.checkpoint import CheckpointError
    run_dir = Path(run_dir)
    if not (run_dir / "config.json").exists():
        raise CheckpointError(f"{run_dir}: no config.json; not a training run folder")
    cfg = Config.from_dict(json.loads((run_dir / "config.json").read_text()))
    init_key, _ = keys(cfg.train.seed)
    graphdef, state = init_state(cfg, init_key)
    ckpts = Checkpoints(run_dir / "ckpt", keep=cfg.train.keep_ckpts)
    abstract = jax.tree.map(_abstract, state)
    if step is None:
        found = ckpts.restore_latest(abstract)
        if found is None:
            raise CheckpointError(f"{run_dir}: no readable checkpoint")
        step, state, _ = found
    else:
        state, _ = ckpts.restore(step, abstract)
    ckpts.close()
    return nnx.merge(graphdef, state.params), cfg, step
