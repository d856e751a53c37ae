"""GPT-2 style decoder for in-context regression (Garg et al. 2022), in Flax NNX.

Prompt x1, y1, x2, y2, ... becomes 2N tokens: x tokens are x_i, y tokens are (y_i, 0, ..., 0).
A linear read-in, learned positions, pre-LayerNorm blocks (causal attention, 4x GELU MLP),
a final LayerNorm and a linear read-out; the prediction for y_i is read at x_i's token,
so it depends on (x_1, y_1, ..., x_{i-1}, y_{i-1}, x_i) only. No dropout.

Initialisation as in Garg et al.'s PyTorch model (`dtsip/in-context-learning`, on Hugging Face's
GPT2Model; `scripts/reference_parity.py` checks both): GPT-2 inside (weights normal 0.02, the
two residual projections per block 0.02 / sqrt(2 n_layers), biases 0, LayerNorms 1 and 0,
positions normal 0.02); the read-in and read-out are PyTorch nn.Linear layers outside GPT-2,
weights and biases ~ U(+-1/sqrt(fan_in)) (model.init="reference"). model.init="gpt2" gives them
GPT-2's rule instead (this toolkit's model before 2026-12-07).
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
from flax import nnx

from icl_ood.config import ModelConfig

_INIT = nnx.initializers.normal(0.02)  # GPT-2's initializer


def torch_linear_init(fan_in: int) -> tuple:
    """(kernel_init, bias_init) of PyTorch's nn.Linear default: both ~ U(+-1/sqrt(fan_in))
    (kaiming_uniform with a = sqrt(5) for the weight)."""
    bound = fan_in ** -0.5

    def uniform(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -bound, bound)
    return uniform, uniform


def _edge_init(cfg: ModelConfig, fan_in: int) -> dict:
    """nnx.Linear init arguments of the read-in / read-out under cfg.init (module docstring)."""
    if cfg.init == "gpt2":
        return {"kernel_init": _INIT}
    kernel_init, bias_init = torch_linear_init(fan_in)
    return {"kernel_init": kernel_init, "bias_init": bias_init}


def interleave(xs_BxNxD: jax.Array, ys_BxN: jax.Array) -> jax.Array:
    """Tokens z_Bx2NxD = (x1, [y1, 0..], x2, [y2, 0..], ...)."""
    b, n, d = xs_BxNxD.shape
    ys_BxNxD = jnp.concatenate([ys_BxN[..., None], jnp.zeros((b, n, d - 1), ys_BxN.dtype)], -1)
    return jnp.stack([xs_BxNxD, ys_BxNxD], axis=2).reshape(b, 2 * n, d)


def attention_impl(cfg: ModelConfig) -> str:
    """The attention implementation for this config on the default device: "auto" takes the
    two einsums on a CPU (faster there: figures/reference_speed.jsonl), cuDNN's fused kernel
    where it applies (an NVIDIA GPU of compute capability >= 8.0, bfloat16, head dim a multiple
    of 8 up to 128), XLA's dot_product_attention elsewhere (TPU, T4, float32 on a GPU)."""
    if cfg.attention != "auto":
        return cfg.attention
    if jax.default_backend() == "cpu":
        return "einsum"
    if jax.default_backend() != "gpu" or cfg.dtype != "bfloat16":
        return "xla"
    head = cfg.d_model // cfg.n_heads
    try:  # "8.9" on CUDA devices; ROCm devices report no such version
        major = int(str(jax.devices()[0].compute_capability).split(".")[0])
    except (AttributeError, ValueError):
        return "xla"
    return "cudnn" if major >= 8 and head % 8 == 0 and head <= 128 else "xla"


def einsum_attention(q_BxTxHxQ: jax.Array, k_BxSxHxQ: jax.Array, v_BxSxHxQ: jax.Array) -> jax.Array:
    """Causal softmax attention as two einsums, normalized after the value product: the
    B x H x T x S probabilities are never divided (nor their gradient reduced), one pass less
    over the largest array each way; float32 logits and normalizer."""
    t, q = q_BxTxHxQ.shape[1], q_BxTxHxQ.shape[-1]
    s_BxHxTxS = jnp.einsum("bthq,bshq->bhts", q_BxTxHxQ, k_BxSxHxQ,
                           preferred_element_type=jnp.float32) * q ** -0.5
    s_BxHxTxS = jnp.where(jnp.tril(jnp.ones((t, t), bool)), s_BxHxTxS, -jnp.inf)
    p_BxHxTxS = jnp.exp(s_BxHxTxS - jax.lax.stop_gradient(s_BxHxTxS.max(-1, keepdims=True)))
    o_BxTxHxQ = jnp.einsum("bhts,bshq->bthq", p_BxHxTxS.astype(v_BxSxHxQ.dtype), v_BxSxHxQ,
                           preferred_element_type=jnp.float32)
    norm_BxTxH = jnp.transpose(p_BxHxTxS.sum(-1), (0, 2, 1))
    return (o_BxTxHxQ / norm_BxTxH[..., None]).astype(v_BxSxHxQ.dtype)


class Attention(nnx.Module):
    """Causal multi-head self-attention: einsum_attention or jax.nn.dot_product_attention
    (attention_impl)."""

    def __init__(self, cfg: ModelConfig, *, rngs: nnx.Rngs):
        d, dt = cfg.d_model, jnp.dtype(cfg.dtype)
        self.n_heads, self.impl = cfg.n_heads, attention_impl(cfg)
        self.fallback = cfg.attention == "auto"  # to XLA if cuDNN turns the call down
        self.qkv = nnx.Linear(d, 3 * d, kernel_init=_INIT, dtype=dt, rngs=rngs)
        # GPT-2 scales residual projections by 1/sqrt(2 * n_layers).
        out_init = nnx.initializers.normal(0.02 / (2 * cfg.n_layers) ** 0.5)
        self.out = nnx.Linear(d, d, kernel_init=out_init, dtype=dt, rngs=rngs)

    def __call__(self, h_BxTxE: jax.Array) -> jax.Array:
        b, t, d = h_BxTxE.shape
        qkv_BxTx3xHxQ = self.qkv(h_BxTxE).reshape(b, t, 3, self.n_heads, d // self.n_heads)
        q, k, v = (qkv_BxTx3xHxQ[:, :, i] for i in range(3))
        if self.impl == "einsum":
            return self.out(einsum_attention(q, k, v).reshape(b, t, d))
        try:  # cuDNN's checks (library found, shapes supported) run here, at trace time
            o_BxTxHxQ = jax.nn.dot_product_attention(q, k, v, is_causal=True,
                                                     implementation=self.impl)
        except (NotImplementedError, RuntimeError) as e:
            if self.impl != "cudnn" or not self.fallback:
                raise
            warnings.warn(f"cuDNN attention unavailable ({e}); using XLA's", stacklevel=2)
            o_BxTxHxQ = jax.nn.dot_product_attention(q, k, v, is_causal=True, implementation="xla")
        return self.out(o_BxTxHxQ.reshape(b, t, d))


class Block(nnx.Module):
    """Pre-LayerNorm transformer block."""

    def __init__(self, cfg: ModelConfig, *, rngs: nnx.Rngs):
        d, dt = cfg.d_model, jnp.dtype(cfg.dtype)
        self.ln1 = nnx.LayerNorm(d, epsilon=1e-5, dtype=jnp.float32, rngs=rngs)
        self.attn = Attention(cfg, rngs=rngs)
        self.ln2 = nnx.LayerNorm(d, epsilon=1e-5, dtype=jnp.float32, rngs=rngs)
        self.fc = nnx.Linear(d, cfg.mlp_ratio * d, kernel_init=_INIT, dtype=dt, rngs=rngs)
        out_init = nnx.initializers.normal(0.02 / (2 * cfg.n_layers) ** 0.5)
        self.proj = nnx.Linear(cfg.mlp_ratio * d, d, kernel_init=out_init, dtype=dt, rngs=rngs)
        self.dtype = dt

    def __call__(self, h_BxTxE: jax.Array) -> jax.Array:
        h_BxTxE = h_BxTxE + self.attn(self.ln1(h_BxTxE).astype(self.dtype))
        mlp = self.proj(jax.nn.gelu(self.fc(self.ln2(h_BxTxE).astype(self.dtype))))
        return h_BxTxE + mlp  # LayerNorms compute in float32 and cast back


class Transformer(nnx.Module):
    """Maps a prompt (xs_BxNxD, ys_BxN) to predictions preds_BxN of each y_i from its prefix."""

    def __init__(self, cfg: ModelConfig, dim: int, *, rngs: nnx.Rngs):
        d, dt = cfg.d_model, jnp.dtype(cfg.dtype)
        self.dtype = dt
        self.read_in = nnx.Linear(dim, d, dtype=dt, rngs=rngs, **_edge_init(cfg, dim))
        self.pos = nnx.Embed(2 * cfg.max_points, d, embedding_init=_INIT, rngs=rngs)
        self.blocks = nnx.List([Block(cfg, rngs=rngs) for _ in range(cfg.n_layers)])
        self.ln_f = nnx.LayerNorm(d, epsilon=1e-5, dtype=jnp.float32, rngs=rngs)
        self.read_out = nnx.Linear(d, 1, dtype=jnp.float32, rngs=rngs, **_edge_init(cfg, d))

    def __call__(self, xs_BxNxD: jax.Array, ys_BxN: jax.Array) -> jax.Array:
        z_BxTxE = interleave(xs_BxNxD, ys_BxN)
        t = z_BxTxE.shape[1]
        # The residual stream and matmuls use the compute dtype; LayerNorm statistics, the
        # attention softmax, the read-out and the loss are float32.
        h_BxTxE = self.read_in(z_BxTxE.astype(self.dtype))
        h_BxTxE = h_BxTxE + self.pos.embedding[...][:t].astype(self.dtype)
        for block in self.blocks:
            h_BxTxE = block(h_BxTxE)
        out_BxT = self.read_out(self.ln_f(h_BxTxE))[..., 0]
        return out_BxT[:, ::2]  # read at the x tokens


def count_params(model: nnx.Module) -> int:
    """Number of trainable parameters."""
    return sum(x.size for x in jax.tree.leaves(nnx.state(model, nnx.Param)))
