"""Evaluation engine: the model and every applicable baseline on the same prompts, per k.

Metric (Garg et al.): for predictor p and k = number of in-context examples (the prediction of
y_k, 0-based, from the pairs j < k and x_k),
    error_k      = mean over prompts of (pred_k - y_k)^2                 ("raw" squared error)
    normalized_k = error_k / E[y^2]                      (predicting 0 scores 1 in expectation)
with y_k the (noisy, if the task has noise) label that was scored and E[y^2] the task's own
second moment (`tasks.mean_square`: closed form, else a large Monte Carlo sample independent of
the scored prompts), one constant per task for every predictor and k (Garg et al. divide by a
constant too); rows carry it as `normalizer`. 90% intervals are the 5th and 95th percentiles of
a paired bootstrap over prompts (the same resamples for every predictor).
Rows also carry `excess` (the error minus that of `excess_over`, the task-prior Bayes predictor,
per prompt, with paired intervals: on a pretraining family, the cost of model selection); for
the model `dist_bayes_mixture` / `dist_task_bayes` (mean squared difference from that
yardstick's predictions / E[y^2]: whose behaviour it has), `gap_bayes_mixture` (its normalized
error minus that Bayes predictor's, paired: figures/crossing.py) and `mix_<yardstick>` /
`mix_residual` (the closest convex combination of the MIX_OF yardsticks, with intervals over
prompts, and the residual it leaves); `near_least_squares` / `near_agrees_bayes` (the share of
prompts nearer the line fit than the sinusoid fit / whose nearer fit is the family the Bayes
posterior favours: stats.nearer; every predictor row but the two fits').

A sweep evaluates a list of tasks from one key, so every task in it sees the same x draws and
function draws (common random numbers, e.g. across the convex weight a), and writes tidy JSON
lines to run_dir/eval/<sweep>.jsonl plus the Bayes posterior family weights per k to
run_dir/eval/<sweep>_bayes_weights.jsonl, with a manifest (icl_ood.results) of what they were
computed from: the run's config, the checkpoint step and a checksum of the evaluated parameters,
and the evaluation options, what each predictor is (label, line style, definition:
baselines.describe) and what the sweep is (sweeps.info: its axis and doc). Options other than
the defaults (1280 prompts per task, seed 0, every applicable baseline, the run's first two
families as the convex mix, 1000 bootstrap resamples) put a key in the file names, e.g.
eval/k.n64.jsonl, so an evaluation with other options never replaces another; results of an
older checkpoint never replace those of a newer one unless forced.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import jax
import numpy as np
from flax import nnx
from tqdm.auto import tqdm

from icl_ood import baselines as bl
from icl_ood import results, sweeps
from icl_ood.config import Config, DataConfig
from icl_ood.predict import hints, max_points, model_predict
from icl_ood.results import read_jsonl  # noqa: F401  (ev.read_jsonl: rows run_sweep wrote)
from icl_ood.stats import (bootstrap_counts, distance, nearer, simplex_boot, simplex_weights,
                           summarize)
from icl_ood.tasks import Task, draw, mean_square, skew_sqrt  # noqa: F401  (ev.Task, ev.draw)

EVAL_FORMAT = 6  # bump when a change alters saved evaluation results (manifests compare it)
EXCESS_OVER = "task_bayes"  # the excess error is measured over this predictor, paired
EXCESS = {"error": "excess", "lower": "excess_lower", "upper": "excess_upper",
          "normalized": "norm_excess", "norm_lower": "norm_excess_lower",
          "norm_upper": "norm_excess_upper"}
DIST_FIELDS = {"normalized": "", "norm_lower": "_lower", "norm_upper": "_upper"}
DISTANCE_TO = ("bayes_mixture", "task_bayes")  # model rows carry their distance to these
GAP_TO = "bayes_mixture"  # ... and their normalized error minus this one's, paired per prompt
GAP = {"normalized": f"gap_{GAP_TO}", "norm_lower": f"gap_{GAP_TO}_lower",
       "norm_upper": f"gap_{GAP_TO}_upper"}
# What the model turns into: its predictions as the closest convex combination of these
# (stats.simplex_weights per k, on the same prompts), and the residual it leaves (/ E[y^2])
MIX_OF = ("bayes_mixture", "task_bayes", "least_squares", "sin_ls_known")
MIX = tuple(f"mix_{b}" for b in MIX_OF) + ("mix_residual",)
MIX_CI = tuple(f"mix_{b}{x}" for b in MIX_OF for x in ("_lower", "_upper"))  # 90%, over
MIX_BOOT = 200  # prompts: from the first 200 bootstrap resamples (about 0.1 s per task)
# Which of two families' fits each prediction is nearer: ((family, its fit), (family, its fit))
NEAR = (("linear", "least_squares"), ("sinusoid", "sin_ls_known"))
NEAR_NAMES = {"near": "near_least_squares", "agrees": "near_agrees_bayes"}  # stats.nearer's
NEAR_FIELDS = tuple(f + x for f in NEAR_NAMES.values() for x in DIST_FIELDS.values())
ROW_FIELDS = ("run", "sweep", "step", "predictor", "task", "family", "a", "freq", "k", "error",
              "lower", "upper", "normalized", "norm_lower", "norm_upper", "normalizer",
              "normalizer_how", "excess_over", *EXCESS.values(),
              *(f"dist_{b}{sfx}" for b in DISTANCE_TO for sfx in ("", "_lower", "_upper")),
              *GAP.values(), *MIX, *MIX_CI, *NEAR_FIELDS, "n_prompts")


@dataclass
class EvalResult:
    """Tidy rows (one per predictor and k), Bayes family-weight rows, seconds spent, one line
    per default baseline that was skipped (with why), and the rows' file (None if not written)."""

    rows: list[dict]
    weight_rows: list[dict]
    seconds: dict[str, float]
    notes: list[str] = dataclasses.field(default_factory=list)
    path: Path | None = None
    preds: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)  # keep_preds: PxK
    ys_PxN: np.ndarray | None = None  # keep_preds: the scored labels


def evaluate(model: nnx.Module | None, data_cfg: DataConfig, task: Task,
             baselines: tuple[str, ...] | None = None, key: jax.Array | None = None, *,
             opts: bl.Options = bl.DEFAULT_OPTIONS, n_boot: int = 1000, boot_seed: int = 0,
             run: str = "", meta: dict | None = None, keep_preds: bool = False,
             given: dict | None = None) -> EvalResult:
    """Scores the model (if given) and the baselines on one draw of the task's prompts.

    `data_cfg`: the run's pretraining DataConfig (Bayes-mixture prior, base of the task's
    overrides); `baselines` None: every applicable default one (others named in EvalResult.notes),
    () none; `given`: the task's saved yardsticks (icl_ood.yardsticks): only the model runs.
    Rows carry ROW_FIELDS, k = 0..n_points-1; `keep_preds` also returns predictions, labels (PxK).
    """
    key = jax.random.key(0) if key is None else key
    cfg = task.data_config(data_cfg)
    if model is not None and cfg.n_points > max_points(model):
        raise ValueError(f"task has {cfg.n_points} points (k up to {cfg.n_points - 1}) but the "
                         f"model has positions for {max_points(model)} points")
    if cfg.dim != data_cfg.dim:
        raise ValueError(f"task dim {cfg.dim} != run dim {data_cfg.dim}")
    xs, ys = draw(key, task, cfg) if given is None else (given["xs"], given["ys"])
    seconds, preds, aux_w, notes = {}, {}, dict((given or {}).get("aux", {})), []
    if model is not None:
        t0 = time.perf_counter()
        for name, hint in hints(data_cfg, task).items():
            preds[name] = model_predict(model, xs, ys, hint_F=hint)
        seconds["model"] = time.perf_counter() - t0
    for b in () if given else bl.for_task(data_cfg, cfg, task.families, baselines, opts, notes,
                                          task.scales):
        t0 = time.perf_counter()
        preds[b.name], aux = b.predict(xs, ys)
        seconds[b.name] = time.perf_counter() - t0
        if b.name == "bayes_mixture":
            aux_w = {k.split(":", 1)[1]: v for k, v in aux.items()}
    preds.update((given or {}).get("preds", {}))
    ys_PxN = np.asarray(ys, np.float64)
    names = list(preds)
    err = np.stack([np.square(preds[n] - ys_PxN) for n in names])
    counts = bootstrap_counts(task.n_prompts, n_boot, boot_seed)
    norm, how = mean_square(task, cfg)
    s = summarize(err, norm, counts)
    # Whose behaviour the model has: mean (model - yardstick)^2 / E[y^2] per k (model rows).
    dist = {(n, b): distance(preds[n], preds[b], norm, counts) for n in names
            if n.startswith("model") for b in DISTANCE_TO if b in preds}
    ref = EXCESS_OVER if EXCESS_OVER in preds else None
    x = summarize(err - err[names.index(ref)], norm, counts) if ref else {}
    # The model's error minus the Bayes predictor's of its pretraining prior, per prompt: where
    # the interval lies wholly below or above 0, the model is below or above it (crossings).
    gap = summarize(err - err[names.index(GAP_TO)], norm, counts) if GAP_TO in preds else None
    mix = {n: mixture(preds[n], preds, norm, counts) for n in names if n.startswith("model")}
    near = {n: nearness(n, preds, aux_w, counts) for n in names}
    base = {"run": run, **(meta or {}), **task.describe(cfg), "normalizer": norm,
            "normalizer_how": how, "excess_over": ref}
    rows = [{**base, "predictor": n, "k": k,
             **{f: float(s[f][i, k]) for f in ("error", "lower", "upper", "normalized",
                                              "norm_lower", "norm_upper")},
             **{e: float(x[f][i, k]) if ref else None for f, e in EXCESS.items()},
             **{f"dist_{b}{sfx}": float(dist[n, b][f][k]) if (n, b) in dist else None
                for b in DISTANCE_TO for f, sfx in DIST_FIELDS.items()},
             **{g: float(gap[f][i, k]) if gap and n.startswith("model") else None
                for f, g in GAP.items()},
             **{m: mix[n][m][k] if n in mix and m in mix[n] else None for m in MIX + MIX_CI},
             **{f: near[n][f][k] if f in near[n] else None for f in NEAR_FIELDS},
             "n_prompts": task.n_prompts}
            for i, n in enumerate(names) for k in range(ys_PxN.shape[1])]
    weight_rows = []
    for fam, w_PxN in aux_w.items():
        boot = counts @ w_PxN / task.n_prompts
        lo, hi = np.percentile(boot, [5, 95], axis=0)
        weight_rows += [{**base, "component": fam, "k": k, "weight": float(w_PxN[:, k].mean()),
                         "lower": float(lo[k]), "upper": float(hi[k]),
                         "n_prompts": task.n_prompts} for k in range(w_PxN.shape[1])]
    kept = (preds, ys_PxN) if keep_preds else ({}, None)
    return EvalResult(rows, weight_rows, seconds, [f"{task.label}: {n}" for n in notes], None,
                      *kept)


def mixture(model_PxN, preds: dict, norm: float, counts_SxP) -> dict[str, list[float]]:
    """{mix_<yardstick>: weight per k, its _lower/_upper over prompts (MIX_BOOT), mix_residual:
    residual / norm per k} of the closest convex combination of the MIX_OF yardsticks present
    ({} if fewer than two)."""
    names = [b for b in MIX_OF if b in preds]
    if len(names) < 2:
        return {}
    basis_PxNxM = np.stack([preds[b] for b in names], -1)
    fits = [simplex_weights(model_PxN[:, k], basis_PxNxM[:, k]) for k in range(len(model_PxN[0]))]
    out = {f"mix_{b}": [float(w[j]) for w, _ in fits] for j, b in enumerate(names)}
    out["mix_residual"] = [res / norm for _, res in fits]
    boot = simplex_boot(model_PxN, basis_PxNxM, counts_SxP[:MIX_BOOT])
    for j, (lo_N, hi_N) in enumerate(np.percentile(boot, [5, 95], axis=0).transpose(2, 0, 1)):
        out[f"mix_{names[j]}_lower"], out[f"mix_{names[j]}_upper"] = lo_N.tolist(), hi_N.tolist()
    return out


def nearness(name: str, preds: dict, aux_w: dict, counts_SxP: np.ndarray) -> dict[str, list]:
    """NEAR_FIELDS per k of predictor `name` (stats.nearer; {} for the fits or a fit missing)."""
    (fam_a, fit_a), (fam_b, fit_b) = NEAR
    if fit_a not in preds or fit_b not in preds or name in (fit_a, fit_b):
        return {}
    w = (aux_w[fam_a], aux_w[fam_b]) if fam_a in aux_w and fam_b in aux_w else None
    got = nearer(preds[name], preds[fit_a], preds[fit_b], w, counts_SxP)
    return {NEAR_NAMES[key] + x: v for key, vals in got.items()
            for x, v in zip(DIST_FIELDS.values(), vals, strict=True)}


# ------------------------------------------------------------------------------------ sweeps

def sweep_tasks(cfg: DataConfig, sweep: str, n_prompts: int = 1280,
                mix: tuple[str, str] | None = None) -> list[Task]:
    """The tasks of a sweep (see icl_ood.sweeps) for a run pretrained on `cfg`."""
    return sweeps.get(sweep).tasks(cfg, n_prompts, mix)


def model_checksum(model: nnx.Module) -> str:
    """Checksum of the model's parameters (checkpoint.checksum): what an evaluation scored."""
    from icl_ood.checkpoint import checksum
    return checksum(nnx.state(model, nnx.Param))


def eval_options(cfg: DataConfig, sweep: str, *, n_prompts: int = 1280, seed: int = 0,
                 baselines: tuple[str, ...] | None = None, mix: tuple[str, str] | None = None,
                 n_boot: int = 1000, opts: bl.Options = bl.DEFAULT_OPTIONS,
                 at_step: int | None = None) -> dict:
    """The options of an evaluation as saved in its manifest and keyed in its file names: mix
    only for the convex sweep and only if it differs from the run's first two families; opts
    as a digest, only if not the defaults; at_step for a kept checkpoint along training."""
    if sweep != "convex" or mix is None or tuple(mix) == tuple(cfg.families[:2]):
        mix = None
    return {"n_prompts": n_prompts, "seed": seed,
            "baselines": None if baselines is None else list(baselines),
            "mix": None if mix is None else list(mix), "n_boot": n_boot,
            "opts": None if opts == bl.DEFAULT_OPTIONS
            else results.digest(dataclasses.asdict(opts)), "at_step": at_step}


def result_inputs(cfg: Config, step: int, checksum: str, what: str, options: dict) -> dict:
    """The inputs of an evaluation output (its manifest's "inputs")."""
    return {"what": what, "format": EVAL_FORMAT, "config": results.digest(cfg.to_dict()),
            "checkpoint": {"step": step, "checksum": checksum}, "options": options}


def sweep_paths(run_dir: str | Path, sweep: str, options: dict) -> tuple[Path, Path]:
    """(rows, Bayes weights) files of a sweep evaluated with `options` (see eval_options)."""
    return tuple(Path(run_dir) / "eval" / f for f in results.eval_files(sweep, options))


def _legacy_rank(path: Path) -> list | None:
    """[step, n_prompts] of a result file written without a manifest (by older code)."""
    try:
        first = json.loads(path.open().readline() or "{}")
        return [first["step"], first["n_prompts"]]
    except (OSError, json.JSONDecodeError, KeyError):
        return None


def run_sweep(run_dir: str | Path, sweep: str, *, n_prompts: int = 1280, seed: int = 0,
              baselines: tuple[str, ...] | None = None, mix: tuple[str, str] | None = None,
              opts: bl.Options = bl.DEFAULT_OPTIONS, n_boot: int = 1000, model_and_cfg=None,
              write: bool = True, force: bool = False, checksum: str | None = None,
              at_step: int | None = None, progress: bool = False) -> EvalResult:
    """Loads the run's latest good checkpoint (or uses `model_and_cfg` = (model, config, step)),
    evaluates every task of `sweep` and writes the rows and Bayes weights to the files
    `sweep_paths` names for these options, then their manifest (see the module docstring).

    Refuses (results.ResultsError, before evaluating) to replace results of a newer checkpoint
    by those of an older one, unless `force`. `checksum`: model_checksum of the model, if
    already known. `at_step`: evaluate the kept checkpoint of that step (files keyed
    `.step<S>`, beside the latest step's). `progress`: a bar over the tasks on stderr.
    Returns all rows, timings and the rows' path.
    """
    from icl_ood.train import load_model
    run_dir = Path(run_dir)
    model, cfg, step = model_and_cfg or load_model(run_dir, at_step)
    options = eval_options(cfg.data, sweep, n_prompts=n_prompts, seed=seed, baselines=baselines,
                           mix=mix, n_boot=n_boot, opts=opts, at_step=at_step)
    rows_path, weights_path = sweep_paths(run_dir, sweep, options)
    if write:
        results.check_replace(rows_path, [step, n_prompts], force=force,
                              what=f"the {sweep} sweep", legacy_rank=_legacy_rank(rows_path))
    tasks = sweep_tasks(cfg.data, sweep, n_prompts, mix)
    key = jax.random.fold_in(jax.random.key(seed), 0)
    rows, wrows, seconds, notes = [], [], {}, []
    t0 = time.perf_counter()
    for task in tqdm(tasks, desc=f"{run_dir.name}: {sweep} sweep", unit="task", leave=False,
                     disable=not progress, file=sys.stderr):
        r = evaluate(model, cfg.data, task, baselines, key, opts=opts, n_boot=n_boot,
                     run=run_dir.name, meta={"sweep": sweep, "step": step})
        rows += r.rows
        wrows += r.weight_rows
        notes += r.notes
        for k, v in r.seconds.items():
            seconds[k] = seconds.get(k, 0.0) + v
    seconds["total"] = time.perf_counter() - t0
    if not write:
        return EvalResult(rows, wrows, seconds, notes)
    results.write_jsonl(rows_path, rows)
    results.write_jsonl(weights_path, wrows)
    inputs = result_inputs(cfg, step, checksum or model_checksum(model), sweep, options)
    results.write_manifest(rows_path, "evaluate", inputs, [rows_path, weights_path],
                           rank=[step, n_prompts], info={"predictors": bl.describe(
                               dict.fromkeys(r["predictor"] for r in rows)),
                               "sweep": sweeps.info(sweep)})
    return EvalResult(rows, wrows, seconds, notes, rows_path)
