"""The `icl-ood` command: replicate (the main job), train, evaluate, figures, benchmark."""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import threading
from pathlib import Path

from icl_ood import presets
from icl_ood.config import ConfigError
from icl_ood.experiments import EXPERIMENTS
from icl_ood.results import ResultsError

SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _version() -> str:
    """The installed package's version (and the code's commit where known)."""
    from importlib.metadata import PackageNotFoundError, version

    from icl_ood.results import commit
    try:
        v = version("icl-ood")
    except PackageNotFoundError:
        v = "unknown (not installed)"
    return f"{v} (commit {commit()})"


DEFAULT_PRESET_NOTE = ("icl-ood: no --preset given, so this was the tiny preset (a smoke test); "
                       "--preset picks another: " + ", ".join(presets.PRESETS))


def _config(args):
    cfg = presets.get(args.preset or "tiny")
    return cfg.override(args.set or [])


def _init_distributed() -> None:
    """jax.distributed.initialize(), before any JAX computation; the process count and id come
    from the cluster (TPU, SLURM, Open MPI) or from JAX_NUM_PROCESSES / JAX_PROCESS_ID."""
    import os

    import jax
    env = {k: int(os.environ[v]) for k, v in (("num_processes", "JAX_NUM_PROCESSES"),
                                               ("process_id", "JAX_PROCESS_ID"))
           if os.environ.get(v)}
    try:
        jax.distributed.initialize(**env)
    except (ValueError, RuntimeError) as e:
        raise ConfigError(f"--distributed: jax.distributed.initialize() failed: {e}") from e


def _cpu_devices(n: int | None) -> None:
    """Makes the host's CPU N JAX devices, before any JAX computation, so that the batch is
    split over them (data parallelism over cores)."""
    if n is None:
        return
    if n < 1:
        raise ConfigError(f"--cpu-devices: must be >= 1, got {n}")
    import jax
    try:
        jax.config.update("jax_num_cpu_devices", n)
    except RuntimeError as e:  # the backend already started (not from the command line)
        raise ConfigError(f"--cpu-devices: {e}") from e


CPU_DEVICES_HELP = ("on a CPU, split each batch over N devices of its cores (data parallelism; "
                    "default 1, or $JAX_NUM_CPU_DEVICES). On a 2-core CPU 2 trains faster "
                    "(measured in figures/reference_speed.jsonl); the gradient is then summed "
                    "per device, so results differ from one device's by float rounding and a "
                    "run resumes exactly only with the same N")


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
    from icl_ood.train import TrainingDiverged, train
    run_dir = args.run_dir or f"runs/{cfg.name}"
    try:
        if args.new_run and Path(run_dir).is_dir() and any(Path(run_dir).iterdir()):
            print(f"icl-ood: --new-run: moved the previous run to {move_aside(run_dir)}",
                  file=sys.stderr)
        summary = train(cfg, run_dir, progress=not args.quiet, stop_at=args.stop_at,
                        num_runs=args.num_runs, vary=args.vary or (), run_batch=args.run_batch)
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


RUN_BATCH_HELP = ("runs vectorised together (vmap), the rest one after another (default: all on "
                  "a GPU/TPU, 1 on a CPU, where vmap is slower)")


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


def cmd_evaluate(args) -> int:
    from icl_ood import baselines as bl
    from icl_ood import evaluate as ev
    from icl_ood import sweeps as sw
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
        for run_dir, at_step in [(r, s) for r in args.run for s in _eval_steps(r, args.steps)]:
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
                res = ev.run_sweep(run_dir, sweep, n_prompts=args.n_prompts, seed=args.seed,
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
                print(ev.format_table(res, ks))
                for note in dict.fromkeys(n.split(": ", 1)[1] for n in res.notes):
                    print(f"note: {note}")
                sec = res.seconds
                base_s = sum(v for k, v in sec.items() if k not in ("model", "total"))
                print(f"wall time: {sec['total']:.1f} s (model {sec.get('model', 0):.1f} s, "
                      f"baselines {base_s:.1f} s); rows in {res.path}")
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


def cmd_replicate(args) -> int:
    """Exit status: 0 done; 2 invalid request or results that cannot be used; 1 a training or
    file failure; 130 (SIGINT) or 143 (SIGTERM): training stopped with a checkpoint and nothing
    later ran (rerun the same command to continue)."""
    from icl_ood import experiments
    from icl_ood.checkpoint import CheckpointError
    from icl_ood.train import TrainingDiverged
    try:
        experiments.replicate(args.experiment, args.preset, args.out,
                              overrides=tuple(args.set or ()), n_prompts=args.n_prompts,
                              progress=not args.quiet)
    except experiments.Interrupted as e:
        print(f"icl-ood: {e}", file=sys.stderr)
        return 128 + signal.Signals[e.signal].value
    except (TrainingDiverged, CheckpointError, OSError) as e:
        print(f"icl-ood: error: {e}", file=sys.stderr)
        return 1
    return 0


def cmd_figures(args) -> int:
    """Redraws figures and report.md of a replicate folder (--from), or the figures of a plain
    run (--run), from saved results only; refuses (exit 2, one line, nothing touched) if the
    folder lacks complete results."""
    from icl_ood import figures, report
    if args.run_dir:
        try:
            paths = figures.draw_run(args.run_dir, force=args.force)
        except ResultsError as e:
            print(f"icl-ood: error: --run {e}", file=sys.stderr)
            return 2
        print(f"{len(paths)} figure files in {Path(args.run_dir) / 'figures'}")
        return 0
    out = Path(args.from_dir)
    try:
        paths = figures.draw_all(out, force=args.force)
    except ResultsError as e:
        print(f"icl-ood: error: --from {e}", file=sys.stderr)
        return 2
    print(f"{len(paths)} figure files in {out / 'figures'}; "
          f"report {report.write(out, force=args.force)}")
    return 0


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


class _Help(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Help that shows every default (unless the help text already says it, or the option is
    off or unset by default) and keeps descriptions and epilogs as written."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "default" in text or action.default is None or action.default is False:
            return text
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser with _Help, whose `epilog_fn` (if set) makes the epilog when help is
    printed, so listing the plug-ins costs nothing unless asked for."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _Help)
        super().__init__(*args, **kwargs)
        self.epilog_fn = None

    def format_help(self) -> str:
        if self.epilog_fn is not None:
            self.epilog = self.epilog_fn()
        return super().format_help()


def _first_sentence(doc: str, width: int = 74) -> str:
    import re
    import textwrap
    text = re.split(r"(?<!\bal)\. ", " ".join(doc.split()))[0].rstrip(".")  # not at "et al. "
    return textwrap.shorten(text, width, placeholder="...")


def _catalog() -> str:
    """evaluate's epilog: every registered baseline and sweep (plug-ins included), a line each."""
    from icl_ood import baselines, sweeps
    lines = ["baselines (--baselines; * = off unless named):"]
    for name, spec in baselines.specs().items():
        lines.append(f"  {name:16}{'*' if not spec.default else ' '} "
                     f"{_first_sentence(spec.doc or spec.label)}")
    lines.append("sweeps (--sweep):")
    for name, sw in sweeps.REGISTRY.all().items():
        lines.append(f"  {name:17} {_first_sentence(sw.doc)}")
    return "\n".join(lines)


def _main(argv: list[str] | None = None) -> int:
    p = _Parser(prog="icl-ood", description=__doc__)
    p.add_argument("--version", action="version", version=f"icl-ood {_version()}")
    p.add_argument("--plugins", metavar="MODULES",
                   help="comma-separated modules or .py files that register function families, "
                        "baselines or sweeps (also read from $ICL_OOD_PLUGINS)")
    sub = p.add_subparsers(dest="cmd", required=True)

    def common(sp):
        sp.add_argument("--preset", help=f"one of {sorted(presets.PRESETS)} (default: tiny, a "
                        "smoke test, with a note saying so)")
        sp.add_argument("--set", action="append", metavar="SECTION.FIELD=VALUE",
                        help="override a config value, e.g. --set train.steps=3000 (repeatable)")
        sp.add_argument("--distributed", action="store_true",
                        help="multi-host: call jax.distributed.initialize() first (detects TPU "
                             "pods, SLURM, Open MPI; elsewhere set JAX_COORDINATOR_ADDRESS=host:"
                             "port, JAX_NUM_PROCESSES and JAX_PROCESS_ID); run the same command "
                             "on every host; the global batch is split over all their devices "
                             "and process 0 writes the files")
        sp.add_argument("--cpu-devices", type=int, metavar="N", help=CPU_DEVICES_HELP)

    t = sub.add_parser("train", help="train (or resume) a run")
    common(t)
    t.add_argument("--run-dir", help="output folder (default runs/<preset>)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.add_argument("--num-runs", type=int, default=1, metavar="N",
                   help="train seeds seed..seed+N-1 together in one program, each in "
                        "RUN_DIR/seed<S>")
    t.add_argument("--run-batch", type=int, metavar="R",
                   help=RUN_BATCH_HELP)
    t.add_argument("--vary", action="append", metavar="FIELD=[V1,V2,...]",
                   help="train one run per value, all in one program, each in "
                        "RUN_DIR/w<weights> (and /seed<S> with --num-runs); FIELD is "
                        "data.weights or train.seed, e.g. --vary 'data.weights=[[1,0],[0,1],"
                        "[0.5,0.5]]' (repeatable: the product of the values)")
    t.add_argument("--stop-at", type=int, metavar="STEP",
                   help="checkpoint and stop at STEP (rerun the same command to continue)")
    t.add_argument("--new-run", action="store_true",
                   help="start afresh even if RUN_DIR holds a run: it is renamed to "
                        "RUN_DIR.old-<timestamp> (never deleted); without it, a rerun resumes "
                        "and a different config is refused")
    t.set_defaults(fn=cmd_train)

    b = sub.add_parser("benchmark", help="print ms per training step as JSON")
    common(b)
    b.add_argument("--windows", type=int, default=5, help="timed windows (median is reported)")
    b.add_argument("--window-steps", type=int, default=0,
                   help="steps per window (default: train.steps_per_dispatch)")
    b.add_argument("--num-runs", type=int, default=1, help="runs trained together")
    b.add_argument("--dispatches", type=int, default=1,
                   help="chunks issued per timed window before one wait (with --window-steps 1: "
                        "one step per dispatch)")
    b.add_argument("--profile", metavar="DIR",
                   help="trace one more window with jax.profiler into DIR and add where the "
                        "device time went (kernels per step, busy fraction, top kernels)")
    b.add_argument("--run-batch", type=int, metavar="R",
                   help=RUN_BATCH_HELP)
    b.set_defaults(fn=cmd_benchmark)

    e = sub.add_parser("evaluate", help="score runs and baselines on test sweeps (JSON lines)")
    e.add_argument("--run", action="append", required=True, help="run folder (repeatable)")
    e.add_argument("--sweep", default="all",
                   help="a sweep listed below, or all")
    e.add_argument("--n-prompts", type=int, default=1280, help="prompts per task")
    e.add_argument("--k", type=int, nargs="+", help="k values to print (all k are saved)")
    e.add_argument("--baselines", help="comma-separated baselines (default: all that apply; "
                   "'none' for the model only)")
    e.add_argument("--mix", help="family1,family2 of the convex sweep (default: first two)")
    e.add_argument("--seed", type=int, default=0, help="prompt seed")
    e.add_argument("--steps", help="evaluate these kept checkpoints instead of the latest: all, "
                   "or a list such as 100,200,400 (results keyed .step<S>, rows carry the step)")
    e.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples")
    e.add_argument("--quiet", action="store_true", help="no progress bars")
    e.add_argument("--force", action="store_true",
                   help="replace results of a newer checkpoint by this one's (results with other "
                        "options are never replaced: they are saved beside, keyed by options, "
                        "e.g. eval/k.n64.jsonl)")
    e.epilog_fn = _catalog
    e.set_defaults(fn=cmd_evaluate)

    r = sub.add_parser("replicate", help="the main job: train, evaluate, figures, report")
    r.add_argument("--experiment", default="demo",
                   help=f"one of {list(EXPERIMENTS)} (their docs: icl_ood/experiments.py)")
    r.add_argument("--preset", default="demo",
                   help=f"scale, one of {sorted(presets.PRESETS)} (demo: a CPU in minutes)")
    r.add_argument("--set", action="append", metavar="SECTION.FIELD=VALUE",
                   help="override a config value of every run (repeatable)")
    r.add_argument("--out", help="output folder (default results/<experiment>-<preset>)")
    r.add_argument("--n-prompts", type=int, default=1280, help="prompts per evaluation task")
    r.add_argument("--quiet", action="store_true", help="no progress bars")
    r.add_argument("--cpu-devices", type=int, metavar="N", help=CPU_DEVICES_HELP)
    r.set_defaults(fn=cmd_replicate)

    c = sub.add_parser("config", help="print the resolved config (preset + --set) as JSON")
    c.add_argument("--preset", default="tiny", help=f"one of {sorted(presets.PRESETS)}")
    c.add_argument("--set", action="append", metavar="SECTION.FIELD=VALUE",
                   help="override a config value (repeatable), e.g. --set data.sinusoid.freq=[0.5,1.5]")
    c.set_defaults(fn=cmd_config)

    f = sub.add_parser("figures", help="redraw figures and report from saved results")
    src = f.add_mutually_exclusive_group(required=True)
    src.add_argument("--from", dest="from_dir", help="a replicate output folder (figures and "
                     "report.md)")
    src.add_argument("--run", dest="run_dir", help="a plain run folder (`train`, `evaluate`): "
                     "its training curves and evaluated sweeps into RUN/figures")
    f.add_argument("--force", action="store_true",
                   help="redraw even if the figures and report there were made from more "
                        "results or a later checkpoint")
    f.set_defaults(fn=cmd_figures)

    args = p.parse_args(argv)
    if args.plugins:  # before anything looks the registries up; subprocesses inherit it
        os.environ["ICL_OOD_PLUGINS"] = ",".join(
            filter(None, [os.environ.get("ICL_OOD_PLUGINS"), args.plugins]))
    try:
        _cpu_devices(getattr(args, "cpu_devices", None))
        if getattr(args, "distributed", False):
            _init_distributed()
        return args.fn(args)
    except (ConfigError, ResultsError) as e:
        print(f"icl-ood: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
