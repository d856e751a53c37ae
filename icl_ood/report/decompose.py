"""What the model turns into along training, in a study's report: at each seed's lowest paired
gap to the Bayes predictor of the pretraining prior (its first minimum on a mixture) and at the
last scored step, the weights of the closest convex combination of the yardsticks that expresses
the model's predictions (evaluate.mixture: `mix_*`), the residual it leaves, and per prompt which
family fit the prediction is nearer (`near_least_squares`) and whether that is the family the
Bayes posterior favours (`near_agrees_bayes`); each the mean over seeds [90% t-interval], a
weight also with the mean half-width of its seeds' 90% intervals over prompts."""

from __future__ import annotations

import math

from icl_ood.figures.along import along_rows, gaps, pick, report_ks
from icl_ood.figures.decompose import NAMES, TEST, yardsticks
from icl_ood.report.seeds import over_seeds


def at_steps(by_step: dict[int, list[dict]], task: str, k: int) -> dict[str, int]:
    """{"minimum": the step of the lowest paired gap (the first such step), "last": the last
    scored step} of one run ({} without gap rows)."""
    g = gaps(by_step, task, k)
    if not g:
        return {}
    return {"minimum": min(g, key=lambda r: (r[1], r[0]))[0], "last": g[-1][0]}


def cell(values: list[float], lower=None, upper=None) -> str:
    """Mean over seeds and its 90% t-interval ("–" if any is missing), and "±h prompts": the
    mean half-width of the seeds' intervals over prompts (`lower`, `upper`), where all have one."""
    if not values or any(v is None or math.isnan(v) for v in values):
        return "–"
    if lower is None or any(v is None or math.isnan(v) for v in [*lower, *upper]):
        return over_seeds(values)
    half = sum(u - lo for lo, u in zip(lower, upper)) / 2 / len(lower)
    return f"{over_seeds(values)} ±{half:.3f}"


def section(data: dict) -> list[str]:
    """The report's lines for a study scored along training (none otherwise)."""
    study = data.get("request", {}).get("study")
    if not study:
        return []
    rows = {r["name"]: along_rows(r) for r in data["runs"]}
    if all(len(v) < 2 for v in rows.values()):
        return []
    first = next(v for v in rows.values() if v)
    present = yardsticks(first)
    if not present:
        return []
    cols = [NAMES.get(b, b) for b in present] + ["residual", "nearer the line fit: model",
                                                 "Bayes", "model agrees with Bayes posterior"]
    lines = [f"## What the model turns into ({TEST})", "",
             ("At each seed's lowest paired gap to the Bayes predictor of the pretraining prior "
             "(its first minimum) and at the last scored step: the weights of the convex "
             "combination of the yardsticks closest to the model's predictions on the same "
             "prompts (least squares on the simplex), the mean squared residual it leaves "
             "(normalized by E[y^2]), the share of prompts whose prediction is nearer the line "
             "fit than the sinusoid fit (the model's, and the Bayes predictor's for comparison), "
             "and the share whose nearer fit is the family the Bayes posterior favours on that "
             "prompt. Cells: mean over seeds [90% t-interval over seeds]; a weight's ±h: the "
             "mean half-width of its seeds' 90% bootstrap intervals over prompts (absent from "
             "rows scored before those intervals were computed)."), "",
             "| task | k | at | steps (per seed) | " + " | ".join(cols) + " |",
             "|---|---|---|---|" + "---|" * len(cols)]
    for t in study["tasks"]:
        per = [rows.get(n, {}) for n in t["runs"]]
        for k in report_ks(first):
            steps = [at_steps(p, TEST, k) for p in per]
            if not all(steps):
                continue
            bayes_near = pick(first, TEST, k, "bayes_mixture", field="near_least_squares")
            for at in ("minimum", "last"):
                ss = [s[at] for s in steps]
                def seeds(f):
                    return [pick(p, TEST, k, step=s, field=f) for p, s in zip(per, ss)]
                cells = [cell(seeds(f"mix_{b}"), seeds(f"mix_{b}_lower"), seeds(f"mix_{b}_upper"))
                         for b in present] + [cell(seeds("mix_residual")),
                                              cell(seeds("near_least_squares"))]
                cells += ["–" if math.isnan(bayes_near) else f"{bayes_near:.3f}",
                          cell(seeds("near_agrees_bayes"))]
                lines.append(f"| {t['name']} | {k} | {at} | {', '.join(map(str, ss))} | "
                             + " | ".join(cells) + " |")
    return lines + [""]

