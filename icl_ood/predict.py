"""The Transformer's predictions on prompts: one jitted forward per chunk of prompts, and the
family hints a hinted run's predictors get."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from icl_ood.config import DataConfig
from icl_ood.data import prompts
from icl_ood.tasks import Task


@functools.partial(jax.jit, static_argnums=0)
def _forward(graphdef, state, xs_BxNxD, ys_BxN, hint_F=None):
    if hint_F is not None:
        xs_BxNxD = prompts.with_hint(xs_BxNxD, jnp.broadcast_to(
            hint_F, (xs_BxNxD.shape[0], hint_F.shape[0])))
    return nnx.merge(graphdef, state)(xs_BxNxD, ys_BxN)


def model_predict(model: nnx.Module, xs_BxNxD, ys_BxN, chunk: int | None = None,
                  hint_F: np.ndarray | None = None) -> np.ndarray:
    """preds_BxN of the model: one jitted forward per chunk of prompts (the last one padded).
    `hint_F`: the family hint given with every prompt, for a run trained with data.family_hint.

    Default chunk: 32 prompts on CPU (measured fastest on a 2-core CPU: cache-sized), else 1024.
    """
    chunk = chunk or (32 if jax.default_backend() == "cpu" else 1024)
    graphdef, state = nnx.split(model)
    hint_F = None if hint_F is None else jnp.asarray(hint_F, jnp.float32)
    b = xs_BxNxD.shape[0]
    out = []
    for i in range(0, b, chunk):
        xs, ys = xs_BxNxD[i:i + chunk], ys_BxN[i:i + chunk]
        pad = chunk - xs.shape[0] if b > chunk else 0
        if pad:
            xs = jnp.pad(xs, ((0, pad), (0, 0), (0, 0)))
            ys = jnp.pad(ys, ((0, pad), (0, 0)))
        p = np.asarray(_forward(graphdef, state, xs, ys, hint_F), np.float64)
        out.append(p[:p.shape[0] - pad])
    return np.concatenate(out)


def hints(data_cfg: DataConfig, task: Task) -> dict[str, np.ndarray | None]:
    """The model's predictors on `task` and the family hint (one-hot over the pretraining
    families) each gets: {"model": None} for a run trained without hints. For a hinted run,
    "model" gets the task's family (a zero hint, i.e. none, if the task is not one of the
    pretraining families, e.g. a mixture) and, on a pretraining family, "model_no_hint" a zero
    hint and "model_wrong_hint" the next pretraining family's."""
    if not data_cfg.family_hint:
        return {"model": None}
    eye = np.eye(len(data_cfg.families), dtype=np.float32)
    if task.family not in data_cfg.families:
        return {"model": eye[0] * 0}
    i = data_cfg.families.index(task.family)
    return {"model": eye[i], "model_no_hint": eye[0] * 0,
            "model_wrong_hint": eye[(i + 1) % len(eye)]}


def max_points(model: nnx.Module) -> int:
    """The model's positional capacity in (x, y) pairs."""
    return model.pos.num_embeddings // 2
