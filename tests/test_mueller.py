"""The setting of Mueller et al. 2024 ("sine and line"): line and offset-sine families on grids,
fixed test functions, and their exact Bayes posterior against brute-force enumeration."""

import math

import jax
import numpy as np
import pytest

from icl_ood import evaluate as ev
from icl_ood.config import ConfigError, DataConfig
from icl_ood.families import function, line, offset_sine

MUELLER = DataConfig(dim=1, n_points=41, families=("line", "offset_sine"), weights=(0.5, 0.5),
                     x_dist="uniform", x_scale=1.0, noise_std=0.1).with_prior(
    "line", grid=9).with_prior("offset_sine", grid=11)


def enumerate_posterior(cfg, xs_PxN, ys_PxN):
    """(preds_PxN, P(sine)_PxN) by summing over every function of both grids in float64."""
    lp, sp = cfg.prior("line"), cfg.prior("offset_sine")
    pool, fam, logw = [], [], []
    for m in np.linspace(*lp.slope, lp.grid):
        for c in np.linspace(*lp.intercept, lp.grid):
            pool.append(m * xs_PxN + c)
            fam.append(0)
            logw.append(math.log(cfg.weights[0] / lp.grid ** 2))
    for c in np.linspace(*sp.offset, sp.grid):
        pool.append(c + sp.amp * np.sin(sp.freq * xs_PxN))
        fam.append(1)
        logw.append(math.log(cfg.weights[1] / sp.grid))
    f_JxPxN, fam, logw = np.stack(pool), np.array(fam), np.array(logw)
    var = cfg.noise_std ** 2
    # log p(y_<k | f_j): sum over the first k points (exclusive prefix sums).
    ll_JxPxN = -0.5 * (ys_PxN - f_JxPxN) ** 2 / var - 0.5 * math.log(2 * math.pi * var)
    prefix = np.concatenate([np.zeros_like(ll_JxPxN[..., :1]), np.cumsum(ll_JxPxN, -1)[..., :-1]],
                            -1)
    score = logw[:, None, None] + prefix
    w = np.exp(score - score.max(0))
    w /= w.sum(0)
    return (w * f_JxPxN).sum(0), w[fam == 1].sum(0)


@pytest.mark.parametrize("expr", ["0.2*sin(3*pi*x)+0.23*x", "0.5*x-0.3"])
def test_grid_bayes_equals_enumeration(expr):
    """bayes_mixture on the two grids (point-mass components with mean functions) equals the
    posterior computed by summing over all 81 + 11 functions (float64, to 1e-9)."""
    task = ev.Task(family="function", priors=(("function.expr", expr),), n_prompts=16)
    res = ev.evaluate(None, MUELLER, task, ("bayes_mixture", "task_bayes"), jax.random.key(0),
                      n_boot=10, keep_preds=True)
    cfg = task.data_config(MUELLER)
    xs, ys = ev.draw(jax.random.key(0), task, cfg)
    xs, ys = np.asarray(xs, np.float64)[..., 0], np.asarray(ys, np.float64)
    assert np.array_equal(ys, res.ys_PxN)
    want, p_sine = enumerate_posterior(MUELLER, xs, ys)
    np.testing.assert_allclose(res.preds["bayes_mixture"], want, atol=1e-9)
    w = {(r["component"], r["k"]): r["weight"] for r in res.weight_rows}
    np.testing.assert_allclose([w[("offset_sine", k)] for k in range(41)], p_sine.mean(0),
                               atol=1e-9)
    # The task's own prior is the function itself: its Bayes predictor is exact, error = noise.
    f = function.Formula(expr)(np.asarray(xs[..., None], np.float32))
    np.testing.assert_allclose(res.preds["task_bayes"], f, atol=1e-6)


def test_gaussian_priors_with_means_equal_enumeration_of_a_fine_grid():
    """dist="gaussian" (Gaussian slope/intercept; Gaussian offset around A sin(w x)): the closed
    form equals Monte Carlo-free brute force on a fine grid within grid error."""
    cfg = MUELLER.with_prior("line", dist="gaussian", slope=(0.0, 1.0)).with_prior(
        "offset_sine", dist="gaussian", offset=(0.2, 0.6))
    task = ev.Task(family="line", n_prompts=8, n_points=12)
    res = ev.evaluate(None, cfg, task, ("bayes_mixture",), jax.random.key(1), n_boot=10,
                      keep_preds=True)
    xs, ys = ev.draw(jax.random.key(1), task, task.data_config(cfg))
    xs, ys = np.asarray(xs, np.float64)[..., 0], np.asarray(ys, np.float64)
    # Quadrature: Gaussian weights on a fine grid of each parameter (+-6 sd).
    pool, fam, logw = [], [], []
    m_grid = np.linspace(0.5 - 3, 0.5 + 3, 241)
    c_grid = np.linspace(-6, 6, 241)
    for m in m_grid:
        lw_m = -0.5 * ((m - 0.5) / 0.5) ** 2
        for c in c_grid:
            pool.append(m * xs + c)
            fam.append(0)
            logw.append(math.log(0.5) + lw_m - 0.5 * c ** 2)
    logw = np.array(logw)
    logw[: len(pool)] -= np.log(np.exp(logw - logw.max()).sum()) + logw.max() - math.log(0.5)
    s_grid = np.linspace(0.4 - 1.2, 0.4 + 1.2, 481)
    lw_s = -0.5 * ((s_grid - 0.4) / 0.2) ** 2
    lw_s -= np.log(np.exp(lw_s).sum())
    for c, lw in zip(s_grid, lw_s):
        pool.append(c + 0.2 * np.sin(3 * np.pi * xs))
        fam.append(1)
    logw = np.concatenate([logw, math.log(0.5) + lw_s])
    f, var = np.stack(pool), 0.01
    ll = -0.5 * (ys - f) ** 2 / var
    prefix = np.concatenate([np.zeros_like(ll[..., :1]), np.cumsum(ll, -1)[..., :-1]], -1)
    score = logw[:, None, None] + prefix
    w = np.exp(score - score.max(0))
    want = (w * f).sum(0) / w.sum(0)
    np.testing.assert_allclose(res.preds["bayes_mixture"], want, atol=2e-3)


def test_bad_formulas_and_dims_are_config_errors():
    with pytest.raises(ConfigError, match="data.function.expr"):
        DataConfig().with_prior("function", expr="__import__('os').system('x')")
    with pytest.raises(ConfigError, match="data.line"):
        DataConfig(dim=2, families=("line",), weights=(1.0,))
    assert line.Line(1, 2) == line.Line(1.0, 2.0) and offset_sine.one is not None
    # Registering families changes no existing config: unused default sections are not written.
    assert "line" not in DataConfig().to_dict() and "line" in DataConfig().to_dict(full=True)


def test_slope_sweep_rows_carry_the_slope_and_both_families_weights():
    from icl_ood.sweeps import slope
    tasks = ev.sweep_tasks(MUELLER, "slope", 32)
    assert [t.name for t in tasks] == [f"m={m:g}" for m in slope.SLOPES]
    res = ev.evaluate(None, MUELLER, tasks[3], ("bayes_mixture", "task_bayes"), jax.random.key(2),
                      n_boot=20)
    assert {r["slope"] for r in res.rows} == {0.23}
    assert res.rows[0]["function"] == "0.2*sin(9.42477796076938*x)+0.23*x"
    w = {(r["component"], r["k"]): r["weight"] for r in res.weight_rows}
    for k in range(41):
        assert w[("line", k)] + w[("offset_sine", k)] == pytest.approx(1.0, abs=1e-9)
    assert w[("line", 0)] == pytest.approx(0.5, abs=1e-9)  # the prior, before any point


def test_mueller_protocol_sweep_is_noiseless_on_the_grid_and_bayes_flips_near_0_24():
    """slope_grid: every prompt's inputs are the n-point grid of [-1, 1] (a permutation), labels
    the function itself; the pretraining prior's Bayes posterior at k = 80 commits to the sine
    below the flip and to the line above it (the issue's enumeration: 1.000 / 0.994 / 0.000 at
    slopes 0.21 / 0.23 / 0.28)."""
    from icl_ood import experiments, sweeps
    exp = experiments.get("mueller")
    cfg = exp.config("tiny", exp.runs[0]).data
    got = {}
    for task in sweeps.get("slope_grid").tasks(cfg, 8):
        m = dict(task.meta)["slope"]
        if m not in (0.21, 0.23, 0.28):
            continue
        tcfg = task.data_config(cfg)
        xs, ys = ev.draw(jax.random.key(3), task, tcfg)
        xs = np.asarray(xs, np.float64)[..., 0]
        np.testing.assert_allclose(np.sort(xs, -1), np.broadcast_to(np.linspace(-1, 1, 81),
                                                                    xs.shape), atol=1e-6)
        assert len({tuple(row) for row in np.argsort(xs, -1)}) > 1  # a random order per prompt
        np.testing.assert_allclose(ys, 0.2 * np.sin(3 * np.pi * xs) + m * xs, atol=1e-5)
        res = ev.evaluate(None, cfg, task, ("bayes_mixture",), jax.random.key(3), n_boot=10)
        got[m] = {r["k"]: r["weight"] for r in res.weight_rows if r["component"] == "offset_sine"}
    assert got[0.21][80] > 0.999 and got[0.23][80] > 0.98 and got[0.28][80] < 1e-3, got
