"""Where each task of a study stands: done, running, stopped, failed or not started, from the
task records, claims, end marks and checkpoints in the study folder and the state files of the
submitit jobs it was submitted as (never from log text)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from icl_ood import results
from icl_ood.reliability import newest_step
from icl_ood.studies import plan as planning
from icl_ood.studies.record import alive, claim_live, finished, read_claim, read_ended

SUBMITIT = "submitit"  # DIR/submitit/: submitit's job files and logs, and submissions.jsonl
SUBMISSIONS = "submissions.jsonl"
QUEUED = ("PENDING", "RUNNING", "REQUEUED", "CONFIGURING", "COMPLETING", "RESIZING", "SUSPENDED")


@dataclass(frozen=True)
class TaskState:
    """One task's state ("done", "running", "stopped", "failed" or "not started") and a few
    words why."""

    index: int
    name: str
    state: str
    detail: str = ""

    def line(self) -> str:
        return f"{self.index:>3}  {self.name}: {self.state}" + (f" ({self.detail})"
                                                               if self.detail else "")


def last_jobs(out: Path) -> dict[int, dict]:
    """Per task index, the submitit job it was last submitted as: {executor, job_id, time}."""
    jobs: dict[int, dict] = {}
    path = Path(out) / SUBMITIT / SUBMISSIONS
    for sub in results.read_jsonl(path) if path.exists() else []:
        for index, job_id in sub["jobs"].items():
            jobs[int(index)] = {"executor": sub["executor"], "job_id": job_id,
                                "time": sub["time"]}
    return jobs


def _job_state(out: Path, job: dict) -> tuple[str, str]:
    """(state, detail) of a submitted job from submitit's files (result pickle; for SLURM the
    scheduler's state through submitit; for a local job whether its process lives)."""
    try:
        import submitit
        from submitit.core.utils import pickle_load
    except ImportError:
        return "unknown", f"job {job['job_id']}: submitit not installed to ask"
    folder = Path(out) / SUBMITIT
    cls = submitit.SlurmJob if job["executor"] == "slurm" else submitit.LocalJob
    j = cls(folder, job["job_id"])
    logs = f"logs: {j.paths.stdout.parent}/{j.job_id}_0_log.*"
    if j.paths.result_pickle.exists():
        outcome, _ = pickle_load(j.paths.result_pickle)
        return ("finished" if outcome == "success" else "failed"), \
            f"job {j.job_id} {'raised' if outcome != 'success' else 'ended'}; {logs}"
    if job["executor"] == "slurm":
        state = j.state
        if state.split()[0] in QUEUED:
            return "running", f"SLURM job {j.job_id}: {state}"
        return "failed", f"SLURM job {j.job_id}: {state}, no result; {logs}"
    live = job["job_id"].isdigit() and alive(int(job["job_id"]))
    return ("running", f"local job {j.job_id}") if live else \
        ("failed", f"local job {j.job_id} ended without a result (killed?); {logs}")


def states(out: str | Path) -> list[TaskState]:
    """The state of every task of the study in `out`, in plan order."""
    out = Path(out)
    _, todo = planning.read_plan(out)
    jobs = last_jobs(out)
    found = []
    for t in todo:
        rec, why = finished(out, t)
        if rec is not None:
            found.append(TaskState(t["index"], t["name"], "done"))
            continue
        from icl_ood.studies.run import run_dirs
        steps = [newest_step(d) for d in run_dirs(out, t)]
        total = planning.configs(t)[0].train.steps
        where = f"checkpoint at step {min(steps)} of {total}" if min(steps) else "no checkpoint"
        claim, job, ended = read_claim(out, t), jobs.get(t["index"]), read_ended(out, t)
        live = claim_live(claim)
        if claim and live:
            state, detail = "running", f"pid {claim['pid']} on {claim['host']}, {where}"
        elif job is not None:
            state, detail = _job_state(out, job)
            if state != "running" and ended is not None:  # its own end mark says how
                state, detail = ended["how"], f"{ended['why']} at {ended['time']}; {detail}"
            elif state == "finished":  # the job ended, yet the task is not done
                state, detail = "failed", f"{detail}; {why or 'no task record'}"
            elif state == "running" and claim and live is False:
                state, detail = "failed", f"pid {claim['pid']} gone; {detail}"
            detail = f"{where}; {detail}"
        elif claim:
            state = "running" if live is None else "failed"
            detail = (f"claimed by pid {claim['pid']} on {claim['host']} (another host: not "
                      f"checked)" if live is None else f"pid {claim['pid']} was killed") \
                + f", {where}"
        elif ended is not None:
            state = ended["how"]
            detail = f"{ended['why']} at {ended['time']}, {where}"
            if state == "stopped":
                detail += "; run it again to continue"
        elif max(steps):
            state, detail = "failed", f"ended unfinished, {where}"
        else:
            state, detail = "not started", why
        if state == "failed" and min(steps):
            detail += "; resubmitting continues from it"
        found.append(TaskState(t["index"], t["name"], state, detail))
    return found
