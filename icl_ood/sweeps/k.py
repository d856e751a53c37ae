"""Each pretraining family on its own prior: error against k (in distribution); a model
pretrained on a task pool is scored on its pool and on the continuous prior it came from."""

from icl_ood.sweeps import Sweep, register
from icl_ood.tasks import Task


def tasks(cfg, n_prompts: int, mix=None) -> list[Task]:
    if not cfg.task_pool:
        return [Task(family=f, n_prompts=n_prompts) for f in cfg.families]
    return [t for f in cfg.families for t in (  # the second named as a pool-free run's task
        Task(family=f, n_prompts=n_prompts, name=f"{f}, its pool"),
        Task(family=f, n_prompts=n_prompts, task_pool=0))]


SWEEP = register(Sweep("k", tasks, __doc__.split("\n")[0]))
