"""The report of a study (`icl-ood sweep collect`): its head (what is missing, first) and the
grid's tables, each task's seeds summarized as a mean with a 90% t-interval over seeds."""

from __future__ import annotations

import numpy as np

from icl_ood import results
from icl_ood.figures.crossing import UNITS, crossing_points, fit_law, per_step
from icl_ood.figures.crossing import crossing as paired_crossing
from icl_ood.figures.crossing import over_seeds as crossing_over_seeds
from icl_ood.report import decompose
from icl_ood.report.seeds import over_seeds


def head(data: dict) -> list[str]:
    """The report's first lines: what is missing (a partial collect), then the title."""
    req, study = data["request"], data["request"]["study"]
    grid = " x ".join(f"{k} ({len(v)})" for k, v in study["grid"].items()) or "no grid"
    seeds = study["seeds"]
    lines = []
    if study["missing"]:
        lines += [f"PARTIAL: {len(study['missing'])} of {study['n_tasks']} tasks missing "
                  f"(not done, not in this report): {', '.join(study['missing'])}", ""]
    return lines + [f"# icl-ood study: experiment `{req['experiment']}`, preset "
                    f"`{req['preset']}`, grid {grid}, seeds "
                    f"{'the runs own' if seeds is None else ', '.join(map(str, seeds))}"]


def _model(rows: list[dict], task: str, k: int) -> float | None:
    return next((r["normalized"] for r in rows if r["predictor"] == "model"
                 and r["task"] == task and r["k"] == k), None)


def section(data: dict) -> list[str]:
    """Per sweep, the Transformer's normalized error by grid task and test task at a few k
    (mean over seeds, 90% t-interval); along training where kept checkpoints were scored."""
    study = data["request"]["study"]
    runs = {r["name"]: r for r in data["runs"]}
    lines = ["## The grid", "", "Each task's seeds trained as one program; cells: the "
             "Transformer's normalized error, mean over seeds [90% t-interval over seeds].", ""]
    for sweep in data["experiment"]["sweeps"]:
        first = runs[study["tasks"][0]["runs"][0]]
        kmax = first["config"]["data"]["n_points"] - 1
        ks = list(dict.fromkeys(k for k in (2, 10, kmax) if k <= kmax))
        tests = list(dict.fromkeys(r["task"] for r in first["rows"].get(sweep, [])))
        lines += [f"### {sweep} sweep", "", "| task | test | " + " | ".join(
            f"k = {k}" for k in ks) + " |", "|---|---|" + "---|" * len(ks)]
        for t in study["tasks"]:
            for test in tests:
                cells = []
                for k in ks:
                    vals = [_model(runs[n]["rows"][sweep], test, k) for n in t["runs"]]
                    cells.append("–" if None in vals else over_seeds(vals))
                lines.append(f"| {t['name']} | {test} | " + " | ".join(cells) + " |")
        lines += [""] + _along(data, sweep, study, min(10, kmax))
    cross = crossings(data)  # none: the study was not scored along training
    return lines + cross + (compute(data) if cross else []) + decompose.section(data)


CROSSING_TASKS = ("a=0.5", "a=0.3", "a=0.7")  # the convex sweep's mixtures the crossing is for


def crossings(data: dict) -> list[str]:
    """Per grid task, mixture and k (10 and the largest): when each seed's error crosses the
    Bayes predictor of its pretraining prior (figures/crossing.py: decided by the paired 90%
    interval of model minus Bayes at each scored step), and over seeds the median and range."""
    study = data["request"]["study"]
    if "convex" not in data["experiment"]["sweeps"]:
        return []
    runs = {r["name"]: r for r in data["runs"]}
    steps = {n: runs[n].get("along", {}).get("convex", {}) for t in study["tasks"]
             for n in t["runs"]}  # the collect lists each run's scored steps, the last included
    if all(len(v) < 2 for v in steps.values()):
        return []
    kmax = runs[study["tasks"][0]["runs"][0]]["config"]["data"]["n_points"] - 1
    ks = list(dict.fromkeys(k for k in (10, 40, kmax) if k <= kmax))[:2]
    lines = ["## Crossing the Bayes predictor of the pretraining prior", "",
             "Per seed: the scored steps between which the mixture error goes from below the "
             "Bayes predictor of the pretraining prior to above it, each step decided by the "
             "paired 90% bootstrap interval of model minus Bayes on the same prompts (undecided "
             "where it contains 0); over seeds: the median and range of the crossing steps "
             "(each the geometric mean of its bracket).", "",
             "| task | test | k | per seed | over seeds |", "|---|---|---|---|---|"]
    for t in study["tasks"]:
        for test in CROSSING_TASKS:
            for k in ks:
                cs = [paired_crossing(steps[n], test, k) for n in t["runs"]]
                if all(c.kind == "no rows" for c in cs):
                    continue
                per = "; ".join(f"seed {runs[n]['config']['train']['seed']}: {c.describe()}"
                                for n, c in zip(t["runs"], cs))
                lines.append(f"| {t['name']} | {test} | {k} | {per} | {crossing_over_seeds(cs)} |")
    return lines + [""]


def compute(data: dict) -> list[str]:
    """The crossing in training steps, examples seen and model FLOPs per grid task (median over
    seeds where all crossed), and a power law in the grid's one numeric knob where one can be
    fitted (figures/crossing.py: fit_law), else why not (for a study scored along training)."""
    study = data["request"]["study"]
    runs = {r["name"]: r for r in data["runs"]}
    unit = {t["name"]: per_step(runs[t["runs"][0]]["config"]) for t in study["tasks"]}
    kmax = runs[study["tasks"][0]["runs"][0]]["config"]["data"]["n_points"] - 1
    ks = list(dict.fromkeys(k for k in (10, 40, kmax) if k <= kmax))[:2]
    lines = ["## The crossing in training steps, examples seen and FLOPs", "",
             "Per grid task: examples per step (the batch) and model FLOPs per step "
             "(forward + backward, PaLM's count), and the crossing of the table above in each "
             "unit: the median over seeds [range] where every seed crossed, else how many did.",
             "", "| task | examples / step | FLOPs / step | test | k | "
             + " | ".join(f"crossing ({u})" for u in UNITS) + " |", "|---|---|---|---|---|"
             + "---|" * len(UNITS)]
    laws = []
    keys = list(study["grid"])
    knob = keys[0] if len(keys) == 1 and all(
        isinstance(t["grid"][keys[0]], (int, float)) for t in study["tasks"]) else None
    for test in CROSSING_TASKS[:2]:
        for k in ks:
            pts = crossing_points(data, test, k)
            for t in study["tasks"]:
                cs, u = pts[t["name"]], unit[t["name"]]
                steps = [c.step for c in cs]
                last = max((c.last or 0) for c in cs)
                cells = ([f"{np.median(steps) * u[x]:.3g} [{min(steps) * u[x]:.3g}, "
                          f"{max(steps) * u[x]:.3g}]" for x in UNITS]
                         if all(c.kind == "crossed" for c in cs) else
                         [f"{sum(c.kind == 'crossed' for c in cs)} of {len(cs)} crossed within "
                          f"{last * u[x]:.3g}" for x in UNITS])
                lines.append(f"| {t['name']} | {u['examples']:.0f} | {u['FLOPs']:.3g} | {test} | "
                             f"{k} | " + " | ".join(cells) + " |")
            for x in UNITS:
                law = (fit_law({t["grid"][knob]: [c.step * unit[t["name"]][x]
                                                  for c in pts[t["name"]]]
                                for t in study["tasks"]}).describe(knob, x) if knob else
                       "no law fitted: the grid does not vary one numeric knob")
                laws.append((f"{test}, k = {k}, in {x}", law))
    grouped: dict[str, list[str]] = {}
    for where, law in laws:  # one line per reason where no law was fitted
        grouped.setdefault(law if law.startswith("no law") else f"{where}: {law}", []).append(where)
    return lines + ["", "Power laws in the grid's knob:", ""] + [
        f"- {text}." if not text.startswith("no law") else
        f"- {text} ({'; '.join(where)})." for text, where in grouped.items()] + [""]


def _along(data: dict, sweep: str, study: dict, k: int) -> list[str]:
    """The same at k along training: one column per scored checkpoint step."""
    along = {}
    for t in study["tasks"]:
        for n in t["runs"]:
            run = next(r for r in data["runs"] if r["name"] == n)
            along[n] = results.load_run(run["dir"])["runs"][0].get("along", {}).get(sweep, {})
    steps = sorted({s for per in along.values() for s in per})
    if not steps:
        return []
    lines = [f"Along training ({sweep} sweep, k = {k}; the final step's column is the table "
             "above's):", "", "| task | test | " + " | ".join(f"step {s}" for s in steps) + " |",
             "|---|---|" + "---|" * len(steps)]
    for t in study["tasks"]:
        per = [along[n] for n in t["runs"]]
        tests = list(dict.fromkeys(r["task"] for p in per for rows in p.values() for r in rows))
        for test in tests:
            cells = []
            for s in steps:
                vals = [_model(p.get(s, []), test, k) for p in per]
                cells.append("–" if None in vals else over_seeds(vals))
            lines.append(f"| {t['name']} | {test} | " + " | ".join(cells) + " |")
    return lines + [""]
