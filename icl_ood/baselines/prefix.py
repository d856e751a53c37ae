"""Prefix-wise linear algebra: for every position k, fit on pairs j < k and predict at x_k.

All functions are pure JAX, batched over prompts (leading B) and positions (N) at once, via
exclusive prefix sums of the per-pair statistics phi_j phi_j^T and phi_j y_j (feature models), or
one Cholesky factor of the N x N prior covariance per prompt (Gaussian processes). Callers pass
float64 arrays (see `icl_ood.baselines.Baseline`) so that near-singular Gram matrices are safe.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.scipy.linalg import solve_triangular


def exclusive_cumsum(a, axis: int = 1):
    """s_k = sum_{j<k} a_j along `axis` (s_0 = 0 exactly), as a matmul with a strictly lower
    triangular matrix of ones (faster than XLA's cumsum on CPU for short axes)."""
    n = a.shape[axis]
    tri_NxN = (jnp.arange(n)[None, :] < jnp.arange(n)[:, None]).astype(a.dtype)
    s = jnp.einsum("...j,kj->...k", jnp.moveaxis(a, axis, -1), tri_NxN,
                   precision=jax.lax.Precision.HIGHEST)
    return jnp.moveaxis(s, -1, axis)


def prefix_stats(phi_BxNxF, ys_BxN):
    """(G_BxNxFxF, b_BxNxF): Gram matrix and phi^T y of the pairs before each position."""
    outer_BxNxFxF = phi_BxNxF[..., :, None] * phi_BxNxF[..., None, :]
    return (exclusive_cumsum(outer_BxNxFxF),
            exclusive_cumsum(phi_BxNxF * ys_BxN[..., None]))


def spd_solve(a_XxFxF, rhs_XxFxJ):
    """Solves a x = rhs for symmetric positive-definite a (closed form for F <= 2, else Cholesky)."""
    f = a_XxFxF.shape[-1]
    if f == 1:
        return rhs_XxFxJ / a_XxFxF
    if f == 2:  # adjugate / determinant: elementwise, much faster than batched LAPACK calls
        p, q, r = a_XxFxF[..., 0, 0, None], a_XxFxF[..., 0, 1, None], a_XxFxF[..., 1, 1, None]
        u, v = rhs_XxFxJ[..., 0, :], rhs_XxFxJ[..., 1, :]
        det = p * r - q * q
        return jnp.stack([(r * u - q * v) / det, (p * v - q * u) / det], -2)
    chol = jnp.linalg.cholesky(a_XxFxF)
    z = solve_triangular(chol, rhs_XxFxJ, lower=True)
    return solve_triangular(jnp.swapaxes(chol, -1, -2), z, lower=False)


def _floor(dtype) -> float:
    """A ridge floor whose square is still a normal number (no 0/0 with no pairs)."""
    return float(jnp.finfo(dtype).tiny) ** 0.25


def lstsq_weights(phi_BxNxF, ys_BxN, rcond: float = 1e-10):
    """Minimum-norm least-squares weights w_BxNxF fitted on the pairs before each position.

    Computed as the ridge limit (Phi^T Phi + delta I)^{-1} Phi^T y with delta = rcond * trace / F
    (+ a tiny floor), which equals pinv(Phi) y up to a relative O(rcond) in float64, also when there are
    fewer pairs than features; with no pairs the weights are 0.
    """
    g, b = prefix_stats(phi_BxNxF, ys_BxN)
    f = phi_BxNxF.shape[-1]
    delta = rcond * jnp.trace(g, axis1=-2, axis2=-1) / f + _floor(g.dtype)
    a = g + delta[..., None, None] * jnp.eye(f, dtype=g.dtype)
    return spd_solve(a, b[..., None])[..., 0]


def lstsq_predict(phi_BxNxF, ys_BxN, rcond: float = 1e-10):
    """Prefix-wise minimum-norm least-squares predictions preds_BxN."""
    return jnp.sum(phi_BxNxF * lstsq_weights(phi_BxNxF, ys_BxN, rcond), -1)


def ridge_predict(phi_BxNxF, ys_BxN, lam: float):
    """Prefix-wise ridge predictions: w = (Phi^T Phi + lam I)^{-1} Phi^T y on the first k pairs."""
    g, b = prefix_stats(phi_BxNxF, ys_BxN)
    a = g + lam * jnp.eye(phi_BxNxF.shape[-1], dtype=g.dtype)
    return jnp.sum(phi_BxNxF * spd_solve(a, b[..., None])[..., 0], -1)


def blr_predictive(phi_BxNxF, ys_BxN, prior_var_F, noise_var):
    """Bayesian linear regression, prefix-wise: posterior predictive (mean_BxN, var_BxN).

    Prior w ~ N(0, diag(prior_var_F)), y = phi.w + N(0, noise_var). With
    A = Phi^T Phi + noise_var diag(1/prior_var), the posterior mean is A^{-1} Phi^T y and the
    predictive variance at phi is noise_var (1 + phi^T A^{-1} phi) (Cholesky solves).
    """
    g, b = prefix_stats(phi_BxNxF, ys_BxN)
    a = g + jnp.diag(noise_var / jnp.asarray(prior_var_F, g.dtype))
    sol = spd_solve(a, jnp.stack([b, phi_BxNxF], -1))
    mean_BxN = jnp.sum(phi_BxNxF * sol[..., 0], -1)
    var_BxN = noise_var * (1.0 + jnp.sum(phi_BxNxF * sol[..., 1], -1))
    return mean_BxN, var_BxN


def gaussian_logpdf(y, mean, var):
    """log N(y; mean, var), elementwise."""
    return -0.5 * (jnp.log(2 * jnp.pi * var) + jnp.square(y - mean) / var)


def blr_log_evidence(phi_BxNxF, ys_BxN, prior_var_F, noise_var):
    """(mean_BxN, log_ev_BxN): predictive mean and log p(y_<k) for every k.

    log p(y_1..y_{k-1}) is the sum of one-step log predictive densities (chain rule), so it is
    exact and never forms an N x N covariance.
    """
    mean, var = blr_predictive(phi_BxNxF, ys_BxN, prior_var_F, noise_var)
    return mean, exclusive_cumsum(gaussian_logpdf(ys_BxN, mean, var))


def gp_predictive(k_BxNxN, ys_BxN, noise_var):
    """Gaussian process, prefix-wise: posterior predictive (mean_BxN, var_BxN) of y_k given y_<k.

    Prior y ~ N(0, K + noise_var I). With L = chol(K + noise_var I) and z = L^{-1} y (so that
    y = L z, z ~ N(0, I)), y_<k determines z_<k, hence y_k | y_<k ~ N(sum_{j<k} L_kj z_j, L_kk^2):
    every prefix from one O(N^3) factorization per prompt. The mean is also that of f(x_k).
    """
    n = ys_BxN.shape[-1]
    chol = jnp.linalg.cholesky(k_BxNxN + noise_var * jnp.eye(n, dtype=k_BxNxN.dtype))
    z_BxN = solve_triangular(chol, ys_BxN[..., None], lower=True)[..., 0]
    diag_BxN = jnp.diagonal(chol, axis1=-2, axis2=-1)
    mean_BxN = jnp.einsum("...kj,...j->...k", jnp.tril(chol, -1), z_BxN,
                          precision=jax.lax.Precision.HIGHEST)
    return mean_BxN, jnp.square(diag_BxN)


def gp_log_evidence(k_BxNxN, ys_BxN, noise_var):
    """(mean_BxN, log_ev_BxN) of a Gaussian process with prior covariance K (noise excluded), in
    the conventions of `blr_log_evidence`: log_ev[:, k] = log p(y_<k) (0 at k = 0)."""
    mean, var = gp_predictive(k_BxNxN, ys_BxN, noise_var)
    return mean, exclusive_cumsum(gaussian_logpdf(ys_BxN, mean, var))
