"""Finite task pools (Raventós et al. 2023): each family's M tasks drawn once, prompts from them.

With `data.task_pool = M > 0` every pretraining family draws M parameter sets from its own prior
once, from a key fixed by `data.task_pool_seed` and the family's name (not its position, so a
test task on one family sees the same pool as the mixture it was trained in), and each prompt
takes one of them uniformly. `data.task_pool = 0` is the family's continuous prior.
The pool is saved in the run folder as `task_pool.npz`, one array per family parameter under
`<family>/<name>` (the linear family's weights as `linear/w_BxD`, shape (M, d)).
"""

from __future__ import annotations

import functools
import io
import zlib
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from icl_ood import families
from icl_ood.config import DataConfig
from icl_ood.results import files

FILE = "task_pool.npz"


def family_key(seed: int, family: str) -> jax.Array:
    """The key of `family`'s pool: from the pool seed and the family's name."""
    return jax.random.fold_in(jax.random.key(seed), zlib.crc32(family.encode()) & 0x7FFFFFFF)


_SAVED: dict[tuple, dict[str, np.ndarray]] = {}  # pools read from run folders (see `prepare`)


@functools.lru_cache(maxsize=16)
def _draw(family: str, size: int, seed: int, dim: int, prior) -> dict[str, np.ndarray]:
    with jax.ensure_compile_time_eval():
        params = families.get(family).sample(family_key(seed, family), size, dim, prior)
        return {k: np.asarray(v) for k, v in params.items()}


def _ident(cfg: DataConfig, family: str) -> tuple:
    return family, cfg.task_pool, cfg.task_pool_seed, cfg.dim, cfg.prior(family)


def pool(cfg: DataConfig, family: str) -> dict[str, np.ndarray]:
    """`family`'s M = cfg.task_pool tasks: its parameters with a leading axis of M (numpy, so a
    jitted step holds them as constants): the pool read from a run folder by `prepare`, else
    drawn (once per config)."""
    if cfg.task_pool < 1:
        raise ValueError(f"data.task_pool is {cfg.task_pool}: no pool (the continuous prior)")
    ident = _ident(cfg, family)
    return _SAVED[ident] if ident in _SAVED else _draw(*ident)


def sample(key: jax.Array, family: str, batch: int, cfg: DataConfig) -> dict[str, jax.Array]:
    """Parameters of `batch` tasks of `family`: its prior's draws, or uniform picks from its pool."""
    if cfg.task_pool < 1:
        return families.get(family).sample(key, batch, cfg.dim, cfg.prior(family))
    idx_B = jax.random.randint(key, (batch,), 0, cfg.task_pool)
    return {k: jnp.asarray(v)[idx_B] for k, v in pool(cfg, family).items()}


def prepare(cfg: DataConfig, run_dir: str | Path) -> Path | None:
    """The run's pool, fixed in its folder: read from run_dir/task_pool.npz if there (so a run
    resumed or scored on another jax version, whose draws may differ, keeps its pool), else
    drawn and written there. None: no pool."""
    if cfg.task_pool < 1:
        return None
    path = Path(run_dir) / FILE
    if path.exists():
        saved = load(run_dir)
        for fam in cfg.families:
            got = saved.get(fam)
            m = {v.shape[0] for v in got.values()} if got else set()
            if m != {cfg.task_pool}:
                raise ValueError(f"{path}: no pool of {cfg.task_pool} tasks for {fam!r}")
            _SAVED[_ident(cfg, fam)] = got
        return path
    buf = io.BytesIO()
    np.savez(buf, **{f"{fam}/{k}": v for fam in cfg.families for k, v in pool(cfg, fam).items()})
    return files.write_bytes(path, buf.getvalue())


def load(run_dir: str | Path) -> dict[str, dict[str, np.ndarray]]:
    """{family: {parameter: array (M, ...)}} from run_dir/task_pool.npz."""
    out: dict[str, dict[str, np.ndarray]] = {}
    with np.load(Path(run_dir) / FILE) as z:
        for name in z.files:
            fam, _, key = name.partition("/")
            out.setdefault(fam, {})[key] = z[name]
    return out
