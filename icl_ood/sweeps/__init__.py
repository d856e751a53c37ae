"""Sweeps as plug-ins: one module each, found by name.

A sweep is a list of evaluation tasks derived from a run's pretraining data config; each module
calls `register(Sweep(...))`. `axis` names the row field the sweep varies ("a", "freq", or None
for a list of unrelated tasks), which figures put on the x axis. User sweeps register from their
own module (see icl_ood.data.families.load_plugins).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from icl_ood.data import families as _families

_REGISTRY: dict[str, Sweep] = {}
_LOADED = False


@dataclass(frozen=True)
class Sweep:
    """`tasks(cfg: DataConfig, n_prompts: int, mix: tuple[str, str] | None) -> list[Task]`."""

    name: str
    tasks: Callable
    doc: str = ""
    axis: str | None = None


def register(sweep: Sweep) -> Sweep:
    _REGISTRY[sweep.name] = sweep
    return sweep


def _load() -> None:
    global _LOADED
    if not _LOADED:
        _LOADED = True
        _families.discover(__name__, __path__)
        _families.load_plugins()


def names() -> tuple[str, ...]:
    _load()
    return tuple(_REGISTRY)


def get(name: str) -> Sweep:
    """The sweep called `name` (ValueError listing the known ones)."""
    _load()
    if name not in _REGISTRY:
        raise ValueError(f"unknown sweep {name!r}; known: {', '.join(_REGISTRY)}")
    return _REGISTRY[name]
