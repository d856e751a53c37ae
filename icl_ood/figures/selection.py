"""Model selection: the Bayes posterior weight of the true family vs k (5), the cost of
selection over the family oracle (7), the slope sweep of Mueller et al.'s test functions (8),
and error and cost along training (9)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import NullFormatter

from icl_ood.figures import style
from icl_ood.figures.plugins import figure
from icl_ood.figures.style import (
    FLOOR,
    _kmax,
    _legend,
    _line,
    _seed_lines,
    _seeds_note,
    _size,
    _suptitle,
    _title,
    at_k,
    pretrained_on,
    seed_groups,
    series,
)


@figure("selection", file="5_model_selection", sweeps=("k",), order=50, caption=(
    "how fast the Bayes posterior commits to the true family as k grows, next to the "
    "Transformer's error on each pretraining family."))
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
    return style._save(fig, out, "5_model_selection")


MODEL_PRED = ("model", "model_no_hint", "model_wrong_hint")
COST_PRED = MODEL_PRED + ("bayes_mixture", "least_squares")


def excess_series(rows: list[dict], predictor: str, **match) -> tuple[np.ndarray, ...]:
    """(k, normalized excess error over the row's `excess_over` predictor, paired 90% lower,
    upper) of one predictor, sorted by k (empty where rows carry no excess)."""
    sel = sorted((r for r in rows if r["predictor"] == predictor and r.get("norm_excess") is not None
                  and all(r.get(f) == v for f, v in match.items())), key=lambda r: r["k"])
    return tuple(np.array([r[f] for r in sel], float)
                 for f in ("k", "norm_excess", "norm_excess_lower", "norm_excess_upper"))


@figure("selection_cost", file="7_selection_cost", sweeps=("k",), order=70, caption=(
    "the cost of model selection per k: error minus that of the Bayes predictor that knows "
    "the prompt's family, for the Transformer (with a hinted model also without and with a "
    "wrong family hint) and the Bayes predictor of the pretraining prior."))
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
    return style._save(fig, out, "7_selection_cost")


ALONG_KS = (2, 5, 10, 20)


def _value(rows: list[dict], predictor: str, task: str, k: int, field: str) -> float:
    """rows' `field` of one predictor, task and k, floored at FLOOR (nan if absent)."""
    v = [r[field] for r in rows if r["predictor"] == predictor and r["task"] == task
         and r["k"] == k and r.get(field) is not None]
    return max(v[0], FLOOR) if v else np.nan


@figure("cost_along", file="9_selection_along_training", sweeps=("k",), needs=("along",),
        order=90)
def fig_cost_along(data, out: Path) -> list[Path]:
    """9. Along training (a run evaluated at kept checkpoints, evaluate --steps): per pretraining
    family, the model's normalized error and its cost of selection (error minus the family
    oracle's) at fixed k against training steps, the Bayes predictor of the pretraining prior
    dashed."""
    runs = [r for r in data["runs"] if len(r.get("along", {}).get("k", {})) > 1]
    if not runs:
        return []
    run = runs[0]
    by_step = run["along"]["k"]
    steps = sorted(by_step)
    fams = run["config"]["data"]["families"]
    wts = dict(zip(fams, run["config"]["data"]["weights"]))
    ks = [k for k in ALONG_KS if k <= _kmax(run)]
    fig, axes = plt.subplots(2, len(fams), figsize=_size(len(fams), 2.6, 4.4), squeeze=False,
                             sharex=True)
    for j, fam in enumerate(fams):
        for i, field in enumerate(("normalized", "norm_excess")):
            ax = axes[i, j]
            for c, k in enumerate(ks):
                ax.plot(steps, [_value(by_step[st], "model", fam, k, field) for st in steps],
                        color=f"C{c}", marker=".")
                ax.axhline(_value(by_step[steps[-1]], "bayes_mixture", fam, k, field),
                           color=f"C{c}", ls="--", lw=1.2)
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set_yscale("log")
            ax.set_ylim(FLOOR, 3)
            if i == 0:
                _title(ax, f"task {fam} (weight {wts.get(fam, 0):g})")
            if j == 0:
                ax.set_ylabel(("normalized sq. error", "error − oracle's")[i])
    fig.supxlabel("training step", y=0.02)
    for c, k in enumerate(ks):  # colour: k; line: the predictor
        axes[0, 0].plot([], [], color=f"C{c}", lw=2, label=f"k = {k}")
    axes[0, 0].plot([], [], color="0.3", marker=".", label="Transformer")
    axes[0, 0].plot([], [], color="0.3", ls="--", label="Bayes (pretraining prior)")
    _legend(fig, axes)
    _suptitle(fig, f"{run['label']}: error and cost of model selection along training "
              "(the oracle: the Bayes predictor that knows the prompt's family; costs below "
              f"{FLOOR:g} drawn at it)", y=1.02)
    fig.tight_layout()
    return style._save(fig, out, "9_selection_along_training")


SLOPE_KS = (10, 20, 40, 80)


PROTOCOLS = {"slope": "random x, the pretraining label noise (ours)",
             "slope_grid": "evenly spaced x, noiseless (Mueller et al.'s)"}


@figure("slope", file="8_slope_sweep", sweeps=("slope",), order=80, caption=(
    "Mueller et al.'s test functions A sin(w x) + m x vs the slope m, at random x with the "
    "pretraining label noise: the Bayes posterior weight of each pretraining family (does it "
    "blend or commit?) and the errors at k = 10, 20, 40, 80."))
def fig_slope(data, out: Path) -> list[Path]:
    """8. Mueller et al.'s test functions vs the slope m, our protocol (random x, label noise)."""
    return _slope_figure(data, out, "slope", "8_slope_sweep")


@figure("slope_grid", file="8_slope_grid_sweep", sweeps=("slope_grid",), order=81, caption=(
    "The same on Mueller et al.'s own protocol: noiseless labels at evenly spaced x."))
def fig_slope_grid(data, out: Path) -> list[Path]:
    """8b. Mueller et al.'s test functions vs the slope m on their protocol (grid x, noiseless)."""
    return _slope_figure(data, out, "slope_grid", "8_slope_grid_sweep")


def _slope_figure(data, out: Path, sweep: str, file: str) -> list[Path]:
    """Per run and k: the Bayes posterior weight of each pretraining family, and the errors."""
    runs = [r for r in data["runs"] if r["rows"].get(sweep)]
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
            w = [r for r in run["weights"].get(sweep, []) if r["k"] == k]
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
                x, y, lo, hi = at_k(run["rows"][sweep], p, k, "slope")
                if x.size:
                    _line(ax, x, y, lo, hi, p)
            ax.set_yscale("log")
            ax.set_ylim(1e-3 if sweep == "slope_grid" else 0.05, 3)
            ax.set_xlabel("slope m")
            if col == 0:
                ax.set_ylabel("normalized sq. error" + (
                    "\n(task prior Bayes: the noise)" if sweep == "slope" else ""))
    _legend(fig, axes)
    _suptitle(fig, "Test functions A sin(w x) + m x (the pretraining sine plus a line), "
                   f"{PROTOCOLS[sweep]}: Bayes posterior over the pretraining families, and the "
                   "error, vs slope m", y=1.0)
    fig.tight_layout()
    return style._save(fig, out, file)

