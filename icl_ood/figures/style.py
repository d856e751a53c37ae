"""The figures' shared look and helpers: predictor styles, print sizes and fonts, the log-axis
floor, reading rows into curves, drawing a curve with its band, titles, legends and saving."""

from __future__ import annotations

import contextlib
import contextvars
import json
import re
import textwrap
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D

from icl_ood import results

# What a predictor is called, how it is drawn and what it is: one place, the baselines'
# registry (Spec.label, Spec.style, Spec.doc) and baselines.MODEL for the Transformer's rows,
# saved with every evaluation (baselines.describe) and read back here (`saved`, `describe`).
# Results saved before evaluations recorded it are read with these two tables instead:
# predictor -> (legend label, color, line style, width), and predictor -> definition.
LEGACY_STYLE = {
    "model": ("Transformer", "black", "-", 2.0),
    "model_no_hint": ("Transformer, no family hint", "0.45", "--", 1.6),
    "model_wrong_hint": ("Transformer, wrong family hint", "tab:pink", "--", 1.6),
    "bayes_mixture": ("Bayes, pretraining prior", "tab:blue", "--", 1.6),
    "task_bayes": ("Bayes, task prior", "tab:green", ":", 1.8),
    "least_squares": ("least squares on x", "tab:orange", "-.", 1.2),
    "sin_ls_known": ("sinusoid LS, w known", "tab:red", (0, (3, 1, 1, 1)), 1.2),
    "lasso": ("Lasso", "tab:purple", "-.", 1.2),
    "relu_gd": ("2-layer ReLU net (GD)", "tab:brown", "-.", 1.2),
}
LEGACY_DOCS = {
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
# Sizes for print: a figure is at most a two-column text width wide, a single-column one a
# column wide, so it is printed at its own size and every font stays >= 7 pt.
TEXT_W, COLUMN_W = 6.75, 3.25  # inches (e.g. ICML's text and column widths)
MIN_PT = 7
RC = {"font.size": 7, "axes.titlesize": 7, "axes.labelsize": 7, "legend.fontsize": 7,
      "xtick.labelsize": 7, "ytick.labelsize": 7, "figure.titlesize": 8,
      "axes.grid": True, "grid.alpha": 0.3, "axes.spines.top": False,
      "axes.spines.right": False, "figure.dpi": 150, "savefig.bbox": "tight"}
FLOOR = 1e-4  # log axes: errors below this are drawn at it, marked with a triangle
FLOOR_LABEL = f"below {FLOOR:g} (drawn at {FLOOR:g})"


# What the predictors of the results being drawn are, as saved with them (see `saved`).
_SAVED: contextvars.ContextVar[dict | None] = contextvars.ContextVar("saved_predictors",
                                                                     default=None)


@contextlib.contextmanager
def saved(data: dict):
    """While drawing `data`: predictors' labels and styles as its evaluations saved them."""
    merged = {}
    for run in data.get("runs", []):
        merged.update(run.get("predictors") or {})
    token = _SAVED.set(merged)
    try:
        yield
    finally:
        _SAVED.reset(token)


# A line every figure being drawn states under its title (e.g. which runs are seed means).
_NOTE: contextvars.ContextVar[str] = contextvars.ContextVar("figure_note", default="")


@contextlib.contextmanager
def note(text: str):
    """While drawing: `text` added to every figure's title (nothing if empty)."""
    token = _NOTE.set(text)
    try:
        yield
    finally:
        _NOTE.reset(token)


def describe(predictor: str) -> dict | None:
    """{label, style: [color, line style, width], doc} of a predictor: as saved with the
    results being drawn (`saved`), else from LEGACY_STYLE and LEGACY_DOCS, else None."""
    got = (_SAVED.get() or {}).get(predictor)
    if got is not None:
        return got
    if predictor not in LEGACY_STYLE:
        return None
    label, *style = LEGACY_STYLE[predictor]
    return {"label": label, "style": style, "doc": LEGACY_DOCS.get(predictor, "")}


def look(predictor: str) -> tuple[str, str, Any, float]:
    """(legend label, color, line style, width) of a predictor (`describe`; one unknown
    there: grey with its name)."""
    got = describe(predictor)
    if got is None:
        return predictor, "0.6", "-", 1.0
    color, ls, lw = got["style"]
    return got["label"], color, (ls[0], tuple(ls[1])) if isinstance(ls, list) else ls, lw


# ------------------------------------------------------------------------------------ loading

load = results.load  # everything a figure needs, from saved files only


def series(rows: list[dict], predictor: str, **match) -> tuple[np.ndarray, ...]:
    """(k, normalized, lower, upper) of one predictor, rows filtered by `match`, sorted by k."""
    sel = [r for r in rows if r["predictor"] == predictor
           and all(r.get(f) == v for f, v in match.items())]
    sel.sort(key=lambda r: r["k"])
    return tuple(np.array([r[f] for r in sel], float)
                 for f in ("k", "normalized", "norm_lower", "norm_upper"))


def at_k(rows: list[dict], predictor: str, k: int, by: str) -> tuple[np.ndarray, ...]:
    """(value of `by`, normalized, lower, upper) of one predictor at one k, sorted by `by`."""
    sel = sorted((r for r in rows if r["predictor"] == predictor and r["k"] == k),
                 key=lambda r: r[by])
    return tuple(np.array([r[f] for r in sel], float)
                 for f in (by, "normalized", "norm_lower", "norm_upper"))


def _line(ax, x, y, lo, hi, predictor: str, label: bool = True, faint: bool = False) -> None:
    """One predictor's curve with its interval band (`faint`: another seed's, thin, no band)."""
    name, color, ls, lw = look(predictor)
    clip = np.maximum
    ax.plot(x, clip(y, FLOOR), color=color, ls=ls, lw=lw * (0.6 if faint else 1.0),
            alpha=0.55 if faint else 1.0, label=name if label and not faint else None)
    if not faint:
        ax.fill_between(x, clip(lo, FLOOR), clip(hi, FLOOR), color=color, alpha=0.15, lw=0)
        below = np.asarray(y) < FLOOR
        if below.any():  # so a curve on the floor is not read as a value of 1e-4
            ax.plot(np.asarray(x)[below], np.full(int(below.sum()), FLOOR), ls="none",
                    marker="v", ms=3.5, color=color, clip_on=False, zorder=5,
                    label=FLOOR_LABEL if label else None)


def _size(ncols: int, panel_w: float, height: float) -> tuple[float, float]:
    """(width, height) in inches: ncols panels of panel_w, between a column and a text width."""
    return min(TEXT_W, max(COLUMN_W, ncols * panel_w)), height


def _suptitle(fig, text: str, **kw) -> None:
    """The figure's title, wrapped to its width (8 pt: ~0.065 in per character), with the
    note of what is being drawn (`note`) as its last line."""
    width = int(fig.get_figwidth() / 0.065)
    if _NOTE.get():  # the figure grows by the note's lines, so its panels keep their size
        fig.set_figheight(fig.get_figheight() + 0.14 * len(textwrap.wrap(_NOTE.get(), width)))
        text += f"\n{_NOTE.get()}"
    fig.suptitle("\n".join(textwrap.fill(part, width) for part in text.split("\n")), **kw)


def _title(ax, text: str) -> None:
    """A panel's title, each line wrapped to the panel's width (7 pt: ~0.055 in a character)."""
    width = max(12, int(ax.get_position().width * ax.figure.get_figwidth() / 0.055))
    ax.set_title("\n".join(textwrap.fill(ln, width) for ln in text.split("\n")))


def _save(fig, out: Path, name: str) -> list[Path]:
    paths = [out / f"{name}.png", out / f"{name}.pdf"]
    try:
        for p in paths:
            with results.atomic(p) as tmp:
                # No creation date in PDFs: the same results redraw to the same bytes.
                fig.savefig(tmp, format=p.suffix[1:],
                            metadata={"CreationDate": None} if p.suffix == ".pdf" else None)
    finally:
        plt.close(fig)
    return paths


def _legend(fig, axes) -> None:
    handles, labels = {}, []
    for ax in np.ravel(axes):
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in handles:
                handles[lab] = h
                labels.append(lab)
    if FLOOR_LABEL in handles:  # one gray marker for every curve's floored points, last
        labels.remove(FLOOR_LABEL)
        labels.append(FLOOR_LABEL)
        handles[FLOOR_LABEL] = Line2D([], [], ls="none", marker="v", ms=4, color="0.4")
    if handles:
        # as many columns as the widest entry allows at the figure's width (7 pt: ~0.055 in per
        # character, ~0.5 in for the handle and padding)
        widest = max(len(lab) for lab in labels) * 0.055 + 0.5
        ncol = max(1, min(len(labels), int(fig.get_figwidth() // widest)))
        fig.legend([handles[lab] for lab in labels], labels, loc="upper center", ncol=ncol,
                   bbox_to_anchor=(0.5, 0.0), frameon=False)


def pretrained_on(dc: dict) -> list[str]:
    """The families a run's pretraining mixture gives positive weight."""
    return [f for f, w in zip(dc["families"], dc["weights"]) if w > 0]


def sin_freq_range(dc: dict) -> tuple[float, float]:
    """(lo, hi) of the sinusoid frequencies of a run's saved data config (the one place here
    that names the field)."""
    lo, hi = dc["sinusoid"]["freq"] if "sinusoid" in dc else dc["sin_freq"]  # older runs: flat
    return lo, hi


def seed_groups(runs: list[dict]) -> list[tuple[str, list[dict]]]:
    """Runs whose configs differ only in train.seed, grouped in order: [(title, runs)] (the
    title: the first run's label without its seed, and the number of seeds)."""
    groups: dict[str, list[dict]] = {}
    for r in runs:
        c = r["config"]
        key = json.dumps({**c, "name": None,
                          "train": {k: v for k, v in c["train"].items() if k != "seed"}},
                         sort_keys=True)
        groups.setdefault(key, []).append(r)
    return [(re.sub(r",? ?seed \d+$", "", g[0]["label"])
             + (f" ({len(g)} seeds)" if len(g) > 1 else ""), g) for g in groups.values()]


def _seed_lines(ax, members: list[dict], preds, get, **match) -> None:
    """k-sweep curves of `preds` (from `get(rows, predictor, **match)`) for runs that differ only
    in seed: the first run's in full, the model's of the others faint (baselines do not depend
    on the seed)."""
    for s, run in enumerate(members):
        for p in preds:
            if s and not p.startswith("model"):
                continue
            k, y, lo, hi = get(run["rows"]["k"], p, **match)
            if k.size:
                _line(ax, k, y, lo, hi, p, faint=s > 0)


def _seeds_note(groups) -> str:
    return " (further seeds: thin lines, no bands)" if any(len(g) > 1 for _, g in groups) else ""


def _kmax(run) -> int:
    return run["config"]["data"]["n_points"] - 1


def _fixed_ks(run) -> tuple[int, ...]:
    return tuple(k for k in (5, 20, _kmax(run)) if k <= _kmax(run))

