"""Frozen, validated run configuration: data, model and training sections.

Every invalid value raises `ConfigError` with a one-line message that names the field
and its allowed range, at construction time (so before anything is compiled or written).
Presets live in `icl_ood/presets.py`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import typing
from dataclasses import dataclass, field
from typing import Any

from icl_ood.data import families


class ConfigError(ValueError):
    """An invalid configuration value (the message names the field)."""


def _check(ok: bool, name: str, msg: str) -> None:
    if not ok:
        raise ConfigError(f"{name}: {msg}")


def _finite(section: Any) -> None:
    """Rejects NaN/inf in every float field of a section."""
    for f in dataclasses.fields(section):
        if f.name == "priors":
            continue
        v = getattr(section, f.name)
        vals = v if isinstance(v, tuple) else (v,)
        for x in vals:
            if isinstance(x, float):
                _check(math.isfinite(x), f"{_SECTION[type(section)]}.{f.name}",
                       f"must be finite, got {x}")


def _pos_int(v: Any, name: str, lo: int = 1) -> None:
    _check(isinstance(v, int) and not isinstance(v, bool) and v >= lo, name,
           f"must be an integer >= {lo}, got {v!r}")


def _range(v: tuple, name: str, lo_min: float, strict: bool = False) -> None:
    _check(isinstance(v, tuple) and len(v) == 2, name, f"must be a pair (lo, hi), got {v!r}")
    lo, hi = v
    ok = lo > lo_min if strict else lo >= lo_min
    _check(ok and hi >= lo, name,
           f"must satisfy {lo_min} {'<' if strict else '<='} lo <= hi, got {v!r}")


# Flat field names of configs written before family sections (config.json of older runs).
LEGACY_FIELDS = {"sparsity": ("sparse_linear", "sparsity"), "relu_width": ("relu_net", "width"),
                 "sin_amp_dist": ("sinusoid", "amp_dist"), "sin_amp": ("sinusoid", "amp"),
                 "sin_freq": ("sinusoid", "freq"), "sin_phase": ("sinusoid", "phase")}


# The families registered when config.json files first had sections: their sections are always
# written, as they were then (other families' only where used or changed).
LEGACY_SECTIONS = ("linear", "relu_net", "sinusoid", "sparse_linear")
# Fields added after results were saved, with their defaults: left out of to_dict (and so of
# config digests and config.json) at the default, so earlier runs and results stay valid.
ADDED_FIELDS = {"family_hint": False}


@dataclass(frozen=True)
class DataConfig:
    """What prompts look like: x distribution, function families and the pretraining mixture.

    Each registered family's prior parameters form a section `data.<family>` (e.g.
    `data.sinusoid.freq`), read as `cfg.sinusoid` and changed with `with_prior`; see
    icl_ood/data/families/ for the families and their fields.
    """

    dim: int = 1  # input dimension d
    n_points: int = 41  # (x, y) pairs per training prompt
    families: tuple[str, ...] = ("linear", "sinusoid")  # pretraining mixture components
    weights: tuple[float, ...] = (0.5, 0.5)  # each prompt's family ~ Categorical(weights)
    x_dist: str = "gaussian"  # "gaussian": N(0, x_scale^2 I); "uniform": U[-x_scale, x_scale]^d
    x_scale: float = 1.0
    noise_std: float = 0.0  # Gaussian label noise sigma added to every y
    curriculum: bool = False  # Garg et al.'s curriculum over dims and points
    curriculum_dim_start: int = 5
    curriculum_points_start: int = 11
    curriculum_every: int = 2000  # steps between curriculum increments
    curriculum_dim_inc: int = 1
    curriculum_points_inc: int = 2
    # Conditional pretraining: every x token also carries the prompt's family, one-hot over
    # `families` (the model's input width becomes dim + len(families)); see evaluate.hints.
    family_hint: bool = False
    # (family, prior section) for every registered family, filled with defaults; set them
    # as data.<family>.<field> (or with_prior), not here.
    priors: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        _finite(self)
        _pos_int(self.dim, "data.dim")
        _pos_int(self.n_points, "data.n_points", 2)
        known = families.names()
        _check(isinstance(self.families, tuple) and len(self.families) > 0, "data.families",
               "must be a non-empty list of family names")
        for fam in self.families:
            _check(fam in known, "data.families", f"unknown family {fam!r}; known: {known}")
        _check(len(set(self.families)) == len(self.families), "data.families",
               f"must not repeat a family, got {self.families}")
        _check(isinstance(self.weights, tuple) and len(self.weights) == len(self.families),
               "data.weights", f"needs one weight per family ({len(self.families)}), got {self.weights!r}")
        _check(all(w >= 0 for w in self.weights), "data.weights",
               f"must be non-negative, got {self.weights}")
        _check(abs(sum(self.weights) - 1.0) < 1e-6, "data.weights",
               f"must sum to 1, got {self.weights} (sum {sum(self.weights):.6g})")
        _check(self.x_dist in ("gaussian", "uniform"), "data.x_dist",
               f"must be 'gaussian' or 'uniform', got {self.x_dist!r}")
        _check(self.x_scale > 0, "data.x_scale", f"must be > 0, got {self.x_scale}")
        _check(self.noise_std >= 0, "data.noise_std", f"must be >= 0, got {self.noise_std}")
        _check(isinstance(self.family_hint, bool), "data.family_hint",
               f"must be true or false, got {self.family_hint!r}")
        for name in ("curriculum_dim_start", "curriculum_points_start", "curriculum_every"):
            _pos_int(getattr(self, name), f"data.{name}")
        for name in ("curriculum_dim_inc", "curriculum_points_inc"):
            _pos_int(getattr(self, name), f"data.{name}", 0)
        if self.curriculum:
            _check(self.curriculum_dim_start <= self.dim, "data.curriculum_dim_start",
                   f"must be <= data.dim ({self.dim}), got {self.curriculum_dim_start}")
            _check(2 <= self.curriculum_points_start <= self.n_points, "data.curriculum_points_start",
                   f"must be in [2, data.n_points={self.n_points}], got {self.curriculum_points_start}")
        given = dict(self.priors)
        unknown = sorted(set(given) - set(known))
        _check(not unknown, "data", f"unknown family sections {unknown}; known: {known}")
        full = []
        for name in known:
            fam = families.get(name)
            section = given.get(name)
            if section is None:
                section = fam.prior()
            _check(isinstance(section, fam.prior), f"data.{name}",
                   f"must be a {fam.prior.__name__}, got {type(section).__name__}")
            if fam.check is not None and name in self.families:
                try:
                    fam.check(section, self.dim)
                except ValueError as e:
                    raise ConfigError(f"data.{name}.{e}") from None
            full.append((name, section))
        object.__setattr__(self, "priors", tuple(full))

    def __getattr__(self, name: str) -> Any:
        """`cfg.<family>`: that family's prior section."""
        if not name.startswith("_") and name != "priors":
            for fam, section in self.__dict__.get("priors", ()):
                if fam == name:
                    return section
        raise AttributeError(f"DataConfig has no field or family section {name!r}")

    @property
    def input_dim(self) -> int:
        """Width of the model's x tokens: d, plus one per family with family_hint."""
        return self.dim + (len(self.families) if self.family_hint else 0)

    def prior(self, family: str) -> Any:
        """The prior section of `family`."""
        return dict(self.priors)[family]

    def to_dict(self, full: bool = False) -> dict:
        """Fields and one nested dict per family section (data.<family>.<field>): the sections
        of the pretraining families and of any other family set away from its defaults (so
        registering a family changes no existing config or digest); `full`: every section and
        every field."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
             if f.name != "priors" and (full or ADDED_FIELDS.get(f.name, ()) != getattr(self, f.name))}
        return {**d, **{name: dataclasses.asdict(sec) for name, sec in self.priors
                        if full or name in self.families or name in LEGACY_SECTIONS
                        or sec != families.get(name).prior()}}

    @classmethod
    def from_dict(cls, raw: dict) -> DataConfig:
        """From to_dict's form (or the flat family fields of older configs, see LEGACY_FIELDS)."""
        raw = dict(raw)
        nested: dict[str, dict] = {}
        for old, (fam, fld) in LEGACY_FIELDS.items():
            if old in raw:
                nested.setdefault(fam, {})[fld] = raw.pop(old)
        fields = {f.name for f in dataclasses.fields(cls)} - {"priors"}
        known = families.names()
        for k in list(raw):
            if k in known and isinstance(raw[k], dict):
                nested.setdefault(k, {}).update(raw.pop(k))
        unknown = sorted(set(raw) - fields)
        _check(not unknown, "data", f"unknown fields {unknown}; known: {sorted(fields)} and the "
               f"family sections {', '.join(known)}")
        vals = {k: _coerce(cls, k, v, f"data.{k}") for k, v in raw.items()}
        return cls(**vals, priors=tuple((f, _section(f, v)) for f, v in nested.items()))

    def with_prior(self, family: str, **changes) -> DataConfig:
        """A copy with fields of the section data.<family> replaced (validated)."""
        sections = dict(self.priors)
        old = dataclasses.asdict(sections[family]) if family in sections else {}
        sections[family] = _section(family, {**old, **changes})
        return dataclasses.replace(self, priors=tuple(sections.items()))


def _section(family: str, values: dict) -> Any:
    """The prior section of `family` from field values (ConfigError naming data.<family>.X)."""
    cls = families.get(family).prior
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - fields)
    _check(not unknown, f"data.{family}", f"unknown fields {unknown}; known: {sorted(fields)}")
    try:
        return cls(**{k: _coerce(cls, k, v, f"data.{family}.{k}") for k, v in values.items()})
    except ConfigError:
        raise
    except (ValueError, TypeError) as e:
        raise ConfigError(f"data.{family}.{e}") from None


@dataclass(frozen=True)
class ModelConfig:
    """The GPT-2 style decoder (Garg et al.'s architecture)."""

    n_layers: int = 12
    n_heads: int = 8
    d_model: int = 256
    mlp_ratio: int = 4
    max_points: int = 101  # positional capacity in (x, y) pairs: 2 * max_points tokens
    dtype: str = "float32"  # compute dtype; parameters are always float32
    attention: str = "auto"  # dot_product_attention: "xla", "cudnn", or "auto" (cudnn on a GPU
    # for bfloat16, where its fused kernel applies; xla elsewhere)

    def __post_init__(self) -> None:
        for name in ("n_layers", "n_heads", "d_model", "mlp_ratio", "max_points"):
            _pos_int(getattr(self, name), f"model.{name}")
        _check(self.d_model % self.n_heads == 0, "model.d_model",
               f"must be divisible by model.n_heads ({self.n_heads}), got {self.d_model}")
        _check(self.dtype in ("float32", "bfloat16"), "model.dtype",
               f"must be 'float32' or 'bfloat16', got {self.dtype!r}")
        _check(self.attention in ("auto", "xla", "cudnn"), "model.attention",
               f"must be 'auto', 'xla' or 'cudnn', got {self.attention!r}")


@dataclass(frozen=True)
class TrainConfig:
    """Optimizer, schedule, length, logging and checkpointing."""

    steps: int = 1000
    batch_size: int = 64
    lr: float = 1e-4
    schedule: str = "constant"  # "constant" (Garg et al.) or "cosine" (linear warmup + cosine decay)
    warmup_steps: int = 0
    grad_clip: float = 0.0  # global-norm clipping; 0 disables
    steps_per_dispatch: int = 10  # training steps fused into one jitted lax.scan
    log_every: int = 100  # steps per metrics.jsonl record
    ckpt_every: int = 1000  # steps between checkpoints (and one at the end)
    keep_ckpts: int = 3
    # also save and keep forever the checkpoints at steps_per_dispatch * 2^i (evaluation along
    # training: icl-ood evaluate --steps all)
    keep_log: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        _finite(self)
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
        for name in ("log_every", "ckpt_every"):
            v = getattr(self, name)
            _check(v % self.steps_per_dispatch == 0, f"train.{name}",
                   f"must be a multiple of train.steps_per_dispatch ({self.steps_per_dispatch}), got {v}")


_SECTION = {DataConfig: "data", ModelConfig: "model", TrainConfig: "train"}


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
        return {"name": self.name, "data": self.data.to_dict(),
                "model": dataclasses.asdict(self.model), "train": dataclasses.asdict(self.train)}

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
        a, b = _flat(self.to_dict()), _flat(other.to_dict())
        return [f"{k}: {b.get(k)!r} -> {v!r}" for k, v in a.items()
                if k != "name" and v != b.get(k)]


def _flat(d: dict, prefix: str = "") -> dict:
    """{"data.sinusoid.freq": ..., ...} from nested dicts."""
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _parse_value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        if raw.lower() in ("true", "false"):
            return raw.lower() == "true"
        return raw  # a bare string such as linear or cosine


def _coerce(sec_cls: type, name: str, value: Any, full: str) -> Any:
    """Converts JSON values to the field's declared type (lists to tuples, ints to floats)."""
    hint = typing.get_type_hints(sec_cls)[name]
    origin = typing.get_origin(hint)
    if origin is tuple:
        if isinstance(value, str):  # "a,b" or "0.5,0.5": items as JSON where they parse
            value = [_json_or_str(v.strip()) for v in value.split(",") if v.strip()]
        _check(isinstance(value, (list, tuple)), full, f"must be a list, got {value!r}")
        elem = typing.get_args(hint)[0]
        return tuple(_coerce_scalar(elem, v, full) for v in value)
    return _coerce_scalar(hint, value, full)


def _json_or_str(v: str) -> Any:
    try:
        return json.loads(v)
    except json.JSONDecodeError:
        return v


def _coerce_scalar(tp: type, v: Any, full: str) -> Any:
    if tp is float:
        _check(isinstance(v, (int, float)) and not isinstance(v, bool), full,
               f"must be a number, got {v!r}")
        return float(v)
    if tp is int:
        _check(isinstance(v, int) and not isinstance(v, bool), full, f"must be an integer, got {v!r}")
        return v
    if tp is bool:
        _check(isinstance(v, bool), full, f"must be true or false, got {v!r}")
        return v
    if tp is str:
        _check(isinstance(v, str), full, f"must be a string, got {v!r}")
        return v
    return v
