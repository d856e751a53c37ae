"""Where results came from: the code's commit and the machine."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def commit() -> str:
    """The git commit of the code (with '+dirty' for uncommitted changes), else $ICL_OOD_COMMIT
    (for copies without .git, e.g. on a remote accelerator), else 'unknown'."""
    if os.environ.get("ICL_OOD_COMMIT"):
        return os.environ["ICL_OOD_COMMIT"]
    root = Path(__file__).resolve().parents[2]
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, text=True,
                             capture_output=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               text=True, capture_output=True, check=True).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform
    return platform.processor() or "unknown CPU"


def machine() -> dict:
    """Where results were computed: the accelerator (or "cpu"), device count, host CPU model and
    cores, jax and Python versions (timings and small-model digits depend on all of them)."""
    import platform

    import jax
    dev = jax.devices()[0]
    kind = "" if dev.device_kind.lower() == dev.platform else f": {dev.device_kind}"
    return {"device": dev.platform + kind, "n_devices": jax.device_count(),
            "host": f"{_cpu_model()}, {platform.machine()}, {os.cpu_count()} CPU cores",
            "jax": jax.__version__, "python": platform.python_version()}
