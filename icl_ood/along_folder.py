"""What an along-training folder (icl_ood.along_training) holds: the config its run trains,
whether it is finished, and the provenance and rows a resumed run continues from."""

from __future__ import annotations

from pathlib import Path

from icl_ood import results
from icl_ood.config import Config, ConfigError


def along_config(cfg: Config) -> Config:
    """The config a run along training trains: a loss record at every dispatch."""
    return cfg.override([f"train.log_every={cfg.train.steps_per_dispatch}"])


def _saved_config(prov: dict) -> Config | None:
    try:
        return Config.from_dict(prov["config"])
    except (KeyError, TypeError, ConfigError):
        return None


def complete(out: str | Path, cfg: Config, n_prompts: int, seed: int = 0) -> bool:
    """True if OUT holds a finished along-training run of `cfg` (every planned step scored
    with these evaluation options; the run's name may differ)."""
    prov, cfg = results.read_json(Path(out) / "provenance.json", {}), along_config(cfg)
    saved = _saved_config(prov)
    return (prov.get("status") == "reached train.steps"
            and saved is not None and not cfg.diff(saved)
            and prov.get("steps_reached") == cfg.train.steps
            and (prov.get("n_prompts"), prov.get("eval_seed")) == (n_prompts, seed)
            and results.jsonl_exists(Path(out) / "rows.jsonl"))


def continued(out: Path, run_dir: Path, cfg: Config, n_prompts: int, seed: int,
              every: int) -> tuple[dict, list[dict]] | None:
    """(provenance, rows) of the run OUT holds, to continue it; None if there is none to
    continue; ConfigError if OUT or `run_dir` hold something else."""
    from icl_ood.train.rundir import as_trained, extends
    prov = results.read_json(out / "provenance.json")
    if prov is None or not (run_dir / "ckpt").exists():
        return None
    same = {"n_prompts": n_prompts, "eval_seed": seed, "every": every}
    differ = [k for k, v in same.items() if prov.get(k) != v]
    saved = _saved_config(prov)
    if saved is not None:
        cfg = as_trained(cfg, saved, run_dir)
    if saved is None or (cfg.diff(saved) and not extends(cfg, saved, prov.get("steps_reached", 0))):
        differ.append("config")  # (a constant-rate run may be trained to another length)
    if differ or not (out / "rows.jsonl").exists():
        raise ConfigError(f"{out}: holds an along-training run with other "
                          f"{', '.join(differ) or 'files (no rows.jsonl)'}; give a new folder")
    return prov, results.read_jsonl(out / "rows.jsonl")
