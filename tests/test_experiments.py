"""Experiments as typed values: the same configs as the override strings they replace, each
documented like the presets (command, runtime, result, provenance tags)."""

import dataclasses
import re

import pytest

from icl_ood import experiments, presets
from icl_ood.config import ConfigError

# The experiments as they were written before (override strings), to check that the typed
# definitions give exactly the same configs.
LS = ('data.families=["linear", "sinusoid"]', "data.weights=[0.5, 0.5]")
D20 = ("data.dim=20", "data.x_dist=\"gaussian\"", "data.x_scale=1.0")
D5 = ("data.dim=5", "data.n_points=21", "data.x_dist=\"gaussian\"", "data.x_scale=1.0",
      "data.noise_std=0.5", 'data.families=["linear", "sparse_linear"]', "data.weights=[0.5, 0.5]",
      "data.sparse_linear.sparsity=2")
OLD = {
    "demo": (LS, {"both": ()}),
    "ood": (LS, {"linear": ("data.weights=[1.0, 0.0]",), "sinusoid": ("data.weights=[0.0, 1.0]",),
                 "both": ()}),
    "freq": ((), {"sin_w1": ('data.families=["sinusoid"]', "data.weights=[1.0]"),
                  "sin_range": ('data.families=["sinusoid"]', "data.weights=[1.0]",
                                "data.sinusoid.freq=[0.5, 1.5]")}),
    "selection": (D5, {f"{n}-s{seed}": changes + (f"train.seed={seed}",)
                       for n, changes in (("balanced", ()), ("rare10", ("data.weights=[0.9, 0.1]",)),
                                          ("rare1", ("data.weights=[0.99, 0.01]",)),
                                          ("linear", ("data.weights=[1.0, 0.0]",)),
                                          ("sparse", ("data.weights=[0.0, 1.0]",)),
                                          ("hinted", ("data.family_hint=true",)))
                       for seed in (0, 1)}),
    "selection-1d": (
        ("data.n_points=21", "data.noise_std=0.5", "model.max_points=21", "train.steps=8000",
         "train.keep_log=true"),
        {f"{n}-s{seed}": changes + (f"train.seed={seed}",)
         for n, changes in (("balanced", ()), ("rare10", ("data.weights=[0.9, 0.1]",)),
                            ("rare1", ("data.weights=[0.99, 0.01]",)),
                            ("linear", ("data.weights=[1.0, 0.0]",)),
                            ("sinusoid", ("data.weights=[0.0, 1.0]",)),
                            ("hinted", ("data.family_hint=true",)))
         for seed in (0, 1)}),
    "selection-relu": (
        ("data.dim=5", "data.n_points=21", "data.x_dist=\"gaussian\"", "data.x_scale=1.0",
         "data.noise_std=0.5", 'data.families=["linear", "relu_net"]', "data.weights=[0.5, 0.5]"),
        {f"{n}-s{seed}": changes + (f"train.seed={seed}",)
         for n, changes in (("balanced", ()), ("rare10", ("data.weights=[0.9, 0.1]",)),
                            ("relu", ("data.weights=[0.0, 1.0]",)))
         for seed in (0, 1)}),
    "mueller": (('data.dim=1', 'data.n_points=81', 'data.x_dist="uniform"', 'data.x_scale=1.0',
                 'data.noise_std=0.1', 'data.families=["line", "offset_sine"]',
                 'data.weights=[0.5, 0.5]', 'model.max_points=81'), {"sine_line": ()}),
    "mueller-along": (('data.dim=1', 'data.n_points=81', 'data.x_dist="uniform"',
                       'data.x_scale=1.0', 'data.noise_std=0.1',
                       'data.families=["line", "offset_sine"]', 'data.weights=[0.5, 0.5]',
                       'model.max_points=81', 'model.init="reference"',
                       'train.schedule="constant"', "train.lr=1e-3", "train.steps=12800"),
                      {"sine_line": ()}),
    "compute": (LS + ('train.schedule="constant"', "train.lr=1e-3", "train.steps=64000"),
                {"seed0": (), "seed1": ("train.seed=1",)}),
    "task-diversity": (
        ("data.dim=8", "data.n_points=16", 'data.families=["linear"]', "data.weights=[1.0]",
         'data.x_dist="gaussian"', "data.x_scale=1.0", f"data.noise_std={0.125 ** 0.5!r}",
         "data.task_pool=64", "model.n_layers=2", "model.n_heads=2", "model.d_model=64",
         "model.max_points=16", 'model.init="reference"', "train.steps=6400",
         "train.batch_size=128", "train.lr=1e-3", 'train.schedule="constant"',
         "train.warmup_steps=100", "train.grad_clip=1.0", "train.steps_per_dispatch=50",
         "train.log_every=100", "train.ckpt_every=1600", "train.keep_log=true"), {"pool": ()}),
    "selection-d20": (D20, {
        "linear+sparse": ('data.families=["linear", "sparse_linear"]', "data.weights=[0.5, 0.5]"),
        "linear+relu": ('data.families=["linear", "relu_net"]', "data.weights=[0.5, 0.5]"),
        "linear+relu_rare": ('data.families=["linear", "relu_net"]', "data.weights=[0.9, 0.1]")}),
}


@pytest.mark.parametrize("preset", sorted(presets.PRESETS))
@pytest.mark.parametrize("name", sorted(experiments.EXPERIMENTS))
def test_typed_runs_give_the_configs_of_the_old_override_strings(name, preset):
    exp = experiments.get(name)
    shared, runs = OLD[name]
    assert [r.name for r in exp.runs] == list(runs)
    for run in exp.runs:
        try:
            old = presets.get(preset).override(list(shared) + list(runs[run.name]))
        except ConfigError as e:  # e.g. 16 points at tiny's 11 positions: the same one line
            with pytest.raises(ConfigError, match=str(e).split(":")[0]):
                exp.config(preset, run)
            continue
        new = exp.config(preset, run)
        want = dataclasses.replace(old, name=f"{name}/{run.name}")
        assert new == want and new.to_json() == want.to_json()  # also 1 vs 1.0 in JSON
        extra = ("train.steps=7000", "data.noise_std=0.5")  # user overrides come last
        old = presets.get(preset).override(list(shared) + list(runs[run.name]) + list(extra))
        assert exp.config(preset, run, extra) == dataclasses.replace(old, name=new.name)


@pytest.mark.parametrize("name", sorted(experiments.EXPERIMENTS))
def test_experiments_are_documented_like_the_presets(name):
    exp = experiments.get(name)
    doc = exp.doc
    command = next(ln for ln in doc.splitlines() if ln.startswith("Command:"))
    assert "icl-ood replicate" in command
    assert name == "demo" or f"--experiment {name}" in command
    assert "Runtime" in doc and "Result" in doc
    assert re.search(r"\[(paper|garg|ours)\b", doc), "provenance tags [paper], [garg], [ours]"
    assert exp.summary and "\n" not in exp.summary and "Command" not in exp.summary


def test_unknown_field_or_bad_value_is_a_config_error():
    exp = experiments.get("demo")
    bad = experiments.Experiment("x", "doc", (experiments.Run("r", "r", {"nope": 1}),))
    with pytest.raises(ConfigError, match="nope"):
        bad.config("tiny", bad.runs[0])
    worse = experiments.Experiment("x", "doc", (experiments.Run("r", "r", {"weights": (0.7,)}),))
    with pytest.raises(ConfigError, match="data.weights"):
        worse.config("tiny", worse.runs[0])
    with pytest.raises(ConfigError, match="--experiment"):
        experiments.get("nope")
    assert exp.config("tiny", exp.runs[0]).data.families == ("linear", "sinusoid")


def test_a_preset_that_changes_an_experiments_data_is_named_in_the_reports_first_lines():
    from icl_ood.report import changed_data
    exp = experiments.get("compute")
    run = exp.runs[0]
    assert exp.data_changes(exp.config("demo", run)) == {}
    ch = exp.data_changes(exp.config("tiny", run))
    assert ch["x_dist"] == ["gaussian", "uniform"] and ch["n_points"] == [11, 41], ch
    lines = changed_data({"data_changes": ch})
    assert lines[0].startswith("**Other data than the experiment defines**")
    assert 'data.x_dist "gaussian" (defined: "uniform")' in lines[0]
    assert changed_data({}) == []
