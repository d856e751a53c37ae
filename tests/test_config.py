"""Config validation, overrides, presets."""

import json

import pytest

from icl_ood import presets
from icl_ood.config import Config, ConfigError, DataConfig, ModelConfig, TrainConfig


@pytest.mark.parametrize("name", sorted(presets.PRESETS))
def test_presets_are_valid_and_documented(name):
    cfg = presets.get(name)
    assert cfg.name == name
    doc = presets.PRESETS[name].__doc__
    assert "icl-ood train --preset" in doc and "Runtime" in doc


def test_unknown_preset():
    with pytest.raises(ConfigError, match="unknown preset"):
        presets.get("nope")


def test_json_round_trip():
    cfg = presets.get("colab")
    assert Config.from_dict(json.loads(cfg.to_json())) == cfg


def test_override_parses_types():
    cfg = presets.get("tiny").override(
        ["train.steps=40", "train.lr=1e-3", "data.families=[\"linear\", \"sinusoid\"]",
         "data.weights=[0.25, 0.75]", "model.dtype=bfloat16", "data.curriculum=false"])
    assert cfg.train.steps == 40 and cfg.train.lr == 1e-3
    assert cfg.data.families == ("linear", "sinusoid") and cfg.data.weights == (0.25, 0.75)
    assert cfg.model.dtype == "bfloat16" and cfg.data.curriculum is False


@pytest.mark.parametrize("make,field", [
    (lambda: DataConfig(weights=(0.7, 0.7)), "data.weights"),
    (lambda: DataConfig(weights=(-0.5, 1.5)), "data.weights"),
    (lambda: DataConfig(families=("linear", "cubic")), "data.families"),
    (lambda: DataConfig(dim=0), "data.dim"),
    (lambda: DataConfig().with_prior("sinusoid", freq=(0.0, 1.0)), "data.sinusoid.freq"),
    (lambda: DataConfig(dim=2, families=("sparse_linear",), weights=(1.0,)),
     "data.sparse_linear.sparsity"),
    (lambda: DataConfig(x_scale=float("nan")), "data.x_scale"),
    (lambda: ModelConfig(d_model=100, n_heads=8), "model.d_model"),
    (lambda: ModelConfig(n_layers=-1), "model.n_layers"),
    (lambda: TrainConfig(batch_size=0), "train.batch_size"),
    (lambda: TrainConfig(log_every=15, steps_per_dispatch=10), "train.log_every"),
    (lambda: Config(data=DataConfig(n_points=50), model=ModelConfig(max_points=41)),
     "data.n_points"),
])
def test_invalid_values_name_the_field(make, field):
    with pytest.raises(ConfigError) as e:
        make()
    assert str(e.value).startswith(field)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("assignment,field", [
    ("train.steps=-3", "train.steps"),
    ("train.steps=1.5", "train.steps"),
    ("train.nope=1", "train.nope"),
    ("data.weights=[1.0]", "data.weights"),
    ("bogus=1", "--set"),
])
def test_bad_overrides(assignment, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        presets.get("colab").override([assignment])


def test_diff_names_fields():
    a = presets.get("tiny")
    b = a.override(["train.lr=0.5", "model.n_layers=3"])
    d = b.diff(a)
    assert len(d) == 2 and d[0].startswith("model.n_layers") and d[1].startswith("train.lr")


def test_cli_version_and_resolved_config(capsys):
    """`icl-ood --version` names the package version; `icl-ood config` prints the resolved config
    (preset, then every --set) as JSON that parses back to the same Config."""
    import json

    import pytest

    from icl_ood import presets
    from icl_ood.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.startswith("icl-ood 0.1.0")
    sets = ["data.sinusoid.freq=[0.5,1.5]", "train.steps=300"]
    assert main(["config", "--preset", "demo", *[a for s in sets for a in ("--set", s)]]) == 0
    printed = Config.from_dict(json.loads(capsys.readouterr().out))
    assert printed == presets.get("demo").override(sets)
    assert printed.data.sinusoid.freq == (0.5, 1.5) and printed.train.steps == 300
    assert main(["config", "--set", "data.sin_freq=[1,2]"]) == 2
    assert capsys.readouterr().err.strip() == (
        "icl-ood: error: data.sin_freq: renamed; expected data.sinusoid.freq")


def test_cli_help_shows_defaults_and_evaluate_lists_every_baseline_and_sweep(capsys, monkeypatch):
    """Help shows each default; `evaluate --help` lists every registered baseline and sweep (a
    plug-in's too), a line each, marking the baselines that run only when named."""
    import dataclasses

    from icl_ood import baselines, sweeps
    from icl_ood.cli import main

    def help_of(*cmd):
        with pytest.raises(SystemExit) as exit_:
            main([*cmd, "--help"])
        assert exit_.value.code == 0
        return " ".join(capsys.readouterr().out.split())  # argparse wraps lines

    assert "--preset PRESET one of" in help_of("train") and "(default: tiny, a smoke test" in \
        help_of("train")
    assert "(default: demo)" in help_of("replicate") and "--num-runs" in help_of("benchmark")
    specs = baselines.specs()
    plugin = dataclasses.replace(specs["zero"], name="my_baseline", default=False,
                                 doc="My own baseline. Second sentence.")
    monkeypatch.setitem(baselines.REGISTRY._items, "my_baseline", plugin)
    text = help_of("evaluate")
    assert "(default: 1280)" in text and "(default: all)" in text
    listed = text[text.index("baselines (--baselines"):]
    for name, spec in baselines.specs().items():
        assert listed.count(f" {name} ") == 1
        assert (f" {name} * " in listed) == (not spec.default)
    assert " my_baseline * My own baseline " in listed and "Second sentence" not in listed
    for name in sweeps.REGISTRY.all():
        assert f" {name} " in listed[listed.index("sweeps (--sweep)"):]


def test_committed_configs_read_back_as_the_earlier_init_with_their_digests():
    """Every committed run's config.json (saved before model.init existed) reads back as
    init="gpt2" and writes back the same dict, so its digests and manifests stay valid; the
    presets default to the reference initialisation, and `--set model.init=...` switches."""
    import json
    from pathlib import Path

    from icl_ood.results import digest
    paths = sorted(Path(__file__).parents[1].glob("figures/**/config.json"))
    assert len(paths) > 10
    for p in paths:
        raw = json.loads(p.read_text())
        cfg = Config.from_dict(raw)
        want = raw["model"].get("init", "gpt2")
        assert cfg.model.init == want, p
        assert digest(cfg.to_dict()["model"]) == digest(raw["model"]), p
    paper = presets.get("paper")
    assert paper.model.init == "reference" and ModelConfig().init == "reference"
    assert presets.get("demo").model.init == presets.get("tiny").model.init == "gpt2"
    old = paper.override(['model.init="gpt2"'])
    assert old.model.init == "gpt2" and "init" not in old.to_dict()["model"]
    assert old.override(['model.init="reference"']) == paper
    with pytest.raises(ConfigError, match="model.init"):
        paper.override(['model.init="torch"'])
