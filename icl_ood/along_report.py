"""report.md and the figure of an along-training folder (icl_ood.along_training): the model's
normalized error at k = 10 and 40 on a = 0.5, a = 0 and w = 2 and its distance to the Bayes
predictor of its pretraining prior, per evaluated step, and when (if ever) the mixture error
crosses that Bayes predictor's; along_training.png|pdf (draw); every number from OUT/rows.jsonl
(errors divided by the task's E[y^2])."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from icl_ood import results

TASKS = (("a=0.5", "a = 0.5 (mixture)"), ("a=0", "a = 0 (sinusoid)"), ("w=2", "w = 2 (sinusoid)"))
KS = (10, 40)
BAYES = "bayes_mixture"


def pick(rows: list[dict], task: str, k: int, predictor: str = "model", metric: str = "error",
         versus: str | None = None, step: int | None = None) -> float:
    """The normalized value of one row (NaN if absent)."""
    for r in rows:
        if (r["task"], r["k"], r["predictor"], r.get("metric", "error"), r.get("versus"),
                r["step"]) == (task, k, predictor, metric, versus, step):
            return r["normalized"]
    return math.nan


def model_steps(rows: list[dict]) -> list[int]:
    return sorted({r["step"] for r in rows if r["step"] is not None})


def crossing(rows: list[dict], task: str, k: int) -> str:
    """One sentence: where the model's error on `task` at k lies relative to the Bayes predictor
    of its pretraining prior along training, and between which evaluated steps it crosses."""
    bayes = pick(rows, task, k, BAYES)
    errs = [(s, pick(rows, task, k, step=s)) for s in model_steps(rows)]
    errs = [(s, e) for s, e in errs if not math.isnan(e)]
    if not errs or math.isnan(bayes):
        return f"{task}, k = {k}: no model or Bayes rows."
    head = f"{task}, k = {k} (Bayes {bayes:.3g}): "
    first_below = next((s for s, e in errs if e < bayes), None)
    if first_below is None:
        return head + f"above the Bayes predictor at every evaluated step (up to {errs[-1][0]})."
    after = [(s, e) for s, e in errs if s > first_below]
    up = next(((prev, s, e) for (prev, _), (s, e) in zip([(first_below, 0)] + after, after)
               if e >= bayes), None)
    text = head + f"below the Bayes predictor from step {first_below}"
    if up is None:
        return text + f" to the last evaluated step {errs[-1][0]} ({errs[-1][1]:.3g})."
    prev, s, e = up
    return text + (f"; crosses above it between steps {prev} and {s} ({e:.3g} at {s}); "
                   f"{errs[-1][1]:.3g} at the last evaluated step {errs[-1][0]}.")


def write(out: str | Path) -> Path:
    """Writes OUT/report.md from OUT/rows.jsonl and OUT/provenance.json."""
    out = Path(out)
    rows = results.read_jsonl(out / "rows.jsonl")
    prov = json.loads((out / "provenance.json").read_text()) \
        if (out / "provenance.json").exists() else {}
    kmax = max((r["k"] for r in rows), default=0)
    ks = [k for k in KS if k <= kmax] or [kmax]
    tasks = [(t, label) for t, label in TASKS if any(r["task"] == t for r in rows)]
    header = ["step"] + [f"{t} k={k}" for t, _ in tasks for k in ks] + \
        [f"dist. to Bayes a=0.5 k={k}" for k in ks]

    def cells(step, predictor="model"):
        vals = [pick(rows, t, k, predictor, step=step) for t, _ in tasks for k in ks]
        dist = [pick(rows, "a=0.5", k, metric="distance", versus=BAYES, step=step) for k in ks] \
            if predictor == "model" else [math.nan] * len(ks)
        return [f"{v:.3g}" if not math.isnan(v) else "–" for v in vals + dist]

    lines = [f"# Error along training: preset `{prov.get('preset', '?')}`", "",
             (f"Command: `{prov.get('command', '?')}` · commit {prov.get('commit', '?')} · device "
             f"{prov.get('device', '?')} ({prov.get('host', '?')}) · {prov.get('steps_reached', '?')} "
             f"steps in {prov.get('elapsed_s', math.nan):.0f} s · status {prov.get('status', '?')}"),
             "", ("Normalized error (squared error / the task's E[y^2]; predicting 0 scores 1) of "
             "the Transformer at each evaluated step on the same prompts, and its distance to "
             "the Bayes predictor of its pretraining prior (mean squared difference of their "
             "predictions, same normalizer):"), "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join([str(s)] + cells(s)) + " |" for s in model_steps(rows)]
    lines += ["| Bayes, pretraining prior | " + " | ".join(cells(None, BAYES)) + " |",
              "| Bayes, task prior | " + " | ".join(cells(None, "task_bayes")) + " |", "",
              "The mixture error against the Bayes predictor of the pretraining prior:", ""]
    lines += [f"- {crossing(rows, 'a=0.5', k)}" for k in ks]
    return results.write_text(out / "report.md", "\n".join(lines) + "\n")


# ------------------------------------------------------------------------------------ figure

FIG_TASKS = (("convex", "a", 0.0, "a = 0 (sinusoid)"), ("convex", "a", 0.5, "a = 0.5 (mixture)"),
             ("convex", "a", 1.0, "a = 1 (linear)"), ("freq", "freq", 0.5, "sinusoid, w = 0.5"),
             ("freq", "freq", 2.0, "sinusoid, w = 2"))


def draw(out: str | Path) -> list[Path]:
    """along_training.png|pdf from OUT/rows.jsonl: normalized error at k = 10 and 40 vs training
    step per task, with the step-independent baselines as horizontal lines, and the distance of
    the model to the Bayes predictor vs step. Values below figures.FLOOR are drawn as triangles
    at the floor (lines: a note with the value)."""
    import matplotlib.pyplot as plt

    from icl_ood import figures as fg
    out = Path(out)
    rows = results.read_jsonl(out / "rows.jsonl")
    steps = sorted({r["step"] for r in rows if r["step"] is not None})
    if not steps:
        return []
    kmax = max(r["k"] for r in rows)
    ks = [k for k in (10, 40) if k <= kmax] or [kmax]
    tasks = [t for t in FIG_TASKS if any(r["sweep"] == t[0] and r[t[1]] == t[2] for r in rows)]
    prov = json.loads((out / "provenance.json").read_text()) \
        if (out / "provenance.json").exists() else {}
    floor = fg.FLOOR

    def sel(task, k, predictor, metric="error", versus=None):
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

    with plt.rc_context(fg.RC):
        n_rows = len(ks) + 1
        fig, axes = plt.subplots(n_rows, len(tasks), figsize=(2.6 * len(tasks), 2.3 * n_rows),
                                 squeeze=False, sharex=True)
        for j, task in enumerate(tasks):
            for i, k in enumerate(ks):
                ax = axes[i, j]
                x, y, lo, hi = sel(task, k, "model")
                model_line(ax, x, y, lo, hi, "black", fg.STYLE["model"][0])
                below = []
                for name in ("bayes_mixture", "task_bayes"):
                    _, by, _, _ = sel(task, k, name)
                    if by.size:
                        label, color, _, lw = fg.STYLE[name]
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
            for c, k in enumerate(ks):
                x, y, lo, hi = sel(task, k, "model", "distance", "bayes_mixture")
                model_line(ax, x, y, lo, hi, ("tab:purple", "tab:brown")[c % 2],
                           f"distance to Bayes, k = {k}")
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
        cfg = prov.get("config", {})
        fig.suptitle(
            f"{cfg.get('name', '')}: error along training ({prov.get('steps_reached', steps[-1])} "
            f"steps, {prov.get('device', '')}). a: weight in f = a·linear + (1 − a)·sinusoid; "
            "w: sinusoid angular frequency (pretraining w = 1); k: in-context examples.\n"
            "Errors and distances are divided by the task's E[y²] (predicting 0 scores 1 in "
            "expectation). Bayes: the Bayes predictor of the pretraining prior; task Bayes: of "
            "the test task's own prior.\n"
            "▼ at 1e-4: value below 1e-4 (drawn at the floor). Bands: 90% bootstrap intervals "
            f"over {rows[0]['n_prompts']} prompts.", y=1.0)
        fig.tight_layout(rect=(0, 0.04, 1, 1))
        return fg._save(fig, out, "along_training")
