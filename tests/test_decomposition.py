"""The simplex decomposition of a predictor into yardsticks (stats.simplex_weights)."""

import numpy as np

from icl_ood.stats import bootstrap_counts, simplex_weights


def test_recovers_the_weights_of_an_exact_blend_of_two_yardsticks_plus_noise():
    rng = np.random.default_rng(0)
    p = 4000
    bayes_mix, bayes_task, ls_lines, ls_sines = rng.normal(size=(4, p))
    model = 0.7 * bayes_mix + 0.3 * bayes_task + 0.05 * rng.normal(size=p)
    w, res = simplex_weights(model, np.stack([bayes_mix, bayes_task, ls_lines, ls_sines], 1))
    np.testing.assert_allclose(w, [0.7, 0.3, 0.0, 0.0], atol=0.01)
    assert abs(res - 0.05 ** 2) < 3e-4  # the residual is the added noise's variance
    # intervals over prompts: the weights of bootstrap resamples cover the truth
    boot = np.array([simplex_weights(model, np.stack([bayes_mix, bayes_task], 1), c)[0]
                     for c in bootstrap_counts(p, 50, 1)])
    lo, hi = np.percentile(boot[:, 0], [5, 95])
    assert lo < 0.7 < hi and hi - lo < 0.02


def test_weights_stay_on_the_simplex_and_an_outside_target_lands_on_a_vertex():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(2, 500))
    w, _ = simplex_weights(1.5 * a - 0.5 * b, np.stack([a, b], 1))  # beyond a: clipped to it
    np.testing.assert_allclose(w, [1.0, 0.0], atol=1e-12)
    w, res = simplex_weights(a, np.stack([a, b, a + b], 1))
    assert w.min() >= 0 and abs(w.sum() - 1) < 1e-12 and res < 1e-20
