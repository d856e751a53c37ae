"""Training-step time of icl-ood next to the PyTorch reference, side by side on this machine.

The reference is Garg et al.'s model class: `transformers.GPT2Model` (n_positions 2 x 101,
dropouts 0) with a Linear(d, n_embd) read-in of interleaved x / zero-padded y tokens and a
Linear(n_embd, 1) read-out at the x positions, squared error over all positions, Adam (lr 1e-4),
a fresh torch.randn batch each step, torch's default threads. Ours: `icl_ood.benchmark` (the
compiled training chunk, data drawn on the device) at the preset's dtype (demo float32; paper
bfloat16 compute with float32 parameters, as the preset trains; --set model.dtype=float32 for
float32 on both sides); batch 64, 41 points, warmed up. The two sides alternate, so that the machine's drift hits both:
the reference lives in a child process, ours is compiled once, and in each of --rounds rounds
(order ABBA, a 1 s pause before each side) each side trains the same number of steps (demo 30,
paper 5) twice, untimed and then timed; ms per step is a side's median over rounds, the ratio that of the medians, with the
median and range of the per-round ratios. torch and transformers are not dependencies of
icl-ood: run this in a scratch environment that has them, e.g.

  python -m venv /tmp/ref && /tmp/ref/bin/pip install -e . torch transformers
  /tmp/ref/bin/python scripts/reference_speed.py --out figures/reference_speed.jsonl

With --reference-python, the reference runs in that interpreter (one that has torch and
transformers) and ours in this one, e.g. jax 0.12 on Python 3.12 next to torch on Python 3.11.
--cpu-devices N splits our batch over N CPU devices (`icl-ood train --cpu-devices N`).

One JSON line per size (ms per step of each side and their ratio, the machine, the commit,
the versions) is printed and appended to --out. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

SIZES = {  # name: (preset, n_layer, n_head, n_embd, d, steps per side per round)
    "paper": ("paper", 12, 8, 256, 20, 5),
    "demo": ("demo", 3, 4, 64, 1, 30),
}


def reference_server(n_layer: int, n_head: int, n_embd: int, d: int, n_points: int = 41,
                     batch: int = 64, warmup: int = 2):
    """The PyTorch reference (module docstring), warmed up: returns run(steps) -> seconds per
    step over that many further training steps."""
    import torch
    from transformers import GPT2Config, GPT2Model

    class Reference(torch.nn.Module):
        def __init__(self):
            super().__init__()
            conf = GPT2Config(n_positions=2 * 101, n_embd=n_embd, n_layer=n_layer,
                              n_head=n_head, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                              use_cache=False)
            self.read_in = torch.nn.Linear(d, n_embd)
            self.backbone = GPT2Model(conf)
            self.read_out = torch.nn.Linear(n_embd, 1)

        def forward(self, xs, ys):
            b, n, _ = xs.shape
            ys_wide = torch.cat([ys[..., None], torch.zeros(b, n, d - 1)], -1)
            z = torch.stack([xs, ys_wide], 2).reshape(b, 2 * n, d)
            h = self.backbone(inputs_embeds=self.read_in(z)).last_hidden_state
            return self.read_out(h)[:, ::2, 0]

    model = Reference()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)

    def run(steps: int) -> float:
        t0 = time.perf_counter()
        for _ in range(steps):
            xs = torch.randn(batch, n_points, d)
            w = torch.randn(batch, d, 1)
            ys = (xs @ w)[..., 0]
            loss = ((model(xs, ys) - ys) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        return (time.perf_counter() - t0) / steps

    run(warmup)
    return run


def our_window(preset: str, d: int, steps: int, overrides: list[str]):
    """icl-ood's compiled training chunk of `steps` steps at that size (the preset's dtype unless
    overridden, batch 64, 41 points), warmed up: (window() -> seconds per step, the config)."""
    from icl_ood import presets  # not in the reference child (it may lack icl-ood)
    from icl_ood.benchmark import timed_window
    cfg = presets.get(preset).override([f"data.dim={d}", "data.n_points=41",
                                        "data.x_dist=\"gaussian\"", "train.batch_size=64",
                                        *overrides])
    return timed_window(cfg, window_steps=steps)[0], cfg


def interleaved(ours, reference, rounds: int, pause_s: float = 1.0, warmup: int = 1) -> dict:
    """Alternates the two sides `rounds` times (ABBA order; on its turn a side first runs
    `warmup` untimed calls after a pause, since the first steps after the other side ran are
    slower): per side the median over rounds of ms per step, and the ratio's median and range
    over rounds."""
    pairs = []
    for r in range(rounds):
        got = {}
        for side in (("ours", "ref") if r % 2 == 0 else ("ref", "ours")):
            fn = ours if side == "ours" else reference
            time.sleep(pause_s)
            for _ in range(warmup):
                fn()
            got[side] = 1e3 * fn()
        pairs.append(got)
    ratios = [p["ours"] / p["ref"] for p in pairs]
    o = statistics.median(p["ours"] for p in pairs)
    f = statistics.median(p["ref"] for p in pairs)
    return {"icl_ood_ms_per_step": o, "reference_ms_per_step": f, "ratio": o / f,
            "ratio_median_of_rounds": statistics.median(ratios),
            "ratio_min": min(ratios), "ratio_max": max(ratios), "rounds": pairs}


def cpu_model() -> str:
    """The CPU's model name (Linux /proc/cpuinfo), else what platform knows."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="demo,paper", help="comma-separated: " + ",".join(SIZES))
    ap.add_argument("--out", help="append the JSON lines to this file")
    ap.add_argument("--reference-python", metavar="PYTHON",
                    help="run the reference in this interpreter (default: this one)")
    ap.add_argument("--cpu-devices", type=int, default=1, metavar="N",
                    help="split our batch over N CPU devices (default 1)")
    ap.add_argument("--set", dest="overrides", action="append", default=[],
                    metavar="SECTION.FIELD=VALUE",
                    help="override our config, e.g. model.dtype=float32 (recorded; the "
                         "reference is float32)")
    ap.add_argument("--rounds", type=int, default=7,
                    help="alternations of the two sides (default 7; medians over rounds)")
    ap.add_argument("--reference-serve", metavar="SIZE", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.rounds < 1:
        ap.error(f"--rounds: must be >= 1, got {args.rounds}")
    if args.reference_serve:  # the reference side: one timed round per line read from stdin
        _, n_layer, n_head, n_embd, d, steps = SIZES[args.reference_serve]
        import torch
        import transformers
        run = reference_server(n_layer, n_head, n_embd, d)
        print(json.dumps({"torch": torch.__version__, "transformers": transformers.__version__,
                          "python": platform.python_version(),
                          "threads": torch.get_num_threads()}), flush=True)
        for _ in sys.stdin:
            print(json.dumps({"s": run(steps)}), flush=True)
        return 0
    unknown = [n for n in args.sizes.split(",") if n not in SIZES]
    if unknown:
        ap.error(f"--sizes: unknown {unknown}; known: {sorted(SIZES)}")
    ref_python = args.reference_python or sys.executable
    try:
        subprocess.run([ref_python, "-c", "import torch, transformers"], check=True,
                       capture_output=True)
    except (subprocess.CalledProcessError, OSError):
        print(f"reference_speed: {ref_python} lacks torch and transformers; see the docstring",
              file=sys.stderr)
        return 2
    import jax

    from icl_ood.model.transformer import attention_impl
    from icl_ood.results import commit
    jax.config.update("jax_num_cpu_devices", args.cpu_devices)
    for name in args.sizes.split(","):
        preset, n_layer, n_head, n_embd, d, steps = SIZES[name]
        with subprocess.Popen([ref_python, __file__, "--reference-serve", name],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as child:
            r = json.loads(child.stdout.readline())

            def reference():
                child.stdin.write("\n")
                child.stdin.flush()
                return json.loads(child.stdout.readline())["s"]

            window, cfg = our_window(preset, d, steps, args.overrides)
            timing = interleaved(window, reference, args.rounds)
            child.stdin.close()
        rec = {"size": name, "n_layer": n_layer, "n_head": n_head, "n_embd": n_embd, "dim": d,
               "batch": 64, "n_points": 41, "dtype": cfg.model.dtype,
               "attention": attention_impl(cfg.model), "overrides": args.overrides,
               "reference_dtype": "float32", "method": f"interleaved: {args.rounds} rounds of "
               f"{steps} warm-up and {steps} timed steps per side, medians over rounds", **timing,
               "icl_ood_cpu_devices": jax.device_count(),
               "machine": f"{cpu_model()}, {os.cpu_count()} cores, {platform.machine()}",
               "commit": commit(), "jax": jax.__version__, "torch": r["torch"],
               "transformers": r["transformers"], "python": platform.python_version(),
               "reference_python": r["python"], "torch_threads": r["threads"],
               "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
        line = json.dumps(rec)
        print(line, flush=True)
        if args.out:
            with open(args.out, "a") as fh:
                fh.write(line + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
