"""The crossing figure of a study scored along training: per mixture a (columns) and k (rows),
the paired difference model minus Bayes of the pretraining prior (normalized, same prompts)
against the training step, one colour per grid task, each seed a thin line (its 90% interval a
band) and the mean over seeds thick: below 0 the model beats Bayes on the mixture, above it
loses to it (report/crossing.py decides the crossing from these intervals)."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np

from icl_ood.figures import style
from icl_ood.figures.along import along_rows, gaps, report_ks
from icl_ood.figures.plugins import figure

TESTS = ("a=0.3", "a=0.5", "a=0.7")


@figure("crossing", file="crossing", sweeps=("convex",), needs=("along",), order=105, caption=(
    "the paired difference model minus Bayes of the pretraining prior along training, per "
    "mixture a and k: one colour per grid task, seeds thin (90% bands), their mean thick"))
def fig_crossing(data, out: Path) -> list[Path]:
    study = data.get("request", {}).get("study")
    runs = {r["name"]: (r, along_rows(r)) for r in data["runs"]}
    if not study or sum(len(rows) > 1 for _, rows in runs.values()) < 1:
        return []
    first = next(rows for _, rows in runs.values() if rows)
    ks = report_ks(first)
    tests = [t for t in TESTS if any(r["task"] == t for rows in first.values() for r in rows)]
    fig, axes = plt.subplots(len(ks), len(tests), figsize=style._size(len(tests), 4.2, 3.0 * len(ks)),
                             squeeze=False, sharex=True)
    for c, task in enumerate(study["tasks"]):
        color = f"C{c}"
        for i, k in enumerate(ks):
            for j, test in enumerate(tests):
                ax, curves = axes[i, j], []
                for n in task["runs"]:
                    g = np.asarray(gaps(runs[n][1], test, k)) if n in runs else np.empty((0, 4))
                    if len(g):
                        ax.plot(g[:, 0], g[:, 1], color=color, lw=0.7, alpha=0.6)
                        ax.fill_between(g[:, 0], g[:, 2], g[:, 3], color=color, alpha=0.08, lw=0)
                        curves.append(g)
                steps = set.intersection(*(set(g[:, 0]) for g in curves)) if curves else set()
                if steps:
                    x = np.array(sorted(steps))
                    y = np.mean([[v for s, v in zip(g[:, 0], g[:, 1]) if s in steps]
                                 for g in curves], 0)
                    ax.plot(x, y, color=color, lw=2.0,
                            label=f"{task['name']} (mean of {len(curves)} seeds)")
    for i, k in enumerate(ks):
        for j, test in enumerate(tests):
            ax = axes[i, j]
            ax.axhline(0.0, color="0.3", ls="--", lw=1)
            ax.set_xscale("log")
            ax.set_yscale("symlog", linthresh=0.01)
            ax.set_title(f"{test}, k = {k}", fontsize=9)
            if j == 0:
                ax.set_ylabel("model − Bayes, pretraining prior\n(normalized sq. error, paired)")
            if i == len(ks) - 1:
                ax.set_xlabel("training step")
    axes[0, 0].legend(fontsize=7)
    style._suptitle(fig, f"{data['request'].get('experiment', '')}: the mixture error minus "
                         "that of the Bayes predictor of the pretraining prior along training "
                         "(below 0: the model beats it; symlog, linear within ±0.01)", y=1.0)
    fig.tight_layout()
    return style._save(fig, out, "crossing")


@figure("crossing_compute", file="crossing_compute", sweeps=("convex",), needs=("along",),
        order=107, caption=(
            "the step at which a = 0.5 crosses Bayes of the pretraining prior, per grid task and "
            "seed, in training steps, examples seen and model FLOPs; open triangles: not "
            "crossed within the steps scored (drawn at the last step)"))
def fig_crossing_compute(data, out: Path) -> list[Path]:
    from icl_ood.report.crossing import UNITS, per_step
    from icl_ood.report.study import crossing_points
    study = data.get("request", {}).get("study")
    runs = {r["name"]: r for r in data["runs"]}
    if not study or not any(len(along_rows(r)) > 1 for r in runs.values()):
        return []
    ks = report_ks(along_rows(next(r for r in runs.values() if along_rows(r))))
    keys = list(study["grid"])
    numeric = len(keys) == 1 and all(isinstance(t["grid"][keys[0]], (int, float))
                                     for t in study["tasks"])
    xs = [t["grid"][keys[0]] if numeric else i for i, t in enumerate(study["tasks"])]
    fig, axes = plt.subplots(1, len(UNITS), figsize=style._size(len(UNITS), 3.6, 3.2),
                             squeeze=False)
    for ki, (k, marker) in enumerate(zip(ks, ("o", "s"), strict=False)):
        pts = crossing_points(data, "a=0.5", k)
        for t, x in zip(study["tasks"], xs, strict=True):
            u = per_step(runs[t["runs"][0]]["config"])
            for si, c in enumerate(pts[t["name"]]):
                off = si - 1.5 + 6 * ki  # seeds and ks side by side
                dx = x * (1 + 0.04 * off) if numeric else x + 0.06 * off
                for ax, unit in zip(axes[0], UNITS, strict=True):
                    if c.kind == "crossed":
                        y = c.step * u[unit]
                        ax.errorbar([dx], [y], yerr=[[y - c.below * u[unit]],
                                                     [c.above * u[unit] - y]],
                                    fmt=marker, color=f"C{ki}", ms=4, lw=0.8)
                    elif c.last:
                        ax.plot([dx], [c.last * u[unit]], "^", mfc="none", color=f"C{ki}", ms=5)
        axes[0, 0].plot([], [], marker, color=f"C{ki}", label=f"k = {k}: crossed (bracket)")
        axes[0, 0].plot([], [], "^", mfc="none", color=f"C{ki}",
                        label=f"k = {k}: not crossed within (last step)")
    for ax, unit in zip(axes[0], UNITS, strict=True):
        ax.set_yscale("log")
        ax.set_ylabel(f"crossing, {unit}")
        if numeric:
            ax.set_xscale("log")
            ax.set_xticks(sorted(set(xs)), [f"{v:g}" for v in sorted(set(xs))])
            ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
            ax.set_xlabel(keys[0])
        else:
            ax.set_xticks(range(len(xs)), [t["name"] for t in study["tasks"]], rotation=30,
                          fontsize=7)
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="lower center", ncol=4, fontsize=6,
               frameon=False)
    style._suptitle(fig, f"{data['request'].get('experiment', '')}: when a = 0.5 crosses the "
                         "Bayes predictor of the pretraining prior (paired 90% rule), per seed",
                    y=1.0)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return style._save(fig, out, "crossing_compute")
