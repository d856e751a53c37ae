"""Report sections as plug-ins: each registers its function and what it reads.

`report.write` writes, after the predictors' definitions, every registered section of scope
"data" (`fn(data) -> lines`: e.g. the task-diversity table over all runs), then per run every
section of scope "run" (`fn(run, data) -> lines`), each in `order`, each only where the
results hold what it reads (figures.plugins.holds: `sweeps` and `needs` as for a figure), each
followed by a blank line; a section with nothing to say returns []. A section of your own
registers from a module loaded as a plug-in ($ICL_OOD_PLUGINS or `icl-ood --plugins`):

    from icl_ood.report.plugins import section

    @section("my_sweep", sweeps=("my_sweep",))
    def my_sweep_lines(run, data):  # a run record of results.load
        rows = run["rows"]["my_sweep"]
        return ["My sweep: ...", ""]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from icl_ood.figures.plugins import KINDS
from icl_ood.registry import Registry


@dataclass(frozen=True)
class Section:
    """A registered report section: `write(run, data)` (scope "run") or `write(data)` (scope
    "data") -> markdown lines; `sweeps`, `needs`: what a run (for scope "data": some run) must
    hold for it to be written (see figures.plugins.Figure); `order`: its place among the
    sections of its scope (the built-in ones 10 to 60)."""

    name: str
    write: Callable = field(repr=False)
    sweeps: tuple[str, ...] = ()
    needs: tuple[str, ...] = ("rows",)
    scope: str = "run"
    order: int = 500

    def __post_init__(self):
        if self.scope not in ("run", "data"):
            raise ValueError(f"section {self.name!r}: scope is 'run' or 'data', not "
                             f"{self.scope!r}")
        if set(self.needs) - set(KINDS):
            raise ValueError(f"section {self.name!r}: needs {list(self.needs)}; known: {KINDS}")
        object.__setattr__(self, "sweeps", tuple(self.sweeps))


REGISTRY = Registry("report section", "icl_ood.report")
register = REGISTRY.register


def section(name: str, **kw) -> Callable:
    """Decorator: registers the function as Section(name, fn, **kw); returns it unchanged."""
    def deco(fn: Callable) -> Callable:
        register(Section(name, fn, **kw))
        return fn
    return deco


def registered(scope: str) -> list[Section]:
    """The registered sections of `scope` (plug-ins included), in order."""
    return sorted((s for s in REGISTRY.all().values() if s.scope == scope),
                  key=lambda s: s.order)
