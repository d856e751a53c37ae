"""Sinusoids of one angular frequency w each, from 4x below to 4x above the pretraining range."""

import numpy as np

from icl_ood.sweeps import Sweep, register
from icl_ood.tasks import Task


def freq_grid(cfg) -> tuple[float, ...]:
    """Sinusoid frequencies from 4x below to 4x above the pretraining range."""
    lo, hi = cfg.sinusoid.freq
    vals = [lo * f for f in (0.25, 0.5, 0.75)] + list(np.linspace(lo, hi, 3)) + \
        [hi * f for f in (1.25, 1.5, 2.0, 3.0, 4.0)]
    return tuple(sorted({round(float(v), 4) for v in vals}))


def tasks(cfg, n_prompts: int, mix=None) -> list[Task]:
    return [Task(family="sinusoid", priors=(("sinusoid.freq", (f, f)),), n_prompts=n_prompts,
                 name=f"w={f:g}") for f in freq_grid(cfg)]


SWEEP = register(Sweep("freq", tasks, __doc__.split("\n")[0], axis="freq"))
