"""Error along training (runs scored at several checkpoints: run["along"] from results.load):
`fig_along_training`, every run's normalized error at k = 10 and 40 against the training step
per task and its distance to the Bayes predictor of the pretraining prior, the step-independent
Bayes predictors as horizontal lines; `fig_along_sizes`, one column per model size when the
runs differ in size. Rows they read: the convex and frequency sweeps' "model" rows per step
(normalized error, dist_bayes_mixture, with intervals) and the "bayes_mixture" and "task_bayes"
rows."""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from icl_ood.figures import style
from icl_ood.figures.plugins import figure
from icl_ood.figures.style import FLOOR, look

SWEEPS = ("convex", "freq")
BAYES = "bayes_mixture"
FIG_TASKS = (("convex", "a", 0.0, "a = 0 (sinusoid)"), ("convex", "a", 0.5, "a = 0.5 (mixture)"),
             ("convex", "a", 1.0, "a = 1 (linear)"), ("freq", "freq", 0.5, "sinusoid, w = 0.5"),
             ("freq", "freq", 2.0, "sinusoid, w = 2"))
SIZE_PANELS = (("a=0.5", 10, "error"), ("a=0.5", 40, "error"), ("a=0", 40, "error"),
               ("a=0.5", 40, "distance"))  # (task, k, metric): the rows of fig_along_sizes
RUN_COLORS = ("black", "tab:gray", "tab:olive", "tab:cyan")
DIST_COLORS = (("tab:purple", "tab:brown"), ("plum", "burlywood"), ("darkviolet", "sienna"),
               ("orchid", "peru"))
GAP = ("gap_bayes_mixture", "gap_bayes_mixture_lower", "gap_bayes_mixture_upper")
DIST = {"normalized": f"dist_{BAYES}", "norm_lower": f"dist_{BAYES}_lower",
        "norm_upper": f"dist_{BAYES}_upper"}


def along_rows(run: dict) -> dict[int, list[dict]]:
    """{step: rows of the convex and frequency sweeps at that step} of a run scored along
    training (empty if it was not)."""
    by_step: dict[int, list[dict]] = {}
    for sweep in SWEEPS:
        for step, rows in run.get("along", {}).get(sweep, {}).items():
            by_step.setdefault(step, []).extend(rows)
    return dict(sorted(by_step.items()))


def gaps(by_step: dict[int, list[dict]], task: str, k: int) -> list[tuple[int, float, float, float]]:
    """(step, gap, lower, upper) of the model's paired difference to Bayes on `task` at k."""
    out = []
    for step in sorted(by_step):
        for r in by_step[step]:
            if (r["task"], r["k"], r["predictor"]) == (task, k, "model") and \
                    r.get(GAP[0]) is not None:
                out.append((step, r[GAP[0]], r[GAP[1]], r[GAP[2]]))
                break
    return out


def pick(by_step: dict[int, list[dict]], task: str, k: int, predictor: str = "model",
         step: int | None = None, field: str = "normalized") -> float:
    """One value: the model's at `step`, or a yardstick's (any step: they do not depend on
    training); `field` dist_bayes_mixture for the distance. NaN if absent."""
    for s, rows in by_step.items():
        if step is not None and s != step:
            continue
        for r in rows:
            if (r["task"], r["k"], r["predictor"]) == (task, k, predictor) and \
                    r.get(field) is not None:
                return r[field]
    return np.nan


def report_ks(by_step: dict[int, list[dict]]) -> list[int]:
    """k = 10 and 40 where the prompts are that long, else the largest k."""
    kmax = max((r["k"] for rows in by_step.values() for r in rows), default=0)
    return [k for k in (10, 40) if k <= kmax] or [kmax]


def _series(by_step, sel, k: int, predictor: str, fields: dict[str, str]) -> tuple:
    sweep, field, value, _ = sel
    x, vals = [], []
    for step, rows in by_step.items():
        got = [r for r in rows if r["sweep"] == sweep and r.get(field) == value and r["k"] == k
               and r["predictor"] == predictor and r.get(fields["normalized"]) is not None]
        if got:
            x.append(step)
            vals.append([got[0][fields[f]] for f in ("normalized", "norm_lower", "norm_upper")])
    v = np.array(vals, float).reshape(-1, 3)
    return np.array(x, float), v[:, 0], v[:, 1], v[:, 2]


def _model_line(ax, x, y, lo, hi, color, label) -> None:
    """A run's values against steps, those below FLOOR as red-edged triangles at it."""
    ax.plot(x, np.maximum(y, FLOOR), color=color, lw=1.5, label=label)
    ax.fill_between(x, np.maximum(lo, FLOOR), np.maximum(hi, FLOOR), color=color, alpha=0.15,
                    lw=0)
    ok = y >= FLOOR
    ax.plot(x[ok], y[ok], "o", color=color, ms=3.5)
    ax.plot(x[~ok], np.full((~ok).sum(), FLOOR), "v", color=color, ms=6, mec="red")


def _runs(data: dict) -> list[tuple[dict, dict[int, list[dict]]]]:
    return [(run, rows) for run in data["runs"] if (rows := along_rows(run))]


@figure("along_training", sweeps=SWEEPS, needs=("along",), order=100, caption=(
    "the normalized error of every run at k = 10 and 40 against training steps (log axes) on "
    "a = 0, 0.5, 1 and w = 0.5, 2, the Bayes predictors as horizontal lines, and each run's "
    "distance to the Bayes predictor of its pretraining prior."))
def fig_along_training(data, out: Path) -> list[Path]:
    """along_training: per task (columns) the error at k = 10 and 40 and the distance to the
    Bayes predictor of the pretraining prior (rows) against training steps, every run a line."""
    runs = _runs(data)
    if not runs:
        return []
    first = runs[0][1]
    ks = report_ks(first)
    tasks = [t for t in FIG_TASKS if any(r["sweep"] == t[0] and r.get(t[1]) == t[2]
                                         for rows in first.values() for r in rows)]
    fig, axes = plt.subplots(len(ks) + 1, len(tasks), sharex=True, squeeze=False,
                             figsize=(2.6 * len(tasks), 2.3 * (len(ks) + 1)))
    err = {f: f for f in DIST}
    for j, sel in enumerate(tasks):
        for i, k in enumerate(ks):
            ax = axes[i, j]
            for r, (run, by_step) in enumerate(runs):
                _model_line(ax, *_series(by_step, sel, k, "model", err),
                            RUN_COLORS[r % len(RUN_COLORS)], f"Transformer, {run['label']}")
            below = []
            for name in (BAYES, "task_bayes"):
                _, by, _, _ = _series(first, sel, k, name, err)
                if by.size:
                    label, color, _, lw = look(name)
                    ax.axhline(max(by[0], FLOOR), color=color, ls="--", lw=lw, label=label)
                    if by[0] < FLOOR:
                        below.append(f"{label}: {by[0]:.1e}")
            if below:
                ax.text(0.02, 0.1, "below axis (drawn at 1e-4):\n" + "\n".join(below),
                        transform=ax.transAxes, fontsize=5.5, va="bottom")
            if j == 0:
                ax.set_ylabel(f"normalized error, k = {k}\n(sq. error / E[y²])", fontsize=7)
            if i == 0:
                ax.set_title(sel[3])
        ax = axes[-1, j]
        for r, (run, by_step) in enumerate(runs):
            for c, k in enumerate(ks):
                _model_line(ax, *_series(by_step, sel, k, "model", DIST),
                            DIST_COLORS[r % len(DIST_COLORS)][c % 2],
                            f"distance to Bayes, k = {k}, {run['label']}")
        if j == 0:
            ax.set_ylabel("distance to Bayes\n(mean (model − Bayes)² / E[y²])", fontsize=7)
        ax.set_xlabel("training step")
    for ax in axes.ravel():
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_ylim(bottom=FLOOR / 2)
        ax.axhline(FLOOR, color="0.6", lw=0.6)
    style._legend(fig, axes)
    n_prompts = next(r["n_prompts"] for rows in first.values() for r in rows)
    fig.suptitle(
        f"{data['experiment']['name']}: error along training ("
        f"{', '.join(str(max(b)) for _, b in runs)} steps). a: weight in f = a·linear + "
        "(1 − a)·sinusoid; w: sinusoid angular frequency (pretraining w = 1); k: in-context "
        "examples.\nErrors and distances are divided by the task's E[y²] (predicting 0 scores "
        "1 in expectation). Bayes: the Bayes predictor of the pretraining prior; task Bayes: of "
        "the test task's own prior.\n▼ at 1e-4: value below 1e-4 (drawn at the floor). Bands: "
        f"90% bootstrap intervals over {n_prompts} prompts.", y=1.0)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return style._save(fig, out, "along_training")


def size_title(config: dict) -> str:
    """A model size and how it was trained, e.g. '2 layers, d_model 32, float32, lr 0.001'."""
    m, t = config["model"], config["train"]
    return (f"{m['n_layers']} layers, d_model {m['d_model']}, {m.get('dtype', 'float32')}, "
            f"lr {t['lr']:g}")


@figure("along_sizes", sweeps=SWEEPS, needs=("along",), order=110, caption=(
    "one column per model size: the a = 0.5 error at k = 10 and 40, the a = 0 error at k = 40 "
    "and the mixture's distance to Bayes against training steps, each run a line."))
def fig_along_sizes(data, out: Path) -> list[Path]:
    """along_sizes (runs of more than one model size): one column per size, rows SIZE_PANELS
    (the mixture and in-distribution errors and the mixture's distance to Bayes against the
    training step), each run a line, the Bayes predictor of the pretraining prior dashed."""
    sizes: dict[str, list] = {}
    for run, by_step in _runs(data):
        sizes.setdefault(size_title(run["config"]), []).append((run, by_step))
    if len(sizes) < 2:
        return []
    fig, axes = plt.subplots(len(SIZE_PANELS), len(sizes), squeeze=False, sharex=True,
                             sharey="row", figsize=(3.0 * len(sizes) + 0.6, 2.0 * len(SIZE_PANELS)))
    for j, (title, runs) in enumerate(sizes.items()):
        for i, (task, k, metric) in enumerate(SIZE_PANELS):
            ax = axes[i, j]
            field = DIST["normalized"] if metric == "distance" else "normalized"
            for r, (run, by_step) in enumerate(runs):
                x = np.array(list(by_step), float)
                y = np.array([pick(by_step, task, k, step=int(s), field=field) for s in x])
                ax.plot(x, np.maximum(y, FLOOR), "o-", color=RUN_COLORS[r % len(RUN_COLORS)],
                        lw=1.4, ms=3, label=f"Transformer, {run['label']}")
            bayes = pick(runs[0][1], task, k, BAYES)
            if metric == "error" and not np.isnan(bayes):
                lab, color, _, lw = look(BAYES)
                ax.axhline(max(bayes, FLOOR), color=color, ls="--", lw=lw, label=lab)
            if i == 0:
                ax.set_title(textwrap.fill(title, 42))
            if j == 0:
                what = ("distance to Bayes\n(mean (model − Bayes)² / E[y²])"
                        if metric == "distance" else "normalized error\n(sq. error / E[y²])")
                ax.set_ylabel(f"{task.replace('=', ' = ')}, k = {k}\n{what}", fontsize=7)
            if i == len(SIZE_PANELS) - 1:
                ax.set_xlabel("training step")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_ylim(bottom=FLOOR / 2)
    style._legend(fig, axes)
    fig.suptitle(textwrap.fill(
        "Error along training, by model size. a: weight in f = a·linear + (1 − a)·sinusoid "
        "(a = 0.5: the mixture, never seen in pretraining; a = 0: in distribution); k: "
        "in-context examples. Errors and distances divided by the task's E[y²]; Bayes: the "
        "Bayes predictor of the pretraining prior.", 50 * len(sizes)), y=1.0)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return style._save(fig, out, "along_sizes")


__all__ = ["FIG_TASKS", "along_rows", "fig_along_sizes", "fig_along_training", "pick",
           "report_ks", "size_title"]
