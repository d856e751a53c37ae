"""Function families and prompt sampling: shapes, statistics, mixtures, curriculum."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from icl_ood import families
from icl_ood.config import LEGACY_FIELDS, DataConfig
from icl_ood.data import prompts

KEY = jax.random.key(0)


def cfg_for(**kw):
    base = {"dim": 4, "n_points": 16, "families": ("linear",), "weights": (1.0,)}
    base.update(kw)
    priors = {fam: {} for fam in ("sparse_linear", "relu_net", "sinusoid")}
    for old, (fam, fld) in LEGACY_FIELDS.items():  # the families' fields by their short names
        if old in base:
            priors[fam][fld] = base.pop(old)
    cfg = DataConfig(**base)
    for fam, vals in priors.items():
        cfg = cfg.with_prior(fam, **vals) if vals else cfg
    return cfg


@pytest.mark.parametrize("fam", ["linear", "sparse_linear", "relu_net", "sinusoid"])
def test_shapes_dtypes_and_jit(fam):
    cfg = cfg_for(sparsity=2)
    xs, ys, _ = jax.jit(lambda k: prompts.sample_family(k, fam, 8, cfg))(KEY)
    assert xs.shape == (8, 16, 4) and ys.shape == (8, 16)
    assert xs.dtype == ys.dtype == jnp.float32
    assert np.all(np.isfinite(ys))


def test_unknown_family():
    with pytest.raises(ValueError, match="unknown family"):
        families.get("cubic")


def test_linear_statistics():
    xs, ys, p = prompts.sample_family(KEY, "linear", 4096, cfg_for(dim=5))
    assert abs(float(p["w_BxD"].mean())) < 0.05 and abs(float(p["w_BxD"].var()) - 1) < 0.05
    assert abs(float(jnp.mean(ys ** 2)) / 5 - 1) < 0.1  # E[y^2] = d (Garg's normaliser)
    np.testing.assert_allclose(ys, jnp.einsum("bnd,bd->bn", xs, p["w_BxD"]), rtol=1e-5)


def test_sparse_linear_has_exactly_s_nonzeros():
    _, _, p = prompts.sample_family(KEY, "sparse_linear", 512, cfg_for(dim=20, sparsity=3))
    nnz = np.count_nonzero(np.asarray(p["w_BxD"]), axis=1)
    assert np.all(nnz == 3)
    # Every coordinate is chosen about equally often (uniform support).
    freq = np.count_nonzero(np.asarray(p["w_BxD"]), axis=0) / 512
    assert np.all(np.abs(freq - 3 / 20) < 0.06)


def test_relu_net_variance_matches_garg_scaling():
    _, ys, _ = prompts.sample_family(KEY, "relu_net", 2048, cfg_for(dim=8))
    assert abs(float(jnp.mean(ys ** 2)) / 8 - 1) < 0.15  # alpha ~ N(0, 2/r): E[y^2] = d


def test_sinusoid_frequency_recovered_by_fit():
    cfg = cfg_for(dim=1, n_points=64, families=("sinusoid",), x_dist="uniform", x_scale=3.0,
                  sin_freq=(2.5, 2.5), sin_amp_dist="uniform", sin_amp=(1.0, 2.0))
    xs, ys, p = prompts.sample_family(KEY, "sinusoid", 16, cfg)
    grid = np.linspace(0.5, 5.0, 451)
    x, y = np.asarray(xs[..., 0]), np.asarray(ys)
    best = []
    for b in range(16):
        res = []
        for w in grid:
            phi = np.stack([np.sin(w * x[b]), np.cos(w * x[b])], 1)
            coef, *_ = np.linalg.lstsq(phi, y[b], rcond=None)
            res.append(np.sum((phi @ coef - y[b]) ** 2))
        best.append(grid[int(np.argmin(res))])
    np.testing.assert_allclose(best, 2.5, atol=0.011)
    assert np.all((p["amp_B"] >= 1.0) & (p["amp_B"] <= 2.0))


def test_sinusoid_rayleigh_is_gaussian_coefficients():
    # A ~ Rayleigh(s), phase ~ U[0, 2pi): y = b1 sin + b2 cos, b ~ N(0, s^2): E[A^2] = 2 s^2.
    cfg = cfg_for(dim=1, families=("sinusoid",), sin_amp=(0.0, 1.5))
    _, _, p = prompts.sample_family(KEY, "sinusoid", 20000, cfg)
    b1 = np.asarray(p["amp_B"] * jnp.cos(p["phase_B"]))
    b2 = np.asarray(p["amp_B"] * jnp.sin(p["phase_B"]))
    for b in (b1, b2):
        assert abs(b.mean()) < 0.05 and abs(b.var() / 1.5 ** 2 - 1) < 0.05
    assert abs(np.corrcoef(b1, b2)[0, 1]) < 0.03


def test_sinusoid_direction_is_unit_in_d_dims():
    _, _, p = prompts.sample_family(KEY, "sinusoid", 64, cfg_for(dim=6))
    np.testing.assert_allclose(jnp.linalg.norm(p["u_BxD"], axis=1), 1.0, rtol=1e-5)


def test_uniform_x_range_and_noise():
    cfg = cfg_for(dim=2, x_dist="uniform", x_scale=2.0, noise_std=0.5)
    xs, ys, p = prompts.sample_family(KEY, "linear", 2048, cfg)
    assert float(xs.min()) >= -2.0 and float(xs.max()) <= 2.0
    resid = ys - jnp.einsum("bnd,bd->bn", xs, p["w_BxD"])
    assert abs(float(resid.std()) - 0.5) < 0.02


def test_grid_x_is_the_evenly_spaced_grid_in_a_random_order_per_prompt():
    from icl_ood.config import ConfigError
    from icl_ood.tasks import Task, mean_square
    cfg = DataConfig(dim=1, n_points=81, families=("linear",), weights=(1.0,), x_dist="grid",
                     x_scale=1.0)
    xs = np.asarray(prompts.sample_xs(jax.random.key(0), 64, 81, cfg))[..., 0]
    grid = np.linspace(-1.0, 1.0, 81)
    np.testing.assert_allclose(np.sort(xs, axis=1), np.broadcast_to(grid, xs.shape), atol=1e-6)
    assert len({tuple(row) for row in xs.round(6)}) == 64  # each prompt its own order
    assert not np.allclose(xs[:, 0], xs[0, 0])
    # E[y^2] of a line on the grid: the grid's mean square, exactly
    assert mean_square(Task(family="linear"), cfg)[0] == pytest.approx((grid ** 2).mean())
    with pytest.raises(ConfigError, match="grid"):
        DataConfig(dim=2, x_dist="grid")


def test_mixture_proportions():
    cfg = cfg_for(dim=1, families=("linear", "sinusoid", "relu_net"), weights=(0.2, 0.5, 0.3))
    _, _, fam_B = prompts.sample_mixture(KEY, 20000, cfg)
    frac = np.bincount(np.asarray(fam_B), minlength=3) / 20000
    np.testing.assert_allclose(frac, [0.2, 0.5, 0.3], atol=0.015)


def test_mixture_prompts_are_pure_members_of_their_family():
    cfg = cfg_for(dim=1, n_points=8, families=("linear", "sinusoid"), weights=(0.5, 0.5))
    xs, ys, fam_B = prompts.sample_mixture(KEY, 256, cfg)
    x, y = np.asarray(xs[..., 0]), np.asarray(ys)
    lin_resid = np.abs(y - x * (y[:, :1] / x[:, :1])).max(1)  # exact line through the origin
    is_lin = np.asarray(fam_B) == 0
    assert np.all(lin_resid[is_lin] < 1e-3) and np.all(lin_resid[~is_lin] > 1e-3)


def test_convex_combination():
    cfg = cfg_for(dim=1, families=("linear", "sinusoid"), weights=(0.5, 0.5))
    for a in (0.0, 0.3, 1.0):
        xs, ys, (p1, p2) = prompts.sample_convex(KEY, 32, cfg, "linear", "sinusoid", a)
        expect = a * families.get("linear").apply(p1, xs) + (1 - a) * families.get(
            "sinusoid").apply(p2, xs)
        np.testing.assert_allclose(ys, expect, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="convex weight"):
        prompts.sample_convex(KEY, 4, cfg, "linear", "sinusoid", 1.5)


def test_same_key_same_batch_and_different_keys_differ():
    cfg = cfg_for()
    a = prompts.sample_mixture(KEY, 4, cfg)[1]
    b = prompts.sample_mixture(KEY, 4, cfg)[1]
    c = prompts.sample_mixture(jax.random.key(1), 4, cfg)[1]
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_curriculum_schedule_and_masks():
    cfg = cfg_for(dim=20, n_points=41, curriculum=True)
    assert [int(v) for v in prompts.curriculum(jnp.asarray(0), cfg)] == [5, 11]
    assert [int(v) for v in prompts.curriculum(jnp.asarray(4100), cfg)] == [7, 15]
    assert [int(v) for v in prompts.curriculum(jnp.asarray(10 ** 6), cfg)] == [20, 41]
    xs, _ys, _, mask = prompts.training_batch(KEY, jnp.asarray(2000), 8, cfg)
    assert np.all(np.asarray(xs[..., 6:]) == 0) and np.any(np.asarray(xs[..., 5]) != 0)
    assert mask.shape == (8, 41) and int(mask[0].sum()) == 13
    off = prompts.training_batch(KEY, jnp.asarray(0), 8, cfg_for(dim=20, n_points=41))
    assert float(off[3].min()) == 1.0 and np.all(np.asarray(off[0][..., 19]) != 0)


def test_rayleigh_scale_math():
    # The Rayleigh sampler inverts the CDF 1 - exp(-a^2 / 2 s^2); its median is s sqrt(2 ln 2).
    cfg = cfg_for(dim=1, families=("sinusoid",), sin_amp=(0.0, 2.0))
    _, _, p = prompts.sample_family(KEY, "sinusoid", 20000, cfg)
    assert abs(float(jnp.median(p["amp_B"])) - 2.0 * math.sqrt(2 * math.log(2))) < 0.04
