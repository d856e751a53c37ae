"""Each pretraining family on its own prior: error against k (in distribution)."""

from icl_ood.sweeps import Sweep, register
from icl_ood.tasks import Task


def tasks(cfg, n_prompts: int, mix=None) -> list[Task]:
    return [Task(family=f, n_prompts=n_prompts) for f in cfg.families]


SWEEP = register(Sweep("k", tasks, __doc__.split("\n")[0]))
