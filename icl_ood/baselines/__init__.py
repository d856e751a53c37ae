"""Baselines as plug-ins: predictors for in-context regression, one module each, found by name.

Each maps (xs_BxNxD, ys_BxN) to preds_BxN, where preds[:, k] uses only the pairs j < k and x_k,
exactly like the Transformer (k = 0: no pairs, predict 0, the prior mean of every family here).
A baseline module calls `register(Spec(name, build, label, style))`; `build(ctx)` returns
`(fn, note)` for a context (pretraining and task data configs, the task's families, Options)
or raises NotApplicable saying why. `for_task` lists every default baseline that applies and a
one-line note for each that does not, so a new family never makes evaluation crash. Baselines
run in float64 under `jax.enable_x64` (inside `Baseline.predict`), so call them eagerly.
User baselines register from their own module (see icl_ood.registry).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from icl_ood import families
from icl_ood.config import DataConfig
from icl_ood.families import NotApplicable
from icl_ood.registry import Registry


@dataclass(frozen=True)
class Options:
    """Tunable settings of the baselines."""

    ridge_lambda: float = 0.1
    lasso_alpha: float = 0.01
    # Lasso is solved exactly (LARS homotopy, KKT-checked: see lasso.py); this caps the
    # coordinate-descent sweeps of the fallback for prefixes that fail the check (none seen
    # with continuous x; 300 was the FISTA iteration count before)
    lasso_iter: int = 100_000
    sin_grid: tuple[float, ...] = tuple(np.round(np.arange(1, 101) * 0.05, 2).tolist())  # 0.05..5
    relu_hidden: int = 100
    relu_steps: int = 300
    relu_lr: float = 1e-2
    # Noise variance the Bayes predictors assume for noiseless data: the noiseless limit (1e-8
    # and 1e-10 give the same predictions to 1e-6, see tests/test_baselines.py).
    jitter: float = 1e-8
    freq_grid: int = 512  # quadrature nodes for a sinusoid frequency range (see sinusoid.py)
    # sparse_linear supports enumerated exactly as Gaussian components up to this many (C(20, 3)
    # = 1140 at Garg et al.'s d = 20, s = 3: about 1 min per 1,280-prompt task on 2 CPU cores);
    # beyond exact_supports, approximate: per prefix, the supports inside the m best-screened
    # coordinates (C(m, s) <= this; sparse_linear.Screened, its error against exact in its doc)
    max_supports: int = 2500
    # ... and up to this many by sparse_linear.Enumerated (exact, in chunks of supports: C(20, 4)
    # = 4,845 takes about 2 min per 1,280 prompts on 2 cores); beyond, Screened (approximate)
    exact_supports: int = 100_000


DEFAULT_OPTIONS = Options()


class Context(NamedTuple):
    """What a baseline is built for: the model's pretraining data, the test prompts' data
    config, the families the task's functions combine, the options, and the coefficient of
    each family's function in the task's f (f = a f1 + (1 - a) f2: (a, 1 - a))."""

    pretrain: DataConfig
    task: DataConfig
    task_families: tuple[str, ...]
    opts: Options
    scales: tuple[float, ...] = ()


@dataclass(frozen=True)
class Spec:
    """A registered baseline: `build(ctx) -> (fn, note)`; fn(xs64, ys64) -> (preds_BxN, aux)
    with aux a dict of BxN arrays. What it is called (`label`: figure legends and report
    tables), how it is drawn (`style` = (color, line style, width)) and what it is (`doc`: its
    first sentence defines it in report.md) are saved with every evaluation (`describe`): the
    one place figures and the report read them from."""

    name: str
    build: Callable = field(repr=False)
    label: str = ""
    style: tuple = ("gray", "-.", 1.2)
    default: bool = True  # evaluated unless the user names the baselines
    doc: str = ""


@dataclass(frozen=True)
class Baseline:
    """A predictor built for one context; `predict` runs it in float64."""

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


REGISTRY = Registry("baseline", __name__)
register, names, specs = REGISTRY.register, REGISTRY.names, REGISTRY.all


def defaults() -> tuple[str, ...]:
    return tuple(n for n, s in specs().items() if s.default)


MODEL = {  # the Transformer's rows (see evaluate.hints): label, style, definition
    "model": ("Transformer", ("black", "-", 2.0),
              "the trained model's prediction of y_k from the k pairs before it and x_k."),
    "model_no_hint": ("Transformer, no family hint", ("0.45", "--", 1.6),
                      "the hinted model with the family hint left out."),
    "model_wrong_hint": ("Transformer, wrong family hint", ("tab:pink", "--", 1.6),
                         "the hinted model given another family's hint.")}


def describe(names) -> dict[str, dict]:
    """What each predictor is, from the registry (the Transformer's from MODEL): {name: {label,
    style: [color, line style, width], doc: first paragraph}}, saved with every evaluation so
    figures and the report show a user baseline as registered, without importing it."""
    out = {}
    for name in names:
        if name in MODEL:
            label, style, doc = MODEL[name]
        elif (s := specs().get(name)) is not None:
            label, style, doc = s.label or s.name, s.style, (s.doc or "").strip()
        else:
            continue
        out[name] = {"label": label, "style": list(style),
                     "doc": " ".join(doc.split("\n\n")[0].split())}
    return out


def make(name: str, pretrain: DataConfig, task: DataConfig, task_families: tuple[str, ...],
         opts: Options = DEFAULT_OPTIONS, scales: tuple[float, ...] | None = None) -> Baseline:
    """The baseline `name` for a model pretrained on `pretrain`, tested on `task` (a DataConfig
    describing the test prompts) whose functions combine `task_families`; raises NotApplicable."""
    all_ = specs()
    if name not in all_:
        raise ValueError(f"unknown baseline {name!r}; known: {', '.join(all_)}")
    scales = tuple(scales) if scales is not None else (1.0,) * len(task_families)
    fn, note = all_[name].build(Context(pretrain, task, tuple(task_families), opts, scales))
    return Baseline(name, fn, note)


def for_task(pretrain: DataConfig, task: DataConfig, task_families: tuple[str, ...],
             names: tuple[str, ...] | None = None, opts: Options = DEFAULT_OPTIONS,
             notes: list[str] | None = None, scales: tuple[float, ...] | None = None
             ) -> list[Baseline]:
    """Every applicable baseline among `names` (default: the default ones; each that does not
    apply is skipped, with a one-line note appended to `notes`); a name given explicitly that
    does not apply raises NotApplicable."""
    if names is not None:
        return [make(n, pretrain, task, task_families, opts, scales) for n in names]
    out = []
    for n in defaults():
        try:
            out.append(make(n, pretrain, task, task_families, opts, scales))
        except NotApplicable as e:
            if notes is not None:
                notes.append(f"{n}: skipped ({e})")
    return out


def has_tag(task_families, tag: str) -> bool:
    """Whether any of the families carries `tag` (e.g. "linear")."""
    return any(tag in families.get(f).tags for f in task_families)


__all__ = ["DEFAULT_OPTIONS", "Baseline", "Context", "NotApplicable", "Options", "Spec",
           "defaults", "describe", "for_task", "make", "names", "register", "specs"]
