"""The decomposition figure of a study scored along training: on a = 0.5 at k = 10 and 40 (rows),
per grid task (columns), the weights of the closest convex combination of the yardsticks that
expresses the model's predictions (report/decompose.py) against the training step, the residual
it leaves, and the share of prompts whose prediction is nearer the line fit than the sinusoid
fit (dotted; the Bayes predictor's share as a grey line): mean over seeds, the seeds' range as a
band."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from icl_ood.figures import style
from icl_ood.figures.along import along_rows, pick, report_ks
from icl_ood.figures.plugins import figure

TEST = "a=0.5"  # the mixture the decomposition is shown for (report/decompose.py too)
NAMES = {"bayes_mixture": "Bayes, pretraining prior", "task_bayes": "Bayes, task prior",
         "least_squares": "line fit (LS)", "sin_ls_known": "sinusoid fit (LS, w known)"}
COLORS = {"bayes_mixture": "tab:red", "task_bayes": "tab:green", "least_squares": "tab:orange",
          "sin_ls_known": "tab:blue"}


def yardsticks(by_step: dict[int, list[dict]]) -> list[str]:
    """The yardsticks the model's rows on TEST decompose it into (their `mix_<name>` fields with
    a value at the last step), in the rows' order."""
    rows = [r for r in by_step[max(by_step)] if r["predictor"] == "model" and r["task"] == TEST]
    return [f[4:] for f in (rows[0] if rows else {}) if f.startswith("mix_")
            and f != "mix_residual" and not f.endswith(("_lower", "_upper"))
            and rows[0][f] is not None]


def weights_along(per: list[dict[int, list[dict]]], task: str, k: int, field: str
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(steps, values SxR) of one row field of the model for the seeds `per` at the steps all
    of them were scored at."""
    steps = sorted(set.intersection(*(set(p) for p in per))) if per else []
    vals = np.array([[pick(p, task, k, step=s, field=field) for p in per] for s in steps])
    return np.asarray(steps), vals.reshape(len(steps), len(per))


@figure("decompose", file="decompose", sweeps=("convex",), needs=("along",), order=106, caption=(
    "what the model turns into on a = 0.5: the weights of the closest convex combination of the "
    "yardsticks along training, the residual, and the share of prompts nearer the line fit"))
def fig_decompose(data, out: Path) -> list[Path]:
    study = data.get("request", {}).get("study")
    rows = {r["name"]: along_rows(r) for r in data["runs"]}
    if not study or all(len(v) < 2 for v in rows.values()):
        return []
    first = next(v for v in rows.values() if v)
    ks = report_ks(first)
    present = yardsticks(first)
    if not present:
        return []
    tasks = study["tasks"]
    fig, axes = plt.subplots(len(ks), len(tasks), figsize=style._size(len(tasks), 4.2,
                                                                      3.0 * len(ks)),
                             squeeze=False, sharex=True, sharey=True)
    series = [(f"mix_{b}", NAMES.get(b, b), COLORS.get(b, "0.4"), "-") for b in present] + [
        ("mix_residual", "residual (normalized)", "black", "--"),
        ("near_least_squares", "share of prompts nearer the line fit", "tab:purple", ":")]
    for j, t in enumerate(tasks):
        per = [rows[n] for n in t["runs"] if rows.get(n)]
        for i, k in enumerate(ks):
            ax = axes[i, j]
            for field, label, color, ls in series:
                x, v = weights_along(per, TEST, k, field)
                if not len(x) or np.isnan(v).all():
                    continue
                ax.plot(x, np.nanmean(v, 1), color=color, ls=ls, lw=1.5, label=label)
                ax.fill_between(x, np.nanmin(v, 1), np.nanmax(v, 1), color=color, alpha=0.12, lw=0)
            b = pick(first, TEST, k, "bayes_mixture", field="near_least_squares")
            if not np.isnan(b):
                ax.axhline(b, color="0.5", lw=1, ls=":", label="Bayes's share nearer the line fit")
            ax.set_xscale("log")
            ax.set_ylim(-0.02, 1.02)
            ax.set_title(f"{t['name']}: {TEST}, k = {k} ({len(per)} seeds)", fontsize=9)
            if j == 0:
                ax.set_ylabel("weight / share")
            if i == len(ks) - 1:
                ax.set_xlabel("training step")
    ncol = 2 if len(tasks) == 1 else 4  # below the panels: the curves stay visible
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="lower center", ncol=ncol, fontsize=6,
               frameon=False)
    style._suptitle(fig, f"{data['request'].get('experiment', '')}: the model's predictions as "
                         "the closest convex combination of the yardsticks along training (mean "
                         "over seeds, band: their range)", y=1.0)
    fig.tight_layout(rect=(0, 0.12 if ncol == 2 else 0.07, 1, 1))
    return style._save(fig, out, "decompose")
