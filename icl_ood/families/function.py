"""One fixed function of x, written as an expression (e.g. `0.2*sin(3*pi*x)+0.23*x`): a test
task that is a single function rather than a prior (Mueller et al. 2024's test functions)."""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass

from icl_ood.families import Family, Gaussian, jnp, register

NAMES = ("sin", "cos", "exp", "log", "sqrt", "abs", "tanh", "pi", "e")  # jax.numpy's
NODES = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Call, ast.Name, ast.Load, ast.Constant,
         ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow, ast.USub, ast.UAdd)


@functools.lru_cache(maxsize=64)
def compiled(expr: str):
    """The code of `expr`, a formula in x (1-D), numbers, + - * / ** and the names in NAMES;
    ValueError (one line) for anything else."""
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError as e:
        raise ValueError(f"expr: not a formula ({e.msg}): {expr!r}") from None
    for node in ast.walk(tree):
        ok = isinstance(node, NODES)
        if isinstance(node, ast.Name) and node.id not in NAMES and node.id != "x":
            ok = False
        if isinstance(node, ast.Constant) and not isinstance(node.value, (int, float)):
            ok = False
        if isinstance(node, ast.Call) and not (isinstance(node.func, ast.Name) and not node.keywords):
            ok = False
        if not ok:
            raise ValueError(f"expr: only numbers, x, + - * / ** and {', '.join(NAMES)} are "
                             f"allowed, got {ast.unparse(node)!r} in {expr!r}")
    return compile(tree, "<expr>", "eval")


@dataclass(frozen=True)
class Prior:
    """data.function: the expression (the function every prompt of the task uses)."""

    expr: str = "0.2*sin(3*pi*x)+0.23*x"

    def __post_init__(self):
        if not isinstance(self.expr, str):
            raise TypeError(f"expr: must be a string, got {self.expr!r}")
        compiled(self.expr)


class Formula:
    """x -> the expression's value (hashable)."""

    def __init__(self, expr: str):
        self.expr = expr

    def __call__(self, xs_BxNxD):
        y = eval(compiled(self.expr), {"__builtins__": {}}, {**{n: getattr(jnp, n) for n in NAMES}, "x": xs_BxNxD[..., 0]})
        return jnp.broadcast_to(jnp.asarray(y, xs_BxNxD.dtype), xs_BxNxD.shape[:-1])

    def __eq__(self, other):
        return isinstance(other, Formula) and self.expr == other.expr

    def __hash__(self):
        return hash((Formula, self.expr))


def sample(key, batch: int, dim: int, prior: Prior):
    return {"expr": prior.expr}


def apply(p, xs_BxNxD):
    return Formula(p["expr"])(xs_BxNxD)


def check(prior: Prior, dim: int) -> None:
    if dim != 1:
        raise ValueError(f"expr: formulas are in 1-D x (data.dim = 1), got data.dim = {dim}")


def bayes(prior: Prior, dim: int, opts):
    """A point mass at the function: its Bayes predictor is the function itself (exact)."""
    return [Gaussian((), (), mean=Formula(prior.expr))], True


FAMILY = register(Family("function", sample, apply, prior=Prior, bayes=bayes,
                         label="fixed function", check=check, describe=lambda prior: {"function": prior.expr},
                         doc=" ".join(__doc__.split())))
