"""Bayes posterior predictive for the test task's own prior: the best any predictor can do on the
task's distribution. For f = a*f1 + (1-a)*f2 (f1, f2 independent draws from their families'
priors) the prior of f is each family's Gaussian components with variances scaled by a^2 and
(1-a)^2; for a pure task, the family's own prior (in distribution: the family oracle, which
knows the prompt's family). Exact where the families' components are."""

from icl_ood.baselines import NotApplicable, Spec, bayes, register
from icl_ood.baselines.bayes_mixture import note, posterior


def build(ctx):
    if ctx.task.task_pool:
        raise NotApplicable(f"the task's prior is a pool of {ctx.task.task_pool} tasks: its "
                            "Bayes predictor is dmmse")
    comps, exact = bayes.task_components(ctx.task, ctx.task_families, ctx.scales, ctx.opts)
    nvar = bayes.noise_var(ctx.task, ctx.opts.jitter)
    return (posterior(comps, nvar, weights=False),
            note("Bayes for the task's own prior", comps, exact, nvar))


SPEC = register(Spec("task_bayes", build, "Bayes, task prior", ("tab:green", ":", 1.8),
                     doc=" ".join(__doc__.split())))
