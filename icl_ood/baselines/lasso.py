"""Lasso on x, solved exactly by the LARS-Lasso homotopy, alpha `Options.lasso_alpha` (default
0.01); for tasks with a family tagged "linear".

Every prefix (the k pairs before position k) minimises (1 / (2k)) ||y_<k - X_<k w||^2 +
alpha ||w||_1 (scikit-learn's scaling), in Gram form (G = X^T X / k, c = X^T y / k: a d x d
problem per prefix). The homotopy (Osborne et al. 2000; Efron et al. 2004) follows the
piecewise-linear solution path from lambda = max_j |c_j| (w = 0) down to lambda = alpha: on each
piece w_A = G_AA^-1 (c_A - lambda s_A) on the active set A with signs s; a variable joins when
its correlation |c_j - (G w)_j| reaches lambda, and leaves when its coefficient reaches zero
(the Lasso modification). All B x N prefixes run at once: G_AA^-1 is kept by the sweep
operator (one O(d^2) sweep per join or leave, no factorisation), in a while loop of at most
8d + 8 events that ends when every path has reached alpha (<= 2d events seen with Gaussian x);
the solution at alpha gets one step of iterative refinement. k = 0 (any prefix with max_j |c_j| <= alpha) gives
w = 0; k < d is exact too (the path stops at alpha > 0, where the solution is unique for x in
general position).

Every solution is then certified by the KKT conditions, with r = c - G w:
|r_j - alpha sign(w_j)| <= tol where w_j != 0 and |r_j| <= alpha + tol where w_j = 0,
tol = KKT_RTOL max_j |c_j| = 1e-9 max_j |c_j| (observed: ~1e-15). A prefix that fails (none with
continuous x; possible with exact ties, e.g. discrete x) is re-solved by coordinate descent
from the homotopy's point (at most `Options.lasso_iter` sweeps, to a 1e-13 change tolerance)
and checked again; prefixes still uncertified are counted in a warning, and the aux output
`kkt_certified` (BxN, 1 or 0) flags every prefix.
"""

import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from icl_ood.baselines import NotApplicable, Spec, has_tag, register
from icl_ood.baselines.prefix import prefix_stats

KKT_RTOL = 1e-9  # KKT tolerance relative to max_j |c_j| (observed violations: ~1e-15)
# The path ends at lambda = max(alpha, LAM_RTOL max_j |c_j|): below, events are rounding noise
# (with alpha = 0 and k < d, spurious joins once the active set interpolates the k pairs).
LAM_RTOL = 1e-10
SPAN_RTOL = 1e-10  # see `homotopy`


def prefix_gram(xs_BxNxD, ys_BxN):
    """(G_BxNxDxD, c_BxNxD) = (X_<k^T X_<k / k, X_<k^T y_<k / k) for every k (0 at k = 0)."""
    n = xs_BxNxD.shape[1]
    g, b = prefix_stats(xs_BxNxD, ys_BxN)
    k_N = jnp.maximum(jnp.arange(n, dtype=xs_BxNxD.dtype), 1.0)
    return g / k_N[:, None, None], b / k_N[:, None]


def _pick(a_PxD, i_P):
    return jnp.take_along_axis(a_PxD, i_P[:, None], 1)[:, 0]


def sweep(m_PxExE, k_P, sign_P):
    """The sweep operator on symmetric matrices, pivot k_P per problem: sign +1 adds k to the
    swept set, -1 removes it (the reverse sweep). Sweeping the set A of [[G, c], [c^T, 0]] gives
    -G_AA^-1 on A x A, G_AA^-1 G_AI on A x I (I: the rest), G_II - G_IA G_AA^-1 G_AI on I x I,
    in any order, each sweep O(d^2) (Goodnight 1979)."""
    e = m_PxExE.shape[-1]
    on_k = jnp.arange(e) == k_P[:, None]
    col = jnp.einsum("pij,pj->pi", m_PxExE, on_k.astype(m_PxExE.dtype))
    piv = _pick(col, k_P)[:, None]
    scaled = sign_P[:, None] * col / piv
    out = m_PxExE - col[:, :, None] * col[:, None, :] / piv[..., None]
    out = jnp.where(on_k[:, :, None], scaled[:, None, :], out)
    out = jnp.where(on_k[:, None, :], scaled[:, :, None], out)
    return jnp.where(on_k[:, :, None] & on_k[:, None, :], -1.0 / piv[..., None], out)


def homotopy(g_PxDxD, c_PxD, alpha, max_steps: int):
    """Lasso solutions w_PxD of P problems min_w w^T G w / 2 - c^T w + alpha ||w||_1 by the
    LARS-Lasso homotopy, and whether each path reached alpha (done_P).

    The active set's quantities come from the swept matrix [[G, c], [c^T, 0]] (one sweep per
    event, see `sweep`): w(l) = u - l v with u = G_AA^-1 c_A, v = G_AA^-1 s_A, and inactive
    correlations r(l) = a + l h. A column (numerically) in the span of the active ones (Schur
    complement <= SPAN_RTOL G_jj, e.g. a duplicated or all-zero column) does not join. A variable
    that has just left may rejoin only with the opposite sign, and one that has just joined cannot
    leave at the same lambda (the degenerate events of the Lasso modification). The solution at
    alpha gets one step of iterative refinement.
    """
    p, d = c_PxD.shape
    dt = c_PxD.dtype
    idx_D = jnp.arange(d)
    diag_G = jnp.diagonal(g_PxDxD, axis1=-2, axis2=-1)
    m = jnp.concatenate([jnp.concatenate([g_PxDxD, c_PxD[:, :, None]], -1),
                         jnp.concatenate([c_PxD, jnp.zeros((p, 1), dt)], -1)[:, None, :]], -2)
    lam0 = jnp.max(jnp.abs(c_PxD), -1)
    lam_end = jnp.maximum(alpha, LAM_RTOL * lam0)
    # state: swept matrix, active set, signs, lambda, done, last index changed, its sign if it
    # left (0 if it joined), steps taken. The first step adds argmax |c_j| (at lambda = lam0 it
    # is at the bound).
    state = (m, jnp.zeros((p, d), bool), jnp.zeros((p, d), dt), lam0, lam0 <= lam_end,
             jnp.full(p, -1), jnp.zeros(p, dt), jnp.asarray(0))

    def cond(s):
        return (s[-1] < max_steps) & ~jnp.all(s[4])

    def body(s):
        m, act, sgn, lam, done, last, left_sgn, it = s
        m_g, m_c = m[:, :d, :d], m[:, :d, d]
        m_s = jnp.einsum("pij,pj->pi", m_g, sgn)
        u, v = jnp.where(act, m_c, 0.0), jnp.where(act, -m_s, 0.0)  # w(l) = u - l v
        a, h = jnp.where(act, 0.0, m_c), jnp.where(act, 0.0, m_s)  # r_j(l) = a_j + l h_j
        schur = jnp.diagonal(m_g, axis1=-2, axis2=-1)
        lam_1 = lam[:, None]
        is_last = idx_D == last[:, None]
        # Joins: the largest l < lam with r_j(l) = +l or -l; a variable already at or past
        # the bound (the first one, ties, rounding) joins now.
        events = []
        for sg in (1.0, -1.0):
            den = 1.0 - sg * h
            gap = lam_1 * den - sg * a  # lam - sg * r_j(lam)
            root = jnp.where(den > 0, sg * a / jnp.where(den > 0, den, 1.0), -jnp.inf)
            root = jnp.where(gap <= 0, lam_1, jnp.minimum(root, lam_1))
            ok = (~act & (schur > SPAN_RTOL * diag_G)
                  & ~(is_last & (left_sgn[:, None] == sg)))
            events.append(jnp.where(ok & ((root < lam_1) | (gap <= 0)), root, -jnp.inf))
        join_pm = jnp.maximum(events[0], events[1])
        # Leaves: the largest l < lam with w_j(l) = 0.
        ok = act & ~(is_last & (left_sgn[:, None] == 0)) & (v != 0)
        root = jnp.where(ok, u / jnp.where(v != 0, v, 1.0), -jnp.inf)
        leave = jnp.where(root < lam_1, root, -jnp.inf)
        jj, jl = jnp.argmax(join_pm, -1), jnp.argmax(leave, -1)
        l_join, l_leave = _pick(join_pm, jj), _pick(leave, jl)
        nxt = jnp.maximum(l_join, l_leave)
        bad = ~(jnp.all(jnp.isfinite(m_c), -1) & jnp.all(jnp.isfinite(m_s), -1))
        fin = ~done & ((nxt <= lam_end) | bad)
        step = ~done & ~fin
        joins = l_join >= l_leave
        j = jnp.where(joins, jj, jl)
        hit = (idx_D == j[:, None]) & step[:, None]
        join_sgn = jnp.where(_pick(events[0], jj) >= _pick(events[1], jj), 1.0, -1.0)
        left = jnp.where(joins, 0.0, _pick(sgn, j))
        m = jnp.where(step[:, None, None], sweep(m, j, jnp.where(joins, 1.0, -1.0)), m)
        return (m, jnp.where(hit, joins[:, None], act),
                jnp.where(hit, jnp.where(joins, join_sgn, 0.0)[:, None], sgn),
                jnp.where(step, nxt, lam), done | fin, jnp.where(step, j, last),
                jnp.where(step, left, left_sgn), it + 1)

    m, act, sgn, _, done, _, _, _ = jax.lax.while_loop(cond, body, state)
    # the solution at alpha, refined once: w += G_AA^-1 (c_A - alpha s_A - (G w)_A)
    m_g = m[:, :d, :d]
    w = jnp.where(act, m[:, :d, d] + alpha * jnp.einsum("pij,pj->pi", m_g, sgn), 0.0)
    res = jnp.where(act, c_PxD - alpha * sgn - jnp.einsum("pij,pj->pi", g_PxDxD, w), 0.0)
    return jnp.where(act, w - jnp.einsum("pij,pj->pi", m_g, res), 0.0), done


def kkt_violation(g_PxDxD, c_PxD, w_PxD, alpha):
    """The largest violation of the Lasso KKT conditions by w, relative to max_j |c_j|
    (0 where c = 0 and w = 0; inf where w is not finite)."""
    r = c_PxD - jnp.einsum("pij,pj->pi", g_PxDxD, w_PxD)
    viol = jnp.where(w_PxD != 0, jnp.abs(r - alpha * jnp.sign(w_PxD)),
                     jnp.maximum(jnp.abs(r) - alpha, 0.0))
    viol, scale = jnp.max(viol, -1), jnp.max(jnp.abs(c_PxD), -1)
    rel = jnp.where(scale > 0, viol / jnp.where(scale > 0, scale, 1.0),
                    jnp.where(viol == 0, 0.0, jnp.inf))
    return jnp.where(jnp.all(jnp.isfinite(w_PxD), -1), rel, jnp.inf)


@jax.jit
def _homotopy_prefixes(xs_BxNxD, ys_BxN, alpha):
    b, n, d = xs_BxNxD.shape
    g, c = prefix_gram(xs_BxNxD, ys_BxN)
    g, c = g.reshape(b * n, d, d), c.reshape(b * n, d)
    w, _ = homotopy(g, c, alpha, 8 * d + 8)
    return w.reshape(b, n, d), kkt_violation(g, c, w, alpha).reshape(b, n)


@jax.jit
def coordinate_descent(g_PxDxD, c_PxD, alpha, w_PxD, max_sweeps, tol=1e-13):
    """Cyclic coordinate descent on the Gram form from w, until no coordinate moves by more than
    tol * max_j |c_j| in a sweep, or max_sweeps sweeps."""
    d = c_PxD.shape[-1]
    diag = jnp.diagonal(g_PxDxD, axis1=-2, axis2=-1)
    tol_P = tol * jnp.max(jnp.abs(c_PxD), -1)

    def coord(j, carry):
        w, r, moved = carry
        gjj, wj = diag[:, j], w[:, j]
        z = r[:, j] + gjj * wj
        new = jnp.where(gjj > 0, jnp.sign(z) * jnp.maximum(jnp.abs(z) - alpha, 0.0)
                        / jnp.where(gjj > 0, gjj, 1.0), 0.0)
        r = r - g_PxDxD[:, :, j] * (new - wj)[:, None]
        return w.at[:, j].set(new), r, jnp.maximum(moved, jnp.abs(new - wj))

    def body(s):
        w, _, it = s
        r = c_PxD - jnp.einsum("pij,pj->pi", g_PxDxD, w)  # fresh residual every sweep
        w, _, moved = jax.lax.fori_loop(0, d, coord, (w, r, jnp.zeros_like(tol_P)))
        return w, jnp.all(moved <= tol_P), it + 1

    w, _, _ = jax.lax.while_loop(lambda s: ~s[1] & (s[2] < max_sweeps), body,
                                 (w_PxD, jnp.asarray(False), jnp.asarray(0)))
    return w


def lasso_fit(xs_BxNxD, ys_BxN, alpha: float = 0.01, n_iter: int = 100_000):
    """Prefix-wise Lasso weights w_BxNxD and whether each passed the KKT check (certified_BxN).

    The homotopy for all prefixes; coordinate descent (`n_iter` sweeps at most, from the
    homotopy's point) for any that fail the check, with a warning for those still uncertified.
    Call eagerly, with float64 arrays.
    """
    xs_BxNxD, ys_BxN = jnp.asarray(xs_BxNxD), jnp.asarray(ys_BxN)
    if xs_BxNxD.dtype != jnp.float64 or ys_BxN.dtype != jnp.float64:
        raise ValueError("lasso_fit needs float64 arrays (run it under jax.enable_x64), got "
                         f"{xs_BxNxD.dtype} and {ys_BxN.dtype}")
    w, viol = _homotopy_prefixes(xs_BxNxD, ys_BxN, alpha)
    w, viol = np.array(w), np.array(viol)
    fails = np.argwhere(~(viol <= KKT_RTOL))
    if len(fails):
        bi, ki = fails[:, 0], fails[:, 1]
        xs, ys = xs_BxNxD[bi], ys_BxN[bi]
        g, c = prefix_gram(xs, ys)
        g, c = g[jnp.arange(len(bi)), ki], c[jnp.arange(len(bi)), ki]
        pad = 2 ** math.ceil(math.log2(len(bi))) - len(bi)  # few distinct shapes to compile
        g, c = jnp.pad(g, ((0, pad), (0, 0), (0, 0))), jnp.pad(c, ((0, pad), (0, 0)))
        w0 = jnp.pad(jnp.nan_to_num(jnp.asarray(w[bi, ki]), nan=0.0, posinf=0.0, neginf=0.0),
                     ((0, pad), (0, 0)))
        w_cd = coordinate_descent(g, c, alpha, w0, n_iter)
        w[bi, ki] = np.asarray(w_cd)[:len(bi)]
        viol[bi, ki] = np.asarray(kkt_violation(g, c, w_cd, alpha))[:len(bi)]
    certified = viol <= KKT_RTOL
    if not certified.all():
        warnings.warn(f"Lasso: {int((~certified).sum())} of {certified.size} prefixes fail the "
                      f"KKT check (tolerance {KKT_RTOL:g} max|c|) after the homotopy and "
                      f"{n_iter} coordinate-descent sweeps; {int(certified.sum())} certified",
                      stacklevel=2)
    return w, certified


def lasso_predict(xs_BxNxD, ys_BxN, alpha: float = 0.01, n_iter: int = 100_000):
    """Prefix-wise Lasso predictions preds_BxN (see `lasso_fit`; call eagerly)."""
    w, _ = lasso_fit(xs_BxNxD, ys_BxN, alpha, n_iter)
    return np.sum(w * np.asarray(xs_BxNxD), -1)


def build(ctx):
    if not has_tag(ctx.task_families, "linear"):
        raise NotApplicable("Lasso is for tasks with a linear family")
    al, it = ctx.opts.lasso_alpha, ctx.opts.lasso_iter

    def fn(xs, ys):
        w, certified = lasso_fit(xs, ys, al, it)
        return jnp.sum(w * xs, -1), {"kkt_certified": certified.astype(np.float64)}

    return fn, f"Lasso (exact: LARS homotopy, KKT-checked), alpha={al:g}"


SPEC = register(Spec("lasso", build, "Lasso", ("tab:purple", "-.", 1.2), doc=" ".join(__doc__.split())))
