"""Sines of fixed amplitude and frequency with a random offset, y = c + A sin(w x) in 1-D
(Mueller et al. 2024's "sine": A = 0.2, w = 3 pi, c uniform on a grid in [0, 1])."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from icl_ood.families import Family, Gaussian, jax, jnp, register


@dataclass(frozen=True)
class Prior:
    """data.offset_sine: amplitude A and angular frequency w (fixed), offset c: dist "grid"
    (uniform on `grid` evenly spaced values from lo to hi) or "gaussian" (N(centre,
    half-width^2) of the range)."""

    amp: float = 0.2
    freq: float = 3 * math.pi
    offset: tuple[float, float] = (0.0, 1.0)
    dist: str = "grid"
    grid: int = 101

    def __post_init__(self):
        if self.dist not in ("grid", "gaussian"):
            raise ValueError(f"dist: must be 'grid' or 'gaussian', got {self.dist!r}")
        if not self.offset[0] <= self.offset[1]:
            raise ValueError(f"offset: needs lo <= hi, got {self.offset}")
        if not (isinstance(self.grid, int) and self.grid >= 1):
            raise ValueError(f"grid: must be an integer >= 1, got {self.grid!r}")


def offsets(prior: Prior) -> np.ndarray:
    return np.linspace(*prior.offset, prior.grid)


def sample(key, batch: int, dim: int, prior: Prior):
    lo, hi = prior.offset
    if prior.dist == "gaussian":
        c = (lo + hi) / 2 + (hi - lo) / 2 * jax.random.normal(key, (batch,))
    else:
        c = jnp.asarray(offsets(prior), jnp.float32)[jax.random.randint(key, (batch,), 0,
                                                                         prior.grid)]
    return {"c_B": c, "amp": prior.amp, "freq": prior.freq}


def apply(p, xs_BxNxD):
    return p["c_B"][:, None] + p["amp"] * jnp.sin(p["freq"] * xs_BxNxD[..., 0])


def check(prior: Prior, dim: int) -> None:
    if dim != 1:
        raise ValueError(f"dist: offset sines are 1-D (data.dim = 1), got data.dim = {dim}")


class OffsetSine:
    """x -> c + A sin(w x) (hashable)."""

    def __init__(self, c: float, amp: float, freq: float):
        self.c, self.amp, self.freq = float(c), float(amp), float(freq)

    def __call__(self, xs_BxNxD):
        return self.c + self.amp * jnp.sin(self.freq * xs_BxNxD[..., 0])

    def __eq__(self, other):
        return isinstance(other, OffsetSine) and vars(self) == vars(other)

    def __hash__(self):
        return hash((OffsetSine, self.c, self.amp, self.freq))


def one(xs_BxNxD):
    return jnp.ones_like(xs_BxNxD[..., :1])


def bayes(prior: Prior, dim: int, opts):
    """Exact: one point mass per offset of the grid, or a Gaussian offset (feature 1) around
    the mean function c0 + A sin(w x)."""
    lo, hi = prior.offset
    if prior.dist == "gaussian":
        return [Gaussian((one,), (((hi - lo) / 2) ** 2,),
                         mean=OffsetSine((lo + hi) / 2, prior.amp, prior.freq))], True
    return [Gaussian((), (), -math.log(prior.grid), mean=OffsetSine(c, prior.amp, prior.freq))
            for c in offsets(prior)], True


FAMILY = register(Family("offset_sine", sample, apply, prior=Prior, bayes=bayes,
                         label="sine + offset", check=check, doc=" ".join(__doc__.split())))
