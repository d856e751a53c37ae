"""The simplex decomposition of a predictor into yardsticks (stats.simplex_weights) and its
intervals over prompts (stats.simplex_boot)."""

import numpy as np

from icl_ood.stats import bootstrap_counts, simplex_boot, simplex_weights


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


def test_the_batched_bootstrap_fit_is_the_fit_of_each_resample():
    """simplex_boot equals simplex_weights with each resample's counts as prompt weights, per k:
    an interior blend, a target outside the simplex, and (k = 1) two identical columns, where
    the weights are not unique but the residual is; k = 0: every yardstick predicts 0."""
    rng = np.random.default_rng(0)
    p, n = 300, 4
    basis = rng.normal(size=(p, n, 4))
    basis[:, 0] = 0.0
    basis[:, 1, 3] = basis[:, 1, 0]
    target = 0.6 * basis[..., 0] + 0.4 * basis[..., 1] + 0.3 * rng.normal(size=(p, n))
    target[:, 2] = 1.5 * basis[:, 2, 0] - 0.5 * basis[:, 2, 2]
    counts = bootstrap_counts(p, 30, 3)
    got = simplex_boot(target, basis, counts)
    assert got.shape == (30, n, 4) and np.all(got >= 0)
    np.testing.assert_allclose(got.sum(-1), 1.0, atol=1e-9)
    for c, w_NxM in zip(counts, got):
        for k in (0, 2, 3):
            np.testing.assert_allclose(w_NxM[k], simplex_weights(target[:, k], basis[:, k], c)[0],
                                       atol=1e-7)
        res = [np.sum(c * (target[:, 1] - basis[:, 1] @ w) ** 2) / c.sum()
               for w in (w_NxM[1], simplex_weights(target[:, 1], basis[:, 1], c)[0])]
        assert abs(res[0] - res[1]) <= 1e-9 * res[1]
    np.testing.assert_allclose(got[:, 2], np.tile([1.0, 0, 0, 0], (30, 1)), atol=1e-9)
