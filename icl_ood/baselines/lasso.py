"""Lasso on x by FISTA, alpha `Options.lasso_alpha` (default 0.01), `Options.lasso_iter`
iterations; for tasks with a family tagged "linear"."""

import jax
import jax.numpy as jnp

from icl_ood.baselines import NotApplicable, Spec, has_tag, register
from icl_ood.baselines.prefix import prefix_stats


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


_lasso = jax.jit(lasso_predict, static_argnames="n_iter")


def build(ctx):
    if not has_tag(ctx.task_families, "linear"):
        raise NotApplicable("Lasso is for tasks with a linear family")
    al, it = ctx.opts.lasso_alpha, ctx.opts.lasso_iter
    return (lambda xs, ys: (_lasso(xs, ys, al, it), {})), f"Lasso (FISTA, {it} iterations), alpha={al:g}"


SPEC = register(Spec("lasso", build, "Lasso", ("tab:purple", "-.", 1.2), doc=" ".join(__doc__.split())))
