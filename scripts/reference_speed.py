"""Training-step time of icl-ood next to the PyTorch reference, side by side on this machine.

The reference is Garg et al.'s model class: `transformers.GPT2Model` (n_positions 2 x 101,
dropouts 0) with a Linear(d, n_embd) read-in of interleaved x / zero-padded y tokens and a
Linear(n_embd, 1) read-out at the x positions, squared error over all positions, Adam (lr 1e-4),
a fresh torch.randn batch each step, torch's default threads. Ours: `icl_ood.benchmark` (the
compiled training chunk, data drawn on the device). Both fp32 (ours: unless --set changes it),
batch 64, 41 points; median of timed steps after warm-up. torch and transformers are not dependencies of icl-ood: run this in
a scratch environment that has them, e.g.

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

SIZES = {  # name: (preset, n_layer, n_head, n_embd, d)
    "paper": ("paper", 12, 8, 256, 20),
    "demo": ("demo", 3, 4, 64, 1),
}


def reference_ms(n_layer: int, n_head: int, n_embd: int, d: int, n_points: int = 41,
                 batch: int = 64, steps: int = 12, warmup: int = 2) -> float:
    """Median ms per training step of the PyTorch reference (see the module docstring)."""
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
    times = []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        xs = torch.randn(batch, n_points, d)
        w = torch.randn(batch, d, 1)
        ys = (xs @ w)[..., 0]
        loss = ((model(xs, ys) - ys) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def ours(preset: str, d: int, overrides: list[str], windows: int = 5) -> dict:
    """icl-ood's benchmark record at that size (fp32 unless overridden, batch 64, 41 points)."""
    from icl_ood import presets  # not in the --reference-only child (it may lack icl-ood)
    from icl_ood.benchmark import benchmark
    cfg = presets.get(preset).override([f"data.dim={d}", "data.n_points=41",
                                        "data.x_dist=\"gaussian\"", "train.batch_size=64",
                                        "model.dtype=\"float32\"", "train.steps_per_dispatch=10",
                                        *overrides])
    return next(benchmark(cfg, windows=windows))


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
                    help="override our config, e.g. model.dtype=bfloat16 (recorded; the "
                         "reference stays float32)")
    ap.add_argument("--reference-only", metavar="SIZE", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.reference_only:  # the child of --reference-python: one JSON object
        _, n_layer, n_head, n_embd, d = SIZES[args.reference_only]
        import torch
        import transformers
        print(json.dumps({"ms": reference_ms(n_layer, n_head, n_embd, d),
                          "torch": torch.__version__, "transformers": transformers.__version__,
                          "python": platform.python_version(),
                          "threads": torch.get_num_threads()}))
        return 0
    ref_cmd = [args.reference_python or sys.executable, __file__, "--reference-only"]
    try:
        subprocess.run([*ref_cmd[:1], "-c", "import torch, transformers"], check=True,
                       capture_output=True)
    except (subprocess.CalledProcessError, OSError):
        print(f"reference_speed: {ref_cmd[0]} lacks torch and transformers; see the docstring",
              file=sys.stderr)
        return 2
    import jax

    from icl_ood.results import commit
    jax.config.update("jax_num_cpu_devices", args.cpu_devices)
    for name in args.sizes.split(","):
        preset, n_layer, n_head, n_embd, d = SIZES[name]
        r = json.loads(subprocess.run([*ref_cmd, name], check=True, capture_output=True,
                                      text=True).stdout.splitlines()[-1])
        got = ours(preset, d, args.overrides)
        rec = {"size": name, "n_layer": n_layer, "n_head": n_head, "n_embd": n_embd, "dim": d,
               "batch": 64, "n_points": 41, "dtype": got["dtype"],
               "attention": got["attention_impl"], "overrides": args.overrides,
               "reference_dtype": "float32", "icl_ood_ms_per_step": got["ms_per_step"],
               "reference_ms_per_step": r["ms"], "ratio": got["ms_per_step"] / r["ms"],
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
