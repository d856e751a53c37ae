"""Checkpoints through orbax: atomic saves, keep the last few, restore the latest good one."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import orbax.checkpoint as ocp

logging.getLogger("absl").setLevel(logging.WARNING)


class CheckpointError(RuntimeError):
    """No usable checkpoint where one was required."""


class Checkpoints:
    """Saves {state, meta} per step under `directory`; orbax writes to a temporary folder and
    renames it when complete, so a run killed mid-save never leaves a half checkpoint that
    looks finished."""

    def __init__(self, directory: str | Path, keep: int = 3):
        self.directory = Path(directory).absolute()
        opts = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True)
        self.manager = ocp.CheckpointManager(self.directory, options=opts)

    def steps(self) -> list[int]:
        return sorted(self.manager.all_steps())

    def save(self, step: int, state: Any, meta: dict) -> None:
        """Starts an asynchronous save; `wait()` blocks until it is on disk."""
        self.manager.save(step, args=ocp.args.Composite(
            state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)))

    def restore(self, step: int, abstract_state: Any) -> tuple[Any, dict]:
        out = self.manager.restore(step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract_state), meta=ocp.args.JsonRestore()))
        return out["state"], out["meta"]

    def restore_latest(self, abstract_state: Any) -> tuple[int, Any, dict] | None:
        """(step, state, meta) of the newest checkpoint that restores; None if there is none.

        A checkpoint that fails to restore (truncated, corrupted) is reported and skipped.
        """
        for step in reversed(self.steps()):
            try:
                state, meta = self.restore(step, abstract_state)
                return step, state, meta
            except Exception as e:  # orbax raises many types for damaged files
                warnings.warn(f"checkpoint at step {step} in {self.directory} is unreadable "
                              f"({type(e).__name__}: {str(e)[:200]}); trying the previous one",
                              stacklevel=2)
        return None

    def wait(self) -> None:
        self.manager.wait_until_finished()

    def close(self) -> None:
        self.manager.wait_until_finished()
        self.manager.close()
