"""Paired bootstrap statistics over prompts: resample counts, means with 90% intervals, distances."""

from __future__ import annotations

import numpy as np


def bootstrap_counts(n_prompts: int, n_boot: int, seed: int) -> np.ndarray:
    """counts_SxP: how often each prompt appears in each of R bootstrap resamples."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n_prompts, (n_boot, n_prompts))
    flat = (idx + n_prompts * np.arange(n_boot)[:, None]).ravel()
    return np.bincount(flat, minlength=n_boot * n_prompts).reshape(n_boot, n_prompts)


def summarize(err_MxPxN: np.ndarray, norm: float, counts_SxP: np.ndarray) -> dict:
    """Means and 90% bootstrap intervals of raw and normalized error (raw / `norm`), each MxK."""
    m, p, k = err_MxPxN.shape
    boot_SxMxN = (counts_SxP @ err_MxPxN.transpose(1, 0, 2).reshape(p, m * k) / p).reshape(-1, m, k)
    err = err_MxPxN.mean(1)
    lo, hi = np.percentile(boot_SxMxN, [5, 95], axis=0)
    return {"error": err, "lower": lo, "upper": hi, "normalized": err / norm,
            "norm_lower": lo / norm, "norm_upper": hi / norm}


STAT_FIELDS = ("error", "lower", "upper", "normalized", "norm_lower", "norm_upper")


def distance(preds_a_PxN, preds_b_PxN, norm: float, counts_SxP: np.ndarray) -> dict:
    """Mean squared difference of two predictors on the same prompts, raw and divided by `norm`
    (the task's E[y^2], the errors' normalizer), with bootstrap 90% intervals; each field has K."""
    diff2_1xPxK = np.square(np.asarray(preds_a_PxN, np.float64) - preds_b_PxN)[None]
    s = summarize(diff2_1xPxK, norm, counts_SxP)
    return {f: s[f][0] for f in STAT_FIELDS}
