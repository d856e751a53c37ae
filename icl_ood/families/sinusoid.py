"""Sinusoids: y = A sin(freq * u.x + phase), u uniform on the unit sphere (u = 1 when d = 1);
freq ~ U(freq), phase ~ U(phase), A ~ Rayleigh(amp[1]) or U(amp). With a Rayleigh A and a
uniform phase on [0, 2pi) this equals b1 sin(freq u.x) + b2 cos(freq u.x) with
b1, b2 ~ N(0, amp[1]^2): a Gaussian prior."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from icl_ood.families import Family, Gaussian, NotApplicable, jax, jnp, register


def _pair(v, name: str, lo_min: float, strict: bool = False) -> None:
    ok = isinstance(v, tuple) and len(v) == 2 and all(math.isfinite(x) for x in v)
    if ok:
        lo, hi = v
        ok = (lo > lo_min if strict else lo >= lo_min) and hi >= lo
    if not ok:
        raise ValueError(f"{name}: must be a pair (lo, hi) with {lo_min} {'<' if strict else '<='}"
                         f" lo <= hi, got {v!r}")


@dataclass(frozen=True)
class Prior:
    """data.sinusoid: amplitude distribution and range, angular frequency and phase ranges."""

    amp_dist: str = "rayleigh"  # "rayleigh": A ~ Rayleigh(amp[1]); "uniform": A ~ U(amp)
    amp: tuple[float, float] = (0.0, 1.0)
    freq: tuple[float, float] = (1.0, 1.0)  # angular frequency ~ U(lo, hi); fixed if equal
    phase: tuple[float, float] = (0.0, 2 * math.pi)

    def __post_init__(self):
        if self.amp_dist not in ("rayleigh", "uniform"):
            raise ValueError(f"amp_dist: must be 'rayleigh' or 'uniform', got {self.amp_dist!r}")
        _pair(self.amp, "amp", 0.0)
        if self.amp[1] <= 0:
            raise ValueError(f"amp: upper value must be > 0, got {self.amp}")
        _pair(self.freq, "freq", 0.0, strict=True)
        _pair(self.phase, "phase", -math.inf)


def sample(key, batch: int, dim: int, prior: Prior):
    ka, kf, kp, ku = jax.random.split(key, 4)
    if prior.amp_dist == "rayleigh":
        amp_B = prior.amp[1] * jnp.sqrt(-2.0 * jnp.log1p(-jax.random.uniform(ka, (batch,))))
    else:
        amp_B = jax.random.uniform(ka, (batch,), minval=prior.amp[0], maxval=prior.amp[1])
    freq_B = jax.random.uniform(kf, (batch,), minval=prior.freq[0], maxval=prior.freq[1])
    phase_B = jax.random.uniform(kp, (batch,), minval=prior.phase[0], maxval=prior.phase[1])
    if dim == 1:
        u_BxD = jnp.ones((batch, 1))
    else:
        g_BxD = jax.random.normal(ku, (batch, dim))
        u_BxD = g_BxD / jnp.linalg.norm(g_BxD, axis=-1, keepdims=True)
    return {"amp_B": amp_B, "freq_B": freq_B, "phase_B": phase_B, "u_BxD": u_BxD}


def apply(p, xs_BxNxD):
    t_BxN = jnp.einsum("bnd,bd->bn", xs_BxNxD, p["u_BxD"])
    return p["amp_B"][:, None] * jnp.sin(p["freq_B"][:, None] * t_BxN + p["phase_B"][:, None])


def sin_features(xs_BxNxD, freq):
    """phi_BxNx2 = [sin(freq x), cos(freq x)] (d = 1 only)."""
    if xs_BxNxD.shape[-1] != 1:
        raise ValueError(f"sinusoid features need 1-D inputs, got d = {xs_BxNxD.shape[-1]}")
    t = freq * xs_BxNxD[..., 0]
    return jnp.stack([jnp.sin(t), jnp.cos(t)], -1)


class SinFeatures(tuple):
    """The hashable feature function x -> [sin(w x), cos(w x)] at one frequency w."""

    def __new__(cls, freq: float):
        return super().__new__(cls, (float(freq),))

    def __call__(self, xs_BxNxD):
        return sin_features(xs_BxNxD, self[0])


def prior_var(prior: Prior) -> tuple[float, bool]:
    """(variance of each of b1, b2, exact?) for the amplitude/phase prior."""
    lo, hi = prior.amp
    full_phase = abs((prior.phase[1] - prior.phase[0]) - 2 * math.pi) < 1e-6
    if prior.amp_dist == "rayleigh":
        return hi ** 2, full_phase
    return (lo * lo + lo * hi + hi * hi) / 6.0, False


def freq_nodes(prior: Prior, n_grid: int) -> tuple[np.ndarray, np.ndarray]:
    """(nodes, weights summing to 1): the frequency if fixed, else the `n_grid` midpoints of
    [lo, hi] with equal weights (the midpoint rule for the uniform prior; with many points and
    little noise the likelihood in the frequency is a narrow spike, for which a fine uniform
    rule beats Gauss-Legendre)."""
    lo, hi = prior.freq
    if lo == hi:
        return np.array([lo]), np.array([1.0])
    return lo + (np.arange(n_grid) + 0.5) * (hi - lo) / n_grid, np.full(n_grid, 1.0 / n_grid)


def bayes(prior: Prior, dim: int, opts):
    """phi = [sin(w x), cos(w x)], b ~ N(0, amp[1]^2 I) (d = 1): exact for a Rayleigh amplitude
    with a uniform phase over a full period; a uniform amplitude gets the Gaussian with the same
    second moment (approximate); an unknown frequency w ~ U(lo, hi) becomes `opts.freq_grid`
    components at the nodes of a quadrature (`freq_nodes`; approximate, its error against a
    finer rule is measured in tests/test_baselines.py)."""
    if dim != 1:
        raise NotApplicable("sinusoid features need d = 1 (the direction u is unknown in d > 1)")
    var, exact = prior_var(prior)
    nodes, weights = freq_nodes(prior, opts.freq_grid)
    return ([Gaussian((SinFeatures(f),), (var, var), math.log(w)) for f, w in zip(nodes, weights)],
            exact and len(nodes) == 1)


def mean_square(prior: Prior, dim: int, x2: float):
    """E[A^2] / 2 for a phase uniform over a full period (whatever x); else None."""
    full = abs((prior.phase[1] - prior.phase[0]) - 2 * math.pi) < 1e-6
    return prior_var(prior)[0] if full else None


def describe(prior: Prior) -> dict:
    lo, hi = prior.freq
    return {"freq": lo if lo == hi else None}


FAMILY = register(Family("sinusoid", sample, apply, prior=Prior, bayes=bayes, label="sinusoid",
                         tags=("periodic",), describe=describe, mean_square=mean_square,
                         doc=" ".join(__doc__.split())))
