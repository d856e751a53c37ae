"""A text table of an evaluation's normalized errors, as `icl-ood evaluate` prints it."""

from __future__ import annotations

import math
from typing import Any


def _fmt(v: float) -> str:
    if not math.isfinite(v):
        return f"{v:>8}"
    return f"{v:8.3f}" if abs(v) < 100 else f"{v:8.3g}"


def format_table(result: Any, ks: list[int]) -> str:
    """Normalized error per predictor (rows) and task (columns) at each k in `ks`, plus the
    Bayes-mixture posterior family weights, of an `evaluate.EvalResult`."""
    tasks = list(dict.fromkeys(r["task"] for r in result.rows))
    preds = list(dict.fromkeys(r["predictor"] for r in result.rows))
    by = {(r["predictor"], r["task"], r["k"]): r["normalized"] for r in result.rows}
    wts = {(r["component"], r["task"], r["k"]): r["weight"] for r in result.weight_rows}
    comps = list(dict.fromkeys(r["component"] for r in result.weight_rows))
    width = max(8, *(len(t) + 1 for t in tasks))
    lines = []
    for k in ks:
        lines.append(f"k={k:<16}" + "".join(f"{t:>{width}}" for t in tasks))
        for p in preds:
            lines.append(f"  {p:<16}" + "".join(
                f"{_fmt(by[(p, t, k)]):>{width}}" if (p, t, k) in by else " " * width
                for t in tasks))
        for c in comps:
            lines.append(f"  {'P(' + c + ')':<16}" + "".join(
                f"{_fmt(wts[(c, t, k)]):>{width}}" if (c, t, k) in wts else " " * width
                for t in tasks))
    return "\n".join(lines)
