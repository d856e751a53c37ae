"""Golden test: every preset draws bitwise the same training prompts, evaluation prompts and
initial parameters as at commit edc3d5e for the same seed (so committed figures stay valid);
"init" is the earlier model's (model.init="gpt2", which every committed run before 2026-12-07
used), "init_reference" the reference initialisation's, the presets' default since then.

Bits depend on the library versions too (flax's initializer streams and XLA's rounding of f
differ between jax 0.10.2 / flax 0.12.8, what pip gives Python 3.11, and jax 0.12 / flax
0.12.12 on Python 3.12), so golden.json keeps one set per versions: edc3d5e's for jax 0.10.2,
f70df49's (the same code) for jax 0.12.0.1."""

import hashlib
import json
from pathlib import Path

import flax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from icl_ood import presets
from icl_ood.data import prompts
from icl_ood.train import init_runs

NAMES = ["tiny", "demo", "colab", "paper", "d20"]
GOLDEN = Path(__file__).with_name("golden.json")
VERSIONS = f"jax {jax.__version__}, flax {flax.__version__}"


def _digest(*arrays) -> str:
    h = hashlib.sha256()
    for a in jax.tree.leaves(arrays):
        h.update(np.asarray(a).tobytes())
    return h.hexdigest()[:16]


def _config(name: str):
    if name == "d20":  # the selection experiment's data: Garg et al.'s d = 20 families
        return presets.get("paper").override(["data.dim=20", "data.x_dist=\"gaussian\"",
                                              "data.x_scale=1.0"])
    return presets.get(name)


def fingerprints(name: str) -> dict:
    """Hashes of a preset's first training batch, a convex and a frequency test draw, and the
    initial parameters of seed 0 (dims and points shrunk where the preset is large)."""
    cfg = _config(name)
    key = jax.random.fold_in(jax.random.key(0), 1)
    batch = prompts.training_batch(jax.random.fold_in(key, 0), jnp.asarray(0), 8, cfg.data)
    f2 = "sinusoid" if cfg.data.dim == 1 else "relu_net"
    conv = prompts.sample_convex(key, 8, cfg.data, "linear", f2, 0.3)[:2]
    out = {"train_batch": _digest(batch), "convex": _digest(conv)}
    for fam in ("linear", "sparse_linear", "relu_net") + (("sinusoid",) if cfg.data.dim == 1 else ()):
        out[fam] = _digest(prompts.sample_family(key, fam, 8, cfg.data)[:2])
    if name in ("tiny", "demo"):
        _, state, _ = init_runs(cfg.override(['model.init="gpt2"']), [0])
        out["init"] = _digest(state.params)
        _, state, _ = init_runs(cfg.override(['model.init="reference"']), [0])
        out["init_reference"] = _digest(state.params)
    return out


@pytest.mark.parametrize("name", NAMES)
def test_presets_draw_golden_prompts_and_init(name):
    golden = json.loads(GOLDEN.read_text())
    if VERSIONS not in golden:
        pytest.skip(f"no golden draws for {VERSIONS} (known: {', '.join(golden)}); add them with "
                    "`python tests/test_golden.py` at a commit whose draws are known good")
    assert fingerprints(name) == golden[VERSIONS][name]


if __name__ == "__main__":  # regenerate (only when a change of the draws is intended);
    # --add-new-keys: only add fingerprints the file lacks, asserting the others unchanged
    import sys
    known = json.loads(GOLDEN.read_text()) if GOLDEN.exists() else {}
    new = {n: fingerprints(n) for n in NAMES}
    if "--add-new-keys" in sys.argv and VERSIONS in known:
        for n, fp in new.items():
            old = known[VERSIONS][n]
            assert all(fp[k] == v for k, v in old.items()), (n, fp, old)
    known[VERSIONS] = new
    GOLDEN.write_text(json.dumps(known, indent=1) + "\n")
