"""Results that others can use (issue 28, item 4): outputs follow the umask; `evaluate` and
`figures --run` refuse a folder they cannot write in one line before computing, and write
elsewhere with --out; `figures --run A --run B` draws both, runs that differ only in seed as
their mean with the min-max band over seeds."""

import contextlib
import os
import shutil
import stat
import subprocess
from pathlib import Path

import numpy as np
import pytest

from icl_ood import figures, results
from icl_ood.cli import main

SELECTION = Path(__file__).resolve().parent.parent / "figures" / "selection-1d-cpu" / "runs"


@contextlib.contextmanager
def read_only(folder: Path):
    """`folder` really unwritable for this process: mode 0555, and where permissions do not
    bind (root), the immutable attribute (chattr +i); the test is skipped if neither works."""
    folder.chmod(0o555)
    immutable = False
    try:
        if os.access(folder, os.W_OK):  # root: permissions do not bind
            immutable = subprocess.run(["chattr", "+i", str(folder)],
                                       capture_output=True).returncode == 0
        try:  # the premise, checked: nothing can be created there
            (folder / "probe").mkdir()
        except OSError:
            pass
        else:
            (folder / "probe").rmdir()
            pytest.skip("cannot make a folder read-only here (root, and chattr +i refused)")
        yield
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        folder.chmod(0o755)


@contextlib.contextmanager
def umask(mask: int):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def error_lines(capsys) -> list[str]:
    return [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]


@pytest.mark.parametrize("mask, want", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_outputs_follow_the_umask(tmp_path, mask, want):
    with umask(mask):
        rows = results.write_jsonl(tmp_path / "eval" / "k.jsonl", [{"k": 1}])
        man = results.write_manifest(rows, "evaluate", {}, [rows])
        with results.atomic(tmp_path / "figures" / "1.png") as tmp:  # how figures are saved
            tmp.write_bytes(b"png")
        copy = results.copy_run_record(tmp_path / "eval", tmp_path / "copy")
    assert {p.name: mode(p) for p in (rows, man, tmp_path / "figures" / "1.png", copy)} == {
        "k.jsonl": want, "k.manifest.json": want, "1.png": want, "config.manifest.json": want}


def test_the_write_check_is_real_and_leaves_nothing(tmp_path):
    results.check_writable(tmp_path / "new" / "eval")  # a folder to be made: its parent probed
    assert list(tmp_path.iterdir()) == []  # nothing made, no probe left
    (tmp_path / "file").write_text("")
    with pytest.raises(results.ResultsError, match=r"file/eval: cannot write there .*; hint$"):
        results.check_writable(tmp_path / "file" / "eval", "; hint")  # a path through a file
    ro = tmp_path / "ro"
    ro.mkdir()
    with read_only(ro), pytest.raises(results.ResultsError, match="cannot write there"):
        results.check_writable(ro / "eval")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "ro"]
    assert list(ro.iterdir()) == []


def test_evaluate_refuses_a_read_only_run_before_computing_and_writes_to_out(
        tiny_run, tmp_path, capsys, monkeypatch):
    import icl_ood.train

    run = tmp_path / "run"
    shutil.copytree(tiny_run[0], run)
    args = ["evaluate", "--run", str(run), "--sweep", "k", "--n-prompts", "32", "--n-boot", "20",
            "--baselines", "least_squares", "--quiet"]

    def no_compute(*a, **k):
        raise AssertionError("a model was loaded for results that cannot be written")

    with monkeypatch.context() as mp, read_only(run):
        mp.setattr(icl_ood.train, "load_model", no_compute)
        assert main(args) == 2
    err = error_lines(capsys)
    assert len(err) == 1 and "cannot write there" in err[0] and "--out DIR" in err[0], err
    assert not (run / "eval").exists()
    with read_only(run), umask(0o022):
        assert main(args + ["--out", str(tmp_path / "mine")]) == 0
    dest = tmp_path / "mine" / "run"
    rows = results.read_jsonl(dest / "eval" / "k.n32.bl=least_squares.boot20.jsonl")
    assert {r["predictor"] for r in rows} == {"model", "least_squares"}
    assert {(r["run"], r["step"]) for r in rows} == {("run", tiny_run[1]["steps"])}
    assert all(mode(p) == 0o644 for p in (dest / "eval").iterdir())  # colleagues can read them
    man = results.read_manifest(dest / "config.json")  # the copy names the run it scores
    assert man["stage"] == "copy" and man["inputs"] == {"run": str(run.resolve())}
    assert (dest / "config.json").read_bytes() == (run / "config.json").read_bytes()
    back = results.load_run(dest)["runs"][0]  # reads back like the run itself
    assert back["rows"]["k"] == rows and back["metrics"] == results.read_jsonl(
        run / "metrics.jsonl")
    assert not (run / "eval").exists()


def test_figures_refuse_a_read_only_run_before_drawing(tmp_path, capsys, monkeypatch):
    run = tmp_path / "balanced-s0"
    shutil.copytree(SELECTION / "balanced-s0", run)

    def no_drawing(*a, **k):
        raise AssertionError("drew figures that cannot be written")

    monkeypatch.setattr(figures, "draw", no_drawing)
    with read_only(run):
        assert main(["figures", "--run", str(run)]) == 2
    err = error_lines(capsys)
    assert len(err) == 1 and "figures: cannot write there" in err[0] and "--out" in err[0], err
    assert not (run / "figures").exists()


def test_figures_of_several_runs_side_by_side_seeds_as_their_mean(tmp_path, capsys,
                                                                  monkeypatch):
    for name in ("balanced-s0", "balanced-s1", "rare10-s0"):
        shutil.copytree(SELECTION / name, tmp_path / name, ignore=shutil.ignore_patterns(
            "figures"))
    drawn = {}
    save = figures.style._save

    def keep(fig, out, name):  # what each figure shows, read before it is saved and closed
        drawn[name] = {" ".join(ax.get_title().split()): {ln.get_label(): ln.get_ydata()
                                                          for ln in ax.lines}
                       for ax in fig.axes}
        return save(fig, out, name)

    monkeypatch.setattr(figures.style, "_save", keep)
    runs = [str(tmp_path / n) for n in ("balanced-s0", "balanced-s1", "rare10-s0")]
    with umask(0o022):
        assert main(["figures", "--run", runs[0], "--run", runs[1], "--run", runs[2]]) == 0
    assert f"in {tmp_path / 'figures'}" in capsys.readouterr().out  # their common folder
    mean_title = ("selection-1d/balanced: mean of 2 seeds (0, 1), band min-max over seeds")
    sel = drawn["5_model_selection"]
    assert [t for t in sel if "balanced" in t or "rare10" in t] == [mean_title, "rare10-s0"]
    assert sum("task linear" in t for t in sel) == 2  # one column per drawn run
    # the drawn model curve is the mean of the two seeds' (read independently)
    seeds = [results.load_run(r)["runs"][0]["rows"]["k"] for r in runs[:2]]
    y0, y1 = (figures.series(rows, "model", task="sinusoid")[1] for rows in seeds)
    col = [t for t in sel if t.startswith("task sinusoid (weight 0.5)")]
    assert len(col) == 1
    np.testing.assert_allclose(sel[col[0]]["Transformer"], np.maximum((y0 + y1) / 2,
                                                                     figures.FLOOR))
    assert not np.allclose(y0, y1)  # the seeds differ, so the mean is not one seed's curve
    # the band is the min-max over seeds; a baseline (same prompts, same values) keeps its
    # bootstrap interval
    data = figures.load_runs(runs)
    assert [r["label"] for r in data["runs"]] == [mean_title, "rare10-s0"]
    rows = data["runs"][0]["rows"]["k"]
    _, y, lo, hi = figures.series(rows, "model", task="sinusoid")
    np.testing.assert_allclose((y, lo, hi), ((y0 + y1) / 2, np.minimum(y0, y1),
                                              np.maximum(y0, y1)))
    ls = [figures.series(r, "least_squares", task="sinusoid") for r in seeds]
    np.testing.assert_array_equal(figures.series(rows, "least_squares", task="sinusoid"), ls[0])
    assert "Seed means: band min-max over seeds" in data["note"]
    assert mode(tmp_path / "figures" / "5_model_selection.png") == 0o644
