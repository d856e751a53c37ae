"""A run folder on disk: the config guard, metrics.jsonl (truncation, the logger), atomic
writes, and loading a trained model from its checkpoints."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
import warnings
from pathlib import Path

import jax
import numpy as np
from flax import nnx

from icl_ood.checkpoint import CheckpointError, Checkpoints
from icl_ood.config import Config, ConfigError
from icl_ood.data import pool
from icl_ood.model.transformer import Transformer, attention_impl
from icl_ood.reliability import newest_step
from icl_ood.train import sinks
from icl_ood.train.runs import log_steps
from icl_ood.train.step import TrainingDiverged, init_state, keys, schedule


def check_run_dir(cfg: Config, run_dir: Path) -> bool:
    """Refuses to train into a folder that holds a different run (names the differing fields);
    True if `cfg` re-ends the saved run: a constant schedule with only train.steps changed, to a
    step the run has not passed (its steps so far are exactly those of the new run), so
    training continues to the new end."""
    saved = run_dir / "config.json"
    if not saved.exists():
        if (run_dir / "ckpt").exists() or (run_dir / "metrics.jsonl").exists():
            raise ConfigError(f"{run_dir}: holds checkpoints or metrics but no config.json; "
                              "refusing to guess; use another --run-dir")
        return False
    try:
        old = Config.from_dict(json.loads(saved.read_text()))
    except (json.JSONDecodeError, ConfigError) as e:
        raise ConfigError(f"{saved}: unreadable saved config ({e}); use another --run-dir") from e
    reached = newest_step(run_dir)
    cfg = as_trained(cfg, old, run_dir)
    differ = cfg.diff(old)
    if extends(cfg, old, reached):
        return True
    if differ:
        longer = (f" (only a constant-schedule run can be trained to another length, and not to "
                  f"one below its newest checkpoint, step {reached})"
                  if [d.split(":")[0] for d in differ] == ["train.steps"] else "")
        raise ConfigError(f"{run_dir} holds a run with a different config ({'; '.join(differ)})"
                          f"{longer}; rerun with the same config to resume, or start a new run "
                          "(icl-ood train --new-run moves the old one aside; or pick another "
                          "--run-dir)")
    return False


RESOLVED = "resolved.json"  # what "auto" settings meant where the run's checkpoints were made


def record_resolved(cfg: Config, run_dir: Path) -> None:
    """Writes RESOLVED: the attention implementation `cfg` resolves to here (and the backend),
    for a run that has no checkpoint yet (later ones must continue on the same one)."""
    rec = {"model.attention": attention_impl(cfg.model), "backend": jax.default_backend()}
    _write_atomic(Path(run_dir) / RESOLVED, json.dumps(rec) + "\n")


def as_trained(cfg: Config, old: Config, run_dir: Path) -> Config:
    """`cfg` with model.attention spelled as in the saved config `old` when it resolves to the
    implementation RESOLVED recorded for the run's checkpoints ("auto" and that name alike);
    ConfigError if it resolves to another and steps are left to train (the continuation would
    round differently)."""
    try:
        rec = json.loads((Path(run_dir) / RESOLVED).read_text())
    except (OSError, json.JSONDecodeError):
        return cfg  # a run from before the record: nothing to compare with
    was, now = rec.get("model.attention"), attention_impl(cfg.model)
    if newest_step(run_dir) == 0 or was == old.model.attention == cfg.model.attention:
        return cfg
    if was != now and newest_step(run_dir) < cfg.train.steps:  # (a finished run: nothing to train)
        raise ConfigError(
            f"{run_dir}: its checkpoints were trained with the {was!r} attention "
            f"(model.attention={old.model.attention!r} on a {rec.get('backend')}); here it would "
            f"be {now!r}, so the continuation would not be exact; add --set "
            f"model.attention=\"{was}\" to continue it exactly, or start a new run")
    return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model,
                                                              attention=old.model.attention))


def extends(cfg: Config, old: Config, reached: int = 0) -> bool:
    """`cfg` is `old` trained to another length at a constant rate (nothing else differs), not
    below `reached` (the step the run has got to)."""
    return (cfg.train.schedule == old.train.schedule == "constant"
            and cfg.train.steps != old.train.steps and cfg.train.steps >= reached
            and not cfg.diff(dataclasses.replace(old, train=dataclasses.replace(
                old.train, steps=cfg.train.steps))))


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _truncate_metrics(path: Path, step: int) -> None:
    """Drops records past `step` (written after the checkpoint we resume from, so they will be
    recomputed) and any torn last line of a killed run, with a warning."""
    if not path.exists():
        return
    keep, drop = [], 0
    for ln in path.read_text().splitlines():
        try:
            ok = json.loads(ln)["step"] <= step
        except (json.JSONDecodeError, KeyError, TypeError):
            ok = False
        if ok:
            keep.append(ln)
        elif ln.strip():
            drop += 1
    if drop:
        warnings.warn(f"{path}: dropping {drop} record(s) past step {step}, the checkpoint this "
                      "run resumes from (they are recomputed)", stacklevel=2)
        _write_atomic(path, "".join(ln + "\n" for ln in keep))


class _Logger:
    """Turns one run's per-step metrics into metrics.jsonl records every `log_every` steps,
    each also handed to the run's sinks (TensorBoard, W&B: icl_ood.train.sinks, if asked)."""

    def __init__(self, cfg: Config, path: Path | None, t0: float):
        self.cfg, self.path, self.t0 = cfg, path, t0
        self.sinks = [] if path is None else sinks.open_for(cfg, path.parent)
        self.sched = schedule(cfg.train)
        self.reset(time.perf_counter())
        self.last_loss = math.nan

    def reset(self, now: float) -> None:
        self.losses, self.fam_sum, self.fam_count, self.t_start = [], 0.0, 0.0, now

    def add(self, step0: int, loss, fam_sum, fam_count) -> None:
        """Consumes one chunk of this run's metrics (host arrays) that started at step0."""
        bad = np.flatnonzero(~np.isfinite(loss))
        if bad.size:
            raise TrainingDiverged(
                f"run seed={self.cfg.train.seed}: loss is {loss[bad[0]]} at step "
                f"{step0 + int(bad[0])}; the last good checkpoint is kept. Try a lower train.lr, "
                "train.grad_clip=1.0, or train.warmup_steps.")
        self.losses.extend(loss.tolist())
        for s, c in zip(fam_sum, fam_count):  # step by step: same sums however chunks fall
            self.fam_sum, self.fam_count = self.fam_sum + s, self.fam_count + c
        step = step0 + loss.size
        if step % self.cfg.train.log_every == 0 or step == self.cfg.train.steps:
            self.flush(step)

    def flush(self, step: int) -> None:
        now = time.perf_counter()
        count = np.broadcast_to(np.asarray(self.fam_count), (len(self.cfg.data.families),))
        fam_mean = np.asarray(self.fam_sum) / np.maximum(count, 1)
        rec = {
            "step": step,
            "loss": float(np.mean(self.losses)),
            # null for a family that drew no prompt since the last record (e.g. weight 0)
            "loss_per_family": {f: float(v) if n > 0 else None
                                for f, v, n in zip(self.cfg.data.families, fam_mean, count)},
            "lr": float(self.sched(step - 1)),
            "steps_per_s": len(self.losses) / max(now - self.t_start, 1e-9),
            "wall_s": now - self.t0,
        }
        if self.path is not None:
            with self.path.open("a") as fh:
                fh.write(json.dumps(rec) + "\n")
        for sink in self.sinks:  # after metrics.jsonl, the source of truth
            sink.write(rec)
        self.last_loss = rec["loss"]  # the one "final training loss": the last record's
        self.reset(now)

    def snapshot(self) -> dict:
        """The partial record since the last flush (saved in checkpoints: exact resume of the
        metrics from a checkpoint off the log_every grid)."""
        return {"losses": list(self.losses), "fam_sum": np.asarray(self.fam_sum).tolist(),
                "fam_count": np.asarray(self.fam_count).tolist()}

    def load(self, snap: dict | None) -> None:
        if snap:
            self.losses = list(snap["losses"])
            self.fam_sum = np.asarray(snap["fam_sum"], np.float32)
            self.fam_count = np.asarray(snap["fam_count"], np.float32)


def _abstract(x):
    # With its sharding, so a checkpoint written on N devices restores onto this topology.
    return jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding)


def load_model(run_dir: str | Path, step: int | None = None) -> tuple[Transformer, Config, int]:
    """(model, config, step) from a run folder's latest good (or given) checkpoint."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.json").exists():
        raise CheckpointError(f"{run_dir}: no config.json; not a training run folder")
    cfg = Config.from_dict(json.loads((run_dir / "config.json").read_text()))
    if cfg.data.task_pool and (run_dir / pool.FILE).exists():
        pool.prepare(cfg.data, run_dir)  # the pool it trained on, whatever jax draws here
    init_key, _ = keys(cfg.train.seed)
    graphdef, state = init_state(cfg, init_key)
    ckpts = Checkpoints(run_dir / "ckpt", keep=cfg.train.keep_ckpts, keep_steps=log_steps(cfg.train))
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
