"""The stages of an along-training experiment (Experiment.along): each run trained in log-spaced
segments and scored after each (icl_ood.along_training) into OUT/along/<run>/, its checkpoints
in OUT/runs/<run>/, resumed where it stopped; then the study's report and figure."""

from __future__ import annotations

import time
from pathlib import Path

from icl_ood import results
from icl_ood.config import Config
from icl_ood.experiments import Experiment


def describe(exp: Experiment, cfgs: dict[str, Config]) -> dict:
    """experiment.json's description of the study (besides the request)."""
    return {"format": results.FORMAT, "along": True, "doc": exp.doc, "sweeps": list(exp.sweeps),
            "runs": [{"name": r.name, "label": r.label, "seed": r.seed,
                      "config": results.digest(cfgs[r.name].to_dict()),
                      "along": f"along/{r.name}"} for r in exp.runs]}


def run_study(exp: Experiment, cfgs: dict[str, Config], out: Path, request: dict, *,
              progress: bool, log, provenance: dict) -> str | None:
    """Trains and scores every run not finished yet, then writes report and figure; returns
    None, or the status of the run that stopped (e.g. 'interrupted (SIGINT)'), in which case no
    report or figure is written."""
    from icl_ood import along_folder, along_training
    from icl_ood.along_report import study
    n = request["n_prompts"]
    results.write_json(out / "experiment.json", {**request, **describe(exp, cfgs)}, indent=2)
    prov_path = out / "provenance.json"
    prov = results.read_json(prov_path, {"stages": {}})
    stages = len(cfgs) + 1
    for i, (name, cfg) in enumerate(cfgs.items(), 1):
        folder, run_dir = out / "along" / name, out / "runs" / name
        what = f"[{i}/{stages}] train {name} and score it along training"
        if along_folder.complete(folder, cfg, n):
            log(f"{what}: done ({cfg.train.steps} steps), reused")
            continue
        log(f"{what} ({request['preset']} preset, {cfg.train.steps} steps, {n} prompts per task"
            + (", continuing" if (run_dir / "ckpt").exists() else "") + f"; progress in "
            f"{folder / 'log.txt'})")
        t0 = time.perf_counter()
        got = along_training.run(cfg, folder, run_dir, n_prompts=n, quiet=not progress,
                                 resume=True, provenance={**provenance, "run": name})
        key = f"along/{name}"
        wall = time.perf_counter() - t0 + prov["stages"].get(key, {}).get("wall_s", 0.0)
        prov["stages"][key] = {"wall_s": round(wall, 1), "status": got["status"],
                               "steps": got["steps_reached"]}
        results.write_json(prov_path, {**prov, **provenance}, indent=2)
        if got["status"] != "reached train.steps":
            return got["status"]
    log(f"[{stages}/{stages}] report and figure")
    results.write_json(prov_path, {**prov, **provenance}, indent=2)
    paths = study.draw_study(out)
    log(f"done: {len(paths)} figure files and {study.write_study(out)}")
    return None
