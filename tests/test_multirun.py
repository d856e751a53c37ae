"""Several runs in one program (one at a time or vmapped): per-run pretraining mixtures and seeds, run folders,
metrics with zero-weight families, equality with training each config alone, exact resume."""

import json
import subprocess
import sys

import jax
import numpy as np
import pytest
from flax import nnx

from icl_ood import presets
from icl_ood.config import ConfigError, DataConfig
from icl_ood.train import load_model, run_configs, train, train_many

# The paper's comparison: linear only, sinusoid only, both (one program, three run folders).
BASE = presets.get("tiny").override([
    'data.families=["linear","sinusoid"]', "data.weights=[0.5,0.5]", "data.x_dist=uniform",
    "data.x_scale=3.0", "train.steps=60", "train.log_every=20", "train.ckpt_every=20"])
VARY = ["data.weights=[[1,0],[0,1],[0.5,0.5]]"]
FOLDERS = ["w1-0", "w0-1", "w0.5-0.5"]
# A vmapped group vs its runs one at a time: batched matmuls round differently, so not bitwise;
# measured on a 2-core CPU: loss records within 2e-7 relative, parameters within 4e-4 (Adam's
# m / sqrt(v) turns rounding in near-zero gradients into steps of up to lr = 2e-3).
LOSS_RTOL, PARAM_ATOL = 1e-5, 2e-3


def records(run_dir):
    return [json.loads(ln) for ln in (run_dir / "metrics.jsonl").read_text().splitlines()]


def params(run_dir):
    model, _, step = load_model(run_dir)
    return step, [np.asarray(x) for x in jax.tree.leaves(nnx.state(model, nnx.Param))]


@pytest.fixture(scope="module")
def group(tmp_path_factory):
    """BASE trained with three mixtures together, straight through."""
    run_dir = tmp_path_factory.mktemp("group")
    summary = train(BASE, run_dir, progress=False, vary=VARY)
    return run_dir, summary


def test_zero_weights_are_valid_but_negative_or_unnormalised_are_not():
    assert DataConfig(families=("linear", "sinusoid"), weights=(0.0, 1.0)).weights == (0.0, 1.0)
    for bad, msg in (((0.0, 0.0), "sum to 1"), ((-0.5, 1.5), "be non-negative"),
                     ((0.7, 0.7), "sum to 1")):
        with pytest.raises(ConfigError, match=rf"data\.weights: must {msg}"):
            DataConfig(families=("linear", "sinusoid"), weights=bad)


def test_run_folders_for_vary_and_num_runs(tmp_path):
    runs = run_configs(BASE, tmp_path, 2, VARY)
    assert [str(d.relative_to(tmp_path)) for _, d in runs] == [
        f"{w}/seed{s}" for w in FOLDERS for s in (0, 1)]
    assert [(c.data.weights, c.train.seed) for c, _ in runs] == [
        (w, s) for w in ((1.0, 0.0), (0.0, 1.0), (0.5, 0.5)) for s in (0, 1)]
    seeds = run_configs(BASE, tmp_path, 1, ["train.seed=[3,5]"])
    assert [(c.train.seed, d.name) for c, d in seeds] == [(3, "seed3"), (5, "seed5")]
    assert run_configs(BASE, tmp_path, 1) == [(BASE, tmp_path)]


def test_runs_differing_in_other_fields_are_refused(tmp_path):
    other = BASE.override(["data.weights=[1,0]", "model.d_model=64", "train.lr=0.01"])
    with pytest.raises(ConfigError, match=r"run 1 differs from run 0 in model\.d_model: 32 -> 64; "
                                          r"train\.lr: 0\.002 -> 0\.01; runs trained together "
                                          r"may differ only in train\.seed, data\.weights"):
        train_many([BASE, other], [tmp_path / "a", tmp_path / "b"], progress=False)
    with pytest.raises(ConfigError, match="share the folder"):
        train_many([BASE, BASE], [tmp_path / "a", tmp_path / "a"], progress=False)
    with pytest.raises(ConfigError, match=r"--vary: 'model\.d_model' cannot vary"):
        run_configs(BASE, tmp_path, 1, ["model.d_model=[32,64]"])
    with pytest.raises(ConfigError, match="non-empty JSON list"):
        run_configs(BASE, tmp_path, 1, ["data.weights=[1,0]x"])
    with pytest.raises(ConfigError, match=r"data\.weights: must sum to 1"):
        run_configs(BASE, tmp_path, 1, ["data.weights=[[1,0],[0.5,0.6]]"])
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_each_run_has_its_folder_config_metrics_and_checkpoints(group):
    run_dir, summary = group
    assert summary["num_runs"] == 3 and len(summary["final_loss"]) == 3
    for name, w in zip(FOLDERS, ((1.0, 0.0), (0.0, 1.0), (0.5, 0.5))):
        d = run_dir / name
        assert json.loads((d / "config.json").read_text())["data"]["weights"] == list(w)
        recs = records(d)
        assert [r["step"] for r in recs] == [20, 40, 60]
        for r in recs:  # a family that drew no prompt is null, never a made-up number
            per = r["loss_per_family"]
            for fam, wf in zip(("linear", "sinusoid"), w):
                assert (per[fam] is None) == (wf == 0), (name, per)
            if 0 not in w:  # the mean loss is the prompt-weighted mean of the families
                assert min(per.values()) - 1e-6 <= r["loss"] <= max(per.values()) + 1e-6
            assert "NaN" not in json.dumps(r)
        assert params(d)[0] == 60
    # The mixtures really differ: the models trained on them are different functions.
    assert not np.allclose(params(run_dir / FOLDERS[0])[1][0], params(run_dir / FOLDERS[1])[1][0])


def test_each_run_equals_its_config_trained_alone(group, tmp_path):
    """On a CPU runs go one at a time (run_batch 1): bitwise what each computes alone."""
    run_dir, _ = group
    for name, (cfg, _) in zip(FOLDERS, run_configs(BASE, run_dir, 1, VARY)):
        alone = tmp_path / name
        train(cfg, alone, progress=False)
        assert [r["loss"] for r in records(run_dir / name)] == [r["loss"] for r in records(alone)]
        for x, y in zip(params(run_dir / name)[1], params(alone)[1], strict=True):
            np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("run_batch", [2, 3])
def test_vectorised_runs_match_runs_one_at_a_time(group, tmp_path, run_batch):
    """The accelerator path (vmap over all runs, or over groups of 2 then lax.map) trains the
    same runs as one at a time, to float tolerance."""
    run_dir, _ = group
    train(BASE, tmp_path, progress=False, vary=VARY, run_batch=run_batch)
    for name in FOLDERS:
        np.testing.assert_allclose([r["loss"] for r in records(tmp_path / name)],
                                   [r["loss"] for r in records(run_dir / name)], rtol=LOSS_RTOL)
        for x, y in zip(params(tmp_path / name)[1], params(run_dir / name)[1], strict=True):
            np.testing.assert_allclose(x, y, rtol=0, atol=PARAM_ATOL)


def test_group_resume_is_exact(group, tmp_path):
    """Stopped at step 40 and rerun: bitwise the same parameters and metrics as straight."""
    run_dir, _ = group
    assert train(BASE, tmp_path, progress=False, vary=VARY, stop_at=40)["steps"] == 40
    summary = train(BASE, tmp_path, progress=False, vary=VARY)
    assert summary["resumed_from"] == 40 and summary["steps"] == 60
    def untimed(d):
        return [{k: v for k, v in r.items() if k not in ("steps_per_s", "wall_s")}
                for r in records(d)]
    for name in FOLDERS:
        assert untimed(tmp_path / name) == untimed(run_dir / name)
        for x, y in zip(params(run_dir / name)[1], params(tmp_path / name)[1], strict=True):
            np.testing.assert_array_equal(x, y)


def test_cli_vary_rejects_fields_that_cannot_share_a_program(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "icl_ood.cli", "train", "--preset", "tiny", "--quiet",
         "--run-dir", str(tmp_path / "r"), "--vary", "train.lr=[0.1,0.2]"],
        capture_output=True, text=True, check=False)
    assert out.returncode == 2 and "--vary: 'train.lr' cannot vary" in out.stderr
    assert not (tmp_path / "r").exists()


def test_cli_run_batch_below_one_is_refused_before_anything_is_written(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "icl_ood.cli", "train", "--preset", "tiny", "--quiet",
         "--run-dir", str(tmp_path / "r"), "--num-runs", "2", "--run-batch", "0"],
        capture_output=True, text=True, check=False)
    assert out.returncode == 2 and "run_batch: must be >= 1, got 0" in out.stderr
    assert not (tmp_path / "r").exists()
