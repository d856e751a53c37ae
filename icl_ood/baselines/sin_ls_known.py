"""Least squares on [sin(w x), cos(w x)] with the task's true frequency w (fixed w, d = 1).

A sinusoid A sin(w x + phase) is linear in [sin(w x), cos(w x)], so with w known this is
ordinary (minimum-norm) least squares.
"""

import jax

from icl_ood.baselines import NotApplicable, Spec, prefix, register
from icl_ood.families.sinusoid import sin_features

_lstsq = jax.jit(prefix.lstsq_predict)


def build(ctx):
    if "sinusoid" not in ctx.task_families:
        raise NotApplicable("sin_ls_known is for tasks with a sinusoid")
    if ctx.task.dim != 1:
        raise NotApplicable(f"sin_ls_known needs d = 1, got d = {ctx.task.dim}")
    lo, hi = ctx.task.sinusoid.freq
    if lo != hi:
        raise NotApplicable(f"the task's frequency is not fixed (data.sinusoid.freq = {(lo, hi)})")
    return ((lambda xs, ys: (_lstsq(sin_features(xs, lo), ys), {})),
            f"least squares on [sin({lo:g}x), cos({lo:g}x)]")


SPEC = register(Spec("sin_ls_known", build, "sinusoid LS, w known",
                     ("tab:red", (0, (3, 1, 1, 1)), 1.2), doc=__doc__.split("\n")[0]))
