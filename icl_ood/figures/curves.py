"""Error curves: error vs k on the convex mixtures (1), error at fixed k vs the mixing weight (2)
and the sinusoid frequency (3), example prompts (4), training curves (6)."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np

from icl_ood.figures import style
from icl_ood.figures.plugins import figure
from icl_ood.figures.style import (
    FLOOR,
    _fixed_ks,
    _legend,
    _line,
    _seeds_note,
    _size,
    _suptitle,
    _title,
    at_k,
    look,
    pretrained_on,
    seed_groups,
    series,
    sin_freq_range,
)

CONVEX_PRED = ("model", "bayes_mixture", "task_bayes", "least_squares", "sin_ls_known")


@figure("error_vs_k", file="1_error_vs_k", sweeps=("convex",), order=10, caption=(
    "error vs k on convex combinations for several a, the Transformer next to the Bayes "
    "predictor of its pretraining prior, the Bayes predictor of the task's own prior and least "
    "squares (one row per pretraining mixture)."))
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
    return style._save(fig, out, "1_error_vs_k")


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


@figure("convex", file="2_convex_sweep", sweeps=("convex",), order=20, caption=(
    "error at fixed k vs a: generalization to mixtures would follow the task-prior Bayes "
    "predictor; model selection among the pretraining families follows the pretraining-prior "
    "Bayes predictor."))
def fig_convex(data, out: Path) -> list[Path]:
    """2. Normalized error at fixed k vs the convex weight a: model, Bayes, oracle."""
    mix = data["experiment"]["mix"]
    fig = _at_k_grid(data, "convex", "a", ("model", "bayes_mixture", "task_bayes",
                                            "least_squares"),
                     f"a  (f = a*{mix[0]} + (1-a)*{mix[1]})" if mix else "a",
                     "Convex sweep: error at fixed k vs mixing weight a")
    return [] if fig is None else style._save(fig, out, "2_convex_sweep")


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


@figure("freq", file="3_frequency_sweep", sweeps=("freq",), order=30, caption=(
    "error on pure sinusoids vs their frequency, the pretraining frequencies shaded."))
def fig_freq(data, out: Path) -> list[Path]:
    """3. Normalized error at fixed k vs sinusoid frequency, training range shaded."""
    fig = _at_k_grid(data, "freq", "freq", ("model", "bayes_mixture", "sin_ls_known",
                                             "least_squares"),
                     "frequency w",
                     "Frequency sweep: error on pure sinusoids A sin(w x + phase) vs their "
                     "angular frequency w",
                     decorate=_shade_training_freq)
    return [] if fig is None else style._save(fig, out, "3_frequency_sweep")


@figure("examples", file="4_examples", needs=("examples",), order=40, caption=(
    "single prompts: the true function, the in-context points and the curves each predictor "
    "draws across x."))
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
                    name, color, ls, lw = look(p)
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
        paths += style._save(fig, out, f"4_examples_{run['name']}")
    return paths



@figure("training", file="6_training_curves", needs=("metrics",), order=60,
        caption="training loss per family vs step.")
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
            if "loss_lower" in m[0]:  # a mean over seeds (figures.runs): its band over seeds
                ax.fill_between(step, [r["loss_lower"] for r in m], [r["loss_upper"] for r in m],
                                color="black", alpha=0.15, lw=0)
            for fam in pretrained_on(run["config"]["data"]):
                ax.plot(step, [r["loss_per_family"].get(fam) or np.nan for r in m],
                        color=f"C{fams.index(fam)}", **({"lw": 1, "label": f"{fam} prompts"} | kw))
        ax.set_yscale("log")
        lo, hi = ax.get_ylim()
        if np.floor(np.log10(hi)) >= np.ceil(np.log10(lo)):  # a power of 10 is labelled
            ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        _title(ax, title)
        if j % ncol == 0:
            ax.set_ylabel("training loss\n(raw sq. error, mean over k)")
    fig.supxlabel("training step", y=0.02)
    _legend(fig, axes)
    _suptitle(fig, "Training curves" + _seeds_note(groups), y=1.02)
    fig.tight_layout()
    return style._save(fig, out, "6_training_curves")

