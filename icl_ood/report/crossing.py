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
