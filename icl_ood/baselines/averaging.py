"""Garg et al.'s averaging: w = mean(y_j x_j), pred = w.x (unbiased only if E[x x^T] = I, so
e.g. x ~ U[-3, 3] inflates w by 3)."""

import jax
import jax.numpy as jnp

from icl_ood.baselines import Spec, register
from icl_ood.baselines.prefix import exclusive_cumsum


def averaging_predict(xs_BxNxD, ys_BxN):
    """Garg's averaging estimator: w_hat = mean_{j<k} y_j x_j, pred = w_hat . x_k."""
    n = xs_BxNxD.shape[1]
    s_BxNxD = exclusive_cumsum(xs_BxNxD * ys_BxN[..., None])
    count_N1 = jnp.maximum(jnp.arange(n, dtype=xs_BxNxD.dtype), 1.0)[:, None]
    return jnp.sum(s_BxNxD / count_N1 * xs_BxNxD, -1)


_avg = jax.jit(averaging_predict)


def build(ctx):
    return (lambda xs, ys: (_avg(xs, ys), {})), "w = mean(y x), pred = w.x (assumes E[xx^T] = I)"


SPEC = register(Spec("averaging", build, "averaging", ("tab:pink", ":", 1.0), doc=" ".join(__doc__.split())))
