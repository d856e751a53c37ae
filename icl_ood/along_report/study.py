"""report.md and the figure of an along-training study (`icl-ood replicate --experiment compute`):
one section per run (its error table per evaluated step and when the mixture error crosses the
Bayes predictor of its pretraining prior) and one figure with every run's curves, from the saved
along/<run>/ folders and experiment.json only."""

from __future__ import annotations

import math
from pathlib import Path

from icl_ood import results
from icl_ood.along_report import CROSSING_INTRO, TABLE_INTRO, crossings, table
from icl_ood.along_report.figure import draw_runs


def is_study(out: str | Path) -> bool:
    """True if OUT's experiment.json describes an along-training study."""
    return bool((results.read_json(Path(out) / "experiment.json", {}) or {}).get("along"))


def _runs(out: Path) -> tuple[dict, list[tuple[dict, dict, list[dict]]]]:
    """(experiment.json, [(run spec, provenance, rows)]); ResultsError (one line) if a run's
    folder is missing or unfinished."""
    req = results.read_json(out / "experiment.json", {})
    runs = []
    for spec in req.get("runs", []):
        d = out / spec["along"]
        prov = results.read_json(d / "provenance.json", {})
        if prov.get("status") != "reached train.steps" or not results.jsonl_exists(d / "rows.jsonl"):
            raise results.ResultsError(
                f"{out}: run {spec['name']!r} is not finished ({spec['along']}: status "
                f"{prov.get('status', 'missing')}); nothing drawn; rerun "
                f"`{results.replicate_command(req, out)}` to finish it")
        runs.append((spec, prov, results.read_jsonl(d / "rows.jsonl")))
    if not runs:
        raise results.ResultsError(f"{out}: no runs in experiment.json; nothing drawn")
    return req, runs


def _scale(req: dict, q: str = "") -> str:
    """'preset P' and the config overrides of the request, if any."""
    sets = ", ".join(f"{q}{o}{q}" for o in req.get("overrides") or ())
    return f"preset {q}{req.get('preset')}{q}" + (f" with {sets}" if sets else "")


def write_study(out: str | Path) -> Path:
    """Writes OUT/report.md of a finished study."""
    out = Path(out)
    req, runs = _runs(out)
    prov0 = runs[0][1]
    summary = " ".join((req.get("doc") or "").strip().split("\n\n")[0].split())
    lines = [f"# icl-ood replicate: experiment `{req.get('experiment')}`, {_scale(req, '`')}",
             "", summary, "",
             (f"Command: `{results.replicate_command(req, out)}` · commit "
             f"{', '.join(sorted({p.get('commit', '?') for _, p, _ in runs}))} · device "
             f"{prov0.get('device', '?')} ({prov0.get('host', '?')}) · {prov0.get('n_prompts')} "
             "prompts per task, the same at every step"), "", TABLE_INTRO, ""]
    for spec, prov, rows in runs:
        lines += [f"## {spec['label']} (`{spec['name']}`)", "",
                  (f"{prov.get('steps_reached')} steps in {prov.get('elapsed_s', math.nan):.0f} s "
                  f"(training and scoring; {spec['along']}/ has its own report and figure)."), ""]
        lines += table(rows) + ["", CROSSING_INTRO, ""] + crossings(rows) + [""]
    lines += ["## Figures", "", ("- `along_training.png`: the normalized error of every run at k = 10 "
              "and 40 against training steps (log axes) on a = 0, 0.5, 1 and w = 0.5, 2, the "
              "Bayes predictors as horizontal lines, and each run's distance to the Bayes "
              "predictor of its pretraining prior.")]
    return results.write_text(out / "report.md", "\n".join(lines) + "\n")


def draw_study(out: str | Path) -> list[Path]:
    """OUT/along_training.png|pdf with every run's curves (a finished study)."""
    out = Path(out)
    req, runs = _runs(out)
    head = (f"experiment {req.get('experiment')}, {_scale(req)}:"
            + ("\n" if req.get("overrides") else " ") + "error along "
            f"training ({', '.join(str(p.get('steps_reached')) for _, p, _ in runs)} steps, "
            f"{runs[0][1].get('device', '')}).")
    return draw_runs([(spec["label"], rows) for spec, _, rows in runs], head, out)
