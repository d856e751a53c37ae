"""report.md of a replicate folder: key numbers and one sentence per figure, all computed from the
saved results and experiment.json only (icl_ood.results.load; normalized squared error:
predicting 0 scores 1; k = in-context examples), with the checkpoint step each run's results
come from.

Its parts are plug-ins: the predictors' names and definitions are those saved with the results
(the baselines' registry: figures.style.describe), the sections are registered ones
(icl_ood.report.plugins, a user's too) and each figure's line is the caption its
registration gives (icl_ood.figures.plugins)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from icl_ood import results
from icl_ood.figures import plugins as figure_plugins
from icl_ood.figures.style import LEGACY_DOCS, describe, saved
from icl_ood.report import along, plugins, pool, sections, study
from icl_ood.report.along import incomplete_lines
from icl_ood.report.sections import compare_sentence, report_ks, selection_section

__all__ = ["along", "compare_sentence", "definition", "pool", "predictor_lines", "report_ks",
           "sections", "selection_section", "write"]


def definition(doc: str) -> str:
    """A predictor's definition in the report: the first sentence of its doc (a period and a
    space before a capital letter ends it, not one of "et al.")."""
    text = " ".join((doc or "").split())
    return re.split(r"(?<!\bal)\.\s+(?=[A-Z])", text, maxsplit=1)[0].rstrip(".") + "." \
        if text else ""


def predictor_lines(data: dict) -> list[str]:
    """"Predictors:" and each predictor of the results that has a description (as saved with
    them, or for older results the legacy tables): its name and definition; the legacy ones
    first in their order, then the others as they appear."""
    present = dict.fromkeys(r["predictor"] for run in data["runs"]
                            for rows in run["rows"].values() for r in rows)
    order = [p for p in LEGACY_DOCS if p in present] + [p for p in present
                                                          if p not in LEGACY_DOCS]
    return ["Predictors:", ""] + [f"- {d['label']}: {definition(d['doc'])}" for p in order
                                  if (d := describe(p)) is not None] + [""]


def _block(lines: list[str]) -> list[str]:
    """A section's lines followed by one blank line (none for an empty section)."""
    return lines if not lines or lines[-1] == "" else lines + [""]


def _machine(prov: dict) -> str:
    """The device and host of a provenance record (older records: "cpu: cpu" for a CPU)."""
    plat, _, kind = prov.get("device", "?").partition(": ")
    dev = plat if not kind or kind.lower() == plat else f"{plat}: {kind}"
    return dev + (f" ({prov['host']})" if prov.get("host") else "")


def _summary(doc: str | None) -> str:
    """The first paragraph of an experiment's doc, on one line."""
    return " ".join((doc or "").strip().split("\n\n")[0].split())


def changed_data(exp: dict) -> list[str]:
    """The report's first lines when the preset or overrides train on other data than the
    experiment defines (experiment.json's data_changes: {field: [here, defined]})."""
    ch = exp.get("data_changes") or {}
    if not ch:
        return []
    return [("**Other data than the experiment defines** (its definition at the demo preset; "
             "this request's preset and overrides change it): " + "; ".join(
                 f"data.{k} {json.dumps(v[0])} (defined: {json.dumps(v[1])})"
                 for k, v in ch.items()) + ". Every number below, yardsticks included, is for "
             "these data."), ""]


def write(out: str | Path, force: bool = False) -> Path:
    """Writes out/report.md from the saved results, experiment.json and provenance.json, then
    report.manifest.json. ResultsError (nothing written) if results are missing or incomplete,
    or if the report there was made from more results or a later checkpoint (unless `force`)."""
    out = Path(out)
    data = results.load(out)
    path = out / "report.md"
    rank = [len(data["inputs"]), data["step"]]
    results.check_replace(path, rank, force=force, what="a report")
    with saved(data):  # predictors' names and definitions as saved with these results
        text = _text(out, data)
    results.write_text(path, text)
    results.write_manifest(path, "report", {**data["inputs"], "provenance.json": results.sha256(
        out / "provenance.json") if (out / "provenance.json").exists() else None}, [path],
        rank=rank)
    return path


def _text(out: Path, data: dict) -> str:
    """The report's markdown."""
    exp, req = data["experiment"], data["request"]
    prov = results.read_json(out / "provenance.json", {})
    commits = sorted({c for r in data["runs"] for c in r["commits"]})
    lines = [f"# icl-ood replicate: experiment `{exp['name']}`, preset `{req['preset']}`", "",
             *incomplete_lines(data["runs"]), *changed_data(exp), _summary(exp["doc"]), "",
             (f"Command: `{prov.get('command', '?')}` · commit {prov.get('commit', '?')} · "
              f"results computed at commit {', '.join(commits)} · "
             f"device {_machine(prov)} · seeds "
             f"{', '.join(f'{n} {v}' for n, v in prov.get('seeds', {}).items()) or '?'} · "
             f"stage wall times (s): {json.dumps({k: v['wall_s'] for k, v in prov.get('stages', {}).items()})}"),
             "", ("Errors are normalized squared errors: the squared error divided by the task's "
                  "E[y^2], so predicting 0 scores 1; k is the number of in-context examples; "
                  "intervals are 90% paired-bootstrap intervals over prompts."), ""]
    lines += predictor_lines(data)
    if req.get("study"):  # `icl-ood sweep collect`: what is missing first, then the grid
        lines = study.head(data) + lines[1:] + study.section(data)
    for sec in plugins.registered("data"):
        if figure_plugins.holds(data, sec):
            lines += _block(sec.write(data))
    for run in data["runs"]:
        m = run["metrics"][-1] if run["metrics"] else {}
        total = run["config"]["train"]["steps"]
        loss = m.get("loss")
        lines += [f"## {run['label']} (`{run['name']}`)", "",
                  f"Results from the checkpoint of step {run['step']} (of {total} training steps"
                  + ("" if run["step"] == total else "; training not finished") + "), "
                  f"{run['n_prompts']} prompts per task. Final training loss (the last "
                  f"metrics.jsonl record, step {m.get('step', 0)}: the mean batch loss since the "
                  "previous record, raw squared error averaged over k): "
                  + ("–" if loss is None else f"{loss:.4f}") + ", per family "
                  + ", ".join(f"{f} {v:.4f}" for f, v in m.get("loss_per_family", {}).items()
                              if v is not None) + ".", ""]
        for sec in plugins.registered("run"):
            if figure_plugins.holds({"runs": [run]}, sec):
                lines += _block(sec.write(run, data))
    lines += ["## Figures", ""]
    for name in sorted(p.name for p in (out / "figures").glob("*.png")):
        lines.append(f"- `figures/{name}`: {figure_plugins.caption(name)}")
    return "\n".join(lines) + "\n"
