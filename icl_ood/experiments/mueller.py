"""The `mueller` experiment (its doc: summary, command, runtime, result)."""

from icl_ood.experiments.base import Experiment, Run

EXPERIMENT = Experiment("mueller", """The setting of the public small-model rerun (Mueller, Hollmann &
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
                        baselines=("least_squares", "bayes_mixture", "task_bayes"))
