"""The figure of a sweep that no registered figure draws (a user's sweep, or `shifts`):
sweep_<name>, the normalized error at k = 5, 20 and the largest k (rows) of every run (columns)
against the sweep's axis (`Sweep.axis`, saved with its evaluation: a row field such as "a"),
or, for a sweep without one, against its tasks; every predictor it was evaluated with."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from icl_ood.figures import plugins, style
from icl_ood.figures.style import (
    FLOOR,
    FLOOR_LABEL,
    _fixed_ks,
    _legend,
    _line,
    _size,
    _suptitle,
    _title,
    at_k,
    look,
)


def unclaimed(data: dict) -> list[str]:
    """The sweeps `data` has rows of that no registered figure names, sorted."""
    have = {s for run in data["runs"] for s, rows in run["rows"].items() if rows}
    return sorted(have - plugins.claimed())


def axis_of(data: dict, sweep: str) -> str | None:
    """The sweep's axis as its evaluation saved it (None: none saved, or a list of tasks)."""
    return next((ax for run in data["runs"]
                 if (ax := (run.get("sweeps") or {}).get(sweep, {}).get("axis"))), None)


def _tasks(ax, rows: list[dict], preds: list[str], k: int, tasks: list[str]) -> None:
    """Each predictor's error at k on each task: a point and its interval, side by side."""
    width = min(0.8 / len(preds), 0.15)
    for n, p in enumerate(preds):
        by = {r["task"]: r for r in rows if r["predictor"] == p and r["k"] == k}
        idx = [i for i, t in enumerate(tasks) if t in by]
        if not idx:
            continue
        y, lo, hi = (np.maximum([by[tasks[i]][f] if by[tasks[i]].get(f) is not None
                                 else by[tasks[i]]["normalized"] for i in idx], FLOOR)
                     for f in ("normalized", "norm_lower", "norm_upper"))
        name, color, _, _ = look(p)
        x = np.array(idx) + (n - (len(preds) - 1) / 2) * width
        ax.errorbar(x, y, yerr=[np.clip(y - lo, 0, None), np.clip(hi - y, 0, None)], fmt="o",
                    ms=2.5, color=color, elinewidth=0.8, label=name)
        below = y <= FLOOR
        if below.any():  # so a point on the floor is not read as a value of 1e-4
            ax.plot(x[below], y[below], ls="none", marker="v", ms=3.5, color=color, zorder=5,
                    clip_on=False, label=FLOOR_LABEL)
    ax.set_xticks(range(len(tasks)), tasks, rotation=90)


def fig_sweep(data: dict, out: Path, sweep: str) -> list[Path]:
    """sweep_<sweep>: error at fixed k against the sweep's axis (or its tasks), per run."""
    runs = [r for r in data["runs"] if r["rows"].get(sweep)]
    if not runs:
        return []
    axis = axis_of(data, sweep)
    rows_of = {r["name"]: [x for x in r["rows"][sweep] if axis is None or x.get(axis) is not None]
               for r in runs}
    preds = list(dict.fromkeys(x["predictor"] for rows in rows_of.values() for x in rows))
    tasks = list(dict.fromkeys(x["task"] for rows in rows_of.values() for x in rows))
    ks = _fixed_ks(runs[0])
    panel_w = 2.2 if axis else max(2.2, 0.2 * len(tasks) + 0.6)
    fig, axes = plt.subplots(len(ks), len(runs), sharex=True, sharey=True, squeeze=False,
                             figsize=_size(len(runs), panel_w, 1.5 * len(ks) + 0.4 + (
                                 0 if axis else 0.06 * max(map(len, tasks)))))
    for j, run in enumerate(runs):
        for i, k in enumerate(ks):
            ax = axes[i, j]
            if axis:
                for p in preds:
                    x, y, lo, hi = at_k(rows_of[run["name"]], p, k, axis)
                    if x.size:
                        _line(ax, x, y, lo, hi, p)
            else:
                _tasks(ax, rows_of[run["name"]], preds, k, tasks)
            ax.set_yscale("log")
            ax.set_ylim(bottom=FLOOR)
            if i == 0:
                _title(ax, run["label"])
            if j == 0:
                ax.set_ylabel(f"k = {k}\nnormalized sq. error")
            if i == len(ks) - 1 and axis:
                ax.set_xlabel(axis)
    doc = next(((run.get("sweeps") or {}).get(sweep, {}).get("doc") for run in runs), None)
    _legend(fig, axes)
    _suptitle(fig, f"Sweep {sweep}: error at fixed k " + (f"vs {axis}" if axis else
                                                          "on each of its tasks")
              + (f" ({doc.rstrip('.')})" if doc else "")
              + f" ({'bands' if axis else 'bars'}: 90% bootstrap intervals)",
              y=1.0)
    fig.tight_layout()
    return style._save(fig, out, f"sweep_{sweep}")


@plugins.figure("sweeps", file="sweep_", needs=(), order=1000, caption=(
    "a sweep no figure of its own draws: the normalized error at k = 5, 20 and the largest k "
    "against the sweep's axis (or on each of its tasks), for every predictor it was evaluated "
    "with."))
def fig_sweeps(data: dict, out: Path) -> list[Path]:
    """sweep_<name> for each sweep of `data` that no registered figure draws (`unclaimed`)."""
    return [p for sweep in unclaimed(data) for p in fig_sweep(data, out, sweep)]
