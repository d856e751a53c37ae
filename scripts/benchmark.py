"""Benchmark suites: one JSON line per configuration, printed and appended to --out.

  python scripts/benchmark.py --suite cpu --out figures/benchmarks_cpu.jsonl   # the CPU targets
  python scripts/benchmark.py --suite gpu --out figures/benchmarks_h100.jsonl  # on one GPU

Each record carries the device, the commit and the jax version it was measured with.
A single configuration: `icl-ood benchmark --preset paper --set model.dtype=bfloat16`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from icl_ood.experiments import commit

# The paper-size step of the targets: batch 64, 41 points, d = 20 (Garg et al.'s linear setup).
PAPER_D20 = ["data.dim=20", 'data.families=["linear"]', "data.weights=[1.0]"]

SUITES = {
    "cpu": [
        ("paper", PAPER_D20 + ["train.steps_per_dispatch=2"], 1, 5),
        ("colab", ["train.steps_per_dispatch=10"], 1, 5),
    ],
    "gpu": [
        ("paper", PAPER_D20 + ["model.dtype=bfloat16"], 1, 100),
        ("paper", PAPER_D20 + ["model.dtype=float32"], 1, 100),
        ("paper", PAPER_D20 + ["model.dtype=bfloat16", "train.batch_size=512"], 1, 50),
        ("paper", PAPER_D20 + ["model.dtype=bfloat16", "train.batch_size=2048"], 1, 20),
        ("paper", PAPER_D20 + ["model.dtype=bfloat16"], 8, 50),
        ("colab", ["model.dtype=bfloat16"], 1, 100),
        ("colab", ["model.dtype=bfloat16"], 8, 100),
        ("colab", [], 1, 100),
        ("colab", [], 8, 100),
    ],
}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--suite", choices=sorted(SUITES), required=True)
    p.add_argument("--out", help="append records to this JSON-lines file")
    p.add_argument("--windows", type=int, default=5)
    p.add_argument("--only", type=int, nargs="*", help="indices of the suite's entries to run")
    args = p.parse_args(argv)
    rev = commit()  # on a device copy without .git: export ICL_OOD_COMMIT=<sha> before running
    for i, (preset, sets, num_runs, steps) in enumerate(SUITES[args.suite]):
        if args.only and i not in args.only:
            continue
        # One process per configuration: peak memory and compilation caches stay per config.
        cmd = [sys.executable, "-m", "icl_ood.cli", "benchmark", "--preset", preset,
               "--num-runs", str(num_runs), "--window-steps", str(steps),
               "--windows", str(args.windows)] + [a for s in sets for a in ("--set", s)]
        out = subprocess.run(cmd, check=False, capture_output=True, text=True)
        lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
        if out.returncode or not lines:
            print(json.dumps({"preset": preset, "overrides": sets, "num_runs": num_runs,
                              "error": out.stderr.strip()[-400:]}), flush=True)
            continue
        rec = json.loads(lines[-1])
        rec.update(overrides=sets, commit=rev, date=time.strftime("%Y-%m-%d"),
                   xla_flags=os.environ.get("XLA_FLAGS", ""))
        line = json.dumps(rec)
        print(line, flush=True)
        if args.out:
            with Path(args.out).open("a") as fh:
                fh.write(line + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
