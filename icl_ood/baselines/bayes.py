"""Closed-form Bayesian predictors: the pretraining-prior mixture and the joint-class oracle.

A component is a Gaussian prior on f: a Bayesian linear regression in features (the families
below but relu_net), or a Gaussian process with a kernel (relu_net, and every joint class that
contains it: the features' covariance phi(x) diag(prior_var) phi(x') is added to the kernel).
- linear:        phi = x,                         w ~ N(0, I_d)                        (exact)
- sparse_linear: one component per support S (|S| = sparsity), phi = x_S, w_S ~ N(0, I),
                 equally likely supports (exact); beyond `max_supports` supports a single
                 Gaussian N(0, (s/d) I) with the same second moment (approximate)
- sinusoid (d = 1): phi = [sin(w x), cos(w x)], b ~ N(0, sin_amp[1]^2 I): exact for a Rayleigh
                 amplitude with a uniform phase over a full period; a uniform amplitude gets the
                 Gaussian with the same second moment, var = (lo^2 + lo hi + hi^2) / 6
                 (approximate). An unknown frequency w ~ U(lo, hi) becomes `freq_grid` equally
                 weighted sub-components at the interval midpoints (a quadrature: approximate).
- relu_net:      f = sum_{i<=r} alpha_i ReLU(w_i.x), alpha_i ~ N(0, 2/r), w_i ~ N(0, I) has mean 0
                 and covariance exactly Cov(f(x), f(x')) = (|x||x'|/pi) (sin t + (pi - t) cos t),
                 t = angle(x, x') (order-1 arc-cosine kernel, Cho & Saul 2009), for any width r;
                 f is Gaussian only as r -> infinity, so the GP with this kernel is the
                 Gaussian approximation of the prior (approximate; exact as r -> infinity).
A BLR component's prefix-wise predictive comes from prefix sums of phi phi^T (`prefix.blr_*`,
fast when F << N); a GP component's from one Cholesky factor of K + noise_var I per prompt
(`prefix.gp_*`, O(N^3)); a feature component with many features (F^2 > N / 2, e.g. linear at
d = 20) also runs as a GP with kernel phi(x) diag(prior_var) phi(x'), the same numbers faster
(`uses_gp`). A mixture of families weights each component's posterior predictive by
prior weight x marginal likelihood p(y_<k), computed as a chain of one-step predictive densities
and combined with a log-sum-exp (softmax), so it is stable for any k.
"""

from __future__ import annotations

import functools
import itertools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from icl_ood.baselines.prefix import blr_log_evidence, gp_log_evidence
from icl_ood.baselines.sinusoid import sin_features
from icl_ood.config import DataConfig


class NotApplicable(ValueError):
    """A baseline that is undefined for this data (the message says why)."""


class Component(NamedTuple):
    """One Gaussian prior on f: features with independent Gaussian weights (prior variances),
    plus GP kernel terms (`kernels`, names in KERNELS; none: a Bayesian linear regression)."""

    family: str  # posterior weights are summed per family
    pieces: tuple  # feature pieces: ("x", support) or ("sc", freq), concatenated
    prior_var: tuple[float, ...]  # one per feature
    log_weight: float
    kernels: tuple[str, ...] = ()  # GP kernel terms added to the features' covariance


def features(comp: Component, xs_BxNxD):
    """phi_BxNxF of a component (concatenated pieces; F = 0 without pieces)."""
    out = [xs_BxNxD[..., :0]]
    for kind, arg in comp.pieces:
        out.append(xs_BxNxD[..., list(arg)] if kind == "x" else sin_features(xs_BxNxD, arg))
    return jnp.concatenate(out, -1)


def arccos1_kernel(xs_BxNxD):
    """K_BxNxN = Cov(f(x_n), f(x_m)) of relu_net for any width r: 2 E_w[ReLU(w.x) ReLU(w.x')]
    = (|x||x'|/pi) (sin t + (pi - t) cos t), t = angle(x, x') (Cho & Saul's k_1; |x|^2 at x = x').

    Written with c = cos t as (|x||x'|/pi) (sqrt(1 - c^2) + (pi - arccos c) c), whose derivative
    in c is pi - arccos c (bounded), so rounding in c near +-1 stays harmless."""
    sq_BxN = jnp.sum(jnp.square(xs_BxNxD), -1)
    dot_BxNxN = jnp.einsum("...nd,...md->...nm", xs_BxNxD, xs_BxNxD,
                           precision=jax.lax.Precision.HIGHEST)
    norm_BxNxN = jnp.sqrt(sq_BxN[..., :, None] * sq_BxN[..., None, :])
    c = jnp.clip(dot_BxNxN / jnp.where(norm_BxNxN > 0, norm_BxNxN, 1.0), -1.0, 1.0)
    return norm_BxNxN / jnp.pi * (jnp.sqrt(1.0 - c * c) + (jnp.pi - jnp.arccos(c)) * c)


KERNELS = {"arccos1": arccos1_kernel}


def covariance(phi_BxNxF, prior_var_F, xs_BxNxD, kernels: tuple[str, ...]):
    """Prior covariance K_BxNxN of f on a prompt: phi diag(prior_var) phi^T + kernel terms."""
    k = jnp.einsum("...nf,f,...mf->...nm", phi_BxNxF, jnp.asarray(prior_var_F, phi_BxNxF.dtype),
                   phi_BxNxF, precision=jax.lax.Precision.HIGHEST)
    for name in kernels:
        k = k + KERNELS[name](xs_BxNxD)
    return k


def component_covariance(comp: Component, xs_BxNxD):
    """K_BxNxN of a component (features and kernels): the GP view of any component."""
    return covariance(features(comp, xs_BxNxD), comp.prior_var, xs_BxNxD, comp.kernels)


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
    """[(pieces, prior_var, kernels, log_weight)] for one family, and whether they are exact."""
    d = cfg.dim
    if name == "linear":
        return [((("x", tuple(range(d))),), (1.0,) * d, (), 0.0)], True
    if name == "sparse_linear":
        s = cfg.sparsity
        n_sup = math.comb(d, s)
        if n_sup > max_supports:
            return [((("x", tuple(range(d))),), (s / d,) * d, (), 0.0)], False
        return [((("x", sup),), (1.0,) * s, (), -math.log(n_sup))
                for sup in itertools.combinations(range(d), s)], True
    if name == "sinusoid":
        if d != 1:
            raise NotApplicable("sinusoid features need d = 1 (the direction u is unknown in d > 1)")
        var, exact = sin_prior_var(cfg)
        nodes = freq_nodes(cfg, freq_grid)
        lw = -math.log(len(nodes))
        opts = [((("sc", float(f)),), (var, var), (), lw) for f in nodes]
        return opts, exact and len(nodes) == 1
    if name == "relu_net":  # the arc-cosine GP: the right covariance, Gaussian only as r -> inf
        return [((), (), ("arccos1",), 0.0)], False
    raise ValueError(f"unknown family {name!r}")


def mixture_components(cfg: DataConfig, **kw) -> tuple[list[Component], bool]:
    """Components of the pretraining prior: each family weighted by cfg.weights."""
    comps, exact = [], True
    for name, wt in zip(cfg.families, cfg.weights):
        if wt == 0:
            continue
        opts, ex = family_options(name, cfg, **kw)
        exact &= ex
        comps += [Component(name, p, v, math.log(wt) + lw, k) for p, v, k, lw in opts]
    return comps, exact


def joint_components(cfg: DataConfig, families: tuple[str, ...], *, max_components: int = 512,
                     **kw) -> tuple[list[Component], bool]:
    """Components of the joint class: f = sum of one member of each family (features united,
    kernels summed: independent priors add their covariances)."""
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
                               sum((o[0] for o in combo), ()), sum((o[1] for o in combo), ()),
                               sum(o[3] for o in combo), sum((o[2] for o in combo), ())))
    return comps, exact


def noise_var(cfg: DataConfig, jitter: float) -> float:
    """Label-noise variance assumed by the predictors: noise_std^2, or `jitter` if noiseless."""
    return cfg.noise_std ** 2 if cfg.noise_std > 0 else jitter


@jax.jit
def blr_evidence(phi_CxBxNxF, ys_BxN, prior_var_CxF, noise_var):
    """(mean_CxBxN, log_ev_CxBxN) of C Bayesian linear regressions, prefix-wise."""
    return jax.vmap(blr_log_evidence, (0, None, 0, None))(phi_CxBxNxF, ys_BxN, prior_var_CxF,
                                                          noise_var)


@functools.partial(jax.jit, static_argnames="kernels")
def gp_evidence(phi_BxNxF, prior_var_F, xs_BxNxD, ys_BxN, noise_var, kernels: tuple[str, ...]):
    """(mean_BxN, log_ev_BxN) of one GP component (features' covariance + kernels), prefix-wise."""
    return gp_log_evidence(covariance(phi_BxNxF, prior_var_F, xs_BxNxD, kernels), ys_BxN,
                           noise_var)


@jax.jit
def combine(mean_CxBxN, logev_CxBxN, log_weight_C):
    """(preds_BxN, post_CxBxN): components weighted by prior weight x evidence (a softmax)."""
    post_CxBxN = jax.nn.softmax(log_weight_C[:, None, None] + logev_CxBxN, axis=0)
    return jnp.sum(post_CxBxN * mean_CxBxN, 0), post_CxBxN


def mixture_posterior(phi_CxBxNxF, ys_BxN, prior_var_CxF, log_weight_C, noise_var):
    """(preds_BxN, post_CxBxN): posterior predictive mean and component posteriors, prefix-wise,
    of a mixture of Bayesian linear regressions."""
    return combine(*blr_evidence(phi_CxBxNxF, ys_BxN, prior_var_CxF, noise_var), log_weight_C)


def uses_gp(comp: Component, n_points: int) -> bool:
    """Whether a component runs as a GP: it has kernels, or it has F > 2 features with
    F^2 > N / 2 (measured on CPU, 1280 prompts: the N^3 Cholesky wins from F ~ 3 at N = 21,
    F ~ 5 at N = 41, F ~ 8 at N = 101; F <= 2 uses closed-form solves, always faster)."""
    f = len(comp.prior_var)
    return bool(comp.kernels) or (f > 2 and f * f > n_points / 2)


def predict_components(comps: list[Component], xs_BxNxD, ys_BxN, nvar: float,
                       path: str = "auto"):
    """(preds_BxN, post_BxNxC) for a list of components: the BLR ones at once (features
    zero-padded to a common F), each GP one by its own Cholesky factors. `path`: "auto" (see
    `uses_gp`), "gp" (every component), "blr" (every component without kernels)."""
    n = ys_BxN.shape[-1]
    gp = [path == "gp" or bool(c.kernels) or (path == "auto" and uses_gp(c, n)) for c in comps]
    nvar = jnp.asarray(nvar, xs_BxNxD.dtype)
    mean, logev = [None] * len(comps), [None] * len(comps)
    blr = [i for i, c in enumerate(comps) if not gp[i]]
    if blr:
        phis = [features(comps[i], xs_BxNxD) for i in blr]
        f = max(p.shape[-1] for p in phis)
        # A zero feature column leaves the posterior of the others unchanged: padding is exact.
        phi = jnp.stack([jnp.pad(p, ((0, 0), (0, 0), (0, f - p.shape[-1]))) for p in phis])
        prior = jnp.asarray([comps[i].prior_var + (1.0,) * (f - len(comps[i].prior_var))
                             for i in blr], phi.dtype)
        m_CxBxN, l_CxBxN = blr_evidence(phi, ys_BxN, prior, nvar)
        for j, i in enumerate(blr):
            mean[i], logev[i] = m_CxBxN[j], l_CxBxN[j]
    for i, c in enumerate(comps):
        if gp[i]:
            mean[i], logev[i] = gp_evidence(features(c, xs_BxNxD),
                                            jnp.asarray(c.prior_var, xs_BxNxD.dtype), xs_BxNxD,
                                            ys_BxN, nvar, c.kernels)
    logw = jnp.asarray([c.log_weight for c in comps], xs_BxNxD.dtype)
    preds, post_CxBxN = combine(jnp.stack(mean), jnp.stack(logev), logw)
    return preds, jnp.moveaxis(post_CxBxN, 0, -1)


def family_weights(comps: list[Component], post_BxNxC) -> tuple[tuple[str, ...], jax.Array]:
    """(family names, posterior family weights weights_BxNxK) summed over each family's parts."""
    names = tuple(dict.fromkeys(c.family for c in comps))
    onehot_CxK = np.array([[c.family == n for n in names] for c in comps], np.float64)
    return names, post_BxNxC @ jnp.asarray(onehot_CxK, post_BxNxC.dtype)
