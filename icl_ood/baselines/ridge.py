"""Ridge regression on x, lambda `Options.ridge_lambda` (default 0.1)."""

import jax

from icl_ood.baselines import Spec, prefix, register

_ridge = jax.jit(prefix.ridge_predict)


def build(ctx):
    lam = ctx.opts.ridge_lambda
    return (lambda xs, ys: (_ridge(xs, ys, lam), {})), f"ridge, lambda={lam:g}"


SPEC = register(Spec("ridge", build, "ridge on x", ("tab:olive", "-.", 1.0), doc=__doc__))
