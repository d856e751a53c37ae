"""Prompt batches: x distributions, pretraining mixtures, convex combinations, noise, curriculum
(functions from each family's prior or its finite pool: icl_ood/data/pool.py).

All functions are pure and jit-able; a batch is `(xs_BxNxD, ys_BxN)`.
Keys: callers derive one key per batch (training uses `fold_in(data_key, step)`), and every
draw inside splits it with a fixed purpose, so a batch is a function of its key alone.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from icl_ood import families
from icl_ood.config import DataConfig
from icl_ood.data import pool


def sample_xs(key: jax.Array, batch: int, n: int, cfg: DataConfig) -> jax.Array:
    """Inputs xs_BxNxD from N(0, x_scale^2 I), U[-x_scale, x_scale]^d, or the n-point grid
    of [-x_scale, x_scale] in a random order per prompt (d = 1)."""
    shape = (batch, n, cfg.dim)
    if cfg.x_dist == "gaussian":
        return cfg.x_scale * jax.random.normal(key, shape)
    if cfg.x_dist == "grid":
        order_BxN = jnp.argsort(jax.random.uniform(key, (batch, n)), axis=-1)
        return jnp.linspace(-cfg.x_scale, cfg.x_scale, n)[order_BxN][..., None]
    return jax.random.uniform(key, shape, minval=-cfg.x_scale, maxval=cfg.x_scale)


def add_noise(key: jax.Array, ys_BxN: jax.Array, cfg: DataConfig) -> jax.Array:
    """Adds N(0, noise_std^2) label noise (a no-op when noise_std is 0)."""
    if cfg.noise_std == 0:
        return ys_BxN
    return ys_BxN + cfg.noise_std * jax.random.normal(key, ys_BxN.shape)


def sample_family(key: jax.Array, family: str, batch: int, cfg: DataConfig, n: int | None = None):
    """A batch of prompts of one pure family: (xs_BxNxD, ys_BxN, params)."""
    kx, kf, kn = jax.random.split(key, 3)
    xs = sample_xs(kx, batch, n or cfg.n_points, cfg)
    params = pool.sample(kf, family, batch, cfg)
    return xs, add_noise(kn, families.get(family).apply(params, xs), cfg), params


def sample_mixture(key: jax.Array, batch: int, cfg: DataConfig, active_dims=None, weights=None):
    """Pretraining batch: each prompt's family ~ Categorical(cfg.weights), independently.

    `active_dims` (optional, traced) zeroes the x coordinates beyond it before f is evaluated.
    `weights` (optional, traced, one per family) replaces cfg.weights, so runs with different
    mixtures can share one compiled program; a zero weight never draws its family.
    Returns (xs_BxNxD, ys_BxN, family_B) with family_B indexing cfg.families.
    """
    kx, kc, kn, *kfs = jax.random.split(key, 3 + len(cfg.families))
    xs = sample_xs(kx, batch, cfg.n_points, cfg)
    if active_dims is not None:
        xs = xs * (jnp.arange(cfg.dim) < active_dims)
    if len(cfg.families) == 1:
        family_B = jnp.zeros((batch,), jnp.int32)
    else:
        logits = jnp.log(jnp.asarray(cfg.weights if weights is None else weights, jnp.float32))
        family_B = jax.random.categorical(kc, logits, shape=(batch,)).astype(jnp.int32)
    ys = jnp.zeros(xs.shape[:2])
    for i, (name, kf) in enumerate(zip(cfg.families, kfs)):
        params = pool.sample(kf, name, batch, cfg)
        ys = jnp.where((family_B == i)[:, None], families.get(name).apply(params, xs), ys)
    return xs, add_noise(kn, ys, cfg), family_B


def sample_convex(key: jax.Array, batch: int, cfg: DataConfig, family1: str, family2: str,
                  a: float, n: int | None = None):
    """f = a * f1 + (1 - a) * f2 with f1, f2 drawn independently: (xs, ys, (params1, params2))."""
    if not 0.0 <= a <= 1.0:
        raise ValueError(f"convex weight a must be in [0, 1], got {a}")
    kx, k1, k2, kn = jax.random.split(key, 4)
    xs = sample_xs(kx, batch, n or cfg.n_points, cfg)
    f1, f2 = families.get(family1), families.get(family2)
    p1, p2 = pool.sample(k1, family1, batch, cfg), pool.sample(k2, family2, batch, cfg)
    ys = a * f1.apply(p1, xs) + (1.0 - a) * f2.apply(p2, xs)
    return xs, add_noise(kn, ys, cfg), (p1, p2)


def with_hint(xs_BxNxD: jax.Array, hint_BxF: jax.Array) -> jax.Array:
    """x tokens with each prompt's family hint appended: xs_BxNx(D+F) (a zero hint: none)."""
    b, n, _ = xs_BxNxD.shape
    hint_BxNxF = jnp.broadcast_to(hint_BxF[:, None, :].astype(xs_BxNxD.dtype),
                                  (b, n, hint_BxF.shape[-1]))
    return jnp.concatenate([xs_BxNxD, hint_BxNxF], -1)


def curriculum(step: jax.Array, cfg: DataConfig) -> tuple[jax.Array, jax.Array]:
    """(active dims, active points) at `step` (traced; full size when the curriculum is off)."""
    if not cfg.curriculum:
        return jnp.asarray(cfg.dim), jnp.asarray(cfg.n_points)
    stage = step // cfg.curriculum_every
    dims = jnp.minimum(cfg.curriculum_dim_start + stage * cfg.curriculum_dim_inc, cfg.dim)
    points = jnp.minimum(cfg.curriculum_points_start + stage * cfg.curriculum_points_inc,
                         cfg.n_points)
    return dims, points


def training_batch(key: jax.Array, step: jax.Array, batch: int, cfg: DataConfig, weights=None):
    """A pretraining batch at `step`, with the curriculum applied (`weights`: see sample_mixture).

    Inactive dims are zeroed in x (so f sees only the active ones, as in Garg et al.); inactive
    points stay in the prompt but get zero weight in the loss (`mask_BxN`); the model is causal,
    so they cannot influence the active predictions. Returns (xs, ys, family_B, mask_BxN).
    """
    dims, points = curriculum(step, cfg)
    xs, ys, family_B = sample_mixture(key, batch, cfg, dims if cfg.curriculum else None, weights)
    mask_N = (jnp.arange(cfg.n_points) < points).astype(jnp.float32)
    return xs, ys, family_B, jnp.broadcast_to(mask_N, (batch, cfg.n_points))
