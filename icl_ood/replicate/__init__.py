"""Runs an experiment's stages (train -> evaluate -> figures -> report), reusing finished ones.

Output folder layout (every file written atomically; see icl_ood.results for the manifests):
    OUT/experiment.json                 the request (experiment, preset, overrides, n_prompts) and
                                        what figures and report need: runs (name, label,
                                        pretraining changes, result files), mix, sweeps, doc
    OUT/runs/<run>/                     training run (config.json, metrics.jsonl, ckpt/,
                                        config.manifest.json)
    OUT/runs/<run>/eval/<sweep>[.<options>].jsonl (+ _bayes_weights, + .manifest.json)
                                        its evaluation rows (see icl_ood.evaluate)
    OUT/runs/<run>/eval/examples.json   curves across x for the example-prompt figure
    OUT/figures/*.png|pdf (+ manifest.json), OUT/report.md (+ report.manifest.json),
    OUT/provenance.json

A stage is reused only if its manifest matches its inputs: training if the newest *readable*
checkpoint is the final step; an evaluation if it was computed from this checkpoint (step and a
checksum of its parameters) with these options. A replicate stopped by SIGINT or SIGTERM during
training raises `Interrupted` (the CLI exits 130 or 143) and runs no later stage.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

from icl_ood import results
from icl_ood.config import Config, ConfigError
from icl_ood.experiments import Experiment, get
from icl_ood.reliability import newest_step
from icl_ood.replicate.interrupted import Interrupted

__all__ = ["Interrupted", "provenance", "replicate"]


# ------------------------------------------------------------------------------------ stages

def _trained(run_dir: Path, cfg: Config, load_model) -> tuple[tuple | None, str]:
    """((model, config, step), '') if the run's newest *readable* checkpoint is its final step;
    else (None, why it needs training)."""
    from icl_ood.checkpoint import CheckpointError
    newest = newest_step(run_dir)  # whether it is readable: below
    if newest < cfg.train.steps:
        return None, f"from step {newest}" if newest else ""
    try:
        found = load_model(run_dir)  # warns about each unreadable checkpoint it skips
    except CheckpointError as e:
        return None, str(e)
    if found[2] < cfg.train.steps:
        return None, (f"the checkpoint of step {newest} is unreadable; from step {found[2]}, the "
                      "newest readable one")
    return found, ""


def _check_request(out: Path, request: dict) -> None:
    """Refuses to reuse an output folder made by a different request (names the fields)."""
    old = results.read_json(out / "experiment.json")
    if old is None:
        return
    differ = [f"{k}: {old.get(k)!r} -> {v!r}" for k, v in request.items() if old.get(k) != v]
    if differ:
        raise ConfigError(f"{out} holds results of another request ({'; '.join(differ)}); "
                          "rerun with the same options to resume, or pick another --out")


def _groups(cfgs: dict[str, Config]) -> list[list[str]]:
    """Run names grouped so that each group differs only in seed and mixture weights."""
    from icl_ood.train import GROUP_FIELDS
    groups: list[list[str]] = []
    for name, cfg in cfgs.items():
        for g in groups:
            diff = [f for f in cfg.diff(cfgs[g[0]]) if f.split(":")[0] not in GROUP_FIELDS]
            if not diff:
                g.append(name)
                break
        else:
            groups.append([name])
    return groups


def describe(exp: Experiment, cfgs: dict[str, Config], n_prompts: int) -> dict:
    """What figures and the report need besides the saved results (written into
    experiment.json, so that a redraw never depends on the experiment definitions of the day):
    doc, mix, sweeps, and per run its name, label, pretraining changes and result files."""
    from icl_ood import evaluate as ev
    runs = []
    for run in exp.runs:
        cfg = cfgs[run.name]
        files = {s: [f"eval/{f}" for f in results.eval_files(s, ev.eval_options(
            cfg.data, s, n_prompts=n_prompts, mix=exp.mix, baselines=exp.baselines))]
                 for s in exp.sweeps}
        if cfg.data.dim == 1:
            files["examples"] = ["eval/examples.json"]
        runs.append({"name": run.name, "label": run.label, "data": exp.changes(run),
                     "config": results.digest(cfg.to_dict()), "results": files})
    return {"format": results.FORMAT, "doc": exp.doc, "mix": exp.mix, "sweeps": exp.sweeps,
            "runs": runs}


def _train_manifest(run_dir: Path, cfg: Config, step: int, checksum: str) -> None:
    """runs/<run>/config.manifest.json, the training stage's manifest: the config trained, the
    final step and a checksum of its parameters (written when it changes; the checkpoints
    themselves decide reuse)."""
    path = run_dir / "config.json"
    inputs = {"config": results.digest(cfg.to_dict())}
    info = {"step": step, "checksum": checksum}
    man = results.read_manifest(path)
    if results.matches(path, inputs) and {k: man.get(k) for k in info} == info:
        return
    results.write_manifest(path, "train", inputs, [run_dir / "config.json"], rank=[step],
                           complete=step >= cfg.train.steps, info=info)


def replicate(experiment: str = "demo", preset: str = "demo", out: str | Path | None = None, *,
              overrides: tuple[str, ...] = (), n_prompts: int = 1280, progress: bool = True,
              log=print, budget_s: float = math.inf) -> Path:
    """Trains every run of the experiment, evaluates its sweeps, draws the figures and writes
    report.md in `out` (default results/<experiment>-<preset>); finished stages are reused.
    An experiment scored along training (Experiment.steps_per_octave) runs the same two stages
    step by step (icl_ood.replicate.stepwise), within `budget_s` seconds of wall-clock time
    if given (the study then marked incomplete where it stopped early).

    Raises Interrupted (after saving a checkpoint, before any later stage) if training is
    stopped by SIGINT or SIGTERM; ConfigError for an invalid request (nothing written)."""
    t_call = time.perf_counter()
    exp = get(experiment)
    cfgs = {r.name: exp.config(preset, r, tuple(overrides)) for r in exp.runs}  # validates all
    if n_prompts < 2:
        raise ConfigError(f"--n-prompts: must be >= 2, got {n_prompts}")
    out = Path(out or f"results/{experiment}-{preset}")
    request = {"experiment": experiment, "preset": preset, "overrides": list(overrides),
               "n_prompts": n_prompts}
    _check_request(out, request)
    if exp.steps_per_octave:
        return _stepwise(exp, cfgs, out, request, progress, log, budget_s, t_call)
    if math.isfinite(budget_s):
        raise ConfigError(f"--budget-s: experiment {experiment} is not scored along training; "
                          "only such experiments (e.g. compute) take a wall-clock budget")
    from icl_ood import evaluate as ev  # jax imports: after every check
    from icl_ood import examples, figures, report
    from icl_ood.train import check_run_dir, load_model, train_many
    for name, cfg in cfgs.items():
        check_run_dir(cfg, out / "runs" / name)
    out.mkdir(parents=True, exist_ok=True)
    changes = exp.data_changes(cfgs[exp.runs[0].name])
    results.write_json(out / "experiment.json", {**request, **describe(exp, cfgs, n_prompts),
                                                 "data_changes": changes}, indent=2)
    prov_path = out / "provenance.json"
    prov = results.read_json(prov_path, {"stages": {}})
    t_start = time.perf_counter()
    groups = _groups(cfgs)
    n_stages = len(groups) + len(cfgs) + 1
    stage = 0
    loaded = {}  # run -> (model, config, step) of its final checkpoint, once known
    for names in groups:
        stage += 1
        what = ", ".join(names)
        state = {n: _trained(out / "runs" / n, cfgs[n], load_model) for n in names}
        loaded.update({n: found for n, (found, _) in state.items() if found})
        todo = [n for n in names if state[n][0] is None]
        steps = cfgs[names[0]].train.steps
        if not todo:
            log(f"[{stage}/{n_stages}] train {what}: done (step {steps}), reused")
            continue
        why = "; ".join(f"{n}: {state[n][1]}" for n in todo if state[n][1])
        log(f"[{stage}/{n_stages}] train {what} ({preset} preset, {steps} steps"
            + (", together in one program" if len(names) > 1 else "")
            + (f"; {why}" if why else "") + ")")
        t0 = time.perf_counter()
        dirs = [out / "runs" / n for n in names]
        summary = train_many([cfgs[n] for n in names], dirs, progress=progress)
        key = f"train/{'+'.join(names)}"
        earlier = prov["stages"].get(key, {})
        wall = round(time.perf_counter() - t0 + (earlier.get("wall_s", 0.0)
                                                 if earlier.get("interrupted") else 0.0), 1)
        prov["stages"][key] = {"wall_s": wall, "final_loss": summary["final_loss"]}
        for n in names:
            loaded.pop(n, None)
        if summary["interrupted"]:
            sig = summary["interrupted"]
            prov["stages"][key] = {"wall_s": wall, "interrupted": sig, "steps": summary["steps"]}
            results.write_json(prov_path, prov, indent=2)
            raise Interrupted(sig, f"{sig}: training of {what} stopped at step "
                                   f"{summary['steps']} of {steps} with a checkpoint; nothing "
                                   "evaluated, no figures or report; rerun the same command to "
                                   "continue")
    for name, cfg in cfgs.items():
        stage += 1
        run_dir = out / "runs" / name
        model, mcfg, step = loaded.get(name) or load_model(run_dir)
        if step < cfg.train.steps:  # never evaluate a half-trained model as the result
            raise results.ResultsError(f"{run_dir}: the newest readable checkpoint is step "
                                       f"{step}, not {cfg.train.steps}; nothing evaluated")
        checksum = ev.model_checksum(model)
        _train_manifest(run_dir, mcfg, step, checksum)
        todo = []
        for s in exp.sweeps:
            options = ev.eval_options(mcfg.data, s, n_prompts=n_prompts, mix=exp.mix,
                                      baselines=exp.baselines)
            path = ev.sweep_paths(run_dir, s, options)[0]
            if not results.matches(path, ev.result_inputs(mcfg, step, checksum, s, options)):
                todo.append(s)
        ex_mix = exp.mix or (mcfg.data.families[0],)
        if mcfg.data.dim == 1 and not results.matches(
                run_dir / "eval" / "examples.json",
                examples.examples_inputs(mcfg, step, checksum, ex_mix)):
            todo.append("examples")
        if not todo:
            log(f"[{stage}/{n_stages}] evaluate {name} (step {step}): done, reused")
            continue
        log(f"[{stage}/{n_stages}] evaluate {name} (step {step}): {', '.join(todo)} "
            f"({n_prompts} prompts per task, "
            f"{'all baselines' if exp.baselines is None else ', '.join(exp.baselines)})")
        t0 = time.perf_counter()
        for sweep in todo:
            if sweep == "examples":
                examples.write_examples(run_dir, ex_mix, model_and_cfg=(model, mcfg, step),
                                        checksum=checksum)
                continue
            res = ev.run_sweep(run_dir, sweep, n_prompts=n_prompts, mix=exp.mix,
                               baselines=exp.baselines, model_and_cfg=(model, mcfg, step),
                               checksum=checksum, progress=progress)
            log(f"    {sweep}: {len({r['task'] for r in res.rows})} tasks, "
                f"{res.seconds['total']:.1f} s")
        prov["stages"][f"evaluate/{name}"] = {"wall_s": round(time.perf_counter() - t0, 1),
                                              "step": step}
    stage += 1
    log(f"[{stage}/{n_stages}] figures and report")
    prov.update(provenance(experiment, preset, overrides, cfgs))
    prov["wall_s_this_invocation"] = round(time.perf_counter() - t_start, 1)
    results.write_json(prov_path, prov, indent=2)
    paths = figures.draw_all(out)
    report.write(out)
    log(f"done: {len(paths)} figures in {out / 'figures'}, report {out / 'report.md'}")
    return out


def _stepwise(exp: Experiment, cfgs: dict[str, Config], out: Path, request: dict,
              progress: bool, log, budget_s: float, t0: float) -> Path:
    """An experiment scored along training (icl_ood.replicate.stepwise), then figures, report."""
    from icl_ood import figures, report
    from icl_ood.replicate.stepwise import run_study
    from icl_ood.train import check_run_dir
    for name, cfg in cfgs.items():
        check_run_dir(cfg, out / "runs" / name)
    out.mkdir(parents=True, exist_ok=True)
    prov_path = out / "provenance.json"
    prov = results.read_json(prov_path, {"stages": {}})
    try:
        incomplete = run_study(exp, cfgs, out, request, _groups(cfgs), progress=progress,
                               log=log, prov=prov, budget_s=budget_s, t0=t0)
    finally:
        results.write_json(prov_path, prov, indent=2)
    for spec in results.read_json(out / "experiment.json")["runs"]:  # the training manifests
        run_dir = out / "runs" / spec["name"]
        ck = results.read_manifest(run_dir / next(iter(spec["results"].values()))[0])["inputs"]
        _train_manifest(run_dir, cfgs[spec["name"]], ck["checkpoint"]["step"],
                        ck["checkpoint"]["checksum"])
    prov.update(provenance(exp.name, request["preset"], request["overrides"], cfgs),
                budget_s=budget_s if math.isfinite(budget_s) else None,
                wall_s_this_invocation=round(time.perf_counter() - t0, 1))
    results.write_json(prov_path, prov, indent=2)
    paths = figures.draw_all(out)
    report.write(out)
    log(f"done{' (incomplete: ' + ', '.join(incomplete) + ')' if incomplete else ''}: "
        f"{len(paths)} figure files in {out / 'figures'}, report {out / 'report.md'}")
    return out


def provenance(experiment: str, preset: str, overrides, cfgs: dict[str, Config]) -> dict:
    """Command, preset, commit, device and seeds of a replicate call."""
    return {"command": " ".join(["icl-ood"] + sys.argv[1:]) if sys.argv[0].endswith("icl-ood")
            else f"icl-ood replicate --experiment {experiment} --preset {preset}"
            + "".join(f" --set {o}" for o in overrides),
            "experiment": experiment, "preset": preset, "overrides": list(overrides),
            "commit": results.commit(), **results.machine(),
            "seeds": {n: c.train.seed for n, c in cfgs.items()},
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
