"""Garg et al.'s distribution shifts per family: x scaled by 0.5 / 2, y scaled by 0.5 / 2, label
noise 0.1 / 0.5, and (d > 1) a skewed x covariance."""

from icl_ood.sweeps import Sweep, register
from icl_ood.tasks import Task


def tasks(cfg, n_prompts: int, mix=None) -> list[Task]:
    out = []
    for f in cfg.families:
        out += [Task(family=f, n_prompts=n_prompts, name=f"{f} in-dist"),
                Task(family=f, x_scale=cfg.x_scale * 0.5, n_prompts=n_prompts, name=f"{f} x*0.5"),
                Task(family=f, x_scale=cfg.x_scale * 2, n_prompts=n_prompts, name=f"{f} x*2"),
                Task(family=f, y_scale=0.5, n_prompts=n_prompts, name=f"{f} y*0.5"),
                Task(family=f, y_scale=2.0, n_prompts=n_prompts, name=f"{f} y*2"),
                Task(family=f, noise_std=0.1, n_prompts=n_prompts, name=f"{f} noise0.1"),
                Task(family=f, noise_std=0.5, n_prompts=n_prompts, name=f"{f} noise0.5")]
        if cfg.dim > 1:
            out.append(Task(family=f, x_skew=True, x_dist="gaussian", n_prompts=n_prompts,
                            name=f"{f} skew"))
    return out


SWEEP = register(Sweep("shifts", tasks, " ".join(__doc__.split())))
