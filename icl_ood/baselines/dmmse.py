"""dMMSE: the Bayes posterior predictive of a finite task pool (Raventós et al. 2023), the prior a
model pretrained with data.task_pool = M saw: each pool task m of family f has prior weight
w_f / M, its posterior weight prior x p(y_<k | f_m) with Gaussian label noise of the pretraining
variance (noiseless data: the noiseless limit, variance Options.jitter, where the posterior
falls on the tasks that fit the pairs best), and the prediction is the posterior mean of
f_m(x_k). Exact; also returns the posterior weight of each family per k."""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from icl_ood import families
from icl_ood.baselines import NotApplicable, Spec, bayes, register
from icl_ood.data import pool


def _values(family: str, params: dict, xs_BxNxD):
    """f_BxMxN: each of the M pool tasks `params` of `family` on every prompt's inputs."""
    m = next(iter(params.values())).shape[0]
    apply = families.get(family).apply
    return jax.vmap(lambda x: apply(params, jnp.broadcast_to(x, (m, *x.shape))))(xs_BxNxD)


@functools.partial(jax.jit, static_argnames=("names",))
def _chunk(xs_BxNxD, ys_BxN, params, log_prior_M, nvar, names):
    """(preds_BxN, family weights_BxNxF) of one chunk of prompts against every pool task."""
    f_BxMxN = jnp.concatenate([_values(f, p, xs_BxNxD) for f, p in zip(names, params)], 1)
    r2_BxMxN = jnp.square(ys_BxN[:, None, :] - f_BxMxN)
    sse_BxMxN = jnp.cumsum(jnp.pad(r2_BxMxN[..., :-1], ((0, 0), (0, 0), (1, 0))), -1)  # j < k
    w_BxMxN = jax.nn.softmax(log_prior_M[None, :, None] - sse_BxMxN / (2 * nvar), axis=1)
    sizes = [next(iter(p.values())).shape[0] for p in params]
    fam_BxNxF = jnp.stack([w.sum(1) for w in jnp.split(w_BxMxN, np.cumsum(sizes)[:-1], axis=1)],
                          -1)
    return (w_BxMxN * f_BxMxN).sum(1), fam_BxNxF


def predict(xs_BxNxD, ys_BxN, pools: dict, weights: dict, nvar: float,
            max_elements: int = 2 ** 24):
    """(preds_BxN, aux) of the pool prior {family: params with a leading axis M_f} with family
    weights {family: w_f}: prompts in chunks of about `max_elements` task evaluations."""
    names = tuple(pools)
    params = tuple({k: jnp.asarray(v, xs_BxNxD.dtype) for k, v in pools[f].items()} for f in names)
    sizes = [next(iter(p.values())).shape[0] for p in params]
    log_prior_M = jnp.concatenate([jnp.full((m,), math.log(weights[f]) - math.log(m),
                                            xs_BxNxD.dtype) for f, m in zip(names, sizes)])
    b, n = ys_BxN.shape
    chunk = max(1, max_elements // (sum(sizes) * n))
    outs = [_chunk(xs_BxNxD[i:i + chunk], ys_BxN[i:i + chunk], params, log_prior_M,
                   jnp.asarray(nvar, xs_BxNxD.dtype), names) for i in range(0, b, chunk)]
    preds = jnp.concatenate([o[0] for o in outs])
    fam = jnp.concatenate([o[1] for o in outs])
    return preds, {f"weight:{f}": fam[..., i] for i, f in enumerate(names)}


def build(ctx):
    cfg = ctx.pretrain
    if cfg.task_pool < 1:
        raise NotApplicable("the model was pretrained on the continuous prior (data.task_pool = 0)")
    if cfg.dim != ctx.task.dim:
        raise NotApplicable(f"pretraining dim {cfg.dim} != task dim {ctx.task.dim}")
    used = [(f, w) for f, w in zip(cfg.families, cfg.weights) if w > 0]
    pools = {f: pool.pool(cfg, f) for f, _ in used}
    nvar = bayes.noise_var(cfg, ctx.opts.jitter)
    fn = functools.partial(predict, pools=pools, weights=dict(used), nvar=nvar)
    return fn, (f"Bayes for the pretraining pool: {cfg.task_pool} tasks per family "
                f"(pool seed {cfg.task_pool_seed}), noise var {nvar:g}, exact")


SPEC = register(Spec("dmmse", build, "dMMSE (Bayes, task pool)", ("tab:red", "--", 1.6),
                     doc=" ".join(__doc__.split())))
