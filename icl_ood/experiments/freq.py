"""The `freq` experiment (its doc: summary, command, runtime, result)."""

from icl_ood.experiments.base import SIN_ONLY, Experiment, Run

EXPERIMENT = Experiment("freq", """Frequency generalization: sinusoid models pretrained at one frequency
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
                        sweeps=("freq", "k"), mix=None)
