"""Sweeps as plug-ins: one module each, found by name.

A sweep is a list of evaluation tasks derived from a run's pretraining data config; each module
calls `register(Sweep(...))`. `axis` names the row field the sweep varies ("a", "freq", a
field of the tasks' `meta`, or None for a list of unrelated tasks); evaluations save it with
their results (`info`), and a sweep that no registered figure draws gets the generic figure,
its error against that axis (icl_ood.figures.generic: against its tasks if None). User sweeps
register from their own module (see icl_ood.registry), and their figures and report sections
too (icl_ood.figures.plugins, icl_ood.report.plugins).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from icl_ood.registry import Registry


@dataclass(frozen=True)
class Sweep:
    """`tasks(cfg: DataConfig, n_prompts: int, mix: tuple[str, str] | None) -> list[Task]`;
    `axis`: the row field it varies, or None (module doc)."""

    name: str
    tasks: Callable
    doc: str = ""
    axis: str | None = None


REGISTRY = Registry("sweep", __name__)
register, names, get = REGISTRY.register, REGISTRY.names, REGISTRY.get


def info(name: str) -> dict:
    """What sweep `name` is, saved in its evaluations' manifests: {axis, doc on one line}."""
    sw = get(name)
    return {"axis": sw.axis, "doc": " ".join(sw.doc.split())}
