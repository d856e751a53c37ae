"""The data section: x distribution, function families, the pretraining mixture, family priors."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from icl_ood import families
from icl_ood.config.values import ConfigError, _check, _coerce, _finite, _pos_int

# Flat field names of configs written before family sections (config.json of older runs).
LEGACY_FIELDS = {"sparsity": ("sparse_linear", "sparsity"), "relu_width": ("relu_net", "width"),
                 "sin_amp_dist": ("sinusoid", "amp_dist"), "sin_amp": ("sinusoid", "amp"),
                 "sin_freq": ("sinusoid", "freq"), "sin_phase": ("sinusoid", "phase")}


# The families registered when config.json files first had sections: their sections are always
# written, as they were then (other families' only where used or changed).
LEGACY_SECTIONS = ("linear", "relu_net", "sinusoid", "sparse_linear")
# Fields added after results were saved, with their defaults: left out of to_dict (and so of
# config digests and config.json) at the default, so earlier runs and results stay valid.
ADDED_FIELDS = {"family_hint": False, "task_pool": 0, "task_pool_seed": 0}


@dataclass(frozen=True)
class DataConfig:
    """What prompts look like: x distribution, function families and the pretraining mixture.

    Each registered family's prior parameters form a section `data.<family>` (e.g.
    `data.sinusoid.freq`), read as `cfg.sinusoid` and changed with `with_prior`; see
    icl_ood/families/ for the families and their fields.
    """

    dim: int = 1  # input dimension d
    n_points: int = 41  # (x, y) pairs per training prompt
    families: tuple[str, ...] = ("linear", "sinusoid")  # pretraining mixture components
    weights: tuple[float, ...] = (0.5, 0.5)  # each prompt's family ~ Categorical(weights)
    # "gaussian": N(0, x_scale^2 I); "uniform": U[-x_scale, x_scale]^d; "grid" (d = 1): the
    # n_points evenly spaced points of [-x_scale, x_scale], ends included, in a random order per
    # prompt (Mueller et al.'s test inputs; at k = n_points - 1 the pairs are the grid less one)
    x_dist: str = "gaussian"
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
    # A finite pool (icl_ood/data/pool.py): each family's M tasks drawn once from a key of
    # task_pool_seed, every prompt one of them; 0: the continuous prior.
    task_pool: int = 0
    task_pool_seed: int = 0
    # (family, prior section) for every registered family, filled with defaults; set them
    # as data.<family>.<field> (or with_prior), not here.
    priors: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        _finite(self, "data")
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
        _check(self.x_dist in ("gaussian", "uniform", "grid"), "data.x_dist",
               f"must be 'gaussian', 'uniform' or 'grid', got {self.x_dist!r}")
        _check(self.x_dist != "grid" or self.dim == 1, "data.x_dist",
               f"'grid' needs data.dim = 1, got {self.dim}")
        _check(self.x_scale > 0, "data.x_scale", f"must be > 0, got {self.x_scale}")
        _check(self.noise_std >= 0, "data.noise_std", f"must be >= 0, got {self.noise_std}")
        _check(isinstance(self.family_hint, bool), "data.family_hint",
               f"must be true or false, got {self.family_hint!r}")
        for name in ("curriculum_dim_start", "curriculum_points_start", "curriculum_every"):
            _pos_int(getattr(self, name), f"data.{name}")
        for name in ("curriculum_dim_inc", "curriculum_points_inc", "task_pool", "task_pool_seed"):
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
