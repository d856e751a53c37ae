"""Figures from saved results only (never trains or evaluates): `draw_all(out)` redraws every
figure of a replicate folder into out/figures as PNG and PDF, from what `icl_ood.results.load`
reads (experiment.json and the result files it lists, checked against their manifests), never
from the experiment definitions in the code; it refuses (ResultsError, one line, nothing
drawn) when results are missing or incomplete.

Errors are normalized squared errors (predicting 0 scores 1, Garg et al.); bands are 90%
paired-bootstrap intervals over prompts; k is the number of in-context examples.

The figures are plug-ins (icl_ood.figures.plugins): `draw` calls every registered figure whose
results are there, a user's too, and the generic figure (icl_ood.figures.generic) for each
sweep that none of them draws.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot is imported anywhere in the package
import matplotlib.pyplot as plt

from icl_ood import results
from icl_ood.figures import generic, plugins, style
from icl_ood.figures.along import fig_along_sizes, fig_along_training
from icl_ood.figures.crossing import fig_crossing
from icl_ood.figures.curves import (
    CONVEX_PRED,
    fig_convex,
    fig_error_vs_k,
    fig_examples,
    fig_freq,
    fig_training,
)
from icl_ood.figures.decompose import fig_decompose
from icl_ood.figures.generic import fig_sweep
from icl_ood.figures.plugins import Figure, figure
from icl_ood.figures.pool import fig_task_diversity
from icl_ood.figures.runs import SEED_BAND, default_out, load_runs
from icl_ood.figures.selection import (
    COST_PRED,
    MODEL_PRED,
    SLOPE_KS,
    excess_series,
    fig_cost_along,
    fig_selection,
    fig_selection_cost,
    fig_slope,
)
from icl_ood.figures.style import (
    COLUMN_W,
    FLOOR,
    FLOOR_LABEL,
    LEGACY_STYLE,
    MIN_PT,
    RC,
    TEXT_W,
    _legend,
    _line,
    _save,
    at_k,
    load,
    look,
    pretrained_on,
    saved,
    seed_groups,
    series,
    sin_freq_range,
)

# The underscored helpers are re-exported for the tests, which use them as figures.X; the figures themselves call style.X (patch figures.style.X to change what they do).
__all__ = [
    "COLUMN_W",
    "CONVEX_PRED",
    "COST_PRED",
    "FLOOR",
    "FLOOR_LABEL",
    "LEGACY_STYLE",
    "MIN_PT",
    "MODEL_PRED",
    "RC",
    "SEED_BAND",
    "SLOPE_KS",
    "TEXT_W",
    "Figure",
    "_legend",
    "_line",
    "_save",
    "at_k",
    "draw",
    "draw_all",
    "draw_run",
    "draw_runs",
    "excess_series",
    "fig_along_sizes",
    "fig_along_training",
    "fig_convex",
    "fig_cost_along",
    "fig_error_vs_k",
    "fig_examples",
    "fig_freq",
    "fig_selection",
    "fig_selection_cost",
    "fig_slope",
    "fig_sweep",
    "fig_task_diversity",
    "fig_training",
    "figure",
    "generic",
    "load",
    "load_runs",
    "look",
    "plugins",
    "pretrained_on",
    "saved",
    "seed_groups",
    "series",
    "sin_freq_range",
    "style",
]


def draw_all(out: str | Path, force: bool = False) -> list[Path]:
    """Redraws every figure of a replicate folder from its saved results, then writes
    figures/manifest.json (the result files drawn, with their checksums); returns the paths.

    ResultsError (nothing drawn) if the results are missing or incomplete, or if the figures
    there were drawn from more results or a later checkpoint (unless `force`)."""
    return draw(load(out), Path(out), force)


def draw_run(run_dir: str | Path, force: bool = False, out: str | Path | None = None
             ) -> list[Path]:
    """The figures of a plain run folder (`icl-ood train`, `icl-ood evaluate`) into
    run_dir/figures (or out/figures): training curves and every sweep it has evaluated (latest
    checkpoint, most prompts; `results.load_run`)."""
    return draw_runs([run_dir], out, force)[0]


def draw_runs(run_dirs: list[str | Path], out: str | Path | None = None, force: bool = False
              ) -> tuple[list[Path], Path]:
    """(paths, folder) of the figures of one or more run folders side by side (`load_runs`:
    runs that differ only in seed as their mean, band SEED_BAND) in out/figures (default:
    `default_out`). Reads and checks that out/figures can be written before drawing anything
    (ResultsError, one line)."""
    data = load_runs(run_dirs)
    hint = "" if out is not None else "; give --out DIR to draw elsewhere"
    out = Path(out) if out is not None else default_out(run_dirs)
    results.check_writable(out / "figures", hint)
    return draw(data, out, force), out / "figures"


def draw(data: dict, out: Path, force: bool = False) -> list[Path]:
    """Every figure `data` (from `results.load` or `load_run`) has into out/figures (each
    registered figure whose results it holds, in order: `plugins.registered`), then their
    manifest; refuses to replace figures drawn from more results or a later checkpoint."""
    rank = [len(data["inputs"]), data["step"]]
    results.check_replace(out / "figures", rank, force=force, what="figures")
    paths = []
    with plt.rc_context(RC), saved(data), style.note(data.get("note", "")):
        for fig in plugins.registered():
            if plugins.holds(data, fig):
                paths += fig.draw(data, out / "figures")
    results.write_manifest(out / "figures", "figures", data["inputs"], paths, rank=rank)
    return paths
