"""Does icl-ood train like the PyTorch reference? Both models on the same task and
hyperparameters, several seeds each, loss curves logged and errors scored on the same prompts.

The reference is Garg et al.'s `TransformerModel` (Hugging Face GPT2Model inside, PyTorch
nn.Linear read-in and read-out), its class read at run time from a copy of
dtsip/in-context-learning (`src/models.py`; a work tree or a bare git folder), never copied
here; it trains in a child process with Garg et al.'s loop (Adam, mean squared error over all
positions, a fresh torch batch each step), plus the setting's warmup, cosine decay and clipping
where the setting has them (the reference's own trainer has none). Ours trains through
`icl_ood.train` (one program for all seeds). torch and transformers are not dependencies of
icl-ood; e.g.

  git clone https://github.com/dtsip/in-context-learning /tmp/garg
  python -m venv /tmp/ref && /tmp/ref/bin/pip install torch transformers -e .
  python scripts/reference_parity.py --reference-repo /tmp/garg --reference-python \\
      /tmp/ref/bin/python --setting linear-d4 --seeds 3 --out figures/reference-parity

Settings (SETTINGS): `linear-d4`, dense linear regression, d = 4, 11 points, the demo-size
model (3 layers, 4 heads, d_model 64), batch 64, Adam 1e-4 constant [garg], no clipping,
4,000 steps; `linear-d4-lr1e-3`, the same at Adam 1e-3; `demo-1d`, the `demo` preset with `model.init="reference"` (1-D lines and sines 50/50, 41 points, Adam 2e-3, 100 warmup steps,
cosine decay, clipping at 1, 4,000 steps). `--variant NAME=FIELD=VALUE[;FIELD=VALUE]` trains
more arms of ours, e.g. `--variant gpt2-init=model.init="gpt2"` (the model before 2026-12-07).

Writes OUT/SETTING/parity.json (loss curves, errors by k per seed with 90% bootstrap intervals,
initialisation statistics of both sides), provenance.json, learning_curves.png|pdf; prints the
error ratio ours / reference by k and the steps each seed took to leave the plateau.
`--figure-only` redraws from parity.json. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import ast
import json
import math
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Each setting: overrides of the demo preset, the evaluation tasks, the reference's own
# trainer's values being Adam at a constant rate with no clipping.
LINEAR_D4 = ["data.dim=4", "data.n_points=11", "model.max_points=11", 'data.families=["linear"]',
             "data.weights=[1.0]", 'data.x_dist="gaussian"', "data.x_scale=1.0",
             'train.schedule="constant"', "train.warmup_steps=0", "train.grad_clip=0.0",
             "train.steps_per_dispatch=50", "train.log_every=50", "train.ckpt_every=1000"]
SETTINGS = {
    "linear-d4": {"set": [*LINEAR_D4, "train.lr=1e-4"], "tasks": [{"family": "linear"}]},
    # the same at a tenfold rate: the reference leaves its plateau
    "linear-d4-lr1e-3": {"set": [*LINEAR_D4, "train.lr=1e-3"], "tasks": [{"family": "linear"}]},
    "demo-1d": {
        "set": ["train.log_every=50", "train.steps_per_dispatch=50"],
        "tasks": [{"family": "linear"}, {"family": "sinusoid"},
                  {"mix": ["linear", "sinusoid", 0.5]}],
    },
}
PLATEAU_FRACTION = 0.5  # left the plateau: logged loss below this fraction of E[y^2]
N_PROMPTS = 1280


# ----------------------------------------------------------------------- the reference (torch)

def reference_source(repo: str) -> str:
    """src/models.py of the reference: from a work tree, else from a git folder's HEAD."""
    tree = Path(repo) / "src" / "models.py"
    if tree.exists():
        return tree.read_text()
    return subprocess.run(["git", "--git-dir", repo, "show", "HEAD:src/models.py"], text=True,
                          capture_output=True, check=True).stdout


def reference_class(repo: str):
    """Garg et al.'s TransformerModel class, compiled from the reference's own source (only that
    class: the module's other imports, sklearn and xgboost, are not needed)."""
    import torch
    from transformers import GPT2Config, GPT2Model
    node = next(n for n in ast.parse(reference_source(repo)).body
                if isinstance(n, ast.ClassDef) and n.name == "TransformerModel")
    ns = {"torch": torch, "nn": torch.nn, "GPT2Model": GPT2Model, "GPT2Config": GPT2Config}
    exec(compile(ast.Module([node], []), f"{repo}/src/models.py", "exec"), ns)
    return ns["TransformerModel"]


def reference_batch(spec: dict, gen=None):
    """(xs, ys) of one training batch drawn with torch's RNG (Garg et al.'s samplers, extended to
    the settings' families: lines w ~ N(0, I), 1-D sines b1 sin(f x) + b2 cos(f x), b ~ N(0, I))."""
    import torch
    d, b, n = spec["dim"], spec["batch"], spec["n_points"]
    if spec["x_dist"] == "gaussian":
        xs = spec["x_scale"] * torch.randn(b, n, d)
    else:
        xs = spec["x_scale"] * (2 * torch.rand(b, n, d) - 1)
    fam = torch.multinomial(torch.tensor(spec["weights"]), b, replacement=True)
    ys = torch.zeros(b, n)
    for i, name in enumerate(spec["families"]):
        if name == "linear":
            y = (xs @ torch.randn(b, d, 1))[..., 0]
        else:  # sinusoid, d = 1, fixed angular frequency, Gaussian (b1, b2)
            t = spec["freq"] * xs[..., 0]
            c = spec["amp"] * torch.randn(b, 2, 1)
            y = c[:, 0] * torch.sin(t) + c[:, 1] * torch.cos(t)
        ys = torch.where((fam == i)[:, None], y, ys)
    return xs, ys


def init_stats_torch(model) -> dict:
    """{group: [std, mean, max |v|, count]} of the reference's initial parameters."""
    import numpy as np
    groups: dict[str, list] = {}
    for name, p in model.named_parameters():
        g = torch_group(name)
        if g:
            groups.setdefault(g, []).append(p.detach().numpy().ravel())
    return {g: _stats(np.concatenate(v)) for g, v in groups.items()}


def torch_group(name: str) -> str | None:
    """The parameter group of a reference parameter name (None: unused, the token embedding)."""
    kind = "w" if name.endswith("weight") else "b"
    for key, g in (("_read_in", "read_in"), ("_read_out", "read_out"), ("wpe", "positions"),
                   ("attn.c_attn", "qkv"), ("attn.c_proj", "attn_out"), ("mlp.c_fc", "fc"),
                   ("mlp.c_proj", "mlp_out")):
        if key in name:
            return g if g == "positions" else f"{g}.{kind}"
    if ".ln_" in name or name.startswith("_backbone.ln_f"):
        return "layernorm." + ("scale" if kind == "w" else "bias")
    return None


def reference_train(spec: dict) -> dict:
    """Trains one reference seed as Garg et al.'s train.py does; returns its log and predictions."""
    import numpy as np
    import torch
    torch.set_num_threads(spec["threads"]) if spec["threads"] else None
    torch.manual_seed(spec["seed"])
    model = reference_class(spec["repo"])(n_dims=spec["dim"], n_positions=spec["max_points"],
                                          n_embd=spec["d_model"], n_layer=spec["n_layers"],
                                          n_head=spec["n_heads"])
    init = init_stats_torch(model)
    opt = torch_optimizer(model, spec)
    log, window, t0 = [], [], time.perf_counter()
    for i in range(spec["steps"]):
        window.append(torch_step(model, *opt, *reference_batch(spec), spec["grad_clip"]))
        if (i + 1) % spec["log_every"] == 0:
            log.append({"step": i + 1, "loss": float(np.mean(window)),
                        "wall_s": time.perf_counter() - t0})
            window = []
    model.eval()
    preds = {}
    with np.load(spec["prompts"]) as z, torch.no_grad():
        for name in z.files:
            if name.endswith(":xs"):
                task = name[:-3]
                xs = torch.tensor(z[name], dtype=torch.float32)
                ys = torch.tensor(z[task + ":ys"], dtype=torch.float32)
                preds[task] = torch.cat([model(xs[i:i + 256], ys[i:i + 256])
                                         for i in range(0, len(xs), 256)]).numpy().tolist()
    import transformers
    return {"log": log, "init": init, "preds": preds, "train_s": log[-1]["wall_s"],
            "torch": torch.__version__, "transformers": transformers.__version__,
            "python": platform.python_version(), "threads": torch.get_num_threads()}


def lockstep(cfg, spec: dict, steps: int) -> list[dict]:
    """Both models from the reference's initial weights, on the same torch batches, with the same
    schedule and clipping: per step each one's loss and its parameters' distance to the
    reference's, ||p - p_ref|| / ||p_ref||. A control arm, the reference itself computed in
    float64 (the same operations, other rounding at every step, as ours has), shows how fast
    training amplifies rounding: equal implementations stay about as close as that control; a
    difference in model, loss or optimizer shows from the first steps."""
    import copy

    import jax
    import numpy as np
    import optax
    import torch
    from flax import nnx

    from icl_ood.train.step import init_model, keys, loss_fn, optimizer
    torch.set_num_threads(spec["threads"]) if spec["threads"] else None
    torch.manual_seed(spec["seed"])
    ref = reference_class(spec["repo"])(n_dims=spec["dim"], n_positions=spec["max_points"],
                                        n_embd=spec["d_model"], n_layer=spec["n_layers"],
                                        n_head=spec["n_heads"])
    control = copy.deepcopy(ref).double()
    graphdef, params = nnx.split(init_model(cfg, keys(spec["seed"])[0]), nnx.Param)
    params = to_ours(ref, params)
    tx = optimizer(cfg.train)
    opt_state = tx.init(params)
    n = spec["n_points"]

    @jax.jit
    def step(params, opt_state, xs, ys):
        mask, fam = np.ones((xs.shape[0], n), np.float32), np.zeros(xs.shape[0], np.int32)
        (loss, _), g = jax.value_and_grad(loss_fn, has_aux=True)(params, graphdef, xs, ys, mask,
                                                                 fam, 1)
        updates, opt_state = tx.update(g, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    def flat(ps) -> np.ndarray:
        return np.concatenate([np.asarray(p, np.float64).ravel() for p in ps])

    opts = [torch_optimizer(m, spec) for m in (ref, control)]
    out = []
    for i in range(steps):
        xs, ys = reference_batch(spec)
        clip = spec["grad_clip"]
        row = {"step": i + 1, "reference": torch_step(ref, *opts[0], xs, ys, clip),
               "control": torch_step(control, *opts[1], xs.double(), ys.double(), clip)}
        params, opt_state, ours = step(params, opt_state, xs.numpy(), ys.numpy())
        row["ours"] = float(ours)
        mine = flat(jax.tree.leaves(to_ours(ref, params)))
        norm = np.linalg.norm(mine)
        row["ours_distance"] = float(np.linalg.norm(flat(jax.tree.leaves(params)) - mine) / norm)
        theirs = to_ours(control, params)
        row["control_distance"] = float(np.linalg.norm(flat(jax.tree.leaves(theirs)) - mine) / norm)
        out.append(row)
    return out


def crossed(cfg, spec: dict, init: str, batches: str, prompts: dict) -> dict:
    """One seed of ours with the draws crossed: initial weights from `init` ("reference": the
    reference's for this seed, mapped by `to_ours`; "ours": our own) and training batches from
    `batches` ("torch": the reference's own batch sequence for this seed; "ours": our fold_in
    batches), the setting's schedule and clipping. Returns its loss log and errors on `prompts`."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax
    import torch
    from flax import nnx

    from icl_ood import evaluate as ev
    from icl_ood.data.prompts import training_batch
    from icl_ood.train.step import init_model, keys, loss_fn, optimizer
    torch.set_num_threads(spec["threads"]) if spec["threads"] else None
    torch.manual_seed(spec["seed"])  # the model first, as the reference draws it: then its batches
    ref = reference_class(spec["repo"])(n_dims=spec["dim"], n_positions=spec["max_points"],
                                        n_embd=spec["d_model"], n_layer=spec["n_layers"],
                                        n_head=spec["n_heads"])
    init_key, data_key = keys(spec["seed"])
    graphdef, params = nnx.split(init_model(cfg, init_key), nnx.Param)
    if init == "reference":
        params = to_ours(ref, params)
    tx = optimizer(cfg.train)
    opt_state = tx.init(params)
    n_fam, b = len(cfg.data.families), cfg.train.batch_size

    def update(params, opt_state, xs, ys, mask, fam):
        (loss, _), g = jax.value_and_grad(loss_fn, has_aux=True)(params, graphdef, xs, ys, mask,
                                                                 fam, n_fam)
        updates, opt_state = tx.update(g, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    def chunk(carry, batch):  # one step inside a scan of log_every steps
        if batches == "torch":
            xs, ys = batch
            mask, fam = jnp.ones(ys.shape, jnp.float32), jnp.zeros(ys.shape[0], jnp.int32)
        else:
            xs, ys, fam, mask = training_batch(jax.random.fold_in(data_key, batch), batch, b,
                                               cfg.data)
        params, opt_state, loss = update(*carry, xs, ys, mask, fam)
        return (params, opt_state), loss

    run = jax.jit(lambda carry, batches_: jax.lax.scan(chunk, carry, batches_))
    every, log, t0 = spec["log_every"], [], time.perf_counter()
    for i0 in range(0, spec["steps"], every):
        if batches == "torch":
            xy = [reference_batch(spec) for _ in range(every)]
            feed = tuple(np.stack([z[j].numpy() for z in xy]) for j in (0, 1))
        else:
            feed = jnp.arange(i0, i0 + every)
        (params, opt_state), losses = run((params, opt_state), feed)
        log.append({"step": i0 + every, "loss": float(np.mean(losses))})
    model = nnx.merge(graphdef, params)
    preds = {t: ev.model_predict(model, xs, ys) for t, (_, xs, ys) in prompts.items()}
    return {"log": log, "preds": preds, "train_s": time.perf_counter() - t0}


CROSSED = {"ref-init": ("reference", "ours"), "torch-batches": ("ours", "torch")}


def run_crossed(args, name: str) -> dict:
    """Adds the crossed arms (CROSSED: initial weights from one side, batches from the other) to
    the setting's parity.json, seeds 0..N-1, each scored on the record's prompts."""
    import torch
    import transformers

    from icl_ood.results import commit, machine
    path = Path(args.out) / name / "parity.json"
    if not path.exists():
        raise SystemExit(f"--crossed: no {path}; run the setting first")
    rec = json.loads(path.read_text())
    cfg = setting_config(name, args.overrides)
    if json.loads(json.dumps(cfg.to_dict())) != rec["config"] or args.seeds > rec["seeds"]:
        raise SystemExit(f"--crossed: {path} holds another config or fewer than {args.seeds} seeds")
    prompts = eval_prompts(cfg, name)
    t0 = time.perf_counter()
    for arm in args.crossed.split(","):
        init, batches = CROSSED[arm]
        runs = []
        for s in range(args.seeds):
            got = crossed(cfg, reference_spec(cfg, s, args, ""), init, batches, prompts)
            runs.append({"log": got["log"], "train_s": got["train_s"], "errors": {
                t: score(got["preds"][t], prompts[t][2], rec["tasks"][t]["normalizer"])
                for t in prompts}})
            print(f"{name}: {arm} seed {s}: {got['train_s']:.0f} s, left the plateau at "
                  f"{left_plateau(got['log'], rec['ey2'])}", flush=True)
        rec["arms"][arm] = runs
        rec.setdefault("overrides", {})[arm] = [f"initial weights: {init}", f"batches: {batches}"]
    rec["crossed_provenance"] = {
        "command": "python scripts/reference_parity.py " + " ".join(args.argv), "commit": commit(),
        "machine": machine(), "wall_s": time.perf_counter() - t0,
        "reference_repo": reference_commit(args.reference_repo), "torch": torch.__version__,
        "transformers": transformers.__version__,
        "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
    return rec


def run_lockstep(args, name: str) -> dict:
    """The lockstep record of a setting: seeds 0..N-1, args.lockstep steps each."""
    from icl_ood.results import commit, machine
    cfg = setting_config(name, args.overrides)
    t0 = time.perf_counter()
    rec = {"setting": name, "config": cfg.to_dict(), "steps": args.lockstep, "seeds": {}}
    for s in range(args.seeds):
        rec["seeds"][s] = lockstep(cfg, reference_spec(cfg, s, args, ""), args.lockstep)
        r = rec["seeds"][s]
        print(f"{name} seed {s}: " + ", ".join(
            f"step {r[i - 1]['step']}: loss {r[i - 1]['reference']:.4f} / {r[i - 1]['ours']:.4f}, "
            f"distance {r[i - 1]['ours_distance']:.1e} (control {r[i - 1]['control_distance']:.1e})"
            for i in (10, 100, len(r)) if i <= len(r)), flush=True)
    import torch
    import transformers
    rec["provenance"] = {"command": "python scripts/reference_parity.py " + " ".join(args.argv),
                         "commit": commit(), "machine": machine(), "wall_s": time.perf_counter() - t0,
                         "reference_repo": reference_commit(args.reference_repo),
                         "torch": torch.__version__, "transformers": transformers.__version__,
                         "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
    return rec


def lockstep_figure(rec: dict, out: Path) -> None:
    """Losses of both (seed 0) and the parameter distance to the reference per seed vs step."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
    for s, rows in rec["seeds"].items():
        steps = [r["step"] for r in rows]
        if str(s) == "0":
            a.plot(steps, [r["reference"] for r in rows], color="black", lw=0.8, label="reference")
            a.plot(steps, [r["ours"] for r in rows], color="tab:red", lw=0.8, ls="--", label="ours")
        b.plot(steps, [r["ours_distance"] for r in rows], color="tab:red", lw=0.8,
               label="ours" if str(s) == "0" else None)
        b.plot(steps, [r["control_distance"] for r in rows], color="0.5", lw=0.8, ls=":",
               label="the reference in float64" if str(s) == "0" else None)
    a.set(xlabel="training step", ylabel="training loss (this batch)", yscale="log",
          title=f"{rec['setting']}: same init, same batches (seed 0)")
    b.set(xlabel="training step", ylabel="||params - reference's|| / ||reference's||",
          yscale="log", title=f"distance to the reference ({len(rec['seeds'])} seeds)")
    for ax in (a, b):
        ax.legend(fontsize=7)
    fig.tight_layout()
    for ext in ("png", "pdf"):
        fig.savefig(out / f"lockstep.{ext}", dpi=130)
    plt.close(fig)


def torch_optimizer(model, spec: dict) -> tuple:
    """(Adam, its LambdaLR schedule) of a reference model: the setting's rate and schedule."""
    import torch
    opt = torch.optim.Adam(model.parameters(), lr=spec["lr"])
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, lambda i: lr_factor(spec, i))


def torch_step(model, opt, sched, xs, ys, grad_clip: float) -> float:
    """One step of Garg et al.'s loop (mean squared error over batch and positions, their
    tasks.mean_squared_error), with the setting's clipping and schedule; returns the loss."""
    import torch
    loss = ((model(xs, ys) - ys) ** 2).mean()
    opt.zero_grad()
    loss.backward()
    if grad_clip:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    opt.step()
    sched.step()
    return loss.item()


def lr_factor(spec: dict, i: int) -> float:
    """The schedule's factor at step i: optax's warmup_cosine_decay_schedule or linear warmup
    then constant, as icl_ood.train.step.schedule."""
    warm = spec["warmup_steps"]
    if i < warm:
        return i / warm
    if spec["schedule"] == "constant":
        return 1.0
    return 0.5 * (1 + math.cos(math.pi * (i - warm) / (spec["steps"] - warm)))


def to_ours(ref, params):
    """Our parameter State holding the reference model's current weights (names mapped, the
    nn.Linear weights transposed; GPT-2's Conv1D weights are already (in, out))."""
    import jax.numpy as jnp
    from flax import nnx
    sd = {k: v.detach().numpy() for k, v in ref.state_dict().items()}
    pure = nnx.to_pure_dict(params)
    pure["read_in"] = {"kernel": sd["_read_in.weight"].T, "bias": sd["_read_in.bias"]}
    pure["read_out"] = {"kernel": sd["_read_out.weight"].T, "bias": sd["_read_out.bias"]}
    pure["pos"]["embedding"] = sd["_backbone.wpe.weight"]
    pure["ln_f"] = {"scale": sd["_backbone.ln_f.weight"], "bias": sd["_backbone.ln_f.bias"]}
    for i, blk in pure["blocks"].items():
        h = f"_backbone.h.{i}."
        for ours_name, theirs in (("ln1", "ln_1"), ("ln2", "ln_2")):
            blk[ours_name] = {"scale": sd[h + theirs + ".weight"], "bias": sd[h + theirs + ".bias"]}
        for path, theirs in ((("attn", "qkv"), "attn.c_attn"), (("attn", "out"), "attn.c_proj"),
                             (("fc",), "mlp.c_fc"), (("proj",), "mlp.c_proj")):
            node = blk
            for p in path:
                node = node[p]
            node["kernel"], node["bias"] = sd[h + theirs + ".weight"], sd[h + theirs + ".bias"]
    import jax
    pure = jax.tree.map(jnp.asarray, pure)
    new = jax.tree.map(lambda x: x, params)
    nnx.replace_by_pure_dict(new, pure)
    return new


# --------------------------------------------------------------------------------- ours (jax)

def _stats(v) -> list:
    import numpy as np
    v = np.asarray(v, np.float64)
    return [float(v.std()), float(v.mean()), float(np.abs(v).max()), int(v.size)]


def ours_group(path: tuple) -> str | None:
    """The parameter group of one of our parameters (its nnx path)."""
    names = [str(p) for p in path]
    leaf, mod = names[-1], names[-2]
    kind = "w" if leaf in ("kernel", "embedding") else "b"
    if mod in ("ln1", "ln2", "ln_f"):
        return "layernorm." + ("scale" if leaf == "scale" else "bias")
    table = {"read_in": "read_in", "read_out": "read_out", "qkv": "qkv", "out": "attn_out",
             "fc": "fc", "proj": "mlp_out"}
    if mod == "pos":
        return "positions"
    return f"{table[mod]}.{kind}" if mod in table else None


def init_stats_ours(cfg, seed: int) -> dict:
    """{group: [std, mean, max |v|, count]} of our initial parameters for `seed`."""
    import numpy as np
    from flax import nnx
    from flax.traverse_util import flatten_dict

    from icl_ood.train import init_model, keys
    state = nnx.state(init_model(cfg, keys(seed)[0]), nnx.Param)
    groups: dict[str, list] = {}
    for path, v in flatten_dict(nnx.to_pure_dict(state)).items():
        g = ours_group(path)
        if g:
            groups.setdefault(g, []).append(np.asarray(v).ravel())
    return {g: _stats(np.concatenate(v)) for g, v in groups.items()}


def setting_config(name: str, extra: list[str]):
    """Our config of a setting: the demo preset with the reference initialisation (the demo's
    own is "gpt2"), then the setting's and the arm's overrides."""
    import dataclasses

    from icl_ood import presets
    cfg = presets.get("demo").override(['model.init="reference"'] + SETTINGS[name]["set"] + extra)
    return dataclasses.replace(cfg, name=f"parity-{name}")


def eval_prompts(cfg, name: str) -> dict:
    """{task label: (Task, xs, ys)}: the shared prompts, N_PROMPTS per task, fixed keys."""
    import jax
    import numpy as np

    from icl_ood.tasks import Task, draw
    out = {}
    for i, t in enumerate(SETTINGS[name]["tasks"]):
        task = Task(family=t.get("family"), mix=tuple(t["mix"]) if "mix" in t else None,
                    n_prompts=N_PROMPTS)
        xs, ys = draw(jax.random.fold_in(jax.random.key(20261207), i), task,
                      task.data_config(cfg.data))
        out[task.label] = (task, np.asarray(xs, np.float32), np.asarray(ys, np.float32))
    return out


def train_ours(cfg, seeds: int, folder: Path) -> list[dict]:
    """Trains seeds 0..seeds-1 in one program; per seed its log and its predictions' source."""
    from icl_ood.train import train
    t0 = time.perf_counter()
    train(cfg, folder, num_runs=seeds, progress=False)
    wall = time.perf_counter() - t0
    out = []
    for s in range(seeds):
        d = folder / f"seed{s}" if seeds > 1 else folder
        log = [json.loads(line) for line in (d / "metrics.jsonl").read_text().splitlines()]
        out.append({"dir": d, "log": [{"step": r["step"], "loss": r["loss"]} for r in log],
                    "train_s": wall})
    return out


def score(preds, ys, norm: float) -> dict:
    """Normalized error by k (squared error / the task's E[y^2]) with 90% bootstrap intervals."""
    import numpy as np

    from icl_ood.stats import bootstrap_counts, summarize
    err = np.square(np.asarray(preds, np.float64) - np.asarray(ys, np.float64))[None]
    s = summarize(err, norm, bootstrap_counts(err.shape[1], 1000, 0))
    return {f: s[f][0].tolist() for f in ("normalized", "norm_lower", "norm_upper")}


def left_plateau(log: list[dict], ey2: float) -> int | None:
    """First logged step whose loss is below PLATEAU_FRACTION of E[y^2] (None: never)."""
    return next((r["step"] for r in log if r["loss"] < PLATEAU_FRACTION * ey2), None)


# ------------------------------------------------------------------------------ the record

def run_setting(args, name: str) -> dict:
    import numpy as np

    from icl_ood import evaluate as ev
    from icl_ood.results import commit, machine
    from icl_ood.tasks import Task, mean_square
    from icl_ood.train import load_model
    started = {"commit": commit(), "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
    variants = {"ours": []}
    for v in args.variant:
        label, _, sets = v.partition("=")
        variants[label] = [s for s in sets.split(";") if s]
    cfg = setting_config(name, args.overrides)
    prompts = eval_prompts(cfg, name)
    ey2 = sum(w * mean_square(Task(family=f), cfg.data)[0]
              for f, w in zip(cfg.data.families, cfg.data.weights))
    rec = {"setting": name, "config": cfg.to_dict(), "seeds": args.seeds, "ey2": ey2,
           "plateau_fraction": PLATEAU_FRACTION, "tasks": {}, "arms": {}}
    for label, (task, xs, ys) in prompts.items():
        norm = mean_square(task, task.data_config(cfg.data))[0]
        rec["tasks"][label] = {"normalizer": norm, "yardsticks": yardsticks(cfg, task, xs, ys, norm)}
    with tempfile.TemporaryDirectory() as tmp:
        npz = Path(tmp) / "prompts.npz"
        np.savez(npz, **{f"{k}:xs": v[1] for k, v in prompts.items()},
                 **{f"{k}:ys": v[2] for k, v in prompts.items()})
        ref = []
        for s in range(args.seeds):
            spec = reference_spec(cfg, s, args, str(npz))
            t0 = time.perf_counter()
            got = json.loads(subprocess.run(
                [args.reference_python or sys.executable, __file__, "--reference-train",
                 json.dumps(spec)], text=True, capture_output=True, check=True).stdout)
            print(f"{name}: reference seed {s}: {time.perf_counter() - t0:.0f} s, last loss "
                  f"{got['log'][-1]['loss']:.4f}", flush=True)
            ref.append(got)
        rec["arms"]["reference"] = [{"log": r["log"], "train_s": r["train_s"], "errors": {
            t: score(r["preds"][t], prompts[t][2], rec["tasks"][t]["normalizer"]) for t in prompts}}
            for r in ref]
        rec["init"] = {"reference": ref[0]["init"]}
        rec["reference_versions"] = {k: ref[0][k] for k in ("torch", "transformers", "python",
                                                            "threads")}
        for label, sets in variants.items():
            vcfg = setting_config(name, args.overrides + sets)
            runs = train_ours(vcfg, args.seeds, Path(tmp) / label)
            arm = []
            for r in runs:
                model = load_model(r["dir"])[0]
                errs = {t: score(ev.model_predict(model, xs, ys), ys, rec["tasks"][t]["normalizer"])
                        for t, (_, xs, ys) in prompts.items()}
                arm.append({"log": r["log"], "train_s": r["train_s"], "errors": errs})
            print(f"{name}: {label}: {runs[0]['train_s']:.0f} s for {args.seeds} seeds", flush=True)
            rec["arms"][label] = arm
            rec["init"][label] = init_stats_ours(vcfg, 0)
            rec.setdefault("overrides", {})[label] = sets
    rec["provenance"] = {"command": "python scripts/reference_parity.py " + " ".join(args.argv),
                         "commit": started["commit"], "machine": machine(),
                         "reference_repo": reference_commit(args.reference_repo),
                         "started": started["date"],
                         "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
    return rec


def yardsticks(cfg, task, xs, ys, norm) -> dict:
    """Least squares and the Bayes predictor of the pretraining prior on the same prompts."""
    import numpy as np

    from icl_ood import baselines as bl
    out = {}
    for b in bl.for_task(cfg.data, task.data_config(cfg.data), task.families,
                         ("least_squares", "bayes_mixture"), bl.DEFAULT_OPTIONS, [], task.scales):
        out[b.name] = score(b.predict(xs.astype(np.float64), ys.astype(np.float64))[0], ys, norm)
    return out


def reference_spec(cfg, seed: int, args, prompts: str) -> dict:
    d, m, t = cfg.data, cfg.model, cfg.train
    unsupported = [f for f in d.families if f not in ("linear", "sinusoid")]
    sin = d.prior("sinusoid")
    if unsupported or d.noise_std or d.curriculum or d.family_hint or (
            "sinusoid" in d.families and (d.dim != 1 or sin.amp_dist != "rayleigh"
                                          or sin.freq[0] != sin.freq[1] or sin.amp[0] != 0)):
        raise SystemExit(f"reference_parity: the reference side draws only noiseless dense lines "
                         f"and 1-D fixed-frequency Rayleigh sines; got {cfg.data}")
    return {"seed": seed, "repo": args.reference_repo, "threads": args.threads, "prompts": prompts,
            "dim": d.dim, "n_points": d.n_points, "families": list(d.families),
            "weights": list(d.weights), "x_dist": d.x_dist, "x_scale": d.x_scale,
            "freq": sin.freq[0], "amp": sin.amp[1], "max_points": m.max_points,
            "d_model": m.d_model, "n_layers": m.n_layers, "n_heads": m.n_heads,
            "batch": t.batch_size, "lr": t.lr, "schedule": t.schedule,
            "warmup_steps": t.warmup_steps, "grad_clip": t.grad_clip, "steps": t.steps,
            "log_every": t.log_every}


def reference_commit(repo: str) -> str:
    for args in (["-C", repo], ["--git-dir", repo]):
        r = subprocess.run(["git", *args, "rev-parse", "HEAD"], text=True, capture_output=True,
                           check=False)
        if r.returncode == 0:
            return f"dtsip/in-context-learning@{r.stdout.strip()[:12]}"
    return "dtsip/in-context-learning (commit unknown)"


def summary(rec: dict) -> str:
    """The printed table: mean error by k per arm (seed range), ratio to the reference, plateau."""
    import numpy as np
    lines = [f"## {rec['setting']}: normalized error (squared error / the task's E[y^2]) at "
             f"step {rec['config']['train']['steps']}, mean over {rec['seeds']} seeds [min, max]"]
    arms = rec["arms"]
    for task, info in rec["tasks"].items():
        n = len(arms["reference"][0]["errors"][task]["normalized"])
        ks = [k for k in (1, 2, 4, 6, 8, 10, 20, 40) if k < n]
        lines += [f"\n{task} (E[y^2] = {info['normalizer']:.3g})",
                  "| predictor | " + " | ".join(f"k={k}" for k in ks) + " |",
                  "|---|" + "---|" * len(ks)]
        for arm, runs in arms.items():
            e = np.array([r["errors"][task]["normalized"] for r in runs])
            lines.append(f"| {arm} | " + " | ".join(
                f"{e[:, k].mean():.3f} [{e[:, k].min():.3f}, {e[:, k].max():.3f}]" for k in ks) + " |")
        ref = np.array([r["errors"][task]["normalized"] for r in arms["reference"]]).mean(0)
        for arm, runs in arms.items():
            if arm != "reference":
                e = np.array([r["errors"][task]["normalized"] for r in runs]).mean(0)
                lines.append(f"| {arm} / reference | " + " | ".join(
                    f"{e[k] / ref[k]:.2f}" for k in ks) + " |")
        for y, s in info["yardsticks"].items():
            lines.append(f"| {y} | " + " | ".join(f"{s['normalized'][k]:.3f}" for k in ks) + " |")
    lines.append(f"\nsteps to leave the plateau (first logged loss < {rec['plateau_fraction']} x "
                 f"E[y^2] = {rec['plateau_fraction'] * rec['ey2']:.3g}), per seed:")
    for arm, runs in arms.items():
        lines.append(f"- {arm}: " + ", ".join(str(left_plateau(r["log"], rec["ey2"]))
                                               for r in runs))
    if all(a in arms for a in CROSSED):
        lines += ["", crossed_table(rec)]
    lines.append("\ninitial parameters, std (max |v|) per group, seed 0:")
    groups = sorted(rec["init"]["reference"])
    lines.append("| group | " + " | ".join(rec["init"]) + " |")
    lines.append("|---|" + "---|" * len(rec["init"]))
    for g in groups:
        lines.append(f"| {g} | " + " | ".join(
            f"{s[g][0]:.4g} ({s[g][2]:.3g})" if g in s else "-" for s in rec["init"].values()) + " |")
    return "\n".join(lines)


def crossed_table(rec: dict) -> str:
    """The 2 x 2 of initial weights x batches (reference = the reference arm; ours = our arm):
    the steps to leave the plateau per cell (geometric mean over the seeds that left, how many
    left), and exact one-sided permutation tests of each factor on log exit steps (seeds that
    never left counted at the last step)."""
    import itertools

    import numpy as np
    cells = {("torch", "torch"): "reference", ("torch", "ours"): "ref-init",
             ("ours", "torch"): "torch-batches", ("ours", "ours"): "ours"}
    last = rec["config"]["train"]["steps"]
    exits = {arm: [left_plateau(r["log"], rec["ey2"]) for r in rec["arms"][arm]]
             for arm in cells.values()}
    logs = {arm: np.log([e or last for e in v]) for arm, v in exits.items()}

    def cell(arm):
        got = [e for e in exits[arm] if e]
        gm = float(np.exp(np.mean(np.log(got)))) if got else float("nan")
        return f"{gm:.0f} ({len(got)} of {len(exits[arm])} left)"

    def perm_p(a, b):  # P(mean log exit of a group of len(a) >= observed), exact
        pooled, obs = np.concatenate([a, b]), a.mean()
        sums = [pooled[list(i)].mean() for i in itertools.combinations(range(len(pooled)), len(a))]
        return float(np.mean(np.asarray(sums) >= obs - 1e-12))

    init_ours = np.concatenate([logs["torch-batches"], logs["ours"]])
    init_ref = np.concatenate([logs["reference"], logs["ref-init"]])
    batch_ours = np.concatenate([logs["ref-init"], logs["ours"]])
    batch_torch = np.concatenate([logs["reference"], logs["torch-batches"]])
    sub = math.comb(2 * len(init_ours), len(init_ours)) <= 200_000  # exact, else sampled
    rng = np.random.default_rng(0)

    def p_of(a, b):
        if sub:
            return perm_p(a, b)
        pooled, obs = np.concatenate([a, b]), a.mean()
        draws = [rng.permutation(pooled)[:len(a)].mean() for _ in range(100_000)]
        return float((np.sum(np.asarray(draws) >= obs - 1e-12) + 1) / (len(draws) + 1))

    return "\n".join([
        "steps to leave the plateau, initial weights x batches (geometric mean over the seeds "
        "that left):",
        "| initial weights | the reference's (torch) batches | our batches |", "|---|---|---|",
        f"| the reference's (torch) | {cell('reference')} | {cell('ref-init')} |",
        f"| ours (jax) | {cell('torch-batches')} | {cell('ours')} |",
        f"our initial weights later than the reference's: one-sided permutation p = "
        f"{p_of(init_ours, init_ref):.3g}; our batches later than torch's: p = "
        f"{p_of(batch_ours, batch_torch):.3g} (log exit steps, seeds that never left at "
        f"{last}; {'exact' if sub else '100,000 random splits'})"])


def figure(rec: dict, out: Path) -> None:
    """Loss curves (seeds thin, mean thick) and error by k per task, every arm."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    tasks = list(rec["tasks"])
    fig, axes = plt.subplots(1, 1 + len(tasks), figsize=(4.2 * (1 + len(tasks)), 3.6))
    colors = {"reference": "black", "ours": "tab:red"}
    extra = iter(["tab:blue", "tab:green", "tab:purple", "tab:orange"])
    for arm, runs in rec["arms"].items():
        c = colors.get(arm) or next(extra)
        ax = axes[0]
        for r in runs:
            ax.plot([x["step"] for x in r["log"]], [x["loss"] for x in r["log"]], color=c,
                    lw=0.6, alpha=0.5)
        mean = np.mean([[x["loss"] for x in r["log"]] for r in runs], 0)
        ax.plot([x["step"] for x in runs[0]["log"]], mean, color=c, lw=1.8,
                label=f"{arm} ({len(runs)} seeds)")
        for ax, t in zip(axes[1:], tasks):
            e = np.array([r["errors"][t]["normalized"] for r in runs])
            for row in e:
                ax.plot(row, color=c, lw=0.6, alpha=0.5)
            ax.plot(e.mean(0), color=c, lw=1.8, label=arm)
    axes[0].set(xlabel="training step", ylabel="training loss (squared error, mean over k)",
                yscale="log", title=f"{rec['setting']}: loss (mean of {rec['config']['train']['log_every']} steps)")
    axes[0].axhline(rec["ey2"], color="0.6", ls=":", lw=1, label="E[y^2] (predict 0)")
    for ax, t in zip(axes[1:], tasks):
        for y, s in rec["tasks"][t]["yardsticks"].items():
            ax.plot(s["normalized"], ls="--", lw=1, label=y.replace("_", " "))
        ax.set(xlabel="k (in-context examples)", ylabel="normalized error (/ E[y^2])",
               yscale="log", title=f"{t}, step {rec['config']['train']['steps']}")
        ax.set_ylim(bottom=max(ax.get_ylim()[0], 1e-4))
    for ax in axes:
        ax.legend(fontsize=7)
    fig.tight_layout()
    for ext in ("png", "pdf"):
        fig.savefig(out / f"learning_curves.{ext}", dpi=130)
    plt.close(fig)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--setting", default="linear-d4,demo-1d",
                    help="comma-separated: " + ", ".join(SETTINGS))
    ap.add_argument("--seeds", type=int, default=3, help="seeds per side (0..N-1; default 3)")
    ap.add_argument("--reference-repo", help="a copy of dtsip/in-context-learning (work tree or "
                                             "git folder)")
    ap.add_argument("--reference-python", metavar="PYTHON",
                    help="an interpreter with torch and transformers (default: this one)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's)")
    ap.add_argument("--variant", action="append", default=[], metavar="NAME=SETS",
                    help='another arm of ours: NAME=FIELD=VALUE[;FIELD=VALUE], e.g. '
                         'gpt2-init=model.init="gpt2"')
    ap.add_argument("--set", dest="overrides", action="append", default=[],
                    metavar="SECTION.FIELD=VALUE",
                    help="change the setting for both sides, e.g. train.steps=2000 (the "
                         "reference side takes what it can draw: see reference_spec)")
    ap.add_argument("--out", default="figures/reference-parity")
    ap.add_argument("--figure-only", action="store_true", help="redraw from OUT/SETTING/parity.json")
    ap.add_argument("--lockstep", type=int, metavar="STEPS",
                    help="instead: both models from the reference's initial weights on the same "
                         "batches for STEPS steps (run with an interpreter that has torch, "
                         "transformers and icl_ood); writes OUT/SETTING/lockstep.json|png")
    ap.add_argument("--crossed", nargs="?", const=",".join(CROSSED), metavar="ARMS",
                    help="instead: add arms with the draws crossed to OUT/SETTING/parity.json "
                         "(ours from the reference's initial weights on our batches, and from "
                         "ours on the reference's torch batches; an interpreter with torch, "
                         "transformers and icl_ood); ARMS: comma-separated, default all of "
                         + ", ".join(CROSSED))
    ap.add_argument("--reference-train", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.reference_train:  # the child: one reference seed
        print(json.dumps(reference_train(json.loads(args.reference_train))))
        return 0
    names = args.setting.split(",")
    bad = [n for n in names if n not in SETTINGS]
    if bad:
        ap.error(f"--setting: unknown {bad}; known: {sorted(SETTINGS)}")
    if args.figure_only:
        for n in names:
            if (Path(args.out) / n / "lockstep.json").exists():
                lockstep_figure(json.loads((Path(args.out) / n / "lockstep.json").read_text()),
                                Path(args.out) / n)
            if (Path(args.out) / n / "parity.json").exists():
                rec = json.loads((Path(args.out) / n / "parity.json").read_text())
                figure(rec, Path(args.out) / n)
                print(summary(rec))
        return 0
    if args.seeds < 1:
        ap.error(f"--seeds: must be >= 1, got {args.seeds}")
    for v in args.variant:
        if "=" not in v or v.startswith("=") or v.split("=")[0] in ("ours", "reference"):
            ap.error(f"--variant: expected NAME=FIELD=VALUE[;...] with a new NAME, got {v!r}")
    if not args.reference_repo:
        ap.error("--reference-repo: required (a copy of dtsip/in-context-learning)")
    try:
        reference_source(args.reference_repo)
    except (OSError, subprocess.CalledProcessError):
        ap.error(f"--reference-repo: no src/models.py in {args.reference_repo}")
    if args.crossed and not set(args.crossed.split(",")) <= set(CROSSED):
        ap.error(f"--crossed: unknown arm in {args.crossed!r}; known: {', '.join(CROSSED)}")
    if args.lockstep is not None or args.crossed:
        if args.lockstep is not None and args.lockstep < 1:
            ap.error(f"--lockstep: must be >= 1, got {args.lockstep}")
        try:
            import torch  # noqa: F401
            import transformers  # noqa: F401
        except ImportError:
            ap.error(f"{sys.executable} lacks torch and transformers; run the script "
                     "with an interpreter that has them and icl_ood")
        args.argv = argv
        for n in names if args.crossed else []:
            rec = run_crossed(args, n)
            (Path(args.out) / n / "parity.json").write_text(json.dumps(rec, indent=1) + "\n")
            figure(rec, Path(args.out) / n)
            print(summary(rec), flush=True)
        for n in names if args.lockstep is not None else []:
            rec = run_lockstep(args, n)
            out = Path(args.out) / n
            out.mkdir(parents=True, exist_ok=True)
            (out / "lockstep.json").write_text(json.dumps(rec, indent=1) + "\n")
            lockstep_figure(rec, out)
        return 0
    py = args.reference_python or sys.executable
    if subprocess.run([py, "-c", "import torch, transformers"], capture_output=True,
                      check=False).returncode:
        ap.error(f"--reference-python: {py} lacks torch and transformers; see the docstring")
    from icl_ood.config import ConfigError
    for n in names:  # every config is checked before anything trains
        for v in [[]] + [v.partition("=")[2].split(";") for v in args.variant]:
            try:
                reference_spec(setting_config(n, args.overrides + [s for s in v if s]), 0, args, "")
            except ConfigError as e:
                ap.error(f"{n}: {e}")
    args.argv = argv
    for n in names:
        t0 = time.perf_counter()
        rec = run_setting(args, n)
        rec["provenance"]["wall_s"] = time.perf_counter() - t0
        out = Path(args.out) / n
        out.mkdir(parents=True, exist_ok=True)
        (out / "parity.json").write_text(json.dumps(rec, indent=1) + "\n")
        (out / "provenance.json").write_text(json.dumps(rec["provenance"], indent=1) + "\n")
        figure(rec, out)
        print(summary(rec), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
