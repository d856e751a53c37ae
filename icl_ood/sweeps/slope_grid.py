"""Mueller et al. 2024's own test protocol for their functions A sin(w x) + m x: noiseless
labels at evenly spaced inputs (the n-point grid of [-x_scale, x_scale], in a random order per
prompt, so at k = n - 1 the context is the whole grid but the query's point), slopes as `slope`."""

from icl_ood.sweeps import Sweep, register
from icl_ood.sweeps.slope import SLOPES, expr
from icl_ood.tasks import Task


def tasks(cfg, n_prompts: int, mix=None) -> list[Task]:
    sine = cfg.offset_sine
    return [Task(family="function", priors=(("function.expr", expr(sine.amp, sine.freq, m)),),
                 x_dist="grid", noise_std=0.0, n_prompts=n_prompts, name=f"m={m:g}",
                 meta=(("slope", m),)) for m in SLOPES]


SWEEP = register(Sweep("slope_grid", tasks, __doc__.split("\n")[0], axis="slope"))
