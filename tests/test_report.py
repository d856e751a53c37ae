"""The report and figures a reader sees (issue 15): sentences computed from the numbers they
state, intervals in the tables, defined yardsticks, figures sized for print with fonts of at
least 7 pt, and figures of a plain run (`icl-ood figures --run`), on the committed demo results
(saved evaluations, no checkpoints)."""

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from icl_ood import figures, report, results
from icl_ood.cli import main

DEMO = Path(__file__).resolve().parent.parent / "figures" / "demo"


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("report") / "demo"
    shutil.copytree(DEMO, dest, ignore=shutil.ignore_patterns("ckpt"))
    return dest


def rows_of(folder: Path, sweep: str) -> list[dict]:
    return results.read_jsonl(folder / "runs/both/eval" / f"{sweep}.jsonl")


def geo_ratio(rows, k, den) -> float:
    """Independent: the geometric mean over 0 < a < 1 of model / `den` at k, floored."""
    by = {(r["predictor"], r["a"]): r["normalized"] for r in rows if r["k"] == k}
    a_in = sorted({a for _, a in by if 0 < a < 1})
    return float(np.exp(np.mean([np.log(max(by["model", a], figures.FLOOR))
                                 - np.log(max(by[den, a], figures.FLOOR)) for a in a_in])))


def test_demo_report_states_intervals_definitions_and_computed_sentences(demo):
    text = report.write(demo, force=True).read_text()
    rows = rows_of(demo, "convex")
    # table cells: the saved value and its 90% interval
    r = next(r for r in rows if r["predictor"] == "model" and r["a"] == 0.5 and r["k"] == 10)
    line = next(ln for ln in text.splitlines() if ln.startswith("| 0.5 | Transformer |"))
    assert line.split(" | ")[3] == (f"{r['normalized']:.3f} [{r['norm_lower']:.3f}, "
                                    f"{r['norm_upper']:.3f}]")  # columns a, predictor, k=5, k=10
    # every yardstick in a table is defined
    for name in ("Bayes, pretraining prior", "Bayes, task prior", "least squares on x"):
        assert re.search(rf"^- {re.escape(name)}: \S", text, re.MULTILINE), name
    assert "oracle" not in text.split("## Figures")[0].replace("family oracle", "")
    # the comparison sentence: its ratios and its verdict follow from the saved rows
    for k in (10, 40):
        rb, ro = geo_ratio(rows, k, "bayes_mixture"), geo_ratio(rows, k, "task_bayes")
        m = re.search(rf"At k = {k}, .*? on average (\S+)x .*? and (\S+)x .*?: (it [^.]+)\.", text)
        assert m, k
        assert float(m.group(1)) == pytest.approx(rb, rel=0.05)
        assert float(m.group(2)) == pytest.approx(ro, rel=0.05)
        assert ro > 1.5  # far above the task prior's Bayes predictor
        want = ("tracks the Bayes predictor of its pretraining prior" if 1 / 1.5 < rb < 1.5
                else "lies between them, tracking neither" if rb < 1 else "lies above both")
        assert want in m.group(3), (k, rb, m.group(3))
    assert "w = 1:" in text and "[1, 1]" not in text  # one pretraining frequency
    assert "device cpu (" in text and "cpu: cpu" not in text
    # one final training loss: the last metrics record's, as provenance now records it
    last = results.read_jsonl(demo / "runs/both/metrics.jsonl")[-1]
    assert f"step {last['step']}: the mean batch loss" in text and f"{last['loss']:.4f}" in text


def test_verdict_is_computed_from_the_numbers():
    """A model 4x below the pretraining-prior Bayes and far above the task-prior one tracks
    neither (the old report said it "tracks the Bayes predictor")."""
    def rows(m, b, o):
        return [{"predictor": p, "k": 10, "a": a, "normalized": v}
                for a in (0.25, 0.5, 0.75) for p, v in (("model", m), ("bayes_mixture", b),
                                                        ("task_bayes", o))]
    s = report.compare_sentence(rows(0.025, 0.1, 1e-6), 10, (0.25, 0.5, 0.75))
    assert "0.25x" in s and "2.5e+02x" in s and "between them, tracking neither" in s
    assert "tracks the Bayes predictor of its pretraining prior" in report.compare_sentence(
        rows(0.12, 0.1, 1e-6), 10, (0.25, 0.5, 0.75))
    assert "below both" in report.compare_sentence(rows(0.01, 0.1, 0.05), 10, (0.5,))


def test_rise_with_k_needs_the_error_and_its_excess_over_the_oracle_to_rise():
    """A learning curve that falls, rises past its intervals, falls again: the largest rise is
    named. Not a rise: one within the intervals, one the oracle shares (its excess flat: label
    noise common to all predictors), one whose excess grows by less than MIN_RISE, or a growing
    excess while the error falls."""
    def rows(err, exc, half):
        return [{"predictor": "model", "task": "sinusoid", "k": k, "normalized": e,
                 "norm_lower": e - half, "norm_upper": e + half, "norm_excess": x,
                 "norm_excess_lower": x - half, "norm_excess_upper": x + half}
                for k, (e, x) in enumerate(zip(err, exc))]
    rise = report.sections.rise_sentence
    curve = [1.0, 0.5, 0.3, 0.45, 0.6, 0.4, 0.2]  # k = 0 is ignored
    excess = [0.5, 0.2, 0.1, 0.25, 0.4, 0.2, 0.1]
    assert rise(rows(curve, excess, 0.05), "model", "sinusoid") == (
        "Transformer: the error rises with k, from 0.300 at k = 2 to 0.600 at k = 4 (90% "
        "intervals apart; the excess over the family oracle from 0.100 to 0.400).")
    assert "does not rise" in rise(rows(curve, excess, 0.2), "model", "sinusoid")
    assert "does not rise" in rise(rows(curve, [0.1] * 7, 0.01), "model", "sinusoid")
    small = [0.1, 0.103, 0.102, 0.108, 0.101, 0.1, 0.1]  # apart at zero width, < MIN_RISE
    assert "does not rise" in rise(rows(curve, small, 0.0), "model", "sinusoid")
    falling = [1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4]
    assert "does not rise" in rise(rows(falling, [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6], 0.0),
                                   "model", "sinusoid")
    assert rise(rows(curve, excess, 0.05), "model", "linear") == ""


def test_tables_have_each_k_once_and_posterior_that_never_commits_is_said_plainly():
    assert report.report_ks(10) == [5, 10] and report.report_ks(40) == [5, 10, 20, 40]
    run = {"config": {"data": {"families": ["linear", "sinusoid"], "weights": [0.5, 0.5],
                               "n_points": 11}},
           "weights": {"k": [{"task": f, "component": f, "k": k, "weight": 0.6}
                             for f in ("linear", "sinusoid") for k in range(11)]},
           "rows": {"k": []}}
    lines = report.selection_section(run)
    assert all("stays below 0.9 on the true family up to k = 10" in ln for ln in lines)
    assert not any("> max k" in ln for ln in lines)


@pytest.fixture(scope="module")
def plain_run(demo, tmp_path_factory):
    """(run folder, smallest font per figure, exit status): `icl-ood figures --run` on a copy of
    figures/demo's run, every figure's text sizes read as it is saved."""
    import matplotlib.text

    run = tmp_path_factory.mktemp("plain") / "run"
    shutil.copytree(demo / "runs/both", run)
    smallest = {}
    save = figures.style._save

    def checking_save(fig, out, name):
        fig.canvas.draw()  # tick labels exist once drawn
        sizes = [t.get_fontsize() for t in fig.findobj(matplotlib.text.Text) if t.get_text()]
        smallest[name] = min(sizes)
        return save(fig, out, name)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(figures.style, "_save", checking_save)
        rc = main(["figures", "--run", str(run)])
    return run, smallest, rc


def test_figures_fit_a_page_with_fonts_of_at_least_7_points(plain_run):
    run, smallest, rc = plain_run
    assert rc == 0 and len(smallest) >= 7, smallest
    assert min(smallest.values()) >= figures.MIN_PT, smallest
    for p in (run / "figures").glob("*.pdf"):
        box = re.search(rb"/MediaBox \[\s*[\d.]+ [\d.]+ ([\d.]+) ([\d.]+)", p.read_bytes())
        width_in = float(box.group(1)) / 72
        assert width_in <= figures.TEXT_W + 0.15, (p.name, width_in)


def test_figures_of_a_plain_run(plain_run, tmp_path, capsys):
    drawn, _, rc = plain_run
    assert rc == 0
    names = {p.name for p in (drawn / "figures").iterdir()}
    for stem in ("1_error_vs_k", "2_convex_sweep", "3_frequency_sweep", "5_model_selection",
                 "6_training_curves", "4_examples_run"):
        assert f"{stem}.png" in names, stem
    man = results.read_manifest(drawn / "figures")
    assert man["stage"] == "figures" and "run/eval/convex.jsonl" in man["inputs"]
    # only training curves when nothing was evaluated; one line and nothing written when the
    # folder has neither metrics nor evaluations
    run = tmp_path / "run"
    shutil.copytree(drawn, run, ignore=shutil.ignore_patterns("eval", "figures"))
    assert main(["figures", "--run", str(run)]) == 0
    assert {p.stem for p in (run / "figures").glob("*.png")} == {"6_training_curves"}
    (run / "metrics.jsonl").unlink()
    shutil.rmtree(run / "figures")
    capsys.readouterr()
    assert main(["figures", "--run", str(run)]) == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1 and "icl-ood evaluate --run" in err[0], err
    assert not (run / "figures").exists()
    assert main(["figures", "--run", str(tmp_path / "nothing")]) == 2


def test_provenance_names_the_machine():
    m = results.machine()
    assert m["device"] == "cpu" and "CPU cores" in m["host"]
    assert json.loads(json.dumps(m)) == m
