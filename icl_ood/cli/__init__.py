"""The `icl-ood` command: replicate (the main job), train, evaluate, figures, benchmark."""

from __future__ import annotations

import os
import signal
import sys
import threading

from icl_ood.cli.parser import _main

SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _stop_now(signum, frame) -> None:
    """SIGINT/SIGTERM outside training (start-up, importing jax, compiling, evaluating,
    drawing): one line, then exit 128 + signum at once. Every output is written atomically, so
    nothing half-written is left; training installs its own handler (checkpoint, then stop)."""
    for f in (sys.stdout, sys.stderr):
        try:
            f.flush()
        except (OSError, ValueError):
            pass
    os.write(2, f"\nicl-ood: {signal.Signals(signum).name} received: stopped; finished outputs "
                "are kept, rerun the same command to continue\n".encode())
    os._exit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    """The command line (exit statuses: see each command); SIGINT and SIGTERM end it with one
    line and status 130 or 143 wherever they arrive."""
    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {s: signal.signal(s, _stop_now) for s in SIGNALS}  # before importing jax
    try:
        return _main(argv)
    except KeyboardInterrupt:  # a second Ctrl-C during training's checkpoint
        print("\nicl-ood: SIGINT received again: stopped without saving; the last complete "
              "checkpoint stands", file=sys.stderr)
        return 128 + signal.SIGINT
    finally:
        for s, h in previous.items():
            signal.signal(s, h)

