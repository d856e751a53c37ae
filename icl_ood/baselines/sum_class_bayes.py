"""Bayes posterior predictive for the sum class f1 + f2 of the task's families, each with its own
prior at unit scale (not a*f1 + (1-a)*f2: for that, task_bayes): the union of their features
(e.g. [x, sin(w x), cos(w x)]); with relu_net, a GP whose kernel is the sum of the families'
covariances. Off by default (name it in --baselines)."""

from icl_ood.baselines import Spec, bayes, register
from icl_ood.baselines.bayes_mixture import note, posterior


def build(ctx):
    comps, exact = bayes.joint_components(ctx.task, ctx.task_families, ctx.opts)
    nvar = bayes.noise_var(ctx.task, ctx.opts.jitter)
    return (posterior(comps, nvar, weights=False),
            note(f"Bayes on the sum class {' + '.join(ctx.task_families)} (unit priors)", comps,
                 exact, nvar))


SPEC = register(Spec("sum_class_bayes", build, "Bayes, sum class (unit priors)",
                     ("tab:olive", ":", 1.4), default=False, doc=" ".join(__doc__.split())))
