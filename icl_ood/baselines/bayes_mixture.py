"""Bayes posterior predictive of the *pretraining* prior: a mixture of the run's families with
weights cfg.weights (what ideal model selection does); also returns the posterior family
weights per k. Exact where every family's Gaussian components are (see the families)."""

from icl_ood.baselines import NotApplicable, Spec, bayes, register


def posterior(comps, nvar: float, weights: bool):
    """fn(xs, ys) -> (preds, aux): the mixture's predictive mean (and family weights)."""
    def fn(xs, ys):
        preds, w_BxNxK, names = bayes.predict_components(comps, xs, ys, nvar)
        if not weights:
            return preds, {}
        return preds, {f"weight:{n}": w_BxNxK[..., i] for i, n in enumerate(names)}
    return fn


def note(what: str, comps, exact: bool, nvar: float) -> str:
    n_gp = sum(bool(c.kernels) for c in comps)
    return (f"{what}: {len(comps)} Gaussian component(s)"
            + (f" ({n_gp} Gaussian process)" if n_gp else "") + f", noise var {nvar:g}, "
            + ("exact" if exact else "approximate (see the families' priors)"))


def families_prior(ctx, what: str):
    """(fn, note) of the Bayes predictor of the pretraining families' continuous priors with
    their weights (the pretraining prior itself unless the model saw a task pool)."""
    if ctx.pretrain.dim != ctx.task.dim:
        raise NotApplicable(f"pretraining dim {ctx.pretrain.dim} != task dim {ctx.task.dim}")
    comps, exact = bayes.mixture_components(ctx.pretrain, ctx.opts)
    nvar = bayes.noise_var(ctx.pretrain, ctx.opts.jitter)
    return posterior(comps, nvar, weights=True), note(what, comps, exact, nvar)


def build(ctx):
    if ctx.pretrain.task_pool:
        raise NotApplicable(f"pretrained on a pool of {ctx.pretrain.task_pool} tasks per family: "
                            "its Bayes predictor is dmmse (bayes_continuous: the pool's source)")
    return families_prior(ctx, "Bayes for the pretraining prior")


SPEC = register(Spec("bayes_mixture", build, "Bayes, pretraining prior", ("tab:blue", "--", 1.6),
                     doc=" ".join(__doc__.split())))
