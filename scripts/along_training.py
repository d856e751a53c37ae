"""Training compute study: train one model for as long as a wall-clock budget allows and score it
at log-spaced steps (100, 200, 400, ...) on the convex and frequency sweeps, on the device.

On one accelerator (about 330 s of training + evaluation; results only, no checkpoints, in OUT;
ICL_OOD_COMMIT names the code's commit where the copy has no .git):
  ICL_OOD_COMMIT=<sha> PYTHONPATH=. python3 scripts/along_training.py --preset paper \
      --set model.dtype=bfloat16 --budget-s 330 --out $OUT/paper
Redraw the figure from saved rows:  python scripts/along_training.py --figure-only --out DIR

Writes OUT/rows.jsonl, metrics.jsonl, provenance.json, log.txt, along_training.png|pdf
(icl_ood/along_training.py). Checkpoints go to --run-dir (default: a new folder in the system
temporary folder), which must not lie inside --out. The budget counts from the start of this
script; the first segment always runs (it includes compilation).
"""

from __future__ import annotations

import time

T0 = time.perf_counter()

import argparse
import math
import sys
import tempfile

from icl_ood import along_report, along_training, presets
from icl_ood.config import ConfigError


def compare(specs: list[str], out: str) -> list:
    """The --compare figure: each TITLE=DIR[,DIR...] a column, each DIR's run labelled by its
    seed (provenance.json)."""
    from pathlib import Path

    from icl_ood import results
    from icl_ood.along_report.sizes import draw_sizes
    sizes = []
    for spec in specs:
        title, _, dirs = spec.partition("=")
        if not dirs:
            raise ConfigError(f"--compare {spec!r}: expected TITLE=DIR[,DIR...]")
        runs = []
        for d in dirs.split(","):
            prov = results.read_json(Path(d) / "provenance.json", {})
            seed = prov.get("config", {}).get("train", {}).get("seed", "?")
            runs.append((f"seed {seed}", results.read_jsonl(Path(d) / "rows.jsonl")))
        sizes.append((title, runs))
    Path(out).mkdir(parents=True, exist_ok=True)
    return draw_sizes(sizes, "Error along training, by model size.", Path(out))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", default="paper", choices=sorted(presets.PRESETS))
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SEC.FIELD=V",
                   help="config override, repeatable (e.g. model.dtype=bfloat16)")
    p.add_argument("--out", required=True, help="results folder (a few small files)")
    p.add_argument("--run-dir", help="checkpoint folder, new (default: a fresh temporary folder)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --run-dir with OUT's rows (same config and options; "
                        "at a constant rate train.steps may change); --budget-s counts the "
                        "earlier invocations too")
    p.add_argument("--budget-s", type=float, default=math.inf,
                   help="seconds for training + evaluation, from the start of this script")
    p.add_argument("--n-prompts", type=int, default=1280, help="prompts per task (default 1280)")
    p.add_argument("--every", type=int, default=None,
                   help="first evaluated step; then x2 each time (default train.steps_per_dispatch)")
    p.add_argument("--seed", type=int, default=0, help="seed of the evaluation prompts")
    p.add_argument("--figure-only", action="store_true", help="redraw OUT's figure and report and exit")
    p.add_argument("--compare", action="append", default=[], metavar="TITLE=DIR[,DIR...]",
                   help="draw OUT/along_sizes.png|pdf, one column per TITLE (a model size) from "
                        "the along-training folders DIR (e.g. its seeds), and exit; repeatable")
    args = p.parse_args(argv)
    if args.compare:
        print("\n".join(str(x) for x in compare(args.compare, args.out)))
        return 0
    if args.figure_only:
        print("\n".join(str(x) for x in along_report.draw(args.out)))
        print(along_report.write(args.out))
        return 0
    try:
        cfg = presets.get(args.preset).override(args.overrides)
        run_dir = args.run_dir or tempfile.mkdtemp(prefix="icl_ood_along_training_")
        along_training.run(
            cfg, args.out, run_dir, budget_s=args.budget_s, n_prompts=args.n_prompts,
            every=args.every, seed=args.seed, t0=T0, resume=args.resume,
            provenance={"command": " ".join(["python", *sys.argv]), "preset": args.preset,
                        "overrides": args.overrides})
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
