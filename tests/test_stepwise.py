"""Scoring along training as ordinary stages: the declared steps, yardsticks computed once, the
stepwise replicate (budget, interruption, resume), its report section and figure, and a
committed compute folder redrawn with the numbers of its old report."""

import dataclasses
import json
import os
import shutil
import signal
import sys
from pathlib import Path

import pytest

from icl_ood import evaluate as ev
from icl_ood import experiments, results
from icl_ood import replicate as rp
from icl_ood.config import TrainConfig
from icl_ood.report.along import crossing, table
from icl_ood.train.runs import log_steps, score_steps

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
    keep = TrainConfig(steps=64000, steps_per_dispatch=50, log_every=50, ckpt_every=1000,
                       keep_log=True)  # train.keep_log keeps exactly the octaves below the end
    assert log_steps(keep) == score_steps(64000, 50, 1)[:-1]


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """`replicate --experiment compute` at the tiny size scored at 10, 20, 40: first within a
    budget of 0 s (stops after the first step); then SIGINT while step 20 is being scored (it
    stops once that step is saved); then SIGTERM as the chunk from step 20 is dispatched
    (training stops at 30, mid-segment, with a checkpoint); then continued to the end.
    Returns (out, the budget call's report and experiment.json, the last call's train_many
    calls as (stop_at, resumed_from), step 10's rows file's sha256 and path)."""
    from icl_ood import figures
    from icl_ood import train as tr
    from icl_ood import yardsticks as ys
    out = tmp_path_factory.mktemp("stepwise") / "compute"
    mp = pytest.MonkeyPatch()
    mp.setitem(experiments.EXPERIMENTS, "compute", dataclasses.replace(
        experiments.get("compute"), steps_per_octave=1))  # 10, 20, 40: fewer steps, faster
    args = {"overrides": TINY, "n_prompts": N_PROMPTS, "progress": False, "log": lambda m: None}
    with pytest.MonkeyPatch.context() as quick:  # figures: drawn by the last call only
        quick.setattr(figures, "draw_all", lambda out: [])
        rp.replicate("compute", "paper", out, budget_s=0.0, **args)
    budget = {"report": (out / "report.md").read_text(),
              "experiment": results.read_json(out / "experiment.json"),
              "train": results.read_manifest(out / "runs" / "seed0" / "config.json")}
    step10 = next((out / "runs" / "seed0" / "eval").glob("convex.*.yard.step10.jsonl"))
    sha10 = results.sha256(step10)

    with pytest.MonkeyPatch.context() as sig:  # SIGINT while step 20 is scored
        score, sent = ys.score, []

        def signalled(run_dir, sweep, loaded, **kw):
            if loaded[2] == 20 and not sent:  # once: a second signal aborts at once
                sent.append(os.kill(os.getpid(), signal.SIGINT))
            return score(run_dir, sweep, loaded, **kw)
        sig.setattr(ys, "score", signalled)
        with pytest.raises(rp.Interrupted, match="stopped after scoring step 20") as e:
            rp.replicate("compute", "paper", out, **args)
    assert e.value.signal == "SIGINT"
    with pytest.MonkeyPatch.context() as sig:  # SIGTERM as the chunk from step 20 starts
        loop = sys.modules[tr.train_many.__module__]
        chunk = loop.train_chunk

        def at_20(state, step0, *a, **kw):
            if int(step0) == 20:
                os.kill(os.getpid(), signal.SIGTERM)
            return chunk(state, step0, *a, **kw)
        sig.setattr(loop, "train_chunk", at_20)
        with pytest.raises(rp.Interrupted, match="stopped at step 30 with a checkpoint") as e:
            rp.replicate("compute", "paper", out, **args)
    assert e.value.signal == "SIGTERM"
    real, calls = tr.train_many, []

    def recorded(cfgs, dirs, stop_at=None, **kw):
        summary = real(cfgs, dirs, stop_at=stop_at, **kw)
        calls.append((stop_at, summary["resumed_from"]))
        return summary
    mp.setattr(tr, "train_many", recorded)
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
    assert budget["train"]["rank"] == [10] and budget["train"]["complete"] is False


def test_a_resumed_study_continues_from_its_checkpoint_and_scores_only_new_steps(study):
    out, _, calls, sha10, step10 = study
    assert calls == [(40, 30)]  # continued from the checkpoint the SIGTERM left at step 30
    assert results.sha256(step10) == sha10  # step 10 reused, not rescored
    data = results.load(out)
    for run in data["runs"]:
        assert sorted(run["along"]["convex"]) == [10, 20, 40] and run["incomplete"] is None
        assert run["step"] == 40
    assert "Incomplete" not in (out / "report.md").read_text()
    assert results.read_manifest(out / "runs" / "seed1" / "config.json")["complete"] is True
    assert (out / "figures" / "along_training.png").exists()


def test_rows_equal_those_of_scoring_each_checkpoint_separately(study):
    """The stepwise rows (yardsticks computed once) equal a full evaluation of each kept
    checkpoint with the same options: the model's rows to ys.STEP_DIGITS significant digits
    (each value exactly the full one rounded), distance columns included."""
    from icl_ood import yardsticks as ys
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
            def rounded(r):
                return {f: float(f"{v:.{ys.STEP_DIGITS}g}") if isinstance(v, float) else v
                        for f, v in r.items()}
            assert [r for r in saved if r["predictor"] == "model"] == \
                [rounded(r) for r in fresh.rows if r["predictor"] == "model"]
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


def test_evaluate_steps_with_yardsticks_scores_only_the_model(study, tmp_path, capsys):
    """`icl-ood evaluate --steps all --yardsticks` on a plain run: the baselines computed once,
    each kept checkpoint's model rows in their own file, read back per step with the yardsticks'
    rows (results.load_run); a second call computes no yardsticks again."""
    from icl_ood.cli import main
    run = tmp_path / "seed0"
    shutil.copytree(study[0] / "runs" / "seed0", run)
    args = ["evaluate", "--run", str(run), "--sweep", "k", "--steps", "all", "--yardsticks",
            "--n-prompts", "16", "--baselines", "least_squares,bayes_mixture", "--quiet"]
    assert main(args) == 0
    yard = run / "eval" / "k.yardsticks.n16.bl=least_squares+bayes_mixture.npz"
    made = yard.stat().st_mtime_ns
    along = results.load_run(run)["runs"][0]["along"]["k"]
    assert sorted(along) == [20, 30, 40]  # the kept checkpoints (30: where SIGTERM stopped it)
    for step, rows in along.items():
        assert {r["step"] for r in rows if r["predictor"] == "model"} == {step}
        assert {r["predictor"] for r in rows if r["step"] is None} == \
            {"least_squares", "bayes_mixture"}
    shared = [[r for r in rows if r["step"] is None] for rows in along.values()]
    assert all(a is b for a, b in zip(shared[0], shared[-1]))  # the yardsticks read once
    assert main(args) == 0 and yard.stat().st_mtime_ns == made
    assert "rows in" in capsys.readouterr().out
    rows_file = next((run / "eval").glob("k.yardsticks.*.jsonl"))
    rows_file.write_text(rows_file.read_text().replace('"k": 1,', '"k": 2,', 1))
    assert "k" not in results.load_run(run)["runs"][0]["along"]  # every step's check sees it


def test_a_budget_for_an_experiment_not_scored_along_training_is_refused_first(tmp_path,
                                                                             capsys):
    from icl_ood.cli import main
    assert main(["replicate", "--experiment", "demo", "--preset", "tiny", "--budget-s", "0",
                 "--out", str(tmp_path / "o")]) == 2
    assert "--budget-s: experiment demo is not scored along training" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


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


# figures/compute-cpu-tiny/report.md as the old along-training pipeline wrote it (commit 1b3fa5a,
# before the folder's conversion): seed 0's table and both seeds' crossing sentences.
OLD_TINY_REPORT = """\
| step | a=0.5 k=10 | a=0.5 k=40 | a=0 k=10 | a=0 k=40 | w=2 k=10 | w=2 k=40 \
| dist. to Bayes a=0.5 k=10 | dist. to Bayes a=0.5 k=40 |
|---|---|---|---|---|---|---|---|---|
| 50 | 0.951 | 0.895 | 1.03 | 1 | 0.973 | 0.98 | 0.868 | 0.81 |
| 100 | 0.873 | 0.85 | 1.02 | 0.989 | 1.03 | 1.06 | 0.799 | 0.785 |
| 200 | 0.394 | 0.401 | 0.859 | 0.747 | 1.17 | 1.15 | 0.368 | 0.358 |
| 400 | 0.33 | 0.284 | 1.04 | 0.946 | 1.57 | 1.66 | 0.348 | 0.295 |
| 800 | 0.255 | 0.213 | 0.864 | 0.679 | 1.38 | 1.3 | 0.269 | 0.199 |
| 1600 | 0.21 | 0.187 | 0.663 | 0.558 | 1.44 | 1.32 | 0.226 | 0.19 |
| 3200 | 0.112 | 0.0926 | 0.19 | 0.163 | 1.25 | 1.12 | 0.123 | 0.0898 |
| 6400 | 0.0545 | 0.0382 | 0.0824 | 0.0581 | 0.975 | 0.854 | 0.088 | 0.0615 |
| 12800 | 0.0472 | 0.0329 | 0.0316 | 0.0199 | 0.796 | 0.608 | 0.0719 | 0.0661 |
| 25600 | 0.0545 | 0.0372 | 0.017 | 0.0102 | 0.852 | 0.606 | 0.0679 | 0.0701 |
| 51200 | 0.0794 | 0.0461 | 0.0106 | 0.00586 | 1.01 | 0.768 | 0.0792 | 0.0643 |
| 64000 | 0.0901 | 0.05 | 0.00848 | 0.00463 | 0.969 | 0.778 | 0.0883 | 0.0677 |
| Bayes, pretraining prior | 0.107 | 0.0805 | 1.26e-14 | 1.38e-14 | 1.14 | 0.94 | – | – |
| Bayes, task prior | 6.25e-15 | 4.83e-15 | 1.26e-14 | 1.38e-14 | 2.24e-14 | 1.74e-14 | – | – |
"""
OLD_TINY_CROSSINGS = (
    "- a=0.5, k = 10 (Bayes 0.107): below the Bayes predictor from step 6400 to the last "
    "evaluated step 64000 (0.0901).",
    "- a=0.5, k = 40 (Bayes 0.0805): below the Bayes predictor from step 6400 to the last "
    "evaluated step 64000 (0.05).",
    "- a=0.5, k = 10 (Bayes 0.107): below the Bayes predictor from step 3200 to the last "
    "evaluated step 64000 (0.075).",
    "- a=0.5, k = 40 (Bayes 0.0805): below the Bayes predictor from step 3200 to the last "
    "evaluated step 64000 (0.0341).")


def _copy_committed(name: str, dest: Path) -> Path:
    shutil.copytree(ROOT / "figures" / name, dest, ignore=shutil.ignore_patterns("*.png", "*.pdf"))
    return dest


def test_a_committed_compute_folder_redraws_with_the_numbers_of_its_old_report(tmp_path):
    """figures/compute-cpu-tiny, converted from the old along-training format: its report,
    written afresh from the saved rows through results.load, holds the old report's table and
    crossing sentences digit for digit."""
    from icl_ood import report
    out = _copy_committed("compute-cpu-tiny", tmp_path / "tiny")
    (out / "report.md").unlink()
    text = report.write(out, force=True).read_text()
    assert OLD_TINY_REPORT in text
    seed1 = text[text.index("## seed 1"):]
    assert OLD_TINY_CROSSINGS[0] in text and OLD_TINY_CROSSINGS[1] in text
    assert OLD_TINY_CROSSINGS[2] in seed1 and OLD_TINY_CROSSINGS[3] in seed1


@pytest.mark.slow
@pytest.mark.parametrize("name", ["compute-cpu-tiny", "compute-cpu", "compute-h200",
                                  "compute-cpu/demo-cosine-8000", "compute-cpu-tiny-ref",
                                  "compute-sizes"])
def test_every_committed_compute_folder_redraws_with_icl_ood_figures_from(tmp_path, name):
    from icl_ood.cli import main
    out = tmp_path / name
    if name == "compute-sizes":  # its runs live in the other folders
        for other in ("compute-cpu-tiny", "compute-cpu", "compute-h200"):
            _copy_committed(other, tmp_path / other)
    else:
        _copy_committed(name, out)
    if not out.exists():
        _copy_committed(name, out)
    before = (out / "report.md").read_text()
    assert main(["figures", "--from", str(out), "--force"]) == 0
    assert (out / "figures" / "along_training.png").exists()
    assert (out / "report.md").read_text() == before
