"""Sinusoid least squares for 1-D inputs: y ~ b1 sin(w x) + b2 cos(w x), w known or from a grid.

A sinusoid A sin(w x + phase) is linear in the features [sin(w x), cos(w x)], so with w known
this is ordinary (minimum-norm) least squares. In d > 1 the direction u of the sinusoid would be
unknown too, so these baselines are defined for d = 1 only.
"""

from __future__ import annotations

import jax.numpy as jnp

from icl_ood.baselines.prefix import _floor, exclusive_cumsum, lstsq_predict


def sin_features(xs_BxNxD, freq):
    """phi_BxNx2 = [sin(freq x), cos(freq x)] (d = 1 only)."""
    if xs_BxNxD.shape[-1] != 1:
        raise ValueError(f"sinusoid features need 1-D inputs, got d = {xs_BxNxD.shape[-1]}")
    t = freq * xs_BxNxD[..., 0]
    return jnp.stack([jnp.sin(t), jnp.cos(t)], -1)


def sin_known_freq_predict(xs_BxNxD, ys_BxN, freq):
    """Prefix-wise least squares on [sin(freq x), cos(freq x)] with the true frequency."""
    return lstsq_predict(sin_features(xs_BxNxD, freq), ys_BxN)


def sin_grid_predict(xs_BxNxD, ys_BxN, freqs_G, rtol: float = 1e-6, rcond: float = 1e-10):
    """Least squares at every grid frequency; predict with the one that best fits the context.

    Best fit = the smallest residual sum of squares on the pairs before k; ties (within
    rtol * sum y^2, e.g. k <= 2 where every frequency fits exactly) go to the lowest frequency,
    so `freqs_G` must be sorted ascending. The 2 x 2 normal equations are solved in closed form
    (the same ridge-limit minimum-norm solution as `prefix.lstsq_weights`), elementwise.
    """
    if xs_BxNxD.shape[-1] != 1:
        raise ValueError(f"sinusoid features need 1-D inputs, got d = {xs_BxNxD.shape[-1]}")
    t_GxBxN = jnp.asarray(freqs_G, xs_BxNxD.dtype)[:, None, None] * xs_BxNxD[None, ..., 0]
    s, c = jnp.sin(t_GxBxN), jnp.cos(t_GxBxN)
    ss, sc, cc, sy, cy = (exclusive_cumsum(v, axis=2)
                          for v in (s * s, s * c, c * c, s * ys_BxN, c * ys_BxN))
    delta = rcond * (ss + cc) / 2 + _floor(ss.dtype)
    p, r = ss + delta, cc + delta
    det = p * r - sc * sc
    w0, w1 = (r * sy - sc * cy) / det, (p * cy - sc * sy) / det
    preds_GxBxN = w0 * s + w1 * c
    yy_BxN = exclusive_cumsum(jnp.square(ys_BxN))
    rss_GxBxN = jnp.maximum(yy_BxN - (w0 * sy + w1 * cy), 0.0)  # = y.y - w.(Phi^T y)
    best_BxN = jnp.min(rss_GxBxN, 0)
    first_BxN = jnp.argmax(rss_GxBxN <= best_BxN + rtol * yy_BxN, axis=0)
    return jnp.take_along_axis(preds_GxBxN, first_BxN[None], axis=0)[0]
