"""Sinusoid least squares at every frequency of `Options.sin_grid` (0.05..5); predicts with
the best fit on the context (d = 1). Its lowest frequencies are nearly lines on a bounded x
range."""

import jax
import jax.numpy as jnp
import numpy as np

from icl_ood.baselines import NotApplicable, Spec, register
from icl_ood.baselines.prefix import _floor, exclusive_cumsum


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


_sin_grid = jax.jit(sin_grid_predict)


def build(ctx):
    if "sinusoid" not in ctx.task_families:
        raise NotApplicable("sin_ls_grid is for tasks with a sinusoid")
    if ctx.task.dim != 1:
        raise NotApplicable(f"sin_ls_grid needs d = 1, got d = {ctx.task.dim}")
    grid = np.sort(np.asarray(ctx.opts.sin_grid, np.float64))
    return ((lambda xs, ys: (_sin_grid(xs, ys, grid), {})),
            f"sinusoid least squares, best of {grid.size} frequencies {grid[0]:g}..{grid[-1]:g}")


SPEC = register(Spec("sin_ls_grid", build, "sinusoid LS, best w on a grid",
                     ("tab:cyan", (0, (1, 1)), 1.0), doc=" ".join(__doc__.split())))
