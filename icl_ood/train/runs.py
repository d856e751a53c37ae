"""Runs trained together in one program: their configs and folders, and how many at a time."""

from __future__ import annotations

import dataclasses
import itertools
import json
from pathlib import Path

import jax

from icl_ood.config import Config, ConfigError, TrainConfig

# Fields in which runs trained together in one program (vmap) may differ: both enter the
# compiled step as traced per-run values (the data key, the mixture weights).
GROUP_FIELDS = ("train.seed", "data.weights")


def run_configs(cfg: Config, run_dir: Path, num_runs: int,
                vary: list[str] | tuple[str, ...] = ()) -> list[tuple[Config, Path]]:
    """The (config, folder) of each run: one run in run_dir, or one per combination of values.

    `vary` holds `FIELD=[v1, v2, ...]` (FIELD one of GROUP_FIELDS, the values a JSON list); each
    entry is an axis and the runs are their product. `num_runs` > 1 adds seeds seed..seed+N-1.
    Folders: run_dir/w<weights joined by ->/seed<S>, e.g. run_dir/w0.5-0.5/seed1.
    """
    if num_runs < 1:
        raise ConfigError(f"--num-runs: must be >= 1, got {num_runs}")
    axes = []
    for spec in vary:
        key, _, raw = spec.partition("=")
        key = key.strip()
        if key not in GROUP_FIELDS:
            raise ConfigError(f"--vary: {key!r} cannot vary between runs trained together; "
                              f"allowed: {', '.join(GROUP_FIELDS)} (train other changes apart)")
        try:
            values = json.loads(raw)
        except json.JSONDecodeError:
            values = None
        if not isinstance(values, list) or not values:
            raise ConfigError(f"--vary {key}: expected a non-empty JSON list of values, "
                              f"e.g. {key}=[[1,0],[0,1]] or {key}=[0,1,2]; got {raw!r}")
        axes.append([f"{key}={json.dumps(v)}" for v in values])
    if num_runs > 1:
        if any(spec.partition("=")[0].strip() == "train.seed" for spec in vary):
            raise ConfigError("--num-runs: give either --num-runs or --vary train.seed=[...]")
        axes.append([f"train.seed={cfg.train.seed + i}" for i in range(num_runs)])
    if not axes:
        return [(cfg, run_dir)]
    runs = []
    for combo in itertools.product(*axes):
        c = cfg.override(list(combo))
        parts = [_folder_part(c, a.partition("=")[0]) for a in combo]
        runs.append((c, run_dir.joinpath(*parts)))
    return runs


def _folder_part(cfg: Config, key: str) -> str:
    if key == "train.seed":
        return f"seed{cfg.train.seed}"
    return "w" + "-".join(f"{w:g}" for w in cfg.data.weights)


def group_config(cfgs: list[Config]) -> Config:
    """The config of the one program that trains `cfgs` together (seed 0, uniform weights).

    Raises ConfigError naming the fields, other than GROUP_FIELDS, in which the configs differ.
    """
    if not cfgs:
        raise ConfigError("train_many: no configs given")
    for i, c in enumerate(cfgs[1:], 1):
        other = [d for d in c.diff(cfgs[0]) if d.split(":")[0] not in GROUP_FIELDS]
        if other:
            raise ConfigError(f"run {i} differs from run 0 in {'; '.join(other)}; runs trained "
                              f"together may differ only in {', '.join(GROUP_FIELDS)}")
    c = cfgs[0]
    n = len(c.data.families)
    return dataclasses.replace(c, train=dataclasses.replace(c.train, seed=0),
                               data=dataclasses.replace(c.data, weights=(1.0 / n,) * n))


def score_steps(steps: int, every: int, per_octave: int) -> tuple[int, ...]:
    """Log-spaced steps: every * 2^(i / per_octave) rounded to multiples of `every` (each once)
    below `steps`, then `steps` itself; (steps,) if per_octave is 0."""
    if per_octave < 0 or every < 1:
        raise ConfigError(f"score steps: need steps_per_octave >= 0 and steps_per_dispatch >= 1,"
                          f" got {per_octave}, {every}")
    out, i = [], 0
    while per_octave and (s := every * round(2 ** (i / per_octave))) < steps:
        if not out or s > out[-1]:
            out.append(s)
        i += 1
    return (*out, steps)


def log_steps(cfg: TrainConfig) -> tuple[int, ...]:
    """The kept log-spaced checkpoint steps of a run: steps_per_dispatch * 2^i below train.steps
    (none unless train.keep_log)."""
    return score_steps(cfg.steps, cfg.steps_per_dispatch, 1)[:-1] if cfg.keep_log else ()


def default_run_batch(num_runs: int) -> int:
    """Runs vectorised together: all of them on an accelerator (small models fill it only
    together), one at a time on a CPU (measured on 2 cores, demo preset, 3 runs: 252 ms per
    step vmapped vs 180 ms one after another, the same as 3 x 60 ms alone)."""
    return 1 if jax.default_backend() == "cpu" else num_runs


def resolve_run_batch(run_batch: int | None, num_runs: int, name: str = "run_batch") -> int:
    """`run_batch` checked (>= 1, ConfigError naming `name`), defaulted and capped at num_runs."""
    if run_batch is not None and run_batch < 1:
        raise ConfigError(f"{name}: must be >= 1, got {run_batch}")
    return min(num_runs, default_run_batch(num_runs) if run_batch is None else run_batch)
