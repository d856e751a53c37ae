"""Manifests (what an output was computed from, with checksums) and evaluation file names."""

from __future__ import annotations

import json
import time
from pathlib import Path

from icl_ood.results.files import (
    ResultsError,
    _canonical,
    jsonl_exists,
    sha256,
    write_bytes,
    write_json,
)
from icl_ood.results.provenance import commit


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


def copy_run_record(run_dir: str | Path, dest: str | Path) -> Path:
    """Copies a run's config.json and metrics.jsonl (as they are now) into `dest`, with a
    manifest naming the run they came from (stage "copy", inputs {"run": its absolute path}),
    so results written elsewhere (evaluate --out) read back like the run's own: load_run(dest).
    Returns the manifest's path."""
    run_dir, dest = Path(run_dir), Path(dest)
    copies = []
    for name in ("config.json", "metrics.jsonl"):
        if (run_dir / name).exists():
            copies.append(write_bytes(dest / name, (run_dir / name).read_bytes()))
    return write_manifest(dest / "config.json", "copy", {"run": str(run_dir.resolve())}, copies)


def read_manifest(path: str | Path) -> dict | None:
    """The manifest of `path`, or None if there is none or it is unreadable."""
    try:
        man = json.loads(manifest_path(path).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return man if isinstance(man, dict) else None


def intact(man: dict | None, folder: str | Path, known: dict | None = None) -> str | None:
    """None if the manifest is complete and every output it lists has its checksum, else why
    not (a few words); `known` ({path: sha256}) keeps checksums across calls (a file shared by
    many manifests, e.g. saved yardsticks, is hashed once)."""
    if man is None:
        return "no manifest"
    if not man.get("complete"):
        return "incomplete"
    for name, want in (man.get("outputs") or {}).items():
        p = Path(folder) / name
        if not jsonl_exists(p):  # a committed folder may hold PATH.gz instead
            return f"{name} missing"
        if known is None:
            got = sha256(p)
        elif (got := known.get(str(p))) is None:
            got = known[str(p)] = sha256(p)
        if got != want:
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
    if o.get("yardsticks"):  # the model's rows only, scored against the saved yardsticks
        parts.append("yard")
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


def yardstick_files(sweep: str, options: dict) -> tuple[str, str, str]:
    """(rows, Bayes weights, predictions) file names of a sweep's yardsticks computed once for
    `options` (at_step ignored), e.g. ('convex.yardsticks.jsonl',
    'convex_bayes_weights.yardsticks.jsonl', 'convex.yardsticks.npz')."""
    key = eval_key({**options, "at_step": None, "yardsticks": False})
    tail = f".yardsticks.{key}" if key else ".yardsticks"
    return f"{sweep}{tail}.jsonl", f"{sweep}_bayes_weights{tail}.jsonl", f"{sweep}{tail}.npz"
