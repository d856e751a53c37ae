"""Finite task pools: the pool is fixed by its seed and saved with the run; prompts come from it;
dMMSE is the exact Bayes predictor of the pool prior (checked against a direct computation)."""

import dataclasses
import math

import jax
import numpy as np
import pytest

from icl_ood import baselines as bl
from icl_ood import presets
from icl_ood.config import DataConfig
from icl_ood.data import pool, prompts
from icl_ood.families import NotApplicable
from icl_ood.tasks import Task, draw


def linear_pool(m=6, d=3, seed=0, noise=0.0, n=9) -> DataConfig:
    return DataConfig(dim=d, n_points=n, families=("linear",), weights=(1.0,), task_pool=m,
                      task_pool_seed=seed, noise_std=noise)


def test_no_pool_is_the_default_and_leaves_configs_unchanged():
    cfg = presets.get("tiny")
    assert cfg.data.task_pool == 0
    assert "task_pool" not in cfg.data.to_dict() and "task_pool_seed" not in cfg.data.to_dict()
    assert DataConfig.from_dict(cfg.data.to_dict()) == cfg.data
    pooled = dataclasses.replace(cfg.data, task_pool=16)
    assert DataConfig.from_dict(pooled.to_dict()).task_pool == 16


def test_pool_is_fixed_by_its_seed_and_prompts_use_only_its_tasks():
    cfg = linear_pool(m=5)
    w = pool.pool(cfg, "linear")["w_BxD"]
    assert w.shape == (5, 3)
    assert np.array_equal(w, pool.pool(dataclasses.replace(cfg, n_points=20), "linear")["w_BxD"])
    assert not np.allclose(w, pool.pool(dataclasses.replace(cfg, task_pool_seed=1),
                                        "linear")["w_BxD"])
    xs, ys, params = prompts.sample_family(jax.random.key(3), "linear", 200, cfg)
    got = np.asarray(params["w_BxD"])
    match = np.abs(got[:, None, :] - w[None]).max(-1).min(-1)
    assert match.max() == 0.0  # every prompt's function is a pool task
    assert len({tuple(r) for r in got}) == 5  # ... and 200 prompts reach all 5
    np.testing.assert_allclose(np.asarray(ys), np.einsum("bnd,bd->bn", np.asarray(xs), got),
                               rtol=1e-5, atol=1e-5)
    # the continuous prior (task_pool=0 on the task) draws fresh functions
    task = Task(family="linear", task_pool=0, n_prompts=50)
    xs, ys = draw(jax.random.key(0), task, task.data_config(cfg))
    w_fit = np.stack([np.linalg.lstsq(x, y, rcond=None)[0] for x, y in zip(np.asarray(xs),
                                                                            np.asarray(ys))])
    assert np.abs(w_fit[:, None, :] - w[None]).max(-1).min() > 1e-2


def dmmse_direct(xs, ys, tasks, log_prior, nvar):
    """Posterior mean of f(x_k) under a discrete prior, one prompt and one k at a time."""
    b, n = ys.shape
    out = np.zeros((b, n))
    for i in range(b):
        for k in range(n):
            f = np.array([t(xs[i]) for t in tasks])  # M x N
            logp = np.array(log_prior) - ((ys[i, :k] - f[:, :k]) ** 2).sum(1) / (2 * nvar)
            p = np.exp(logp - logp.max())
            out[i, k] = (p / p.sum()) @ f[:, k]
    return out


@pytest.mark.parametrize("noise", [0.5, 0.0])
def test_dmmse_equals_a_direct_computation(noise):
    cfg = linear_pool(m=6, noise=noise)
    base = bl.make("dmmse", cfg, cfg, ("linear",))
    xs, ys = draw(jax.random.key(1), Task(family="linear", n_prompts=12), cfg)
    xs, ys = np.asarray(xs, np.float64), np.asarray(ys, np.float64)
    preds, aux = base.predict(xs, ys)
    w = pool.pool(cfg, "linear")["w_BxD"].astype(np.float64)
    tasks = [lambda x, v=v: x @ v for v in w]
    nvar = noise ** 2 if noise else bl.DEFAULT_OPTIONS.jitter
    want = dmmse_direct(xs, ys, tasks, [-math.log(6)] * 6, nvar)
    np.testing.assert_allclose(preds, want, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(aux["weight:linear"], 1.0)
    if not noise:  # noiseless limit: from one pair on, the prompt's own pool task is found
        np.testing.assert_allclose(preds[:, 1:], ys[:, 1:], atol=1e-6)
        np.testing.assert_allclose(preds[:, 0], 0 * preds[:, 0] + (xs[:, 0] @ w.mean(0)),
                                   atol=1e-12)


def test_dmmse_of_a_two_family_pool_weighs_families_by_prior_and_evidence():
    cfg = DataConfig(dim=1, n_points=7, families=("linear", "sinusoid"), weights=(0.3, 0.7),
                     task_pool=4, noise_std=0.3, x_dist="uniform", x_scale=3.0)
    xs, ys, _ = prompts.sample_mixture(jax.random.key(2), 10, cfg)
    xs, ys = np.asarray(xs, np.float64), np.asarray(ys, np.float64)
    preds, aux = bl.make("dmmse", cfg, cfg, ("linear", "sinusoid")).predict(xs, ys)
    lin, sin = pool.pool(cfg, "linear"), pool.pool(cfg, "sinusoid")
    tasks = [lambda x, v=v: x @ v for v in lin["w_BxD"].astype(np.float64)]
    tasks += [lambda x, a=a, f=f, p=p: a * np.sin(f * x[:, 0] + p)
              for a, f, p in zip(sin["amp_B"], sin["freq_B"], sin["phase_B"])]
    log_prior = [math.log(0.3 / 4)] * 4 + [math.log(0.7 / 4)] * 4
    np.testing.assert_allclose(preds, dmmse_direct(xs, ys, tasks, log_prior, 0.09),
                               rtol=1e-7, atol=1e-7)
    np.testing.assert_allclose(aux["weight:linear"][:, 0], 0.3)
    np.testing.assert_allclose(aux["weight:linear"] + aux["weight:sinusoid"], 1.0)


def test_yardsticks_say_which_prior_they_are_bayes_for():
    cfg = linear_pool(m=8, noise=0.5)
    for name in ("bayes_mixture",):
        with pytest.raises(NotApplicable, match="dmmse"):
            bl.make(name, cfg, cfg, ("linear",))
    with pytest.raises(NotApplicable, match="dmmse"):  # the pool task's prior is the pool
        bl.make("task_bayes", cfg, cfg, ("linear",))
    continuous = Task(family="linear", task_pool=0).data_config(cfg)
    assert continuous.task_pool == 0
    xs, ys = draw(jax.random.key(4), Task(family="linear", n_prompts=8), continuous)
    got = bl.make("bayes_continuous", cfg, continuous, ("linear",)).predict(xs, ys)[0]
    plain = dataclasses.replace(cfg, task_pool=0)
    want = bl.make("bayes_mixture", plain, plain, ("linear",)).predict(xs, ys)[0]
    np.testing.assert_array_equal(got, want)
    # ... which, for Gaussian linear tasks, is ridge with lambda = the noise variance
    ridge = bl.make("ridge", cfg, continuous, ("linear",),
                    dataclasses.replace(bl.DEFAULT_OPTIONS, ridge_lambda=0.25)).predict(xs, ys)[0]
    np.testing.assert_allclose(got, ridge, rtol=1e-8, atol=1e-8)
    for name in ("dmmse", "bayes_continuous"):  # no pool: not applicable
        with pytest.raises(NotApplicable):
            bl.make(name, plain, plain, ("linear",))


def test_the_pool_is_saved_with_the_run_and_read_back_from_it(tmp_path):
    from icl_ood.train import load_model, train
    cfg = presets.get("tiny").override(["data.task_pool=4", "data.task_pool_seed=7",
                                        "data.dim=4", "data.noise_std=0.5", "train.steps=40"])
    train(cfg, tmp_path / "run", progress=False)
    saved = pool.load(tmp_path / "run")
    assert list(saved) == list(cfg.data.families)
    for fam in cfg.data.families:
        for k, v in pool.pool(cfg.data, fam).items():
            assert saved[fam][k].shape[0] == 4
            np.testing.assert_array_equal(saved[fam][k], v)
    # the k sweep scores it on its pool and on the continuous prior, with both Bayes yardsticks;
    # the task-diversity figure and report section read them
    from icl_ood import evaluate, figures, results
    from icl_ood.report import pool as pool_report
    rows = evaluate.run_sweep(tmp_path / "run", "k", n_prompts=64, n_boot=50,
                              baselines=("dmmse", "bayes_continuous")).rows
    got = {(r["task"], r["predictor"]) for r in rows}
    assert got == {(t, p) for t in ("linear", "linear, its pool")
                   for p in ("model", "dmmse", "bayes_continuous")}

    def at(task, pred, k):
        return next(r["normalized"] for r in rows if (r["task"], r["predictor"], r["k"])
                    == (task, pred, k))
    # a pool of 4 tasks is identified from a few pairs; a fresh task is not in it
    assert at("linear, its pool", "dmmse", 4) < 0.5 * at("linear, its pool", "bayes_continuous", 4)
    assert at("linear", "dmmse", 8) > 2 * at("linear", "bayes_continuous", 8)
    paths = figures.draw_run(tmp_path / "run")
    assert any(p.name == "task_diversity.png" for p in paths)
    table = pool_report.section(results.load_run(tmp_path / "run"))
    assert table[0] == "## Task diversity" and any(line.startswith("| 4 |") for line in table)
    # a folder's pool wins over this jax's draws (another version may draw differently)
    other = {f"{fam}/{k}": v + 1.0 for fam, p in saved.items() for k, v in p.items()}
    np.savez(tmp_path / "run" / pool.FILE, **other)
    load_model(tmp_path / "run")
    try:
        for fam, p in saved.items():
            for k, v in pool.pool(cfg.data, fam).items():
                np.testing.assert_array_equal(v, p[k] + 1.0)
    finally:
        pool._SAVED.clear()


def test_half_way_is_interpolated_in_log2_m_where_the_position_first_falls_to_one_half():
    from icl_ood.report.pool import half_way
    # 1.0 at M = 4, 0.0 at M = 64: 0.5 half-way in log2 M, at M = 16
    assert "M ≈ 16 " in half_way({4: 1.0, 64: 0.0, math.inf: 0.0})
    assert "between M = 32 (0.80) and M = 256 (0.40)" in half_way({4: 0.9, 32: 0.8, 256: 0.4})
    assert half_way({4: 0.3}).startswith("already half-way")
    assert half_way({4: 0.9, 32: 0.7}) == "not half-way to ridge at any pool size up to M = 32"
