"""Bayes posterior predictive of the continuous prior a task pool was drawn from: for a model
pretrained with data.task_pool = M, the pretraining families' own priors with weights
cfg.weights, as if the pool were infinite (for Gaussian linear tasks, ridge regression with
lambda = the noise variance). The yardstick a pool-trained model approaches when it
generalizes beyond its pool (Raventós et al. 2023); dmmse is the one it approaches when it
memorizes the pool."""

from icl_ood.baselines import NotApplicable, Spec, register
from icl_ood.baselines.bayes_mixture import families_prior


def build(ctx):
    if ctx.pretrain.task_pool < 1:
        raise NotApplicable("no task pool (data.task_pool = 0): bayes_mixture is this prior's")
    return families_prior(ctx, "Bayes for the continuous prior of the pretraining pool")


SPEC = register(Spec("bayes_continuous", build, "Bayes, continuous prior (pool's source)",
                     ("tab:blue", ":", 1.6), doc=" ".join(__doc__.split())))
