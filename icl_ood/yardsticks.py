"""The yardsticks of a sweep computed once, and kept checkpoints scored against them.

The yardsticks (the baselines: Bayes predictors, least squares, ...) do not depend on training,
so scoring a run at many steps needs them once per sweep and evaluation options. `ensure`
computes every task's prompts (from the sweep's one key, as evaluate.run_sweep draws them), the
baselines' predictions and Bayes posterior weights, and writes, with a manifest (stage
"yardsticks", inputs: the run's data config, the options, the evaluation format):
    run_dir/eval/<sweep>.yardsticks[.<options>].npz      prompts and predictions (float64)
    run_dir/eval/<sweep>.yardsticks[.<options>].jsonl    the baselines' rows (step null)
    run_dir/eval/<sweep>_bayes_weights.yardsticks[...].jsonl
`score` evaluates one checkpoint on those very prompts (only the model's forward passes) and
writes the model's rows, distance and excess columns included, to
    run_dir/eval/<sweep>.yard[.<options>].step<S>.jsonl
whose manifest (stage "evaluate") vouches for the yardstick rows and weights too: results.load
reads the three files as one evaluation, the rows equal to those of evaluate.run_sweep at that
checkpoint with the same options, each value to STEP_DIGITS significant digits (these rows are
the bulk of a study's results).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import jax
import numpy as np

from icl_ood import baselines as bl
from icl_ood import evaluate as ev
from icl_ood import results, sweeps
from icl_ood.config import Config, DataConfig
from icl_ood.data import pool

STEP_DIGITS = 6  # significant digits of the model's rows at each scored step


def _base(options: dict) -> dict:
    """The options the yardsticks depend on (every one but the step)."""
    return {k: v for k, v in options.items() if k not in ("at_step", "yardsticks")} | \
        {"at_step": None}


def inputs(data_cfg: DataConfig, sweep: str, options: dict) -> dict:
    """The yardsticks' manifest inputs: the run's data config, the options, the format."""
    return {"what": f"{sweep} yardsticks", "format": ev.EVAL_FORMAT,
            "data": results.digest(data_cfg.to_dict()), "options": _base(options)}


def paths(run_dir: Path, sweep: str, options: dict) -> tuple[Path, Path, Path]:
    """(rows, Bayes weights, predictions) of the yardsticks in run_dir/eval."""
    return tuple(Path(run_dir) / "eval" / f for f in results.yardstick_files(sweep, options))


def _compute(data_cfg: DataConfig, sweep: str, options: dict, baselines, mix, opts, run: str
             ) -> tuple[list[dict], list[dict], list[dict], list[str]]:
    """(per task {xs, ys, preds, aux}, rows, weight rows, notes) of every task of the sweep."""
    key = jax.random.fold_in(jax.random.key(options["seed"]), 0)  # run_sweep's key
    given, rows, wrows, notes = [], [], [], []
    for task in ev.sweep_tasks(data_cfg, sweep, options["n_prompts"], mix):
        cfg = task.data_config(data_cfg)
        xs, ys = ev.draw(key, task, cfg)
        preds, aux, why = {}, {}, []
        for b in bl.for_task(data_cfg, cfg, task.families, baselines, opts, why, task.scales):
            preds[b.name], a = b.predict(xs, ys)
            if b.name == "bayes_mixture":
                aux = {k.split(":", 1)[1]: np.asarray(v) for k, v in a.items()}
        g = {"xs": np.asarray(xs), "ys": np.asarray(ys), "aux": aux,
             "preds": {n: np.asarray(p) for n, p in preds.items()}}
        r = ev.evaluate(None, data_cfg, task, (), key, n_boot=options["n_boot"], run=run,
                        meta={"sweep": sweep, "step": None}, given=g)
        given.append(g)
        rows += r.rows
        wrows += r.weight_rows
        notes += [f"{task.label}: {n}" for n in why]
    return given, rows, wrows, notes


def _save(path: Path, given: list[dict]) -> None:
    arrays = {}
    for i, g in enumerate(given):
        arrays[f"{i}.xs"], arrays[f"{i}.ys"] = g["xs"], g["ys"]
        arrays |= {f"{i}.pred.{n}": p for n, p in g["preds"].items()}
        arrays |= {f"{i}.aux.{f}": w for f, w in g["aux"].items()}
    with results.atomic(path) as tmp, tmp.open("wb") as fh:
        np.savez(fh, **arrays)


def _read(path: Path) -> list[dict]:
    given: list[dict] = []
    with np.load(path) as z:
        for name in z.files:  # in the order written
            i, kind, *rest = name.split(".", 2)
            while len(given) <= int(i):
                given.append({"preds": {}, "aux": {}})
            if kind in ("xs", "ys"):
                given[int(i)][kind] = z[name]
            else:
                given[int(i)]["preds" if kind == "pred" else "aux"][rest[0]] = z[name]
    return given


def ensure(run_dir: str | Path, cfg: Config, sweep: str, options: dict, *,
           baselines: tuple[str, ...] | None = None, mix: tuple[str, str] | None = None,
           opts: bl.Options = bl.DEFAULT_OPTIONS, log=None, donors=()
           ) -> tuple[list[dict], list[str]]:
    """The yardsticks of `sweep` for these options (ev.eval_options), read back if saved with
    a matching manifest, else copied from a run among `donors` whose saved ones match (e.g. the
    other seeds of a study: the same data and prompts), else computed and saved (on the host
    CPU if the default device fails, e.g. without float64): (per task {xs, ys, preds, aux},
    notes)."""
    rows_p, weights_p, preds_p = paths(run_dir, sweep, options)
    if cfg.data.task_pool and (Path(run_dir) / pool.FILE).exists():
        pool.prepare(cfg.data, run_dir)  # the run's own pool, whatever jax draws here
    want = inputs(cfg.data, sweep, options)
    if results.matches(rows_p, want):
        return _read(preds_p), results.read_manifest(rows_p).get("notes", [])
    for donor in donors:
        if Path(donor).resolve() != Path(run_dir).resolve() and \
                results.matches(paths(donor, sweep, options)[0], want):
            man = results.read_manifest(paths(donor, sweep, options)[0])
            for src, dst in zip(paths(donor, sweep, options), (rows_p, weights_p, preds_p)):
                results.write_bytes(dst, src.read_bytes())
            results.write_manifest(rows_p, "yardsticks", want, [rows_p, weights_p, preds_p],
                                   info={k: man.get(k) for k in ("predictors", "notes", "seconds")}
                                   | {"copied_from": str(donor)})
            return ensure(run_dir, cfg, sweep, options)
    t0, args = time.perf_counter(), (cfg.data, sweep, options, baselines, mix, opts,
                                     Path(run_dir).name)
    try:
        given, rows, wrows, notes = _compute(*args)
    except Exception as e:  # noqa: BLE001 (e.g. float64 on an accelerator): use the host
        if log:
            log(f"    yardsticks failed on {jax.default_backend()} ({type(e).__name__}: {e}); "
                "computing them on the host CPU")
        with jax.default_device(jax.devices("cpu")[0]):
            given, rows, wrows, notes = _compute(*args)
    _save(preds_p, given)
    results.write_jsonl(rows_p, rows)
    results.write_jsonl(weights_p, wrows)
    names = dict.fromkeys(r["predictor"] for r in rows)
    results.write_manifest(rows_p, "yardsticks", want, [rows_p, weights_p, preds_p],
                           info={"predictors": bl.describe(names), "notes": notes,
                                 "seconds": round(time.perf_counter() - t0, 2)})
    return given, notes


def step_path(run_dir: str | Path, sweep: str, options: dict, step: int) -> Path:
    """The model's rows of `step` scored against the yardsticks."""
    opts = {**options, "yardsticks": True, "at_step": step}
    return Path(run_dir) / "eval" / results.eval_files(sweep, opts)[0]


def step_inputs(cfg: Config, sweep: str, options: dict, step: int, checksum: str | None) -> dict:
    """The manifest inputs of a step scored against the yardsticks."""
    return ev.result_inputs(cfg, step, checksum, sweep,
                            {**options, "yardsticks": True, "at_step": step})


def scored(run_dir: str | Path, cfg: Config, sweep: str, options: dict, step: int) -> bool:
    """True if `step` is scored, intact, with this config and these options (the checkpoint's
    checksum is not compared: the kept checkpoint may be gone, the config and step fix it)."""
    path = step_path(run_dir, sweep, options, step)
    man = results.read_manifest(path)
    if man is None or results.intact(man, path.parent) is not None:
        return False
    want = json.loads(json.dumps(step_inputs(cfg, sweep, options, step, None)))
    got = {**man["inputs"], "checkpoint": {**man["inputs"]["checkpoint"], "checksum": None}}
    return got == want


def score(run_dir: str | Path, sweep: str, model_and_cfg, *, n_prompts: int = 1280,
          seed: int = 0, baselines: tuple[str, ...] | None = None,
          mix: tuple[str, str] | None = None, opts: bl.Options = bl.DEFAULT_OPTIONS,
          n_boot: int = 1000, checksum: str | None = None, log=None, donors=()
          ) -> ev.EvalResult:
    """Scores the model of `model_and_cfg` = (model, config, step) on the sweep against its
    yardsticks (`ensure`, which may copy them from `donors`), writes the model's rows and their
    manifest (module docstring) and returns the rows of every predictor, the Bayes weights and
    the rows' path."""
    model, cfg, step = model_and_cfg
    run_dir = Path(run_dir)
    options = ev.eval_options(cfg.data, sweep, n_prompts=n_prompts, seed=seed, n_boot=n_boot,
                              baselines=baselines, mix=mix, opts=opts)
    t0 = time.perf_counter()
    given, notes = ensure(run_dir, cfg, sweep, options, baselines=baselines, mix=mix,
                          opts=opts, log=log, donors=donors)
    t1 = time.perf_counter()
    tasks = ev.sweep_tasks(cfg.data, sweep, n_prompts, mix)
    rows = []
    for task, g in zip(tasks, given, strict=True):
        r = ev.evaluate(model, cfg.data, task, (), None, n_boot=n_boot, run=run_dir.name,
                        meta={"sweep": sweep, "step": step}, given=g)
        rows += [row for row in r.rows if row["predictor"] not in g["preds"]]
    path = step_path(run_dir, sweep, options, step)
    results.write_jsonl(path, rows, digits=STEP_DIGITS)
    rows_p, weights_p, _ = paths(run_dir, sweep, options)
    yard, wrows = results.read_jsonl(rows_p), results.read_jsonl(weights_p)
    names = dict.fromkeys(r["predictor"] for r in rows + yard)
    results.write_manifest(
        path, "evaluate", step_inputs(cfg, sweep, options, step, checksum or
                                      ev.model_checksum(model)),
        [path, rows_p, weights_p], rank=[step, n_prompts],
        info={"predictors": bl.describe(names), "sweep": sweeps.info(sweep),
              "yardsticks": {"rows": rows_p.name, "weights": weights_p.name}})
    seconds = {"yardsticks": t1 - t0, "model": time.perf_counter() - t1,
               "total": time.perf_counter() - t0}
    return ev.EvalResult(rows + yard, wrows, seconds, notes, path)
