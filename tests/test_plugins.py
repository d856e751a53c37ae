"""Plug-ins: a family registered from a file outside icl_ood/ (the README's example) trains and
evaluates end to end on the tiny preset; every baseline applies or is skipped with a note."""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
CUBIC = '''
import jax
import jax.numpy as jnp
from icl_ood.families import Family, register


def sample(key, batch, dim, prior):
    return {"w_BxD": jax.random.normal(key, (batch, dim))}


def apply(p, xs_BxNxD):
    return jnp.einsum("bnd,bd->bn", xs_BxNxD ** 3, p["w_BxD"])


register(Family("cubic", sample, apply))  # no Bayes prior declared
'''


def readme_family() -> str:
    """The Python block of the README's "Add your own function family" section."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Add your own function family", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)


def icl(args, plugins, cwd):
    out = subprocess.run([sys.executable, "-m", "icl_ood.cli", "--plugins", plugins, *args],
                         cwd=cwd, capture_output=True, text=True, timeout=300, check=False,
                         env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


@pytest.mark.parametrize("family", ["line_with_intercept",
                                    pytest.param("cubic", marks=pytest.mark.slow)])
def test_user_family_trains_and_evaluates_with_every_baseline_or_a_note(tmp_path, family):
    plugin = tmp_path / "my_families.py"
    plugin.write_text(readme_family() + CUBIC)
    run = tmp_path / "run"
    sets = ["--set", f'data.families=["{family}"]', "--set", "train.steps=200"]
    if family == "line_with_intercept":
        sets += ["--set", "data.line_with_intercept.slope_std=2"]
    icl(["train", "--quiet", "--preset", "tiny", "--run-dir", str(run), *sets], str(plugin),
        tmp_path)
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["data"]["families"] == [family]
    out = icl(["evaluate", "--run", str(run), "--sweep", "k", "--n-prompts", "64"], str(plugin),
              tmp_path)
    rows = [json.loads(ln) for ln in (run / "eval" / "k.n64.jsonl").read_text().splitlines()]
    preds = {r["predictor"] for r in rows}
    assert {"model", "least_squares", "ridge", "knn3"} <= preds
    err = {p: np.mean([r["normalized"] for r in rows if r["predictor"] == p and r["k"] >= 5])
           for p in preds}
    assert all(np.isfinite(v) for v in err.values())
    if family == "line_with_intercept":
        assert cfg["data"]["line_with_intercept"] == {"slope_std": 2.0}
        # Its declared prior is exact: the Bayes predictor beats least squares without an
        # intercept, and the model learned something (below the zero predictor's 1).
        assert {"bayes_mixture", "task_bayes", "lasso"} <= preds
        assert err["bayes_mixture"] < 0.5 * err["least_squares"]
        assert err["model"] < 0.9
    else:  # no Bayes prior: both Bayes predictors are skipped, each with a one-line note
        assert not {"bayes_mixture", "task_bayes", "lasso"} & preds
        assert "note: bayes_mixture: skipped (family 'cubic' declares no Bayes prior)" in out
        assert "note: task_bayes: skipped" in out


def test_unknown_plugin_family_is_a_one_line_error(tmp_path):
    out = subprocess.run([sys.executable, "-m", "icl_ood.cli", "train", "--preset", "tiny",
                          "--run-dir", str(tmp_path / "r"), "--set", 'data.families=["cubic"]'],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path, check=False,
                         env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 2 and out.stderr.strip().count("\n") == 0
    assert out.stderr.startswith("icl-ood: error: data.families: unknown family 'cubic'")
    assert not (tmp_path / "r").exists()
