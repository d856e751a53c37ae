"""Closed-form Bayesian predictors: the pretraining-prior mixture, the task prior, the sum class.

Each family declares its prior as Gaussian components (`Family.bayes`, see
icl_ood/families/): a Bayesian linear regression in features, or a Gaussian process with
kernels, or both (the features' covariance phi(x) diag(prior_var) phi(x') is added to the
kernels). Whether a family's components are exact or an approximation is the family's to say
(e.g. sparse_linear beyond `max_supports` supports, sinusoids with a frequency range, relu_net).
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
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from icl_ood import families
from icl_ood.baselines import DEFAULT_OPTIONS
from icl_ood.baselines.prefix import blr_log_evidence, gp_log_evidence
from icl_ood.config import DataConfig
from icl_ood.families import Gaussian, NotApplicable
from icl_ood.families.relu_net import arccos1_kernel  # noqa: F401  (tests, docs)


class Component(NamedTuple):
    """One Gaussian prior on f of a family (posterior weights are summed per `family`):
    feature functions with independent Gaussian weights (prior variances) plus GP kernels."""

    family: str
    features: tuple[Callable, ...]
    prior_var: tuple[float, ...]
    log_weight: float
    kernels: tuple[Callable, ...] = ()
    mean: Callable | None = None  # the prior mean of f (None: 0)
    predictive: Callable | None = None  # computes itself (see families.Gaussian); scale2 =
    # prior_var[0]


def features(comp: Component, xs_BxNxD):
    """phi_BxNxF of a component (its feature functions' outputs concatenated; F = 0 if none)."""
    return jnp.concatenate([xs_BxNxD[..., :0]] + [f(xs_BxNxD) for f in comp.features], -1)


def covariance(phi_BxNxF, prior_var_F, xs_BxNxD, kernels: tuple[Callable, ...]):
    """Prior covariance K_BxNxN of f on a prompt: phi diag(prior_var) phi^T + kernel terms."""
    k = jnp.einsum("...nf,f,...mf->...nm", phi_BxNxF, jnp.asarray(prior_var_F, phi_BxNxF.dtype),
                   phi_BxNxF, precision=jax.lax.Precision.HIGHEST)
    for kernel in kernels:
        k = k + kernel(xs_BxNxD)
    return k


def component_covariance(comp: Component, xs_BxNxD):
    """K_BxNxN of a component (features and kernels): the GP view of any component."""
    return covariance(features(comp, xs_BxNxD), comp.prior_var, xs_BxNxD, comp.kernels)


def family_options(name: str, cfg: DataConfig, opts) -> tuple[list[Gaussian], bool]:
    """The Gaussian components of family `name`'s prior in `cfg`, and whether they are exact;
    NotApplicable for a family without a Bayes prior."""
    fam = families.get(name)
    if fam.bayes is None:
        raise NotApplicable(f"family {name!r} declares no Bayes prior")
    return fam.bayes(cfg.prior(name), cfg.dim, opts)


def mixture_components(cfg: DataConfig, opts=DEFAULT_OPTIONS) -> tuple[list[Component], bool]:
    """Components of the pretraining prior: each family weighted by cfg.weights."""
    comps, exact = [], True
    for name, wt in zip(cfg.families, cfg.weights):
        if wt == 0:
            continue
        gs, ex = family_options(name, cfg, opts)
        exact &= ex
        comps += [Component(name, g.features, g.prior_var, math.log(wt) + g.log_weight, g.kernels,
                            g.mean, g.predictive) for g in gs]
    return comps, exact


class ScaledKernel(NamedTuple):
    """The kernel of c f for a GP f with kernel `kernel`: c^2 K (hashable, for jit)."""

    kernel: Callable
    scale2: float

    def __call__(self, xs_BxNxD):
        return self.scale2 * self.kernel(xs_BxNxD)


class SumMean(NamedTuple):
    """The prior mean of sum_i c_i f_i: sum_i c_i m_i(x) (terms (c_i, m_i); None: no mean)."""

    terms: tuple[tuple[float, Callable], ...]

    def __call__(self, xs_BxNxD):
        return sum(c * m(xs_BxNxD) for c, m in self.terms)

    @staticmethod
    def of(terms) -> SumMean | None:
        terms = tuple((c, m) for c, m in terms if m is not None)
        return SumMean(terms) if terms else None


def task_components(cfg: DataConfig, fams: tuple[str, ...], scales: tuple[float, ...],
                    opts=DEFAULT_OPTIONS, *, max_components: int = 4096
                    ) -> tuple[list[Component], bool]:
    """Components of the prior of f = sum_i scales_i f_i, the f_i independent draws from their
    families' priors in `cfg` (a convex task: scales (a, 1 - a)): each family's Gaussian
    components with variances and kernels scaled by scales_i^2; families with scale 0 drop."""
    per_fam, exact, used, coef = [], True, [], []
    for name, c in zip(fams, scales):
        if c == 0:
            continue
        coef.append(c)
        gs, ex = family_options(name, cfg, opts)
        per_fam.append([g._replace(prior_var=tuple(c * c * v for v in g.prior_var),
                                   kernels=tuple(ScaledKernel(k, c * c) for k in g.kernels))
                        for g in gs])
        exact &= ex
        used.append(name)
    if math.prod(len(o) for o in per_fam) > max_components:
        raise NotApplicable(f"the task prior has more than {max_components} components")
    if len(per_fam) == 1 and any(g.predictive for g in per_fam[0]):
        return [Component(used[0], g.features, g.prior_var, g.log_weight, g.kernels,
                          SumMean.of([(coef[0], g.mean)]), g.predictive) for g in per_fam[0]], exact
    _no_sums_of(per_fam)
    return [Component("+".join(used), sum((g.features for g in combo), ()),
                      sum((g.prior_var for g in combo), ()), sum(g.log_weight for g in combo),
                      sum((g.kernels for g in combo), ()),
                      SumMean.of((c, g.mean) for c, g in zip(coef, combo)))
            for combo in itertools.product(*per_fam)], exact


def _no_sums_of(per_fam) -> None:
    """NotApplicable for a sum of families one of which marginalizes itself (`predictive`):
    its components are not Gaussian, so they cannot be added to another family's."""
    if len(per_fam) > 1 and any(g.predictive for gs in per_fam for g in gs):
        raise NotApplicable("a sum with a family whose Bayes predictor is computed by its own "
                            "(approximate) marginalization")


def joint_components(cfg: DataConfig, fams: tuple[str, ...], opts=DEFAULT_OPTIONS, *,
                     max_components: int = 512) -> tuple[list[Component], bool]:
    """Components of the sum class: f = sum of one member of each family (features united,
    kernels summed: independent priors add their covariances)."""
    per_fam, exact = [], True
    for name in dict.fromkeys(fams):
        gs, ex = family_options(name, cfg, opts)
        per_fam.append(gs)
        exact &= ex
    if math.prod(len(o) for o in per_fam) > max_components:
        raise NotApplicable(f"joint class has more than {max_components} components")
    _no_sums_of(per_fam)
    return [Component("+".join(dict.fromkeys(fams)), sum((g.features for g in combo), ()),
                      sum((g.prior_var for g in combo), ()), sum(g.log_weight for g in combo),
                      sum((g.kernels for g in combo), ()),
                      SumMean.of((1.0, g.mean) for g in combo))
            for combo in itertools.product(*per_fam)], exact


def noise_var(cfg: DataConfig, jitter: float) -> float:
    """Label-noise variance assumed by the predictors: noise_std^2, or `jitter` if noiseless."""
    return cfg.noise_std ** 2 if cfg.noise_std > 0 else jitter


@jax.jit
def blr_evidence(phi_CxBxNxF, ys_BxN, prior_var_CxF, noise_var):
    """(mean_CxBxN, log_ev_CxBxN) of C Bayesian linear regressions, prefix-wise (`ys_BxN`
    shared, or ys_CxBxN: one per component, e.g. residuals from each one's prior mean)."""
    axis = 0 if ys_BxN.ndim == 3 else None
    return jax.vmap(blr_log_evidence, (0, axis, 0, None))(phi_CxBxNxF, ys_BxN, prior_var_CxF,
                                                          noise_var)


@functools.partial(jax.jit, static_argnames="kernels")
def gp_evidence(phi_BxNxF, prior_var_F, xs_BxNxD, ys_BxN, noise_var, kernels: tuple = ()):
    """(mean_BxN, log_ev_BxN) of one GP component (features' covariance + kernels), prefix-wise."""
    return gp_log_evidence(covariance(phi_BxNxF, prior_var_F, xs_BxNxD, kernels), ys_BxN,
                           noise_var)


@jax.jit
def _accumulate(acc, mean_CxBxN, logev_CxBxN, log_weight_C, onehot_CxK):
    """Adds C components to a running log-sum-exp of prior weight x evidence: acc = (max score
    m_BxN, sum of weights s_BxN, weighted means num_BxN, weights per family fam_BxNxK), all
    relative to exp(m)."""
    m, s, num, fam = acc
    score_CxBxN = log_weight_C[:, None, None] + logev_CxBxN
    m_new = jnp.maximum(m, score_CxBxN.max(0))
    scale, w_CxBxN = jnp.exp(m - m_new), jnp.exp(score_CxBxN - m_new)
    return (m_new, s * scale + w_CxBxN.sum(0), num * scale + (w_CxBxN * mean_CxBxN).sum(0),
            fam * scale[..., None] + jnp.einsum("cbn,ck->bnk", w_CxBxN, onehot_CxK))


def uses_gp(comp: Component, n_points: int) -> bool:
    """Whether a component runs as a GP: it has kernels, or it has F > 2 features with
    F^2 > N / 2 (measured on CPU, 1280 prompts: the N^3 Cholesky wins from F ~ 3 at N = 21,
    F ~ 5 at N = 41, F ~ 8 at N = 101; F <= 2 uses closed-form solves, always faster)."""
    f = len(comp.prior_var)
    return bool(comp.kernels) or (f > 2 and f * f > n_points / 2)


def predict_components(comps: list[Component], xs_BxNxD, ys_BxN, nvar: float,
                       path: str = "auto", max_elements: int = 2 ** 24):
    """(preds_BxN, weights_BxNxK, families): the posterior predictive mean of a mixture of
    components, each weighted by prior weight x evidence, and the posterior weight of each of
    the K families (names in `families`), prefix-wise. BLR components run in chunks (features
    zero-padded to the chunk's F; at most about `max_elements` numbers of prefix statistics at a
    time, so thousands of sparse supports fit in memory), each GP one by its own Cholesky
    factors; the mixture is a running log-sum-exp. `path`: "auto" (see `uses_gp`), "gp" (every
    component), "blr" (every component without kernels)."""
    b, n = ys_BxN.shape
    dtype = xs_BxNxD.dtype
    names = tuple(dict.fromkeys(c.family for c in comps))
    onehot_CxK = np.array([[c.family == f for f in names] for c in comps], np.float64)
    own = [c.predictive is not None for c in comps]
    gp = [not own[i] and (path == "gp" or bool(c.kernels) or (path == "auto" and uses_gp(c, n)))
          for i, c in enumerate(comps)]
    nvar = jnp.asarray(nvar, dtype)
    acc = (jnp.full((b, n), -jnp.inf, dtype), jnp.zeros((b, n), dtype), jnp.zeros((b, n), dtype),
           jnp.zeros((b, n, len(names)), dtype))

    def add(idx, mean_CxBxN, logev_CxBxN):
        nonlocal acc
        logw = jnp.asarray([comps[i].log_weight for i in idx], dtype)
        acc = _accumulate(acc, mean_CxBxN, logev_CxBxN, logw, jnp.asarray(onehot_CxK[idx], dtype))

    def prior_mean(i):  # m_BxN of component i (None: 0)
        return None if comps[i].mean is None else comps[i].mean(xs_BxNxD).astype(dtype)

    blr = [i for i, c in enumerate(comps) if not gp[i] and not own[i]]
    if blr:
        f = max(max(len(comps[i].prior_var) for i in blr), 1)
        chunk = max(1, min(len(blr), max_elements // (b * n * (f * f + f + 4))))
        for start in range(0, len(blr), chunk):
            idx = blr[start:start + chunk]
            idx = idx + [idx[-1]] * (chunk - len(idx)) if len(blr) > chunk else idx
            # A zero feature column leaves the posterior of the others unchanged: padding is
            # exact; a repeated last component (to keep one compiled shape) gets weight 0.
            phi = jnp.stack([jnp.pad(p, ((0, 0), (0, 0), (0, f - p.shape[-1])))
                             for p in (features(comps[i], xs_BxNxD) for i in idx)])
            prior = jnp.asarray([comps[i].prior_var + (1.0,) * (f - len(comps[i].prior_var))
                                 for i in idx], dtype)
            m = [prior_mean(i) for i in idx]
            if all(v is None for v in m):
                mean, logev = blr_evidence(phi, ys_BxN, prior, nvar)
            else:  # f = m + g: g's posterior from the residuals y - m, then m added back
                m_CxBxN = jnp.stack([jnp.zeros_like(ys_BxN) if v is None else v for v in m])
                mean, logev = blr_evidence(phi, ys_BxN - m_CxBxN, prior, nvar)
                mean = mean + m_CxBxN
            real = len(blr[start:start + chunk])
            add(idx[:real], mean[:real], logev[:real])
    for i, c in enumerate(comps):
        if own[i]:
            m = prior_mean(i)
            mean, logev = c.predictive(xs_BxNxD, ys_BxN if m is None else ys_BxN - m, nvar,
                                       c.prior_var[0])
            add([i], (mean if m is None else mean + m)[None], logev[None])
        if gp[i]:
            m = prior_mean(i)
            mean, logev = gp_evidence(features(c, xs_BxNxD), jnp.asarray(c.prior_var, dtype),
                                      xs_BxNxD, ys_BxN if m is None else ys_BxN - m, nvar,
                                      c.kernels)
            add([i], (mean if m is None else mean + m)[None], logev[None])
    _, s, num, fam = acc
    return num / s, fam / s[..., None], names
