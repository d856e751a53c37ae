"""The `compute` experiment (its doc: summary, command, runtime, result)."""

from icl_ood.experiments.base import LS, Experiment, Run

EXPERIMENT = Experiment("compute", """Training compute as an axis: two seeds of the preset's model pretrained
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
step 1,600, is lowest at 6,400 (0.019 / 0.018) and rises again (0.069 / 0.0595 at 64,000; k = 10:
0.101 / 0.099 against 0.107; not crossed), while in distribution it keeps falling (a = 0,
k = 40: 0.0008 / 0.0014 at 64,000). At 2 layers, d_model 32 (`--set model.n_layers=2 --set
model.n_heads=2 --set model.d_model=32`, figures/compute-cpu-tiny, 2,430 s per seed on one core)
the same path, later: lowest at 12,800-25,600 (k = 40: 0.033 / 0.034), k = 10: 0.090 / 0.075 at
64,000 (not crossed); a = 0, k = 40: 0.0046 / 0.0038.""",
                        (Run("seed0", "seed 0"), Run("seed1", "seed 1", seed=1)), data=LS,
                        sweeps=("convex", "freq"), train={"schedule": "constant", "lr": 1e-3,
                                                          "steps": 64_000}, steps_per_octave=4,
                        baselines=("least_squares", "sin_ls_known", "task_bayes", "bayes_mixture"))
