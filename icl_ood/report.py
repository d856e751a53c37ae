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


def _val(rows, predictor, k, **match) -> float | None:
    for r in rows:
        if r["predictor"] == predictor and r["k"] == k and all(r.get(f) == v
                                                                for f, v in match.items()):
            return r["normalized"]
    return None


def _f(v: float | None) -> str:
    return "–" if v is None else (f"{v:.3f}" if v >= 1e-3 else f"{v:.1e}")


def _table(header: list[str], lines: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + \
        ["| " + " | ".join(ln) + " |" for ln in lines]


def _closer(rows, k: int, a_vals) -> tuple[str, float, float]:
    """Which reference the model's error tracks over interior a at k: mean |log10 ratio|."""
    d_b, d_o = [], []
    for a in a_vals:
        m, b, o = (_val(rows, p, k, a=a) for p in ("model", "bayes_mixture", "task_bayes"))
        if None in (m, b, o):
            continue
        lm, lb, lo = (np.log10(max(v, FLOOR)) for v in (m, b, o))
        d_b.append(abs(lm - lb))
        d_o.append(abs(lm - lo))
    if not d_b:
        return "neither (missing baselines)", np.nan, np.nan
    db, do = float(np.mean(d_b)), float(np.mean(d_o))
    return ("the Bayes predictor of its pretraining prior" if db < do
            else "the Bayes predictor of the task's own prior"), db, do


def convex_section(run, mix) -> list[str]:
    rows = run["rows"]["convex"]
    kmax = run["config"]["data"]["n_points"] - 1
    ks = [k for k in (5, 10, 20, kmax) if k <= kmax]
    lines = []
    for a in (1.0, 0.5, 0.0):
        for p in ("model", "bayes_mixture", "task_bayes"):
            lines.append([f"{a:g}", NAMES[p]] + [_f(_val(rows, p, k, a=a)) for k in ks])
    out = [(f"Normalized error on f = a*{mix[0]} + (1-a)*{mix[1]} "
           f"({rows[0]['n_prompts']} prompts per a):"), ""]
    out += _table(["a", "predictor"] + [f"k={k}" for k in ks], lines)
    interior = sorted({r["a"] for r in rows if 0 < r["a"] < 1})
    for k in (min(10, kmax), kmax):
        who, db, do = _closer(rows, k, interior)
        m_mid, b_mid, o_mid = (_val(rows, p, k, a=0.5)
                               for p in ("model", "bayes_mixture", "task_bayes"))
        side = "" if None in (m_mid, b_mid) else (
            f", {'below' if m_mid < b_mid else 'above'} the Bayes predictor's {_f(b_mid)}")
        out += ["", (f"At k = {k}, over the mixtures 0 < a < 1 the Transformer's error tracks "
                     f"{who} (mean |log10 ratio|, errors floored at {FLOOR:g}: {db:.2f} to Bayes, "
                     f"{do:.2f} to the oracle); at a = 0.5 it is {_f(m_mid)}{side}, "
                     f"where the oracle reaches {_f(o_mid)}.")]
    return out


def freq_section(run) -> list[str]:
    rows = run["rows"]["freq"]
    kmax = run["config"]["data"]["n_points"] - 1
    freqs = sorted({r["freq"] for r in rows})
    k = kmax
    lines = [[f"{w:g}"] + [_f(_val(rows, p, k, freq=w)) for p in
                           ("model", "bayes_mixture", "sin_ls_known")] for w in freqs]
    dc = run["config"]["data"]
    lo, hi = sin_freq_range(dc)
    inside = [_val(rows, "model", k, freq=w) for w in freqs if lo <= w <= hi]
    outside = [(w, _val(rows, "model", k, freq=w)) for w in freqs if not lo <= w <= hi]
    out = [f"Normalized error on pure sinusoids A sin(w x + phase) at k = {k}:", ""]
    out += _table(["w", NAMES["model"], NAMES["bayes_mixture"], NAMES["sin_ls_known"]], lines)
    if "sinusoid" in pretrained_on(dc) and inside and outside:
        worst = max(outside, key=lambda t: t[1])
        out += ["", (f"Pretraining frequencies w in [{lo:g}, {hi:g}]: the Transformer's error there "
                f"is {_f(max(inside))} at most; outside it rises to {_f(worst[1])} (w = {worst[0]:g}), "
                "while least squares on sinusoid features with w known stays near 0.")]
    return out


def selection_section(run) -> list[str]:
    dc = run["config"]["data"]
    w = run["weights"].get("k", [])
    out = []
    for fam, wt in zip(dc["families"], dc["weights"]):
        sel = sorted((r for r in w if r["task"] == fam and r["component"] == fam),
                     key=lambda r: r["k"])
        k90 = next((r["k"] for r in sel if r["weight"] >= 0.9), None)
        m = _val(run["rows"]["k"], "model", 10, task=fam)
        b = _val(run["rows"]["k"], "bayes_mixture", 10, task=fam)
        if sel:
            out.append(f"- task {fam} (pretraining weight {wt:g}): the Bayes posterior puts >= 0.9 "
                       f"on the true family from k = {k90 if k90 is not None else '> max k'}; at "
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
                    _g(by[(fam, p, k)]["norm_excess"]) if (fam, p, k) in by else "–" for k in ks])
    head = ("Cost of model selection (normalized error minus that of the Bayes predictor that "
            "knows the prompt's family, paired on the same prompts; Bayes (pretraining prior) "
            "is what ideal model selection pays):")
    return [head, ""] + \
        _table(["task", "predictor"] + [f"k = {k}" for k in ks], lines)


def _g(v: float) -> str:
    """A signed excess error (small negative values: the oracle's own sampling noise)."""
    return f"{v:.3f}" if abs(v) >= 1e-3 else f"{v:.1e}"


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
             f"device {prov.get('device', '?')} · seeds {prov.get('seeds', '?')} · "
             f"stage wall times (s): {json.dumps({k: v['wall_s'] for k, v in prov.get('stages', {}).items()})}"),
             "", ("Errors are normalized squared errors (predicting 0 scores 1); k is the number of "
             "in-context examples; intervals in the figures are 90% paired-bootstrap intervals."), ""]
    for run in data["runs"]:
        m = run["metrics"][-1] if run["metrics"] else {}
        total = run["config"]["train"]["steps"]
        loss = m.get("loss")
        lines += [f"## {run['label']} (`{run['name']}`)", "",
                  f"Results from the checkpoint of step {run['step']} (of {total} training steps"
                  + ("" if run["step"] == total else "; training not finished") + "), "
                  f"{run['n_prompts']} prompts per task. Training loss logged at step "
                  f"{m.get('step', 0)} (raw squared error, mean over k): "
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
