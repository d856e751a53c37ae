"""Presentation as plug-ins (issue 31 item 1): a sweep, its figure and its report section added
from two files outside icl_ood/ are evaluated, drawn and reported by the ordinary commands; a
sweep without a figure of its own (here `shifts`) gets the generic figure; what a predictor is
called comes from the baselines' registry, saved with the results."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from icl_ood import baselines, figures, report, results
from icl_ood.figures import generic, plugins, style

ROOT = Path(__file__).resolve().parent.parent
SWEEP = '''"""Linear prompts with x scaled by 0.5, 1 and 2 (a user's sweep)."""
from icl_ood.sweeps import Sweep, register
from icl_ood.tasks import Task


def tasks(cfg, n_prompts, mix=None):
    return [Task(family=cfg.families[0], x_scale=cfg.x_scale * s, n_prompts=n_prompts,
                 name=f"x*{s:g}", meta=(("scale", s),)) for s in (0.5, 1.0, 2.0)]


register(Sweep("xscale", tasks, __doc__, axis="scale"))
'''
PRESENTATION = '''import matplotlib.pyplot as plt
from icl_ood.figures import style
from icl_ood.figures.plugins import figure
from icl_ood.report.plugins import section


@figure("xscale", file="10_xscale", sweeps=("xscale",),
        caption="USER CAPTION: the Transformer's error at the largest k vs the x scale.")
def fig_xscale(data, out):
    fig, ax = plt.subplots(figsize=(3.25, 2))
    for run in data["runs"]:
        rows = run["rows"].get("xscale") or []
        kmax = max(r["k"] for r in rows)
        style._line(ax, *style.at_k(rows, "model", kmax, "scale"), "model")
    ax.set_xlabel("x scale")
    return style._save(fig, out, "10_xscale")


@section("xscale", sweeps=("xscale",))
def xscale_lines(run, data):
    rows = [r for r in run["rows"]["xscale"] if r["predictor"] == "model"]
    kmax = max(r["k"] for r in rows)
    return ["USER SECTION, error at k = %d: " % kmax + ", ".join(
        f"x*{r['scale']:g} {r['normalized']:.3f}" for r in rows if r["k"] == kmax)]
'''


def icl(*args, plugins: str, cwd: Path) -> str:
    out = subprocess.run([sys.executable, "-m", "icl_ood.cli", "--plugins", plugins, *args],
                         cwd=cwd, capture_output=True, text=True, timeout=300, check=False,
                         env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def result_files(run: Path, sweep: str) -> list[str]:
    """The result files of the run's evaluation of `sweep` (rows first), from its manifest."""
    (man,) = (run / "eval").glob(f"{sweep}.*manifest.json")
    return [f"eval/{name}" for name in results.read_json(man)["outputs"]]


def test_a_users_sweep_figure_and_section_from_two_files(tiny_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run[0], run)
    (tmp_path / "my_sweep.py").write_text(SWEEP)
    (tmp_path / "my_presentation.py").write_text(PRESENTATION)
    plug = f"{tmp_path / 'my_sweep.py'},{tmp_path / 'my_presentation.py'}"
    for sweep in ("xscale", "shifts"):  # shifts: a built-in sweep with no figure of its own
        icl("evaluate", "--run", str(run), "--sweep", sweep, "--n-prompts", "16", "--n-boot",
            "20", "--baselines", "least_squares", "--quiet", plugins=plug, cwd=tmp_path)
    man = results.read_manifest(run / result_files(run, "xscale")[0])
    assert man["sweep"]["axis"] == "scale"
    # `icl-ood figures --run`: the user's figure, and the generic one for `shifts`
    icl("figures", "--run", str(run), plugins=plug, cwd=tmp_path)
    drawn = {p.name for p in (run / "figures").glob("*.png")}
    assert {"10_xscale.png", "sweep_shifts.png", "6_training_curves.png"} <= drawn, drawn
    assert "sweep_xscale.png" not in drawn  # it has a figure of its own
    outputs = results.read_manifest(run / "figures")["outputs"]
    assert "10_xscale.png" in outputs and "sweep_shifts.png" in outputs
    # a replicate-like folder of that run: the report names the figure with its registered
    # caption and carries the user's section
    rep = tmp_path / "rep"
    rep.mkdir()
    (rep / "experiment.json").write_text(json.dumps({
        "experiment": "user-sweep", "preset": "tiny", "overrides": [], "n_prompts": 16,
        "format": 2, "doc": "A user's sweep and its figure.", "mix": None,
        "sweeps": ["xscale", "shifts"], "runs": [{"name": "run", "label": "tiny", "dir": "../run",
                                                  "results": {s: result_files(run, s) for s in
                                                              ("xscale", "shifts")}}]}))
    icl("figures", "--from", str(rep), plugins=plug, cwd=tmp_path)
    text = (rep / "report.md").read_text()
    assert "- `figures/10_xscale.png`: USER CAPTION: the Transformer's error" in text
    assert f"- `figures/sweep_shifts.png`: {plugins.caption('sweep_shifts.png')}" in text
    assert "\nUSER SECTION, error at k = 10: x*0.5 " in text
    assert "- least squares on x: Minimum-norm least squares on x (Garg et al.)." in text


def synthetic(sweep: str, axis: str | None) -> dict:
    """A run record with rows of `sweep` (two predictors, three tasks, k = 0..10)."""
    rows = [{"predictor": p, "task": f"t{i}", "k": k, "x": float(i), "normalized": v,
             "norm_lower": v / 2, "norm_upper": v * 2}
            for p, f in (("model", 1.0), ("least_squares", 0.5)) for i in range(3)
            for k in range(11) if (v := f * (i + 1) / (k + 1))]
    run = {"name": "r", "label": "r", "config": {"data": {"n_points": 11}}, "rows": {sweep: rows},
           "weights": {}, "along": {}, "examples": [], "metrics": [], "predictors": {},
           "sweeps": {sweep: {"axis": axis, "doc": "a test sweep."}} if axis else {}}
    return {"runs": [run], "experiment": {"name": "t", "mix": None}, "inputs": {}, "step": 1}


@pytest.mark.parametrize("axis", ["x", None])
def test_a_sweep_without_a_figure_is_drawn_against_its_axis_or_its_tasks(tmp_path, axis):
    data = synthetic("shifts", axis)
    assert generic.unclaimed(data) == ["shifts"] and generic.axis_of(data, "shifts") == axis
    paths = figures.draw(data, tmp_path)
    assert sorted(p.name for p in paths) == ["sweep_shifts.pdf", "sweep_shifts.png"]
    # a sweep a registered figure draws gets no generic figure
    assert generic.unclaimed(synthetic("convex", "a")) == []


def test_registries_keep_the_figures_and_sections_in_their_order():
    order = [f.file for f in plugins.registered()]
    assert order[:16] == ["1_error_vs_k", "2_convex_sweep", "3_frequency_sweep", "4_examples",
                          "5_model_selection", "6_training_curves", "7_selection_cost",
                          "8_slope_sweep", "8_slope_grid_sweep", "9_selection_along_training",
                          "along_training", "crossing", "decompose", "crossing_compute",
                          "along_sizes", "task_diversity"]
    assert order[-1] == "sweep_"
    assert plugins.caption("4_examples_both.png").startswith("single prompts")
    assert [s.name for s in report.plugins.registered("run")] == [
        "convex", "freq", "selection", "slope", "slope_grid", "cost", "along"]
    assert [s.name for s in report.plugins.registered("data")] == ["task_diversity"]
    with pytest.raises(ValueError, match="needs"):
        plugins.Figure("bad", print, needs=("nothing",))


def test_predictor_names_come_from_the_registry_and_old_folders_read_the_same():
    """The legacy table (results saved before evaluations recorded their predictors) gives
    each predictor the label and style the registry gives it now; the report's definition is
    the first sentence of the saved doc."""
    for name, legacy in style.LEGACY_STYLE.items():
        d = baselines.describe([name])[name]
        assert (d["label"], *d["style"]) == legacy, name
    assert set(style.LEGACY_DOCS) == set(style.LEGACY_STYLE)
    doc = baselines.describe(["averaging"])["averaging"]["doc"]
    assert report.definition(doc) == doc  # "et al.'s", "e.g. x": one sentence
    assert report.definition("Lasso on x, exact. Every prefix is solved.") == \
        "Lasso on x, exact."
    data = synthetic("k", None)
    data["runs"][0]["predictors"] = {"model": {"label": "Saved name", "style": ["k", "-", 1],
                                               "doc": "what it is. More."}}
    with style.saved(data):
        assert report.predictor_lines(data)[2:4] == [
            "- Saved name: what it is.",
            "- least squares on x: minimum-norm least squares on x (Garg et al.)."]
        assert report.sections.name("model") == "Saved name"
