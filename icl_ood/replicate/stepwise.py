"""An experiment scored along training (Experiment.steps_per_octave): two ordinary stages in turn,
training a group of runs to its next declared step (train_many with stop_at) and evaluating each
run's checkpoint there against yardsticks computed once (icl_ood.yardsticks); then the figures
and report of the whole folder, as for any experiment.

Reuse and resume: a step whose rows are saved with a matching manifest is not scored again;
training continues from the newest checkpoint (after SIGINT or SIGTERM: Interrupted, nothing
later runs). A wall-clock budget (`budget_s`, counted from `t0`) ends training early: the last
segment is shortened to the steps that fit (a multiple of steps_per_dispatch; each group's
first segment always runs, it includes compilation), the step reached is scored, and
experiment.json marks the run incomplete (step reached, target, why), which the report's first
lines state.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

from icl_ood import results
from icl_ood.config import Config
from icl_ood.experiments import Experiment


def plan_segment(step: int, target: int, multiple: int, remaining_s: float, s_per_step: float,
                 fixed_s: float) -> int:
    """The step to train to next: `target` if its steps fit in remaining_s after fixed_s (overheads,
    evaluation, reserve), else the most that fit rounded down to `multiple` (<= step: stop)."""
    n_fit = (remaining_s - fixed_s) / max(s_per_step, 1e-12)
    if n_fit >= target - step:
        return target
    return step + max(0, math.floor(n_fit / multiple)) * multiple


def _options(exp: Experiment, cfg: Config, sweep: str, n_prompts: int) -> dict:
    from icl_ood import evaluate as ev
    return ev.eval_options(cfg.data, sweep, n_prompts=n_prompts, mix=exp.mix,
                           baselines=exp.baselines)


def describe(exp: Experiment, cfgs: dict[str, Config], n_prompts: int,
             scored: dict[str, list[int]] | None = None,
             incomplete: dict[str, dict] | None = None) -> dict:
    """experiment.json's description of the runs: per sweep the files of every scored step
    (default: every declared one) under "along", the last one's under "results"."""
    from icl_ood import yardsticks as ys
    from icl_ood.train.runs import score_steps
    runs = []
    for run in exp.runs:
        cfg = cfgs[run.name]
        steps = (scored or {}).get(run.name) or list(score_steps(
            cfg.train.steps, cfg.train.steps_per_dispatch, exp.steps_per_octave))
        opts = {s: _options(exp, cfg, s, n_prompts) for s in exp.sweeps}
        along = {s: {str(st): [f"eval/{ys.step_path('', s, opts[s], st).name}"] for st in steps}
                 for s in exp.sweeps}
        runs.append({"name": run.name, "label": run.label, "data": exp.changes(run),
                     "config": results.digest(cfg.to_dict()),
                     "results": {s: along[s][str(steps[-1])] for s in exp.sweeps},
                     "along": along, "incomplete": (incomplete or {}).get(run.name)})
    return {"format": results.FORMAT, "doc": exp.doc, "mix": exp.mix, "sweeps": exp.sweeps,
            "score_steps": {"steps_per_octave": exp.steps_per_octave}, "runs": runs}


def run_study(exp: Experiment, cfgs: dict[str, Config], out: Path, request: dict, groups, *,
              progress: bool, log, prov: dict, budget_s: float = math.inf,
              t0: float | None = None) -> dict[str, dict]:
    """Trains each group to every declared step in turn and scores each run there (module
    docstring); writes experiment.json (again at the end, with the steps scored) and returns
    {run: incomplete record} for runs a budget stopped early."""
    from icl_ood.reliability import GracefulStop
    t0 = time.perf_counter() if t0 is None else t0
    n = request["n_prompts"]
    changes = exp.data_changes(cfgs[exp.runs[0].name])
    results.write_json(out / "experiment.json", {**request, **describe(exp, cfgs, n),
                                                 "data_changes": changes}, indent=2)
    with GracefulStop() as stop:  # a signal while scoring: stop after the step being scored
        return _run(exp, cfgs, out, request, groups, progress, log, prov, budget_s, t0, stop)


def _run(exp, cfgs, out, request, groups, progress, log, prov, budget_s, t0, stop):
    """run_study's loop over groups and steps."""
    from icl_ood import yardsticks as ys
    from icl_ood.checkpoint import CheckpointError
    from icl_ood.reliability import newest_step
    from icl_ood.replicate.interrupted import Interrupted
    from icl_ood.train import load_model, train_many
    from icl_ood.train.runs import score_steps
    n = request["n_prompts"]
    reserve = 0.05 * budget_s + 2.0 if math.isfinite(budget_s) else 0.0
    scored: dict[str, list[int]] = {}
    incomplete: dict[str, dict] = {}
    for gi, names in enumerate(groups, 1):
        cfg0 = cfgs[names[0]]
        spd = cfg0.train.steps_per_dispatch
        targets = score_steps(cfg0.train.steps, spd, exp.steps_per_octave)
        dirs = [out / "runs" / name for name in names]
        rates, fixed, reused = [], 0.0, []
        what = f"[{gi}/{len(groups)}] {', '.join(names)}"
        log(f"{what}: train and score at {len(targets)} steps ({targets[0]} ... {targets[-1]}; "
            f"{request['preset']} preset, {n} prompts per task)")
        for target in targets:
            if all(ys.scored(d, cfgs[nm], s, _options(exp, cfgs[nm], s, n), target)
                   for nm, d in zip(names, dirs) for s in exp.sweeps):
                reused.append(target)
                for nm in names:
                    scored.setdefault(nm, []).append(target)
                continue
            step = min(newest_step(d) for d in dirs)
            capped = False
            if step < target:
                if math.isfinite(budget_s) and rates:
                    left = budget_s - (time.perf_counter() - t0)
                    recent = rates[1:][-2:] or rates  # the first includes compilation
                    planned = plan_segment(step, target, spd, left, max(recent), fixed + reserve)
                    if planned <= step:
                        break
                    capped, target = planned < target, planned
                t_seg = time.perf_counter()
                summary = train_many([cfgs[nm] for nm in names], dirs, stop_at=target,
                                     progress=progress)
                key = f"train/{'+'.join(names)}"
                stage = prov["stages"].setdefault(key, {"wall_s": 0.0})
                stage.update(wall_s=round(stage["wall_s"] + time.perf_counter() - t_seg, 1),
                             steps=summary["steps"])
                if summary["interrupted"]:
                    sig = summary["interrupted"]
                    raise Interrupted(sig, f"{sig}: training of {', '.join(names)} stopped at "
                                           f"step {summary['steps']} with a checkpoint; steps "
                                           "scored so far are kept; no figures or report; "
                                           "rerun the same command to continue")
                rates.append(summary["wall_s"] / max(summary["steps"] - step, 1))
                fixed = time.perf_counter() - t_seg - summary["wall_s"]  # + evaluation, below
            t_eval = time.perf_counter()
            for nm, d in zip(names, dirs):
                try:
                    loaded = load_model(d, target)
                except CheckpointError as e:
                    raise results.ResultsError(f"{d}: step {target} is not scored and its "
                                               f"checkpoint is gone ({e})") from e
                for s in exp.sweeps:
                    ys.score(d, s, loaded, n_prompts=n, mix=exp.mix, baselines=exp.baselines,
                             log=log, donors=dirs)
                scored.setdefault(nm, []).append(target)
            fixed += time.perf_counter() - t_eval
            ev_stage = prov["stages"].setdefault(f"evaluate/{'+'.join(names)}", {"wall_s": 0.0})
            ev_stage["wall_s"] = round(ev_stage["wall_s"] + time.perf_counter() - t_eval, 1)
            log(f"    step {target}: scored {len(names)} run(s) in "
                f"{time.perf_counter() - t_eval:.1f} s (elapsed {time.perf_counter() - t0:.0f} s)")
            if stop.requested:
                raise Interrupted(stop.name, f"{stop.name}: stopped after scoring step {target} "
                                             "(kept); no figures or report; rerun the same "
                                             "command to continue")
            if capped:
                break
        if reused:
            log(f"    {len(reused)} steps already scored, reused ({reused[0]} ... {reused[-1]})")
        last = max(scored.get(names[0], [0]))
        if last < cfg0.train.steps:
            why = f"wall-clock budget of {budget_s:g} s"
            for nm in names:
                incomplete[nm] = {"reached": last, "target": cfg0.train.steps, "why": why}
            log(f"    stopped at step {last} of {cfg0.train.steps}: {why}; marked incomplete")
    results.write_json(out / "experiment.json", {**request, **describe(
        exp, cfgs, n, scored, incomplete), "data_changes": exp.data_changes(
            cfgs[exp.runs[0].name])}, indent=2)
    return incomplete
