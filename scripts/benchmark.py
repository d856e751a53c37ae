"""Benchmark suites: one JSON line per configuration, printed and appended to --out.

  python scripts/benchmark.py --suite cpu --out figures/benchmarks_cpu.jsonl   # the CPU targets
  python scripts/benchmark.py --suite gpu --out figures/benchmarks_h100.jsonl  # on one GPU
  python scripts/benchmark.py --suite gpu-tune --out tune.jsonl --budget-s 540  # speed variants

Each configuration runs in its own process with a time limit (a variant that hangs, e.g. under
experimental XLA flags, costs its limit, not the session), and its record carries the device,
the commit, the jax version and the XLA flags it was measured with. `gpu-tune` compares the
variants that decide speed on a GPU (scan length, dispatches, CUDA-graph flags, attention
kernel, batch size, runs per program, vmap width) and traces two of them (see
icl_ood/benchmark.summarize_trace); a table of the results is printed last. With --budget-s,
entries that would start after the budget are named on stderr: run them with --only.
A single configuration: `icl-ood benchmark --preset paper --set model.dtype=bfloat16`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from icl_ood.results import commit

# The paper-size step of the targets: batch 64, 41 points, d = 20 (Garg et al.'s linear setup).
PAPER_D20 = ["data.dim=20", 'data.families=["linear"]', "data.weights=[1.0]"]
BF16 = PAPER_D20 + ["model.dtype=bfloat16"]
# CUDA graphs for whole while loops (lax.scan) too, not only for the straight-line stretches
# inside them; once seen to hang, hence the per-entry limit.
GRAPH_WHILE = ("--xla_gpu_enable_command_buffer=FUSION,CUBLAS,CUBLASLT,CUSTOM_CALL,CUDNN,"
               "WHILE,CONDITIONAL")


def entry(preset, sets=(), runs=1, steps=100, **kw):
    """One configuration: preset, --set overrides, runs trained together, steps per dispatch;
    optional run_batch, dispatches, xla_flags, profile (bool), limit_s."""
    return {"preset": preset, "sets": list(sets), "runs": runs, "steps": steps, **kw}


SUITES = {
    "cpu": [
        entry("paper", PAPER_D20 + ["train.steps_per_dispatch=2"], steps=5),
        entry("colab", ["train.steps_per_dispatch=10"], steps=5),
        entry("demo", runs=3, steps=20),  # three runs, one at a time (the CPU default)
        entry("demo", runs=3, steps=20, run_batch=3),  # three runs vectorised
    ],
    "gpu": [
        entry("paper", BF16),
        entry("paper", PAPER_D20 + ["model.dtype=float32"]),
        entry("paper", BF16 + ["train.batch_size=512"], steps=50),
        entry("paper", BF16 + ["train.batch_size=2048"], steps=20),
        entry("paper", BF16, runs=8, steps=50),
        entry("colab", ["model.dtype=bfloat16"]),
        entry("colab", ["model.dtype=bfloat16"], runs=8),
        entry("colab"),
        entry("colab", runs=8),
    ],
    "gpu-tune": [
        entry("paper", BF16, profile=True),  # 0: the reference; where the time goes
        entry("paper", BF16, steps=500),  # a longer scan per dispatch
        entry("paper", BF16, steps=1, dispatches=200),  # no loop: one graph per step
        entry("paper", BF16, xla_flags=GRAPH_WHILE, limit_s=150),
        entry("paper", BF16, xla_flags="--xla_gpu_enable_command_buffer=", limit_s=150),
        entry("paper", BF16, xla_flags="--xla_gpu_enable_triton_gemm=false"),
        entry("paper", BF16 + ["model.attention=xla"]),
        entry("paper", BF16 + ["train.batch_size=256"], steps=50),  # 7
        entry("paper", BF16 + ["train.batch_size=1024"], steps=20),
        entry("paper", BF16 + ["train.batch_size=4096"], steps=10, profile=True),
        entry("paper", BF16, runs=16, steps=20),
        entry("colab", ["model.dtype=bfloat16"]),  # 11
        entry("colab", ["model.dtype=bfloat16"], runs=8),
        entry("colab", ["model.dtype=bfloat16"], runs=8, run_batch=1),
        entry("colab", ["model.dtype=bfloat16"], runs=8, run_batch=4),
        entry("colab", ["model.dtype=bfloat16"], runs=32, steps=50),
        entry("colab", ["model.dtype=bfloat16"], runs=8, xla_flags=GRAPH_WHILE, limit_s=150),
    ],
}


def run_entry(e: dict, windows: int, rev: str) -> dict:
    """Benchmarks one entry in a fresh process (own XLA flags, memory and caches)."""
    cmd = [sys.executable, "-m", "icl_ood.cli", "benchmark", "--preset", e["preset"],
           "--num-runs", str(e["runs"]), "--window-steps", str(e["steps"]),
           "--windows", str(windows), "--dispatches", str(e.get("dispatches", 1))]
    cmd += [a for s in e["sets"] for a in ("--set", s)]
    if e.get("run_batch"):
        cmd += ["--run-batch", str(e["run_batch"])]
    env = dict(os.environ)
    if e.get("xla_flags"):
        env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} {e['xla_flags']}".strip()
    base = {"preset": e["preset"], "overrides": e["sets"], "num_runs": e["runs"],
            "commit": rev, "date": time.strftime("%Y-%m-%d")}
    with tempfile.TemporaryDirectory() as prof:
        if e.get("profile"):
            cmd += ["--profile", prof]
        try:
            out = subprocess.run(cmd, check=False, capture_output=True, text=True, env=env,
                                 timeout=e.get("limit_s", 300))
        except subprocess.TimeoutExpired:
            return {**base, "xla_flags": env.get("XLA_FLAGS", ""),
                    "error": f"no result within {e.get('limit_s', 300)} s (killed)"}
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if out.returncode or not lines:
        return {**base, "xla_flags": env.get("XLA_FLAGS", ""),
                "error": out.stderr.strip()[-400:]}
    return {**json.loads(lines[-1]), **base}


def table(records: list[dict]) -> str:
    """A short fixed-width table of the records (ms per step, MFU, device busy fraction)."""
    rows = [(f"{'#':>2} {'preset':6} {'batch':>5} {'dtype':8} {'runs':>4} {'rb':>3} "
             f"{'scan':>4} {'ms/step':>8} {'MFU':>6} {'busy':>5}  variant")]
    for r in records:
        if "error" in r:
            rows.append(f"{r['entry']:>2} {r['preset']:6} error: {r['error'][-90:]}")
            continue
        busy = r.get("profile", {}).get("busy_fraction")
        mfu = "" if r["mfu"] is None else f"{100 * r['mfu']:.1f}%"
        busy = "" if busy is None else f"{busy:.2f}"
        extra = " ".join(s for s in r["overrides"] if s not in BF16)
        extra += f" {r['xla_flags']}" if r["xla_flags"] else ""
        extra += f" dispatches={r['dispatches_per_window']}" if r["dispatches_per_window"] > 1 else ""
        rows.append(
            f"{r['entry']:>2} {r['preset']:6} {r['batch_size']:>5} {r['dtype']:8} "
            f"{r['num_runs']:>4} {r['run_batch']:>3} {r['steps_per_dispatch']:>4} "
            f"{r['ms_per_step']:>8.3f} {mfu:>6} {busy:>5}  {extra.strip()}")
    return "\n".join(rows)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--suite", choices=sorted(SUITES), required=True)
    p.add_argument("--out", help="append records to this JSON-lines file")
    p.add_argument("--windows", type=int, default=5)
    p.add_argument("--only", type=int, nargs="*", help="indices of the suite's entries to run")
    p.add_argument("--budget-s", type=float, default=0,
                   help="start no entry after this many seconds (fit a time-limited session)")
    args = p.parse_args(argv)
    rev = commit()  # on a device copy without .git: export ICL_OOD_COMMIT=<sha> before running
    t0, records = time.perf_counter(), []
    for i, e in enumerate(SUITES[args.suite]):
        if args.only and i not in args.only:
            continue
        if args.budget_s and time.perf_counter() - t0 > args.budget_s:
            print(f"# budget of {args.budget_s:.0f} s spent: entries from {i} not run",
                  file=sys.stderr)
            break
        rec = {**run_entry(e, args.windows, rev), "suite": args.suite, "entry": i}
        records.append(rec)
        line = json.dumps(rec)
        print(line, flush=True)
        if args.out:
            with Path(args.out).open("a") as fh:
                fh.write(line + "\n")
    print(table(records), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
