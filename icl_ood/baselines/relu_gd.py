"""Garg et al.'s "2-layer neural network, trained with gradient descent" baseline, prefix-wise.

For every prompt and every k, a fresh net f(x) = sum_h a_h ReLU(W_h.x + c_h) + e is trained by
full-batch Adam for a fixed number of steps on the pairs before k (masked mean squared error),
then evaluated at x_k. All B x N fits run at once as one batched problem (they are independent,
so the gradient of their summed losses is each fit's own gradient). With no pairs it predicts 0.
For relu_net tasks.
"""

import functools

import jax
import jax.numpy as jnp
import optax

from icl_ood.baselines import NotApplicable, Spec, register


def _net(p, xs_XxNxD):
    h_XxNxU = jax.nn.relu(jnp.einsum("pnd,phd->pnh", xs_XxNxD, p["w"]) + p["c"][:, None])
    return jnp.einsum("pnh,ph->pn", h_XxNxU, p["a"]) + p["e"][:, None]


@functools.partial(jax.jit, static_argnames=("hidden", "steps"))
def relu_gd_predict(xs_BxNxD, ys_BxN, key, hidden: int = 100, steps: int = 300, lr: float = 1e-2):
    """preds_BxN of a 2-layer ReLU net of width `hidden` trained by `steps` Adam steps per prefix."""
    xs_BxNxD, ys_BxN = xs_BxNxD.astype(jnp.float32), ys_BxN.astype(jnp.float32)
    b, n, d = xs_BxNxD.shape
    p_count = b * n  # one fit per (prompt, k)
    xs_XxNxD = jnp.repeat(xs_BxNxD, n, axis=0)
    ys_XxN = jnp.repeat(ys_BxN, n, axis=0)
    k_X = jnp.tile(jnp.arange(n), b)
    mask_XxN = (jnp.arange(n)[None] < k_X[:, None]).astype(jnp.float32)
    kw, ka = jax.random.split(key)
    params = {"w": jax.random.normal(kw, (p_count, hidden, d)) / jnp.sqrt(d),
              "c": jnp.zeros((p_count, hidden)),
              "a": jax.random.normal(ka, (p_count, hidden)) / jnp.sqrt(hidden),
              "e": jnp.zeros((p_count,))}
    opt = optax.adam(lr)

    def loss(p):
        err_XxN = jnp.square(_net(p, xs_XxNxD) - ys_XxN) * mask_XxN
        return jnp.sum(err_XxN.sum(1) / jnp.maximum(mask_XxN.sum(1), 1.0))

    def step(carry, _):
        p, s = carry
        g = jax.grad(loss)(p)
        upd, s = opt.update(g, s, p)
        return (optax.apply_updates(p, upd), s), None

    (params, _), _ = jax.lax.scan(step, (params, opt.init(params)), None, length=steps)
    out_XxN = _net(params, xs_XxNxD)
    pred_X = jnp.take_along_axis(out_XxN, k_X[:, None], axis=1)[:, 0]
    return jnp.where(k_X > 0, pred_X, 0.0).reshape(b, n)


def build(ctx):
    if "relu_net" not in ctx.task_families:
        raise NotApplicable("relu_gd is for relu_net tasks")
    h, s, lr = ctx.opts.relu_hidden, ctx.opts.relu_steps, ctx.opts.relu_lr
    return ((lambda xs, ys: (relu_gd_predict(xs, ys, jax.random.key(0), hidden=h, steps=s,
                                             lr=lr), {})),
            f"2-layer ReLU net, width {h}, {s} Adam steps, lr {lr:g}")


SPEC = register(Spec("relu_gd", build, "2-layer ReLU net (GD)", ("tab:brown", "-.", 1.2),
                     doc=__doc__.split("\n")[0]))
