"""report.md of an along-training folder (icl_ood.along_training): the model's normalized error
at k = 10 and 40 on a = 0.5, a = 0 and w = 2 and its distance to the Bayes predictor of its
pretraining prior, per evaluated step, and when (if ever) the mixture error crosses that Bayes
predictor's; every number from OUT/rows.jsonl (errors divided by the task's E[y^2]).
The figure: along_report.figure (draw); a study of several runs (`icl-ood replicate
--experiment compute`): along_report.study."""

from __future__ import annotations

import math
from pathlib import Path

from icl_ood import results
from icl_ood.along_report.figure import draw

__all__ = ["crossing", "draw", "model_steps", "pick", "table", "write"]

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


def table(rows: list[dict]) -> list[str]:
    """The markdown table of `rows`: per evaluated step the model's normalized error on each task
    at each k and its distance to the Bayes predictor at a = 0.5; then the Bayes rows."""
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

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join([str(s)] + cells(s)) + " |" for s in model_steps(rows)]
    return lines + ["| Bayes, pretraining prior | " + " | ".join(cells(None, BAYES)) + " |",
                    "| Bayes, task prior | " + " | ".join(cells(None, "task_bayes")) + " |"]


def crossings(rows: list[dict]) -> list[str]:
    """One crossing sentence per k, as list items."""
    kmax = max((r["k"] for r in rows), default=0)
    return [f"- {crossing(rows, 'a=0.5', k)}" for k in ([k for k in KS if k <= kmax] or [kmax])]


TABLE_INTRO = ("Normalized error (squared error / the task's E[y^2]; predicting 0 scores 1) of "
               "the Transformer at each evaluated step on the same prompts, and its distance to "
               "the Bayes predictor of its pretraining prior (mean squared difference of their "
               "predictions, same normalizer):")


CROSSING_INTRO = "The mixture error against the Bayes predictor of the pretraining prior:"


def write(out: str | Path) -> Path:
    """Writes OUT/report.md from OUT/rows.jsonl and OUT/provenance.json."""
    out = Path(out)
    rows = results.read_jsonl(out / "rows.jsonl")
    prov = results.read_json(out / "provenance.json", {})
    lines = [f"# Error along training: preset `{prov.get('preset', '?')}`", "",
             (f"Command: `{prov.get('command', '?')}` · commit {prov.get('commit', '?')} · device "
              f"{prov.get('device', '?')} ({prov.get('host', '?')}) · "
              f"{prov.get('steps_reached', '?')} steps in {prov.get('elapsed_s', math.nan):.0f} s"
              f" · status {prov.get('status', '?')}"), "", TABLE_INTRO, ""]
    lines += table(rows) + ["", CROSSING_INTRO, ""] + crossings(rows)
    return results.write_text(out / "report.md", "\n".join(lines) + "\n")
