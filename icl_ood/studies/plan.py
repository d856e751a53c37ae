"""A study's plan: the grid of configurations x seed bundles, one task per line of plan.jsonl.

Every configuration is built (and so validated) before anything is written; planning the same
request again is a no-op, planning another one into the same folder is refused, naming what
differs.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
from pathlib import Path

from icl_ood import results
from icl_ood.config import Config, ConfigError
from icl_ood.experiments import get

PLAN = "plan.jsonl"
PLAN_FORMAT = 1  # bump when the meaning of a plan line changes


def parse_grid(specs: list[str] | tuple[str, ...]) -> list[tuple[str, list[str]]]:
    """[(field, [raw value, ...])] from `FIELD=V1,V2` entries; values as `--set` takes them
    (JSON, else a bare string): `model.d_model=16,32`, `data.weights=[1,0],[0.5,0.5]`."""
    out: list[tuple[str, list[str]]] = []
    for spec in specs:
        key, eq, raw = spec.partition("=")
        key = key.strip()
        if not eq or not key or not raw.strip():
            raise ConfigError(f"--grid: expected section.field=v1,v2,..., got {spec!r}")
        if key in {k for k, _ in out}:
            raise ConfigError(f"--grid: {key} given twice")
        try:  # a JSON list once bracketed: numbers, lists, quoted strings
            values = [json.dumps(v) for v in json.loads(f"[{raw}]")]
        except json.JSONDecodeError:  # bare strings: einsum,xla
            values = [v.strip() for v in raw.split(",")]
        if not values or any(not v for v in values):
            raise ConfigError(f"--grid {key}: an empty value in {raw!r}")
        if len(set(values)) < len(values):
            raise ConfigError(f"--grid {key}: a value repeats in {raw!r}")
        out.append((key, values))
    return out


def parse_seeds(raw: str | None) -> list[int] | None:
    """[0, 1, 2] from "0,1,2"; None for the experiment runs' own seeds."""
    if raw is None:
        return None
    try:
        seeds = [int(s) for s in raw.split(",") if s.strip()]
    except ValueError:
        raise ConfigError(f"--seeds: expected integers like 0,1,2,3, got {raw!r}") from None
    if not seeds or min(seeds) < 0 or len(set(seeds)) < len(seeds):
        raise ConfigError(f"--seeds: expected distinct integers >= 0, got {raw!r}")
    return seeds


def _slug(key: str, raw: str) -> str:
    """`model.d_model`, `16` -> `d_model=16` (folder-safe: other characters become '-')."""
    value = re.sub(r"[^A-Za-z0-9._-]+", "-", raw).strip("-") or "x"
    return f"{key.rsplit('.', 1)[-1]}={value}"


def tasks(experiment: str, preset: str, overrides: list[str], grid: list[tuple[str, list[str]]],
          seeds: list[int] | None, sweeps: list[str] | None, n_prompts: int) -> list[dict]:
    """The plan's tasks (every config built and validated; ConfigError, one line, if not)."""
    from icl_ood import sweeps as sweep_registry
    exp = get(experiment)
    if n_prompts < 2:
        raise ConfigError(f"--n-prompts: must be >= 2, got {n_prompts}")
    chosen = list(exp.sweeps) if sweeps is None else list(sweeps)
    for s in chosen:
        if s not in sweep_registry.names():
            raise ConfigError(f"--sweeps: unknown sweep {s!r}; known: {sweep_registry.names()}")
    out, seen, runs = [], {}, bundled_runs(exp, seeds)
    for run in runs:
        for combo in itertools.product(*[[(k, v) for v in vs] for k, vs in grid]):
            assign = [f"{k}={v}" for k, v in combo]
            bundle = [run.seed] if seeds is None else seeds
            try:
                cfgs = [exp.config(preset, run, (*overrides, *assign, f"train.seed={s}"))
                        for s in bundle]
            except ConfigError as e:
                where = f" ({', '.join(assign)})" if assign else ""
                raise ConfigError(f"run {run.name}{where}: {e}") from None
            parts = ([run.name] if len(runs) > 1 or not grid else []) + \
                [_slug(k, v) for k, v in combo]
            name = ".".join(parts)
            task = {"name": name, "run": run.name, "label": run.label,
                    "grid": {k: json.loads(v) if _is_json(v) else v for k, v in combo},
                    "overrides": [*overrides, *assign], "seeds": bundle,
                    "data": _data(exp.changes(run), [*overrides, *assign]),
                    "sweeps": chosen, "mix": None if exp.mix is None else list(exp.mix),
                    "baselines": None if exp.baselines is None else list(exp.baselines),
                    "n_prompts": n_prompts, "config": cfgs[0].to_dict(),
                    # scored along training at the experiment's steps (none: the last only)
                    **({"steps_per_octave": exp.steps_per_octave} if exp.steps_per_octave
                       else {})}
            same = seen.get(results.digest([c.to_dict() for c in cfgs]))
            if same is not None or name in {t["name"] for t in out}:
                raise ConfigError(f"tasks {same or name!r} and {name!r} train the same "
                                  "configurations and seeds; drop one (e.g. fewer --seeds)")
            seen[results.digest([c.to_dict() for c in cfgs])] = name
            out.append(task)
    for i, t in enumerate(out):
        t["index"] = i
        t["hash"] = task_hash(t)
    return out


def bundled_runs(exp, seeds: list[int] | None) -> list:
    """The experiment's runs, where --seeds gives every task its seed bundle: runs that differ
    only in their own seed (the `compute` experiment's seed0 and seed1) are then one run, named
    "seeds" and labelled by the experiment, else each seed would train twice."""
    if seeds is None:
        return list(exp.runs)
    groups: dict[str, list] = {}
    for run in exp.runs:
        groups.setdefault(json.dumps(exp.changes(run), sort_keys=True, default=str), []).append(run)
    return [g[0] if len(g) == 1 else dataclasses.replace(
        g[0], name="seeds", label=exp.name, seed=seeds[0])
        for g in groups.values()]


def _data(changes: dict, sets: list[str]) -> dict:
    """The data fields a task sets (experiment.json's "data"): the run's, then every data.*
    value of --set and the grid, in that order (what the task trains on)."""
    out = {k: list(v) if isinstance(v, tuple) else v for k, v in changes.items()}
    for key, _, raw in (a.partition("=") for a in sets):
        if key.startswith("data."):
            out[key.partition(".")[2]] = json.loads(raw) if _is_json(raw) else raw
    return out


def _is_json(raw: str) -> bool:
    try:
        json.loads(raw)
        return True
    except json.JSONDecodeError:
        return False


def task_hash(task: dict) -> str:
    """The content hash of a task: everything it computes from (not its index)."""
    return results.digest({k: v for k, v in task.items() if k not in ("index", "hash")})


def configs(task: dict) -> list[Config]:
    """The config of each seed of a task, as planned."""
    base = Config.from_dict(task["config"])
    return [base.override([f"train.seed={s}"]) for s in task["seeds"]]


def run_name(task: dict, seed: int) -> str:
    """The run folder's name (under DIR/runs/) of one seed of a task."""
    return f"{task['name']}.seed{seed}"


def plan(out: str | Path, experiment: str, preset: str, overrides: list[str],
         grid_specs: list[str], seeds: str | None, sweeps: list[str] | None = None,
         n_prompts: int = 1280) -> tuple[list[dict], bool]:
    """Writes out/plan.jsonl (and its manifest: the request); (tasks, whether it was written).
    The same request again writes nothing; another one is refused (ConfigError naming the
    difference); nothing is written for an invalid request."""
    out = Path(out)
    grid = parse_grid(grid_specs)
    request = {"format": PLAN_FORMAT, "experiment": experiment, "preset": preset,
               "set": list(overrides), "grid": {k: v for k, v in grid},
               "seeds": parse_seeds(seeds), "sweeps": sweeps, "n_prompts": n_prompts}
    todo = tasks(experiment, preset, list(overrides), grid, request["seeds"], sweeps, n_prompts)
    old = read_plan(out, missing_ok=True)
    if old is not None:
        old_req, old_tasks = old
        differ = _request_diff(old_req, request)
        if not differ:  # the same request, but the code builds other configs now
            differ = [f"task {t['name']}: " + ("; ".join(_diff(t, o)) or "content")
                      for t, o in zip(todo, old_tasks) if t["hash"] != o["hash"]]
        if differ:
            raise ConfigError(f"{out} holds another plan ({'; '.join(differ)}); plan it in "
                              "another folder")
        return old_tasks, False
    out.mkdir(parents=True, exist_ok=True)
    path = out / PLAN
    results.write_jsonl(path, todo)
    results.write_manifest(path, "plan", request, [path], info={"n_tasks": len(todo)})
    return todo, True


def _request_diff(old: dict, new: dict) -> list[str]:
    """What differs between two plan requests, per field (per axis for the grid)."""
    new = json.loads(json.dumps(new))
    out = [f"{k}: {old.get(k)!r} -> {v!r}" for k, v in new.items()
           if k != "grid" and old.get(k) != v]
    og, ng = old.get("grid") or {}, new["grid"]
    for k in dict.fromkeys([*og, *ng]):
        if og.get(k) != ng.get(k):
            out.append(f"grid {k}: {','.join(og.get(k) or ['(none)'])} -> "
                       f"{','.join(ng.get(k) or ['(none)'])}")
    return out


def _diff(new: dict, old: dict) -> list[str]:
    return Config.from_dict(new["config"]).diff(Config.from_dict(old["config"]))


def read_plan(out: str | Path, missing_ok: bool = False) -> tuple[dict, list[dict]] | None:
    """(request, tasks) of a study folder; ResultsError (one line) if it has no intact plan."""
    path = Path(out) / PLAN
    if not path.exists() and missing_ok:
        return None
    man = results.read_manifest(path)
    why = "no plan.jsonl" if not path.exists() else results.intact(man, path.parent)
    if why is not None:
        raise results.ResultsError(f"{out}: {why}; not a planned study (icl-ood sweep plan)")
    todo = results.read_jsonl(path)
    bad = [t.get("name") for t in todo if t.get("hash") != task_hash(t)]
    if bad:
        raise results.ResultsError(f"{path}: tasks {bad} do not match their content hash")
    return man["inputs"], todo


def task(out: str | Path, index: int) -> dict:
    """Task `index` of a study's plan; ConfigError if there is no such task."""
    _, todo = read_plan(out)
    if not 0 <= index < len(todo):
        raise ConfigError(f"--index: {index} outside 0..{len(todo) - 1} ({len(todo)} tasks)")
    return todo[index]
