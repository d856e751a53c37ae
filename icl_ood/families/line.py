"""Lines with an intercept, y = m x + c in 1-D (Mueller et al. 2024's "line"): (m, c) uniform
on a grid (their prior) or Gaussian."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from icl_ood.families import Family, Gaussian, jax, jnp, register


@dataclass(frozen=True)
class Prior:
    """data.line: slope m and intercept c. dist "grid": each uniform on `grid` evenly spaced
    values from lo to hi (a finite pool of grid^2 lines); "gaussian": each N(centre, half-width^2)
    of its range."""

    dist: str = "grid"
    slope: tuple[float, float] = (-1.0, 1.0)
    intercept: tuple[float, float] = (-1.0, 1.0)
    grid: int = 41

    def __post_init__(self):
        if self.dist not in ("grid", "gaussian"):
            raise ValueError(f"dist: must be 'grid' or 'gaussian', got {self.dist!r}")
        for name in ("slope", "intercept"):
            lo, hi = getattr(self, name)
            if not lo <= hi:
                raise ValueError(f"{name}: needs lo <= hi, got {(lo, hi)}")
        if not (isinstance(self.grid, int) and self.grid >= 1):
            raise ValueError(f"grid: must be an integer >= 1, got {self.grid!r}")


def values(lo: float, hi: float, prior: Prior) -> np.ndarray:
    """The grid of one coordinate."""
    return np.linspace(lo, hi, prior.grid)


def draw(key, shape, rng: tuple[float, float], prior: Prior):
    """Draws of one coordinate (slope or intercept) from its prior."""
    lo, hi = rng
    if prior.dist == "gaussian":
        return (lo + hi) / 2 + (hi - lo) / 2 * jax.random.normal(key, shape)
    return jnp.asarray(values(lo, hi, prior), jnp.float32)[
        jax.random.randint(key, shape, 0, prior.grid)]


def sample(key, batch: int, dim: int, prior: Prior):
    km, kc = jax.random.split(key)
    return {"m_B": draw(km, (batch,), prior.slope, prior),
            "c_B": draw(kc, (batch,), prior.intercept, prior)}


def apply(p, xs_BxNxD):
    return p["m_B"][:, None] * xs_BxNxD[..., 0] + p["c_B"][:, None]


def check(prior: Prior, dim: int) -> None:
    if dim != 1:
        raise ValueError(f"dist: lines are 1-D (data.dim = 1), got data.dim = {dim}")


class Line:
    """x -> m x + c (hashable, a prior mean or one function of the pool)."""

    def __init__(self, m: float, c: float):
        self.m, self.c = float(m), float(c)

    def __call__(self, xs_BxNxD):
        return self.m * xs_BxNxD[..., 0] + self.c

    def __eq__(self, other):
        return isinstance(other, Line) and (self.m, self.c) == (other.m, other.c)

    def __hash__(self):
        return hash((Line, self.m, self.c))


def x_and_one(xs_BxNxD):
    """phi = (x, 1)."""
    return jnp.concatenate([xs_BxNxD[..., :1], jnp.ones_like(xs_BxNxD[..., :1])], -1)


def bayes(prior: Prior, dim: int, opts):
    """Exact: one point mass per line of the grid (equally likely), or a Gaussian in (x, 1)."""
    (m0, m1), (c0, c1) = prior.slope, prior.intercept
    if prior.dist == "gaussian":
        mean = Line((m0 + m1) / 2, (c0 + c1) / 2)
        return [Gaussian((x_and_one,), (((m1 - m0) / 2) ** 2, ((c1 - c0) / 2) ** 2),
                         mean=None if (mean.m, mean.c) == (0.0, 0.0) else mean)], True
    logw = -math.log(prior.grid ** 2)
    return [Gaussian((), (), logw, mean=Line(m, c)) for m in values(m0, m1, prior)
            for c in values(c0, c1, prior)], True


FAMILY = register(Family("line", sample, apply, prior=Prior, bayes=bayes, label="line",
                         tags=("linear",), check=check, doc=" ".join(__doc__.split())))
