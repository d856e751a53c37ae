"""`icl-ood sweep`: plan a grid of configurations x seeds, run or submit its tasks, follow them,
collect them (icl_ood.studies)."""

from __future__ import annotations

import os

from icl_ood.config import ConfigError

CPU_DEVICES = ("on a CPU, make its cores N JAX devices; a task's seeds are split over the "
               "devices (each device trains whole runs)")


def add_sweep(sub) -> None:
    """Registers `sweep` and its commands on the command line's subparsers."""
    from icl_ood.experiments import EXPERIMENTS
    sw = sub.add_parser("sweep", help="a study: a grid of configurations x seeds (plan, run, "
                        "submit, status, collect)")
    cmds = sw.add_subparsers(dest="sweep_cmd", required=True)

    p = cmds.add_parser("plan", help="write DIR/plan.jsonl: one task per configuration of the "
                        "grid, each with its seed bundle")
    p.add_argument("--experiment", required=True, help=f"one of {list(EXPERIMENTS)}")
    p.add_argument("--preset", default="demo", help="the scale preset")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                   help="override a config value of every task (repeatable)")
    p.add_argument("--grid", action="append", default=[], metavar="SECTION.FIELD=V1,V2",
                   help="an axis of the grid, values as --set takes them, e.g. "
                        "model.d_model=64,128 or 'data.weights=[1,0],[0.5,0.5]' (repeatable: "
                        "the product)")
    p.add_argument("--seeds", help="the seed bundle of every task, e.g. 0,1,2,3 (default: each "
                   "experiment run's own seed)")
    p.add_argument("--sweeps", help="comma-separated sweeps to score (default: the "
                   "experiment's)")
    p.add_argument("--n-prompts", type=int, default=1280, help="prompts per evaluation task")
    p.add_argument("--out", required=True, help="the study folder")
    p.set_defaults(fn=cmd_plan)

    r = cmds.add_parser("run", help="run one task here (train its seeds as one program, score)")
    r.add_argument("dir", help="the study folder")
    which = r.add_mutually_exclusive_group()
    which.add_argument("--index", type=int, help="the task (default: $SLURM_ARRAY_TASK_ID)")
    which.add_argument("--all", action="store_true", help="every task, one after another")
    r.add_argument("--quiet", action="store_true", help="no progress bars")
    r.add_argument("--cpu-devices", type=int, metavar="N", help=CPU_DEVICES)
    r.set_defaults(fn=cmd_run)

    s = cmds.add_parser("submit", help="submit the unfinished tasks as one submitit array job")
    s.add_argument("dir", help="the study folder")
    s.add_argument("--executor", choices=("slurm", "local"), default="slurm",
                   help="slurm, or local processes on this machine")
    s.add_argument("--wait", action="store_true", help="wait until the tasks end")
    s.add_argument("--partition", help="SLURM partition")
    s.add_argument("--gpus-per-task", type=int, metavar="N", help="GPUs per task")
    s.add_argument("--time", metavar="TIME", help="time limit per task: minutes, H:MM:SS or "
                   "D-HH:MM:SS (default 24 h)")
    s.add_argument("--cpus-per-task", type=int, metavar="N", help="CPU cores per task")
    s.add_argument("--mem", help="memory per task, as SLURM takes it, e.g. 32G")
    s.set_defaults(fn=cmd_submit)

    st = cmds.add_parser("status", help="one line per task: done, running, stopped, failed, not "
                          "started")
    st.add_argument("dir", help="the study folder")
    st.set_defaults(fn=cmd_status)

    c = cmds.add_parser("collect", help="the study's report.md and figures from its results")
    c.add_argument("dir", help="the study folder")
    c.add_argument("--partial", action="store_true", help="collect the finished tasks even if "
                   "others are not done (the report's first line names them)")
    c.set_defaults(fn=cmd_collect)


def cmd_plan(args) -> int:
    """Exit status: 0 planned (or the same plan already there); 2 invalid or different."""
    from icl_ood.studies import plan_study
    sweeps = [s for s in args.sweeps.split(",") if s] if args.sweeps else None
    todo, wrote = plan_study(args.out, args.experiment, args.preset, args.set, args.grid, args.seeds,
                       sweeps, args.n_prompts)
    seeds = sorted({s for t in todo for s in t["seeds"]})
    print(f"{'planned' if wrote else 'unchanged, already planned'}: {len(todo)} tasks x "
          f"{len(todo[0]['seeds'])} seeds ({seeds}) in {args.out}/plan.jsonl")
    return 0


def cmd_run(args) -> int:
    """Exit status: 0 done; 2 invalid input; 1 a training or file failure; 130 or 143:
    stopped by SIGINT or SIGTERM with a checkpoint (run it again to continue)."""
    from icl_ood.studies import read_plan, run_task
    if args.all:
        indices = [t["index"] for t in read_plan(args.dir)[1]]
    elif args.index is not None:
        indices = [args.index]
    elif os.environ.get("SLURM_ARRAY_TASK_ID", "").isdigit():
        indices = [int(os.environ["SLURM_ARRAY_TASK_ID"])]
    else:
        raise ConfigError("sweep run: give --index I or --all (or run in a SLURM array job)")
    from icl_ood.cli.commands import stage_status
    return stage_status(lambda: [run_task(args.dir, i, progress=not args.quiet)
                                 for i in indices])


def cmd_submit(args) -> int:
    """Exit status: 0 submitted (with --wait: and every task finished); 2 invalid input or a
    task failed (named)."""
    from icl_ood.studies import submit
    submit(args.dir, args.executor, wait=args.wait, partition=args.partition,
           gpus_per_task=args.gpus_per_task, time_limit=args.time,
           cpus_per_task=args.cpus_per_task, mem=args.mem)
    return 0


def cmd_status(args) -> int:
    from icl_ood.studies import states
    found = states(args.dir)
    for st in found:
        print(st.line())
    counts = {s: sum(st.state == s for st in found)
              for s in ("done", "running", "stopped", "failed", "not started")}
    print(", ".join(f"{n} {s}" for s, n in counts.items() if n) + f" of {len(found)} tasks")
    return 0


def cmd_collect(args) -> int:
    from icl_ood.studies import collect
    collect(args.dir, partial=args.partial)
    return 0
