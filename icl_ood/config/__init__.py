"""Frozen, validated run configuration: data, model and training sections.

Every invalid value raises `ConfigError` with a one-line message that names the field
and its allowed range, at construction time (so before anything is compiled or written).
Presets live in `icl_ood/presets.py`.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

from icl_ood.config.data import ADDED_FIELDS, LEGACY_FIELDS, LEGACY_SECTIONS, DataConfig
from icl_ood.config.values import (
    ConfigError,
    _check,
    _coerce,
    _finite,
    _flat,
    _parse_value,
    _pos_int,
)

__all__ = ["ADDED_FIELDS", "LEGACY_FIELDS", "LEGACY_SECTIONS", "Config", "ConfigError", "DataConfig",
           "ModelConfig", "TrainConfig"]


# model.init of configs saved before the field existed (and left out of to_dict at this value).
LEGACY_MODEL_INIT = "gpt2"


@dataclass(frozen=True)
class ModelConfig:
    """The GPT-2 style decoder (Garg et al.'s architecture)."""

    n_layers: int = 12
    n_heads: int = 8
    d_model: int = 256
    mlp_ratio: int = 4
    max_points: int = 101  # positional capacity in (x, y) pairs: 2 * max_points tokens
    dtype: str = "float32"  # compute dtype; parameters are always float32
    attention: str = "auto"  # "einsum": two einsums, normalized after the value product
    # (transformer.einsum_attention); "xla" or "cudnn": jax.nn.dot_product_attention's; "auto":
    # einsum on a CPU, cudnn on a GPU for bfloat16 where its fused kernel applies, else xla
    # "reference": Garg et al.'s (their read-in and read-out are PyTorch nn.Linear layers
    # outside GPT-2, so weights and biases ~ U(+-1/sqrt(fan_in))); "gpt2": those two initialised
    # like every GPT-2 weight (normal 0.02, zero bias), this toolkit's model before 2026-12-07.
    # The rest is GPT-2's either way (model/transformer.py). Configs saved without this field
    # are "gpt2" (LEGACY_MODEL_INIT), so every earlier run reproduces.
    init: str = "reference"

    def __post_init__(self) -> None:
        for name in ("n_layers", "n_heads", "d_model", "mlp_ratio", "max_points"):
            _pos_int(getattr(self, name), f"model.{name}")
        _check(self.d_model % self.n_heads == 0, "model.d_model",
               f"must be divisible by model.n_heads ({self.n_heads}), got {self.d_model}")
        _check(self.dtype in ("float32", "bfloat16"), "model.dtype",
               f"must be 'float32' or 'bfloat16', got {self.dtype!r}")
        _check(self.attention in ("auto", "xla", "cudnn", "einsum"), "model.attention",
               f"must be 'auto', 'xla', 'cudnn' or 'einsum', got {self.attention!r}")
        _check(self.init in ("reference", "gpt2"), "model.init",
               f"must be 'reference' or 'gpt2', got {self.init!r}")

    def to_dict(self) -> dict:
        """Fields; `init` left out where it is the legacy "gpt2" (configs saved before the field
        existed read back as "gpt2" and keep their digests)."""
        d = dataclasses.asdict(self)
        if d["init"] == LEGACY_MODEL_INIT:
            del d["init"]
        return d


@dataclass(frozen=True)
class TrainConfig:
    """Optimizer, schedule, length, logging and checkpointing."""

    steps: int = 1000
    batch_size: int = 64
    lr: float = 1e-4
    schedule: str = "constant"  # "constant" (Garg et al.) or "cosine" (linear warmup + cosine decay)
    warmup_steps: int = 0
    grad_clip: float = 0.0  # global-norm clipping; 0 disables
    # AdamW's decoupled weight decay on the weight matrices and embeddings (not biases or
    # LayerNorm scales); 0: Adam, as Garg et al. (left out of saved configs at 0)
    weight_decay: float = 0.0
    steps_per_dispatch: int = 10  # training steps fused into one jitted lax.scan
    log_every: int = 100  # steps per metrics.jsonl record
    ckpt_every: int = 1000  # steps between checkpoints (and one at the end)
    keep_ckpts: int = 3
    # also save and keep forever the checkpoints at steps_per_dispatch * 2^i (evaluation along
    # training: icl-ood evaluate --steps all)
    keep_log: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        _finite(self, "train")
        for name in ("steps", "batch_size", "steps_per_dispatch", "log_every", "ckpt_every",
                     "keep_ckpts"):
            _pos_int(getattr(self, name), f"train.{name}")
        _pos_int(self.warmup_steps, "train.warmup_steps", 0)
        _pos_int(self.seed, "train.seed", 0)
        _check(self.steps < 2**31, "train.steps", f"must be < 2**31 (int32 step), got {self.steps}")
        _check(self.seed < 2**63, "train.seed", f"must be in [0, 2**63), got {self.seed}")
        _check(self.lr > 0, "train.lr", f"must be > 0, got {self.lr}")
        _check(self.schedule in ("constant", "cosine"), "train.schedule",
               f"must be 'constant' or 'cosine', got {self.schedule!r}")
        _check(self.warmup_steps <= self.steps, "train.warmup_steps",
               f"must be <= train.steps ({self.steps}), got {self.warmup_steps}")
        _check(self.warmup_steps < self.steps or self.schedule != "cosine", "train.warmup_steps",
               f"must be < train.steps ({self.steps}) with the cosine schedule, "
               f"got {self.warmup_steps}")
        _check(self.grad_clip >= 0, "train.grad_clip", f"must be >= 0, got {self.grad_clip}")
        _check(self.weight_decay >= 0, "train.weight_decay",
               f"must be >= 0, got {self.weight_decay}")
        for name in ("log_every", "ckpt_every"):
            v = getattr(self, name)
            _check(v % self.steps_per_dispatch == 0, f"train.{name}",
                   f"must be a multiple of train.steps_per_dispatch ({self.steps_per_dispatch}), got {v}")


@dataclass(frozen=True)
class Config:
    """A whole run: name plus the data, model and train sections."""

    name: str = "custom"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        _check(self.data.n_points <= self.model.max_points, "data.n_points",
               f"must be <= model.max_points ({self.model.max_points}), got {self.data.n_points}")

    def to_dict(self) -> dict:
        train = dataclasses.asdict(self.train)
        if train["weight_decay"] == 0.0:  # added later: configs without it stay as they were
            del train["weight_decay"]
        return {"name": self.name, "data": self.data.to_dict(),
                "model": self.model.to_dict(), "train": train}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> Config:
        sections = {}
        for f in dataclasses.fields(cls):
            if f.name == "name":
                continue
            sec_cls = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig}[f.name]
            raw = dict(d.get(f.name, {}))
            if sec_cls is DataConfig:
                sections["data"] = DataConfig.from_dict(raw)
                continue
            if sec_cls is ModelConfig:
                raw.setdefault("init", LEGACY_MODEL_INIT)
            known = {g.name for g in dataclasses.fields(sec_cls)}
            unknown = set(raw) - known
            _check(not unknown, f.name, f"unknown fields {sorted(unknown)}")
            sections[f.name] = sec_cls(**{k: _coerce(sec_cls, k, v, f"{f.name}.{k}")
                                          for k, v in raw.items()})
        return cls(name=d.get("name", "custom"), **sections)

    def override(self, assignments: list[str]) -> Config:
        """Returns a copy with `section.field=value` assignments applied (values parsed as JSON);
        family sections as `data.<family>.<field>=value`."""
        d = self.to_dict()
        d["data"] = self.data.to_dict(full=True)  # every field settable
        d["model"] = dataclasses.asdict(self.model)
        d["train"] = dataclasses.asdict(self.train)
        for a in assignments:
            _check("=" in a, "--set", f"expected section.field=value, got {a!r}")
            key, raw = a.split("=", 1)
            key = key.strip()
            parts = key.split(".")
            if len(parts) == 2 and parts[0] == "data" and parts[1] in LEGACY_FIELDS:
                fam, fld = LEGACY_FIELDS[parts[1]]
                raise ConfigError(f"{key}: renamed; expected data.{fam}.{fld}")
            _check(len(parts) in (2, 3) and parts[0] in ("data", "model", "train"), "--set",
                   f"expected data.X, data.FAMILY.X, model.X or train.X, got {key!r}")
            *path, name = parts
            node = d
            for p in path:
                _check(isinstance(node.get(p), dict), key,
                       f"unknown section {p!r}; known: {sorted(k for k, v in node.items() if isinstance(v, dict))}")
                node = node[p]
            _check(name in node, key, f"unknown field; known: {sorted(node)}")
            node[name] = _parse_value(raw.strip())
        return Config.from_dict(d)

    def diff(self, other: Config) -> list[str]:
        """Fields (section.name) whose values differ between two configs."""
        a, b = ({**_flat(c.to_dict()), **_flat({"model": dataclasses.asdict(c.model)})}
                for c in (self, other))
        return [f"{k}: {b.get(k)!r} -> {v!r}" for k, v in a.items()
                if k != "name" and v != b.get(k)]


def flops_per_step(cfg: Config) -> float:
    """Model FLOPs of one training step, forward + backward (PaLM's convention, Chowdhery et al.
    2022, App. B; icl_ood/benchmark.py's docstring): the benchmarks' MFU, the studies' compute."""
    m, d = cfg.model, cfg.model.d_model
    t = 2 * cfg.data.n_points
    tokens = cfg.train.batch_size * t
    n_matmul = 12 * m.n_layers * d * d + cfg.data.dim * d + d
    return 6.0 * n_matmul * tokens + 12.0 * m.n_layers * t * d * tokens
