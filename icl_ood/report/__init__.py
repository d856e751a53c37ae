"""report.md of a replicate folder: key numbers and one sentence per figure, all computed from the
saved results and experiment.json only (icl_ood.results.load; normalized squared error:
predicting 0 scores 1; k = in-context examples), with the checkpoint step each run's results
come from."""

from __future__ import annotations

import json
from pathlib import Path

from icl_ood import results
from icl_ood.figures import pretrained_on
from icl_ood.report import pool, study
from icl_ood.report.along import along_section, incomplete_lines
from icl_ood.report.sections import (
    NAMES,
    compare_sentence,
    convex_section,
    cost_section,
    freq_section,
    report_ks,
    selection_section,
    slope_section,
)

__all__ = ["DEFINITIONS", "NAMES", "compare_sentence", "report_ks", "selection_section", "write"]

DEFINITIONS = {
    "model": "the trained model's prediction of y_k from the k pairs before it and x_k.",
    "bayes_mixture": "the posterior mean under the model's pretraining distribution (its "
                     "families, their priors and mixture weights, its label noise): what ideal "
                     "model selection among the pretraining families predicts.",
    "task_bayes": "the posterior mean under the test task's own distribution (for f = a*f1 + "
                  "(1-a)*f2, the prior of that combination): the lowest error any predictor can "
                  "reach on the task; what generalizing to the task would track.",
    "least_squares": "minimum-norm least squares on x (Garg et al.).",
    "sin_ls_known": "least squares on [sin(w x), cos(w x)] with the task's true w.",
    "lasso": "Lasso on x (alpha 0.01, solved exactly).",
    "relu_gd": "a 2-layer ReLU network fit by gradient descent to the k pairs (Garg et al.).",
    "model_no_hint": "the hinted model with the family hint left out.",
    "model_wrong_hint": "the hinted model given another family's hint.",
}


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
    present = dict.fromkeys(r["predictor"] for run in data["runs"]
                            for rows in run["rows"].values() for r in rows)
    saved = {n: v for run in data["runs"] for n, v in (run.get("predictors") or {}).items()}
    lines += ["Predictors:", ""] + [f"- {NAMES[p]}: {d}" for p, d in DEFINITIONS.items()
                                    if p in present] + [
        f"- {saved[p]['label']}: {saved[p]['doc']}" for p in present  # e.g. a user's baseline
        if p not in DEFINITIONS and p in saved] + [""]
    if req.get("study"):  # `icl-ood sweep collect`: what is missing first, then the grid
        lines = study.head(data) + lines[1:] + study.section(data)
    lines += pool.section(data)
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
        if run["rows"].get("convex"):
            lines += convex_section(run, exp["mix"]) + [""]
        if run["rows"].get("freq"):
            lines += freq_section(run) + [""]
        if run["rows"].get("k") and len(pretrained_on(run["config"]["data"])) > 1:
            lines += selection_section(run) + [""]
        if run["rows"].get("slope"):
            lines += slope_section(run) + [""]
        if not run["config"]["data"].get("task_pool") and (cost := cost_section(run)):
            lines += cost + [""]
        if along := along_section(run):
            lines += along + [""]
    figs = sorted(p.name for p in (out / "figures").glob("*.png"))
    about = {
        "1_error_vs_k": "error vs k on convex combinations for several a, the Transformer next to "
                        "the Bayes predictor of its pretraining prior, the Bayes predictor of the "
                        "task's own prior and least squares (one row per pretraining mixture).",
        "2_convex_sweep": "error at fixed k vs a: generalization to mixtures would follow the "
                          "task-prior Bayes predictor; model selection among the pretraining "
                          "families follows the pretraining-prior Bayes predictor.",
        "3_frequency_sweep": "error on pure sinusoids vs their frequency, the pretraining "
                             "frequencies shaded.",
        "4_examples": "single prompts: the true function, the in-context points and the curves "
                      "each predictor draws across x.",
        "5_model_selection": "how fast the Bayes posterior commits to the true family as k grows, "
                             "next to the Transformer's error on each pretraining family.",
        "6_training_curves": "training loss per family vs step.",
        "8_slope_sweep": "Mueller et al.'s test functions A sin(w x) + m x vs the slope m: the "
                         "Bayes posterior weight of each pretraining family (does it blend or "
                         "commit?) and the errors at k = 10, 20, 40, 80.",
        "along_training": "the normalized error of every run at k = 10 and 40 against training "
                          "steps (log axes) on a = 0, 0.5, 1 and w = 0.5, 2, the Bayes "
                          "predictors as horizontal lines, and each run's distance to the Bayes "
                          "predictor of its pretraining prior.",
        "along_sizes": "one column per model size: the a = 0.5 error at k = 10 and 40, the a = 0 "
                       "error at k = 40 and the mixture's distance to Bayes against training "
                       "steps, each run a line.",
        "task_diversity": "pool size M against the error at the last step on the continuous "
                          "prior and on the pool (dMMSE and ridge per M), and the error on the "
                          "continuous prior along training, one line per M.",
        "7_selection_cost": "the cost of model selection per k: error minus that of the Bayes "
                            "predictor that knows the prompt's family, for the Transformer "
                            "(with a hinted model also without and with a wrong family hint) "
                            "and the Bayes predictor of the pretraining prior.",
    }
    lines += ["## Figures", ""]
    for name in figs:
        key = next((k for k in about if name.startswith(k)), None)
        lines.append(f"- `figures/{name}`: {about.get(key, '')}")
    results.write_text(path, "\n".join(lines) + "\n")
    results.write_manifest(path, "report", {**data["inputs"], "provenance.json": results.sha256(
        out / "provenance.json") if (out / "provenance.json").exists() else None}, [path],
        rank=rank)
    return path
