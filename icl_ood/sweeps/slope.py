"""Mueller et al. 2024's test functions: f(x) = A sin(w x) + m x (the pretraining sine plus a
line through 0, a *sum* of the two families) for slopes m = 0, 0.21 to 0.28 in 0.01, and 0.5."""

from icl_ood.sweeps import Sweep, register
from icl_ood.tasks import Task

SLOPES = (0.0, 0.21, 0.22, 0.23, 0.24, 0.25, 0.26, 0.27, 0.28, 0.5)


def expr(amp: float, freq: float, m: float) -> str:
    """The formula of A sin(w x) + m x."""
    return f"{amp!r}*sin({freq!r}*x)+{m!r}*x"


def tasks(cfg, n_prompts: int, mix=None) -> list[Task]:
    sine = cfg.offset_sine
    return [Task(family="function", priors=(("function.expr", expr(sine.amp, sine.freq, m)),),
                 n_prompts=n_prompts, name=f"m={m:g}", meta=(("slope", m),)) for m in SLOPES]


SWEEP = register(Sweep("slope", tasks, __doc__.split("\n")[0], axis="slope"))
