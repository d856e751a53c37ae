"""Training: a pure, jitted chunk of `lax.scan`-fused steps, and the host loop around it.

Data is generated on the device inside the step from `fold_in(data_key, step)`, so there is no
input pipeline and a resumed run sees exactly the batches an uninterrupted run would.
The host never waits on the device inside the loop: it dispatches chunk i+1 before it reads
chunk i's metrics, and only synchronises to write a checkpoint.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import json
import math
import os
import time
import warnings
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P
from tqdm.auto import tqdm

from icl_ood.checkpoint import CheckpointError, Checkpoints, close_all
from icl_ood.config import Config, ConfigError, TrainConfig
from icl_ood.data import prompts
from icl_ood.model.transformer import Transformer, count_params
from icl_ood.reliability import GracefulStop


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


def train_step(state: TrainState, step, data_key, graphdef, cfg: Config, batch_sharding=None,
               weights=None):
    """One optimizer step on a batch made on the device from fold_in(data_key, step).

    With `batch_sharding` (data parallelism) the batch is laid out across devices as it is drawn;
    parameters stay replicated and XLA inserts the gradient all-reduce. `weights` (traced, one
    per family) overrides cfg.data.weights, the pretraining mixture.
    """
    batch_key = jax.random.fold_in(data_key, step)
    xs, ys, family_B, mask = prompts.training_batch(batch_key, step, cfg.train.batch_size, cfg.data,
                                                    weights)
    if batch_sharding is not None:
        xs, ys, family_B, mask = jax.lax.with_sharding_constraint(
            (xs, ys, family_B, mask), batch_sharding)
    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
    (loss, (fam_sum, fam_count)), grads = grad_fn(
        state.params, graphdef, xs, ys, mask, family_B, len(cfg.data.families))
    updates, opt_state = optimizer(cfg.train).update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    return TrainState(params, opt_state), {"loss": loss, "fam_sum": fam_sum, "fam_count": fam_count}


def default_run_batch(num_runs: int) -> int:
    """Runs vectorised together: all of them on an accelerator (small models fill it only
    together), one at a time on a CPU (measured on 2 cores, demo preset, 3 runs: 252 ms per
    step vmapped vs 180 ms one after another, the same as 3 x 60 ms alone)."""
    return 1 if jax.default_backend() == "cpu" else num_runs


def resolve_run_batch(run_batch: int | None, num_runs: int, name: str = "run_batch") -> int:
    """`run_batch` checked (>= 1, ConfigError naming `name`), defaulted and capped at num_runs."""
    if run_batch is not None and run_batch < 1:
        raise ConfigError(f"{name}: must be >= 1, got {run_batch}")
    return min(num_runs, default_run_batch(num_runs) if run_batch is None else run_batch)


@functools.partial(jax.jit, static_argnames=("graphdef", "cfg", "n_steps", "batch_sharding",
                                             "run_batch"),
                   donate_argnums=0)
def train_chunk(state_R: TrainState, step0, data_key_R, weights_R=None, *, graphdef,
                cfg: Config, n_steps: int, batch_sharding=None, run_batch: int | None = None):
    """`n_steps` train steps fused by lax.scan, for R independent runs side by side.

    Every leaf of `state_R` and `data_key_R` has a leading run axis R, as has `weights_R`
    (R, families), each run's pretraining mixture (default: cfg.data.weights for all); metrics
    come back as (R, n_steps, ...) arrays. `run_batch` runs at a time are vectorised (vmap) and
    the groups run one after another (lax.map); None or >= R: all at once. With run_batch=1
    each run computes exactly what it would alone.
    """
    def one_run(args):
        state, data_key, weights = args
        def body(s, step):
            return train_step(s, step, data_key, graphdef, cfg, batch_sharding, weights)
        return jax.lax.scan(body, state, step0 + jnp.arange(n_steps))
    runs = (state_R, data_key_R, weights_R)
    if run_batch == 1:  # also for R = 1: a vmap of one run rounds differently
        return jax.lax.map(one_run, runs)
    if run_batch is None or run_batch >= data_key_R.shape[0]:
        return jax.vmap(one_run)(runs)
    return jax.lax.map(one_run, runs, batch_size=run_batch)


def init_runs(cfg: Config, seeds: list[int], mesh: Mesh | None = None):
    """(graphdef, stacked state, stacked data keys) for runs with the given seeds."""
    init_keys, data_keys = zip(*(keys(s) for s in seeds))
    # The structure only (an eager init would compile every initializer op: seconds on a CPU).
    graphdef, _ = nnx.split(nnx.eval_shape(lambda: init_model(cfg, init_keys[0])), nnx.Param)
    init = _init_fn(cfg, mesh)
    return graphdef, init(jnp.stack(init_keys)), jnp.stack(data_keys)


@functools.lru_cache(maxsize=16)
def _init_fn(cfg: Config, mesh: Mesh | None):
    """The vmapped initializer of `cfg`, jitted once per (cfg, mesh): a fresh jax.jit per call
    would recompile it every time (seconds on a CPU)."""
    init = jax.vmap(lambda k: init_state(cfg, k)[1])
    return init if mesh is None else jax.jit(init, out_shardings=NamedSharding(mesh, P()))


def make_mesh() -> Mesh:
    """A 1-D mesh over every device of every process, axis "data" (Auto: XLA propagates the
    batch sharding from the constraint in train_step; make_mesh defaults to Explicit axes)."""
    return jax.make_mesh((jax.device_count(),), ("data",),
                         axis_types=(jax.sharding.AxisType.Auto,))


def batch_sharding_for(cfg: Config, mesh: Mesh) -> NamedSharding | None:
    """How a batch is laid out on `mesh` (None on one device)."""
    n = mesh.devices.size
    if n == 1:
        return None
    if cfg.train.batch_size % n:
        raise ConfigError(f"train.batch_size: must be divisible by the number of devices ({n}) "
                          f"for data parallelism, got {cfg.train.batch_size}")
    return NamedSharding(mesh, P("data"))


# ----------------------------------------------------------------------------------- host loop

def check_run_dir(cfg: Config, run_dir: Path) -> None:
    """Refuses to train into a folder that holds a different run (names the differing fields)."""
    saved = run_dir / "config.json"
    if not saved.exists():
        if (run_dir / "ckpt").exists() or (run_dir / "metrics.jsonl").exists():
            raise ConfigError(f"{run_dir}: holds checkpoints or metrics but no config.json; "
                              "refusing to guess; use another --run-dir")
        return
    try:
        old = Config.from_dict(json.loads(saved.read_text()))
    except (json.JSONDecodeError, ConfigError) as e:
        raise ConfigError(f"{saved}: unreadable saved config ({e}); use another --run-dir") from e
    differ = cfg.diff(old)
    if differ:
        raise ConfigError(f"{run_dir} holds a run with a different config ({'; '.join(differ)}); "
                          "rerun with the same config to resume, or start a new run (icl-ood train "
                          "--new-run moves the old one aside; or pick another --run-dir)")


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
    """Turns one run's per-step metrics into metrics.jsonl records every `log_every` steps."""

    def __init__(self, cfg: Config, path: Path | None, t0: float):
        self.cfg, self.path, self.t0 = cfg, path, t0
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
        self.last_loss = float(loss[-1])
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


def _host(tree):
    """Fetches (replicated) device arrays to numpy, also when they span several processes."""
    return jax.tree.map(lambda x: np.asarray(x if x.is_fully_addressable
                                              else x.addressable_data(0)), tree)


# Fields in which runs trained together in one program (vmap) may differ: both enter the
# compiled step as traced per-run values (the data key, the mixture weights).
GROUP_FIELDS = ("train.seed", "data.weights")


def run_configs(cfg: Config, run_dir: Path, num_runs: int,
                vary: list[str] | tuple[str, ...] = ()) -> list[tuple[Config, Path]]:
    """The (config, folder) of each run: one run in run_dir, or one per combination of values.

    `vary` holds `FIELD=[v1, v2, ...]` (FIELD one of GROUP_FIELDS, the values a JSON list); each
    entry is an axis and the runs are their product. `num_runs` > 1 adds seeds seed..seed+N-1.
    Folders: run_dir/w<weights joined by ->/seed<S>, e.g. run_dir/w0.5-0.5/seed1.
    """
    if num_runs < 1:
        raise ConfigError(f"--num-runs: must be >= 1, got {num_runs}")
    axes = []
    for spec in vary:
        key, _, raw = spec.partition("=")
        key = key.strip()
        if key not in GROUP_FIELDS:
            raise ConfigError(f"--vary: {key!r} cannot vary between runs trained together; "
                              f"allowed: {', '.join(GROUP_FIELDS)} (train other changes apart)")
        try:
            values = json.loads(raw)
        except json.JSONDecodeError:
            values = None
        if not isinstance(values, list) or not values:
            raise ConfigError(f"--vary {key}: expected a non-empty JSON list of values, "
                              f"e.g. {key}=[[1,0],[0,1]] or {key}=[0,1,2]; got {raw!r}")
        axes.append([f"{key}={json.dumps(v)}" for v in values])
    if num_runs > 1:
        if any(spec.partition("=")[0].strip() == "train.seed" for spec in vary):
            raise ConfigError("--num-runs: give either --num-runs or --vary train.seed=[...]")
        axes.append([f"train.seed={cfg.train.seed + i}" for i in range(num_runs)])
    if not axes:
        return [(cfg, run_dir)]
    runs = []
    for combo in itertools.product(*axes):
        c = cfg.override(list(combo))
        parts = [_folder_part(c, a.partition("=")[0]) for a in combo]
        runs.append((c, run_dir.joinpath(*parts)))
    return runs


def _folder_part(cfg: Config, key: str) -> str:
    if key == "train.seed":
        return f"seed{cfg.train.seed}"
    return "w" + "-".join(f"{w:g}" for w in cfg.data.weights)


def group_config(cfgs: list[Config]) -> Config:
    """The config of the one program that trains `cfgs` together (seed 0, uniform weights).

    Raises ConfigError naming the fields, other than GROUP_FIELDS, in which the configs differ.
    """
    if not cfgs:
        raise ConfigError("train_many: no configs given")
    for i, c in enumerate(cfgs[1:], 1):
        other = [d for d in c.diff(cfgs[0]) if d.split(":")[0] not in GROUP_FIELDS]
        if other:
            raise ConfigError(f"run {i} differs from run 0 in {'; '.join(other)}; runs trained "
                              f"together may differ only in {', '.join(GROUP_FIELDS)}")
    c = cfgs[0]
    n = len(c.data.families)
    return dataclasses.replace(c, train=dataclasses.replace(c.train, seed=0),
                               data=dataclasses.replace(c.data, weights=(1.0 / n,) * n))


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
               stop_at: int | None = None, run_batch: int | None = None) -> dict:
    """Trains several runs in one compiled program, run i of `cfgs[i]` in `run_dirs[i]`, each
    with its own config.json, metrics.jsonl and checkpoints, resuming all from the newest step
    every run has a checkpoint for. The configs may differ only in GROUP_FIELDS (seed and
    mixture weights; ConfigError names any other difference). `run_batch` runs at a time are
    vectorised (vmap; default_run_batch: all on an accelerator, one on a CPU). Each run's
    results equal training its config alone: bitwise with run_batch=1, to float tolerance
    when vmapped (batched matmuls round differently).
    """
    if len(cfgs) != len(run_dirs):
        raise ConfigError(f"train_many: {len(cfgs)} configs but {len(run_dirs)} run folders")
    runs = list(zip(cfgs, (Path(d) for d in run_dirs)))
    dup = {str(d) for _, d in runs if sum(e.resolve() == d.resolve() for _, e in runs) > 1}
    if dup:
        raise ConfigError(f"train_many: several runs share the folder(s) {sorted(dup)}")
    cfg, num_runs = group_config(list(cfgs)), len(runs)
    run_batch = resolve_run_batch(run_batch, num_runs)
    mesh = make_mesh()
    sharding = batch_sharding_for(cfg, mesh)
    for c, d in runs:
        check_run_dir(c, d)
    lead = jax.process_index() == 0
    for c, d in runs:
        d.mkdir(parents=True, exist_ok=True)
        if lead and not (d / "config.json").exists():
            _write_atomic(d / "config.json", c.to_json())
    graphdef, state, data_keys = init_runs(cfg, [c.train.seed for c, _ in runs], mesh)
    weights = jnp.asarray([c.data.weights for c, _ in runs], jnp.float32)
    ckpts = [Checkpoints(d / "ckpt", keep=cfg.train.keep_ckpts) for _, d in runs]
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

    def consume(pending):
        step0, m = pending
        m = _host(m)
        for r, log in enumerate(logs):
            log.add(step0, m["loss"][r], m["fam_sum"][r], m["fam_count"][r])
        bar.update(m["loss"].shape[1])
        bar.set_postfix(loss=f"{np.mean([log.last_loss for log in logs]):.4f}", refresh=False)

    step, pending, k = start, None, cfg.train.steps_per_dispatch
    end = cfg.train.steps if stop_at is None else max(start, min(stop_at, cfg.train.steps))
    stop = GracefulStop(enabled=jax.process_count() == 1)  # Ctrl-C: checkpoint, then return
    interrupted = None
    try:
        stop.__enter__()
        while step < end:
            n = min(k, end - step)
            state, m = train_chunk(state, jnp.asarray(step, jnp.int32), data_keys, weights,
                                   graphdef=graphdef, cfg=cfg, n_steps=n, batch_sharding=sharding,
                                   run_batch=run_batch)
            if pending is not None:  # the device is already busy with the chunk just sent
                consume(pending)
            pending, step = (step, m), step + n
            if stop.requested and step < end:
                end, interrupted = step, stop.name
            if step % cfg.train.ckpt_every == 0 or step == end:
                consume(pending)  # never checkpoint a diverged state
                pending = None
                _check_finite(state.params, runs, step)
                for r, ((c, _), ck) in enumerate(zip(runs, ckpts)):
                    ck.save(step, jax.tree.map(lambda x, r=r: x[r], state),
                            {"step": step, "config": c.to_dict(), "log": logs[r].snapshot()})
        if pending is not None:
            consume(pending)
    finally:
        try:
            bar.close()
            close_all(ckpts)  # waits for the last save; CheckpointError if it failed
        finally:
            stop.__exit__()  # a signal during the last save only sets the flag
    return {"steps": step, "resumed_from": start, "num_runs": num_runs, "interrupted": interrupted,
            "final_loss": [log.last_loss for log in logs] if num_runs > 1 else logs[0].last_loss,
            "n_params": n_params, "n_devices": jax.device_count(),
            "wall_s": time.perf_counter() - t0}


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


def _abstract(x):
    # With its sharding, so a checkpoint written on N devices restores onto this topology.
    return jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding)


def load_model(run_dir: str | Path, step: int | None = None) -> tuple[Transformer, Config, int]:
    """(model, config, step) from a run folder's latest good (or given) checkpoint."""
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
