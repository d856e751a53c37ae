"""Evaluation engine: the model and every applicable baseline on the same prompts, per k.

Metric (Garg et al.): for predictor p and k = number of in-context examples (the prediction of
y_k, 0-based, from the pairs j < k and x_k),
    error_k      = mean over prompts of (pred_k - y_k)^2                 ("raw" squared error)
    normalized_k = error_k / (mean over the same prompts of y_k^2)       (predicting 0 scores 1)
with y_k the (noisy, if the task has noise) label that was scored. 90% intervals are the 5th and
95th percentiles of a paired bootstrap over prompts (the same resamples for every predictor and
for the normalizer, so the zero predictor scores exactly 1 with an empty interval).

A sweep evaluates a list of tasks from one key, so every task in it sees the same x draws and
function draws (common random numbers, e.g. across the convex weight a), and writes tidy JSON
lines to run_dir/eval/<sweep>.jsonl plus the Bayes posterior family weights per k to
run_dir/eval/<sweep>_bayes_weights.jsonl.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from icl_ood import baselines as bl
from icl_ood.config import FAMILIES, DataConfig
from icl_ood.data import families, prompts

SWEEPS = ("convex", "freq", "k", "shifts")
A_GRID = tuple(round(0.1 * i, 1) for i in range(11))
ROW_FIELDS = ("run", "sweep", "step", "predictor", "task", "family", "a", "freq", "k", "error",
              "lower", "upper", "normalized", "norm_lower", "norm_upper", "n_prompts")


@dataclass(frozen=True)
class Task:
    """Test prompts: one pure `family`, or `mix` = (family1, family2, a) for
    f = a * f1 + (1 - a) * f2 with f1, f2 drawn independently from their priors.

    The other fields override the run's DataConfig (None: keep the pretraining value).
    `y_scale` multiplies f (for linear families, the same as scaling w; the noise is not scaled);
    `x_skew` draws x ~ N(0, S) with a random eigenbasis and eigenvalues proportional to 1/i^2,
    trace d (Garg et al.'s skewed covariance; the identity when d = 1).
    """

    family: str | None = None
    mix: tuple[str, str, float] | None = None
    sin_freq: tuple[float, float] | None = None
    sin_amp: tuple[float, float] | None = None
    sin_amp_dist: str | None = None
    sin_phase: tuple[float, float] | None = None
    noise_std: float | None = None
    x_dist: str | None = None
    x_scale: float | None = None
    y_scale: float = 1.0
    x_skew: bool = False
    n_points: int | None = None
    n_prompts: int = 1280
    name: str = ""

    def __post_init__(self) -> None:
        if (self.family is None) == (self.mix is None):
            raise ValueError("Task: give exactly one of family= or mix=(family1, family2, a)")
        for f in self.families:
            if f not in FAMILIES:
                raise ValueError(f"Task: unknown family {f!r}; known: {FAMILIES}")
        if self.mix is not None:
            a = self.mix[2]
            if len(self.mix) != 3 or not (isinstance(a, (int, float)) and 0.0 <= a <= 1.0):
                raise ValueError(f"Task: convex weight a must be in [0, 1], got {self.mix!r}")
            if self.mix[0] == self.mix[1]:
                raise ValueError(f"Task: mix needs two different families, got {self.mix!r}")
        if not (isinstance(self.n_prompts, int) and self.n_prompts >= 2):
            raise ValueError(f"Task: n_prompts must be an integer >= 2, got {self.n_prompts!r}")
        if not (math.isfinite(self.y_scale) and self.y_scale > 0):
            raise ValueError(f"Task: y_scale must be > 0, got {self.y_scale}")

    @property
    def families(self) -> tuple[str, ...]:
        return (self.family,) if self.family is not None else tuple(self.mix[:2])

    @property
    def a(self) -> float | None:
        return None if self.mix is None else float(self.mix[2])

    @property
    def label(self) -> str:
        """A short description, e.g. 'a=0.3' or 'sinusoid freq=2'."""
        return self.name or (self.family if self.mix is None else f"a={self.a:g}")

    def data_config(self, base: DataConfig) -> DataConfig:
        """The run's DataConfig with this task's overrides (validated by DataConfig)."""
        over = {f: getattr(self, f) for f in ("sin_freq", "sin_amp", "sin_amp_dist", "sin_phase",
                                              "noise_std", "x_dist", "x_scale", "n_points")
                if getattr(self, f) is not None}
        fams = self.families
        return dataclasses.replace(base, families=fams, weights=(1.0 / len(fams),) * len(fams),
                                   **over)


def skew_sqrt(key: jax.Array, d: int) -> jax.Array:
    """S^{1/2}_DxD for Garg's skewed covariance: random eigenbasis, eigenvalues ~ 1/i^2, trace d."""
    q, _ = jnp.linalg.qr(jax.random.normal(key, (d, d)))
    lam = 1.0 / jnp.arange(1, d + 1) ** 2
    lam = lam * d / lam.sum()
    return (q * jnp.sqrt(lam)) @ q.T


def draw(key: jax.Array, task: Task, cfg: DataConfig) -> tuple[jax.Array, jax.Array]:
    """Prompts (xs_BxNxD, ys_BxN) of a task; `cfg` is `task.data_config(run's data config)`."""
    n = cfg.n_points
    if task.mix is None:
        xs, ys, params = prompts.sample_family(key, task.family, task.n_prompts, cfg, n)

        def clean(x):
            return families.get(task.family).apply(params, x)
    else:
        f1, f2, a = task.mix
        xs, ys, (p1, p2) = prompts.sample_convex(key, task.n_prompts, cfg, f1, f2, a, n)

        def clean(x):
            return a * families.get(f1).apply(p1, x) + (1 - a) * families.get(f2).apply(p2, x)
    if not task.x_skew and task.y_scale == 1.0:
        return xs, ys
    noise = ys - clean(xs)  # reuse the drawn label noise for the shifted function / inputs
    if task.x_skew:
        xs = xs @ skew_sqrt(jax.random.fold_in(key, 7), cfg.dim)
    return xs, task.y_scale * clean(xs) + noise


@functools.partial(jax.jit, static_argnums=0)
def _forward(graphdef, state, xs_BxNxD, ys_BxN):
    return nnx.merge(graphdef, state)(xs_BxNxD, ys_BxN)


def model_predict(model: nnx.Module, xs_BxNxD, ys_BxN, chunk: int | None = None) -> np.ndarray:
    """preds_BxN of the model: one jitted forward per chunk of prompts (the last one padded).

    Default chunk: 32 prompts on CPU (measured fastest on a 2-core CPU: cache-sized), else 1024.
    """
    chunk = chunk or (32 if jax.default_backend() == "cpu" else 1024)
    graphdef, state = nnx.split(model)
    b = xs_BxNxD.shape[0]
    out = []
    for i in range(0, b, chunk):
        xs, ys = xs_BxNxD[i:i + chunk], ys_BxN[i:i + chunk]
        pad = chunk - xs.shape[0] if b > chunk else 0
        if pad:
            xs = jnp.pad(xs, ((0, pad), (0, 0), (0, 0)))
            ys = jnp.pad(ys, ((0, pad), (0, 0)))
        p = np.asarray(_forward(graphdef, state, xs, ys), np.float64)
        out.append(p[:p.shape[0] - pad])
    return np.concatenate(out)


def max_points(model: nnx.Module) -> int:
    """The model's positional capacity in (x, y) pairs."""
    return model.pos.num_embeddings // 2


def bootstrap_counts(n_prompts: int, n_boot: int, seed: int) -> np.ndarray:
    """counts_RxP: how often each prompt appears in each of R bootstrap resamples."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n_prompts, (n_boot, n_prompts))
    flat = (idx + n_prompts * np.arange(n_boot)[:, None]).ravel()
    return np.bincount(flat, minlength=n_boot * n_prompts).reshape(n_boot, n_prompts)


def summarize(err_MxPxK: np.ndarray, y2_PxK: np.ndarray, counts_RxP: np.ndarray) -> dict:
    """Means and 90% paired-bootstrap intervals of raw and normalized error, each MxK."""
    m, p, k = err_MxPxK.shape
    stacked_PxX = np.concatenate([err_MxPxK.transpose(1, 0, 2).reshape(p, m * k), y2_PxK], 1)
    boot_RxX = counts_RxP @ stacked_PxX / p
    err_RxMxK, y2_RxK = boot_RxX[:, :m * k].reshape(-1, m, k), boot_RxX[:, m * k:]
    norm_RxMxK = err_RxMxK / y2_RxK[:, None, :]
    err, y2 = err_MxPxK.mean(1), y2_PxK.mean(0)
    lo_e, hi_e = np.percentile(err_RxMxK, [5, 95], axis=0)
    lo_n, hi_n = np.percentile(norm_RxMxK, [5, 95], axis=0)
    return {"error": err, "lower": lo_e, "upper": hi_e, "normalized": err / y2,
            "norm_lower": lo_n, "norm_upper": hi_n}


@dataclass
class EvalResult:
    """Tidy rows (one per predictor and k), Bayes family-weight rows, and seconds spent."""

    rows: list[dict]
    weight_rows: list[dict]
    seconds: dict[str, float]
    preds: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)  # keep_preds: PxK
    ys_PxK: np.ndarray | None = None  # keep_preds: the scored labels


def evaluate(model: nnx.Module | None, data_cfg: DataConfig, task: Task,
             baselines: tuple[str, ...] | None = None, key: jax.Array | None = None, *,
             opts: bl.Options = bl.DEFAULT_OPTIONS, n_boot: int = 1000, boot_seed: int = 0,
             run: str = "", meta: dict | None = None, keep_preds: bool = False) -> EvalResult:
    """Scores the model (if given) and the baselines on one draw of the task's prompts.

    `data_cfg` is the pretraining DataConfig of the run (the Bayes-mixture prior, and the base of
    the task's overrides); `baselines` None means every applicable one (bl.DEFAULT), () none.
    Rows carry ROW_FIELDS; k runs over 0..n_points-1. `keep_preds` also returns every
    predictor's predictions and the labels (float64, prompts x k).
    """
    key = jax.random.key(0) if key is None else key
    cfg = task.data_config(data_cfg)
    if model is not None and cfg.n_points > max_points(model):
        raise ValueError(f"task has {cfg.n_points} points (k up to {cfg.n_points - 1}) but the "
                         f"model has positions for {max_points(model)} points")
    if cfg.dim != data_cfg.dim:
        raise ValueError(f"task dim {cfg.dim} != run dim {data_cfg.dim}")
    xs, ys = draw(key, task, cfg)
    seconds, preds, aux_w = {}, {}, {}
    if model is not None:
        t0 = time.perf_counter()
        preds["model"] = model_predict(model, xs, ys)
        seconds["model"] = time.perf_counter() - t0
    for b in bl.for_task(data_cfg, cfg, task.families, baselines, opts):
        t0 = time.perf_counter()
        preds[b.name], aux = b.predict(xs, ys)
        seconds[b.name] = time.perf_counter() - t0
        if b.name == "bayes_mixture":
            aux_w = {k.split(":", 1)[1]: v for k, v in aux.items()}
    ys_PxK = np.asarray(ys, np.float64)
    names = list(preds)
    err = np.stack([np.square(preds[n] - ys_PxK) for n in names])
    counts = bootstrap_counts(task.n_prompts, n_boot, boot_seed)
    s = summarize(err, np.square(ys_PxK), counts)
    freq = cfg.sin_freq[0] if "sinusoid" in task.families and cfg.sin_freq[0] == cfg.sin_freq[1] \
        else None
    base = {"run": run, **(meta or {}), "task": task.label,
            "family": task.family or f"convex({task.mix[0]},{task.mix[1]})", "a": task.a,
            "freq": freq}
    rows = [{**base, "predictor": n, "k": k,
             **{f: float(s[f][i, k]) for f in ("error", "lower", "upper", "normalized",
                                              "norm_lower", "norm_upper")},
             "n_prompts": task.n_prompts}
            for i, n in enumerate(names) for k in range(ys_PxK.shape[1])]
    weight_rows = []
    for fam, w_PxK in aux_w.items():
        boot = counts @ w_PxK / task.n_prompts
        lo, hi = np.percentile(boot, [5, 95], axis=0)
        weight_rows += [{**base, "component": fam, "k": k, "weight": float(w_PxK[:, k].mean()),
                         "lower": float(lo[k]), "upper": float(hi[k]),
                         "n_prompts": task.n_prompts} for k in range(w_PxK.shape[1])]
    if not keep_preds:
        return EvalResult(rows, weight_rows, seconds)
    return EvalResult(rows, weight_rows, seconds, preds, ys_PxK)


# ------------------------------------------------------------------------------------ sweeps

def freq_grid(cfg: DataConfig) -> tuple[float, ...]:
    """Sinusoid frequencies from 4x below to 4x above the pretraining range."""
    lo, hi = cfg.sin_freq
    vals = [lo * f for f in (0.25, 0.5, 0.75)] + list(np.linspace(lo, hi, 3)) + \
        [hi * f for f in (1.25, 1.5, 2.0, 3.0, 4.0)]
    return tuple(sorted({round(float(v), 4) for v in vals}))


def sweep_tasks(cfg: DataConfig, sweep: str, n_prompts: int = 1280,
                mix: tuple[str, str] | None = None) -> list[Task]:
    """The tasks of a sweep for a run pretrained on `cfg` (see SWEEPS)."""
    if sweep == "convex":
        if mix is None and len(cfg.families) < 2:
            raise ValueError("convex sweep: the run has one family; pass mix=(family1, family2)")
        f1, f2 = mix or cfg.families[:2]
        return [Task(mix=(f1, f2, a), n_prompts=n_prompts, name=f"a={a:g}") for a in A_GRID]
    if sweep == "freq":
        return [Task(family="sinusoid", sin_freq=(f, f), n_prompts=n_prompts, name=f"freq={f:g}")
                for f in freq_grid(cfg)]
    if sweep == "k":
        return [Task(family=f, n_prompts=n_prompts) for f in cfg.families]
    if sweep == "shifts":
        out = []
        for f in cfg.families:
            out += [Task(family=f, n_prompts=n_prompts, name=f"{f} in-dist"),
                    Task(family=f, x_scale=cfg.x_scale * 0.5, n_prompts=n_prompts,
                         name=f"{f} x*0.5"),
                    Task(family=f, x_scale=cfg.x_scale * 2, n_prompts=n_prompts, name=f"{f} x*2"),
                    Task(family=f, y_scale=0.5, n_prompts=n_prompts, name=f"{f} y*0.5"),
                    Task(family=f, y_scale=2.0, n_prompts=n_prompts, name=f"{f} y*2"),
                    Task(family=f, noise_std=0.1, n_prompts=n_prompts, name=f"{f} noise0.1"),
                    Task(family=f, noise_std=0.5, n_prompts=n_prompts, name=f"{f} noise0.5")]
            if cfg.dim > 1:
                out.append(Task(family=f, x_skew=True, x_dist="gaussian", n_prompts=n_prompts,
                                name=f"{f} skew"))
        return out
    raise ValueError(f"unknown sweep {sweep!r}; known: {SWEEPS + ('all',)}")


def run_sweep(run_dir: str | Path, sweep: str, *, n_prompts: int = 1280, seed: int = 0,
              baselines: tuple[str, ...] | None = None, mix: tuple[str, str] | None = None,
              opts: bl.Options = bl.DEFAULT_OPTIONS, n_boot: int = 1000, model_and_cfg=None,
              write: bool = True) -> EvalResult:
    """Loads the run's latest checkpoint, evaluates every task of `sweep`, writes the JSONL files
    run_dir/eval/<sweep>.jsonl and <sweep>_bayes_weights.jsonl; returns all rows and timings."""
    from icl_ood.train import load_model
    run_dir = Path(run_dir)
    model, cfg, step = model_and_cfg or load_model(run_dir)
    tasks = sweep_tasks(cfg.data, sweep, n_prompts, mix)
    key = jax.random.fold_in(jax.random.key(seed), 0)
    rows, wrows, seconds = [], [], {}
    t0 = time.perf_counter()
    for task in tasks:
        r = evaluate(model, cfg.data, task, baselines, key, opts=opts, n_boot=n_boot,
                     run=run_dir.name, meta={"sweep": sweep, "step": step})
        rows += r.rows
        wrows += r.weight_rows
        for k, v in r.seconds.items():
            seconds[k] = seconds.get(k, 0.0) + v
    seconds["total"] = time.perf_counter() - t0
    if write:
        out = run_dir / "eval"
        out.mkdir(parents=True, exist_ok=True)
        _write_jsonl(out / f"{sweep}.jsonl", rows)
        _write_jsonl(out / f"{sweep}_bayes_weights.jsonl", wrows)
    return EvalResult(rows, wrows, seconds)


def example_tasks(cfg: DataConfig, mix: tuple[str, ...]) -> list[Task]:
    """Tasks for the example-prompt figure: a = 1, 0.5, 0 of `mix` (if two families), and
    sinusoids well below and above the pretraining frequencies (if sinusoids are involved)."""
    out = []
    if len(mix) == 2:
        out += [Task(mix=(mix[0], mix[1], a), n_prompts=2, name=f"a={a:g}") for a in (1.0, 0.5, 0.0)]
    if "sinusoid" in mix or "sinusoid" in cfg.families:
        lo, hi = cfg.sin_freq
        for f in (lo / 2, (lo + hi) / 2, hi * 2) if len(mix) < 2 else (hi * 2,):
            out.append(Task(family="sinusoid", sin_freq=(f, f), n_prompts=2, name=f"freq={f:g}"))
    return out


def example_curves(model: nnx.Module, data_cfg: DataConfig, mix: tuple[str, ...],
                   ks: tuple[int, ...] = (5, 20), n_grid: int = 200, seed: int = 0,
                   baselines: tuple[str, ...] = ("bayes_mixture", "joint_oracle")) -> dict:
    """One prompt per example task (d = 1): its first k points, the true f at n_grid sorted
    random x, and the predictions across those x of the model and the baselines given the
    first k points, for each k in `ks`."""
    key = jax.random.fold_in(jax.random.key(seed), 1)
    ks = tuple(k for k in ks if k < max_points(model))
    out = []
    for i, task in enumerate(example_tasks(data_cfg, mix)):
        cfg = dataclasses.replace(task.data_config(data_cfg), n_points=max(ks) + n_grid)
        xs, ys = draw(jax.random.fold_in(key, i), task, cfg)
        xs, ys = np.asarray(xs[0], np.float64), np.asarray(ys[0], np.float64)
        order = max(ks) + np.argsort(xs[max(ks):, 0])
        gx, gy = xs[order], ys[order]
        rec = {"task": task.label, "family": task.family or "convex", "a": task.a,
               "freq": cfg.sin_freq[0] if "sinusoid" in task.families else None,
               "context_x": xs[:max(ks), 0].tolist(), "context_y": ys[:max(ks)].tolist(),
               "grid_x": gx[:, 0].tolist(), "truth": gy.tolist(), "k": {}}
        for k in ks:
            xs_G = np.concatenate([np.broadcast_to(xs[:k], (n_grid, k, 1)), gx[:, None]], 1)
            ys_G = np.concatenate([np.broadcast_to(ys[:k], (n_grid, k)), gy[:, None]], 1)
            preds = {"model": model_predict(model, jnp.asarray(xs_G, jnp.float32),
                                            jnp.asarray(ys_G, jnp.float32))[:, k]}
            kcfg = dataclasses.replace(cfg, n_points=k + 1)
            for b in bl.for_task(data_cfg, kcfg, task.families, None):
                if b.name in baselines:
                    preds[b.name] = b.predict(xs_G, ys_G)[0][:, k]
            rec["k"][str(k)] = {n: v.tolist() for n, v in preds.items()}
        out.append(rec)
    return {"note": "one prompt per task; predictions at each grid x given the first k "
                    "in-context points (k = number of in-context examples)", "examples": out}


def write_json(path: Path, obj) -> None:
    """Writes JSON atomically (a temporary file renamed into place)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj))
    tmp.replace(path)


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    tmp.replace(path)


def read_jsonl(path: str | Path) -> list[dict]:
    """Rows written by run_sweep."""
    return [json.loads(ln) for ln in Path(path).read_text().splitlines() if ln.strip()]


# ------------------------------------------------------------------------------------ printing

def _fmt(v: float) -> str:
    if not math.isfinite(v):
        return f"{v:>8}"
    return f"{v:8.3f}" if abs(v) < 100 else f"{v:8.3g}"


def format_table(result: EvalResult, ks: list[int]) -> str:
    """Normalized error per predictor (rows) and task (columns) at each k in `ks`, plus the
    Bayes-mixture posterior family weights."""
    tasks = list(dict.fromkeys(r["task"] for r in result.rows))
    preds = list(dict.fromkeys(r["predictor"] for r in result.rows))
    by = {(r["predictor"], r["task"], r["k"]): r["normalized"] for r in result.rows}
    wts = {(r["component"], r["task"], r["k"]): r["weight"] for r in result.weight_rows}
    comps = list(dict.fromkeys(r["component"] for r in result.weight_rows))
    width = max(8, *(len(t) + 1 for t in tasks))
    lines = []
    for k in ks:
        lines.append(f"k={k:<16}" + "".join(f"{t:>{width}}" for t in tasks))
        for p in preds:
            lines.append(f"  {p:<16}" + "".join(
                f"{_fmt(by[(p, t, k)]):>{width}}" if (p, t, k) in by else " " * width
                for t in tasks))
        for c in comps:
            lines.append(f"  {'P(' + c + ')':<16}" + "".join(
                f"{_fmt(wts[(c, t, k)]):>{width}}" if (c, t, k) in wts else " " * width
                for t in tasks))
    return "\n".join(lines)
