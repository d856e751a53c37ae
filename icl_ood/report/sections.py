"""The report's sections: tables with intervals and the sentences computed from them."""

from __future__ import annotations

import numpy as np

from icl_ood.figures import FLOOR, look, pretrained_on, sin_freq_range
from icl_ood.report.plugins import Section, register


def name(predictor: str) -> str:
    """What a predictor is called: its label as saved with the results being reported
    (figures.style.describe; the same as in the figures' legends)."""
    return look(predictor)[0]


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
    near = [what for what, r in (("the Bayes predictor of its pretraining prior", rb),
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
            lines.append([f"{a:g}", name(p)] + [_ci(_row(rows, p, k, a=a)) for k in ks])
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
    out += _table(["w"] + [name(p) for p in ("model", "bayes_mixture", "sin_ls_known")], lines)
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
        curves = " ".join(rise_sentence(run["rows"]["k"], p, fam)
                          for p in ("model", "bayes_mixture"))
        if sel:
            when = (f"puts >= 0.9 on the true family from k = {k90}" if k90 is not None else
                    f"stays below 0.9 on the true family up to k = {kmax}")
            out.append(f"- task {fam} (pretraining weight {wt:g}): the Bayes posterior {when}; at "
                       f"k = 10 the Transformer's error is {_f(m)}, Bayes {_f(b)}. {curves}".rstrip())
        else:
            out.append(f"- task {fam} (pretraining weight {wt:g}): Bayes not applicable; at k = 10 "
                       f"the Transformer's error is {_f(m)}. {curves}".rstrip())
    return out


MIN_RISE = 0.01  # the smallest rise of a learning curve the report calls a rise (normalized)


def rise_sentence(rows, predictor: str, task: str) -> str:
    """Whether `predictor`'s learning curve on `task` rises with k (k >= 1): the largest rise of
    its error from one k to a later one with the 90% intervals apart, counted only where its
    excess over the family oracle (paired per prompt, so label noise and query points that all
    predictors share cancel) also rises there, by at least MIN_RISE with intervals apart."""
    curve = sorted((r for r in rows if r["predictor"] == predictor and r["task"] == task
                    and r["k"] >= 1 and r.get("norm_excess_lower") is not None),
                   key=lambda r: r["k"])
    if not curve:
        return ""
    rises = [(b["normalized"] - a["normalized"], a, b) for i, a in enumerate(curve)
             for b in curve[i + 1:]
             if b["norm_lower"] > a["norm_upper"]
             and b["norm_excess_lower"] > a["norm_excess_upper"]
             and b["norm_excess"] - a["norm_excess"] >= MIN_RISE]
    who = name(predictor)
    if not rises:
        return (f"{who}: the error does not rise with k (beyond the 90% intervals and by "
                f"{MIN_RISE:g} more than the family oracle's).")
    _, a, b = max(rises, key=lambda t: t[0])
    return (f"{who}: the error rises with k, from {_f(a['normalized'])} at k = {a['k']} to "
            f"{_f(b['normalized'])} at k = {b['k']} (90% intervals apart; the excess over the "
            f"family oracle from {_g(a['norm_excess'])} to {_g(b['norm_excess'])}).")


COST_KS = (2, 5, 10, 20)


def slope_section(run, sweep: str = "slope") -> list[str]:
    """Mueller et al.'s test functions: Bayes posterior weight of each family and the errors
    (`sweep`: "slope", random x with the pretraining noise; "slope_grid", their protocol)."""
    rows, w = run["rows"][sweep], run["weights"].get(sweep, [])
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
    protocol = ("random x with the pretraining label noise" if sweep == "slope" else
                "Mueller et al.'s protocol: evenly spaced x, noiseless labels")
    head = (f"Test functions {expr.split('+')[0]} + m x (a sum of the two pretraining families), "
            f"{protocol} (normalized error, divided by the task's E[y^2]; "
            f"\"{name('task_bayes')}\" is the function itself, so its error is the label "
            "noise):")
    return [head, ""] + \
        _table(["m", "k"] + [f"P({f}), Bayes" for f in fams]
               + [name(p) for p in ("model", "bayes_mixture", "task_bayes")], lines)


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
                lines.append([fam, name(p)] + [
                    _ci(by.get((fam, p, k)), "norm_excess", "norm_excess_lower",
                        "norm_excess_upper", _g) for k in ks])
    head = ("Cost of model selection (normalized error minus that of the Bayes predictor that "
            "knows the prompt's family, paired on the same prompts [90% interval]; "
            f"\"{name('bayes_mixture')}\" is what ideal model selection pays):")
    return [head, ""] + \
        _table(["task", "predictor"] + [f"k = {k}" for k in ks], lines)


def _g(v: float) -> str:
    """A signed excess error (small negative values: the oracle's own sampling noise)."""
    return f"{v:.3f}" if abs(v) >= 1e-3 else f"{v:.1e}"


def _selection(run, data) -> list[str]:
    many = len(pretrained_on(run["config"]["data"])) > 1
    return selection_section(run) if many else []


def _cost(run, data) -> list[str]:
    return [] if run["config"]["data"].get("task_pool") else cost_section(run)


for _s in (Section("convex", lambda run, data: convex_section(run, data["experiment"]["mix"]),
                   sweeps=("convex",), order=10),
           Section("freq", lambda run, data: freq_section(run), sweeps=("freq",), order=20),
           Section("selection", _selection, sweeps=("k",), order=30),
           Section("slope", lambda run, data: slope_section(run), sweeps=("slope",), order=40),
           Section("slope_grid", lambda run, data: slope_section(run, "slope_grid"),
                   sweeps=("slope_grid",), order=41),
           Section("cost", _cost, sweeps=("k",), order=50)):
    register(_s)
