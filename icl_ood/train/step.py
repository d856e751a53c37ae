"""The training step: a pure, jitted chunk of `lax.scan`-fused optimizer steps for R runs, and
the initial state (model, optimizer, keys) it starts from.

Data is generated on the device inside the step from `fold_in(data_key, step)`, so there is no
input pipeline and a resumed run sees exactly the batches an uninterrupted run would.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import nnx
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from icl_ood.config import Config, TrainConfig
from icl_ood.data import prompts
from icl_ood.model.transformer import Transformer


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
    """Adam on the schedule (AdamW with `weight_decay` > 0, decaying only parameters of rank >= 2),
    with optional global-norm clipping."""
    adam = optax.adam(schedule(cfg)) if cfg.weight_decay == 0 else optax.adamw(
        schedule(cfg), weight_decay=cfg.weight_decay,
        mask=lambda params: jax.tree.map(lambda p: p.ndim >= 2, params))
    return optax.chain(optax.clip_by_global_norm(cfg.grad_clip), adam) if cfg.grad_clip else adam


def init_model(cfg: Config, key: jax.Array) -> Transformer:
    return Transformer(cfg.model, cfg.data.input_dim, rngs=nnx.Rngs(params=key))


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
    if cfg.data.family_hint:  # conditional pretraining: the family, one-hot, on every x token
        n_fam = len(cfg.data.families)
        xs = prompts.with_hint(xs, jax.nn.one_hot(family_B, n_fam, dtype=xs.dtype))
    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
    (loss, (fam_sum, fam_count)), grads = grad_fn(
        state.params, graphdef, xs, ys, mask, family_B, len(cfg.data.families))
    updates, opt_state = optimizer(cfg.train).update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    return TrainState(params, opt_state), {"loss": loss, "fam_sum": fam_sum, "fam_count": fam_count}


@functools.partial(jax.jit, static_argnames=("graphdef", "cfg", "n_steps", "batch_sharding",
                                             "run_batch", "run_mesh"),
                   donate_argnums=0)
def train_chunk(state_R: TrainState, step0, data_key_R, weights_R=None, *, graphdef,
                cfg: Config, n_steps: int, batch_sharding=None, run_batch: int | None = None,
                run_mesh: Mesh | None = None):
    """`n_steps` train steps fused by lax.scan, for R independent runs side by side.

    Every leaf of `state_R` and `data_key_R` has a leading run axis R, as has `weights_R`
    (R, families), each run's pretraining mixture (default: cfg.data.weights for all); metrics
    come back as (R, n_steps, ...) arrays. `run_batch` runs at a time are vectorised (vmap) and
    the groups run one after another (lax.map); None or >= R: all at once. With run_batch=1
    each run computes exactly what it would alone. `run_mesh` (mesh.make_run_mesh): the run
    axis split over its devices, each running its R / devices runs as above (shard_map, no
    collectives; run_batch then counts per device).
    """
    def one_run(args):
        state, data_key, weights = args
        def body(s, step):
            return train_step(s, step, data_key, graphdef, cfg, batch_sharding, weights)
        return jax.lax.scan(body, state, step0 + jnp.arange(n_steps))

    def all_runs(runs):
        if run_batch == 1:  # also for R = 1: a vmap of one run rounds differently
            return jax.lax.map(one_run, runs)
        if run_batch is None or run_batch >= runs[1].shape[0]:
            return jax.vmap(one_run)(runs)
        return jax.lax.map(one_run, runs, batch_size=run_batch)
    runs = (state_R, data_key_R, weights_R)
    if run_mesh is None:
        return all_runs(runs)
    spec = P(run_mesh.axis_names[0])
    return jax.shard_map(all_runs, mesh=run_mesh, in_specs=(spec,), out_specs=spec)(runs)


def compiled_config(cfg: Config) -> Config:
    """`cfg` without the fields the compiled step never reads (name, logging, checkpointing,
    steps per dispatch, the seed, which arrives as keys, and the run length unless the cosine
    schedule decays over it): the static argument of the compiled programs, so runs that
    differ only in those share one compilation (and compute bitwise the same)."""
    t = cfg.train
    steps = t.steps if t.schedule == "cosine" else max(t.warmup_steps, 1)
    return dataclasses.replace(cfg, name="", train=dataclasses.replace(
        t, steps=steps, steps_per_dispatch=1, log_every=1, ckpt_every=1, keep_ckpts=1,
        keep_log=False, seed=0))


def init_runs(cfg: Config, seeds: list[int], mesh: Mesh | None = None):
    """(graphdef, stacked state, stacked data keys) for runs with the given seeds."""
    init_keys, data_keys = zip(*(keys(s) for s in seeds))
    # The structure only (an eager init would compile every initializer op: seconds on a CPU).
    graphdef, _ = nnx.split(nnx.eval_shape(lambda: init_model(cfg, init_keys[0])), nnx.Param)
    init = _init_fn(compiled_config(cfg), mesh)
    return graphdef, init(jnp.stack(init_keys)), jnp.stack(data_keys)


@functools.lru_cache(maxsize=16)
def _init_fn(cfg: Config, mesh: Mesh | None):
    """The vmapped initializer of `cfg`, jitted once per (cfg, mesh): a fresh jax.jit per call
    would recompile it every time (seconds on a CPU)."""
    init = jax.vmap(lambda k: init_state(cfg, k)[1])
    return init if mesh is None else jax.jit(init, out_shardings=NamedSharding(mesh, P()))
