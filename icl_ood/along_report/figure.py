"""The along-training figure: normalized error at k = 10 and 40 vs training step per task, the
step-independent yardsticks as horizontal lines, and the distance to the Bayes predictor; one
line per run (a single run, or the seeds of a study)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from icl_ood import results

FIG_TASKS = (("convex", "a", 0.0, "a = 0 (sinusoid)"), ("convex", "a", 0.5, "a = 0.5 (mixture)"),
             ("convex", "a", 1.0, "a = 1 (linear)"), ("freq", "freq", 0.5, "sinusoid, w = 0.5"),
             ("freq", "freq", 2.0, "sinusoid, w = 2"))
RUN_COLORS = ("black", "tab:gray", "tab:olive", "tab:cyan")
DIST_COLORS = (("tab:purple", "tab:brown"), ("plum", "burlywood"), ("darkviolet", "sienna"),
               ("orchid", "peru"))


def draw(out: str | Path) -> list[Path]:
    """along_training.png|pdf of one along-training folder, from OUT/rows.jsonl."""
    out = Path(out)
    rows = results.read_jsonl(out / "rows.jsonl")
    prov = results.read_json(out / "provenance.json", {})
    steps = sorted({r["step"] for r in rows if r["step"] is not None})
    if not steps:
        return []
    cfg = prov.get("config", {})
    head = (f"{cfg.get('name', '')}: error along training ({prov.get('steps_reached', steps[-1])} "
            f"steps, {prov.get('device', '')}).")
    return draw_runs([("", rows)], head, out)


def draw_runs(runs: list[tuple[str, list[dict]]], head: str, out: Path) -> list[Path]:
    """The figure of several runs' rows ((label, rows) each; the baselines are taken from the
    first run's rows) into out/along_training.png|pdf. Values below figures.FLOOR are drawn as
    triangles at the floor (lines: a note with the value)."""
    import matplotlib.pyplot as plt

    from icl_ood import figures as fg
    rows0 = runs[0][1]
    kmax = max(r["k"] for r in rows0)
    ks = [k for k in (10, 40) if k <= kmax] or [kmax]
    tasks = [t for t in FIG_TASKS if any(r["sweep"] == t[0] and r[t[1]] == t[2] for r in rows0)]
    floor = fg.FLOOR

    def sel(rows, task, k, predictor, metric="error", versus=None):
        sweep, field, value, _ = task
        got = sorted((r for r in rows if r["sweep"] == sweep and r[field] == value and r["k"] == k
                      and r["predictor"] == predictor and r["metric"] == metric
                      and r["versus"] == versus), key=lambda r: r["step"] or 0)
        return tuple(np.array([r[f] for r in got], float)
                     for f in ("step", "normalized", "norm_lower", "norm_upper"))

    def model_line(ax, x, y, lo, hi, color, label):
        ax.plot(x, np.maximum(y, floor), color=color, lw=1.5, label=label)
        ax.fill_between(x, np.maximum(lo, floor), np.maximum(hi, floor), color=color, alpha=0.15,
                        lw=0)
        ok = y >= floor
        ax.plot(x[ok], y[ok], "o", color=color, ms=3.5)
        ax.plot(x[~ok], np.full((~ok).sum(), floor), "v", color=color, ms=6, mec="red")

    def run_label(base, label):
        return f"{base}, {label}" if label else base

    with plt.rc_context(fg.RC):
        n_rows = len(ks) + 1
        fig, axes = plt.subplots(n_rows, len(tasks), figsize=(2.6 * len(tasks), 2.3 * n_rows),
                                 squeeze=False, sharex=True)
        for j, task in enumerate(tasks):
            for i, k in enumerate(ks):
                ax = axes[i, j]
                for r, (label, rows) in enumerate(runs):
                    x, y, lo, hi = sel(rows, task, k, "model")
                    model_line(ax, x, y, lo, hi, RUN_COLORS[r % len(RUN_COLORS)],
                               run_label(fg.look("model")[0], label))
                below = []
                for name in ("bayes_mixture", "task_bayes"):
                    _, by, _, _ = sel(rows0, task, k, name)
                    if by.size:
                        label, color, _, lw = fg.look(name)
                        ax.axhline(max(by[0], floor), color=color, ls="--", lw=lw, label=label)
                        if by[0] < floor:
                            below.append(f"{label}: {by[0]:.1e}")
                if below:
                    ax.text(0.02, 0.1, "below axis (drawn at 1e-4):\n" + "\n".join(below),
                            transform=ax.transAxes, fontsize=5.5, va="bottom")
                if j == 0:
                    ax.set_ylabel(f"normalized error, k = {k}\n(sq. error / E[y²])", fontsize=7)
                if i == 0:
                    ax.set_title(task[3])
            ax = axes[-1, j]
            for r, (label, rows) in enumerate(runs):
                for c, k in enumerate(ks):
                    x, y, lo, hi = sel(rows, task, k, "model", "distance", "bayes_mixture")
                    model_line(ax, x, y, lo, hi, DIST_COLORS[r % len(DIST_COLORS)][c % 2],
                               run_label(f"distance to Bayes, k = {k}", label))
            if j == 0:
                ax.set_ylabel("distance to Bayes\n(mean (model − Bayes)² / E[y²])",
                              fontsize=7)
            ax.set_xlabel("training step")
        for ax in axes.ravel():
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_ylim(bottom=floor / 2)
            ax.axhline(floor, color="0.6", lw=0.6)
        fg._legend(fig, axes)
        fig.suptitle(
            f"{head} a: weight in f = a·linear + (1 − a)·sinusoid; "
            "w: sinusoid angular frequency (pretraining w = 1); k: in-context examples.\n"
            "Errors and distances are divided by the task's E[y²] (predicting 0 scores 1 in "
            "expectation). Bayes: the Bayes predictor of the pretraining prior; task Bayes: of "
            "the test task's own prior.\n"
            "▼ at 1e-4: value below 1e-4 (drawn at the floor). Bands: 90% bootstrap intervals "
            f"over {rows0[0]['n_prompts']} prompts.", y=1.0)
        fig.tight_layout(rect=(0, 0.04, 1, 1))
        return fg._save(fig, out, "along_training")

