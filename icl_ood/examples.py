"""Example curves: a model's and baselines' predictions on example prompts (eval/examples.json)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from icl_ood import baselines as bl
from icl_ood import results
from icl_ood.config import Config, DataConfig
from icl_ood.evaluate import hints, max_points, model_checksum, model_predict, result_inputs
from icl_ood.tasks import Task, draw


def example_tasks(cfg: DataConfig, mix: tuple[str, ...]) -> list[Task]:
    """Tasks for the example-prompt figure: a = 1, 0.5, 0 of `mix` (if two families), and
    sinusoids well below and above the pretraining frequencies (if sinusoids are involved)."""
    out = []
    if len(mix) == 2:
        out += [Task(mix=(mix[0], mix[1], a), n_prompts=2, name=f"a={a:g}") for a in (1.0, 0.5, 0.0)]
    if "offset_sine" in cfg.families and "line" in cfg.families:  # Mueller et al.'s test function
        from icl_ood.sweeps.slope import expr
        out.append(Task(family="function", priors=(("function.expr", expr(
            cfg.offset_sine.amp, cfg.offset_sine.freq, 0.23)),), n_prompts=2, name="m=0.23",
            meta=(("slope", 0.23),)))
    if "sinusoid" in mix or "sinusoid" in cfg.families:
        lo, hi = cfg.sinusoid.freq
        for f in (lo / 2, (lo + hi) / 2, hi * 2) if len(mix) < 2 else (hi * 2,):
            out.append(Task(family="sinusoid", priors=(("sinusoid.freq", (f, f)),), n_prompts=2,
                            name=f"w={f:g}"))
    return out


def example_curves(model: nnx.Module, data_cfg: DataConfig, mix: tuple[str, ...],
                   ks: tuple[int, ...] = (5, 20), n_grid: int = 200, seed: int = 0,
                   baselines: tuple[str, ...] = ("bayes_mixture", "task_bayes")) -> dict:
    """One prompt per example task (d = 1): its first k points, the true f at n_grid sorted
    random x, and the predictions across those x of the model and the baselines given the
    first k points, for each k in `ks`."""
    key = jax.random.fold_in(jax.random.key(seed), 1)
    ks = tuple(k for k in ks if k < max_points(model))
    out = []
    for i, task in enumerate(example_tasks(data_cfg, mix)):
        cfg = dataclasses.replace(task.data_config(data_cfg), n_points=max(ks) + n_grid)
        xs, ys = draw(jax.random.fold_in(key, i), task, cfg)
        # The same function without label noise (the same key draws the same x and f).
        fs = draw(jax.random.fold_in(key, i), task, dataclasses.replace(cfg, noise_std=0.0))[1]
        xs, ys, fs = (np.asarray(v[0], np.float64) for v in (xs, ys, fs))
        order = max(ks) + np.argsort(xs[max(ks):, 0])
        gx, gy = xs[order], ys[order]
        rec = {**task.describe(cfg), "family": task.family or "convex",
               "context_x": xs[:max(ks), 0].tolist(), "context_y": ys[:max(ks)].tolist(),
               "grid_x": gx[:, 0].tolist(), "truth": fs[order].tolist(), "k": {}}
        for k in ks:
            xs_G = np.concatenate([np.broadcast_to(xs[:k], (n_grid, k, 1)), gx[:, None]], 1)
            ys_G = np.concatenate([np.broadcast_to(ys[:k], (n_grid, k)), gy[:, None]], 1)
            preds = {"model": model_predict(model, jnp.asarray(xs_G, jnp.float32),
                                            jnp.asarray(ys_G, jnp.float32),
                                            hint_F=hints(data_cfg, task)["model"])[:, k]}
            kcfg = dataclasses.replace(cfg, n_points=k + 1)
            for b in bl.for_task(data_cfg, kcfg, task.families, None, scales=task.scales):
                if b.name in baselines:
                    preds[b.name] = b.predict(xs_G, ys_G)[0][:, k]
            rec["k"][str(k)] = {n: v.tolist() for n, v in preds.items()}
        out.append(rec)
    return {"note": "one prompt per task; predictions at each grid x given the first k "
                    "in-context points (k = number of in-context examples)", "examples": out}


EXAMPLES_OPTIONS = {"ks": [5, 20], "n_grid": 200, "seed": 0,
                    "baselines": ["bayes_mixture", "task_bayes"]}


def examples_options(cfg: DataConfig) -> dict:
    """EXAMPLES_OPTIONS, with k = 10, 20, 40, 80 where prompts have more than 80 points."""
    return {**EXAMPLES_OPTIONS, "ks": [10, 20, 40, 80]} if cfg.n_points > 80 else EXAMPLES_OPTIONS


def examples_inputs(cfg: Config, step: int, checksum: str, mix: tuple[str, ...]) -> dict:
    """The inputs of eval/examples.json (its manifest's "inputs")."""
    return result_inputs(cfg, step, checksum, "examples",
                         {**examples_options(cfg.data), "mix": list(mix)})


def write_examples(run_dir: str | Path, mix: tuple[str, ...], *, model_and_cfg=None,
                   checksum: str | None = None, force: bool = False) -> Path:
    """example_curves of the run's latest good checkpoint (or `model_and_cfg`) written to
    run_dir/eval/examples.json with its manifest; never replaces those of a newer checkpoint
    unless `force`."""
    from icl_ood.train import load_model
    run_dir = Path(run_dir)
    model, cfg, step = model_and_cfg or load_model(run_dir)
    path = run_dir / "eval" / "examples.json"
    results.check_replace(path, [step], force=force, what="example curves")
    o = examples_options(cfg.data)
    ex = example_curves(model, cfg.data, mix, ks=tuple(o["ks"]), n_grid=o["n_grid"],
                        seed=o["seed"], baselines=tuple(o["baselines"]))
    results.write_json(path, {**ex, "step": step})
    results.write_manifest(path, "evaluate", examples_inputs(
        cfg, step, checksum or model_checksum(model), mix), [path], rank=[step])
    return path
