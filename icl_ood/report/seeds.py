"""A value over seeds as a table cell: the mean and its 90% t-interval over seeds."""

from __future__ import annotations

import numpy as np

# Student's t 0.95 quantiles by degrees of freedom (two-sided 90% intervals); 1.645 beyond.
T95 = {1: 6.314, 2: 2.920, 3: 2.353, 4: 2.132, 5: 2.015, 6: 1.943, 7: 1.895, 8: 1.860,
       9: 1.833, 10: 1.812, 15: 1.753, 20: 1.725, 30: 1.697}


def t95(df: int) -> float:
    return T95.get(df) or next((v for d, v in sorted(T95.items()) if d >= df), 1.645)


def over_seeds(values: list[float]) -> str:
    """A table cell: the mean over seeds and its 90% t-interval (one seed: the value)."""
    v = np.asarray(values, float)
    if v.size == 1:
        return f"{v[0]:.3f}"
    half = t95(v.size - 1) * v.std(ddof=1) / np.sqrt(v.size)
    return f"{v.mean():.3f} [{v.mean() - half:.3f}, {v.mean() + half:.3f}]"
