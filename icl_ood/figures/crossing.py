"""When a model's error crosses the Bayes predictor of its pretraining prior along training: the
rule, the crossing in training compute, a power law of it, and the figures.

The rule decides from the paired difference model minus Bayes (`gap_bayes_mixture` of the
model's rows, with its 90% bootstrap interval over the same prompts) at each scored step: a step
is *below* where the interval lies wholly below 0, *above* where it lies wholly above 0, and
undecided where it contains 0. The crossing lies between the last below step and the first above
step after it; a model never below, or never above after being below, has not crossed within the
steps scored.

`fig_crossing`: per mixture a (columns) and k (rows), the paired difference against the training
step, one colour per grid task, each seed a thin line (its 90% interval a band) and the mean over
seeds thick. `fig_crossing_compute`: each seed's crossing on a = 0.5 in steps, examples seen and
model FLOPs against the grid's knob."""

from __future__ import annotations

import math
from pathlib import Path
from typing import NamedTuple

import matplotlib
import matplotlib.pyplot as plt
import numpy as np

from icl_ood.figures import style
from icl_ood.figures.along import along_rows, gaps, report_ks
from icl_ood.figures.plugins import figure


class Crossing(NamedTuple):
    """`kind`: "crossed" (between steps `below` and `above`), "never below", "stays below" (below
    at some step, never above after it) or "no rows"; `last`: the last step scored; `again`: the
    first step after a crossing that is below once more (None: none)."""

    kind: str
    below: int | None = None
    above: int | None = None
    last: int | None = None
    again: int | None = None

    @property
    def step(self) -> float:
        """The crossing step's point estimate: the geometric mean of its bracket (NaN: none)."""
        return math.sqrt(self.below * self.above) if self.kind == "crossed" else math.nan

    def describe(self) -> str:
        if self.kind == "crossed":
            return f"crossed between steps {self.below} and {self.above}" + (
                f", below again at {self.again}" if self.again else "")
        if self.kind == "never below":
            return f"never below Bayes (paired interval) within {self.last} steps"
        if self.kind == "stays below":
            return (f"below Bayes at step {self.below}, not above it after, within {self.last} "
                    "steps")
        return "no paired rows"


def crossing(by_step: dict[int, list[dict]], task: str, k: int) -> Crossing:
    """The crossing of one run (module docstring)."""
    g = gaps(by_step, task, k)
    if not g:
        return Crossing("no rows")
    last = g[-1][0]
    below = None
    for step, _, lo, hi in g:
        if hi < 0:
            below = step
        elif lo > 0 and below is not None:
            again = next((s for s, _, _, h in g if s > step and h < 0), None)
            return Crossing("crossed", below, step, last, again)
    return Crossing("never below", last=last) if below is None else \
        Crossing("stays below", below, None, last)


def over_seeds(cs: list[Crossing]) -> str:
    """The crossing steps of several seeds: the median and range of the point estimates when
    every seed crossed, else how many did."""
    steps = [c.step for c in cs if c.kind == "crossed"]
    if not steps:
        return f"none of {len(cs)} seeds crossed within the steps scored"
    if len(steps) < len(cs):
        return f"{len(steps)} of {len(cs)} seeds crossed (at about {', '.join(f'{s:.0f}' for s in steps)})"
    return (f"median {np.median(steps):.0f} [{min(steps):.0f}, {max(steps):.0f}] over "
            f"{len(steps)} seeds")


UNITS = ("steps", "examples", "FLOPs")  # the crossing's training compute in three units


def per_step(cfg: dict) -> dict[str, float]:
    """{unit: its amount per training step} of a run's config: 1 step, batch_size examples,
    config.flops_per_step model FLOPs."""
    from icl_ood.config import Config, flops_per_step
    c = Config.from_dict(cfg)
    return {"steps": 1.0, "examples": float(c.train.batch_size), "FLOPs": flops_per_step(c)}


class Law(NamedTuple):
    """log10(crossing) = intercept + slope * log10(x), fitted by least squares over every
    seed's crossing; `slope_ci`: a 90% bootstrap interval (seeds resampled within each x);
    `residuals`: log10 residuals per point; `why`: why no law was fitted (then the rest None)."""

    why: str | None
    slope: float | None = None
    intercept: float | None = None
    slope_ci: tuple[float, float] | None = None
    residuals: list[float] | None = None

    def describe(self, xname: str, unit: str) -> str:
        if self.why:
            return f"no law fitted: {self.why}"
        rms = float(np.sqrt(np.mean(np.square(self.residuals))))
        return (f"crossing ({unit}) ∝ {xname}^{self.slope:.2f} (90% interval over seeds "
                f"[{self.slope_ci[0]:.2f}, {self.slope_ci[1]:.2f}]; rms log10 residual "
                f"{rms:.3f}, largest {max(map(abs, self.residuals)):.3f})")


def fit_law(points: dict[float, list[float]], n_boot: int = 2000, seed: int = 0) -> Law:
    """A power law of the crossing in a knob x, from {x: every seed's crossing}; only where at
    least 3 distinct x > 0 and every seed crossed (a seed that did not cross has no value to fit,
    and leaving it out would bias the law)."""
    if any(not v or any(math.isnan(c) for c in v) for v in points.values()):
        return Law("not every seed crossed at every value")
    if len(points) < 3 or min(points) <= 0:
        return Law(f"{len(points)} positive values of the knob; a law needs at least 3")
    xs = np.array([math.log10(x) for x, v in points.items() for _ in v])
    ys = np.array([math.log10(c) for v in points.values() for c in v])
    slope, intercept = np.polyfit(xs, ys, 1)
    rng = np.random.default_rng(seed)
    boot = []
    for _ in range(n_boot):
        bx, by = [], []
        for x, v in points.items():
            pick_ = rng.integers(0, len(v), len(v))
            bx += [math.log10(x)] * len(v)
            by += [math.log10(v[i]) for i in pick_]
        boot.append(np.polyfit(bx, by, 1)[0])
    lo, hi = np.percentile(boot, [5, 95])
    return Law(None, float(slope), float(intercept), (float(lo), float(hi)),
               (ys - (intercept + slope * xs)).tolist())

def crossing_points(data: dict, test: str, k: int) -> dict[str, list[Crossing]]:
    """{grid task name: [each seed's Crossing]} of a study on `test` at k."""
    study = data["request"]["study"]
    runs = {r["name"]: r for r in data["runs"]}
    return {t["name"]: [crossing(runs[n].get("along", {}).get("convex", {}), test, k)
                        for n in t["runs"]] for t in study["tasks"]}


TESTS = ("a=0.3", "a=0.5", "a=0.7")


@figure("crossing", file="crossing", sweeps=("convex",), needs=("along",), order=105, caption=(
    "the paired difference model minus Bayes of the pretraining prior along training, per "
    "mixture a and k: one colour per grid task, seeds thin (90% bands), their mean thick; "
    "against examples seen where the grid varies the batch size"))
def fig_crossing(data, out: Path) -> list[Path]:
    study = data.get("request", {}).get("study")
    runs = {r["name"]: (r, along_rows(r)) for r in data["runs"]}
    if not study or sum(len(rows) > 1 for _, rows in runs.values()) < 1:
        return []
    first = next(rows for _, rows in runs.values() if rows)
    ks = report_ks(first)
    tests = [t for t in TESTS if any(r["task"] == t for rows in first.values() for r in rows)]
    scale = {n: per_step(r["config"]) for n, (r, _) in runs.items()}
    unit = "examples" if len({s["examples"] for s in scale.values()}) > 1 else "steps"
    fig, axes = plt.subplots(len(ks), len(tests), figsize=style._size(len(tests), 4.2, 3.0 * len(ks)),
                             squeeze=False, sharex=True)
    for c, task in enumerate(study["tasks"]):
        color, x_per = f"C{c}", scale.get(task["runs"][0], {}).get(unit, 1.0)
        for i, k in enumerate(ks):
            for j, test in enumerate(tests):
                ax, curves = axes[i, j], []
                for n in task["runs"]:
                    g = np.asarray(gaps(runs[n][1], test, k)) if n in runs else np.empty((0, 4))
                    if len(g):
                        ax.plot(g[:, 0] * x_per, g[:, 1], color=color, lw=0.7, alpha=0.6)
                        ax.fill_between(g[:, 0] * x_per, g[:, 2], g[:, 3], color=color,
                                        alpha=0.08, lw=0)
                        curves.append(g)
                steps = set.intersection(*(set(g[:, 0]) for g in curves)) if curves else set()
                if steps:
                    x = np.array(sorted(steps))
                    y = np.mean([[v for s, v in zip(g[:, 0], g[:, 1]) if s in steps]
                                 for g in curves], 0)
                    ax.plot(x * x_per, y, color=color, lw=2.0,
                            label=f"{task['name']} (mean of {len(curves)} seeds)")
    for i, k in enumerate(ks):
        for j, test in enumerate(tests):
            ax = axes[i, j]
            ax.axhline(0.0, color="0.3", ls="--", lw=1)
            ax.set_xscale("log")
            ax.set_yscale("symlog", linthresh=0.01)
            ax.set_title(f"{test}, k = {k}", fontsize=9)
            if j == 0:
                ax.set_ylabel("model − Bayes, pretraining prior\n(normalized sq. error, paired)")
            if i == len(ks) - 1:
                ax.set_xlabel("training step" if unit == "steps"
                              else "examples seen (step × batch size)")
    axes[0, 0].legend(fontsize=7)
    style._suptitle(fig, f"{data['request'].get('experiment', '')}: the mixture error minus "
                         "that of the Bayes predictor of the pretraining prior along training "
                         "(below 0: the model beats it; symlog, linear within ±0.01)", y=1.0)
    fig.tight_layout()
    return style._save(fig, out, "crossing")


@figure("crossing_compute", file="crossing_compute", sweeps=("convex",), needs=("along",),
        order=107, caption=(
            "the step at which a = 0.5 crosses Bayes of the pretraining prior, per grid task and "
            "seed, in training steps, examples seen and model FLOPs; open triangles: not "
            "crossed within the steps scored (drawn at the last step)"))
def fig_crossing_compute(data, out: Path) -> list[Path]:
    study = data.get("request", {}).get("study")
    runs = {r["name"]: r for r in data["runs"]}
    if not study or not any(len(along_rows(r)) > 1 for r in runs.values()):
        return []
    ks = report_ks(along_rows(next(r for r in runs.values() if along_rows(r))))
    keys = list(study["grid"])
    numeric = len(keys) == 1 and all(isinstance(t["grid"][keys[0]], (int, float))
                                     for t in study["tasks"])
    xs = [t["grid"][keys[0]] if numeric else i for i, t in enumerate(study["tasks"])]
    fig, axes = plt.subplots(1, len(UNITS), figsize=style._size(len(UNITS), 3.6, 3.2),
                             squeeze=False)
    for ki, (k, marker) in enumerate(zip(ks, ("o", "s"), strict=False)):
        pts = crossing_points(data, "a=0.5", k)
        for t, x in zip(study["tasks"], xs, strict=True):
            u = per_step(runs[t["runs"][0]]["config"])
            for si, c in enumerate(pts[t["name"]]):
                off = si - 1.5 + 6 * ki  # seeds and ks side by side
                dx = x * (1 + 0.04 * off) if numeric else x + 0.06 * off
                for ax, unit in zip(axes[0], UNITS, strict=True):
                    if c.kind == "crossed":
                        y = c.step * u[unit]
                        ax.errorbar([dx], [y], yerr=[[y - c.below * u[unit]],
                                                     [c.above * u[unit] - y]],
                                    fmt=marker, color=f"C{ki}", ms=4, lw=0.8)
                    elif c.last:
                        ax.plot([dx], [c.last * u[unit]], "^", mfc="none", color=f"C{ki}", ms=5)
        axes[0, 0].plot([], [], marker, color=f"C{ki}", label=f"k = {k}: crossed (bracket)")
        axes[0, 0].plot([], [], "^", mfc="none", color=f"C{ki}",
                        label=f"k = {k}: not crossed within (last step)")
    for ax, unit in zip(axes[0], UNITS, strict=True):
        ax.set_yscale("log")
        ax.set_ylabel(f"crossing, {unit}")
        if numeric:
            ax.set_xscale("log")
            ax.set_xticks(sorted(set(xs)), [f"{v:g}" for v in sorted(set(xs))])
            ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
            ax.set_xlabel(keys[0])
        else:
            ax.set_xticks(range(len(xs)), [t["name"] for t in study["tasks"]], rotation=30,
                          fontsize=7)
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="lower center", ncol=4, fontsize=6,
               frameon=False)
    style._suptitle(fig, f"{data['request'].get('experiment', '')}: when a = 0.5 crosses the "
                         "Bayes predictor of the pretraining prior (paired 90% rule), per seed",
                    y=1.0)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return style._save(fig, out, "crossing_compute")
