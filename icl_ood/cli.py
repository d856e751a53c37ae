"""The `icl-ood` command: train and benchmark (more subcommands arrive with later stages)."""

from __future__ import annotations

import argparse
import json
import sys

from icl_ood import presets
from icl_ood.config import ConfigError


def _config(args):
    cfg = presets.get(args.preset)
    return cfg.override(args.set or [])


def cmd_train(args) -> int:
    from icl_ood.train import train  # imports jax: keep `--help` and config errors fast
    cfg = _config(args)
    run_dir = args.run_dir or f"runs/{cfg.name}"
    summary = train(cfg, run_dir, progress=not args.quiet, stop_at=args.stop_at,
                    num_runs=args.num_runs)
    print(json.dumps({"run_dir": run_dir, **summary}))
    return 0


def cmd_benchmark(args) -> int:
    from icl_ood.benchmark import benchmark
    cfg = _config(args)
    for rec in benchmark(cfg, windows=args.windows, window_steps=args.window_steps,
                         num_runs=args.num_runs):
        print(json.dumps(rec), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="icl-ood", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)

    def common(sp):
        sp.add_argument("--preset", default="tiny", help=f"one of {sorted(presets.PRESETS)}")
        sp.add_argument("--set", action="append", metavar="SECTION.FIELD=VALUE",
                        help="override a config value, e.g. --set train.steps=3000 (repeatable)")

    t = sub.add_parser("train", help="train (or resume) a run")
    common(t)
    t.add_argument("--run-dir", help="output folder (default runs/<preset>)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.add_argument("--num-runs", type=int, default=1, metavar="N",
                   help="train seeds seed..seed+N-1 together in one program (vmap), each in "
                        "RUN_DIR/seed<S>")
    t.add_argument("--stop-at", type=int, metavar="STEP",
                   help="checkpoint and stop at STEP (rerun the same command to continue)")
    t.set_defaults(fn=cmd_train)

    b = sub.add_parser("benchmark", help="print ms per training step as JSON")
    common(b)
    b.add_argument("--windows", type=int, default=5, help="timed windows (median is reported)")
    b.add_argument("--window-steps", type=int, default=0,
                   help="steps per window (default: train.steps_per_dispatch)")
    b.add_argument("--num-runs", type=int, default=1, help="runs trained together (vmap)")
    b.set_defaults(fn=cmd_benchmark)

    args = p.parse_args(argv)
    try:
        return args.fn(args)
    except ConfigError as e:
        print(f"icl-ood: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
