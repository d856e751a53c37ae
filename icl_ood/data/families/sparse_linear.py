"""Sparse linear functions (Garg et al.): y = w.x, w ~ N(0, I_d) with all but `sparsity` random
coordinates zeroed."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp

from icl_ood.data.families import Family, Gaussian, register
from icl_ood.data.families.linear import apply, x_features


@dataclass(frozen=True)
class Prior:
    """data.sparse_linear: nonzero coordinates of w."""

    sparsity: int = 3

    def __post_init__(self):
        if not (isinstance(self.sparsity, int) and self.sparsity >= 1):
            raise ValueError(f"sparsity: must be an integer >= 1, got {self.sparsity!r}")


def sample(key, batch: int, dim: int, prior: Prior):
    kw, kp = jax.random.split(key)
    w_BxD = jax.random.normal(kw, (batch, dim))
    # Keep the `sparsity` coordinates with the smallest random scores: a uniform random subset.
    scores_BxD = jax.random.uniform(kp, (batch, dim))
    rank_BxD = jnp.argsort(jnp.argsort(scores_BxD, axis=-1), axis=-1)
    return {"w_BxD": jnp.where(rank_BxD < prior.sparsity, w_BxD, 0.0)}


def check(prior: Prior, dim: int) -> None:
    if prior.sparsity > dim:
        raise ValueError(f"sparsity: must be <= data.dim ({dim}), got {prior.sparsity}")


def bayes(prior: Prior, dim: int, opts):
    """One component per support S (|S| = s), w_S ~ N(0, I), equally likely (exact); beyond
    `opts.max_supports` supports one Gaussian N(0, (s/d) I) with the same second moment
    (approximate)."""
    s = prior.sparsity
    n_sup = math.comb(dim, s)
    if n_sup > opts.max_supports:
        return [Gaussian((x_features(tuple(range(dim))),), (s / dim,) * dim)], False
    return [Gaussian((x_features(sup),), (1.0,) * s, -math.log(n_sup))
            for sup in itertools.combinations(range(dim), s)], True


FAMILY = register(Family("sparse_linear", sample, apply, prior=Prior, bayes=bayes,
                         label="sparse linear", tags=("linear",), check=check,
                         mean_square=lambda prior, dim, x2: prior.sparsity * x2,
                         doc=" ".join(__doc__.split())))
