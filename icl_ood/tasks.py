"""Evaluation tasks: which test prompts to draw (a pure family, or a convex combination of two),
with overrides of the run's data config, and `draw`, the prompts of a task."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp

from icl_ood import families
from icl_ood.config import DataConfig
from icl_ood.data import prompts

DATA_OVERRIDES = ("noise_std", "x_dist", "x_scale", "n_points", "task_pool")


@dataclass(frozen=True)
class Task:
    """Test prompts: one pure `family`, or `mix` = (family1, family2, a) for
    f = a * f1 + (1 - a) * f2 with f1, f2 drawn independently from their priors.

    `noise_std`, `x_dist`, `x_scale`, `n_points`, `task_pool` override the run's DataConfig (None:
    keep the pretraining value; task_pool=0 draws from the continuous prior a pool was drawn from); `priors` overrides family prior fields, e.g.
    (("sinusoid.freq", (2.0, 2.0)),). `y_scale` multiplies f (for linear families, the same as
    scaling w; the noise is not scaled); `x_skew` draws x ~ N(0, S) with a random eigenbasis and
    eigenvalues proportional to 1/i^2, trace d (Garg et al.'s skewed covariance; the identity
    when d = 1).
    """

    family: str | None = None
    mix: tuple[str, str, float] | None = None
    priors: tuple[tuple[str, Any], ...] = ()
    noise_std: float | None = None
    x_dist: str | None = None
    x_scale: float | None = None
    y_scale: float = 1.0
    x_skew: bool = False
    n_points: int | None = None
    task_pool: int | None = None  # None: the run's; 0: the families' continuous priors
    n_prompts: int = 1280
    name: str = ""
    meta: tuple[tuple[str, Any], ...] = ()  # extra row fields, e.g. (("slope", 0.23),)

    def __post_init__(self) -> None:
        if (self.family is None) == (self.mix is None):
            raise ValueError("Task: give exactly one of family= or mix=(family1, family2, a)")
        known = families.names()
        for f in self.families:
            if f not in known:
                raise ValueError(f"Task: unknown family {f!r}; known: {known}")
        if self.mix is not None:
            a = self.mix[2]
            if len(self.mix) != 3 or not (isinstance(a, (int, float)) and 0.0 <= a <= 1.0):
                raise ValueError(f"Task: convex weight a must be in [0, 1], got {self.mix!r}")
            if self.mix[0] == self.mix[1]:
                raise ValueError(f"Task: mix needs two different families, got {self.mix!r}")
        if not (isinstance(self.n_prompts, int) and self.n_prompts >= 2):
            raise ValueError(f"Task: n_prompts must be an integer >= 2, got {self.n_prompts!r}")
        if not (math.isfinite(self.y_scale) and self.y_scale > 0):
            raise ValueError(f"Task: y_scale must be > 0, got {self.y_scale}")

    @property
    def families(self) -> tuple[str, ...]:
        return (self.family,) if self.family is not None else tuple(self.mix[:2])

    @property
    def a(self) -> float | None:
        return None if self.mix is None else float(self.mix[2])

    @property
    def label(self) -> str:
        """A short description, e.g. 'a=0.3' or 'w=2'."""
        return self.name or (self.family if self.mix is None else f"a={self.a:g}")

    @property
    def scales(self) -> tuple[float, ...]:
        """The coefficient of each family's function in f (a, 1 - a for a mix), times y_scale."""
        c = (1.0,) if self.mix is None else (self.a, 1.0 - self.a)
        return tuple(self.y_scale * v for v in c)

    def data_config(self, base: DataConfig) -> DataConfig:
        """The run's DataConfig with this task's overrides (validated by DataConfig)."""
        over = {f: getattr(self, f) for f in DATA_OVERRIDES if getattr(self, f) is not None}
        fams = self.families
        cfg = dataclasses.replace(base, families=fams, weights=(1.0 / len(fams),) * len(fams),
                                  **over)
        for key, value in self.priors:
            fam, _, fld = key.partition(".")
            cfg = cfg.with_prior(fam, **{fld: value})
        return cfg

    def describe(self, cfg: DataConfig) -> dict:
        """Row fields that identify the task: family, a, and each family's own (e.g. freq)."""
        out = {"task": self.label, "a": self.a, "freq": None,
               "family": self.family or f"convex({self.mix[0]},{self.mix[1]})"}
        for f in self.families:
            fam = families.get(f)
            if fam.describe is not None:
                out.update(fam.describe(cfg.prior(f)))
        if cfg.task_pool or self.task_pool is not None:  # a pool-trained model's tasks
            out["task_pool"] = cfg.task_pool
        return {**out, **dict(self.meta)}


def mean_square(task: Task, cfg: DataConfig, n_mc: int = 2 ** 16) -> tuple[float, str]:
    """(E[y^2], how) of the task's prompts: the normalizer of errors, the same for every
    predictor and independent of the prompts being scored. Closed form (sum over families of
    scale^2 E[f^2], + noise^2) where every family declares it; else a Monte Carlo mean over
    `n_mc` functions, each at 8 points, from a fixed key of its own."""
    x2 = {"gaussian": cfg.x_scale ** 2, "uniform": cfg.x_scale ** 2 / 3.0,  # grid: mean of x_i^2
          "grid": cfg.x_scale ** 2 * (cfg.n_points + 1) / (3.0 * max(cfg.n_points - 1, 1))}[cfg.x_dist]
    parts = []
    for f, c in zip(task.families, task.scales):
        fam = families.get(f)
        m = fam.mean_square(cfg.prior(f), cfg.dim, x2) if fam.mean_square else None
        parts.append(None if m is None else c * c * m)
    if None not in parts:
        return float(sum(parts) + cfg.noise_std ** 2), "closed form"
    mc = dataclasses.replace(task, n_prompts=n_mc, name=task.name)
    _, ys = draw(jax.random.key(2 ** 31 - 1), mc, dataclasses.replace(cfg, n_points=8))
    return float(jnp.mean(jnp.square(ys.astype(jnp.float32)))), f"Monte Carlo, {n_mc * 8} draws"


def skew_sqrt(key: jax.Array, d: int) -> jax.Array:
    """S^{1/2}_DxD for Garg's skewed covariance: random eigenbasis, eigenvalues ~ 1/i^2, trace d."""
    q, _ = jnp.linalg.qr(jax.random.normal(key, (d, d)))
    lam = 1.0 / jnp.arange(1, d + 1) ** 2
    lam = lam * d / lam.sum()
    return (q * jnp.sqrt(lam)) @ q.T


def draw(key: jax.Array, task: Task, cfg: DataConfig) -> tuple[jax.Array, jax.Array]:
    """Prompts (xs_BxNxD, ys_BxN) of a task; `cfg` is `task.data_config(run's data config)`."""
    n = cfg.n_points
    if task.mix is None:
        xs, ys, params = prompts.sample_family(key, task.family, task.n_prompts, cfg, n)

        def clean(x):
            return families.get(task.family).apply(params, x)
    else:
        f1, f2, a = task.mix
        xs, ys, (p1, p2) = prompts.sample_convex(key, task.n_prompts, cfg, f1, f2, a, n)

        def clean(x):
            return a * families.get(f1).apply(p1, x) + (1 - a) * families.get(f2).apply(p2, x)
    if not task.x_skew and task.y_scale == 1.0:
        return xs, ys
    noise = ys - clean(xs)  # reuse the drawn label noise for the shifted function / inputs
    if task.x_skew:
        xs = xs @ skew_sqrt(jax.random.fold_in(key, 7), cfg.dim)
    return xs, task.y_scale * clean(xs) + noise
