"""Training: the jitted step, run groups, the device mesh, run folders and the host loop."""

from icl_ood.train.loop import train, train_many
from icl_ood.train.mesh import batch_sharding_for, make_mesh
from icl_ood.train.rundir import check_run_dir, load_model
from icl_ood.train.runs import (
    GROUP_FIELDS,
    default_run_batch,
    group_config,
    resolve_run_batch,
    run_configs,
)
from icl_ood.train.step import (
    TrainingDiverged,
    TrainState,
    init_model,
    init_runs,
    init_state,
    keys,
    loss_fn,
    optimizer,
    schedule,
    train_chunk,
    train_step,
)

__all__ = [
    "GROUP_FIELDS", "TrainState", "TrainingDiverged", "batch_sharding_for", "check_run_dir",
    "default_run_batch", "group_config", "init_model", "init_runs", "init_state", "keys",
    "load_model", "loss_fn", "make_mesh", "optimizer", "resolve_run_batch", "run_configs",
    "schedule", "train", "train_chunk", "train_many", "train_step",
]
