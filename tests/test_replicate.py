"""The main job end to end on the tiny preset: the Colab notebook top to bottom, stage reuse,
figures redrawn from saved results, requests that must be refused, and stale or half-finished
results never shown as complete (issue 11: interrupted replicate, figures --from a folder without
results, a damaged final checkpoint, evaluate with other options)."""

import json
import os
import shutil
import signal
import sys
from pathlib import Path

import pytest

import icl_ood.train
from icl_ood import examples, experiments, replicate, results
from icl_ood.cli import main
from icl_ood.config import ConfigError

NB = Path(__file__).resolve().parent.parent / "notebooks" / "colab.ipynb"
TINY = {"EXPERIMENT": "demo", "PRESET": "tiny", "OVERRIDES": ["train.steps=100",
                                                             "train.ckpt_every=40"],
        "N_PROMPTS": 32}
TINY_ARGS = ["replicate", "--experiment", "demo", "--preset", "tiny", "--quiet",
             *[a for o in TINY["OVERRIDES"] for a in ("--set", o)],
             "--n-prompts", str(TINY["N_PROMPTS"])]
# Orbax leaves futures of failed reads unretrieved; pytest would report each of them.
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


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


def contents(folder: Path) -> dict:
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def err_lines(err: str) -> list[str]:
    return [ln for ln in err.splitlines() if ln.strip()]


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
    rows = [json.loads(ln) for ln in
            (out / "runs/both/eval/convex.n32.jsonl").read_text().splitlines()]
    model_mid = next(r for r in rows if r["predictor"] == "model" and r["a"] == 0.5 and r["k"] == 5)
    # the report's table quotes the saved number and interval (k = 5 is the first column); with
    # k <= 10 (the tiny preset) each k is one column, and one sentence compares at k = 10
    assert (f"| 0.5 | Transformer | {model_mid['normalized']:.3f} [{model_mid['norm_lower']:.3f}, "
            f"{model_mid['norm_upper']:.3f}] |") in report
    assert "| a | predictor | k=5 | k=10 |\n" in report
    assert report.count("over the mixtures 0 < a < 1") == 1 and "At k = 10," in report
    assert "figures/1_error_vs_k.png" in report
    assert "Results from the checkpoint of step 100 (of 100 training steps)" in report
    # experiment.json describes the runs, so figures and report need no experiment definition
    exp = json.loads((out / "experiment.json").read_text())
    assert exp["runs"][0]["label"] == experiments.BOTH.label and exp["mix"] == ["linear",
                                                                               "sinusoid"]
    assert exp["runs"][0]["results"]["convex"] == ["eval/convex.n32.jsonl",
                                                   "eval/convex_bayes_weights.n32.jsonl"]
    for f in ("convex.n32", "freq.n32", "k.n32", "examples"):
        man = results.read_manifest(out / "runs/both/eval" / f"{f}.json")
        assert man["complete"] and man["inputs"]["checkpoint"]["step"] == 100, f
    assert results.read_manifest(out / "figures")["stage"] == "figures"
    assert results.read_manifest(out / "report.md")["stage"] == "report"


def test_notebook_zips_results_without_checkpoints(out):
    import zipfile
    names = zipfile.ZipFile(out.with_suffix(".zip")).namelist()
    assert f"{out.name}/report.md" in names and f"{out.name}/figures/2_convex_sweep.png" in names
    assert f"{out.name}/runs/both/eval/convex.n32.jsonl" in names
    assert not [n for n in names if "/ckpt/" in n]


def test_notebook_falls_back_to_the_demo_preset_on_a_cpu(capsys):
    """The notebook's setup cell on a CPU runtime: a larger preset becomes demo, with a warning;
    results go to results/<experiment>-<preset> unless OUT is set."""
    cell = next(c for c in json.loads(NB.read_text())["cells"] if "default_backend" in
                "".join(c["source"]))
    ns = {"EXPERIMENT": "ood", "PRESET": "colab", "DRIVE": False, "OUT": None}
    exec(compile("".join(cell["source"]), "setup", "exec"), ns)  # noqa: S102
    assert ns["PRESET"] == "demo" and ns["OUT"] == "results/ood-demo"
    assert "Warning: this runtime has no GPU" in capsys.readouterr().out


def test_rerun_reuses_every_stage(out):
    before = mtimes(out / "runs")
    logs = []
    replicate.replicate(TINY["EXPERIMENT"], TINY["PRESET"], out,
                        overrides=tuple(TINY["OVERRIDES"]), n_prompts=TINY["N_PROMPTS"],
                        progress=False, log=logs.append)
    assert any("train both: done" in m for m in logs)
    assert any("evaluate both (step 100): done, reused" in m for m in logs)
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
        replicate.replicate(TINY["EXPERIMENT"], TINY["PRESET"], out,
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


# ------------------------------------------- issue 11: stale or half-finished results as final

def _signal_at(monkeypatch, plan: dict[int, int]) -> None:
    """Sends plan[step] (a signal) to this process as the training chunk starting at that step
    is dispatched, as Ctrl-C (SIGINT) or a scheduler's SIGTERM would."""
    loop = sys.modules[icl_ood.train.train_many.__module__]  # the module whose loop calls it
    orig = loop.train_chunk

    def chunk(state, step0, *a, **kw):
        if int(step0) in plan:
            os.kill(os.getpid(), plan[int(step0)])
        return orig(state, step0, *a, **kw)
    monkeypatch.setattr(loop, "train_chunk", chunk)


def test_interrupted_replicate_runs_no_later_stage_and_rerun_recomputes(tmp_path, capsys):
    """Scenario 1: Ctrl-C (or SIGTERM) during training: checkpoint, exit 130 (143), one line,
    and no evaluation, figures or report of the half-trained model. The rerun finishes training
    and evaluates the final step, even where results of the interrupted model were left
    behind (here example curves, as the old replicate wrote them for figure 4)."""
    dest = tmp_path / "o"
    args = TINY_ARGS + ["--out", str(dest)]
    run_dir = dest / "runs" / "both"
    with pytest.MonkeyPatch.context() as mp:
        _signal_at(mp, {40: signal.SIGINT})
        assert main(args) == 130
    lines = err_lines(capsys.readouterr().err)
    assert all(ln.startswith("icl-ood: ") for ln in lines), lines
    assert "SIGINT" in lines[-1] and "stopped at step 60 of 100" in lines[-1], lines
    assert not (run_dir / "eval").exists() and not (dest / "figures").exists()
    assert not (dest / "report.md").exists()

    with pytest.MonkeyPatch.context() as mp:
        _signal_at(mp, {60: signal.SIGTERM})
        assert main(args) == 143
    lines = err_lines(capsys.readouterr().err)
    assert "SIGTERM" in lines[-1] and "stopped at step 80 of 100" in lines[-1], lines
    assert not (run_dir / "eval").exists() and not (dest / "report.md").exists()

    # example curves of the half-trained model (step 100 is not trained yet)
    stale = examples.write_examples(run_dir, ("linear", "sinusoid"))
    assert results.read_manifest(stale)["inputs"]["checkpoint"]["step"] == 80

    assert main(args) == 0
    out = capsys.readouterr().out
    assert "examples" in out  # recomputed, not reused
    man = results.read_manifest(run_dir / "eval" / "examples.json")
    assert man["inputs"]["checkpoint"]["step"] == 100
    assert json.loads((run_dir / "eval" / "examples.json").read_text())["step"] == 100
    for sweep in ("convex", "freq", "k"):
        rows = results.read_jsonl(run_dir / "eval" / f"{sweep}.n32.jsonl")
        assert {r["step"] for r in rows} == {100}, sweep
    assert "checkpoint of step 100 (of 100" in (dest / "report.md").read_text()


def test_figures_from_a_folder_without_results_refuses_and_touches_nothing(tmp_path, capsys):
    """Scenario 2: a folder with experiment.json, report.md and figures but no runs/ (as the
    older committed folders are): `figures --from` must not replace its report with a stub."""
    dest = tmp_path / "ood-demo"
    shutil.copytree(Path(__file__).resolve().parent.parent / "figures" / "ood-demo", dest)
    shutil.rmtree(dest / "runs")
    before = contents(dest)
    capsys.readouterr()
    assert main(["figures", "--from", str(dest)]) == 2
    lines = err_lines(capsys.readouterr().err)
    assert len(lines) == 1 and lines[0].startswith("icl-ood: error: --from"), lines
    assert "icl-ood replicate --experiment ood --preset demo" in lines[0]
    assert contents(dest) == before


def test_committed_demo_folder_redraws_from_its_saved_results(tmp_path):
    """figures/demo carries its saved results: `figures --from` redraws the same report."""
    dest = tmp_path / "demo"
    shutil.copytree(Path(__file__).resolve().parent.parent / "figures" / "demo", dest)
    old = (dest / "report.md").read_text().splitlines()
    assert main(["figures", "--from", str(dest)]) == 0
    new = (dest / "report.md").read_text().splitlines()
    assert new[6:] == old[6:] and len(new) > 40  # the numbers; the header names the commit


def test_figures_from_refuses_missing_or_changed_results(out, tmp_path, capsys):
    """A run's results missing, or changed after they were written: refused, nothing redrawn."""
    dest = tmp_path / "copy"
    shutil.copytree(out, dest)
    (dest / "runs/both/eval/freq.n32.jsonl").unlink()
    before = contents(dest)
    capsys.readouterr()
    assert main(["figures", "--from", str(dest)]) == 2
    lines = err_lines(capsys.readouterr().err)
    assert len(lines) == 1 and "freq.n32.jsonl" in lines[0], lines
    assert contents(dest) == before
    shutil.copy(out / "runs/both/eval/freq.n32.jsonl", dest / "runs/both/eval/freq.n32.jsonl")
    with (dest / "runs/both/eval/k.n32.jsonl").open("a") as fh:
        fh.write("\n")
    assert main(["figures", "--from", str(dest)]) == 2
    assert "k.n32.jsonl changed" in capsys.readouterr().err


def test_damaged_final_checkpoint_is_retrained_not_silently_replaced(out, tmp_path, capsys):
    """Scenario 3: a file of the final checkpoint truncated in a finished folder. `evaluate`
    (which falls back to step 80) refuses to replace step-100 results; replicate does not say
    "done, reused": it trains from step 80 (the newest readable checkpoint) to step 100 again,
    and the results and the report state step 100."""
    dest = tmp_path / "copy"
    shutil.copytree(out, dest)
    step_dir = dest / "runs/both/ckpt/100"
    data = max((p for p in (step_dir / "state").rglob("*") if p.is_file()
                and p.parent.name == "d"), key=lambda p: p.stat().st_size)
    with data.open("r+b") as fh:
        fh.truncate(data.stat().st_size // 2)
    eval_before = contents(dest / "runs/both/eval")
    capsys.readouterr()
    with pytest.warns(UserWarning, match="step 100 .* unreadable"):
        rc = main(["evaluate", "--run", str(dest / "runs/both"), "--sweep", "k",
                   "--n-prompts", "32"])
    lines = err_lines(capsys.readouterr().err)
    assert rc == 2 and len(lines) == 1 and "--force" in lines[0], lines
    assert contents(dest / "runs/both/eval") == eval_before

    logs = []
    with pytest.warns(UserWarning, match="step 100 .* unreadable"):
        replicate.replicate(TINY["EXPERIMENT"], TINY["PRESET"], dest,
                            overrides=tuple(TINY["OVERRIDES"]), n_prompts=TINY["N_PROMPTS"],
                            progress=False, log=logs.append)
    assert not any("train both: done" in m for m in logs), logs
    assert any("unreadable; from step 80" in m for m in logs), logs
    assert any("evaluate both (step 100)" in m for m in logs), logs
    assert (dest / "runs/both/ckpt/100.unreadable").exists()  # set aside, not deleted
    for sweep in ("convex", "freq", "k"):
        rows = results.read_jsonl(dest / "runs/both/eval" / f"{sweep}.n32.jsonl")
        assert {r["step"] for r in rows} == {100}
    assert "checkpoint of step 100 (of 100" in (dest / "report.md").read_text()


def test_evaluate_with_other_options_writes_beside(out, tmp_path, capsys):
    """Scenario 4: `evaluate --n-prompts 64` after a 1280-prompt evaluation of the same run
    writes eval/k.n64.jsonl beside eval/k.jsonl and leaves it as it was."""
    run_dir = tmp_path / "both"
    shutil.copytree(out / "runs/both", run_dir)
    assert main(["evaluate", "--run", str(run_dir), "--sweep", "k"]) == 0
    full = contents(run_dir / "eval")
    assert {r["n_prompts"] for r in results.read_jsonl(run_dir / "eval/k.jsonl")} == {1280}
    assert main(["evaluate", "--run", str(run_dir), "--sweep", "k", "--n-prompts", "64"]) == 0
    assert "rows in " + str(run_dir / "eval/k.n64.jsonl") in capsys.readouterr().out
    after = contents(run_dir / "eval")
    assert {p: after[p] for p in full} == full  # nothing replaced
    assert {r["n_prompts"] for r in results.read_jsonl(run_dir / "eval/k.n64.jsonl")} == {64}
    assert results.read_manifest(run_dir / "eval/k.n64.jsonl")["inputs"]["options"][
        "n_prompts"] == 64


def test_values_below_the_axis_floor_are_marked_and_named_in_the_legend():
    """A curve's points below FLOOR get a triangle at the floor (none for a curve above it), and
    the legend says once, last, what the triangles mean."""
    import matplotlib.pyplot as plt
    import numpy as np

    from icl_ood import figures

    fig, axes = plt.subplots(1, 2)
    k = np.arange(5.0)
    for ax in axes:
        figures._line(ax, k, np.array([1.0, 0.1, 1e-3, 1e-9, 0.0]), k * 0, k * 0 + 1,
                      "bayes_mixture")
    figures._line(axes[1], k, np.full(5, 0.5), k * 0, k * 0 + 1, "model")
    marks = [ln for ln in axes[1].lines if ln.get_marker() == "v"]
    assert len(marks) == 1 and marks[0].get_color() == figures.look("bayes_mixture")[1]
    assert list(marks[0].get_xdata()) == [3.0, 4.0]
    assert list(marks[0].get_ydata()) == [figures.FLOOR] * 2
    figures._legend(fig, axes)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["Bayes, pretraining prior", "Transformer", figures.FLOOR_LABEL]
    plt.close(fig)
