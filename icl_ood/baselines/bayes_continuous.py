"""Bayes posterior predictive of the continuous prior a task pool was drawn from: for a model
pretrained with data.task_pool = M, the pretraining families' own priors with weights
cfg.weights, as if the pool were infinite (for Gaussian linear tasks, ridge regression with
lambda = the noise variance). The yardstick a pool-trained model approaches when it
generalizes beyond its pool (Raventós et al. 2023); dmmse is the one it approaches when it
memorizes the pool."""

from icl_ood.baselines import NotApplicable, Spec, bayes, register
from icl_ood.baselines.bayes_mixture import note, posterior


def build(ctx):
    if ctx.pretrain.task_pool < 1:
        raise NotApplicable("no task pool (data.task_pool = 0): bayes_mixture is this prior's")
    if ctx.pretrain.dim != ctx.task.dim:
        raise NotApplicable(f"pretraining dim {ctx.pretrain.dim} != task dim {ctx.task.dim}")
    comps, exact = bayes.mixture_components(ctx.pretrain, ctx.opts)
    nvar = bayes.noise_var(ctx.pretrain, ctx.opts.jitter)
    return (posterior(comps, nvar, weights=True),
            note("Bayes for the continuous prior of the pretraining pool", comps, exact, nvar))


SPEC = register(Spec("bayes_continuous", build, "Bayes, continuous prior (pool's source)",
                     ("tab:blue", ":", 1.6), doc=" ".join(__doc__.split())))
