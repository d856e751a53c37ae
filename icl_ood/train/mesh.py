"""Devices: the data-parallel mesh, the batch layout on it, and fetching results to the host."""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from icl_ood.config import Config, ConfigError


def make_mesh() -> Mesh:
    """A 1-D mesh over every device of every process, axis "data" (Auto: XLA propagates the
    batch sharding from the constraint in train_step; make_mesh defaults to Explicit axes)."""
    return jax.make_mesh((jax.device_count(),), ("data",),
                         axis_types=(jax.sharding.AxisType.Auto,))


RUN_AXIS = "runs"  # the mesh axis over which runs trained together are split (studies)


def make_run_mesh(num_runs: int) -> Mesh:
    """A 1-D mesh, axis RUN_AXIS, over the most local devices that divide `num_runs` evenly: each
    device trains num_runs / devices whole runs (no collectives)."""
    devices = jax.local_devices()
    n = max(d for d in range(1, len(devices) + 1) if num_runs % d == 0)
    return Mesh(np.array(devices[:n]), (RUN_AXIS,))


def run_sharding(mesh: Mesh) -> NamedSharding:
    """Arrays with a leading run axis, split over `mesh` (make_run_mesh)."""
    return NamedSharding(mesh, P(RUN_AXIS))


def batch_sharding_for(cfg: Config, mesh: Mesh) -> NamedSharding | None:
    """How a batch is laid out on `mesh` (None on one device)."""
    n = mesh.devices.size
    if n == 1:
        return None
    if cfg.train.batch_size % n:
        raise ConfigError(f"train.batch_size: must be divisible by the number of devices ({n}) "
                          f"for data parallelism, got {cfg.train.batch_size}")
    return NamedSharding(mesh, P("data"))


def _host(tree):
    """Fetches (replicated) device arrays to numpy, also when they span several processes."""
    return jax.tree.map(lambda x: np.asarray(x if x.is_fully_addressable
                                              else x.addressable_data(0)), tree)
