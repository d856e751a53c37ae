"""The experiment vocabulary: `Run` (one pretraining run) and `Experiment` (runs plus the sweeps
that evaluate them), and the data changes several experiments share."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from icl_ood import presets
from icl_ood.config import Config, ConfigError


@dataclass(frozen=True)
class Run:
    """One pretraining run of an experiment: a name, a legend label, and the DataConfig fields
    it sets on the preset, as typed values (e.g. {"weights": (1.0, 0.0)}; a family's prior
    field as "<family>.<field>", e.g. {"sinusoid.freq": (0.5, 1.5)})."""

    name: str
    label: str
    data: Mapping[str, Any] = field(default_factory=dict)
    seed: int = 0  # train.seed: data, init and evaluation draws


@dataclass(frozen=True)
class Experiment:
    """Pretraining runs, DataConfig fields shared by every run (set before the run's own), and
    what to evaluate. `doc`: a summary paragraph, then Command:, Runtime:, Result: lines."""

    name: str
    doc: str
    runs: tuple[Run, ...]
    data: Mapping[str, Any] = field(default_factory=dict)
    sweeps: tuple[str, ...] = ("convex", "freq", "k")
    mix: tuple[str, str] | None = ("linear", "sinusoid")  # f = a*f1 + (1-a)*f2 in the a-sweep
    model: Mapping[str, Any] = field(default_factory=dict)  # ModelConfig fields set on the preset
    baselines: tuple[str, ...] | None = None  # the sweeps' baselines (None: all that apply)
    train: Mapping[str, Any] = field(default_factory=dict)  # TrainConfig fields set on the preset
    steps_per_octave: int = 0  # scored at spd * 2^(i / this) and the last (replicate.stepwise)

    @property
    def summary(self) -> str:
        """The doc's first paragraph (one line)."""
        return " ".join(self.doc.strip().split("\n\n")[0].split())

    def changes(self, run: Run) -> dict[str, Any]:
        """The DataConfig fields `run` sets: the experiment's, then the run's own."""
        return {**self.data, **run.data}

    def config(self, preset: str, run: Run, extra: tuple[str, ...] = ()) -> Config:
        """The full config of `run` at scale `preset` (with user overrides `extra` last)."""
        base = presets.get(preset)
        changes = self.changes(run)
        try:
            data = dataclasses.replace(base.data, **{k: v for k, v in changes.items()
                                                     if "." not in k})
        except TypeError as e:  # a field DataConfig does not have
            raise ConfigError(f"experiment {self.name}, run {run.name}: {e}") from e
        for key, value in changes.items():
            if "." in key:
                family, _, fld = key.partition(".")
                data = data.with_prior(family, **{fld: value})
        try:
            model = dataclasses.replace(base.model, **self.model)
        except TypeError as e:
            raise ConfigError(f"experiment {self.name}: {e}") from e
        try:
            train = dataclasses.replace(base.train, **{**self.train, "seed": run.seed})
        except TypeError as e:
            raise ConfigError(f"experiment {self.name}: {e}") from e
        cfg = dataclasses.replace(base, name=f"{self.name}/{run.name}", data=data, model=model,
                                  train=train)
        return cfg.override(list(extra)) if extra else cfg

    def data_changes(self, cfg: Config) -> dict:
        """{field: [value in cfg, value in the definition]} of the data fields where `cfg` (a
        run of this experiment at some preset, with overrides) trains on other data than the
        experiment defines at its demo scale (e.g. `--preset tiny`: Gaussian x, 11 points)."""
        here, ref = cfg.data.to_dict(), self.config("demo", self.runs[0]).data.to_dict()
        return {k: [here.get(k), ref.get(k)] for k in sorted(set(here) | set(ref))
                if here.get(k) != ref.get(k)}


# Runs that differ only in mixture weights (or seed) are trained together in one program.
LIN = Run("linear", "pretrained on linear", {"weights": (1.0, 0.0)})
SIN = Run("sinusoid", "pretrained on sinusoid", {"weights": (0.0, 1.0)})
BOTH = Run("both", "pretrained on linear + sinusoid (50/50)")
LS = {"families": ("linear", "sinusoid"), "weights": (0.5, 0.5)}
D20 = {"dim": 20, "x_dist": "gaussian", "x_scale": 1.0}
SIN_ONLY = {"families": ("sinusoid",), "weights": (1.0,)}
D5 = {"dim": 5, "n_points": 21, "x_dist": "gaussian", "x_scale": 1.0, "noise_std": 0.5,
      "families": ("linear", "sparse_linear"), "weights": (0.5, 0.5), "sparse_linear.sparsity": 2}
