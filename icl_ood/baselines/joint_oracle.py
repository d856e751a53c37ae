"""Bayes posterior predictive for the sum class of the task's families: the union of their
features (e.g. [x, sin(w x), cos(w x)]) with each family's own prior (not scaled by a); with
relu_net, a GP whose kernel is the sum of the families' covariances."""

from icl_ood.baselines import Spec, bayes, register
from icl_ood.baselines.bayes_mixture import note, posterior


def build(ctx):
    comps, exact = bayes.joint_components(ctx.task, ctx.task_families, ctx.opts)
    nvar = bayes.noise_var(ctx.task, ctx.opts.jitter)
    return (posterior(comps, nvar, weights=False),
            note(f"Bayes on the task class {'+'.join(ctx.task_families)}", comps, exact, nvar))


SPEC = register(Spec("joint_oracle", build, "joint-class oracle", ("tab:green", ":", 1.8),
                     doc=" ".join(__doc__.split())))
