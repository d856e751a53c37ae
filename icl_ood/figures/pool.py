"""Task diversity (runs pretrained on finite task pools, data.task_pool = M; 0: the continuous
prior): `pool_summary`, per run its k-sweep errors at every scored step on its pool (in
distribution) and on the continuous prior (out of distribution) with the dMMSE and continuous-
prior Bayes yardsticks; `fig_task_diversity` draws them. Errors are normalized squared errors
(squared error / E[y^2]) averaged over k = 0..K-1, the positions of a prompt, as the papers'
loss averages over positions. Rows read: the k sweep's "model", "dmmse", "bayes_continuous" and
(pool-free runs) "bayes_mixture" rows, final and along training."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from icl_ood import results
from icl_ood.figures import style
from icl_ood.figures.plugins import figure

RIDGE = ("bayes_continuous", "bayes_mixture")  # the continuous prior's Bayes predictor


def _mean_over_k(rows: list[dict], task: str, predictors: tuple[str, ...]) -> float | None:
    """Mean over k of the first of `predictors` with rows on `task` (None: none)."""
    for p in predictors:
        vals = [r["normalized"] for r in rows if r["task"] == task and r["predictor"] == p
                and r.get("normalized") is not None]
        if vals:
            return float(np.mean(vals))
    return None


def pool_summary(data: dict) -> list[dict]:
    """One dict per run of a task-diversity folder ([] if no run has a pool): M (inf: no pool),
    seed, and {"ood"|"id": {step: {model, dmmse, ridge}}} (mean normalized error over k)."""
    runs = [r for r in data["runs"] if r["rows"].get("k")]
    if not any(r["config"]["data"].get("task_pool") for r in runs):
        return []
    out = []
    for run in runs:
        d = run["config"]["data"]
        fam = d["families"][0]
        m = d.get("task_pool") or math.inf
        by_step = dict(results.load_run(run["dir"])["runs"][0].get("along", {}).get("k", {}))
        by_step[run["step"]] = run["rows"]["k"]
        yard = run["rows"]["k"]  # the yardsticks do not depend on the step
        rec = {"run": run["name"], "m": m, "seed": run["config"]["train"]["seed"],
               "steps": sorted(by_step)}
        for what, task in (("ood", fam), ("id", f"{fam}, its pool")):
            if m == math.inf and what == "id":
                continue
            rec[what] = {s: {"model": _mean_over_k(rows, task, ("model",))}
                         for s, rows in sorted(by_step.items())}
            rec[what + "_dmmse"] = _mean_over_k(yard, task, ("dmmse",))
            rec[what + "_ridge"] = _mean_over_k(yard, task, RIDGE)
        out.append(rec)
    return sorted(out, key=lambda r: (r["m"], r["seed"]))


def by_m(summary: list[dict]) -> dict[float, list[dict]]:
    groups: dict[float, list[dict]] = {}
    for r in summary:
        groups.setdefault(r["m"], []).append(r)
    return groups


@figure("task_diversity", sweeps=("k",), order=120, caption=(
    "pool size M against the error at the last step on the continuous prior and on the pool "
    "(dMMSE and ridge per M), and the error on the continuous prior along training, one line "
    "per M."))
def fig_task_diversity(data, out: Path) -> list[Path]:
    """task_diversity: (a) out-of-distribution and (b) in-distribution error at the last step vs
    the pool size M, seeds as dots, dMMSE and ridge per M; (c) the out-of-distribution error
    along training, one line per M (mean over seeds), ridge dashed."""
    summary = pool_summary(data)
    if not summary:
        return []
    groups = by_m(summary)
    finite = sorted(m for m in groups if m != math.inf)
    xpos = {m: math.log2(m) for m in finite}
    if math.inf in groups:
        xpos[math.inf] = (max(xpos.values(), default=0) + 2)
    fig, axes = plt.subplots(1, 3, figsize=(12.5, 3.6))
    for ax, what, title in ((axes[0], "ood", "continuous prior (out of distribution)"),
                            (axes[1], "id", "its pool (in distribution)")):
        for key, label, color, ls in (("dmmse", "dMMSE (Bayes, pool prior)", "tab:red", "--"),
                                      ("ridge", "Bayes, continuous prior (ridge)", "tab:blue",
                                       ":")):
            ms = [m for m in groups if groups[m][0].get(f"{what}_{key}") is not None]
            ax.plot([xpos[m] for m in ms], [groups[m][0][f"{what}_{key}"] for m in ms],
                    color=color, ls=ls, marker="s", ms=3, label=label)
        ms = [m for m in sorted(groups, key=xpos.get) if what in groups[m][0]]
        final = {m: [r[what][r["steps"][-1]]["model"] for r in groups[m]] for m in ms}
        for m in ms:
            ax.plot([xpos[m]] * len(final[m]), final[m], "o", color="black", ms=3, alpha=0.6)
        ax.plot([xpos[m] for m in ms], [np.mean(final[m]) for m in ms], color="black", lw=1.6,
                label=f"Transformer (seeds as dots, mean line), step {summary[0]['steps'][-1]}")
        ax.set_xticks([xpos[m] for m in sorted(groups, key=xpos.get)],
                      [f"$2^{{{int(xpos[m])}}}$" if m != math.inf else "∞"
                       for m in sorted(groups, key=xpos.get)])
        ax.set(xlabel="pool size M (tasks per family; ∞: a fresh task per prompt)",
               ylabel="normalized error, mean over k", yscale="log", title=f"on {title}")
    cmap = plt.get_cmap("viridis")
    for i, m in enumerate(sorted(groups, key=xpos.get)):
        runs = groups[m]
        steps = runs[0]["steps"]
        y = np.mean([[r["ood"][s]["model"] for s in steps] for r in runs], 0)
        axes[2].plot(steps, y, color=cmap(i / max(1, len(groups) - 1)), marker="o", ms=2.5,
                     label="M = ∞" if m == math.inf else f"M = {m:g}")
    ridge = next((r["ood_ridge"] for r in summary if r.get("ood_ridge") is not None), None)
    if ridge is not None:
        axes[2].axhline(ridge, color="tab:blue", ls=":", label="Bayes, continuous prior (ridge)")
    axes[2].set(xscale="log", yscale="log", xlabel="training step",
                ylabel="normalized error, mean over k", title="continuous prior, along training")
    for ax in axes:
        ax.legend(fontsize=6)
    fig.suptitle("Task diversity: normalized error (squared error / E[y^2]) averaged over the "
                 "k = 0..K-1 positions of a prompt", fontsize=8)
    fig.tight_layout()
    return style._save(fig, out, "task_diversity")
