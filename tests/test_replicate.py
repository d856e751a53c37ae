"""The main job end to end on the tiny preset: the Colab notebook top to bottom, stage reuse,
figures redrawn from saved results, and requests that must be refused."""

import json
import os
from pathlib import Path

import pytest

from icl_ood import experiments
from icl_ood.cli import main
from icl_ood.config import ConfigError

NB = Path(__file__).resolve().parent.parent / "notebooks" / "colab.ipynb"
TINY = {"EXPERIMENT": "demo", "PRESET": "tiny", "OVERRIDES": ["train.steps=100"], "N_PROMPTS": 32}


def run_notebook(out: Path) -> dict:
    """Executes the notebook's code cells in order (shell lines skipped, parameters replaced)."""
    ns: dict = {}
    for cell in json.loads(NB.read_text())["cells"]:
        if cell["cell_type"] != "code":
            continue
        src = "".join(cell["source"])
        if "parameters" in cell["metadata"].get("tags", []):
            src += "\n" + "\n".join(f"{k} = {v!r}" for k, v in {**TINY, "OUT": str(out)}.items())
        src = "\n".join(ln for ln in src.splitlines() if not ln.lstrip().startswith(("!", "%")))
        exec(compile(src, f"{NB.name}:{cell['id']}", "exec"), ns)  # noqa: S102
    return ns


def mtimes(folder: Path) -> dict:
    return {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def out(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("replicate") / "demo-tiny"
    ns = run_notebook(out)
    assert Path(ns["out"]) == out
    return out


def test_notebook_leaves_figures_report_and_provenance(out):
    figs = {p.name for p in (out / "figures").iterdir()}
    for stem in ("1_error_vs_k", "2_convex_sweep", "3_frequency_sweep", "4_examples_both",
                 "6_training_curves"):
        assert {f"{stem}.png", f"{stem}.pdf"} <= figs, stem
    prov = json.loads((out / "provenance.json").read_text())
    for key in ("command", "commit", "device", "seeds", "preset", "experiment"):
        assert prov[key], key
    assert prov["stages"]["train/both"]["wall_s"] > 0
    report = (out / "report.md").read_text()
    rows = [json.loads(ln) for ln in (out / "runs/both/eval/convex.jsonl").read_text().splitlines()]
    model_mid = next(r for r in rows if r["predictor"] == "model" and r["a"] == 0.5 and r["k"] == 5)
    # the report's table quotes the saved number (k = 5 is the first column)
    assert f"| 0.5 | Transformer | {model_mid['normalized']:.3f} |" in report
    assert "tracks" in report and "figures/1_error_vs_k.png" in report


def test_rerun_reuses_every_stage(out):
    before = mtimes(out / "runs")
    logs = []
    experiments.replicate(TINY["EXPERIMENT"], TINY["PRESET"], out,
                          overrides=tuple(TINY["OVERRIDES"]), n_prompts=TINY["N_PROMPTS"],
                          progress=False, log=logs.append)
    assert any("train both: done" in m for m in logs)
    assert any("evaluate both: done, reused" in m for m in logs)
    assert mtimes(out / "runs") == before  # no checkpoint or result rewritten


def test_figures_from_redraws_without_touching_results(out, capsys):
    before = mtimes(out / "runs")
    for p in (out / "figures").glob("2_*"):
        p.unlink()
    assert main(["figures", "--from", str(out)]) == 0
    assert (out / "figures/2_convex_sweep.png").exists()
    assert mtimes(out / "runs") == before


def test_other_request_into_same_folder_is_refused(out):
    before = mtimes(out)
    with pytest.raises(ConfigError, match="overrides"):
        experiments.replicate(TINY["EXPERIMENT"], TINY["PRESET"], out,
                              overrides=("train.steps=200",), n_prompts=TINY["N_PROMPTS"])
    assert mtimes(out) == before


def test_bad_requests_fail_before_any_file(tmp_path, capsys):
    dest = tmp_path / "o"
    assert main(["replicate", "--experiment", "nope", "--out", str(dest)]) == 2
    assert "--experiment" in capsys.readouterr().err
    assert main(["replicate", "--preset", "tiny", "--set", "model.n_heads=3",
                 "--out", str(dest)]) == 2
    assert "model.d_model" in capsys.readouterr().err
    assert main(["figures", "--from", str(dest)]) == 2
    assert not os.path.exists(dest)
