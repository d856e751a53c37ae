"""Function families: draw a batch of functions, then evaluate them on inputs (pure JAX).

Each family is a pair `sample(key, batch, cfg) -> params` and `apply(params, xs_BxNxD) -> ys_BxN`,
so a parameter draw can be reused by convex combinations and by baselines.

- linear:        y = w.x,                              w ~ N(0, I_d)            (Garg et al.)
- sparse_linear: y = w.x, w ~ N(0, I_d) with all but `sparsity` random coordinates zeroed (Garg et al.)
- relu_net:      y = sum_{i<=r} alpha_i ReLU(w_i.x),   alpha_i ~ N(0, 2/r), w_i ~ N(0, I_d) (Garg et al.)
- sinusoid:      y = A sin(freq * u.x + phase), u uniform on the unit sphere (u = 1 when d = 1);
                 freq ~ U(sin_freq), phase ~ U(sin_phase); A ~ Rayleigh(sin_amp[1]) or U(sin_amp).
                 With a Rayleigh A and a uniform phase on [0, 2pi) this equals
                 b1 sin(freq u.x) + b2 cos(freq u.x) with b1, b2 ~ N(0, sin_amp[1]^2): a Gaussian prior.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from icl_ood.config import DataConfig

Params = dict[str, jax.Array]


class Family(NamedTuple):
    sample: Callable[[jax.Array, int, DataConfig], Params]
    apply: Callable[[Params, jax.Array], jax.Array]


def _linear_sample(key: jax.Array, batch: int, cfg: DataConfig) -> Params:
    return {"w_BxD": jax.random.normal(key, (batch, cfg.dim))}


def _linear_apply(p: Params, xs_BxNxD: jax.Array) -> jax.Array:
    return jnp.einsum("bnd,bd->bn", xs_BxNxD, p["w_BxD"])


def _sparse_sample(key: jax.Array, batch: int, cfg: DataConfig) -> Params:
    kw, kp = jax.random.split(key)
    w_BxD = jax.random.normal(kw, (batch, cfg.dim))
    # Keep the `sparsity` coordinates with the smallest random scores: a uniform random subset.
    scores_BxD = jax.random.uniform(kp, (batch, cfg.dim))
    rank_BxD = jnp.argsort(jnp.argsort(scores_BxD, axis=-1), axis=-1)
    return {"w_BxD": jnp.where(rank_BxD < cfg.sparsity, w_BxD, 0.0)}


def _relu_sample(key: jax.Array, batch: int, cfg: DataConfig) -> Params:
    ka, kw = jax.random.split(key)
    r = cfg.relu_width
    return {
        "alpha_BxR": jax.random.normal(ka, (batch, r)) * jnp.sqrt(2.0 / r),
        "w_BxRxD": jax.random.normal(kw, (batch, r, cfg.dim)),
    }


def _relu_apply(p: Params, xs_BxNxD: jax.Array) -> jax.Array:
    h_BxNxR = jax.nn.relu(jnp.einsum("bnd,brd->bnr", xs_BxNxD, p["w_BxRxD"]))
    return jnp.einsum("bnr,br->bn", h_BxNxR, p["alpha_BxR"])


def _sin_sample(key: jax.Array, batch: int, cfg: DataConfig) -> Params:
    ka, kf, kp, ku = jax.random.split(key, 4)
    if cfg.sin_amp_dist == "rayleigh":
        amp_B = cfg.sin_amp[1] * jnp.sqrt(-2.0 * jnp.log1p(-jax.random.uniform(ka, (batch,))))
    else:
        amp_B = jax.random.uniform(ka, (batch,), minval=cfg.sin_amp[0], maxval=cfg.sin_amp[1])
    freq_B = jax.random.uniform(kf, (batch,), minval=cfg.sin_freq[0], maxval=cfg.sin_freq[1])
    phase_B = jax.random.uniform(kp, (batch,), minval=cfg.sin_phase[0], maxval=cfg.sin_phase[1])
    if cfg.dim == 1:
        u_BxD = jnp.ones((batch, 1))
    else:
        g_BxD = jax.random.normal(ku, (batch, cfg.dim))
        u_BxD = g_BxD / jnp.linalg.norm(g_BxD, axis=-1, keepdims=True)
    return {"amp_B": amp_B, "freq_B": freq_B, "phase_B": phase_B, "u_BxD": u_BxD}


def _sin_apply(p: Params, xs_BxNxD: jax.Array) -> jax.Array:
    t_BxN = jnp.einsum("bnd,bd->bn", xs_BxNxD, p["u_BxD"])
    return p["amp_B"][:, None] * jnp.sin(p["freq_B"][:, None] * t_BxN + p["phase_B"][:, None])


FAMILY: dict[str, Family] = {
    "linear": Family(_linear_sample, _linear_apply),
    "sparse_linear": Family(_sparse_sample, _linear_apply),
    "relu_net": Family(_relu_sample, _relu_apply),
    "sinusoid": Family(_sin_sample, _sin_apply),
}


def get(name: str) -> Family:
    """The family called `name` (a clear error for unknown names)."""
    if name not in FAMILY:
        raise ValueError(f"unknown family {name!r}; known: {tuple(FAMILY)}")
    return FAMILY[name]
