"""The one exception a replicate stopped by a signal raises (stages import it from here)."""

from __future__ import annotations


class Interrupted(RuntimeError):
    """Training stopped by SIGINT or SIGTERM (a checkpoint was saved); no later stage ran.
    `signal` is the signal's name."""

    def __init__(self, signal_name: str, message: str):
        super().__init__(message)
        self.signal = signal_name
