"""Figures from saved results only (never trains or evaluates): `draw_all(out)` redraws every
figure of a replicate folder into out/figures as PNG and PDF, from what `icl_ood.results.load`
reads (experiment.json and the result files it lists, checked against their manifests), never
from the experiment definitions in the code; it refuses (ResultsError, one line, nothing
drawn) when results are missing or incomplete.

Errors are normalized squared errors (predicting 0 scores 1, Garg et al.); bands are 90%
paired-bootstrap intervals over prompts; k is the number of in-context examples.
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D

from icl_ood import results

STYLE = {  # predictor -> (legend label, color, line style, width)
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
    name, color, ls, lw = STYLE.get(predictor, (predictor, "0.6", "-", 1.0))
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
    """The figure's title, wrapped to its width (8 pt: ~0.065 in per character)."""
    width = int(fig.get_figwidth() / 0.065)
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


# ------------------------------------------------------------------------------------ figures

CONVEX_PRED = ("model", "bayes_mixture", "task_bayes", "least_squares", "sin_ls_known")


def fig_error_vs_k(data, out: Path) -> list[Path]:
    """1. Normalized error vs k on f = a*f1 + (1-a)*f2, one row per pretraining mixture."""
    runs = [r for r in data["runs"] if r["rows"].get("convex")]
    if not runs:
        return []
    a_show = (1.0, 0.8, 0.5, 0.2, 0.0)
    f1, f2 = data["experiment"]["mix"]
    fig, axes = plt.subplots(len(runs), len(a_show), figsize=_size(len(a_show), 1.35, 1.5 * len(runs) + 0.3),
                             squeeze=False, sharex=True, sharey=True)
    for i, run in enumerate(runs):
        for j, a in enumerate(a_show):
            ax = axes[i, j]
            for p in CONVEX_PRED:
                k, y, lo, hi = series(run["rows"]["convex"], p, a=a)
                if k.size:
                    _line(ax, k, y, lo, hi, p)
            ax.set_yscale("log")
            ax.set_ylim(FLOOR, 3)
            if i == 0:
                ax.set_title(f"a = {a:g}" + {1.0: f" (pure {f1})", 0.0: f" (pure {f2})"}.get(a, ""))
            if j == 0:
                ax.set_ylabel(textwrap.fill(run["label"], 24) + "\nnormalized sq. error")
    fig.supxlabel("k (in-context examples)", y=0.02)
    _legend(fig, axes)
    _suptitle(fig, f"Error vs number of in-context examples on f = a*{f1} + (1-a)*{f2} "
                 "(bands: 90% bootstrap intervals)", y=1.0)
    fig.tight_layout()
    return _save(fig, out, "1_error_vs_k")


def _at_k_grid(data, sweep: str, by: str, preds: tuple[str, ...], xlabel: str, title: str,
               decorate=None):
    """Rows k = 5, 20, max; columns runs: normalized error vs `by` at that k (None: no data)."""
    runs = [r for r in data["runs"] if r["rows"].get(sweep)]
    if not runs:
        return None
    ks = _fixed_ks(runs[0])
    fig, axes = plt.subplots(len(ks), len(runs), figsize=_size(len(runs), 2.2, 1.5 * len(ks) + 0.4),
                             squeeze=False, sharex=True, sharey=True)
    for j, run in enumerate(runs):
        for i, k in enumerate(ks):
            ax = axes[i, j]
            for p in preds:
                x, y, lo, hi = at_k(run["rows"][sweep], p, k, by)
                if x.size:
                    _line(ax, x, y, lo, hi, p)
            if decorate:
                decorate(ax, run)
            ax.set_yscale("log")
            ax.set_ylim(FLOOR, 3)
            if i == 0:
                _title(ax, run["label"])
            if j == 0:
                ax.set_ylabel(f"k = {k}\nnormalized sq. error")
            if i == len(ks) - 1:
                ax.set_xlabel(xlabel)
    _legend(fig, axes)
    _suptitle(fig, title, y=1.0)
    fig.tight_layout()
    return fig


def fig_convex(data, out: Path) -> list[Path]:
    """2. Normalized error at fixed k vs the convex weight a: model, Bayes, oracle."""
    mix = data["experiment"]["mix"]
    fig = _at_k_grid(data, "convex", "a", ("model", "bayes_mixture", "task_bayes",
                                            "least_squares"),
                     f"a  (f = a*{mix[0]} + (1-a)*{mix[1]})" if mix else "a",
                     "Convex sweep: error at fixed k vs mixing weight a")
    return [] if fig is None else _save(fig, out, "2_convex_sweep")


def _shade_training_freq(ax, run) -> None:
    dc = run["config"]["data"]
    if "sinusoid" in pretrained_on(dc):
        lo_w, hi_w = sin_freq_range(dc)
        if hi_w > lo_w:
            ax.axvspan(lo_w, hi_w, color="gold", alpha=0.25, lw=0, label="pretraining frequencies")
        else:
            ax.axvline(lo_w, color="goldenrod", lw=3, alpha=0.5, label="pretraining frequency")
    freqs = [r["freq"] for r in run["rows"]["freq"]]
    ax.set_xscale("log")
    ax.set_xticks([w for w in (0.25, 0.5, 1, 2, 4, 8) if min(freqs) <= w <= max(freqs)])
    ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())


def fig_freq(data, out: Path) -> list[Path]:
    """3. Normalized error at fixed k vs sinusoid frequency, training range shaded."""
    fig = _at_k_grid(data, "freq", "freq", ("model", "bayes_mixture", "sin_ls_known",
                                             "least_squares"),
                     "frequency w",
                     "Frequency sweep: error on pure sinusoids A sin(w x + phase) vs their "
                     "angular frequency w",
                     decorate=_shade_training_freq)
    return [] if fig is None else _save(fig, out, "3_frequency_sweep")


def fig_examples(data, out: Path) -> list[Path]:
    """4. Example prompts: true f, in-context points, predictions across x (one file per run)."""
    paths = []
    mix = data["experiment"]["mix"] or ("f1", "f2")
    for run in data["runs"]:
        exs = run["examples"]
        if not exs:
            continue
        ks = sorted({int(k) for e in exs for k in e["k"]})
        fig, axes = plt.subplots(len(ks), len(exs), figsize=_size(len(exs), 1.7, 1.35 * len(ks) + 0.4),
                                 squeeze=False, sharex=True)
        for j, e in enumerate(exs):
            for i, k in enumerate(ks):
                ax = axes[i, j]
                ax.plot(e["grid_x"], e["truth"], color="0.5", lw=3, alpha=0.5, label="true f")
                for p, v in e["k"][str(k)].items():
                    name, color, ls, lw = STYLE.get(p, (p, "0.6", "-", 1.0))
                    ax.plot(e["grid_x"], v, color=color, ls=ls, lw=lw * 0.8, label=name)
                ax.scatter(e["context_x"][:k], e["context_y"][:k], s=10, color="crimson",
                           zorder=5, label="in-context examples")
                lim = 1.5 * max(np.abs(e["truth"]).max(), 0.5)
                ax.set_ylim(-lim, lim)
                if i == 0:
                    ax.set_title(re.sub(r"\s*=\s*", " = ", e["task"]))
                if j == 0:
                    ax.set_ylabel(f"k = {k}\ny")
                if i == len(ks) - 1:
                    ax.set_xlabel("x")
        _legend(fig, axes)
        keys = [f"a: f = a*{mix[0]} + (1-a)*{mix[1]}" if any(e["family"] == "convex" for e in exs)
                else "", "w: sinusoid frequency" if any(e["task"].startswith("w") for e in exs)
                else ""]
        keys = "; ".join(filter(None, keys))
        _suptitle(fig, f"Example prompts, {run['label']}: predictions across x given the first k "
                  "points" + (f" ({keys})" if keys else ""), y=1.0)
        fig.tight_layout()
        paths += _save(fig, out, f"4_examples_{run['name']}")
    return paths


def fig_selection(data, out: Path) -> list[Path]:
    """5. Model selection: Bayes posterior weight of the true family vs k, next to the error
    (runs that differ only in seed share a column: further seeds thin)."""
    runs = [r for r in data["runs"]
            if r["rows"].get("k") and len(pretrained_on(r["config"]["data"])) > 1]
    if not runs:
        return []
    groups = seed_groups(runs)
    fams = max(len(r["config"]["data"]["families"]) for r in runs)
    fig, axes = plt.subplots(1 + fams, len(groups),
                             figsize=_size(len(groups), 1.9, 1.4 * (1 + fams) + 0.4),
                             squeeze=False, sharex=True)
    for j, (title, members) in enumerate(groups):
        run = members[0]
        dc = run["config"]["data"]
        ax = axes[0, j]
        _title(ax, title)
        w = run["weights"].get("k", [])
        for c, fam in enumerate(dc["families"]):
            sel = sorted((r for r in w if r["task"] == fam and r["component"] == fam),
                         key=lambda r: r["k"])
            if sel:
                k = np.array([r["k"] for r in sel])
                # own dash and width per family: curves that coincide (at 1) stay visible
                ax.plot(k, [r["weight"] for r in sel], color=f"C{c}", ls=("-", "--", ":")[c % 3],
                        lw=2.2 - 0.6 * (c % 3), label=f"task: {fam}")
                ax.fill_between(k, [r["lower"] for r in sel], [r["upper"] for r in sel],
                                color=f"C{c}", alpha=0.15, lw=0)
        if not w:
            ax.text(0.5, 0.5, "no Bayes posterior weights saved",
                    ha="center", va="center", transform=ax.transAxes)
        ax.set_ylim(-0.02, 1.02)
        ax.legend(loc="lower right", frameon=False)
        if j == 0:
            ax.set_ylabel("Bayes posterior weight\nof the true family")
        for i, fam in enumerate(dc["families"], start=1):
            ax = axes[i, j]
            _seed_lines(ax, members, ("model", "model_no_hint", "bayes_mixture",
                                      "least_squares", "lasso", "relu_gd", "sin_ls_known"),
                        series, task=fam)
            ax.set_yscale("log")
            ax.set_ylim(FLOOR, 3)
            _title(ax, f"task {fam} (weight {dc['weights'][i - 1]:g})")
            if j == 0:
                ax.set_ylabel("normalized sq. error")
    fig.supxlabel("k (in-context examples)", y=0.02)
    _legend(fig, axes[1:])
    _suptitle(fig, "Model selection: posterior family weight vs k, and the error on each "
              "pretraining family (weight: its share of pretraining)" + _seeds_note(groups), y=1.0)
    fig.tight_layout()
    return _save(fig, out, "5_model_selection")


MODEL_PRED = ("model", "model_no_hint", "model_wrong_hint")
COST_PRED = MODEL_PRED + ("bayes_mixture", "least_squares")


def excess_series(rows: list[dict], predictor: str, **match) -> tuple[np.ndarray, ...]:
    """(k, normalized excess error over the row's `excess_over` predictor, paired 90% lower,
    upper) of one predictor, sorted by k (empty where rows carry no excess)."""
    sel = sorted((r for r in rows if r["predictor"] == predictor and r.get("norm_excess") is not None
                  and all(r.get(f) == v for f, v in match.items())), key=lambda r: r["k"])
    return tuple(np.array([r[f] for r in sel], float)
                 for f in ("k", "norm_excess", "norm_excess_lower", "norm_excess_upper"))


def fig_selection_cost(data, out: Path) -> list[Path]:
    """7. The cost of model selection: on each pretraining family, each predictor's error minus
    the family oracle's (the Bayes predictor of the prompt's own family, which knows it)."""
    runs = [r for r in data["runs"] if any(x.get("norm_excess") is not None
                                            for x in r["rows"].get("k", []))]
    if not runs:
        return []
    fams = list(dict.fromkeys(f for r in runs for f in r["config"]["data"]["families"]))
    groups = seed_groups(runs)
    fig, axes = plt.subplots(len(fams), len(groups), figsize=_size(len(groups), 1.9,
                                                       1.6 * len(fams) + 0.6),
                             squeeze=False, sharex=True, sharey=True)
    for j, (title, members) in enumerate(groups):
        dc = members[0]["config"]["data"]
        wts = dict(zip(dc["families"], dc["weights"]))
        for i, fam in enumerate(fams):
            ax = axes[i, j]
            _seed_lines(ax, members, COST_PRED, excess_series, task=fam)
            ax.set_yscale("log")
            ax.set_ylim(FLOOR, 3)
            _title(ax, (f"{title}\n" if i == 0 else "")
                         + f"task {fam} (weight {wts.get(fam, 0):g})")
            if j == 0:
                ax.set_ylabel("error − oracle's")
    fig.supxlabel("k (in-context examples)", y=0.02)
    _legend(fig, axes)
    _suptitle(fig, "Cost of model selection: normalized error minus that of the Bayes predictor "
              "that knows the prompt's family (paired 90% intervals; weight: the family's share "
              "of pretraining)" + _seeds_note(groups), y=1.02)
    fig.tight_layout()
    return _save(fig, out, "7_selection_cost")


SLOPE_KS = (10, 20, 40, 80)


def fig_slope(data, out: Path) -> list[Path]:
    """8. Mueller et al.'s test functions A sin(w x) + m x vs the slope m: the Bayes posterior
    weight of each pretraining family, and the error at k = 10, 20, 40, 80."""
    runs = [r for r in data["runs"] if r["rows"].get("slope")]
    if not runs:
        return []
    ks = [k for k in SLOPE_KS if k <= _kmax(runs[0])]
    fig, axes = plt.subplots(2, len(runs) * len(ks), figsize=_size(len(runs) * len(ks), 1.6, 3.6),
                             squeeze=False, sharex=True)
    for j, run in enumerate(runs):
        fams = run["config"]["data"]["families"]
        for i, k in enumerate(ks):
            col = j * len(ks) + i
            ax = axes[0, col]
            w = [r for r in run["weights"].get("slope", []) if r["k"] == k]
            for c, fam in enumerate(fams):
                sel = sorted((r for r in w if r["component"] == fam), key=lambda r: r["slope"])
                if sel:
                    x = [r["slope"] for r in sel]
                    ax.plot(x, [r["weight"] for r in sel], color=f"C{c}", marker=".",
                            label=f"P({fam} | data), Bayes")
                    ax.fill_between(x, [r["lower"] for r in sel], [r["upper"] for r in sel],
                                    color=f"C{c}", alpha=0.15, lw=0)
            ax.set_ylim(-0.02, 1.02)
            _title(ax, f"{run['label']}\nk = {k}" if i == 0 else f"k = {k}")
            if col == 0:
                ax.set_ylabel("Bayes posterior weight\n(mean over prompts)")
            ax = axes[1, col]
            for p in ("model", "bayes_mixture", "task_bayes", "least_squares"):
                x, y, lo, hi = at_k(run["rows"]["slope"], p, k, "slope")
                if x.size:
                    _line(ax, x, y, lo, hi, p)
            ax.set_yscale("log")
            ax.set_ylim(0.05, 3)
            ax.set_xlabel("slope m")
            if col == 0:
                ax.set_ylabel("normalized sq. error\n(task prior Bayes: the noise)")
    _legend(fig, axes)
    _suptitle(fig, "Test functions A sin(w x) + m x (the pretraining sine plus a line): Bayes "
                 "posterior over the pretraining families, and the error, vs slope m", y=1.0)
    fig.tight_layout()
    return _save(fig, out, "8_slope_sweep")


def fig_training(data, out: Path) -> list[Path]:
    """6. Training curves: loss (raw squared error, mean over prompt positions) per family
    (runs that differ only in seed share a panel: further seeds thin)."""
    runs = [r for r in data["runs"] if r["metrics"]]
    if not runs:
        return []
    groups = seed_groups(runs)
    fams = list(dict.fromkeys(f for r in runs for f in pretrained_on(r["config"]["data"])))
    ncol = min(len(groups), 4)
    nrow = -(-len(groups) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=_size(ncol, 2.0, 1.6 * nrow + 0.5),
                             squeeze=False, sharey=True)
    for ax in axes.ravel()[len(groups):]:
        ax.set_visible(False)
    for j, (title, members) in enumerate(groups):
        ax = axes.ravel()[j]
        for s, run in enumerate(members):
            m = run["metrics"]
            step = [r["step"] for r in m]
            kw = {"alpha": 0.5, "lw": 0.6, "label": None} if s else {}
            ax.plot(step, [r["loss"] for r in m], color="black",
                    **({"lw": 1.5, "label": "all prompts"} | kw))
            for fam in pretrained_on(run["config"]["data"]):
                ax.plot(step, [r["loss_per_family"].get(fam) or np.nan for r in m],
                        color=f"C{fams.index(fam)}", **({"lw": 1, "label": f"{fam} prompts"} | kw))
        ax.set_yscale("log")
        ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        _title(ax, title)
        if j % ncol == 0:
            ax.set_ylabel("training loss\n(raw sq. error, mean over k)")
    fig.supxlabel("training step", y=0.02)
    _legend(fig, axes)
    _suptitle(fig, "Training curves" + _seeds_note(groups), y=1.02)
    fig.tight_layout()
    return _save(fig, out, "6_training_curves")


FIGURES = (fig_error_vs_k, fig_convex, fig_freq, fig_examples, fig_selection, fig_training,
           fig_selection_cost, fig_slope)


def draw_all(out: str | Path, force: bool = False) -> list[Path]:
    """Redraws every figure of a replicate folder from its saved results, then writes
    figures/manifest.json (the result files drawn, with their checksums); returns the paths.

    ResultsError (nothing drawn) if the results are missing or incomplete, or if the figures
    there were drawn from more results or a later checkpoint (unless `force`)."""
    return draw(load(out), Path(out), force)


def draw_run(run_dir: str | Path, force: bool = False) -> list[Path]:
    """The figures of a plain run folder (`icl-ood train`, `icl-ood evaluate`) into
    run_dir/figures: training curves and every sweep it has evaluated (latest checkpoint, most
    prompts; `results.load_run`)."""
    return draw(results.load_run(run_dir), Path(run_dir), force)


def draw(data: dict, out: Path, force: bool = False) -> list[Path]:
    """Every figure `data` (from `results.load` or `load_run`) has into out/figures, then its
    manifest; refuses to replace figures drawn from more results or a later checkpoint."""
    rank = [len(data["inputs"]), data["step"]]
    results.check_replace(out / "figures", rank, force=force, what="figures")
    paths = []
    with plt.rc_context(RC):
        for fig_fn in FIGURES:
            paths += fig_fn(data, out / "figures")
    results.write_manifest(out / "figures", "figures", data["inputs"], paths, rank=rank)
    return paths
