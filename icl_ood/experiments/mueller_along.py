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
Runtime: not measured yet.
Result: not measured yet.""",
                        (Run("sine_line", MUELLER.runs[0].label),), data=MUELLER.data,
                        sweeps=("k", "slope", "slope_grid"), mix=None,
                        model={**MUELLER.model, "init": "reference"},
                        baselines=MUELLER.baselines,
                        train={"schedule": "constant", "lr": 1e-3, "steps": 12_800},
                        steps_per_octave=4)
