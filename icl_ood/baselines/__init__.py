"""Baselines for in-context regression, each mapping (xs_BxNxD, ys_BxN) to preds_BxN.

preds[:, k] uses only the pairs j < k and x_k, exactly like the Transformer (k = 0: no pairs,
predict 0, the prior mean of every family here). `make(name, ...)` builds one; `for_task(...)`
lists every baseline that applies to a pretraining config and a test task. Baselines run in
float64 under `jax.enable_x64` (inside `Baseline.predict`), so call them eagerly.

Names:
  least_squares   minimum-norm least squares on x (Garg et al.)
  ridge           ridge regression on x, lambda `ridge_lambda` (default 0.1)
  lasso           Lasso on x by FISTA, `lasso_alpha` (default 0.01), 300 iterations; linear tasks
  knn3            mean y of the 3 nearest previous x (Garg et al.)
  averaging       w = mean(y_j x_j), pred = w.x (Garg et al.; unbiased only if E[x x^T] = I,
                  so e.g. x ~ U[-3, 3] inflates w by 3)
  sin_ls_known    least squares on [sin(w x), cos(w x)] with the task's true w (fixed w, d = 1)
  sin_ls_grid     the same at every w of `sin_grid` (0.05..5), the best fit on the context is
                  used (d = 1); its lowest frequencies are nearly lines on a bounded x range
  relu_gd         a 2-layer ReLU net trained by Adam on the context (relu_net tasks)
  joint_oracle    Bayes posterior predictive for the *task's* class: union of the features of the
                  task's families (e.g. [x, sin(w x), cos(w x)]) with each family's own prior
                  (not scaled by a), what true generalization to the combined class achieves;
                  with relu_net, a GP whose kernel is the sum of the families' covariances
                  (e.g. x.x' + the arc-cosine kernel for linear + relu_net)
  bayes_mixture   Bayes posterior predictive of the *pretraining* prior (a mixture of families,
                  weights = cfg.weights); also returns posterior family weights per k
                  (relu_net in either: the Gaussian process with its exact covariance, the
                  order-1 arc-cosine kernel, an approximation exact as the width r -> infinity;
                  see `bayes`)
  zero            predicts 0 (normalized error 1 by definition; off by default)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from icl_ood.baselines import bayes, prefix, relu, simple, sinusoid
from icl_ood.baselines.bayes import NotApplicable
from icl_ood.config import DataConfig

DEFAULT = ("least_squares", "ridge", "lasso", "knn3", "averaging", "sin_ls_known", "sin_ls_grid",
           "relu_gd", "joint_oracle", "bayes_mixture")
NAMES = DEFAULT + ("zero",)
LINEAR_FAMILIES = ("linear", "sparse_linear")


@dataclass(frozen=True)
class Options:
    """Tunable settings of the baselines."""

    ridge_lambda: float = 0.1
    lasso_alpha: float = 0.01
    lasso_iter: int = 300
    sin_grid: tuple[float, ...] = tuple(np.round(np.arange(1, 101) * 0.05, 2).tolist())  # 0.05..5
    relu_hidden: int = 100
    relu_steps: int = 300
    relu_lr: float = 1e-2
    jitter: float = 1e-4  # noise variance assumed by the Bayes predictors for noiseless data
    freq_grid: int = 24  # sub-components of a sinusoid with unknown frequency
    max_supports: int = 256  # sparse_linear supports enumerated exactly up to this many


DEFAULT_OPTIONS = Options()


@dataclass(frozen=True)
class Baseline:
    """A named predictor; `fn(xs64, ys64) -> (preds_BxN, aux)` where aux maps names to BxN."""

    name: str
    fn: Callable = field(repr=False)
    note: str = ""

    def predict(self, xs_BxNxD, ys_BxN) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """(preds_BxN, aux) as float64 numpy arrays, computed in float64."""
        with jax.enable_x64(True):
            xs = jnp.asarray(np.asarray(xs_BxNxD, np.float64))
            ys = jnp.asarray(np.asarray(ys_BxN, np.float64))
            preds, aux = self.fn(xs, ys)
            return (np.asarray(preds, np.float64),
                    {k: np.asarray(v, np.float64) for k, v in aux.items()})


_knn = jax.jit(simple.knn_predict, static_argnames="n_neighbors")
_avg = jax.jit(simple.averaging_predict)
_lasso = jax.jit(simple.lasso_predict, static_argnames="n_iter")
_lstsq = jax.jit(prefix.lstsq_predict)
_ridge = jax.jit(prefix.ridge_predict)
_sin_grid = jax.jit(sinusoid.sin_grid_predict)


def _fixed_freq(cfg: DataConfig) -> float:
    lo, hi = cfg.sin_freq
    if lo != hi:
        raise NotApplicable(f"the task's frequency is not fixed (sin_freq = {cfg.sin_freq})")
    return lo


def _bayes(comps, exact: bool, nvar: float, what: str, weights: bool) -> tuple[Callable, str]:
    def fn(xs, ys):
        preds, post = bayes.predict_components(comps, xs, ys, nvar)
        if not weights:
            return preds, {}
        names, w_BxNxK = bayes.family_weights(comps, post)
        return preds, {f"weight:{n}": w_BxNxK[..., i] for i, n in enumerate(names)}
    n_gp = sum(bool(c.kernels) for c in comps)
    note = (f"{what}: {len(comps)} Gaussian component(s)"
            + (f" ({n_gp} Gaussian process)" if n_gp else "") + f", noise var {nvar:g}, "
            + ("exact" if exact else "approximate (non-Gaussian prior, frequency quadrature or "
               "the relu_net arc-cosine GP)"))
    return fn, note


def make(name: str, pretrain: DataConfig, task: DataConfig, task_families: tuple[str, ...],
         opts: Options = DEFAULT_OPTIONS) -> Baseline:
    """The baseline `name` for a model pretrained on `pretrain`, tested on `task` (a DataConfig
    describing the test prompts) whose functions combine `task_families`; raises NotApplicable."""
    d = task.dim
    if name == "zero":
        return Baseline(name, lambda xs, ys: (jnp.zeros_like(ys), {}), "predicts 0")
    if name == "least_squares":
        return Baseline(name, lambda xs, ys: (_lstsq(xs, ys), {}), "min-norm least squares on x")
    if name == "ridge":
        lam = opts.ridge_lambda
        return Baseline(name, lambda xs, ys: (_ridge(xs, ys, lam), {}), f"ridge, lambda={lam:g}")
    if name == "lasso":
        if not set(task_families) & set(LINEAR_FAMILIES):
            raise NotApplicable("lasso is for linear / sparse_linear tasks")
        al, it = opts.lasso_alpha, opts.lasso_iter
        return Baseline(name, lambda xs, ys: (_lasso(xs, ys, al, it), {}),
                        f"Lasso (FISTA, {it} iterations), alpha={al:g}")
    if name == "knn3":
        return Baseline(name, lambda xs, ys: (_knn(xs, ys, 3), {}), "mean y of 3 nearest x")
    if name == "averaging":
        return Baseline(name, lambda xs, ys: (_avg(xs, ys), {}), "w = mean(y x), pred = w.x (assumes E[xx^T] = I)")
    if name in ("sin_ls_known", "sin_ls_grid"):
        if "sinusoid" not in task_families:
            raise NotApplicable(f"{name} is for tasks with a sinusoid")
        if d != 1:
            raise NotApplicable(f"{name} needs d = 1, got d = {d}")
        if name == "sin_ls_known":
            w = _fixed_freq(task)
            return Baseline(name, lambda xs, ys: (_lstsq(sinusoid.sin_features(xs, w), ys), {}),
                            f"least squares on [sin({w:g}x), cos({w:g}x)]")
        grid = np.sort(np.asarray(opts.sin_grid, np.float64))
        return Baseline(name, lambda xs, ys: (_sin_grid(xs, ys, grid), {}),
                        f"sinusoid least squares, best of {grid.size} frequencies "
                        f"{grid[0]:g}..{grid[-1]:g}")
    if name == "relu_gd":
        if "relu_net" not in task_families:
            raise NotApplicable("relu_gd is for relu_net tasks")
        h, s, lr = opts.relu_hidden, opts.relu_steps, opts.relu_lr
        return Baseline(name, lambda xs, ys: (relu.relu_gd_predict(
            xs, ys, jax.random.key(0), hidden=h, steps=s, lr=lr), {}),
            f"2-layer ReLU net, width {h}, {s} Adam steps, lr {lr:g}")
    kw = {"freq_grid": opts.freq_grid, "max_supports": opts.max_supports}
    if name == "joint_oracle":
        comps, exact = bayes.joint_components(task, task_families, **kw)
        fn, note = _bayes(comps, exact, bayes.noise_var(task, opts.jitter),
                          f"Bayes on the task class {'+'.join(task_families)}", weights=False)
        return Baseline(name, fn, note)
    if name == "bayes_mixture":
        if pretrain.dim != d:
            raise NotApplicable(f"pretraining dim {pretrain.dim} != task dim {d}")
        comps, exact = bayes.mixture_components(pretrain, **kw)
        fn, note = _bayes(comps, exact, bayes.noise_var(pretrain, opts.jitter),
                          "Bayes for the pretraining prior", weights=True)
        return Baseline(name, fn, note)
    raise ValueError(f"unknown baseline {name!r}; known: {NAMES}")


def for_task(pretrain: DataConfig, task: DataConfig, task_families: tuple[str, ...],
             names: tuple[str, ...] | None = None, opts: Options = DEFAULT_OPTIONS) -> list[Baseline]:
    """Every applicable baseline among `names` (default: DEFAULT, skipping those that do not
    apply); a name given explicitly that does not apply raises NotApplicable."""
    if names is None:
        out = []
        for n in DEFAULT:
            try:
                out.append(make(n, pretrain, task, task_families, opts))
            except NotApplicable:
                pass
        return out
    return [make(n, pretrain, task, task_families, opts) for n in names]


__all__ = ["DEFAULT", "DEFAULT_OPTIONS", "NAMES", "Baseline", "NotApplicable", "Options",
           "for_task", "make"]
