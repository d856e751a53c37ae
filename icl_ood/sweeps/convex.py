"""Convex combinations f = a*f1 + (1-a)*f2, a = 0, 0.1, ..., 1 (f1, f2 the run's first two
families, or `mix`), every a on the same x and function draws."""

from icl_ood.sweeps import Sweep, register
from icl_ood.tasks import Task

A_GRID = tuple(round(0.1 * i, 1) for i in range(11))


def tasks(cfg, n_prompts: int, mix=None) -> list[Task]:
    if mix is None and len(cfg.families) < 2:
        raise ValueError("convex sweep: the run has one family; pass mix=(family1, family2)")
    f1, f2 = mix or cfg.families[:2]
    return [Task(mix=(f1, f2, a), n_prompts=n_prompts, name=f"a={a:g}") for a in A_GRID]


SWEEP = register(Sweep("convex", tasks, __doc__.split("\n")[0], axis="a"))
