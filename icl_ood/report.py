"""report.md of a replicate folder: key numbers and one sentence per figure, all computed from the
saved results and experiment.json only (icl_ood.results.load; normalized squared error:
predicting 0 scores 1; k = in-context examples), with the checkpoint step each run's results
come from."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from icl_ood import results
from icl_ood.figures import FLOOR, pretrained_on, sin_freq_range

NAMES = {"model": "Transformer", "model_no_hint": "Transformer, no hint",
         "model_wrong_hint": "Transformer, wrong hint", "bayes_mixture": "Bayes (pretraining prior)",
         "task_bayes": "Bayes (task prior)", "least_squares": "least squares",
         "sin_ls_known": "sinusoid LS (w known)", "lasso": "Lasso", "relu_gd": "ReLU net (GD)"}


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


def _row(rows, predictor, k, **match) -> dict | None:
    for r in rows:
        if r["predictor"] == predictor and r["k"] == k and all(r.get(f) == v
                                                                for f, v in match.items()):
            return r
    return None


def _val(rows, predictor, k, **match) -> float | None:
    r = _row(rows, predictor, k, **match)
    return None if r is None else r["normalized"]


def _f(v: float | None) -> str:
    return "–" if v is None else (f"{v:.3f}" if v >= 1e-3 else f"{v:.1e}")


def _ci(r: dict | None, field: str = "normalized", lower: str = "norm_lower",
        upper: str = "norm_upper", fmt=None) -> str:
    """A table cell: a row's value (default: the normalized error) and its 90% interval."""
    fmt = fmt or _f
    if r is None:
        return "–"
    if r.get(lower) is None:
        return fmt(r[field])
    return f"{fmt(r[field])} [{fmt(r[lower])}, {fmt(r[upper])}]"


def _table(header: list[str], lines: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + \
        ["| " + " | ".join(ln) + " |" for ln in lines]


def report_ks(kmax: int, wanted=(5, 10, 20)) -> list[int]:
    """The k columns of a table: `wanted` up to kmax, then kmax, each once."""
    return list(dict.fromkeys([k for k in wanted if k <= kmax] + [kmax]))


TRACKS = 0.18  # |log10 ratio| below this (a factor of 1.5) counts as tracking a yardstick


def compare_sentence(rows, k: int, a_vals) -> str:
    """How the model's error at k compares with the two Bayes predictors over the interior a:
    geometric-mean ratios (errors floored at FLOOR), and a verdict computed from them."""
    lr_b, lr_o = [], []
    for a in a_vals:
        m, b, o = (_val(rows, p, k, a=a) for p in ("model", "bayes_mixture", "task_bayes"))
        if None in (m, b, o):
            continue
        lm, lb, lo = (np.log10(max(v, FLOOR)) for v in (m, b, o))
        lr_b.append(lm - lb)
        lr_o.append(lm - lo)
    if not lr_b:
        return (f"At k = {k} the Bayes predictors are missing, so the Transformer is compared "
                "with neither.")
    rb, ro = float(np.mean(lr_b)), float(np.mean(lr_o))
    near = [name for name, r in (("the Bayes predictor of its pretraining prior", rb),
                                 ("the Bayes predictor of the task's own prior", ro))
            if abs(r) < TRACKS]
    if len(near) == 2:
        verdict = "it tracks both (they nearly coincide here)"
    elif near:
        verdict = f"it tracks {near[0]}"
    elif rb < 0 and ro < 0:
        verdict = "it lies below both"
    elif rb > 0 and ro > 0:
        verdict = "it lies above both, tracking neither"
    else:
        verdict = "it lies between them, tracking neither"
    return (f"At k = {k}, over the mixtures 0 < a < 1, the Transformer's error is on average "
            f"{10 ** rb:.2g}x that of the Bayes predictor of its pretraining prior and "
            f"{10 ** ro:.2g}x that of the Bayes predictor of the task's own prior (geometric "
            f"means, errors floored at {FLOOR:g}; within a factor {10 ** TRACKS:.1f} counts as "
            f"tracking): {verdict}.")


def convex_section(run, mix) -> list[str]:
    rows = run["rows"]["convex"]
    ks = report_ks(run["config"]["data"]["n_points"] - 1)
    lines = []
    for a in (1.0, 0.5, 0.0):
        for p in ("model", "bayes_mixture", "task_bayes"):
            lines.append([f"{a:g}", NAMES[p]] + [_ci(_row(rows, p, k, a=a)) for k in ks])
    out = [(f"Normalized error on f = a*{mix[0]} + (1-a)*{mix[1]} "
           f"({rows[0]['n_prompts']} prompts per a; [90% bootstrap interval]):"), ""]
    out += _table(["a", "predictor"] + [f"k={k}" for k in ks], lines)
    interior = sorted({r["a"] for r in rows if 0 < r["a"] < 1})
    for k in dict.fromkeys((min(10, ks[-1]), ks[-1])):
        out += ["", compare_sentence(rows, k, interior)]
    return out


def freq_section(run) -> list[str]:
    rows = run["rows"]["freq"]
    kmax = run["config"]["data"]["n_points"] - 1
    freqs = sorted({r["freq"] for r in rows})
    k = kmax
    lines = [[f"{w:g}"] + [_ci(_row(rows, p, k, freq=w)) for p in
                           ("model", "bayes_mixture", "sin_ls_known")] for w in freqs]
    dc = run["config"]["data"]
    lo, hi = sin_freq_range(dc)
    inside = [_val(rows, "model", k, freq=w) for w in freqs if lo <= w <= hi]
    outside = [(w, _val(rows, "model", k, freq=w)) for w in freqs if not lo <= w <= hi]
    out = [(f"Normalized error on pure sinusoids A sin(w x + phase) at k = {k} "
           "([90% bootstrap interval]):"), ""]
    out += _table(["w", NAMES["model"], NAMES["bayes_mixture"], NAMES["sin_ls_known"]], lines)
    if "sinusoid" in pretrained_on(dc) and inside and outside:
        worst = max(outside, key=lambda t: t[1])
        known = [_val(rows, "sin_ls_known", k, freq=w) for w in freqs]
        known = [v for v in known if v is not None]
        span = f"w = {lo:g}" if hi == lo else f"w in [{lo:g}, {hi:g}]"
        out += ["", (f"Pretraining frequencies {span}: the Transformer's error there "
                f"is {_f(max(inside))} at most; outside it rises to {_f(worst[1])} (w = {worst[0]:g})"
                + (f", while least squares on sinusoid features with w known stays at or below "
                   f"{_f(max(known))}." if known else "."))]
    return out


def selection_section(run) -> list[str]:
    dc = run["config"]["data"]
    w = run["weights"].get("k", [])
    out = []
    for fam, wt in zip(dc["families"], dc["weights"]):
        sel = sorted((r for r in w if r["task"] == fam and r["component"] == fam),
                     key=lambda r: r["k"])
        k90 = next((r["k"] for r in sel if r["weight"] >= 0.9), None)
        kmax = dc["n_points"] - 1
        m = _val(run["rows"]["k"], "model", 10, task=fam)
        b = _val(run["rows"]["k"], "bayes_mixture", 10, task=fam)
        if sel:
            when = (f"puts >= 0.9 on the true family from k = {k90}" if k90 is not None else
                    f"stays below 0.9 on the true family up to k = {kmax}")
            out.append(f"- task {fam} (pretraining weight {wt:g}): the Bayes posterior {when}; at "
                       f"k = 10 the Transformer's error is {_f(m)}, Bayes {_f(b)}.")
        else:
            out.append(f"- task {fam} (pretraining weight {wt:g}): Bayes not applicable; at k = 10 "
                       f"the Transformer's error is {_f(m)}.")
    return out


COST_KS = (2, 5, 10, 20)


def slope_section(run) -> list[str]:
    """Mueller et al.'s test functions: Bayes posterior weight of each family and the errors."""
    rows, w = run["rows"]["slope"], run["weights"].get("slope", [])
    ks = [k for k in (10, 20, 40, 80) if any(r["k"] == k for r in rows)]
    slopes = sorted({r["slope"] for r in rows})
    fams = list(dict.fromkeys(r["component"] for r in w))
    wt = {(r["component"], r["slope"], r["k"]): r["weight"] for r in w}
    lines = []
    for m in slopes:
        for k in ks:
            lines.append([f"{m:g}", str(k)]
                         + [_f(wt.get((f, m, k))) for f in fams]
                         + [_f(_val(rows, p, k, slope=m))
                            for p in ("model", "bayes_mixture", "task_bayes")])
    expr = next((r.get("function") for r in rows), "")
    head = (f"Test functions {expr.split('+')[0]} + m x (a sum of the two pretraining families; "
            "normalized error, divided by the task's E[y^2]; Bayes (task prior) is the function "
            "itself, so its error is the label noise):")
    return [head, ""] + \
        _table(["m", "k"] + [f"P({f}), Bayes" for f in fams]
               + [NAMES[p] for p in ("model", "bayes_mixture", "task_bayes")], lines)


def cost_section(run) -> list[str]:
    """Selection cost table: on each pretraining family, normalized error minus the family
    oracle's (the Bayes predictor of the prompt's own family) at k = 2, 5, 10, 20."""
    rows = [r for r in run["rows"].get("k", []) if r.get("norm_excess") is not None]
    if not rows:
        return []
    ks = [k for k in COST_KS if any(r["k"] == k for r in rows)]
    by = {(r["task"], r["predictor"], r["k"]): r for r in rows}
    preds = [p for p in ("model", "model_no_hint", "model_wrong_hint", "bayes_mixture")
             if any(q == p for _, q, _ in by)]
    lines = []
    for fam in dict.fromkeys(r["task"] for r in rows):
        for p in preds:
            if (fam, p, ks[0]) in by:
                lines.append([fam, NAMES.get(p, p)] + [
                    _ci(by.get((fam, p, k)), "norm_excess", "norm_excess_lower",
                        "norm_excess_upper", _g) for k in ks])
    head = ("Cost of model selection (normalized error minus that of the Bayes predictor that "
            "knows the prompt's family, paired on the same prompts [90% interval]; Bayes "
            "(pretraining prior) is what ideal model selection pays):")
    return [head, ""] + \
        _table(["task", "predictor"] + [f"k = {k}" for k in ks], lines)


def _g(v: float) -> str:
    """A signed excess error (small negative values: the oracle's own sampling noise)."""
    return f"{v:.3f}" if abs(v) >= 1e-3 else f"{v:.1e}"


def _machine(prov: dict) -> str:
    """The device and host of a provenance record (older records: "cpu: cpu" for a CPU)."""
    plat, _, kind = prov.get("device", "?").partition(": ")
    dev = plat if not kind or kind.lower() == plat else f"{plat}: {kind}"
    return dev + (f" ({prov['host']})" if prov.get("host") else "")


def _summary(doc: str | None) -> str:
    """The first paragraph of an experiment's doc, on one line."""
    return " ".join((doc or "").strip().split("\n\n")[0].split())


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
             _summary(exp["doc"]), "",
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
    lines += ["Predictors:", ""] + [f"- {NAMES[p]}: {d}" for p, d in DEFINITIONS.items()
                                    if p in present] + [""]
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
        if cost := cost_section(run):
            lines += cost + [""]
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
