"""Figures as plug-ins: each registers its function, what it draws from and its caption.

`draw` (icl_ood.figures) calls every registered figure, in `order`, whose results are there
(`holds`); report.md lists each file drawn with the caption of the figure whose `file` it
starts with. A figure of your own registers from a module loaded as a plug-in
($ICL_OOD_PLUGINS or `icl-ood --plugins`, see icl_ood.registry), e.g. next to its sweep:

    from icl_ood.figures import style
    from icl_ood.figures.plugins import figure

    @figure("my_sweep", sweeps=("my_sweep",), caption="error vs ... at the largest k.")
    def fig_my_sweep(data, out):  # data: results.load / load_run; out: the figures folder
        fig, ax = plt.subplots()
        ...  # run["rows"]["my_sweep"] of each run in data["runs"]; style.look(predictor)
        return style._save(fig, out, "my_sweep")  # [png, pdf]

A sweep that no registered figure names in `sweeps` gets the generic figure
(icl_ood.figures.generic: error against its `Sweep.axis`, or against its tasks).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from icl_ood.registry import Registry

KINDS = ("rows", "weights", "along", "examples", "metrics")  # what a run record holds


@dataclass(frozen=True)
class Figure:
    """A registered figure. `draw(data, out) -> [paths]` draws what `data` (results.load or
    load_run) holds into the folder `out` (nothing: []); `file`: the name of the files it
    writes without suffix, or their common beginning (default: `name`); `sweeps`: the sweeps
    whose results it draws; `needs`: the kinds of results (KINDS: rows, weights and along
    per sweep, examples and metrics per run) some run must hold, for one of `sweeps` (any
    sweep if none is named), for it to be drawn; `caption`: its line in report.md; `order`:
    where it is drawn among the others (the built-in ones 10 to 120)."""

    name: str
    draw: Callable = field(repr=False)
    file: str = ""
    sweeps: tuple[str, ...] = ()
    needs: tuple[str, ...] = ("rows",)
    caption: str = ""
    order: int = 500

    def __post_init__(self):
        bad = set(self.needs) - set(KINDS)
        if bad:
            raise ValueError(f"figure {self.name!r}: needs {sorted(bad)}; known: {KINDS}")
        object.__setattr__(self, "file", self.file or self.name)
        object.__setattr__(self, "sweeps", tuple(self.sweeps))


REGISTRY = Registry("figure", "icl_ood.figures")
register = REGISTRY.register


def figure(name: str, **kw) -> Callable:
    """Decorator: registers the function as Figure(name, fn, **kw); returns it unchanged."""
    def deco(fn: Callable) -> Callable:
        register(Figure(name, fn, **kw))
        return fn
    return deco


def registered() -> list[Figure]:
    """Every registered figure (plug-ins included), in drawing order."""
    return sorted(REGISTRY.all().values(), key=lambda f: f.order)


def _has(run: dict, kind: str, sweeps: tuple[str, ...]) -> bool:
    got = run.get(kind) or {}
    if kind in ("rows", "weights", "along"):
        return any(got.get(s) for s in sweeps) if sweeps else any(got.values())
    return bool(got)


def holds(data: dict, item) -> bool:
    """Whether some run of `data` holds what `item` (a Figure, or a report Section: anything
    with `sweeps` and `needs`) draws from."""
    return any(all(_has(run, kind, item.sweeps) for kind in item.needs)
               for run in data["runs"])


def claimed() -> set[str]:
    """The sweeps a registered figure draws."""
    return {s for f in registered() for s in f.sweeps}


def caption(file_name: str) -> str:
    """The caption of a drawn file: the registered figure whose `file` begins its name (the
    longest such), else ''."""
    match = [f for f in registered() if file_name.startswith(f.file)]
    return max(match, key=lambda f: len(f.file)).caption if match else ""
