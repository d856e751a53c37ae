"""2-layer ReLU nets (Garg et al.): y = sum_{i<=r} alpha_i ReLU(w_i.x), alpha_i ~ N(0, 2/r),
w_i ~ N(0, I_d)."""

from __future__ import annotations

from dataclasses import dataclass

from icl_ood.families import Family, Gaussian, jax, jnp, register


@dataclass(frozen=True)
class Prior:
    """data.relu_net: hidden units r."""

    width: int = 100

    def __post_init__(self):
        if not (isinstance(self.width, int) and self.width >= 1):
            raise ValueError(f"width: must be an integer >= 1, got {self.width!r}")


def sample(key, batch: int, dim: int, prior: Prior):
    ka, kw = jax.random.split(key)
    r = prior.width
    return {"alpha_BxU": jax.random.normal(ka, (batch, r)) * jnp.sqrt(2.0 / r),
            "w_BxUxD": jax.random.normal(kw, (batch, r, dim))}


def apply(p, xs_BxNxD):
    h_BxNxU = jax.nn.relu(jnp.einsum("bnd,brd->bnr", xs_BxNxD, p["w_BxUxD"]))
    return jnp.einsum("bnr,br->bn", h_BxNxU, p["alpha_BxU"])


def arccos1_kernel(xs_BxNxD):
    """K_BxNxN = Cov(f(x_n), f(x_m)) for any width r: 2 E_w[ReLU(w.x) ReLU(w.x')]
    = (|x||x'|/pi) (sin t + (pi - t) cos t), t = angle(x, x') (Cho & Saul's k_1; |x|^2 at x = x').

    Written with c = cos t as (|x||x'|/pi) (sqrt(1 - c^2) + (pi - arccos c) c), whose derivative
    in c is pi - arccos c (bounded), so rounding in c near +-1 stays harmless."""
    sq_BxN = jnp.sum(jnp.square(xs_BxNxD), -1)
    dot_BxNxN = jnp.einsum("...nd,...md->...nm", xs_BxNxD, xs_BxNxD,
                           precision=jax.lax.Precision.HIGHEST)
    norm_BxNxN = jnp.sqrt(sq_BxN[..., :, None] * sq_BxN[..., None, :])
    c = jnp.clip(dot_BxNxN / jnp.where(norm_BxNxN > 0, norm_BxNxN, 1.0), -1.0, 1.0)
    return norm_BxNxN / jnp.pi * (jnp.sqrt(1.0 - c * c) + (jnp.pi - jnp.arccos(c)) * c)


def bayes(prior: Prior, dim: int, opts):
    """The arc-cosine GP: the family's exact covariance for any width, Gaussian only as
    r -> infinity (approximate)."""
    return [Gaussian((), (), 0.0, (arccos1_kernel,))], False


FAMILY = register(Family("relu_net", sample, apply, prior=Prior, bayes=bayes, label="ReLU net",
                         mean_square=lambda prior, dim, x2: dim * x2,  # E[f^2] = E|x|^2
                         doc=" ".join(__doc__.split())))
