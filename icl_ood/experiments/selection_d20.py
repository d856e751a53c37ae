"""The `selection-d20` experiment (its doc: summary, command, runtime, result)."""

from icl_ood.experiments.base import D20, Experiment, Run

EXPERIMENT = Experiment("selection-d20", """Model selection at d = 20 with Gaussian x [garg]: dense + sparse
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
                        data=D20, sweeps=("k",), mix=None)
