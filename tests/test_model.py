"""The Transformer: shapes, dtypes, causality by gradients, parameter count."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from icl_ood import presets
from icl_ood.config import ModelConfig
from icl_ood.model.transformer import Transformer, count_params, interleave

SMALL = ModelConfig(n_layers=2, n_heads=2, d_model=16, max_points=12)


def test_interleave():
    xs = jnp.arange(12.0).reshape(1, 4, 3)
    ys = jnp.asarray([[10.0, 11, 12, 13]])
    z = interleave(xs, ys)
    assert z.shape == (1, 8, 3)
    np.testing.assert_array_equal(z[0, 0], [0, 1, 2])
    np.testing.assert_array_equal(z[0, 1], [10, 0, 0])
    np.testing.assert_array_equal(z[0, 7], [13, 0, 0])


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_shapes_and_dtypes(dtype):
    cfg = ModelConfig(n_layers=2, n_heads=2, d_model=16, max_points=12, dtype=dtype)
    model = Transformer(cfg, 3, rngs=nnx.Rngs(0))
    preds = model(jnp.ones((5, 7, 3)), jnp.ones((5, 7)))
    assert preds.shape == (5, 7) and preds.dtype == jnp.float32
    params = nnx.state(model, nnx.Param)
    assert all(p.dtype == jnp.float32 for p in jax.tree.leaves(params))


def test_causality_by_gradients():
    """Prediction i depends on x_1..x_i and y_1..y_{i-1}, never on later pairs or on y_i."""
    model = Transformer(SMALL, 2, rngs=nnx.Rngs(0))
    key_x, key_y = jax.random.split(jax.random.key(1))
    xs, ys = jax.random.normal(key_x, (1, 9, 2)), jax.random.normal(key_y, (1, 9))
    n = xs.shape[1]
    for i in range(n):
        gx, gy = jax.grad(lambda x, y, i=i: model(x, y)[0, i], argnums=(0, 1))(xs, ys)
        gx, gy = np.abs(np.asarray(gx[0])).sum(-1), np.abs(np.asarray(gy[0]))
        assert np.all(gx[i + 1:] == 0) and np.all(gy[i:] == 0), f"position {i} sees the future"
        assert gx[i] > 0 and (i == 0 or gy[i - 1] > 0), f"position {i} ignores its context"


def test_paper_parameter_count():
    cfg = presets.get("paper")
    model = nnx.eval_shape(lambda: Transformer(cfg.model, 20, rngs=nnx.Rngs(0)))
    n = count_params(model)
    print(f"paper preset parameters (d=20): {n:,}")
    assert 9.4e6 < n < 9.6e6  # ~9.5M, as reported for the paper's model
    # 12 blocks of 12 d^2 + 13 d (weights, biases, 2 LayerNorms) + read-in, positions, final LN, read-out.
    d = 256
    assert n == 12 * (12 * d * d + 13 * d) + (20 * d + d) + 202 * d + 2 * d + (d + 1)
