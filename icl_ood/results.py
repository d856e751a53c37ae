"""The results layer: how every stage's outputs are written, checked, reused and read back.

Writing. `write_text`, `write_json`, `write_jsonl` and `atomic` write a temporary file beside the
target, fsync it and rename it into place: a crash or Ctrl-C leaves the old file or the new one,
never part of one (nor a file that looks finished).

Manifests. Every output, or group of outputs written together, has a sidecar manifest,
`manifest_path(output)` (`eval/convex.jsonl` -> `eval/convex.manifest.json`):
    {"stage": "evaluate", "inputs": {...}, "outputs": {"convex.jsonl": "<sha256>", ...},
     "rank": [step, n_prompts], "complete": true, "commit": "abc1234+dirty", "written": "..."}
`inputs` holds everything the output was computed from (for an evaluation: a digest of the run's
config, the checkpoint step and a checksum of the evaluated parameters, the evaluation options,
a format version). The manifest is written last, after its outputs, so it vouches for them. A
stage reuses an output only if `matches(output, inputs)`: the manifest is complete, its inputs
equal these, and every file it lists still has its checksum. The code commit is recorded (and
reported), not compared: reusing nothing after every commit would make paper-scale evaluations
unaffordable; a change that alters results bumps the stage's format version in its inputs.

Never lesser. `rank` orders outputs of the same name (e.g. [checkpoint step, prompts per task]);
`check_replace` refuses (ResultsError) to replace an output by one of lower rank unless forced.

Reading. `load(out)` gives figures and the report everything they draw from a replicate folder:
experiment.json (run names, labels, pretraining changes, mix, sweeps, doc, and the result files
of each run) and the files it lists, each checked against its manifest. Anything missing,
incomplete, damaged or from different checkpoints of one run is refused with one line, so a
redraw never depends on today's experiment definitions nor mixes stale with current results.

`load_run(run_dir)` gives the same for a plain run folder (`icl-ood train` + `icl-ood
evaluate`): its metrics and, per sweep, the intact evaluation of its latest evaluated checkpoint
with the most prompts.

Standard library only: every layer may import it (see tests/test_imports.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

FORMAT = 2  # experiment.json format: 2 lists runs, labels, mix, sweeps, doc and result files


class ResultsError(RuntimeError):
    """A result that is missing, incomplete or inconsistent, or a write that would replace a
    fuller result by a lesser one (the message is one line)."""


# ---------------------------------------------------------------------------------- writing

@contextlib.contextmanager
def atomic(path: str | Path) -> Iterator[Path]:
    """Yields a temporary path in the target's folder; renamed to `path` if the block succeeds,
    removed if it fails. For writers that want a file name (e.g. matplotlib's savefig)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        with tmp.open("rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Writes `data` to `path` atomically."""
    with atomic(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | Path, text: str) -> Path:
    return write_bytes(path, text.encode())


def write_json(path: str | Path, obj: Any, indent: int | None = None) -> Path:
    return write_text(path, json.dumps(obj, indent=indent) + ("\n" if indent else ""))


def write_jsonl(path: str | Path, rows: list[dict]) -> Path:
    return write_text(path, "".join(json.dumps(r) + "\n" for r in rows))


def read_json(path: str | Path, default: Any = None) -> Any:
    path = Path(path)
    return json.loads(path.read_text()) if path.exists() else default


def read_jsonl(path: str | Path) -> list[dict]:
    """The records of a JSON lines file (blank lines skipped)."""
    return [json.loads(ln) for ln in Path(path).read_text().splitlines() if ln.strip()]


def sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def digest(obj: Any) -> str:
    """A short hash of a JSON-able value (keys sorted), e.g. of a config dict."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]


def _canonical(obj: Any) -> Any:
    """What `obj` reads back as from JSON (tuples become lists), for comparisons."""
    return json.loads(json.dumps(obj))


# -------------------------------------------------------------------------------- manifests

def manifest_path(path: str | Path) -> Path:
    """The manifest of an output file (`x/name.ext` -> `x/name.manifest.json`), or of a folder
    of outputs (`x/figures/` -> `x/figures/manifest.json`)."""
    path = Path(path)
    if path.is_dir() or not path.suffix:
        return path / "manifest.json"
    return path.with_suffix(".manifest.json")


def write_manifest(path: str | Path, stage: str, inputs: dict, outputs: list[str | Path], *,
                   rank: list | None = None, complete: bool = True,
                   info: dict | None = None) -> Path:
    """Writes the manifest of `path` (after its outputs are in place): stage, inputs, the
    sha256 of each output (names relative to the manifest's folder), rank and `complete`."""
    mpath = manifest_path(path)
    man = {"stage": stage, "inputs": _canonical(inputs),
           "outputs": {str(Path(p).resolve().relative_to(mpath.parent.resolve())): sha256(p)
                       for p in outputs},
           "rank": rank, "complete": complete, "commit": commit(),
           "written": time.strftime("%Y-%m-%d %H:%M:%S %Z"), **(info or {})}
    write_json(mpath, man, indent=2)
    return mpath


def read_manifest(path: str | Path) -> dict | None:
    """The manifest of `path`, or None if there is none or it is unreadable."""
    try:
        man = json.loads(manifest_path(path).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return man if isinstance(man, dict) else None


def intact(man: dict | None, folder: str | Path) -> str | None:
    """None if the manifest is complete and every output it lists has its checksum, else why
    not (a few words)."""
    if man is None:
        return "no manifest"
    if not man.get("complete"):
        return "incomplete"
    for name, want in (man.get("outputs") or {}).items():
        p = Path(folder) / name
        if not p.exists():
            return f"{name} missing"
        if sha256(p) != want:
            return f"{name} changed since it was written"
    return None


def matches(path: str | Path, inputs: dict) -> bool:
    """True if `path`'s outputs are complete, intact and were computed from `inputs`."""
    man = read_manifest(path)
    return (man is not None and intact(man, manifest_path(path).parent) is None
            and man.get("inputs") == _canonical(inputs))


def check_replace(path: str | Path, rank: list, *, force: bool = False,
                  what: str = "", legacy_rank: list | None = None) -> None:
    """Refuses (ResultsError) to replace `path`'s outputs by outputs of a lower `rank`
    (compared as lists, e.g. [checkpoint step, prompts]) unless `force`. `legacy_rank` is the
    rank of an existing output without a manifest (e.g. read from its rows), if known."""
    if force or not Path(path).exists():
        return
    man = read_manifest(path)
    old = man.get("rank") if man and man.get("complete") else legacy_rank
    if old is None:
        return
    if list(rank) < list(old):
        raise ResultsError(f"{path} holds {what or 'results'} of rank {old} (step, ...); "
                           f"refusing to replace it by rank {rank}: give --force to replace it, "
                           "or fix the cause (e.g. an unreadable newest checkpoint)")


# -------------------------------------------------------------------- evaluation file names

# Evaluation options whose results are named `<sweep>.jsonl`; others get a key in the name.
EVAL_DEFAULTS = {"n_prompts": 1280, "seed": 0, "baselines": None, "mix": None, "n_boot": 1000,
                 "opts": None, "at_step": None}


def eval_key(options: dict) -> str:
    """The part of an evaluation's file names that tells its options apart from the defaults
    (EVAL_DEFAULTS), e.g. 'n64.seed1' or '' for the defaults. `options["mix"]` is None unless
    it differs from the run's own first two families; `options["opts"]` is a digest of
    non-default baseline settings."""
    o = {**EVAL_DEFAULTS, **options}
    parts = []
    if o["n_prompts"] != EVAL_DEFAULTS["n_prompts"]:
        parts.append(f"n{o['n_prompts']}")
    if o["seed"] != EVAL_DEFAULTS["seed"]:
        parts.append(f"seed{o['seed']}")
    if o["baselines"] is not None:
        parts.append("bl=" + ("+".join(o["baselines"]) or "none"))
    if o["mix"] is not None:
        parts.append("mix=" + "+".join(o["mix"]))
    if o["n_boot"] != EVAL_DEFAULTS["n_boot"]:
        parts.append(f"boot{o['n_boot']}")
    if o["opts"] is not None:
        parts.append(f"opts={o['opts']}")
    if o["at_step"] is not None:  # a kept checkpoint along training, not the run's latest
        parts.append(f"step{o['at_step']}")
    return ".".join(parts)


def eval_files(sweep: str, options: dict) -> tuple[str, str]:
    """(rows, Bayes weights) file names of a sweep evaluated with `options`, in a run's eval/:
    e.g. ('convex.jsonl', 'convex_bayes_weights.jsonl') for the defaults,
    ('convex.n64.jsonl', 'convex_bayes_weights.n64.jsonl') for 64 prompts per task."""
    key = eval_key(options)
    tail = f".{key}.jsonl" if key else ".jsonl"
    return f"{sweep}{tail}", f"{sweep}_bayes_weights{tail}"


# ----------------------------------------------------------------------------- provenance

def commit() -> str:
    """The git commit of the code (with '+dirty' for uncommitted changes), else $ICL_OOD_COMMIT
    (for copies without .git, e.g. on a remote accelerator), else 'unknown'."""
    if os.environ.get("ICL_OOD_COMMIT"):
        return os.environ["ICL_OOD_COMMIT"]
    root = Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, text=True,
                             capture_output=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               text=True, capture_output=True, check=True).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform
    return platform.processor() or "unknown CPU"


def machine() -> dict:
    """Where results were computed: the accelerator (or "cpu"), device count, host CPU model and
    cores, jax and Python versions (timings and small-model digits depend on all of them)."""
    import platform

    import jax
    dev = jax.devices()[0]
    kind = "" if dev.device_kind.lower() == dev.platform else f": {dev.device_kind}"
    return {"device": dev.platform + kind, "n_devices": jax.device_count(),
            "host": f"{_cpu_model()}, {platform.machine()}, {os.cpu_count()} CPU cores",
            "jax": jax.__version__, "python": platform.python_version()}


# -------------------------------------------------------------------------------- reading

def replicate_command(req: dict, out: str | Path | None = None) -> str:
    """The `icl-ood replicate` command of a request (experiment.json)."""
    cmd = f"icl-ood replicate --experiment {req.get('experiment')} --preset {req.get('preset')}"
    cmd += "".join(f" --set {o}" for o in req.get("overrides", []))
    if req.get("n_prompts", 1280) != 1280:
        cmd += f" --n-prompts {req['n_prompts']}"
    return cmd + (f" --out {out}" if out is not None else "")


def _run_record(d: Path, name: str, label: str, chosen: dict[str, tuple[list[str], dict]],
                inputs: dict, prefix: str) -> dict:
    """One run's entry of `load` / `load_run`: its config, metrics and the result files chosen
    for it ({what: (files, manifest)}, already checked), whose checksums go into `inputs`."""
    rows, weights, examples, n_prompts = {}, {}, [], None
    for what, (files, man) in chosen.items():
        for f in files:
            inputs[prefix + f] = man["outputs"][Path(f).name]
        if what == "examples":
            examples = json.loads((d / files[0]).read_text())["examples"]
            continue
        rows[what] = read_jsonl(d / files[0])
        weights[what] = read_jsonl(d / files[1]) if len(files) > 1 else []
        n_prompts = max(n_prompts or 0, man["inputs"]["options"]["n_prompts"])
    steps = [m["inputs"]["checkpoint"]["step"] for _, m in chosen.values()]
    metrics = read_jsonl(d / "metrics.jsonl") if (d / "metrics.jsonl").exists() else []
    return {"name": name, "label": label, "dir": d,
            "config": json.loads((d / "config.json").read_text()), "metrics": metrics,
            "rows": rows, "weights": weights, "examples": examples,
            "step": max(steps, default=None), "n_prompts": n_prompts,
            "commits": sorted({m.get("commit", "unknown") for _, m in chosen.values()})}


def load(out: str | Path) -> dict:
    """Everything figures and the report draw from a replicate folder, from its saved files only.

    Returns {"request": experiment.json, "experiment": {name, doc, mix, sweeps}, "runs": [...],
    "inputs": {file: sha256 of every result used}, "step": lowest evaluated step}, runs in
    experiment order, each {name, label, dir, config, metrics, rows: {sweep: rows},
    weights: {sweep: rows}, examples, step, n_prompts, commits}. ResultsError (one line) if the
    folder is not a finished replicate folder."""
    out = Path(out)
    path = out / "experiment.json"
    if not path.exists():
        raise ResultsError(f"{out}: no experiment.json; not a replicate folder")
    try:
        req = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ResultsError(f"{path}: unreadable ({e})") from e
    again = f"run `{replicate_command(req, out)}` to compute them"
    if req.get("format") != FORMAT or not isinstance(req.get("runs"), list):
        raise ResultsError(f"{out}: experiment.json of an older icl-ood (format "
                           f"{req.get('format', 1)}, without its runs and result files); "
                           f"nothing redrawn; {again}")
    runs, inputs = [], {"experiment.json": sha256(path)}
    for spec in req["runs"]:
        name, d = spec["name"], out / "runs" / spec["name"]
        if not (d / "config.json").exists():
            raise ResultsError(f"{out}: run {name!r} has no saved results (no "
                               f"runs/{name}/config.json); nothing redrawn; {again}")
        chosen = {}
        for what, files in spec["results"].items():
            first = d / files[0]
            man = read_manifest(first)
            why = intact(man, first.parent)
            if why is not None:
                raise ResultsError(f"{out}: run {name!r}: {files[0]}: {why}; nothing redrawn; "
                                   f"{again}")
            chosen[what] = (files, man)
        steps = {w: m["inputs"]["checkpoint"]["step"] for w, (_, m) in chosen.items()}
        if len(set(steps.values())) > 1:
            raise ResultsError(f"{out}: run {name!r}: results from different checkpoints "
                               f"({', '.join(f'{k} at step {v}' for k, v in steps.items())}); "
                               f"nothing redrawn; {again}")
        runs.append(_run_record(d, name, spec["label"], chosen, inputs, f"runs/{name}/"))
    exp = {k: req.get(k) for k in ("experiment", "doc", "mix", "sweeps")}
    exp["name"] = exp.pop("experiment")
    steps = [r["step"] for r in runs if r["step"] is not None]
    return {"request": req, "experiment": exp, "runs": runs, "inputs": inputs,
            "step": min(steps, default=0)}


def load_run(run_dir: str | Path) -> dict:
    """What `load` gives for a replicate folder, for one plain run folder: its training curves
    and, per sweep, the intact evaluation of the latest evaluated checkpoint with the most
    prompts per task (damaged or incomplete evaluations are skipped). ResultsError if the folder
    is not a run (no config.json) or has neither metrics nor evaluations."""
    d = Path(run_dir)
    if not (d / "config.json").exists():
        raise ResultsError(f"{d}: no config.json; not a run folder")
    config = json.loads((d / "config.json").read_text())
    found = []  # (step, n_prompts, default options first, what, files, manifest)
    for mpath in sorted((d / "eval").glob("*manifest.json")):
        man = read_json(mpath)
        if not isinstance(man, dict) or man.get("stage") != "evaluate" or \
                intact(man, mpath.parent) is not None:
            continue
        inp = man["inputs"]
        files = [f"eval/{n}" for n in man["outputs"]]
        found.append((inp["checkpoint"]["step"], inp["options"].get("n_prompts", 0),
                      eval_key(inp["options"]) == "", inp["what"], files, man))
    if not found and not (d / "metrics.jsonl").exists():
        raise ResultsError(f"{d}: nothing to draw (no metrics.jsonl, no complete evaluation); "
                           f"run `icl-ood evaluate --run {d}` first")
    step = max((f[0] for f in found), default=None)
    best: dict[str, tuple] = {}
    for f in sorted(found, key=lambda f: (f[1], f[2])):
        if f[0] == step:
            best[f[3]] = f  # the most prompts, default options preferred, wins
    chosen = {what: (f[4], f[5]) for what, f in best.items()}
    convex = chosen.get("convex")
    mix = None if convex is None else (convex[1]["inputs"]["options"].get("mix")
                                       or config["data"]["families"][:2])
    inputs: dict[str, str] = {}
    run = _run_record(d, d.name, d.name, chosen, inputs, f"{d.name}/")
    exp = {"name": f"run {d.name}", "doc": "", "mix": mix, "sweeps": sorted(run["rows"])}
    return {"request": {"runs": [{"name": d.name}]}, "experiment": exp, "runs": [run],
            "inputs": inputs, "step": step or 0}
