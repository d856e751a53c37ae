"""`icl-ood sweep`: a grid planned, submitted through submitit's local executor, killed and
resumed, sharded over two CPU devices, collected into the ordinary report and figures.

The fast tests plan (no training). The acceptance runs (a 2-size x 2-seed tiny grid end to end,
a SIGKILLed task resumed, 4 seeds on 2 devices) train and score real runs in subprocesses: about
a minute each on a 2-core CPU, so they are marked slow (`pytest -m slow tests/test_studies.py`).
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from icl_ood import results
from icl_ood.cli import main
from icl_ood.config import ConfigError
from icl_ood.studies import parse_grid, read_plan, states

# Orbax leaves futures of failed reads unretrieved; pytest would report each of them.
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
# 200 steps: checkpoints every 50 (and kept at 50, 100: scored there too), a kill lands mid-run
TINY = ["--experiment", "demo", "--preset", "tiny", "--set", "train.steps=200",
        "--set", "train.steps_per_dispatch=50", "--set", "train.ckpt_every=50",
        "--set", "train.log_every=50", "--set", "train.keep_log=true",
        "--sweeps", "k", "--n-prompts", "16"]
GRID = ["--grid", "model.d_model=16,32", "--seeds", "0,1"]


def cli(*args: str) -> subprocess.CompletedProcess:
    """`icl-ood ARGS` in a fresh process (JAX starts there)."""
    return subprocess.run([sys.executable, "-m", "icl_ood.cli", *args], capture_output=True,
                          text=True, timeout=600)


def plan(out: Path, *extra: str) -> None:
    assert main(["sweep", "plan", *TINY, *GRID, *extra, "--out", str(out)]) == 0


def mtimes(folder: Path) -> dict:
    return {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


def lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.strip()]


# ------------------------------------------------------------------------------ fast: planning

def test_grid_values_parse_like_set_values():
    assert parse_grid(["model.d_model=16,32"]) == [("model.d_model", ["16", "32"])]
    assert parse_grid(["data.weights=[1,0],[0.5,0.5]"]) == [
        ("data.weights", ["[1, 0]", "[0.5, 0.5]"])]
    assert parse_grid(["model.attention=einsum,xla"]) == [
        ("model.attention", ["einsum", "xla"])]
    for bad in ("model.d_model", "model.d_model=", "model.d_model=16,16", "x=1,,2"):
        with pytest.raises(ConfigError):
            parse_grid([bad])


def test_plan_writes_one_task_per_configuration_with_its_seeds(tmp_path, capsys):
    out = tmp_path / "study"
    plan(out)
    request, todo = read_plan(out)
    assert [t["name"] for t in todo] == ["d_model=16", "d_model=32"]
    assert [t["seeds"] for t in todo] == [[0, 1], [0, 1]]
    assert [t["config"]["model"]["d_model"] for t in todo] == [16, 32]
    assert len({t["hash"] for t in todo}) == 2 and request["grid"] == {
        "model.d_model": ["16", "32"]}
    assert [s.state for s in states(out)] == ["not started"] * 2
    before = mtimes(out)
    plan(out)  # the same grid again: a no-op
    assert mtimes(out) == before
    assert "unchanged" in capsys.readouterr().out


def test_a_changed_grid_is_refused_in_one_line(tmp_path, capsys):
    out = tmp_path / "study"
    plan(out)
    before = mtimes(out)
    capsys.readouterr()
    assert main(["sweep", "plan", *TINY, "--grid", "model.d_model=16,64", "--seeds", "0,1",
                 "--out", str(out)]) == 2
    err = lines(capsys.readouterr().err)
    assert len(err) == 1 and "grid model.d_model: 16,32 -> 16,64" in err[0], err
    assert main(["sweep", "plan", *TINY, *GRID, "--seeds", "0,1,2", "--out", str(out)]) == 2
    err = lines(capsys.readouterr().err)
    assert len(err) == 1 and "seeds: [0, 1] -> [0, 1, 2]" in err[0], err
    assert mtimes(out) == before


def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys):
    for bad in (["--grid", "model.d_model=16,33"],  # 33: not divisible by the 2 heads
                ["--grid", "model.nope=1,2"], ["--seeds", "0,x"], ["--sweeps", "nope"]):
        out = tmp_path / "study"
        args = [*TINY, *(GRID[:2] if bad[0] != "--grid" else []), *bad, "--out", str(out)]
        assert main(["sweep", "plan", *args]) == 2, bad
        err = lines(capsys.readouterr().err)
        assert len(err) == 1 and err[0].startswith("icl-ood: error:"), (bad, err)
        assert not out.exists(), bad


def test_collect_and_run_refuse_before_any_compute(tmp_path, capsys):
    out = tmp_path / "study"
    plan(out)
    capsys.readouterr()
    assert main(["sweep", "collect", str(out)]) == 2
    err = lines(capsys.readouterr().err)
    assert len(err) == 1 and "0 d_model=16 (not started); 1 d_model=32" in err[0], err
    assert not (out / "report.md").exists()
    assert main(["sweep", "run", str(out), "--index", "7"]) == 2
    assert "--index: 7 outside 0..1" in capsys.readouterr().err
    assert main(["sweep", "status", str(tmp_path)]) == 2  # not a study
