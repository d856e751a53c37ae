"""Interruption and run-folder safety helpers for `train` and the CLI.

- `GracefulStop`: while active, the first SIGINT (Ctrl-C) or SIGTERM (what Colab, SLURM and
  container runtimes send before killing) only sets a flag; the training loop checks it at the
  next chunk boundary, writes a checkpoint and returns. A second signal aborts at once, even
  while the main thread waits in a long XLA call (a watcher thread sees every signal through
  signal.set_wakeup_fd and ends the process, status 128 + signal), and the last complete
  checkpoint still stands.
- `move_aside`: renames a folder to a fresh `<name>.old-<timestamp>` sibling (never deletes).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Self

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class GracefulStop:
    """Context manager: turns SIGINT/SIGTERM into a stop request (`requested`, `signum`).

    Handlers are installed only in the main thread (Python allows no other) and only when
    `enabled`; the previous handlers come back on exit.
    """

    def __init__(self, enabled: bool = True):
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self.signum: int | None = None
        self._previous: dict[int, object] = {}
        self._pipe: tuple[int, int] | None = None
        self._old_fd = -1

    @property
    def requested(self) -> bool:
        return self.signum is not None

    @property
    def name(self) -> str | None:
        return None if self.signum is None else signal.Signals(self.signum).name

    def _handle(self, signum, frame) -> None:
        if self.signum is not None:  # second signal (if the watcher did not end the process)
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            raise SystemExit(128 + signum)
        self.signum = signum

    def _watch(self, read_fd: int, old_fd: int) -> None:
        """Sees each signal as it arrives (the byte the C-level handler writes): tells the user
        at the first and ends the process at the second, whatever the main thread is doing."""
        seen = 0
        while data := os.read(read_fd, 64):
            if old_fd >= 0:  # whoever watched before (e.g. an event loop) still hears them
                try:
                    os.write(old_fd, data)
                except OSError:
                    pass
            for signum in (b for b in data if b in SIGNALS):
                seen += 1
                name = signal.Signals(signum).name
                if seen == 1:
                    print(f"\nicl-ood: {name} received: saving a checkpoint at the end of the "
                          "current chunk, then stopping (send it again to abort without saving)",
                          file=sys.stderr, flush=True)
                else:
                    print(f"\nicl-ood: {name} again: stopping now without saving (the last "
                          "complete checkpoint is where a rerun resumes)", file=sys.stderr,
                          flush=True)
                    os._exit(128 + signum)
        os.close(read_fd)

    def __enter__(self) -> Self:
        if self.enabled:
            for s in SIGNALS:
                self._previous[s] = signal.signal(s, self._handle)
            r, w = os.pipe()
            os.set_blocking(w, False)
            self._old_fd = signal.set_wakeup_fd(w, warn_on_full_buffer=False)
            self._pipe = (r, w)
            threading.Thread(target=self._watch, args=(r, self._old_fd), daemon=True,
                             name="icl-ood-signals").start()
        return self

    def __exit__(self, *exc) -> None:
        for s, h in self._previous.items():
            signal.signal(s, h)
        self._previous.clear()
        if self._pipe is not None:
            signal.set_wakeup_fd(self._old_fd)
            os.close(self._pipe[1])  # the watcher reads the end of its pipe and returns
            self._pipe = None


def move_aside(path: str | Path) -> Path | None:
    """Renames `path` (if it exists) to `<path>.old-<YYYYmmdd-HHMMSS>[-N]`; returns the new path."""
    path = Path(path)
    if not path.exists():
        return None
    stem = f"{path.name}.old-{time.strftime('%Y%m%d-%H%M%S')}"
    new, i = path.with_name(stem), 1
    while new.exists():
        i += 1
        new = path.with_name(f"{stem}-{i}")
    path.rename(new)
    return new


def newest_step(run_dir: Path) -> int:
    """The step of a run folder's newest checkpoint folder (0 if none), without starting jax
    (whether it is readable is another matter)."""
    ckpt = Path(run_dir) / "ckpt"
    steps = [int(p.name) for p in ckpt.iterdir() if p.name.isdigit()] if ckpt.is_dir() else []
    return max(steps, default=0)
