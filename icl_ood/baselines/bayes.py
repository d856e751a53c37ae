"""Closed-form Bayesian predictors: the pretraining-prior mixture and the joint-class oracle.

Every family with a Gaussian prior is a Bayesian linear regression in its features:
- linear:        phi = x,                         w ~ N(0, I_d)                        (exact)
- sparse_linear: one component per support S (|S| = sparsity), phi = x_S, w_S ~ N(0, I),
                 equally likely supports (exact); beyond `max_supports` supports a single
                 Gaussian N(0, (s/d) I) with the same second moment (approximate)
- sinusoid (d = 1): phi = [sin(w x), cos(w x)], b ~ N(0, sin_amp[1]^2 I): exact for a Rayleigh
                 amplitude with a uniform phase over a full period; a uniform amplitude gets the
                 Gaussian with the same second moment, var = (lo^2 + lo hi + hi^2) / 6
                 (approximate). An unknown frequency w ~ U(lo, hi) becomes `freq_grid` equally
                 weighted sub-components at the interval midpoints (a quadrature: approximate).
- relu_net:      no closed form (its prior is not Gaussian in any fixed features): not applicable.
A mixture of families weights each component's posterior predictive by prior weight x marginal
likelihood p(y_<k), computed as a chain of one-step predictive densities and combined with a
log-sum-exp (softmax), so it is stable for any k.
"""

from __future__ import annotations

import itertools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from icl_ood.baselines.prefix import blr_log_evidence
from icl_ood.baselines.sinusoid import sin_features
from icl_ood.config import DataConfig


class NotApplicable(ValueError):
    """A baseline that is undefined for this data (the message says why)."""


class Component(NamedTuple):
    """One Bayesian linear regression: features, Gaussian prior variances, prior log-weight."""

    family: str  # posterior weights are summed per family
    pieces: tuple  # feature pieces: ("x", support) or ("sc", freq), concatenated
    prior_var: tuple[float, ...]  # one per feature
    log_weight: float


def features(comp: Component, xs_BxNxD):
    """phi_BxNxF of a component (concatenated pieces)."""
    out = []
    for kind, arg in comp.pieces:
        out.append(xs_BxNxD[..., list(arg)] if kind == "x" else sin_features(xs_BxNxD, arg))
    return jnp.concatenate(out, -1)


def sin_prior_var(cfg: DataConfig) -> tuple[float, bool]:
    """(variance of each of b1, b2, exact?) for the sinusoid amplitude/phase prior of `cfg`."""
    lo, hi = cfg.sin_amp
    full_phase = abs((cfg.sin_phase[1] - cfg.sin_phase[0]) - 2 * math.pi) < 1e-6
    if cfg.sin_amp_dist == "rayleigh":
        return hi ** 2, full_phase
    return (lo * lo + lo * hi + hi * hi) / 6.0, False


def freq_nodes(cfg: DataConfig, n_grid: int) -> np.ndarray:
    """The sinusoid frequency (if fixed) or `n_grid` midpoints of U(sin_freq)."""
    lo, hi = cfg.sin_freq
    if lo == hi:
        return np.array([lo])
    return lo + (np.arange(n_grid) + 0.5) * (hi - lo) / n_grid


def family_options(name: str, cfg: DataConfig, *, freq_grid: int = 24, max_supports: int = 256):
    """[(pieces, prior_var, log_weight)] for one family, and whether they are exact."""
    d = cfg.dim
    if name == "linear":
        return [((("x", tuple(range(d))),), (1.0,) * d, 0.0)], True
    if name == "sparse_linear":
        s = cfg.sparsity
        n_sup = math.comb(d, s)
        if n_sup > max_supports:
            return [((("x", tuple(range(d))),), (s / d,) * d, 0.0)], False
        return [((("x", sup),), (1.0,) * s, -math.log(n_sup))
                for sup in itertools.combinations(range(d), s)], True
    if name == "sinusoid":
        if d != 1:
            raise NotApplicable("sinusoid features need d = 1 (the direction u is unknown in d > 1)")
        var, exact = sin_prior_var(cfg)
        nodes = freq_nodes(cfg, freq_grid)
        lw = -math.log(len(nodes))
        return [((("sc", float(f)),), (var, var), lw) for f in nodes], exact and len(nodes) == 1
    if name == "relu_net":
        raise NotApplicable("relu_net's prior is not Gaussian in fixed features: no closed form")
    raise ValueError(f"unknown family {name!r}")


def mixture_components(cfg: DataConfig, **kw) -> tuple[list[Component], bool]:
    """Components of the pretraining prior: each family weighted by cfg.weights."""
    comps, exact = [], True
    for name, wt in zip(cfg.families, cfg.weights):
        if wt == 0:
            continue
        opts, ex = family_options(name, cfg, **kw)
        exact &= ex
        comps += [Component(name, p, v, math.log(wt) + lw) for p, v, lw in opts]
    return comps, exact


def joint_components(cfg: DataConfig, families: tuple[str, ...], *, max_components: int = 512,
                     **kw) -> tuple[list[Component], bool]:
    """Components of the joint class: f = sum of one member of each family (features united)."""
    per_fam, exact = [], True
    for name in dict.fromkeys(families):
        opts, ex = family_options(name, cfg, **kw)
        per_fam.append(opts)
        exact &= ex
    if math.prod(len(o) for o in per_fam) > max_components:
        raise NotApplicable(f"joint class has more than {max_components} components")
    comps = []
    for combo in itertools.product(*per_fam):
        comps.append(Component("+".join(dict.fromkeys(families)),
                               sum((p for p, _, _ in combo), ()),
                               sum((v for _, v, _ in combo), ()), sum(lw for *_, lw in combo)))
    return comps, exact


def noise_var(cfg: DataConfig, jitter: float) -> float:
    """Label-noise variance assumed by the predictors: noise_std^2, or `jitter` if noiseless."""
    return cfg.noise_std ** 2 if cfg.noise_std > 0 else jitter


@jax.jit
def mixture_posterior(phi_CxBxNxF, ys_BxN, prior_var_CxF, log_weight_C, noise_var):
    """(preds_BxN, post_CxBxN): posterior predictive mean and component posteriors, prefix-wise."""
    mean_CxBxN, logev_CxBxN = jax.vmap(blr_log_evidence, (0, None, 0, None))(
        phi_CxBxNxF, ys_BxN, prior_var_CxF, noise_var)
    post_CxBxN = jax.nn.softmax(log_weight_C[:, None, None] + logev_CxBxN, axis=0)
    return jnp.sum(post_CxBxN * mean_CxBxN, 0), post_CxBxN


def predict_components(comps: list[Component], xs_BxNxD, ys_BxN, nvar: float):
    """(preds_BxN, post_BxNxC) for a list of components (features zero-padded to a common F)."""
    phis = [features(c, xs_BxNxD) for c in comps]
    f = max(p.shape[-1] for p in phis)
    # A zero feature column leaves the posterior of the others unchanged: padding is exact.
    phi = jnp.stack([jnp.pad(p, ((0, 0), (0, 0), (0, f - p.shape[-1]))) for p in phis])
    prior = jnp.asarray([c.prior_var + (1.0,) * (f - len(c.prior_var)) for c in comps], phi.dtype)
    logw = jnp.asarray([c.log_weight for c in comps], phi.dtype)
    preds, post_CxBxN = mixture_posterior(phi, ys_BxN, prior, logw, jnp.asarray(nvar, phi.dtype))
    return preds, jnp.moveaxis(post_CxBxN, 0, -1)


def family_weights(comps: list[Component], post_BxNxC) -> tuple[tuple[str, ...], jax.Array]:
    """(family names, posterior family weights weights_BxNxK) summed over each family's parts."""
    names = tuple(dict.fromkeys(c.family for c in comps))
    onehot_CxK = np.array([[c.family == n for n in names] for c in comps], np.float64)
    return names, post_BxNxC @ jnp.asarray(onehot_CxK, post_BxNxC.dtype)
