"""A task's marks in its study folder: the record of a finished task (with its manifest) and the
claim of a running one.

DIR/tasks/<task>.json            written last by a task that finished: per run the final step,
                                 the checksum of its parameters and its result files (relative to
                                 DIR), how training went; its manifest names the task's hash
DIR/tasks/<task>.claim.json      while a process runs the task: host, pid, job id, start time
                                 (removed when it ends; left behind only by a hard kill)
DIR/tasks/<task>.ended.json      how the last process to run the task ended unfinished: stopped
                                 (SIGINT or SIGTERM, a checkpoint saved) or failed (its error);
                                 removed when a process claims the task again
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from icl_ood import results


def record_path(out: Path, task: dict) -> Path:
    return Path(out) / "tasks" / f"{task['name']}.json"


def claim_path(out: Path, task: dict) -> Path:
    return Path(out) / "tasks" / f"{task['name']}.claim.json"


def ended_path(out: Path, task: dict) -> Path:
    return Path(out) / "tasks" / f"{task['name']}.ended.json"


def read_ended(out: Path, task: dict) -> dict | None:
    """How the last process to run the task ended unfinished ({how, why, time}), if it did."""
    try:
        return results.read_json(ended_path(out, task))
    except ValueError:  # a mark cut short by a crash
        return None


def write_record(out: Path, task: dict, record: dict) -> Path:
    """The task's record, then its manifest (inputs: the task's content hash)."""
    path = record_path(out, task)
    results.write_json(path, record, indent=2)
    results.write_manifest(path, "study-task", {"task": task["hash"]}, [path])
    return path


def finished(out: Path, task: dict) -> tuple[dict | None, str]:
    """(record, '') if the task finished and every result it lists is intact; else (None, why
    not, a few words; '' if it never finished)."""
    path = record_path(out, task)
    if not path.exists():
        return None, ""
    if not results.matches(path, {"task": task["hash"]}):
        return None, "its record does not match the plan"
    rec = results.read_json(path)
    for run in rec["runs"].values():
        for f in run["results"]:
            why = results.intact(results.read_manifest(Path(out) / f), (Path(out) / f).parent)
            if why is not None:
                return None, f"{f}: {why}"
    return rec, ""


def alive(pid: int) -> bool:
    """Whether process `pid` exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_claim(out: Path, task: dict) -> dict | None:
    """The claim of a process running (or killed while running) the task, if any."""
    try:
        return results.read_json(claim_path(out, task))
    except ValueError:  # a claim cut short by a crash
        return None


def claim_live(c: dict | None) -> bool | None:
    """True or False where the claiming process can be checked (this host), else None."""
    if c is None:
        return False
    if c.get("host") != socket.gethostname():
        return None
    return alive(int(c["pid"]))


@contextlib.contextmanager
def claimed(out: Path, task: dict) -> Iterator[None]:
    """Marks the task as run by this process while the block runs; ResultsError if another
    live process on this host has it (a claim from another host is taken over)."""
    old = read_claim(out, task)
    if old and old.get("pid") != os.getpid() and claim_live(old):
        raise results.ResultsError(f"task {task['name']} is running (pid {old['pid']} on "
                                   f"{old['host']}, since {old.get('since')}); not started twice")
    path = claim_path(out, task)
    job = os.environ.get("SLURM_ARRAY_JOB_ID") or os.environ.get("SLURM_JOB_ID") \
        or os.environ.get("SUBMITIT_LOCAL_JOB_ID")
    ended = ended_path(out, task)
    ended.unlink(missing_ok=True)
    results.write_json(path, {"host": socket.gethostname(), "pid": os.getpid(), "job": job,
                              "since": time.strftime("%Y-%m-%d %H:%M:%S %Z")})
    try:
        yield
    except BaseException as e:  # noqa: BLE001 -- recorded, then raised on
        signal = getattr(e, "signal", None) or ("SIGINT" if isinstance(e, KeyboardInterrupt)
                                                else None)
        why = signal or f"{type(e).__name__}: {(str(e).splitlines() or [''])[0][:200]}"
        results.write_json(ended, {"how": "stopped" if signal else "failed", "why": why,
                                   "time": time.strftime("%Y-%m-%d %H:%M:%S %Z")})
        raise
    finally:
        path.unlink(missing_ok=True)
