"""Garg et al.'s simple baselines: k-nearest neighbours, averaging, Lasso (pure JAX, prefix-wise).

Each maps (xs_BxNxD, ys_BxN) to preds_BxN where preds[:, k] uses pairs j < k and x_k only;
with no pairs the prediction is 0.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from icl_ood.baselines.prefix import exclusive_cumsum, prefix_stats


def knn_predict(xs_BxNxD, ys_BxN, n_neighbors: int = 3):
    """Mean y of the n_neighbors nearest previous x (Euclidean); fewer if fewer pairs exist."""
    n = xs_BxNxD.shape[1]
    d2_BxNxN = jnp.sum(jnp.square(xs_BxNxD[:, :, None] - xs_BxNxD[:, None, :]), -1)
    before_NxN = jnp.arange(n)[None, :] < jnp.arange(n)[:, None]  # [k, j]: j < k
    neg_BxNxN = jnp.where(before_NxN, -d2_BxNxN, -jnp.inf)
    m = min(n_neighbors, n)
    vals_BxNxM, idx_BxNxM = jax.lax.top_k(neg_BxNxN, m)
    valid = jnp.isfinite(vals_BxNxM)
    y_BxNxM = jnp.take_along_axis(jnp.broadcast_to(ys_BxN[:, None, :], neg_BxNxN.shape),
                                  idx_BxNxM, axis=-1)
    count_BxN = valid.sum(-1)
    return jnp.where(count_BxN > 0, jnp.sum(jnp.where(valid, y_BxNxM, 0.0), -1)
                     / jnp.maximum(count_BxN, 1), 0.0)


def averaging_predict(xs_BxNxD, ys_BxN):
    """Garg's averaging estimator: w_hat = mean_{j<k} y_j x_j, pred = w_hat . x_k."""
    n = xs_BxNxD.shape[1]
    s_BxNxD = exclusive_cumsum(xs_BxNxD * ys_BxN[..., None])
    count_N1 = jnp.maximum(jnp.arange(n, dtype=xs_BxNxD.dtype), 1.0)[:, None]
    return jnp.sum(s_BxNxD / count_N1 * xs_BxNxD, -1)


def lasso_predict(xs_BxNxD, ys_BxN, alpha: float = 0.01, n_iter: int = 300):
    """Lasso by FISTA with a fixed number of iterations, prefix-wise.

    Minimises (1 / (2k)) ||y_<k - X_<k w||^2 + alpha ||w||_1 (scikit-learn's scaling) from w = 0
    with step 1/L, L the largest eigenvalue of X_<k^T X_<k / k.
    """
    n = xs_BxNxD.shape[1]
    g, b = prefix_stats(xs_BxNxD, ys_BxN)
    k_N11 = jnp.maximum(jnp.arange(n, dtype=xs_BxNxD.dtype), 1.0)[:, None, None]
    g, b = g / k_N11, b / k_N11[..., 0]
    lip_BxN = jnp.linalg.eigvalsh(g)[..., -1]
    step_BxN1 = jnp.where(lip_BxN > 0, 1.0 / jnp.where(lip_BxN > 0, lip_BxN, 1.0), 0.0)[..., None]

    def prox(v):
        return jnp.sign(v) * jnp.maximum(jnp.abs(v) - alpha * step_BxN1, 0.0)

    def body(_, carry):
        w, z, t = carry
        w_new = prox(z - step_BxN1 * (jnp.einsum("bnij,bnj->bni", g, z) - b))
        t_new = 0.5 * (1.0 + jnp.sqrt(1.0 + 4.0 * t * t))
        return w_new, w_new + ((t - 1.0) / t_new) * (w_new - w), t_new

    w0 = jnp.zeros_like(b)
    w, _, _ = jax.lax.fori_loop(0, n_iter, body, (w0, w0, jnp.asarray(1.0, b.dtype)))
    return jnp.sum(w * xs_BxNxD, -1)
