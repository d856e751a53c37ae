"""Paired bootstrap statistics over prompts: resample counts, means with 90% intervals, fits."""

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


def simplex_weights(target_P: np.ndarray, basis_PxM: np.ndarray,
                    weights_P: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """(w_M, residual): the convex combination of the basis columns closest to the target in
    (weighted) mean square, w >= 0 and sum(w) = 1, solved exactly by trying every support (the
    equality-constrained least squares on each subset of columns, its KKT solution kept when
    feasible; M is a handful of yardsticks), and the mean squared residual it leaves."""
    b = np.asarray(basis_PxM, np.float64)
    t = np.asarray(target_P, np.float64)
    wts = np.ones(len(t)) if weights_P is None else np.asarray(weights_P, np.float64)
    m = b.shape[1]
    best, best_res = None, np.inf
    for mask in range(1, 2 ** m):
        cols = [j for j in range(m) if mask >> j & 1]
        a = b[:, cols]
        # minimize sum wts (t - a v)^2 s.t. 1.v = 1: KKT [[2 A'WA, 1], [1', 0]] [v, mu] = [2 A'Wt, 1]
        g = a.T @ (a * wts[:, None])
        kkt = np.block([[2 * g, np.ones((len(cols), 1))], [np.ones((1, len(cols))), np.zeros((1, 1))]])
        rhs = np.concatenate([2 * a.T @ (wts * t), [1.0]])
        v = np.linalg.lstsq(kkt, rhs, rcond=None)[0][:len(cols)]
        if (v < -1e-12).any():
            continue
        res = float((wts * (t - a @ v) ** 2).sum() / wts.sum())
        if res < best_res - 1e-15:
            best, best_res = np.zeros(m), res
            best[cols] = np.clip(v, 0.0, None)
    return best, best_res


def simplex_boot(target_PxN: np.ndarray, basis_PxNxM: np.ndarray,
                 counts_SxP: np.ndarray) -> np.ndarray:
    """w_SxNxM: simplex_weights of each k's target and basis with each bootstrap resample's
    prompt counts as weights, all at once (per support: the resampled Gram matrices by one
    product over prompts, the KKT systems solved batched, a 1e-12 ridge keeping them regular;
    the feasible support of least residual, the first on ties, as simplex_weights keeps)."""
    t = np.asarray(target_PxN, np.float64)
    b = np.asarray(basis_PxNxM, np.float64)
    c = np.asarray(counts_SxP, np.float64)
    p, n, m = b.shape
    gram_SxNxMxM = (c @ (b[..., :, None] * b[..., None, :]).reshape(p, -1)).reshape(-1, n, m, m)
    cross_SxNxM = (c @ (b * t[..., None]).reshape(p, -1)).reshape(-1, n, m)
    tt_SxN = c @ np.square(t)
    ridge = 1e-12 * np.maximum(np.trace(gram_SxNxMxM, axis1=2, axis2=3), 1e-300)
    best_SxNxM = np.zeros((len(c), n, m))
    best_res = np.full((len(c), n), np.inf)
    for mask in range(1, 2 ** m):
        cols = [j for j in range(m) if mask >> j & 1]
        g = gram_SxNxMxM[:, :, cols][:, :, :, cols] + ridge[..., None, None] * np.eye(len(cols))
        kkt = np.zeros((len(c), n, len(cols) + 1, len(cols) + 1))
        kkt[..., :-1, :-1], kkt[..., :-1, -1], kkt[..., -1, :-1] = 2 * g, 1.0, 1.0
        rhs = np.concatenate([2 * cross_SxNxM[..., cols], np.ones((len(c), n, 1))], -1)
        v = np.linalg.solve(kkt, rhs[..., None])[..., :-1, 0]
        h = cross_SxNxM[..., cols]
        res = tt_SxN - 2 * (v * h).sum(-1) + np.einsum("snc,sncd,snd->sn", v, g, v)
        better = (v >= -1e-12).all(-1) & (res < best_res - 1e-15 * c.sum(1)[:, None])
        best_res = np.where(better, res, best_res)
        best_SxNxM[better] = 0.0
        sel = best_SxNxM[:, :, cols]
        sel[better] = np.clip(v[better], 0.0, None)
        best_SxNxM[:, :, cols] = sel
    return best_SxNxM


def nearer(pred_PxN, a_PxN, b_PxN, weights=None, counts_SxP=None) -> dict[str, tuple]:
    """Per prompt and k, whether a prediction is nearer `a` than `b` (1; 0 nearer b; 1/2 tied):
    {"near": (share per k, 5th, 95th bootstrap percentile)}, and with `weights` = (w_a, w_b)
    (the Bayes posterior's weights of the two families per prompt) "agrees": the share whose
    nearer one is the favoured one (ties 1/2)."""
    pred = np.asarray(pred_PxN, np.float64)
    d_a, d_b = (np.square(pred - np.asarray(x, np.float64)) for x in (a_PxN, b_PxN))
    shares = {"near": np.where(d_a < d_b, 1.0, np.where(d_a > d_b, 0.0, 0.5))}
    if weights is not None:
        w_a, w_b = (np.asarray(w, np.float64) for w in weights)
        favours_a = np.where(w_a > w_b, 1.0, np.where(w_a < w_b, 0.0, 0.5))
        shares["agrees"] = 1.0 - np.abs(shares["near"] - favours_a)
    out = {}
    for key, v_PxN in shares.items():
        boot_SxN = counts_SxP @ v_PxN / v_PxN.shape[0]
        lo, hi = np.percentile(boot_SxN, [5, 95], axis=0)
        out[key] = (v_PxN.mean(0).tolist(), lo.tolist(), hi.tolist())
    return out
