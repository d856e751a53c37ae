"""The by-size figure of along-training runs (`scripts/along_training.py --compare`): one column
per model size, its runs (e.g. seeds) as lines."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np

from icl_ood.along_report import BAYES, model_steps, pick
from icl_ood.along_report.figure import RUN_COLORS

SIZE_PANELS = (("a=0.5", 10, "error"), ("a=0.5", 40, "error"), ("a=0", 40, "error"),
               ("a=0.5", 40, "distance"))  # (task, k, metric): the rows of draw_sizes


def draw_sizes(sizes: list[tuple[str, list[tuple[str, list[dict]]]]], head: str, out: Path,
               name: str = "along_sizes") -> list[Path]:
    """One column per model size ((title, [(run label, rows)]) each, e.g. its seeds), rows
    SIZE_PANELS: the mixture and in-distribution errors and the mixture's distance to Bayes
    against training step, each run a line, the Bayes predictor of the pretraining prior dashed;
    into out/NAME.png|pdf."""
    import matplotlib.pyplot as plt

    from icl_ood import figures as fg
    floor = fg.FLOOR
    with plt.rc_context(fg.RC):
        fig, axes = plt.subplots(len(SIZE_PANELS), len(sizes), squeeze=False, sharex=True,
                                 sharey="row", figsize=(3.0 * len(sizes) + 0.6, 2.0 * len(SIZE_PANELS)))
        for j, (title, runs) in enumerate(sizes):
            for i, (task, k, metric) in enumerate(SIZE_PANELS):
                ax = axes[i, j]
                for r, (label, rows) in enumerate(runs):
                    versus = BAYES if metric == "distance" else None
                    x = np.array(model_steps(rows), float)
                    y = np.array([pick(rows, task, k, metric=metric, versus=versus, step=int(s))
                                  for s in x])
                    ax.plot(x, np.maximum(y, floor), "o-", color=RUN_COLORS[r % len(RUN_COLORS)],
                            lw=1.4, ms=3, label=f"Transformer, {label}")
                bayes = pick(runs[0][1], task, k, BAYES)
                if metric == "error" and not np.isnan(bayes):
                    lab, color, _, lw = fg.look(BAYES)
                    ax.axhline(max(bayes, floor), color=color, ls="--", lw=lw, label=lab)
                    if bayes < floor:
                        ax.text(0.02, 0.06, f"{lab}: {bayes:.1e} (below axis)",
                                transform=ax.transAxes, fontsize=5.5)
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
                ax.set_ylim(bottom=floor / 2)
        fg._legend(fig, axes)
        fig.suptitle(textwrap.fill(
            f"{head} a: weight in f = a·linear + (1 − a)·sinusoid (a = 0.5: the mixture, never "
            "seen in pretraining; a = 0: in distribution); k: in-context examples. Errors and "
            "distances divided by the task's E[y²]; Bayes: the Bayes predictor of the "
            "pretraining prior.", 50 * len(sizes)), y=1.0)
        fig.tight_layout(rect=(0, 0.04, 1, 1))
        return fg._save(fig, out, name)
