"""The `demo` experiment (its doc: summary, command, runtime, result)."""

from icl_ood.experiments.base import BOTH, LS, Experiment

EXPERIMENT = Experiment("demo", """One model pretrained on pure 1-D linear and pure sinusoid prompts
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
mixture error rises past Bayes (figures/compute-h200).""", (BOTH,), data=LS)
