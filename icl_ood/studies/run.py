"""Runs one task of a study: trains its seed bundle as one program (resuming from checkpoints),
then scores every run at the final step and at its kept log-spaced checkpoints.

A finished task (its record intact, icl_ood.studies.record) is reused; an interrupted one
continues from the newest step every run of it has a checkpoint for. Each stage's outputs are
the ordinary ones: runs/<run>/ (config, metrics, ckpt/, config.manifest.json) and
runs/<run>/eval/<sweep>[.<options>][.step<S>].jsonl with manifests (icl_ood.evaluate).
"""

from __future__ import annotations

import time
from pathlib import Path

from icl_ood import results
from icl_ood.reliability import newest_step
from icl_ood.studies import plan as planning
from icl_ood.studies.record import claimed, finished, write_record


def run_dirs(out: Path, task: dict) -> list[Path]:
    """The run folder of each seed of the task."""
    return [Path(out) / "runs" / planning.run_name(task, s) for s in task["seeds"]]


def run_task(out: str | Path, index: int, *, progress: bool = False, log=print) -> dict:
    """Trains and scores task `index` of the study in `out`; returns its record.

    Raises replicate.Interrupted (a checkpoint saved, nothing scored) if training is stopped by
    SIGINT or SIGTERM; ResultsError if another live process on this host runs the task."""
    out = Path(out)
    task = planning.task(out, index)
    rec, why = finished(out, task)
    if rec is not None:
        log(f"task {index} {task['name']}: done, reused")
        return rec
    if why:
        log(f"task {index} {task['name']}: {why}; scoring again")
    cfgs, dirs = planning.configs(task), run_dirs(out, task)
    from icl_ood.train import check_run_dir
    for c, d in zip(cfgs, dirs):  # a different config in a run folder: refused before compute
        check_run_dir(c, d)
    t0 = time.perf_counter()
    with claimed(out, task):
        training = _train(task, cfgs, dirs, progress, log)
        runs = {d.name: _score(out, task, d, log, donors=dirs) for d in dirs}
        rec = {"index": index, "name": task["name"], "hash": task["hash"], "runs": runs,
               "training": training, "wall_s": round(time.perf_counter() - t0, 1),
               "commit": results.commit(), **results.machine()}
        write_record(out, task, rec)
    log(f"task {index} {task['name']}: done ({rec['wall_s']} s)")
    return rec


def _train(task: dict, cfgs, dirs: list[Path], progress: bool, log) -> dict:
    """Trains the bundle to its last step (nothing if every run is there already)."""
    from icl_ood.replicate import Interrupted
    from icl_ood.train import train_many
    steps = cfgs[0].train.steps
    if all(newest_step(d) >= steps for d in dirs):
        return {"resumed_from": steps, "steps": steps, "wall_s": 0.0}
    log(f"task {task['index']} {task['name']}: train {len(dirs)} seeds {task['seeds']} "
        f"together, {steps} steps")
    s = train_many(cfgs, dirs, progress=progress, shard_runs=True,
                   keep_steps=along_steps(task, cfgs[0])[:-1])
    if s["interrupted"]:
        raise Interrupted(s["interrupted"], f"{s['interrupted']}: task {task['index']} "
                          f"{task['name']} stopped at step {s['steps']} of {steps} with a "
                          "checkpoint; nothing scored; run it again to continue")
    return {"resumed_from": s["resumed_from"], "steps": s["steps"], "wall_s": round(s["wall_s"], 1),
            "run_devices": s.get("run_devices", 1), "n_devices": s["n_devices"]}


def along_steps(task: dict, cfg) -> tuple[int, ...]:
    """The experiment's score steps along training (its steps_per_octave, saved in the task;
    just the last step if none)."""
    from icl_ood.train.runs import score_steps as log_spaced
    return log_spaced(cfg.train.steps, cfg.train.steps_per_dispatch,
                      task.get("steps_per_octave", 0))


def score_steps(run_dir: Path, cfg, task: dict | None = None) -> list[int]:
    """The steps a run is scored at: its kept checkpoints at log-spaced steps (train.keep_log's
    octaves and the experiment's score steps) and the final step."""
    from icl_ood.checkpoint import Checkpoints
    from icl_ood.train.runs import log_steps
    ckpts = Checkpoints(run_dir / "ckpt")
    try:
        kept = set(ckpts.steps())
    finally:
        ckpts.close()
    wanted = set(log_steps(cfg.train)) | set(along_steps(task or {}, cfg))
    return sorted(kept & wanted - {cfg.train.steps}) + [cfg.train.steps]


def _score(out: Path, task: dict, run_dir: Path, log, donors=()) -> dict:
    """Evaluates one run's sweeps at every score step (reusing results that match); its final
    step, parameter checksum and result files (relative to `out`)."""
    from icl_ood import evaluate as ev
    from icl_ood import examples
    from icl_ood import yardsticks as ys
    from icl_ood.train import load_model
    cfg = planning.configs(task)[0]
    final = cfg.train.steps
    files, checksum = [], None
    mix = tuple(task["mix"]) if task["mix"] else None
    baselines = None if task["baselines"] is None else tuple(task["baselines"])
    for step in score_steps(run_dir, cfg, task):
        at = None if step == final else step  # the final step's files are the run's latest
        model, mcfg, got = load_model(run_dir, at)
        if got != step:  # never score a half-trained model as the result
            raise results.ResultsError(f"{run_dir}: the newest readable checkpoint is step "
                                       f"{got}, not {final}; nothing scored")
        sums = ev.model_checksum(model)
        if at is None:
            checksum = sums
            _train_manifest(run_dir, mcfg, step, sums)
        for sweep in task["sweeps"]:
            if at is not None:  # along training: the model's rows against yardsticks kept once
                options = ev.eval_options(mcfg.data, sweep, n_prompts=task["n_prompts"],
                                          mix=mix, baselines=baselines)
                path = ys.step_path(run_dir, sweep, options, step)
                if not ys.scored(run_dir, mcfg, sweep, options, step):
                    log(f"    {run_dir.name}: {sweep} at step {step}")
                    ys.score(run_dir, sweep, (model, mcfg, step), n_prompts=task["n_prompts"],
                             mix=mix, baselines=baselines, checksum=sums, donors=donors)
                files.append(path)
                continue
            options = ev.eval_options(mcfg.data, sweep, n_prompts=task["n_prompts"], mix=mix,
                                      baselines=baselines)
            path = ev.sweep_paths(run_dir, sweep, options)[0]
            if not results.matches(path, ev.result_inputs(mcfg, step, sums, sweep, options)):
                log(f"    {run_dir.name}: {sweep} at step {step}")
                ev.run_sweep(run_dir, sweep, n_prompts=task["n_prompts"], mix=mix,
                             baselines=baselines, model_and_cfg=(model, mcfg, step),
                             checksum=sums)
            files.append(path)
        if at is None and mcfg.data.dim == 1:  # the example-prompt figure's curves
            ex_mix = mix or (mcfg.data.families[0],)
            path = run_dir / "eval" / "examples.json"
            if not results.matches(path, examples.examples_inputs(mcfg, step, sums, ex_mix)):
                examples.write_examples(run_dir, ex_mix, model_and_cfg=(model, mcfg, step),
                                        checksum=sums)
            files.append(path)
    return {"step": final, "checksum": checksum, "seed": mcfg.train.seed,
            "results": [str(p.relative_to(out)) for p in files]}


def _train_manifest(run_dir: Path, cfg, step: int, checksum: str) -> None:
    """runs/<run>/config.manifest.json: the config trained, its final step and the checksum of
    its parameters (as `icl-ood replicate` writes it)."""
    path = run_dir / "config.json"
    inputs, info = {"config": results.digest(cfg.to_dict())}, {"step": step, "checksum": checksum}
    man = results.read_manifest(path)
    if results.matches(path, inputs) and {k: man.get(k) for k in info} == info:
        return
    results.write_manifest(path, "train", inputs, [path], rank=[step], info=info)
