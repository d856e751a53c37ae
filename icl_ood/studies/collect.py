"""Collects a study: its finished tasks' saved results into DIR/report.md and DIR/figures
through the ordinary report and figures layers (the study folder is read as a replicate folder:
experiment.json lists every run, `icl-ood figures --from DIR` redraws it)."""

from __future__ import annotations

import re
import time
from pathlib import Path

from icl_ood import results
from icl_ood.studies import plan as planning
from icl_ood.studies.record import finished
from icl_ood.studies.status import states


def collect(out: str | Path, partial: bool = False, log=print) -> Path:
    """Writes experiment.json, provenance.json, figures/ and report.md of the study in `out`
    from its saved results; ResultsError (one line, nothing written) naming the tasks not done,
    unless `partial` (then the report's first line names them)."""
    out = Path(out)
    request, todo = planning.read_plan(out)
    missing = [st for st in states(out) if st.state != "done"]
    if missing and not partial:
        raise results.ResultsError(
            f"{out}: {len(missing)} of {len(todo)} tasks not done: "
            + "; ".join(f"{s.index} {s.name} ({s.state})" for s in missing)
            + "; nothing collected (sweep submit again, or collect --partial)")
    gone = {s.index for s in missing}
    done = [t for t in todo if t["index"] not in gone]
    if not done:
        raise results.ResultsError(f"{out}: no task is done yet; nothing to collect")
    records = {t["name"]: finished(out, t)[0] for t in done}
    from icl_ood import figures, report
    from icl_ood.replicate import describe
    exp, cfgs = _experiment(request, done)
    body = describe(exp, cfgs, request["n_prompts"])
    for run in body["runs"]:  # steps scored along training: the along figure's rows
        along = _along(records, run)
        if along:
            run["along"] = along
    study = {"grid": request["grid"], "seeds": request["seeds"], "n_tasks": len(todo),
             "missing": [s.name for s in missing],
             "tasks": [{"index": t["index"], "name": t["name"], "hash": t["hash"],
                        "grid": t["grid"], "runs": [planning.run_name(t, s) for s in t["seeds"]]}
                       for t in done]}
    results.write_json(out / "experiment.json", {
        "experiment": request["experiment"], "preset": request["preset"],
        "overrides": request["set"], "n_prompts": request["n_prompts"], **body, "study": study,
        "data_changes": _data_changes(request, cfgs)},
        indent=2)
    results.write_json(out / "provenance.json", {
        "command": f"icl-ood sweep collect {out}" + (" --partial" if partial else ""),
        "experiment": request["experiment"], "preset": request["preset"],
        "overrides": request["set"], "grid": request["grid"], "commit": results.commit(),
        **results.machine(), "seeds": {n: c.train.seed for n, c in cfgs.items()},
        "stages": {f"task/{n}": {"wall_s": r["wall_s"]} for n, r in records.items()},
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")}, indent=2)
    paths = figures.draw_all(out)
    path = report.write(out)
    log(f"collected {len(done)} of {len(todo)} tasks: {len(paths)} figure files in "
        f"{out / 'figures'}, report {path}" + (f"; missing {len(missing)}" if missing else ""))
    return path


def _along(records: dict, run: dict) -> dict:
    """{sweep: {step: [file]}} of a run scored at several steps (its task record's files: the
    model's rows at each kept step, the full evaluation at the last), or {} if scored once."""
    rec = next((r["runs"][run["name"]] for r in records.values() if run["name"] in r["runs"]),
               None)
    if rec is None:
        return {}
    along: dict[str, dict[str, list[str]]] = {}
    for f in rec["results"]:
        name = Path(f).name
        m = re.fullmatch(r"(\w+)\..*\.step(\d+)\.jsonl", name)
        if m:
            along.setdefault(m[1], {})[m[2]] = [f"eval/{name}"]
    if not along:
        return {}
    for sweep, files in run["results"].items():
        if sweep in along:
            along[sweep][str(rec["step"])] = files
    return along


def _data_changes(request: dict, cfgs: dict) -> dict:
    """Experiment.data_changes of the study's first run against the experiment's definition,
    less the data fields the grid varies on purpose."""
    from icl_ood.experiments import get
    varied = {k.split(".")[1] for k in request["grid"] if k.startswith("data.")}
    changes = get(request["experiment"]).data_changes(next(iter(cfgs.values())))
    return {k: v for k, v in changes.items() if k not in varied}


def _experiment(request: dict, done: list[dict]):
    """An Experiment whose runs are the finished tasks' seeds (what replicate.describe lists
    in experiment.json), and their configs by run name."""
    from icl_ood.experiments import Experiment, Run, get
    exp = get(request["experiment"])
    runs, cfgs = [], {}
    for t in done:
        grid = ", ".join(f"{k}={v}" for k, v in t["grid"].items())
        for seed, cfg in zip(t["seeds"], planning.configs(t)):
            name = planning.run_name(t, seed)
            runs.append(Run(name, f"{t['label']}{', ' + grid if grid else ''}, seed {seed}",
                            t["data"], seed))
            cfgs[name] = cfg
    first = done[0]
    study = Experiment(exp.name, exp.doc, tuple(runs), sweeps=tuple(first["sweeps"]),
                       mix=None if first["mix"] is None else tuple(first["mix"]),
                       baselines=None if first["baselines"] is None
                       else tuple(first["baselines"]))
    return study, cfgs

