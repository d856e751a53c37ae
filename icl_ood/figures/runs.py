"""Several plain run folders drawn side by side (`icl-ood figures --run A --run B ...`): each read
by `results.load_run`; runs that differ only in train.seed (and were evaluated at the same step
with the same options) are drawn as one, the mean over their seeds with a band from the lowest
to the highest seed (SEED_BAND). Values that are the same for every seed (a baseline scored on
the same prompts) keep their 90% bootstrap interval over prompts."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np

from icl_ood import results
from icl_ood.figures.style import seed_groups
from icl_ood.results import ResultsError

SEED_BAND = "min-max over seeds"  # what a seed-mean's band is (legends, titles, notes)
# (value, lower, upper) of rows; every other field `f` with `f_lower`/`f_upper` is one too
TRIPLES = (("error", "lower", "upper"), ("normalized", "norm_lower", "norm_upper"),
           ("weight", "lower", "upper"))


def _labels(run_dirs: list[Path]) -> list[str]:
    """Each run's folder name, or its path below the runs' common folder where names repeat."""
    names = [d.name for d in run_dirs]
    if len(set(names)) == len(names):
        return names
    top = Path(os.path.commonpath([str(d.resolve()) for d in run_dirs]))
    return [str(d.resolve().relative_to(top)) for d in run_dirs]


def _triples(row: dict) -> list[tuple[str, str, str]]:
    extra = [(f, f"{f}_lower", f"{f}_upper") for f in row if f"{f}_lower" in row]
    return [t for t in (*TRIPLES, *extra) if t[0] in row]


def mean_rows(row_lists: list[list[dict]]) -> list[dict]:
    """Rows of several seeds, matched on every field but the values and `run`: each value
    averaged over the seeds with its lower and upper the lowest and highest seed's; values
    equal for every seed keep their own interval. Rows some seed lacks are dropped."""
    if not row_lists or not row_lists[0]:
        return []
    triples = _triples(row_lists[0][0])
    values = {f for t in triples for f in t} | {"run", "normalizer"}

    def key(r: dict) -> str:
        return json.dumps({f: v for f, v in r.items() if f not in values}, sort_keys=True)

    by_key = [{key(r): r for r in rows} for rows in row_lists]
    out = []
    for k, first in by_key[0].items():
        group = [b[k] for b in by_key if k in b]
        if len(group) < len(by_key):
            continue
        row = {**first, "run": "+".join(dict.fromkeys(str(r.get("run")) for r in group))}
        for mid, lo, hi in triples:
            vals = [r.get(mid) for r in group]
            if any(v is None for v in vals) or len(set(vals)) == 1:
                continue
            v_S = np.asarray(vals, float)
            row[mid], row[lo], row[hi] = float(v_S.mean()), float(v_S.min()), float(v_S.max())
        if "normalizer" in row:
            row["normalizer"] = float(np.mean([r["normalizer"] for r in group]))
        out.append(row)
    return out


def mean_metrics(metric_lists: list[list[dict]]) -> list[dict]:
    """Training records of several seeds at the steps every seed logged: loss and loss per
    family averaged over seeds, loss_lower/loss_upper the lowest and highest seed's loss."""
    by_step = [{m["step"]: m for m in ms} for ms in metric_lists]
    out = []
    for step, first in by_step[0].items():
        group = [b[step] for b in by_step if step in b]
        if len(group) < len(by_step):
            continue
        loss_S = np.asarray([m["loss"] for m in group], float)
        fams = {f: [m["loss_per_family"].get(f) for m in group]
                for f in first.get("loss_per_family", {})}
        out.append({**first, "loss": float(loss_S.mean()), "loss_lower": float(loss_S.min()),
                    "loss_upper": float(loss_S.max()),
                    "loss_per_family": {f: None if None in v else float(np.mean(v))
                                        for f, v in fams.items()}})
    return out


def seed_mean(members: list[dict], label: str) -> dict:
    """One run record (as results.load_run gives) for runs that differ only in seed."""
    first = members[0]
    seeds = [m["config"]["train"]["seed"] for m in members]
    along = {}
    for sweep in first.get("along", {}):
        steps = set.intersection(*(set(m.get("along", {}).get(sweep, {})) for m in members))
        along[sweep] = {s: mean_rows([m["along"][sweep][s] for m in members])
                        for s in sorted(steps)}
    return {**first, "name": re.sub(r"[^\w.-]+", "_", label),
            "label": f"{label}: mean of {len(seeds)} seeds "
                     f"({', '.join(map(str, seeds))}), band {SEED_BAND}",
            "rows": {w: mean_rows([m["rows"][w] for m in members]) for w in first["rows"]},
            "weights": {w: mean_rows([m["weights"].get(w, []) for m in members])
                        for w in first["weights"]},
            "metrics": mean_metrics([m["metrics"] for m in members]) if all(
                m["metrics"] for m in members) else [],
            "examples": [],  # example prompts are one model's predictions: not averaged
            "along": along, "seeds": seeds, "members": [m["label"] for m in members],
            "commits": sorted({c for m in members for c in m["commits"]})}


def _same_evaluation(run: dict) -> tuple:
    """What runs must share to be averaged: the evaluated step, sweeps and prompts."""
    return run["step"], sorted(run["rows"]), run["n_prompts"]


def load_runs(run_dirs: list[str | Path]) -> dict:
    """What `results.load_run` gives, for several run folders side by side: one record per run,
    or per set of runs that differ only in seed (their mean, `seed_mean`); data["note"] says
    which runs were averaged and what the band is. One folder: exactly load_run's answer.
    ResultsError (one line) if a folder is not a run, or runs scored the convex sweep on
    different family pairs (one figure cannot label both)."""
    run_dirs = [Path(d) for d in run_dirs]
    if len(run_dirs) == 1:
        return results.load_run(run_dirs[0])
    if len({d.resolve() for d in run_dirs}) < len(run_dirs):
        raise ResultsError(f"a run folder is given twice ({', '.join(map(str, run_dirs))})")
    datas = [results.load_run(d) for d in run_dirs]
    labels = _labels(run_dirs)
    runs, inputs = [], {}
    for data, label in zip(datas, labels):
        run = {**data["runs"][0], "label": label, "name": re.sub(r"[^\w.-]+", "_", label)}
        runs.append(run)
        inputs.update({f"{label}/{k.split('/', 1)[1]}": v for k, v in data["inputs"].items()})
    mixes = {tuple(d["experiment"]["mix"]) for d in datas if d["experiment"]["mix"]}
    if len(mixes) > 1:
        raise ResultsError(f"the runs scored the convex sweep on different family pairs "
                           f"({'; '.join('+'.join(m) for m in sorted(mixes))}); draw them "
                           "separately")
    drawn, parts = [], []
    for _, members in seed_groups(runs):
        same: dict[str, list[dict]] = {}
        for m in members:
            same.setdefault(json.dumps(_same_evaluation(m)), []).append(m)
        parts += same.values()
    names = [re.sub(r"[-_ ,]*(seed|s)\d+$", "", p[0]["config"].get("name") or p[0]["label"])
             for p in parts]  # the config's name without a trailing seed tag ("-s0")
    for part, name in zip(parts, names):
        if len(part) == 1:
            drawn.append(part[0])
        else:  # the config's name, and its runs' folders where two means would share it
            drawn.append(seed_mean(part, name if names.count(name) == 1 else
                                   f"{name} [{', '.join(r['label'] for r in part)}]"))
    note = ("" if all(len(p) == 1 for p in parts) else
            f"Seed means: band {SEED_BAND}; values the same for every seed (baselines) keep "
            "their 90% bootstrap band")
    steps = [d["step"] for d in datas if d["step"]]
    return {"request": {"runs": [{"name": r["name"]} for r in drawn]},
            "experiment": {"name": "runs " + ", ".join(labels), "doc": "",
                           "mix": next(iter(mixes), None),
                           "sweeps": sorted({s for r in drawn for s in r["rows"]})},
            "runs": drawn, "inputs": inputs, "step": min(steps, default=0), "note": note}


def default_out(run_dirs: list[str | Path]) -> Path:
    """Where `figures --run` draws without --out: the run's own folder, or for several runs
    their common folder. ResultsError if that is the filesystem root or one of the runs."""
    run_dirs = [Path(d) for d in run_dirs]
    if len(run_dirs) == 1:
        return run_dirs[0]
    top = Path(os.path.commonpath([str(d.resolve()) for d in run_dirs]))
    if top == Path(top.anchor) or top in {d.resolve() for d in run_dirs}:
        raise ResultsError(f"the runs share no folder to draw into ({top}); give "
                           "--out DIR")
    return top
