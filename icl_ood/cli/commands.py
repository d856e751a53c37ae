"""What each command does: train, benchmark, evaluate, config, replicate, figures."""

from __future__ import annotations

import json
import math
import signal
import sys
from pathlib import Path

from icl_ood import presets, results
from icl_ood.config import ConfigError
from icl_ood.results import ResultsError
from icl_ood.table import format_table

DEFAULT_PRESET_NOTE = ("icl-ood: no --preset given, so this was the tiny preset (a smoke test); "
                       "--preset picks another: " + ", ".join(presets.PRESETS))


def _config(args):
    cfg = presets.get(args.preset or "tiny")
    return cfg.override(args.set or [])


def cmd_train(args) -> int:
    """Prints one JSON summary, including "complete" (the run reached train.steps) and
    final_loss: the loss of the last metrics.jsonl record (the mean batch loss of the last
    train.log_every steps; the one definition the report and provenance use too), also for a
    rerun of a finished run; null if none was logged, never NaN.
    Exit status: 0 done (or stopped by --stop-at); 2 invalid input (nothing written);
    1 training or file failure (diverged, no readable checkpoint, unwritable folder, full disk:
    the last good checkpoint is kept); 130 (SIGINT, Ctrl-C) or 143 (SIGTERM): stopped at the
    end of the current chunk with a checkpoint; rerunning the same command continues exactly."""
    cfg = _config(args)  # before importing jax: config errors are fast and write nothing
    if args.stop_at is not None and args.stop_at < 1:
        raise ConfigError(f"--stop-at: must be a step >= 1, got {args.stop_at}")
    from icl_ood.checkpoint import CheckpointError
    from icl_ood.reliability import move_aside
    from icl_ood.train import TrainingDiverged, sinks, train
    run_dir = args.run_dir or f"runs/{cfg.name}"
    try:
        if args.new_run and Path(run_dir).is_dir() and any(Path(run_dir).iterdir()):
            print(f"icl-ood: --new-run: moved the previous run to {move_aside(run_dir)}",
                  file=sys.stderr)
        with sinks.logging_to(sinks.parse(args.log_to)):  # a missing package: before training
            summary = train(cfg, run_dir, progress=not args.quiet, stop_at=args.stop_at,
                            num_runs=args.num_runs, vary=args.vary or (),
                            run_batch=args.run_batch)
    except (TrainingDiverged, CheckpointError, OSError) as e:
        print(f"icl-ood: error: {e}", file=sys.stderr)
        return 1
    summary = _complete(cfg, Path(run_dir), summary, args)
    print(json.dumps({"run_dir": run_dir, "preset": args.preset or "tiny", **summary},
                     allow_nan=False))
    if args.preset is None:  # never silently: the default is a smoke test
        print(DEFAULT_PRESET_NOTE, file=sys.stderr)
    if summary["complete"] and summary["resumed_from"] == summary["steps"]:
        print(f"icl-ood: {run_dir}: the run is already complete (step {summary['steps']}); "
              "nothing trained (--new-run starts afresh)", file=sys.stderr)
    if summary.get("interrupted"):
        print(f"icl-ood: {summary['interrupted']}: stopped at step {summary['steps']} after "
              "saving a checkpoint; rerun the same command to continue", file=sys.stderr)
        return 128 + signal.Signals[summary["interrupted"]].value
    return 0


def _last_logged_loss(run_dir: Path, step: int) -> float | None:
    """The loss of metrics.jsonl's record at `step`, if it is the last one."""
    try:
        rec = json.loads((run_dir / "metrics.jsonl").read_text().splitlines()[-1])
        return rec["loss"] if rec["step"] == step and math.isfinite(rec["loss"]) else None
    except (OSError, IndexError, KeyError, TypeError, json.JSONDecodeError):
        return None


def _complete(cfg, run_dir: Path, summary: dict, args) -> dict:
    """The summary with "complete" and a final_loss that is valid JSON: when no step ran in
    this invocation (NaN in the summary), the last logged loss of each run, or None."""
    from icl_ood.train import run_configs
    runs = [d for _, d in run_configs(cfg, run_dir, args.num_runs, args.vary or ())]
    losses = summary["final_loss"] if isinstance(summary["final_loss"], list) \
        else [summary["final_loss"]]
    losses = [v if v is not None and math.isfinite(v) else _last_logged_loss(d, summary["steps"])
              for v, d in zip(losses, runs)]
    return {**summary, "complete": summary["steps"] >= cfg.train.steps,
            "final_loss": losses if len(runs) > 1 else losses[0]}


def cmd_benchmark(args) -> int:
    from icl_ood.benchmark import benchmark
    cfg = _config(args)
    for rec in benchmark(cfg, windows=args.windows, window_steps=args.window_steps,
                         num_runs=args.num_runs, run_batch=args.run_batch,
                         dispatches=args.dispatches, profile=args.profile):
        print(json.dumps({"preset": args.preset or "tiny", **rec}), flush=True)
    if args.preset is None:
        print(DEFAULT_PRESET_NOTE, file=sys.stderr)
    return 0


def _eval_dests(runs: list[str], out: str | None) -> list[Path]:
    """Where each run's evaluation goes: the run folder, or with --out OUT/<run's folder name>
    (with a copy of its config and metrics: results.copy_run_record); each checked writable
    before anything is loaded or computed (ResultsError, one line, nothing written)."""
    for r in runs:
        if not (Path(r) / "config.json").exists():
            raise ResultsError(f"--run {r}: no config.json; not a training run folder")
    dests = [Path(r) if out is None else Path(out) / Path(r).resolve().name for r in runs]
    twice = [str(d) for d in dests if dests.count(d) > 1]
    if twice:
        raise ResultsError(f"--out: two runs would write into {twice[0]} (same folder name); "
                           "evaluate them into separate --out folders")
    for d in dests:
        results.check_writable(d / "eval", "" if out else
                               "; give --out DIR to write the results elsewhere")
    return dests


def cmd_evaluate(args) -> int:
    """Exit status: 0 done; 2 invalid input, or an output folder that cannot be written
    (refused before anything is computed; --out DIR writes elsewhere)."""
    dests = _eval_dests(args.run, args.out)
    from icl_ood import baselines as bl
    from icl_ood import evaluate as ev
    from icl_ood import sweeps as sw
    from icl_ood import yardsticks
    from icl_ood.checkpoint import CheckpointError
    from icl_ood.train import load_model
    try:
        sweeps = sw.names() if args.sweep == "all" else (sw.get(args.sweep).name,)
    except ValueError as e:
        print(f"icl-ood: error: --sweep: {e}", file=sys.stderr)
        return 2
    names = None if args.baselines is None else tuple(
        n for n in args.baselines.split(",") if n and n != "none")
    mix = tuple(args.mix.split(",")) if args.mix else None
    try:
        if names is not None:
            for n in names:
                if n not in bl.names():
                    raise ValueError(f"--baselines: unknown baseline {n!r}; known: "
                                     f"{', '.join(bl.names())}")
        if mix is not None and len(mix) != 2:
            raise ValueError(f"--mix: expected family1,family2, got {args.mix!r}")
        for run_dir, dest, at_step in [(r, d, s) for r, d in zip(args.run, dests)
                                       for s in _eval_steps(r, args.steps)]:
            model, cfg, step = load_model(run_dir, at_step)
            n = cfg.data.n_points
            ks = args.k or sorted({min(2, n - 1), min(10, n - 1), n - 1})
            bad = [k for k in ks if not 0 <= k < n]
            if bad:
                raise ValueError(f"--k: {bad} outside 0..{n - 1} (the run's {n} points)")
            for sweep in sweeps:
                if args.sweep == "all" and sweep == "convex" and not mix \
                        and len(cfg.data.families) < 2:
                    print(f"\n== run {run_dir}: one pretraining family, convex sweep skipped "
                          "(give --mix family1,family2 to run it)")
                    continue
                if args.yardsticks:  # only the model: the baselines computed once, saved
                    res = yardsticks.score(dest, sweep, (model, cfg, step),
                                           n_prompts=args.n_prompts, seed=args.seed,
                                           baselines=names, mix=mix, n_boot=args.n_boot)
                else:
                    res = ev.run_sweep(dest, sweep, n_prompts=args.n_prompts, seed=args.seed,
                                       baselines=names, mix=mix, n_boot=args.n_boot,
                                       model_and_cfg=(model, cfg, step), force=args.force,
                                       at_step=at_step, progress=not args.quiet)
                n_tasks = len({r["task"] for r in res.rows})
                n_pred = len({r["predictor"] for r in res.rows})
                print(f"\n== run {run_dir} (step {step}), sweep {sweep}: {n_tasks} tasks x "
                      f"{args.n_prompts} prompts x k=0..{n - 1}, {n_pred} predictors")
                print("normalized squared error = mean over prompts of (pred - y)^2 / the task's "
                      "E[y^2] (predicting 0 scores 1); k = in-context examples; P(f) = Bayes-"
                      "mixture posterior weight of family f" + (
                          "; task a=A is f = A*f1 + (1-A)*f2" if sweep == "convex" else ""))
                print(format_table(res, ks))
                for note in dict.fromkeys(n.split(": ", 1)[1] for n in res.notes):
                    print(f"note: {note}")
                sec = res.seconds
                base_s = sum(v for k, v in sec.items() if k not in ("model", "total"))
                print(f"wall time: {sec['total']:.1f} s (model {sec.get('model', 0):.1f} s, "
                      f"baselines {base_s:.1f} s); rows in {res.path}")
            if dest.resolve() != Path(run_dir).resolve():  # reads back like the run itself
                results.copy_run_record(run_dir, dest)
    except (ValueError, CheckpointError, ResultsError) as e:
        print(f"icl-ood: error: {e}", file=sys.stderr)
        return 2
    return 0


def _eval_steps(run_dir: str, steps: str | None) -> list[int | None]:
    """The checkpoint steps `--steps` names for a run: None (the latest good one), "all" (every
    kept one, e.g. the log-spaced ones of train.keep_log) or a comma-separated list."""
    from icl_ood.checkpoint import Checkpoints
    if steps is None:
        return [None]
    ckpts = Checkpoints(Path(run_dir) / "ckpt")
    try:
        kept = ckpts.steps()
    finally:
        ckpts.close()
    if steps == "all":
        if not kept:
            raise ValueError(f"--steps: {run_dir} has no checkpoints")
        return kept
    try:
        want = [int(s) for s in steps.split(",") if s]
    except ValueError:
        raise ValueError(f"--steps: expected all or a list of steps like 100,200; got {steps!r}")
    missing = [s for s in want if s not in kept]
    if missing or not want:
        raise ValueError(f"--steps: {run_dir} has no checkpoint at {missing or steps!r}; kept: "
                         f"{kept} (train.keep_log=true keeps log-spaced ones)")
    return want


def cmd_config(args) -> int:
    """Prints the resolved config (preset, then every --set) as JSON."""
    print(_config(args).to_json())
    return 0


def stage_status(work) -> int:
    """Runs work() and returns the exit status of a training stage: 0 done; 128 + the signal
    (130 SIGINT, 143 SIGTERM) where it stopped with a checkpoint (one line); 1 with one line on
    divergence, an unreadable checkpoint or a file error."""
    from icl_ood.checkpoint import CheckpointError
    from icl_ood.replicate import Interrupted
    from icl_ood.train import TrainingDiverged
    try:
        work()
    except Interrupted as e:
        print(f"icl-ood: {e}", file=sys.stderr)
        return 128 + signal.Signals[e.signal].value
    except (TrainingDiverged, CheckpointError, OSError) as e:
        print(f"icl-ood: error: {e}", file=sys.stderr)
        return 1
    return 0


def cmd_replicate(args) -> int:
    """Exit status: 0 done; 2 invalid request or results that cannot be used; 1 a training or
    file failure; 130 (SIGINT) or 143 (SIGTERM): training stopped with a checkpoint and nothing
    later ran (rerun the same command to continue)."""
    from icl_ood import replicate
    from icl_ood.train import sinks
    budget_s = math.inf if args.budget_s is None else args.budget_s  # 0: one segment

    def work():
        with sinks.logging_to(sinks.parse(args.log_to)):
            replicate.replicate(args.experiment, args.preset, args.out,
                                overrides=tuple(args.set or ()), n_prompts=args.n_prompts,
                                progress=not args.quiet, budget_s=budget_s)
    return stage_status(work)


def cmd_figures(args) -> int:
    """Redraws figures and report.md of a replicate folder (--from), or the figures of plain
    runs (--run, repeatable: side by side, runs that differ only in seed as their mean) into
    RUN/figures or --out DIR/figures, from saved results only; refuses (exit 2, one line,
    nothing touched) if the folder lacks complete results or cannot be written."""
    from icl_ood import figures, report
    if args.run_dir:
        try:
            paths, folder = figures.draw_runs(args.run_dir, args.out, force=args.force)
        except ResultsError as e:
            print(f"icl-ood: error: figures --run: {e}", file=sys.stderr)
            return 2
        print(f"{len(paths)} figure files in {folder}")
        return 0
    out = Path(args.from_dir)
    if args.out:
        raise ResultsError("figures --from: --out is for --run (a replicate folder's figures "
                           "and report.md are drawn into it)")
    results.check_writable(out)
    try:
        paths = figures.draw_all(out, force=args.force)
    except ResultsError as e:
        print(f"icl-ood: error: --from {e}", file=sys.stderr)
        return 2
    print(f"{len(paths)} figure files in {out / 'figures'}; "
          f"report {report.write(out, force=args.force)}")
    return 0
