"""When does a model's error cross the Bayes predictor of its pretraining prior along training?

Decided from the paired difference model minus Bayes (`gap_bayes_mixture` of the model's rows,
with its 90% bootstrap interval over the same prompts) at each scored step: a step is *below*
where the interval lies wholly below 0, *above* where it lies wholly above 0, and undecided where
it contains 0. The crossing lies between the last below step and the first above step after it;
a model never below, or never above after being below, has not crossed within the steps scored.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from icl_ood.figures.along import GAP, gaps  # noqa: F401  (gaps: this module's rows)


class Crossing(NamedTuple):
    """`kind`: "crossed" (between steps `below` and `above`), "never below", "stays below" (below
    at some step, never above after it) or "no rows"; `last`: the last step scored."""

    kind: str
    below: int | None = None
    above: int | None = None
    last: int | None = None

    @property
    def step(self) -> float:
        """The crossing step's point estimate: the geometric mean of its bracket (NaN: none)."""
        return math.sqrt(self.below * self.above) if self.kind == "crossed" else math.nan

    def describe(self) -> str:
        if self.kind == "crossed":
            return f"crossed between steps {self.below} and {self.above}"
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
            return Crossing("crossed", below, step, last)
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
