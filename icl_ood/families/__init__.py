"""Function families as plug-ins: one module each, found by name.

A family is one module that calls `register(Family(...))`: its sampler and apply, its prior
parameters (a frozen dataclass: the config section `data.<name>`), its Bayes prior as Gaussian
components (or None: no Bayes predictor), a display label and tags. The built-in families are
the modules of this package; a user family registers from any file or package, imported before
use (or named in $ICL_OOD_PLUGINS, comma-separated module names or .py paths, which every
`icl-ood` command imports). Nothing else in the library needs editing.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from icl_ood.registry import Registry

Params = dict[str, Any]


class NotApplicable(ValueError):
    """A predictor that is undefined for this data (the message says why)."""


@dataclass(frozen=True)
class NoPrior:
    """A family without prior parameters (its config section `data.<name>` is empty)."""


class Gaussian(NamedTuple):
    """One Gaussian prior on f: f(x) = mean(x) + phi(x).b, b ~ N(0, diag(prior_var)), plus GP
    kernel terms. `features`: functions xs_BxNxD -> phi_BxNxF (concatenated); `kernels`:
    functions xs_BxNxD -> K_BxNxN (summed); `mean`: a function xs_BxNxD -> m_BxN (None: 0); all
    pure jnp, called in float64. With no features and no kernels, a point mass at `mean` (one
    function of a finite pool: a grid prior is a mixture of such components). `predictive`
    (optional): a function (xs_BxNxD, ys_BxN, noise_var, scale2) -> (mean_BxN, log_ev_BxN) that
    computes the component's prefix-wise posterior mean and log p(y_<k) itself (for f scaled by
    sqrt(scale2)), e.g. a family marginalized approximately; features and prior_var then unused."""

    features: tuple[Callable, ...]
    prior_var: tuple[float, ...]
    log_weight: float = 0.0
    kernels: tuple[Callable, ...] = ()
    mean: Callable | None = None
    predictive: Callable | None = None


@dataclass(frozen=True)
class Family:
    """A function family: `sample(key, batch, dim, prior) -> params`, `apply(params,
    xs_BxNxD) -> ys_BxN`; `prior` the class of its parameters (config section data.<name>);
    `bayes(prior, dim, opts) -> (components, exact)` its prior as Gaussian components (None:
    no Bayes predictor; raise NotApplicable where undefined, e.g. for some dims); `check(prior,
    dim)` raises ValueError on invalid combinations; `describe(prior)` gives row fields that
    identify a test task (e.g. {"freq": 1.0}); `tags` e.g. "linear" (linear in x);
    `mean_square(prior, dim, x2) -> E[f(x)^2]` for inputs with E[x x^T] = x2 I, declared only
    for families with E[f(x)] = 0 (the normalizer of errors; None: a Monte Carlo estimate)."""

    name: str
    sample: Callable
    apply: Callable
    prior: type = NoPrior
    bayes: Callable | None = None
    label: str = ""
    tags: tuple[str, ...] = ()
    check: Callable | None = None
    describe: Callable | None = None
    mean_square: Callable | None = None
    doc: str = ""

    @property
    def display(self) -> str:
        return self.label or self.name


class Lazy:
    """A module imported on first attribute access: the family modules use JAX through `jax` and
    `jnp` below, so registering them (and building and validating a config) imports no JAX."""

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr: str):
        return getattr(importlib.import_module(self._name), attr)


jax, jnp = Lazy("jax"), Lazy("jax.numpy")


def jit(fn: Callable | None = None, **options):
    """`jax.jit(fn, **options)`, made on the first call (as a decorator, with or without
    options)."""
    if fn is None:
        return functools.partial(jit, **options)
    compiled = None

    @functools.wraps(fn)
    def call(*args, **kwargs):
        nonlocal compiled
        if compiled is None:
            compiled = importlib.import_module("jax").jit(fn, **options)
        return compiled(*args, **kwargs)
    return call


REGISTRY = Registry("family", __name__)
register, names, get = REGISTRY.register, REGISTRY.names, REGISTRY.get
