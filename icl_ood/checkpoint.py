"""Checkpoints through orbax: atomic saves, keep the last few, restore the latest good one."""

from __future__ import annotations

import hashlib
import logging
import tempfile
import warnings
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp

logging.getLogger("absl").setLevel(logging.WARNING)


class CheckpointError(RuntimeError):
    """No usable checkpoint where one was required, or one could not be written."""


class Checkpoints:
    """Saves {state, meta} per step under `directory`; orbax writes to a temporary folder
    (`<step>.orbax-checkpoint-tmp`) and renames it when complete, so a run killed mid-save never
    leaves a half checkpoint that looks finished (the next save of that step replaces the
    leftover temporary folder).

    A save that fails (disk full, read-only folder) raises `CheckpointError` naming the step,
    at the latest on the next `save`, `wait` or `close`; earlier checkpoints are untouched.
    Orbax detects truncated files but not flipped bytes in array data (no checksums in its
    OCDBT/zarr files), so meta["checksum"] holds a checksum of the state, checked on restore.
    """

    def __init__(self, directory: str | Path, keep: int = 3, keep_steps: tuple[int, ...] = ()):
        """`keep` latest checkpoints, plus those at `keep_steps` forever."""
        self.directory = Path(directory).absolute()
        if keep_steps:
            policy = ocp.checkpoint_managers.AnyPreservationPolicy(
                [ocp.checkpoint_managers.LatestN(keep),
                 ocp.checkpoint_managers.CustomSteps(list(keep_steps))])
            opts = ocp.CheckpointManagerOptions(create=True, preservation_policy=policy)
        else:
            opts = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True)
        self.manager = ocp.CheckpointManager(self.directory, options=opts)
        self._saving: int | None = None  # step of the save that may still be in flight
        self.unreadable: set[int] = set()  # steps restore_latest could not read

    def steps(self) -> list[int]:
        return sorted(self.manager.all_steps())

    def save(self, step: int, state: Any, meta: dict) -> None:
        """Starts an asynchronous save; `wait()` blocks until it is on disk."""
        self.wait()  # report a failure of the previous save before starting this one
        meta = {**meta, "checksum": checksum(state)}
        try:  # an unwritable folder fails here, not in orbax's threads (they would wait 5 min)
            Path(tempfile.mkdtemp(prefix=".write-probe-", dir=self.directory)).rmdir()
        except OSError as e:
            raise self._write_error(step, e) from e
        self._saving = step
        try:
            self.manager.save(step, args=ocp.args.Composite(
                state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)))
        except Exception as e:  # orbax and tensorstore raise many types for I/O errors
            self._saving = None
            raise self._write_error(step, e) from e

    def restore(self, step: int, abstract_state: Any) -> tuple[Any, dict]:
        out = self.manager.restore(step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract_state), meta=ocp.args.JsonRestore()))
        want, got = out["meta"].get("checksum"), None
        if want is not None and (got := checksum(out["state"])) != want:
            raise CheckpointError(f"step {step}: the restored state's checksum {got} differs "
                                  f"from the one saved with it ({want}): damaged files")
        return out["state"], out["meta"]

    def restore_latest(self, abstract_state: Any) -> tuple[int, Any, dict] | None:
        """(step, state, meta) of the newest checkpoint that restores; None if there is none.

        A checkpoint that fails to restore (truncated, corrupted) is reported, remembered in
        `unreadable` and skipped.
        """
        for step in reversed(self.steps()):
            try:
                state, meta = self.restore(step, abstract_state)
                return step, state, meta
            except Exception as e:  # noqa: BLE001 (orbax raises many types for damaged files)
                self.unreadable.add(step)
                warnings.warn(f"checkpoint at step {step} in {self.directory} is unreadable "
                              f"({_short(e)}); trying the previous one",
                              stacklevel=2)
        return None

    def set_aside(self, step: int, why: str) -> Path:
        """Renames step `step`'s folder to `<step>.<why>[-N]` (orbax then ignores it; nothing is
        deleted), so that the step can be saved afresh."""
        self.wait()
        src = self.directory / str(step)
        dst, i = self.directory / f"{step}.{why}", 1
        while dst.exists():
            i += 1
            dst = self.directory / f"{step}.{why}-{i}"
        src.rename(dst)
        self.manager.reload()
        return dst

    def wait(self) -> None:
        """Blocks until the last save is on disk; CheckpointError if it failed."""
        step, self._saving = self._saving, None
        try:
            self.manager.wait_until_finished()
        except Exception as e:
            raise self._write_error(step, e) from e

    def close(self) -> None:
        try:
            self.wait()
        finally:
            self.manager.close()

    def _write_error(self, step: int | None, e: Exception) -> CheckpointError:
        done = sorted(int(p.name) for p in self.directory.iterdir() if p.name.isdigit()) \
            if self.directory.is_dir() else []
        return CheckpointError(
            f"could not write the checkpoint of step {step} to {self.directory} "
            f"({_short(e)}); the checkpoints already there (steps {done}) "
            "are intact. Free disk space or make the folder writable, then rerun the same "
            "command to resume from the last of them")


_UINT = {1: jnp.uint8, 2: jnp.uint16, 4: jnp.uint32}


@jax.jit
def _fletcher(tree) -> jax.Array:
    """(leaves, 2) uint32: per leaf, the sum of its bit patterns and their position-weighted sum
    (mod 2**32; a flipped bit or swapped words change it)."""
    out = []
    for x in jax.tree.leaves(tree):
        u = jax.lax.bitcast_convert_type(x, _UINT[x.dtype.itemsize]).astype(jnp.uint32).ravel()
        i = jnp.arange(1, u.size + 1, dtype=jnp.uint32)
        out.append(jnp.stack([u.sum(dtype=jnp.uint32), (u * i).sum(dtype=jnp.uint32)]))
    return jnp.stack(out)


def checksum(tree: Any) -> str:
    """A short hex checksum of every array in `tree` (computed on the device)."""
    sums = _fletcher(tree)
    sums = np.asarray(sums if sums.is_fully_addressable else sums.addressable_data(0))
    return hashlib.sha256(sums.tobytes()).hexdigest()[:16]


def close_all(ckpts: list[Checkpoints]) -> None:
    """Closes every manager (waiting for pending saves); then raises the first failure."""
    errors = []
    for ck in ckpts:
        try:
            ck.close()
        except CheckpointError as e:
            errors.append(e)
    if errors:
        raise errors[0]


def _short(e: Exception, head: int = 100, tail: int = 200) -> str:
    """The innermost cause of an exception on one line, its middle cut (tensorstore's messages
    are long and end with the OS error, e.g. "No space left on device")."""
    for _ in range(10):  # the innermost cause names the file and the OS error
        if (e.__cause__ or e.__context__) is None:
            break
        e = e.__cause__ or e.__context__
    msg = f"{type(e).__name__}: " + " ".join(str(e).split())
    return msg if len(msg) <= head + tail else f"{msg[:head]} ... {msg[-tail:]}"
