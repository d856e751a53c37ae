"""Experiments: which models to pretrain and which sweeps to run, as typed values (the stages
that run them: icl_ood.replicate), one module each.

An experiment is a list of pretraining runs (typed changes to the DataConfig of a scale preset:
demo, colab or paper) plus the sweeps that evaluate them. Each experiment's doc follows the
presets' contract: a summary, then the command, the measured runtime and the result, with the
provenance of its choices ([paper] Yadlowsky et al. 2023, [garg] Garg et al. 2022, [ours]).
A new experiment is a module here defining EXPERIMENT, named in MODULES.
"""

from __future__ import annotations

import importlib

from icl_ood.config import ConfigError
from icl_ood.experiments.base import BOTH, LIN, LS, SIN, Experiment, Run

MODULES = ("demo", "ood", "freq", "selection", "selection_1d", "selection_relu", "mueller",
           "mueller_along", "compute", "selection_d20", "task_diversity")
EXPERIMENTS: dict[str, Experiment] = {
    e.name: e for e in (importlib.import_module(f"{__name__}.{m}").EXPERIMENT for m in MODULES)}


def get(name: str) -> Experiment:
    if name not in EXPERIMENTS:
        raise ConfigError(f"--experiment: unknown experiment {name!r}; known: {sorted(EXPERIMENTS)}")
    return EXPERIMENTS[name]


__all__ = ["BOTH", "EXPERIMENTS", "LIN", "LS", "SIN", "Experiment", "Run", "get"]
