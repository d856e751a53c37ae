"""The command line's arguments: the parser, its help, and the dispatch to a command."""

from __future__ import annotations

import argparse
import os
import sys

from icl_ood import presets
from icl_ood.cli.commands import (
    cmd_benchmark,
    cmd_config,
    cmd_evaluate,
    cmd_figures,
    cmd_replicate,
    cmd_train,
)
from icl_ood.cli.sweep import add_sweep
from icl_ood.config import ConfigError
from icl_ood.experiments import EXPERIMENTS
from icl_ood.results import ResultsError

DESCRIPTION = "The `icl-ood` command: replicate (the main job), train, evaluate, figures, benchmark."


def _version() -> str:
    """The installed package's version (and the code's commit where known)."""
    from importlib.metadata import PackageNotFoundError, version

    from icl_ood.results import commit
    try:
        v = version("icl-ood")
    except PackageNotFoundError:
        v = "unknown (not installed)"
    return f"{v} (commit {commit()})"


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


LOG_TO_HELP = ("also send the training curves to tensorboard (event files in RUN/tensorboard) "
               "and/or wandb (Weights & Biases; $WANDB_MODE=offline works without an account), "
               "comma-separated, with each run's config and provenance; needs pip install "
               "'icl-ood[tensorboard]' / '[wandb]'; metrics.jsonl stays the record")


RUN_BATCH_HELP = ("runs vectorised together (vmap), the rest one after another (default: all on "
                  "a GPU/TPU, 1 on a CPU, where vmap is slower)")


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
    p = _Parser(prog="icl-ood", description=DESCRIPTION)
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
    t.add_argument("--log-to", metavar="KINDS", help=LOG_TO_HELP)
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
    e.add_argument("--yardsticks", action="store_true",
                   help="score only the model, against the baselines' predictions computed once "
                        "per sweep and options and saved (eval/<sweep>.yardsticks*): scoring "
                        "many kept checkpoints (--steps) then costs only forward passes; rows "
                        "in eval/<sweep>.yard[.<options>].step<S>.jsonl")
    e.add_argument("--quiet", action="store_true", help="no progress bars")
    e.add_argument("--out", metavar="DIR",
                   help="write into DIR/<run folder name> (its eval/, a copy of the run's "
                        "config and metrics, and a manifest naming the run) instead of the run "
                        "folder, e.g. for a read-only run")
    e.add_argument("--force", action="store_true",
                   help="replace results of a newer checkpoint by this one's (results with other "
                        "options are never replaced: they are saved beside, keyed by options, "
                        "e.g. eval/k.n64.jsonl)")
    e.epilog_fn = _catalog
    e.set_defaults(fn=cmd_evaluate)

    r = sub.add_parser("replicate", help="the main job: train, evaluate, figures, report")
    r.add_argument("--experiment", default="demo",
                   help=f"one of {list(EXPERIMENTS)} (their docs: icl_ood/experiments/)")
    r.add_argument("--preset", default="demo",
                   help=f"scale, one of {sorted(presets.PRESETS)} (demo: a CPU in minutes)")
    r.add_argument("--set", action="append", metavar="SECTION.FIELD=VALUE",
                   help="override a config value of every run (repeatable)")
    r.add_argument("--out", help="output folder (default results/<experiment>-<preset>)")
    r.add_argument("--n-prompts", type=int, default=1280, help="prompts per evaluation task")
    r.add_argument("--quiet", action="store_true", help="no progress bars")
    r.add_argument("--log-to", metavar="KINDS", help=LOG_TO_HELP)
    r.add_argument("--budget-s", type=float, metavar="S",
                   help="an experiment scored along training (e.g. compute): train for at most "
                        "S seconds of wall-clock time in all, score the step reached, and mark "
                        "the study incomplete if that is not the last step (for a machine lent "
                        "for a fixed time)")
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
    src.add_argument("--run", dest="run_dir", action="append",
                     help="a plain run folder (`train`, `evaluate`): its training curves and "
                     "evaluated sweeps into RUN/figures; repeatable: the runs side by side "
                     "(into their common folder), runs that differ only in seed drawn as their "
                     "mean with the min-max band over seeds")
    f.add_argument("--out", metavar="DIR",
                   help="with --run: draw into DIR/figures instead")
    f.add_argument("--force", action="store_true",
                   help="redraw even if the figures and report there were made from more "
                        "results or a later checkpoint")
    f.set_defaults(fn=cmd_figures)

    add_sweep(sub)  # icl-ood sweep plan|run|submit|status|collect (icl_ood/cli/sweep.py)

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
