"""Function families as plug-ins: one module each, found by name.

A family is one module that calls `register(Family(...))`: its sampler and apply, its prior
parameters (a frozen dataclass: the config section `data.<name>`), its Bayes prior as Gaussian
components (or None: no Bayes predictor), a display label and tags. The built-in families are
the modules of this package; a user family registers from any file or package, imported before
use (or named in $ICL_OOD_PLUGINS, comma-separated module names or .py paths, which every
`icl-ood` command imports). Nothing else in the library needs editing.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import pkgutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

Params = dict[str, Any]


class NotApplicable(ValueError):
    """A predictor that is undefined for this data (the message says why)."""


@dataclass(frozen=True)
class NoPrior:
    """A family without prior parameters (its config section `data.<name>` is empty)."""


class Gaussian(NamedTuple):
    """One Gaussian prior on f: f(x) = phi(x).b, b ~ N(0, diag(prior_var)), plus GP kernel
    terms. `features`: functions xs_BxNxD -> phi_BxNxF (concatenated); `kernels`: functions
    xs_BxNxD -> K_BxNxN (summed); both pure jnp, called in float64."""

    features: tuple[Callable, ...]
    prior_var: tuple[float, ...]
    log_weight: float = 0.0
    kernels: tuple[Callable, ...] = ()


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


_REGISTRY: dict[str, Family] = {}
_LOADED = False


def register(family: Family) -> Family:
    """Adds (or replaces, for a reloaded module) a family; returns it."""
    if not family.name.isidentifier():
        raise ValueError(f"family name must be an identifier, got {family.name!r}")
    _REGISTRY[family.name] = family
    return family


def load_plugins(spec: str | None = None) -> None:
    """Imports plug-in modules: comma-separated module names or .py paths (default
    $ICL_OOD_PLUGINS); each registers its families, baselines or sweeps."""
    for item in filter(None, (s.strip() for s in (spec or os.environ.get("ICL_OOD_PLUGINS", "")
                                                 ).split(","))):
        if item.endswith(".py"):
            path = Path(item).resolve()
            if not path.exists():
                raise FileNotFoundError(f"ICL_OOD_PLUGINS: no file {item}")
            name = f"icl_ood_plugin_{path.stem}"
            if name in sys.modules:
                continue
            spec_ = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec_)
            sys.modules[name] = module
            spec_.loader.exec_module(module)
        else:
            importlib.import_module(item)


def discover(package: str, path) -> None:
    """Imports every module of a plug-in package (each registers itself)."""
    for m in pkgutil.iter_modules(path):
        if not m.name.startswith("_"):
            importlib.import_module(f"{package}.{m.name}")


def _load() -> None:
    global _LOADED
    if not _LOADED:
        _LOADED = True
        discover(__name__, __path__)
        load_plugins()


def names() -> tuple[str, ...]:
    """Every registered family."""
    _load()
    return tuple(_REGISTRY)


def get(name: str) -> Family:
    """The family called `name` (a clear error for unknown names)."""
    _load()
    if name not in _REGISTRY:
        raise ValueError(f"unknown family {name!r}; known: {', '.join(_REGISTRY)}")
    return _REGISTRY[name]
