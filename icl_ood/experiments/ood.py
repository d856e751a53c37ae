"""The `ood` experiment (its doc: summary, command, runtime, result)."""

from icl_ood.experiments.base import BOTH, LIN, LS, SIN, Experiment

EXPERIMENT = Experiment("ood", """The paper's out-of-distribution comparison [paper]: models pretrained on
linear only, sinusoid only, and both (50/50), tested on f = a*linear + (1-a)*sinusoid and on
sinusoids of other frequencies.

Command: `icl-ood replicate --experiment ood` (demo preset; the paper's scale: `--preset paper`)
Runtime (measured, figures/ood-demo): 957 s on a 2-core AMD EPYC, jax 0.12 (the three runs
trained in 870 s, evaluation 82 s).
Result (demo preset, seed 0, figures/ood-demo, k = 40, normalized by E[y^2]): pretrained on
linear only, error 0.276 at a = 0.5 and 1.050 on pure sinusoids (its Bayes predictor 0.163,
0.653); on sinusoids only, 0.283 on pure lines and 0.263 at a = 0.5; on both, 0.046 at a = 0.5
(Bayes 0.081): single-family models fail outside their family, as the
paper reports.""", (LIN, SIN, BOTH), data=LS)
