"""The `mueller-along` experiment (its doc: summary, command, runtime, result)."""

from icl_ood.experiments.base import Experiment, Run
from icl_ood.experiments.mueller import EXPERIMENT as MUELLER

EXPERIMENT = Experiment("mueller-along", """Mueller et al.'s setting (the `mueller` experiment's
data, families, priors and test functions) scored along training on both test protocols: ours
(`slope`: x ~ U[-1, 1] with the pretraining label noise 0.1) and theirs (`slope_grid`: the 81
evenly spaced x of [-1, 1] in a random order per prompt, noiseless labels), against the exact
Bayes predictor of the pretraining prior: does the model's blend become commitment as training
goes on, and where does its flip slope lie against Bayes's (0.23-0.24 at k = 80)? [ours: a
constant rate 1e-3 after 100 warmup steps, so a checkpoint is a shorter run; 12,800 steps;
the reference initialisation (`model.init="reference"`, figures/reference-parity);
quarter-octave scoring].

Command: `icl-ood replicate --experiment mueller-along` (the demo model; `--preset colab` for
the model of `figures/mueller-cpu`)
Runtime (figures/mueller-along-cpu, one shared core of a 2-core AMD EPYC, jax 0.12, 320 prompts
per task): about 0.22 s per training step and 17 s per scored step; its 2,100 s budget stopped it
at 6,750 steps.
Result (figures/mueller-along-cpu, seed 0, k = 80, m = 0.21 / 0.24 / 0.28, normalized by E[y^2]):
on Mueller et al.'s protocol the model is at 0.154 / 0.145 / 0.137 at 3,200 steps and 0.204 /
0.214 / 0.219 at 6,750, below Bayes (0.360 / 0.421 / 0.332) and flat in m where Bayes flips
between m = 0.23 and 0.24; on ours 0.329 / 0.309 / 0.288, then 0.351 / 0.346 / 0.336 (Bayes
0.448 / 0.472 / 0.437).""",
                        (Run("sine_line", MUELLER.runs[0].label),), data=MUELLER.data,
                        sweeps=("k", "slope", "slope_grid"), mix=None,
                        model={**MUELLER.model, "init": "reference"},
                        baselines=MUELLER.baselines,
                        train={"schedule": "constant", "lr": 1e-3, "steps": 12_800},
                        steps_per_octave=4)
