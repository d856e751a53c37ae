"""Experiments: which models to pretrain and which sweeps to run, as typed values (the stages
that run them: icl_ood.replicate).

An experiment is a list of pretraining runs (typed changes to the DataConfig of a scale preset:
demo, colab or paper) plus the sweeps that evaluate them. Each experiment's doc follows the
presets' contract: a summary, then the command, the measured runtime and the result, with the
provenance of its choices ([paper] Yadlowsky et al. 2023, [garg] Garg et al. 2022, [ours]).
"""

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


# Runs that differ only in mixture weights (or seed) are trained together in one program.
LIN = Run("linear", "pretrained on linear", {"weights": (1.0, 0.0)})
SIN = Run("sinusoid", "pretrained on sinusoid", {"weights": (0.0, 1.0)})
BOTH = Run("both", "pretrained on linear + sinusoid (50/50)")
LS = {"families": ("linear", "sinusoid"), "weights": (0.5, 0.5)}
D20 = {"dim": 20, "x_dist": "gaussian", "x_scale": 1.0}
SIN_ONLY = {"families": ("sinusoid",), "weights": (1.0,)}
D5 = {"dim": 5, "n_points": 21, "x_dist": "gaussian", "x_scale": 1.0, "noise_std": 0.5,
      "families": ("linear", "sparse_linear"), "weights": (0.5, 0.5), "sparse_linear.sparsity": 2}


def selection_runs(second: str) -> tuple[Run, ...]:
    """Linear + `second` at 50/50, 90/10, 99/1, single-family, 50/50 hinted; two seeds each."""
    pair = f"linear + {second}"
    return tuple(Run(f"{name}-s{seed}", f"{label}, seed {seed}", data, seed)
                 for name, label, data in (
                     ("balanced", f"{pair} (50/50)", {}),
                     ("rare10", f"{pair} (90/10)", {"weights": (0.9, 0.1)}),
                     ("rare1", f"{pair} (99/1)", {"weights": (0.99, 0.01)}),
                     ("linear", "linear only", {"weights": (1.0, 0.0)}),
                     (second, f"{second} only", {"weights": (0.0, 1.0)}),
                     ("hinted", f"{pair} (50/50), hinted", {"family_hint": True}))
                 for seed in (0, 1))


EXPERIMENTS = {e.name: e for e in (
    Experiment("demo", """One model pretrained on pure 1-D linear and pure sinusoid prompts
(50/50) [paper: pretrained on both families, never on combinations]; the convex and frequency
sweeps against the Bayes predictor of its pretraining prior and that of the test task's own
prior [ours].

Command: `icl-ood replicate` (the default experiment at the demo preset; `--preset colab` or
`--preset paper` to scale up)
Runtime (measured, figures/demo): 2-core AMD EPYC, jax 0.12: 4 min 27 s on an idle machine
(training 224 s, evaluation 32 s); on a 2-core Intel Xeon with jax 0.10.2 about 9 steps per s.
Result (demo preset, seed 0, figures/demo, the einsum attention of a CPU; errors divided by the
task's E[y^2]): at a = 0.5 the Transformer's normalized error is 0.031 at k = 10 and 0.013 at
k = 40, below the Bayes predictor of its pretraining prior (0.107, 0.081) and far above the
task-prior Bayes predictor (< 1e-14); 0.003 on pure lines and 0.024 on pure sinusoids at k = 10
(seeds 1-3, figures/demo-seeds-einsum: 0.029 to 0.038 at a = 0.5, k = 40). Trained longer, the
mixture error rises past Bayes (figures/compute-h200).""", (BOTH,), data=LS),
    Experiment("ood", """The paper's out-of-distribution comparison [paper]: models pretrained on
linear only, sinusoid only, and both (50/50), tested on f = a*linear + (1-a)*sinusoid and on
sinusoids of other frequencies.

Command: `icl-ood replicate --experiment ood` (demo preset; the paper's scale: `--preset paper`)
Runtime (measured, figures/ood-demo): 957 s on a 2-core AMD EPYC, jax 0.12 (the three runs
trained in 870 s, evaluation 82 s).
Result (demo preset, seed 0, figures/ood-demo, k = 40, normalized by E[y^2]): pretrained on
linear only, error 0.276 at a = 0.5 and 1.050 on pure sinusoids (its Bayes predictor 0.163,
0.653); on sinusoids only, 0.283 on pure lines and 0.263 at a = 0.5; on both, 0.046 at a = 0.5
(Bayes 0.081): single-family models fail outside their family, as the
paper reports.""", (LIN, SIN, BOTH), data=LS),
    Experiment("freq", """Frequency generalization: sinusoid models pretrained at one frequency
(w = 1) [paper] or on a range (w ~ U[0.5, 1.5]) [ours], tested from 4x below to 4x above.

Command: `icl-ood replicate --experiment freq`
Runtime (measured, figures/freq-demo): 808 s on a 2-core AMD EPYC, jax 0.12 (training 400 s
and 327 s, evaluation 77 s).
Result (demo preset, seed 0, figures/freq-demo, k = 40, normalized by E[y^2]): pretrained at
w = 1, error 0.004 there and 0.56 / 1.33 at w = 0.5 / 2 (its Bayes predictor 0.54 / 1.02);
pretrained on w ~ U[0.5, 1.5], at most 0.033 inside the range and below it, but 0.39 at
w = 2.25 and 0.92 at w = 3: no extrapolation to faster functions.""",
               (Run("sin_w1", "pretrained on sinusoids, w = 1", SIN_ONLY),
                Run("sin_range", "pretrained on sinusoids, w ~ U[0.5, 1.5]",
                    {**SIN_ONLY, "sinusoid.freq": (0.5, 1.5)})),
               sweeps=("freq", "k"), mix=None),
    Experiment("selection", """Model selection among dense and sparse linear functions in d = 5
[garg: the families, Gaussian x; ours: d = 5, sparsity 2, label noise 0.5, 21 points, the
weights, no curriculum]: a balanced mixture (50/50), the sparse family rare (90/10, 99/1),
single-family controls, and the balanced mixture with family hints (conditional pretraining
[paper's workshop version]), two seeds each; the cost of model selection (error minus the
family oracle's) next to the same cost for the Bayes predictor of the pretraining prior (exact:
the 10 supports enumerated).

Command: `icl-ood replicate --experiment selection --preset small`
Runtime (measured, figures/selection-small-cpu): 2-core AMD EPYC, jax 0.12, `--cpu-devices 2`:
80 min (the 10 unhinted runs in one program 64 min, the 2 hinted 16 min, evaluation 30 s), with
another training job on the same cores for most of it.
Result (figures/selection-small-cpu, 2,500 steps, normalized by E[y^2], seeds 0 / 1): every
unhinted run but sparse-only seed 0 left the plateau by step 1,000. On sparse prompts the 50/50
models score 0.430 / 0.414 at k = 5 and 0.261 / 0.269 at k = 10, like the linear-only models
(0.434 / 0.475, 0.266 / 0.315) and the dense Bayes predictor (0.425, 0.236), not the Bayes
predictor of their own prior (0.306, 0.181): the mixture costs nothing against single-family
training, but no model uses sparsity (sparse-only seed 1: 0.457, 0.307). The hinted runs were
still on the plateau (0.74 at k = 10, the same with a wrong hint); continued to 6,000 steps
(figures/selection-small-cpu-hinted-6000) seed 0 left it and scores 0.289 on sparse prompts at
k = 10 with the correct hint, 0.293 with a wrong one: the hint is ignored.
Smaller d, where the model does come close to Bayes: the `small` preset's docstring.""",
               selection_runs("sparse"), data=D5, sweeps=("k",), mix=None),
    Experiment("selection-1d", """Model selection between the paper's families in 1-D, lines and
sines, with label noise 0.5 [paper: the families; ours: the noise, 21 points, the weights, 8,000
steps], demo size: the `selection` runs (50/50, sines rare at 90/10 and 99/1, single-family,
hinted; two seeds); cost of selection next to the exact Bayes predictor's (both priors Gaussian).

Command: `icl-ood replicate --experiment selection-1d`
Runtime (measured, figures/selection-1d-cpu): 2-core AMD EPYC, jax 0.12, idle: 63 min (the 10
unhinted runs in one program 52 min, the 2 hinted 11 min, evaluation 30 s).
Result (figures/selection-1d-cpu, normalized by E[y^2], seeds 0 / 1; cost = error minus the
family oracle's): near-optimal at 50/50: at k = 10 0.098 / 0.106 on lines, 0.278 / 0.328 on
sines (Bayes of the prior 0.095, 0.254); cost on sines at k = 2 / 10 0.165 / 0.028 (seed 0;
seed 1 0.178 / 0.078), Bayes 0.142 / 0.004. Rare sines pay more: 90/10 0.100 / 0.117 at
k = 10 (Bayes 0.023); at 99/1 sine prompts get a line fit (cost 0.550 / 0.498, Bayes 0.062;
linear-only 0.584 / 0.580); only seed 0's error rises anywhere beyond the intervals (0.671 at
k = 12 to 0.840 at 16), and over k = 2, 5, 10, 20 it falls. With the correct family hint the
cost nearly vanishes (sines, k = 2: 0.019 / 0.036); without it or with a wrong one the hinted
model fails (cost 0.26 to 1.42).""",
               selection_runs("sinusoid"), data={"n_points": 21, "noise_std": 0.5},
               model={"max_points": 21}, train={"steps": 8_000, "keep_log": True},
               sweeps=("k",), mix=None),
    Experiment("selection-relu", """Model selection between dense linear functions and 2-layer
ReLU nets in d = 5 [garg: the families, Gaussian x; ours: d = 5, width 100, label noise 0.5,
21 points, the weights]: a balanced mixture (50/50), the ReLU family rare (90/10), and a
ReLU-only control, two seeds each, at the `small` preset (batch 256); the cost of selection
(error minus the family oracle's) next to the Bayes predictor of the pretraining prior. The
ReLU family's Bayes predictor is the arc-cosine Gaussian process (its exact covariance, Gaussian
only as the width grows): the yardsticks on ReLU prompts are approximate, and labelled so.

Command: `icl-ood replicate --experiment selection-relu --preset small`
Runtime (measured, figures/selection-relu-small-cpu): 2-core AMD EPYC, jax 0.12,
`--cpu-devices 2`: 42 min for the 6 runs in one program (sharing the cores with another job
throughout), evaluation 20 s.
Result (figures/selection-relu-small-cpu, 2,500 steps, normalized by E[y^2], seeds 0 / 1): on
ReLU prompts the 50/50 models score 0.569 / 0.558 at k = 5 and 0.397 / 0.375 at k = 10, as good
as the ReLU-only models (0.558 / 0.550, 0.424 / 0.413) and near the Bayes predictor of their
prior (0.547, 0.370): selection costs them little more than it costs Bayes (0.055 / 0.044
vs 0.033 at k = 5). On linear prompts they pay more (0.408 at k = 5; Bayes 0.321, oracle 0.255). With ReLU nets
rare (90/10), their error on ReLU prompts at k = 20 stays at 0.300 / 0.309 where Bayes, having
switched family, reaches 0.182. Trained to 10,000 steps (50/50, seed 0; 35 min alone on the 2
cores; figures/selection-relu-small-cpu-10000) the cost on linear prompts keeps falling slowly
(k = 10: 0.130, 0.103, 0.087, 0.076 at 1,600, 3,200, 6,400, 10,000 steps; Bayes 0.008) while on
ReLU prompts it is flat (k = 10: 0.038; Bayes 0.020): not near-optimal at this scale.""",
               tuple(Run(f"{name}-s{seed}", f"{label}, seed {seed}", data, seed)
                     for name, label, data in (
                         ("balanced", "linear + ReLU (50/50)", {}),
                         ("rare10", "linear + ReLU (90/10)", {"weights": (0.9, 0.1)}),
                         ("relu", "ReLU only", {"weights": (0.0, 1.0)}))
                     for seed in (0, 1)),
               data={**{k: v for k, v in D5.items() if not k.startswith("sparse_linear")},
                     "families": ("linear", "relu_net")},
               sweeps=("k",), mix=None,
               baselines=("least_squares", "ridge", "bayes_mixture", "task_bayes")),
    Experiment("mueller", """The setting of the public small-model rerun (Mueller, Hollmann &
Hutter 2024, "sine and line"): 1-D x ~ U[-1, 1], label noise 0.1, a 50/50 prior over lines
y = m x + c ((m, c) on a 41 x 41 grid in [-1, 1]^2) and sines y = c + 0.2 sin(3 pi x) (c on a
101-point grid in [0, 1]) (Mueller et al.'s families, ranges, noise and test functions) [ours:
the grid sizes; our GPT-2 decoder instead of their PFN encoder]; tested on the sums
0.2 sin(3 pi x) + m x (slopes 0, 0.21 to 0.28 in steps of 0.01, 0.5) against the exact Bayes
predictor of the prior (enumeration of the 1,782 functions), and in distribution.

Command: `icl-ood replicate --experiment mueller --preset colab --set train.steps=3000`
(the colab model on a 2-core CPU; drop the --set on a GPU)
Runtime (measured, figures/mueller-cpu): 2-core AMD EPYC, jax 0.12: training 40 min (shared with
another job), evaluation 3.3 min.
Result (figures/mueller-cpu, normalized by E[y^2]): on 0.2 sin(3 pi x) + m x, m = 0.21 to 0.28,
the Transformer (0.31 to 0.41 for k = 10 to 80) beats the Bayes predictor of the prior (0.44 to
0.55), which commits to one family as k grows while the Transformer blends; in distribution it
is worse than Bayes (pure sine: 0.41 vs 0.33 at k = 80).""",
               (Run("sine_line", "pretrained on lines + sines (50/50, Mueller et al.)"),),
               data={"dim": 1, "n_points": 81, "x_dist": "uniform", "x_scale": 1.0,
                     "noise_std": 0.1, "families": ("line", "offset_sine"),
                     "weights": (0.5, 0.5)},
               sweeps=("k", "slope"), mix=None, model={"max_points": 81},
               # The yardsticks of the figures (all baselines would be 14 MB of rows).
               baselines=("least_squares", "bayes_mixture", "task_bayes")),
    Experiment("compute", """Training compute as an axis: two seeds of the preset's model pretrained
on the 1-D linear + sinusoid mixture (50/50) at a constant learning rate after warmup [garg: a
constant rate, so an intermediate checkpoint is a shorter run], each scored at quarter-octave
steps (steps_per_dispatch x 2^(i/4) rounded to its multiples, and the last) on the same convex
and frequency prompts against the Bayes predictors of the pretraining prior and of the task's own
prior (computed once per run), with the model's distance to each [ours: 64,000 steps, 16x the
demo's; rate 1e-3].

Command: `icl-ood replicate --experiment compute` (demo size; `--preset colab` for the next
size; the paper's model and rate: `--preset paper --set train.lr=1e-4` [garg]; on a machine lent
for a fixed time add `--budget-s S`: the study is then marked incomplete where it stopped)
Runtime: the demo size trains at about 75 ms per step on an otherwise idle 2-core AMD EPYC with
jax 0.12 (figures/compute-cpu, at octave steps with the since retired scripts/along_training.py,
two invocations per seed on shared cores: 7,300 and 8,100 s), plus the yardsticks once per run
(about 10 s) and forward passes at the 38 scored steps (not yet measured at this density).
Result (figures/compute-cpu, demo size, 64,000 steps, seeds 0 / 1, normalized by E[y^2]): at
a = 0.5, k = 40 the error falls below the Bayes predictor of the pretraining prior (0.081) by
step 1,600, is lowest at 6,400 (0.019 / 0.018) and rises again (0.069 / 0.060 at 64,000; k = 10:
0.101 / 0.099 against 0.107; not crossed), while in distribution it keeps falling (a = 0,
k = 40: 0.0008 / 0.0014 at 64,000). At 2 layers, d_model 32 (`--set model.n_layers=2 --set
model.n_heads=2 --set model.d_model=32`, figures/compute-cpu-tiny, 2,430 s per seed on one core)
the same path, later: lowest at 12,800-25,600 (k = 40: 0.033 / 0.034), k = 10: 0.090 / 0.075 at
64,000 (not crossed); a = 0, k = 40: 0.0046 / 0.0038.""",
               (Run("seed0", "seed 0"), Run("seed1", "seed 1", seed=1)), data=LS,
               sweeps=("convex", "freq"), train={"schedule": "constant", "lr": 1e-3,
                                                 "steps": 64_000}, steps_per_octave=4,
               baselines=("least_squares", "sin_ls_known", "task_bayes", "bayes_mixture")),
    Experiment("selection-d20", """Model selection at d = 20 with Gaussian x [garg]: dense + sparse
linear, dense linear + 2-layer ReLU nets (50/50) [garg: the families], and the same with the
ReLU family rarely seen (90/10) [ours: the weights]; the Bayes predictor's posterior family
weight vs k.

Command: `icl-ood replicate --experiment selection-d20 --preset paper` (Garg et al. also use their
curriculum: add --set data.curriculum=true)
Runtime: not run yet; the paper preset trains at about 3.7 ms per step on one H100 (bfloat16,
figures/benchmarks_h100.jsonl), about 31 min per model, three models; a 2-core CPU is out of
reach (1.8 s per step).
Result: not run yet (no accelerator time so far).""",
               (Run("linear+sparse", "dense + sparse linear (50/50)",
                    {"families": ("linear", "sparse_linear"), "weights": (0.5, 0.5)}),
                Run("linear+relu", "dense linear + ReLU nets (50/50)",
                    {"families": ("linear", "relu_net"), "weights": (0.5, 0.5)}),
                Run("linear+relu_rare", "dense linear + ReLU nets (90/10)",
                    {"families": ("linear", "relu_net"), "weights": (0.9, 0.1)})),
               data=D20, sweeps=("k",), mix=None),
)}


def get(name: str) -> Experiment:
    if name not in EXPERIMENTS:
        raise ConfigError(f"--experiment: unknown experiment {name!r}; known: {sorted(EXPERIMENTS)}")
    return EXPERIMENTS[name]
