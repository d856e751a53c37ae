"""Submits a study's unfinished tasks as ONE submitit array job: on SLURM, or as local
processes (`--executor local`, the same library); job files and logs in DIR/submitit/."""

from __future__ import annotations

import time
from pathlib import Path

from icl_ood import results
from icl_ood.config import ConfigError
from icl_ood.studies import plan as planning
from icl_ood.studies.status import SUBMISSIONS, SUBMITIT, states

EXECUTORS = ("slurm", "local")
DEFAULT_TIME_MIN = 24 * 60  # submitit's local executor would stop a job after 2 minutes


def _submitit():
    try:
        import submitit
    except ImportError:
        raise ConfigError("sweep submit needs submitit: pip install 'icl-ood[slurm]'") from None
    return submitit


def minutes(raw: str | None) -> int | None:
    """Minutes from SLURM's time forms MIN, H:MM:SS or D-HH:MM:SS (None: not given)."""
    if raw is None:
        return None
    days, _, clock = raw.rpartition("-")
    try:
        parts = [int(p) for p in clock.split(":")]
        if len(parts) == 1 and not days:
            total = parts[0]
        elif len(parts) == 3:
            total = (int(days or 0) * 24 + parts[0]) * 60 + parts[1] + (parts[2] > 0)
        else:
            total = 0
    except ValueError:
        total = 0
    if total < 1:
        raise ConfigError(f"--time: expected minutes, H:MM:SS or D-HH:MM:SS, got {raw!r}")
    return total


def run_job(out: str, index: int) -> dict:
    """What each array task runs (in the job's process): one task of the study."""
    from icl_ood.studies.run import run_task
    rec = run_task(out, index, log=lambda line: print(line, flush=True))
    return {"index": rec["index"], "name": rec["name"], "wall_s": rec["wall_s"]}


def submit(out: str | Path, executor: str = "slurm", *, wait: bool = False,
           partition: str | None = None, gpus_per_task: int | None = None,
           time_limit: str | None = None, cpus_per_task: int | None = None,
           mem: str | None = None, log=print) -> list[int]:
    """Submits every task that is neither done nor running as one array job; returns their
    indices. `wait`: block until they end; ResultsError naming the tasks that failed."""
    if executor not in EXECUTORS:
        raise ConfigError(f"--executor: expected one of {EXECUTORS}, got {executor!r}")
    out = Path(out)
    timeout = minutes(time_limit) or DEFAULT_TIME_MIN
    planning.read_plan(out)  # refuses a folder without an intact plan
    submitit = _submitit()
    todo = []
    for st in states(out):
        if st.state in ("done", "running"):
            log(f"task {st.index} {st.name}: {st.state}, not submitted")
        else:
            todo.append(st.index)
    if not todo:
        log("nothing to submit")
        return []
    try:
        ex = submitit.AutoExecutor(folder=out / SUBMITIT, cluster=executor)
    except RuntimeError as e:  # e.g. no srun here: not a SLURM login node
        raise ConfigError(f"--executor {executor}: submitit: {e}") from None
    params = {"timeout_min": timeout, "name": f"icl-ood-{out.resolve().name}",
              "slurm_partition": partition, "gpus_per_node": gpus_per_task,
              "cpus_per_task": cpus_per_task, "slurm_mem": mem}
    ex.update_parameters(**{k: v for k, v in params.items() if v is not None})
    jobs = ex.map_array(run_job, [str(out.resolve())] * len(todo), todo)
    path = out / SUBMITIT / SUBMISSIONS
    earlier = results.read_jsonl(path) if path.exists() else []
    results.write_jsonl(path, earlier + [{
        "executor": executor, "jobs": {str(i): j.job_id for i, j in zip(todo, jobs)},
        "time": time.strftime("%Y-%m-%d %H:%M:%S %Z")}])
    log(f"submitted {len(todo)} task(s) {todo} as {executor} job(s) "
        f"{', '.join(j.job_id for j in jobs)}; logs in {out / SUBMITIT}")
    if not wait:
        return todo
    failed = []
    for i, j in zip(todo, jobs):
        try:
            j.result()
        except Exception as e:  # noqa: BLE001 (submitit raises the job's failure)
            failed.append(f"{i} ({type(e).__name__})")
    if failed:
        raise results.ResultsError(f"tasks {', '.join(failed)} failed; their logs: "
                                   f"{out / SUBMITIT} (icl-ood sweep status {out})")
    log(f"all {len(todo)} submitted task(s) finished")
    return todo
