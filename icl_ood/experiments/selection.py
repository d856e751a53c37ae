"""The `selection` experiment (its doc: summary, command, runtime, result)."""

from icl_ood.experiments.base import D5, Experiment, Run


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


EXPERIMENT = Experiment("selection", """Model selection among dense and sparse linear functions in d = 5
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
                        selection_runs("sparse"), data=D5, sweeps=("k",), mix=None)
