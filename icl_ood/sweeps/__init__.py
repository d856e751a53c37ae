"""Sweeps as plug-ins: one module each, found by name.

A sweep is a list of evaluation tasks derived from a run's pretraining data config; each module
calls `register(Sweep(...))`. `axis` names the row field the sweep varies ("a", "freq", or None
for a list of unrelated tasks), which figures put on the x axis. User sweeps register from their
own module (see icl_ood.registry).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from icl_ood.registry import Registry


@dataclass(frozen=True)
class Sweep:
    """`tasks(cfg: DataConfig, n_prompts: int, mix: tuple[str, str] | None) -> list[Task]`."""

    name: str
    tasks: Callable
    doc: str = ""
    axis: str | None = None


REGISTRY = Registry("sweep", __name__)
register, names, get = REGISTRY.register, REGISTRY.names, REGISTRY.get
