"""The report's section for a run scored along training (run["along"]): its normalized error at
k = 10 and 40 on a = 0.5, a = 0 and w = 2 and its distance to the Bayes predictor of its
pretraining prior per scored step, and when (if ever) the mixture error crosses that Bayes
predictor's. Rows it reads: the convex and frequency sweeps' "model" rows per step
(normalized, dist_bayes_mixture) and the "bayes_mixture" and "task_bayes" rows."""

from __future__ import annotations

import math

from icl_ood.figures.along import BAYES, SWEEPS, along_rows, pick, report_ks
from icl_ood.figures.crossing import crossing as paired_crossing
from icl_ood.report.plugins import section

TASKS = ("a=0.5", "a=0", "w=2")
TABLE_INTRO = ("Normalized error (squared error / the task's E[y^2]; predicting 0 scores 1) of "
               "the Transformer at each evaluated step on the same prompts, and its distance to "
               "the Bayes predictor of its pretraining prior (mean squared difference of their "
               "predictions, same normalizer):")
CROSSING_INTRO = "The mixture error against the Bayes predictor of the pretraining prior:"


def crossing(by_step: dict[int, list[dict]], task: str, k: int) -> str:
    """One sentence: where the model's error on `task` at k lies relative to the Bayes predictor
    of its pretraining prior along training, and between which evaluated steps it crosses."""
    bayes = pick(by_step, task, k, BAYES)
    errs = [(s, e) for s in by_step if not math.isnan(e := pick(by_step, task, k, step=s))]
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


def table(by_step: dict[int, list[dict]]) -> list[str]:
    """Per evaluated step the model's normalized error on each task at each k and its distance
    to the Bayes predictor at a = 0.5; then the two Bayes predictors' rows."""
    ks = report_ks(by_step)
    tasks = [t for t in TASKS if any(r["task"] == t for rows in by_step.values() for r in rows)]
    header = ["step"] + [f"{t} k={k}" for t in tasks for k in ks] + \
        [f"dist. to Bayes a=0.5 k={k}" for k in ks]

    def cells(step, predictor="model"):
        vals = [pick(by_step, t, k, predictor, step) for t in tasks for k in ks]
        dist = [pick(by_step, "a=0.5", k, step=step, field=f"dist_{BAYES}") for k in ks] \
            if predictor == "model" else [math.nan] * len(ks)
        return [f"{v:.3g}" if not math.isnan(v) else "–" for v in vals + dist]

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join([str(s)] + cells(s)) + " |" for s in by_step]
    return lines + ["| Bayes, pretraining prior | " + " | ".join(cells(None, BAYES)) + " |",
                    "| Bayes, task prior | " + " | ".join(cells(None, "task_bayes")) + " |"]


@section("along", sweeps=SWEEPS, needs=("along",), order=60)
def along_section(run: dict, data: dict | None = None) -> list[str]:
    """The section's lines (none for a run not scored along training)."""
    by_step = along_rows(run)
    if not by_step:
        return []
    lines = []
    for k in report_ks(by_step):
        c = paired_crossing(by_step, "a=0.5", k)
        lines.append(f"- {crossing(by_step, 'a=0.5', k)}" if c.kind == "no rows" else
                     f"- a=0.5, k = {k}, by the paired 90% interval of model minus Bayes: "
                     f"{c.describe()}.")
    return ["Along training. " + TABLE_INTRO, ""] + table(by_step) + ["", CROSSING_INTRO, ""] + lines


def incomplete_lines(runs: list[dict]) -> list[str]:
    """The report's first lines when a run stopped before its last declared step."""
    gone = [r for r in runs if r.get("incomplete")]
    return [line for r in gone for line in (
        f"**Incomplete**: run `{r['name']}` reached step {r['incomplete']['reached']} of "
        f"{r['incomplete']['target']} ({r['incomplete']['why']}); its numbers are those of the "
        "last step scored.", "")]
