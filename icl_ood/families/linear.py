"""Dense linear functions (Garg et al.): y = w.x, w ~ N(0, I_d)."""

from __future__ import annotations

import functools

from icl_ood.families import Family, Gaussian, jax, jnp, register


def sample(key, batch: int, dim: int, prior):
    return {"w_BxD": jax.random.normal(key, (batch, dim))}


def apply(p, xs_BxNxD):
    return jnp.einsum("bnd,bd->bn", xs_BxNxD, p["w_BxD"])


def coordinates(xs_BxNxD, idx: tuple[int, ...]):
    """phi_BxNxF = x restricted to the coordinates `idx`."""
    return xs_BxNxD[..., list(idx)]


def x_features(idx: tuple[int, ...]):
    """The feature function x -> x_idx."""
    return functools.partial(coordinates, idx=tuple(idx))


def bayes(prior, dim: int, opts):
    return [Gaussian((x_features(tuple(range(dim))),), (1.0,) * dim)], True


FAMILY = register(Family("linear", sample, apply, bayes=bayes, label="linear", tags=("linear",),
                         mean_square=lambda prior, dim, x2: dim * x2, doc=__doc__.splitlines()[0]))
