"""Converts folders made by the retired scripts/along_training.py (and `icl-ood replicate
--experiment compute` before commit 1f1cf58) into ordinary replicate folders, once, so that
`icl-ood figures --from` redraws them like any other and nothing reads the old format again.

Old format: along/<run>/ (or a single folder) with rows.jsonl[.gz] (yardstick rows with step null,
the model's "error" rows per step and its "distance" rows to bayes_mixture and task_bayes),
provenance.json, metrics.jsonl, log.txt, along_training.png|pdf, report.md; a study folder adds
experiment.json ("along": true), provenance.json, report.md, along_training.png|pdf.

New format (icl_ood.yardsticks, icl_ood.replicate.stepwise), per run in runs/<run>/:
    config.json, metrics.jsonl                  from the old provenance.json and metrics.jsonl
    provenance.json, log.txt                    the old run's own record, verbatim
    eval/<sweep>.yardsticks.<options>.jsonl.gz  the yardstick rows (step null); the Bayes weights
                                                file is empty (the old format kept none), the
                                                predictions file absent (never kept)
    eval/<sweep>.<options>.yard.step<S>.jsonl.gz  the model's rows at step S, the distance rows
                                                folded into its dist_* columns (normalized, with
                                                the same intervals); excess columns null (the old
                                                format kept no per-prompt errors)
each with a manifest whose inputs name the source file and its sha256 (checkpoint checksum null:
no checkpoints were kept); then experiment.json (format 2, the runs' "along" and "results"
files; a run stopped by its budget marked incomplete), conversion.json (script, commit, date,
sources), and figures/ and report.md redrawn. The old figures and reports are removed (in git
history).

    python scripts/convert_along_folders.py study figures/compute-cpu
    python scripts/convert_along_folders.py runs figures/compute-h200 \\
        paper=figures/compute-h200/paper colab=figures/compute-h200/colab
    python scripts/convert_along_folders.py refer figures/compute-sizes \\
        tiny-s0=../compute-cpu-tiny/runs/seed0 ...   (runs kept in other converted folders)
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import sys
import time
from pathlib import Path

from icl_ood import baselines as bl
from icl_ood import evaluate as ev
from icl_ood import results
from icl_ood import yardsticks as ys
from icl_ood.config import Config

DONE = "reached train.steps"
DIST = {"normalized": "", "norm_lower": "_lower", "norm_upper": "_upper"}


def _gzip(path: Path) -> None:
    """PATH -> PATH.gz (results.read_jsonl and the manifests' checksums read through it)."""
    results.write_bytes(Path(f"{path}.gz"), gzip.compress(path.read_bytes(), mtime=0))
    path.unlink()


def _row(r: dict) -> dict:
    return {f: r.get(f) for f in ev.ROW_FIELDS}


def convert_run(src: Path, dest: Path, name: str) -> dict:
    """One old along folder `src` into the run folder `dest`; returns its experiment.json spec
    parts (results, along, incomplete) and the source record."""
    prov = results.read_json(src / "provenance.json")
    rows_path = src / "rows.jsonl"
    sha = results.sha256(rows_path)
    rows = results.read_jsonl(rows_path)
    cfg = Config.from_dict(prov["config"])
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "config.json").write_text(cfg.to_json())
    for f in ("metrics.jsonl", "provenance.json", "log.txt"):
        if (src / f).exists():
            shutil.copyfile(src / f, dest / f)
    source = {"rows": f"{rows_path.name}{'.gz' if not rows_path.exists() else ''}",
              "sha256": sha, "commit": prov.get("commit"), "command": prov.get("command")}
    along, last = {}, {}
    made = {"commit": prov.get("commit", "unknown"), "converted_at": results.commit()}
    for sweep in dict.fromkeys(r["sweep"] for r in rows):
        options = ev.eval_options(cfg.data, sweep, n_prompts=prov["n_prompts"],
                                  seed=prov["eval_seed"], baselines=tuple(prov["baselines"]))
        yard_p, weights_p, _ = ys.paths(dest, sweep, options)
        yard = [_row(r) for r in rows if r["sweep"] == sweep and r["step"] is None]
        results.write_jsonl(yard_p, yard)
        results.write_jsonl(weights_p, [])
        results.write_manifest(yard_p, "yardsticks",
                               {**ys.inputs(cfg.data, sweep, options), "converted_from": source},
                               [yard_p, weights_p], info={"predictors": bl.describe(
                                   dict.fromkeys(r["predictor"] for r in yard)), **made})
        dist = {(r["task"], r["k"], r["step"], r["versus"]): r for r in rows
                if r["sweep"] == sweep and r.get("metric") == "distance"}
        steps = sorted({r["step"] for r in rows if r["sweep"] == sweep and r["step"] is not None})
        along[sweep] = {}
        for step in steps:
            model = []
            for r in rows:
                if r["sweep"] != sweep or r["step"] != step or r.get("metric") != "error":
                    continue
                new = _row(r)
                for b in ev.DISTANCE_TO:
                    d = dist.get((r["task"], r["k"], step, b))
                    for f, sfx in DIST.items():
                        new[f"dist_{b}{sfx}"] = None if d is None else d[f]
                model.append(new)
            path = ys.step_path(dest, sweep, options, step)
            results.write_jsonl(path, model)
            results.write_manifest(
                path, "evaluate", {**ys.step_inputs(cfg, sweep, options, step, None),
                                   "converted_from": source},
                [path, yard_p, weights_p], rank=[step, prov["n_prompts"]],
                info={"predictors": bl.describe(dict.fromkeys(
                    r["predictor"] for r in model + yard)),
                      "yardsticks": {"rows": yard_p.name, "weights": weights_p.name}, **made})
            _gzip(path)
            along[sweep][str(step)] = [f"eval/{path.name}"]
        _gzip(yard_p)
        last[sweep] = along[sweep][str(steps[-1])]
    reached = prov["steps_reached"]
    incomplete = None if prov["status"] == DONE else {
        "reached": reached, "target": cfg.train.steps,
        "why": (f"stopped by its wall-clock budget of {prov['budget_s']:g} s"
                if prov["status"] == "budget" else f"status {prov['status']!r}")
               + ", scripts/along_training.py"}
    return {"results": last, "along": along, "incomplete": incomplete,
            "config": results.digest(cfg.to_dict()), "source": source, "prov": prov}


def _spec(name: str, label: str, got: dict, data: dict | None = None) -> dict:
    return {"name": name, "label": label, "data": data or {}, "config": got["config"],
            "results": got["results"], "along": got["along"], "incomplete": got["incomplete"]}


def _finish(out: Path, request: dict, doc: str, specs: list[dict], sources: dict,
            provenance: dict) -> None:
    """experiment.json, provenance.json, conversion.json, then figures and report."""
    from icl_ood import figures, report
    results.write_json(out / "experiment.json", {
        **request, "format": results.FORMAT, "doc": doc, "mix": ["linear", "sinusoid"],
        "sweeps": ["convex", "freq"], "runs": specs}, indent=2)
    results.write_json(out / "provenance.json", provenance, indent=2)
    results.write_json(out / "conversion.json", {
        "what": "converted from the along-training format (scripts/along_training.py, "
                "icl_ood/along_training.py) into an ordinary replicate folder",
        "command": " ".join(["python", *sys.argv]), "script": "scripts/convert_along_folders.py",
        "commit": results.commit(), "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "sources": sources,
        "not_kept": "Bayes posterior weights and per-prompt errors (excess columns) were not "
                    "in the old rows; checkpoints were not kept"}, indent=2)
    for old in ("along_training.png", "along_training.pdf", "along_sizes.png", "along_sizes.pdf",
                "report.md"):
        (out / old).unlink(missing_ok=True)
    print(f"{len(figures.draw_all(out))} figure files; {report.write(out)}")


def study(out: Path) -> None:
    """A study folder (experiment.json with "along": true and along/<run>/)."""
    req = results.read_json(out / "experiment.json")
    assert req.get("along"), f"{out}: not an along-training study"
    specs, sources = [], {}
    for spec in req["runs"]:
        got = convert_run(out / spec["along"], out / "runs" / spec["name"], spec["name"])
        specs.append(_spec(spec["name"], spec["label"], got))
        sources[spec["name"]] = {"from": spec["along"], **got["source"]}
    prov = results.read_json(out / "provenance.json", {})
    request = {k: req[k] for k in ("experiment", "preset", "overrides", "n_prompts")}
    _finish(out, request, req.get("doc", ""), specs, sources, prov)
    shutil.rmtree(out / "along")


def runs(out: Path, pairs: list[str]) -> None:
    """Single along folders NAME=DIR gathered into one folder OUT (DIR may lie inside OUT)."""
    specs, sources, provs = [], {}, []
    for pair in pairs:
        name, _, src = pair.partition("=")
        got = convert_run(Path(src), out / "runs" / name, name)
        cfg = got["prov"]["config"]
        m = cfg["model"]
        label = (f"{got['prov'].get('preset', cfg['name'])} ({m['n_layers']} layers, d_model "
                 f"{m['d_model']}), seed {cfg['train']['seed']}")
        specs.append(_spec(name, label, got))
        sources[name] = {"from": src, **got["source"]}
        provs.append(got["prov"])
    p0 = provs[0]
    request = {"experiment": "compute (scripts/along_training.py runs, converted)",
               "preset": ", ".join(p.get("preset", "?") for p in provs), "overrides": [],
               "n_prompts": p0["n_prompts"]}
    prov = {"command": " ; ".join(p["command"] for p in provs),
            "commit": ", ".join(dict.fromkeys(p["commit"] for p in provs)),
            **{k: p0.get(k) for k in ("device", "n_devices", "host", "jax", "python", "date")},
            "seeds": {s["name"]: p["config"]["train"]["seed"] for s, p in zip(specs, provs)}}
    doc = ("Runs of scripts/along_training.py (one model trained under a wall-clock budget and "
           "scored at log-spaced steps on the convex and frequency sweeps against the Bayes "
           "predictors of the pretraining prior and of the task's own prior), converted.")
    _finish(out, request, doc, specs, sources, prov)
    for pair in pairs:  # the old files, now in runs/<name>/ (and in git history)
        src = Path(pair.partition("=")[2]).resolve()
        if src.parent == out.resolve():
            shutil.rmtree(src)
        elif src == out.resolve():
            for f in ("rows.jsonl", "rows.jsonl.gz", "metrics.jsonl", "log.txt"):
                (src / f).unlink(missing_ok=True)


def refer(out: Path, pairs: list[str]) -> None:
    """A folder whose runs live in other converted folders: NAME=RELDIR (relative to OUT)."""
    specs = []
    for pair in pairs:
        name, _, rel = pair.partition("=")
        home = (out / rel).resolve().parent.parent
        exp = results.read_json(home / "experiment.json")
        spec = next(s for s in exp["runs"] if (home / "runs" / s["name"]).resolve()
                    == (out / rel).resolve())
        m = results.read_json(out / rel / "config.json")["model"]
        specs.append({**spec, "name": name, "dir": rel,
                      "label": f"{m['n_layers']} layers, d_model {m['d_model']}, {spec['label']}"})
    request = {"experiment": "compute (runs of other folders)", "preset": "several",
               "overrides": [], "n_prompts": 1280}
    doc = "Runs of the compute study at several model sizes, drawn side by side."
    _finish(out, request, doc, specs, {s["name"]: s["dir"] for s in specs},
            {"command": " ".join(["python", *sys.argv]), "commit": results.commit()})


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("kind", choices=("study", "runs", "refer"))
    p.add_argument("out")
    p.add_argument("pairs", nargs="*", metavar="NAME=DIR")
    a = p.parse_args(argv)
    out = Path(a.out)
    {"study": lambda: study(out), "runs": lambda: runs(out, a.pairs),
     "refer": lambda: refer(out, a.pairs)}[a.kind]()
    return 0


if __name__ == "__main__":
    sys.exit(main())
