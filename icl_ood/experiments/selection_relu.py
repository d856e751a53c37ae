"""The `selection-relu` experiment (its doc: summary, command, runtime, result)."""

from icl_ood.experiments.base import D5, Experiment, Run

EXPERIMENT = Experiment("selection-relu", """Model selection between dense linear functions and 2-layer
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
                        baselines=("least_squares", "ridge", "bayes_mixture", "task_bayes"))
