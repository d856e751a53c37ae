"""Reading a replicate folder or a run folder back, every result checked against its manifest."""

from __future__ import annotations

import json
from pathlib import Path

from icl_ood.results.files import ResultsError, read_json, read_jsonl, sha256
from icl_ood.results.manifest import eval_key, intact, read_manifest

FORMAT = 2  # experiment.json format: 2 lists runs, labels, mix, sweeps, doc and result files


def replicate_command(req: dict, out: str | Path | None = None) -> str:
    """The `icl-ood replicate` command of a request (experiment.json)."""
    cmd = f"icl-ood replicate --experiment {req.get('experiment')} --preset {req.get('preset')}"
    cmd += "".join(f" --set {o}" for o in req.get("overrides", []))
    if req.get("n_prompts", 1280) != 1280:
        cmd += f" --n-prompts {req['n_prompts']}"
    return cmd + (f" --out {out}" if out is not None else "")


def _rows(d: Path, files: list[str], man: dict, inputs: dict, prefix: str,
          shared: dict | None = None) -> tuple[list[dict], list[dict]]:
    """(rows, Bayes weight rows) of one evaluation, its checksums into `inputs`; a step scored
    against saved yardsticks (icl_ood.yardsticks) gets their rows and weights appended, read
    once per `shared` ({path: rows}) and shared by every step of the run (rows are read-only)."""
    folder = (d / files[0]).parent
    for name, sha in man["outputs"].items():
        inputs[prefix + str(Path(files[0]).parent / name)] = sha
    rows = read_jsonl(d / files[0])
    weights = read_jsonl(d / files[1]) if len(files) > 1 else []
    if yard := man.get("yardsticks"):
        shared = {} if shared is None else shared
        for out, name in ((rows, yard["rows"]), (weights, yard["weights"])):
            path = str(folder / name)
            if path not in shared:
                shared[path] = read_jsonl(path)
            out += shared[path]
    return rows, weights


def _run_record(d: Path, name: str, label: str, chosen: dict[str, tuple[list[str], dict]],
                inputs: dict, prefix: str) -> dict:
    """One run's entry of `load` / `load_run`: its config, metrics and the result files chosen
    for it ({what: (files, manifest)}, already checked), whose checksums go into `inputs`."""
    rows, weights, examples, n_prompts, predictors, sweeps = {}, {}, [], None, {}, {}
    for what, (files, man) in chosen.items():
        predictors.update(man.get("predictors") or {})
        if man.get("sweep"):
            sweeps[what] = man["sweep"]
        if what == "examples":
            inputs[prefix + files[0]] = man["outputs"][Path(files[0]).name]
            examples = json.loads((d / files[0]).read_text())["examples"]
            continue
        rows[what], weights[what] = _rows(d, files, man, inputs, prefix)
        n_prompts = max(n_prompts or 0, man["inputs"]["options"]["n_prompts"])
    steps = [m["inputs"]["checkpoint"]["step"] for _, m in chosen.values()]
    metrics = read_jsonl(d / "metrics.jsonl") if (d / "metrics.jsonl").exists() else []
    return {"name": name, "label": label, "dir": d,
            "config": json.loads((d / "config.json").read_text()), "metrics": metrics,
            "rows": rows, "weights": weights, "examples": examples,
            "step": max(steps, default=None), "n_prompts": n_prompts, "predictors": predictors,
            "sweeps": sweeps,
            "commits": sorted({m.get("commit", "unknown") for _, m in chosen.values()})}


def load(out: str | Path) -> dict:
    """Everything figures and the report draw from a replicate folder, from its saved files only.

    Returns {"request": experiment.json, "experiment": {name, doc, mix, sweeps}, "runs": [...],
    "inputs": {file: sha256 of every result used}, "step": lowest evaluated step}, runs in
    experiment order, each {name, label, dir, config, metrics, rows: {sweep: rows},
    weights: {sweep: rows}, examples, step, n_prompts, predictors (label, style and
    definition of each, as saved by the evaluation: baselines.describe), sweeps ({sweep: {axis,
    doc}} as saved by newer evaluations: sweeps.info), commits, along:
    {sweep: {step: rows}} of a run scored along training (experiment.json's "along" files;
    a step scored against saved yardsticks gets their rows appended), incomplete (None, or
    {reached, target, why} for a run stopped before its last step)}; a run's "dir" in
    experiment.json may name a folder elsewhere (relative to OUT). ResultsError (one line) if
    the folder is not a finished replicate folder."""
    out = Path(out)
    path = out / "experiment.json"
    if not path.exists():
        raise ResultsError(f"{out}: no experiment.json; not a replicate folder")
    try:
        req = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ResultsError(f"{path}: unreadable ({e})") from e
    again = f"run `{replicate_command(req, out)}` to compute them"
    if req.get("along"):  # the retired along-training format
        raise ResultsError(f"{out}: a folder of the retired along-training format (along/<run>/);"
                           f" convert it once: python scripts/convert_along_folders.py study {out}")
    if req.get("format") != FORMAT or not isinstance(req.get("runs"), list):
        raise ResultsError(f"{out}: experiment.json of an older icl-ood (format "
                           f"{req.get('format', 1)}, without its runs and result files); "
                           f"nothing redrawn; {again}")
    runs, inputs = [], {"experiment.json": sha256(path)}
    known: dict[str, str] = {}  # checksums, and rows, of files shared by several steps of a run
    shared: dict[str, list[dict]] = {}
    for spec in req["runs"]:
        name, rel = spec["name"], spec.get("dir", f"runs/{spec['name']}")
        d = out / rel  # "dir": a run kept in another folder (e.g. ../compute-cpu/runs/seed0)
        if not (d / "config.json").exists():
            raise ResultsError(f"{out}: run {name!r} has no saved results (no "
                               f"{rel}/config.json); nothing redrawn; {again}")

        def checked(files: list[str]) -> tuple[list[str], dict]:
            man = read_manifest(d / files[0])
            why = intact(man, (d / files[0]).parent, known)
            if why is not None:
                raise ResultsError(f"{out}: run {name!r}: {files[0]}: {why}; nothing redrawn; "
                                   f"{again}")
            return files, man
        chosen = {what: checked(files) for what, files in spec["results"].items()}
        steps = {w: m["inputs"]["checkpoint"]["step"] for w, (_, m) in chosen.items()}
        if len(set(steps.values())) > 1:
            raise ResultsError(f"{out}: run {name!r}: results from different checkpoints "
                               f"({', '.join(f'{k} at step {v}' for k, v in steps.items())}); "
                               f"nothing redrawn; {again}")
        runs.append(_run_record(d, name, spec["label"], chosen, inputs, f"{rel}/"))
        # Scored along training: {sweep: {step: files}} of the steps scored (and whether the
        # run reached its last declared step; e.g. a wall-clock budget ended it early).
        runs[-1]["along"] = {what: {int(s): _rows(d, *checked(files), inputs, f"{rel}/",
                                                  shared)[0]
                                    for s, files in by_step.items()}
                             for what, by_step in spec.get("along", {}).items()}
        runs[-1]["incomplete"] = spec.get("incomplete")
    exp = {k: req.get(k) for k in ("experiment", "doc", "mix", "sweeps")}
    exp["name"] = exp.pop("experiment")
    steps = [r["step"] for r in runs if r["step"] is not None]
    return {"request": req, "experiment": exp, "runs": runs, "inputs": inputs,
            "step": min(steps, default=0)}


def load_run(run_dir: str | Path) -> dict:
    """What `load` gives for a replicate folder, for one plain run folder: its training curves
    and, per sweep, the intact evaluation of the latest evaluated checkpoint with the most
    prompts per task (damaged or incomplete evaluations are skipped). ResultsError if the folder
    is not a run (no config.json) or has neither metrics nor evaluations. A sweep evaluated at
    several kept checkpoints (evaluate --steps) is also given per step: run["along"][sweep][step]
    (rows)."""
    d = Path(run_dir)
    if not (d / "config.json").exists():
        raise ResultsError(f"{d}: no config.json; not a run folder")
    config = json.loads((d / "config.json").read_text())
    found = []  # (step, n_prompts, default options first, what, files, manifest)
    known: dict[str, str] = {}  # checksums of files shared by several manifests (yardsticks)
    for mpath in sorted((d / "eval").glob("*manifest.json")):
        man = read_json(mpath)
        if not isinstance(man, dict) or man.get("stage") != "evaluate" or \
                intact(man, mpath.parent, known) is not None:
            continue
        inp = man["inputs"]
        files = [f"eval/{n}" for n in man["outputs"]]
        found.append((inp["checkpoint"]["step"], inp["options"].get("n_prompts", 0),
                      eval_key(inp["options"]) == "", inp["what"], files, man))
    if not found and not (d / "metrics.jsonl").exists():
        raise ResultsError(f"{d}: nothing to draw (no metrics.jsonl, no complete evaluation); "
                           f"run `icl-ood evaluate --run {d}` first")
    step = max((f[0] for f in found), default=None)
    best: dict[tuple[str, int], tuple] = {}
    for f in sorted(found, key=lambda f: (f[1], f[2])):
        best[f[3], f[0]] = f  # per sweep and step: the most prompts, default options preferred
    chosen = {what: (f[4], f[5]) for (what, s), f in best.items() if s == step}
    convex = chosen.get("convex")
    mix = None if convex is None else (convex[1]["inputs"]["options"].get("mix")
                                       or config["data"]["families"][:2])
    inputs: dict[str, str] = {}
    run = _run_record(d, d.name, d.name, chosen, inputs, f"{d.name}/")
    # Sweeps evaluated at several kept checkpoints (evaluate --steps): {sweep: {step: rows}}.
    along: dict[str, dict[int, list[dict]]] = {}
    shared: dict[str, list[dict]] = {}
    for (what, s), f in sorted(best.items(), key=lambda kv: kv[0][1]):
        if what != "examples" and sum(w == what for w, _ in best) > 1:
            along.setdefault(what, {})[s] = _rows(d, f[4], f[5], inputs, f"{d.name}/",
                                                        shared)[0]
    run["along"] = along
    exp = {"name": f"run {d.name}", "doc": "", "mix": mix, "sweeps": sorted(run["rows"])}
    return {"request": {"runs": [{"name": d.name}]}, "experiment": exp, "runs": [run],
            "inputs": inputs, "step": step or 0}
