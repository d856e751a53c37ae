"""Evaluation along training: one run trained in log-spaced segments under a wall-clock budget,
the model scored after each segment on fixed prompts, against baselines computed once.

The prompts (convex sweep a = 0..1 and frequency sweep, evaluate.sweep_tasks) come from one key,
so every step sees the same prompts. Output folder (results only, never checkpoints), each file
rewritten atomically after every evaluation, so a crash keeps everything evaluated before it:
    OUT/rows.jsonl        ROW_FIELDS + FIELDS: "error" rows of the baselines (step null: they do
                          not depend on training) and of the model at each step; "distance" rows
                          (predictor "model", `versus` a baseline): mean (model - baseline)^2
                          divided by the task's E[y^2] (the errors' normalizer), per task, k
                          and step
    OUT/metrics.jsonl     the run's training-loss log (copy)
    OUT/provenance.json   command, config, commit, device, and each segment's steps and seconds
    OUT/log.txt           the printed progress lines
    OUT/along_training.png|pdf, OUT/report.md
                          the figure, the error table per step and when the mixture error
                          crosses Bayes (icl_ood.along_report)
"""

from __future__ import annotations

import math
import shutil
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import jax
import numpy as np

from icl_ood import along_report, results
from icl_ood import baselines as bl
from icl_ood import evaluate as ev
from icl_ood.along_folder import along_config, continued
from icl_ood.config import Config, ConfigError, DataConfig
from icl_ood.stats import STAT_FIELDS, distance

SWEEPS = ("convex", "freq")
BASELINES = ("least_squares", "sin_ls_known", "task_bayes", "bayes_mixture")
VERSUS = ("bayes_mixture", "task_bayes")  # distance rows: the model vs these
FIELDS = ev.ROW_FIELDS + ("metric", "versus")
LOSS_DEFINITION = ("training loss = squared error averaged over every prefix position of a "
                   "prompt, mean over the batch (64 prompts) and over the train.steps_per_dispatch "
                   "steps ending at the step (metrics.jsonl record of that step)")


def log_steps(max_step: int, multiple: int) -> list[int]:
    """multiple * 1, 2, 4, ... up to max_step, then max_step itself."""
    if multiple < 1 or max_step < multiple:
        raise ConfigError(f"log_steps: need 1 <= multiple <= max_step, got {multiple}, {max_step}")
    out = [multiple * 2 ** i for i in range(int(math.log2(max_step // multiple)) + 1)]
    return out if out[-1] == max_step else out + [max_step]


@dataclass
class Reference:
    """The fixed tasks, their labels, the baselines' predictions and rows (computed once)."""

    tasks: list[tuple[str, ev.Task]]  # (sweep, task)
    ys: list[np.ndarray]  # ys_PxN per task
    preds: list[dict[str, np.ndarray]]  # per task: baseline -> preds_PxN
    rows: list[dict]
    key: jax.Array
    counts_SxP: np.ndarray
    n_boot: int
    seconds: float


def _applicable(data_cfg: DataConfig, task: ev.Task, names: tuple[str, ...]) -> tuple[str, ...]:
    have = {b.name for b in bl.for_task(data_cfg, task.data_config(data_cfg), task.families)}
    return tuple(n for n in names if n in have)


def reference(data_cfg: DataConfig, n_prompts: int = 1280, seed: int = 0,
              baselines: tuple[str, ...] = BASELINES, n_boot: int = 1000,
              run: str = "") -> Reference:
    """Draws every task's prompts and scores the applicable `baselines` on them."""
    t0 = time.perf_counter()
    key = jax.random.fold_in(jax.random.key(seed), 0)  # the key evaluate.run_sweep uses
    tasks = [(s, t) for s in SWEEPS for t in ev.sweep_tasks(data_cfg, s, n_prompts)]
    ys, preds, rows = [], [], []
    for sweep, task in tasks:
        r = ev.evaluate(None, data_cfg, task, _applicable(data_cfg, task, baselines), key,
                        n_boot=n_boot, run=run, keep_preds=True,
                        meta={"sweep": sweep, "step": None, "metric": "error", "versus": None})
        ys.append(r.ys_PxN)
        preds.append(r.preds)
        rows += r.rows
    counts = ev.bootstrap_counts(n_prompts, n_boot, 0)  # evaluate's resamples (boot_seed 0)
    return Reference(tasks, ys, preds, rows, key, counts, n_boot, time.perf_counter() - t0)


def score(model, data_cfg: DataConfig, ref: Reference, step: int, run: str = "") -> list[dict]:
    """The model's error rows and its distance rows to VERSUS at `step`, on ref's prompts."""
    rows = []
    for (sweep, task), ys_PxN, base_preds in zip(ref.tasks, ref.ys, ref.preds):
        meta = {"sweep": sweep, "step": step, "metric": "error", "versus": None}
        r = ev.evaluate(model, data_cfg, task, (), ref.key, n_boot=ref.n_boot, run=run,
                        meta=meta, keep_preds=True)
        if not np.allclose(r.ys_PxN, ys_PxN, rtol=1e-5, atol=1e-6):  # ulps: CPU reference
            raise RuntimeError(f"{task.label}: prompts differ from the reference draw")
        rows += r.rows
        for name in VERSUS:
            if name in base_preds:
                d = distance(r.preds["model"], base_preds[name], r.rows[0]["normalizer"],
                             ref.counts_SxP)
                rows += [{**row, **{f: float(d[f][row["k"]]) for f in STAT_FIELDS},
                          "metric": "distance", "versus": name} for row in r.rows]
    return rows


def plan_segment(step: int, target: int, multiple: int, remaining_s: float, s_per_step: float,
                 fixed_s: float) -> int:
    """The step to train to next: `target` if its steps fit in remaining_s after fixed_s (overheads,
    evaluation, reserve), else the most that fit rounded down to `multiple` (<= step: stop)."""
    n_fit = (remaining_s - fixed_s) / max(s_per_step, 1e-12)
    if n_fit >= target - step:
        return target
    return step + max(0, math.floor(n_fit / multiple)) * multiple


# ------------------------------------------------------------------------------- run and write

def _loss_at(metrics: Path, step: int) -> float | None:
    recs = results.read_jsonl(metrics) if metrics.exists() else []
    return next((r["loss"] for r in reversed(recs) if r["step"] == step), None)


def run(cfg: Config, out: str | Path, run_dir: str | Path, *, budget_s: float = math.inf,
        n_prompts: int = 1280, every: int | None = None, seed: int = 0, t0: float | None = None,
        provenance: dict | None = None, reserve_s: float | None = None, quiet: bool = False,
        figure: bool = True, resume: bool = False) -> dict:
    """Trains `cfg` in a fresh `run_dir` to the log_steps(cfg.train.steps, every) in turn and
    scores the model after each, stopping when the next segment would end past `budget_s`
    (seconds since `t0`, default now; the last segment is shortened to what fits); writes OUT
    (module docstring) and returns the provenance. `every` (default train.steps_per_dispatch)
    must be a multiple of it; train.log_every is set to train.steps_per_dispatch.
    `reserve_s` (default 5% of the budget + 2 s) is kept free for the figure and misestimates.
    The figure is drawn at the end (also after a failure) unless `figure` is False.
    `resume`: a run stopped part-way in `run_dir` continues from its newest checkpoint with
    OUT's rows and segments (same config and options, else ConfigError; at a constant rate
    train.steps may change to a step not yet passed), scoring new steps only.
    """
    from icl_ood.train import load_model, train_many
    t0 = time.perf_counter() if t0 is None else t0
    out, run_dir = Path(out).resolve(), Path(run_dir).resolve()
    spd = cfg.train.steps_per_dispatch
    every = every or spd
    if every % spd:
        raise ConfigError(f"--every: must be a multiple of train.steps_per_dispatch ({spd}), "
                          f"got {every}")
    if run_dir == out or out in run_dir.parents:
        raise ConfigError(f"--run-dir {run_dir}: must not be inside --out (checkpoints are not "
                          "results)")
    cfg = along_config(cfg)
    earlier = continued(out, run_dir, cfg, n_prompts, seed, every) if resume else None
    if earlier is None and (run_dir / "ckpt").exists():
        raise ConfigError(f"--run-dir {run_dir}: already holds a training run; give a new folder")
    reserve_s = 0.05 * budget_s + 2.0 if reserve_s is None and math.isfinite(budget_s) \
        else (reserve_s or 0.0)
    out.mkdir(parents=True, exist_ok=True)
    if earlier is None:
        (out / "log.txt").write_text("")
    targets = log_steps(cfg.train.steps, every)
    prov = {"command": " ".join(["python", *sys.argv]), **(provenance or {}),
            "config": cfg.to_dict(), "commit": results.commit(),
            **results.machine(), "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "budget_s": budget_s if math.isfinite(budget_s) else None, "reserve_s": reserve_s,
            "n_prompts": n_prompts, "eval_seed": seed, "every": every, "planned_steps": targets,
            "run_dir": str(run_dir), "baselines": list(BASELINES), "versus": list(VERSUS),
            "loss_definition": LOSS_DEFINITION, "segments": [], "steps_reached": 0,
            "status": "running"}
    if earlier is not None:  # elapsed_s (and the budget) count the earlier invocations too
        t0 -= earlier[0].get("elapsed_s", 0.0)
        prov.update(segments=earlier[0]["segments"], steps_reached=earlier[0]["steps_reached"],
                    resumed=earlier[0].get("resumed", []) + [earlier[0]["steps_reached"]],
                    earlier=earlier[0].get("earlier", []) + [
                        {k: earlier[0].get(k) for k in ("command", "commit", "date", "status",
                                                        "steps_reached", "elapsed_s")}
                        | {"train_steps": earlier[0]["config"]["train"]["steps"]}])

    def log(msg: str) -> None:
        if not quiet:
            print(msg, flush=True)
        with (out / "log.txt").open("a") as fh:
            fh.write(msg + "\n")

    def save_prov() -> None:
        prov["elapsed_s"] = time.perf_counter() - t0
        results.write_json(out / "provenance.json", prov)

    save_prov()
    rows: list[dict] = []
    try:
        try:
            ref = reference(cfg.data, n_prompts, seed, run=cfg.name)
        except Exception as e:  # noqa: BLE001 (e.g. float64 on an accelerator): use the host
            prov["baselines_on_cpu"] = f"{type(e).__name__}: {e}"
            log(f"baselines failed on {jax.default_backend()} ({type(e).__name__}: {e}); "
                "computing them on the host CPU")
            with jax.default_device(jax.devices("cpu")[0]):
                ref = reference(cfg.data, n_prompts, seed, run=cfg.name)
        rows = list(ref.rows) if earlier is None else earlier[1]
        results.write_jsonl(out / "rows.jsonl", rows)
        prov["baselines_s"] = ref.seconds
        save_prov()
        kmax = cfg.data.n_points - 1
        k_show = min(40, kmax)
        log(f"baselines on {len(ref.tasks)} tasks x {n_prompts} prompts: {ref.seconds:.1f} s; "
            f"{f'budget {budget_s:g} s' if math.isfinite(budget_s) else 'no time budget'}; planned steps {targets[:4]}...{targets[-1]}")
        step, segs = prov["steps_reached"], prov["segments"]
        prov["status"] = "reached train.steps"
        for target in [t for t in targets if t > step]:
            capped = False
            if segs:
                last = segs[-1]
                recent = segs[1:][-2:] or segs[:1]  # the first segment's includes compilation
                fixed = last["train_s"] - last["train_loop_s"] + last["eval_s"] + reserve_s
                planned = plan_segment(step, target, spd, budget_s - (time.perf_counter() - t0),
                                       max(s["s_per_step"] for s in recent), fixed)
                capped = planned < target
                if planned <= step:
                    prov["status"] = "budget"
                    break
                target = planned
            t_seg = time.perf_counter()
            summary = train_many([cfg], [run_dir], stop_at=target, progress=False)
            t_eval = time.perf_counter()
            model, _, reached = load_model(run_dir)
            rows += score(model, cfg.data, ref, reached, run=cfg.name)
            results.write_jsonl(out / "rows.jsonl", rows)
            t_end = time.perf_counter()
            trained = reached - step
            step = reached
            loss = _loss_at(run_dir / "metrics.jsonl", step)
            segs.append({"target": target, "step": step, "capped": capped,
                         "train_s": t_eval - t_seg, "train_loop_s": summary["wall_s"],
                         "s_per_step": summary["wall_s"] / max(trained, 1),
                         "eval_s": t_end - t_eval, "loss": loss, "elapsed_s": t_end - t0})
            prov["steps_reached"] = step
            if (run_dir / "metrics.jsonl").exists():
                shutil.copyfile(run_dir / "metrics.jsonl", out / "metrics.jsonl.tmp")
                (out / "metrics.jsonl.tmp").replace(out / "metrics.jsonl")
            save_prov()
            a_half, pick = "a=0.5", along_report.pick
            log(f"step {step:>7}  loss {loss if loss is not None else math.nan:.4g}  "
                f"{a_half} k={k_show}: error {pick(rows, a_half, k_show, step=step):.4g} "
                f"(Bayes {pick(rows, a_half, k_show, 'bayes_mixture'):.4g}), distance to Bayes "
                f"{pick(rows, a_half, k_show, metric='distance', versus='bayes_mixture', step=step):.4g}"
                f"  | train {segs[-1]['train_s']:.1f} s ({1e3 * segs[-1]['s_per_step']:.2f} ms/step)"
                f" eval {segs[-1]['eval_s']:.1f} s  elapsed {t_end - t0:.1f} s")
            if summary["interrupted"]:
                prov["status"] = f"interrupted ({summary['interrupted']})"
                break
            if capped:
                prov["status"] = "budget"
                break
    except BaseException as e:
        prov["status"] = f"failed: {type(e).__name__}: {e}"
        raise
    finally:
        save_prov()  # the final status first: the report reads it
        try:
            if figure:
                along_report.draw(out)
                along_report.write(out)
        except Exception:  # noqa: BLE001 (a figure must never lose the results)
            prov["figure_error"] = traceback.format_exc(limit=3)
            print(prov["figure_error"], file=sys.stderr)
        save_prov()
        log(f"{prov['status']}: {prov['steps_reached']} steps, {prov['elapsed_s']:.1f} s; "
            f"results in {out}")
    return prov
