"""Scoring along training as ordinary stages: the declared steps, yardsticks computed once, the
stepwise replicate (budget, interruption, resume), its report section and figure, and a
committed compute folder redrawn with the numbers of its old report."""

import json
import shutil
from pathlib import Path

import pytest

from icl_ood import evaluate as ev
from icl_ood import experiments, results
from icl_ood import replicate as rp
from icl_ood.replicate.stepwise import score_steps
from icl_ood.report.along import crossing, table

# The compute experiment at a size a CPU trains in seconds (the same programs as test_train's).
TINY = ("model.n_layers=1", "model.d_model=32", "model.n_heads=2", "data.n_points=11",
        "model.max_points=11", "train.steps_per_dispatch=10", "train.steps=40",
        "train.warmup_steps=0")
N_PROMPTS = 32
ROOT = Path(__file__).resolve().parent.parent


def test_score_steps_are_log_spaced_multiples_and_end_at_the_last_step():
    assert score_steps(64000, 50, 1) == (50, 100, 200, 400, 800, 1600, 3200, 6400, 12800,
                                         25600, 51200, 64000)
    quarter = score_steps(64000, 50, 4)
    assert quarter[:8] == (50, 100, 150, 200, 250, 300, 350, 400)  # 50 * round(2^(i/4))
    assert set(score_steps(64000, 50, 1)) <= set(quarter) and quarter[-1] == 64000
    assert all(s % 50 == 0 for s in quarter) and list(quarter) == sorted(set(quarter))
    assert score_steps(100, 10, 0) == (100,) and score_steps(40, 10, 2) == (10, 20, 30, 40)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """`replicate --experiment compute` at the tiny size scored at 10, 20, 40: first within a
    budget of 0 s (stops after the first step), then stopped by a signal during the segment to
    20, then continued to the end. Returns (out, log lines, train_many calls of the last call,
    sha256 of step 10's rows before the resumed calls)."""
    from icl_ood import figures
    from icl_ood import train as tr
    out, logged = tmp_path_factory.mktemp("stepwise") / "compute", []
    mp = pytest.MonkeyPatch()
    mp.setitem(experiments.EXPERIMENTS, "compute", experiments.dataclasses.replace(
        experiments.get("compute"), along=False, steps_per_octave=1))
    args = {"overrides": TINY, "n_prompts": N_PROMPTS, "progress": False, "log": logged.append}
    with pytest.MonkeyPatch.context() as quick:  # figures: drawn by the last call only
        quick.setattr(figures, "draw_all", lambda out: [])
        rp.replicate("compute", "paper", out, budget_s=0.0, **args)
    budget = {"report": (out / "report.md").read_text(),
              "experiment": results.read_json(out / "experiment.json")}
    step10 = next((out / "runs" / "seed0" / "eval").glob("convex.*.yard.step10.jsonl"))
    sha10 = results.sha256(step10)
    real, calls = tr.train_many, []

    def signalled_at_20(cfgs, dirs, stop_at=None, **kw):
        calls.append(stop_at)
        summary = real(cfgs, dirs, stop_at=stop_at, **kw)
        return {**summary, "interrupted": "SIGINT"} if stop_at == 20 else summary
    mp.setattr(tr, "train_many", signalled_at_20)
    with pytest.raises(rp.Interrupted) as e:
        rp.replicate("compute", "paper", out, **args)
    assert e.value.signal == "SIGINT" and calls == [20]
    calls.clear()
    rp.replicate("compute", "paper", out, **args)
    yield out, budget, calls, sha10, step10
    mp.undo()


def test_budget_scores_the_step_reached_and_marks_the_study_incomplete(study):
    _, budget, _, _, _ = study
    first = budget["report"].splitlines()[2]
    assert first.startswith("**Incomplete**: run `seed0` reached step 10 of 40 (wall-clock "
                            "budget of 0 s)"), first
    spec = budget["experiment"]["runs"][0]
    assert spec["incomplete"]["reached"] == 10 and list(spec["along"]["convex"]) == ["10"]
    assert "checkpoint of step 10 (of 40 training steps; training not finished)" in \
        budget["report"]


def test_a_resumed_study_continues_from_its_checkpoint_and_scores_only_new_steps(study):
    out, _, calls, sha10, step10 = study
    assert calls == [40]  # step 20 was trained before the signal: scored, not retrained
    assert results.sha256(step10) == sha10  # step 10 reused, not rescored
    data = results.load(out)
    for run in data["runs"]:
        assert sorted(run["along"]["convex"]) == [10, 20, 40] and run["incomplete"] is None
        assert run["step"] == 40
    assert "Incomplete" not in (out / "report.md").read_text()
    assert (out / "figures" / "along_training.png").exists()


def test_rows_equal_those_of_scoring_each_checkpoint_separately(study):
    """The stepwise rows (yardsticks computed once) equal a full evaluation of each kept
    checkpoint with the same options: the model's rows bitwise, distance columns included."""
    from icl_ood.train import load_model
    out, *_ = study
    exp = experiments.get("compute")
    run = results.load(out)["runs"][0]
    for step in (20, 40):
        loaded = load_model(out / "runs" / "seed0", step)
        for sweep in ("convex", "freq"):
            fresh = ev.run_sweep(out / "runs" / "seed0", sweep, n_prompts=N_PROMPTS,
                                 baselines=exp.baselines, model_and_cfg=loaded, write=False)
            saved = run["along"][sweep][step]
            assert [r for r in saved if r["predictor"] == "model"] == \
                [r for r in fresh.rows if r["predictor"] == "model"]
            base = [{**r, "step": None} for r in fresh.rows if r["predictor"] != "model"]
            assert sorted(base, key=json.dumps) == \
                sorted((r for r in saved if r["predictor"] != "model"), key=json.dumps)
            assert all(r["dist_bayes_mixture"] is not None for r in saved
                       if r["predictor"] == "model")


def test_the_report_redraws_from_the_saved_rows(study, tmp_path):
    from icl_ood import report
    out = tmp_path / "copy"
    shutil.copytree(study[0], out, ignore=shutil.ignore_patterns("ckpt"))
    before = (out / "report.md").read_text()
    (out / "report.md").unlink()
    assert report.write(out).read_text() == before


def _rows(errs, bayes=0.1):
    """{step: rows} with the Bayes row at every step (as results.load merges them)."""
    b = {"task": "a=0.5", "k": 10, "predictor": "bayes_mixture", "step": None,
         "normalized": bayes}
    return {s: [b, {"task": "a=0.5", "k": 10, "predictor": "model", "step": s,
                    "normalized": e, "dist_bayes_mixture": e / 2}] for s, e in errs}


def test_crossing_sentences_and_table_follow_the_rows():
    s = crossing(_rows([(100, 0.5), (200, 0.08), (400, 0.09), (800, 0.12)]), "a=0.5", 10)
    assert "below the Bayes predictor from step 200; crosses above it between steps 400 and " \
        "800 (0.12 at 800)" in s
    assert "above the Bayes predictor at every evaluated step (up to 200)" in \
        crossing(_rows([(100, 0.5), (200, 0.2)]), "a=0.5", 10)
    assert "below the Bayes predictor from step 200 to the last evaluated step 400 (0.05)" in \
        crossing(_rows([(100, 0.5), (200, 0.08), (400, 0.05)]), "a=0.5", 10)
    lines = table(_rows([(100, 0.5), (200, 0.08)]))
    assert lines[0] == "| step | a=0.5 k=10 | dist. to Bayes a=0.5 k=10 |"
    assert lines[2:] == ["| 100 | 0.5 | 0.25 |", "| 200 | 0.08 | 0.04 |",
                         "| Bayes, pretraining prior | 0.1 | – |",
                         "| Bayes, task prior | – | – |"]
