"""The task-diversity section (runs pretrained on task pools; figures.pool.pool_summary): per pool
size M the error at the last step on the continuous prior and on the pool next to dMMSE and the
continuous prior's Bayes predictor, where between the two it lies, and the transient (the step
of the lowest out-of-distribution error and how far it rose after)."""

from __future__ import annotations

import itertools
import math

import numpy as np

from icl_ood.figures.pool import by_m, pool_summary
from icl_ood.report import plugins

NEAR = 0.02  # dMMSE and ridge closer than this (normalized): no position between them


def _seeds(vals: list[float]) -> str:
    v = np.asarray(vals, float)
    return f"{v.mean():.3f}" + (f" [{v.min():.3f}, {v.max():.3f}]" if len(v) > 1 else "")


def half_way(positions: dict[float, float]) -> str:
    """Where the mean position (1: dMMSE, 0: ridge) first falls to 0.5 or below, going up in
    M: between which pool sizes, and M there by interpolation in log2 M (one sentence)."""
    ms = sorted(m for m in positions if math.isfinite(m))
    if not ms:
        return "no finite pool size to place the half-way point"
    if positions[ms[0]] <= 0.5:
        return f"already half-way to ridge at the smallest pool size, M = {ms[0]:g}"
    for lo, hi in itertools.pairwise(ms):
        p_lo, p_hi = positions[lo], positions[hi]
        if p_hi <= 0.5:
            t = (p_lo - 0.5) / (p_lo - p_hi)
            m = 2 ** (math.log2(lo) + t * (math.log2(hi) - math.log2(lo)))
            return (f"half-way from dMMSE to ridge (mean position 0.5) between M = {lo:g} "
                    f"({p_lo:.2f}) and M = {hi:g} ({p_hi:.2f}): M ≈ {m:.0f} by interpolation "
                    "in log2 M")
    return f"not half-way to ridge at any pool size up to M = {ms[-1]:g}"


@plugins.section("task_diversity", sweeps=("k",), scope="data", order=10)
def section(data: dict) -> list[str]:
    """Markdown lines ([] if no run was pretrained on a pool)."""
    summary = pool_summary(data)
    if not summary:
        return []
    groups = by_m(summary)
    last = summary[0]["steps"][-1]
    lines = ["## Task diversity", "",
             ("Normalized error (squared error / E[y^2]) averaged over the k = 0..K-1 positions of "
             f"a prompt, at step {last}; the Transformer's mean over seeds [min, max]. Position: "
             "(Transformer - ridge) / (dMMSE - ridge) out of distribution, 0 at the continuous "
             "prior's Bayes predictor (ridge), 1 at dMMSE (where the two differ by more than "
             f"{NEAR}). Lowest: the scored step with the lowest out-of-distribution error (per "
             "seed) and its error; rise: the last step's error minus the lowest."), "",
             ("| M | continuous prior: Transformer | dMMSE | ridge | position | its pool: "
             "Transformer | dMMSE | ridge | lowest at step (error) | rise |"),
             "|---|---|---|---|---|---|---|---|---|---|"]
    positions = {}
    for m in sorted(groups):
        runs = groups[m]
        ood = [r["ood"][last]["model"] for r in runs]
        r0 = runs[0]
        dm, rg = r0.get("ood_dmmse"), r0.get("ood_ridge")
        pos = "–"
        if dm is not None and rg is not None and abs(dm - rg) >= NEAR:
            rel = [(v - rg) / (dm - rg) for v in ood]
            pos, positions[m] = _seeds(rel), float(np.mean(rel))
        low = []
        rise = []
        for r in runs:
            s_min = min(r["steps"], key=lambda s: r["ood"][s]["model"])
            low.append(f"{s_min} ({r['ood'][s_min]['model']:.3f})")
            rise.append(r["ood"][last]["model"] - r["ood"][s_min]["model"])
        idm = [r["id"][last]["model"] for r in runs] if "id" in r0 else None

        def fmt(v):
            return "–" if v is None else f"{v:.3f}"
        lines.append(
            f"| {'∞' if m == math.inf else f'{m:g}'} | {_seeds(ood)} | {fmt(dm)} | {fmt(rg)} | "
            f"{pos} | {'–' if idm is None else _seeds(idm)} | {fmt(r0.get('id_dmmse'))} | "
            f"{fmt(r0.get('id_ridge'))} | {', '.join(low)} | {_seeds(rise)} |")
    return lines + ["", f"At step {last}, {half_way(positions)}.", ""]
