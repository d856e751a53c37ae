"""The Transformer: shapes, dtypes, causality by gradients, parameter count."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from icl_ood import presets
from icl_ood.config import ModelConfig
from icl_ood.model import transformer
from icl_ood.model.transformer import Transformer, attention_impl, count_params, interleave

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


@pytest.mark.parametrize("attention", ["xla", "einsum"])
def test_causality_by_gradients(attention):
    """Prediction i depends on x_1..x_i and y_1..y_{i-1}, never on later pairs or on y_i."""
    model = Transformer(dataclasses.replace(SMALL, attention=attention), 2, rngs=nnx.Rngs(0))
    key_x, key_y = jax.random.split(jax.random.key(1))
    xs, ys = jax.random.normal(key_x, (1, 9, 2)), jax.random.normal(key_y, (1, 9))
    # d prediction_i / d (x_j, y_j) for every i, j at once: (N, 1, N, D) and (N, 1, N)
    jx, jy = jax.jit(jax.jacrev(lambda x, y: model(x, y)[0], argnums=(0, 1)))(xs, ys)
    jx, jy = np.abs(np.asarray(jx[:, 0])).sum(-1), np.abs(np.asarray(jy[:, 0]))
    for i in range(xs.shape[1]):
        gx, gy = jx[i], jy[i]
        assert np.all(gx[i + 1:] == 0) and np.all(gy[i:] == 0), f"position {i} sees the future"
        assert gx[i] > 0 and (i == 0 or gy[i - 1] > 0), f"position {i} ignores its context"


@pytest.mark.parametrize("dtype, tol", [("float32", 2e-6), ("bfloat16", 2e-2)])
def test_einsum_attention_equals_dot_product_attention(dtype, tol):
    """The einsum path (normalized after the value product) computes XLA's causal
    dot_product_attention, values and gradients, up to rounding."""
    q, k, v = (jax.random.normal(key, (3, 11, 2, 8)).astype(dtype)
               for key in jax.random.split(jax.random.key(0), 3))
    ref = jax.nn.dot_product_attention(q, k, v, is_causal=True, implementation="xla")
    got = transformer.einsum_attention(q, k, v)
    assert got.dtype == ref.dtype and got.shape == ref.shape
    np.testing.assert_allclose(np.asarray(got, np.float32), np.asarray(ref, np.float32),
                               atol=tol, rtol=tol)
    cos = jnp.cos(jnp.arange(8.0))  # a loss that weighs every output differently
    grads = [jax.grad(lambda q, k, v, f=f: (f(q, k, v).astype(jnp.float32) * cos).sum(),
                      argnums=(0, 1, 2))(q, k, v) for f in (
        lambda q, k, v: jax.nn.dot_product_attention(q, k, v, is_causal=True,
                                                     implementation="xla"),
        transformer.einsum_attention)]
    for a, b in zip(*grads, strict=True):
        np.testing.assert_allclose(np.asarray(b, np.float32), np.asarray(a, np.float32),
                                   atol=5 * tol, rtol=5 * tol)


def test_paper_parameter_count():
    cfg = presets.get("paper")
    model = nnx.eval_shape(lambda: Transformer(cfg.model, 20, rngs=nnx.Rngs(0)))
    n = count_params(model)
    print(f"paper preset parameters (d=20): {n:,}")
    assert 9.4e6 < n < 9.6e6  # ~9.5M, as reported for the paper's model
    # 12 blocks of 12 d^2 + 13 d (weights, biases, 2 LayerNorms) + read-in, positions, final LN, read-out.
    d = 256
    assert n == 12 * (12 * d * d + 13 * d) + (20 * d + d) + 202 * d + 2 * d + (d + 1)


class _FakeGPU:
    def __init__(self, cc):
        self.compute_capability = cc


@pytest.mark.parametrize(("cc", "dtype", "heads", "want"), [
    ("9.0", "bfloat16", 8, "cudnn"),  # H100, head dim 32
    ("8.0", "bfloat16", 8, "cudnn"),  # A100
    ("7.5", "bfloat16", 8, "xla"),  # T4 (Colab's free GPU): no fused kernel
    ("9.0", "float32", 8, "xla"),  # cuDNN's kernel is fp16/bf16 only
    ("9.0", "bfloat16", 2, "cudnn"),  # head dim 128
    ("9.0", "bfloat16", 1, "xla"),  # head dim 256 > 128
    ("gfx90a", "bfloat16", 8, "xla"),  # a ROCm device
])
def test_auto_attention_takes_cudnn_only_where_it_applies(monkeypatch, cc, dtype, heads, want):
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    monkeypatch.setattr(jax, "devices", lambda *a: [_FakeGPU(cc)])
    cfg = ModelConfig(n_heads=heads, d_model=256, dtype=dtype)
    assert attention_impl(cfg) == want
    assert attention_impl(ModelConfig(dtype=dtype, attention="xla")) == "xla"


@pytest.mark.parametrize(("backend", "want"), [("cpu", "einsum"), ("tpu", "xla")])
def test_auto_attention_off_gpus(monkeypatch, backend, want):
    """auto: the einsum path on a CPU (measured faster there), XLA's on a TPU; explicit wins."""
    monkeypatch.setattr(jax, "default_backend", lambda: backend)
    assert attention_impl(ModelConfig()) == want
    assert attention_impl(ModelConfig(attention="xla")) == "xla"


def test_cudnn_turned_down_at_trace_time_falls_back_to_xla(monkeypatch):
    """"auto" picked cuDNN but its checks refuse the call: same outputs as XLA, with a warning;
    an explicit attention="cudnn" still raises."""
    cfg = ModelConfig(n_layers=2, n_heads=2, d_model=16, max_points=12, dtype="bfloat16")
    xs, ys = jax.random.normal(jax.random.key(0), (3, 5, 2)), jnp.ones((3, 5))
    ref = Transformer(dataclasses.replace(cfg, attention="xla"), 2, rngs=nnx.Rngs(0))
    want = jax.jit(lambda x, y: ref(x, y))(xs, ys)
    real = jax.nn.dot_product_attention

    def dpa(*a, implementation=None, **kw):
        if implementation == "cudnn":
            raise NotImplementedError("The head dim must be <= 128")
        return real(*a, implementation=implementation, **kw)
    monkeypatch.setattr(jax.nn, "dot_product_attention", dpa)
    monkeypatch.setattr(transformer, "attention_impl", lambda c: "cudnn")
    model = Transformer(cfg, 2, rngs=nnx.Rngs(0))
    with pytest.warns(UserWarning, match="cuDNN attention unavailable"):
        got = jax.jit(lambda x, y: model(x, y))(xs, ys)
    np.testing.assert_array_equal(got, want)
    explicit = dataclasses.replace(cfg, attention="cudnn")
    with pytest.raises(NotImplementedError):
        Transformer(explicit, 2, rngs=nnx.Rngs(0))(xs, ys)


# The reference's initialisation rules (Garg et al.'s TransformerModel: Hugging Face GPT2Model
# inside, PyTorch nn.Linear read-in and read-out): (kind, scale) per parameter group, where
# "normal" means N(0, scale^2), "uniform" U(-scale, scale), "const" every value == scale.
def reference_rules(cfg: ModelConfig, dim: int) -> dict:
    resid = 0.02 / (2 * cfg.n_layers) ** 0.5
    rules = {("read_in", "kernel"): ("uniform", dim ** -0.5),
             ("read_in", "bias"): ("uniform", dim ** -0.5),
             ("read_out", "kernel"): ("uniform", cfg.d_model ** -0.5),
             ("read_out", "bias"): ("uniform", cfg.d_model ** -0.5),
             ("pos", "embedding"): ("normal", 0.02),
             ("qkv", "kernel"): ("normal", 0.02), ("fc", "kernel"): ("normal", 0.02),
             ("out", "kernel"): ("normal", resid), ("proj", "kernel"): ("normal", resid),
             ("scale",): ("const", 1.0), ("bias",): ("const", 0.0)}
    if cfg.init == "gpt2":  # the earlier model: read-in and read-out like any GPT-2 weight
        rules.update({("read_in", "kernel"): ("normal", 0.02), ("read_in", "bias"): ("const", 0.0),
                      ("read_out", "kernel"): ("normal", 0.02),
                      ("read_out", "bias"): ("const", 0.0)})
    return rules


def _group(path: tuple, rules: dict) -> tuple:
    names = tuple(str(p) for p in path)
    return names[-2:] if names[-2:] in rules else names[-1:]


@pytest.mark.parametrize("size, dim, init", [("demo", 1, "reference"), ("paper", 20, "reference"),
                                             ("demo", 4, "gpt2"), ("paper", 20, "gpt2")])
def test_initialisation_follows_the_reference_rules(size, dim, init):
    """Every parameter group's initial values have the reference's distribution: the scale
    (standard deviation within 5%, or the uniform's bound as the largest |value|), zero mean,
    exact constants for LayerNorms and GPT-2's biases (and the earlier rule under init=gpt2)."""
    from flax.traverse_util import flatten_dict
    cfg = dataclasses.replace(presets.get(size).model, dtype="float32", init=init)
    rules = reference_rules(cfg, dim)
    state = nnx.state(Transformer(cfg, dim, rngs=nnx.Rngs(3)), nnx.Param)
    groups: dict = {}
    for path, v in flatten_dict(nnx.to_pure_dict(state)).items():
        groups.setdefault(_group(path, rules), []).append(np.asarray(v, np.float64).ravel())
    assert set(groups) == set(rules)
    for g, (kind, scale) in rules.items():
        v = np.concatenate(groups[g])
        if kind == "const":
            assert np.all(v == scale), g
            continue
        std = scale if kind == "normal" else scale / 3 ** 0.5
        n = v.size
        if kind == "uniform":
            assert np.abs(v).max() <= scale, g
            assert n < 20 or np.abs(v).max() > scale * (1 - 8 / n), g  # reaches the bound
        if n >= 1000:  # enough values to pin the spread
            assert abs(v.std() / std - 1) < 0.05, (g, v.std(), std)
            assert abs(v.mean()) < 4 * std / n ** 0.5, g
        else:  # a few values: all within the law's range, spread of the right order
            assert 0.3 * std < v.std() < 2 * std or n < 4, (g, v.std(), std)


def test_init_gpt2_differs_only_at_the_read_in_and_read_out():
    """model.init changes the read-in and read-out only: every other parameter is bitwise the
    same for the same key (so "gpt2" reproduces the earlier model)."""
    from flax.traverse_util import flatten_dict
    a, b = (flatten_dict(nnx.to_pure_dict(nnx.state(Transformer(
        dataclasses.replace(SMALL, init=i), 3, rngs=nnx.Rngs(0)), nnx.Param)))
        for i in ("reference", "gpt2"))
    for path in a:
        same = np.array_equal(a[path], b[path])
        assert same != (path[0] in ("read_in", "read_out")), path
