"""Curves where researchers watch them (issue 28, item 3): `--log-to tensorboard,wandb` mirrors
metrics.jsonl into TensorBoard event files and an (offline) W&B run, each with the run's config
and provenance, read back here by TensorBoard's own reader and from W&B's run file."""

import importlib.util
import json
import shutil
import struct
import sys
import time

import pytest

from icl_ood import presets, results
from icl_ood.cli import main
from icl_ood.config import ConfigError
from icl_ood.train import sinks, train

CFG = presets.get("tiny").override(["train.steps=60", "train.log_every=20", "train.ckpt_every=40"])


def logged(run) -> list[tuple[int, float]]:
    return [(r["step"], r["loss"]) for r in results.read_jsonl(run / "metrics.jsonl")]


@pytest.fixture(scope="module")
def mirrored(tmp_path_factory):
    """(run folder, W&B folder): the tiny run trained once (60 steps, a record every 20) with
    every sink whose package is installed, W&B offline."""
    kinds = tuple(k for k in sinks.KINDS if importlib.util.find_spec(k))
    if not kinds:
        pytest.skip("neither tensorboard nor wandb is installed")
    top = tmp_path_factory.mktemp("sinks")
    (top / "wb").mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WANDB_MODE", "offline")
        mp.setenv("WANDB_SILENT", "true")
        mp.setenv("WANDB_DIR", str(top / "wb"))
        with sinks.logging_to(kinds):
            train(CFG, top / "run", progress=False)
    return top / "run", top / "wb"


def test_tensorboard_reads_back_the_loss_at_its_steps_config_and_a_resume(mirrored):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing import event_accumulator as ea
    from tensorboard.plugins.hparams import plugin_data_pb2

    run = mirrored[0]
    # killed before the checkpoint at 60 was written: the rerun resumes from 40 and logs 60
    # again; TensorBoard must show each step once (the first session's 60 purged)
    shutil.rmtree(run / "ckpt" / "60")
    with pytest.warns(UserWarning, match="dropping 1 record"), sinks.logging_to(("tensorboard",)):
        summary = train(CFG, run, progress=False)
    assert summary["resumed_from"] == 40
    acc = ea.EventAccumulator(str(run / sinks.TB_FOLDER), size_guidance={ea.SCALARS: 0,
                                                                         ea.TENSORS: 0})
    acc.Reload()
    want = logged(run)
    assert [s for s, _ in want] == [20, 40, 60]
    got = [(e.step, e.value) for e in acc.Scalars("loss")]
    assert [s for s, _ in got] == [20, 40, 60]
    assert [v for _, v in got] == pytest.approx([v for _, v in want], rel=1e-6)  # float32
    lin = results.read_jsonl(run / "metrics.jsonl")[-1]["loss_per_family"]["linear"]
    assert acc.Scalars("loss_per_family/linear")[-1].value == pytest.approx(lin, rel=1e-6)
    text = acc.Tensors("config")[0].tensor_proto.string_val[0].decode()
    saved = json.loads(text.strip("`\n"))
    assert saved["config"] == json.loads(CFG.to_json())
    assert saved["provenance"]["commit"] == results.commit()
    hp = plugin_data_pb2.HParamsPluginData.FromString(
        acc.SummaryMetadata("_hparams_/session_start_info").plugin_data.content)
    assert hp.session_start_info.hparams["train.lr"].number_value == pytest.approx(CFG.train.lr)


def wandb_records(path):
    """The records of a W&B run file (.wandb: LevelDB's log format, 32 KiB blocks, after a
    7-byte header; each chunk: CRC32, length, type 1 full / 2 first / 3 middle / 4 last)."""
    from wandb.proto import wandb_internal_pb2

    data, pos, chunk = path.read_bytes(), 7, b""
    assert data[:4] == b":W&B"
    while pos + 7 <= len(data):
        if 32768 - pos % 32768 < 7:  # a block's tail too short for a header: padding
            pos += 32768 - pos % 32768
            continue
        _, n, kind = struct.unpack("<IHB", data[pos:pos + 7])
        if pos + 7 + n > len(data):  # still being written
            return
        chunk += data[pos + 7:pos + 7 + n]
        pos += 7 + n
        if kind in (1, 4):
            rec = wandb_internal_pb2.Record()
            rec.ParseFromString(chunk)
            chunk = b""
            yield rec


def finished_records(path, timeout_s: float = 30.0) -> list:
    """The run file's records once W&B's service has written its exit record (run.finish()
    returns before the service has flushed the file: about 0.1 s later, measured)."""
    t0 = time.monotonic()
    recs = list(wandb_records(path))
    while not any(r.HasField("exit") for r in recs) and time.monotonic() - t0 < timeout_s:
        time.sleep(0.1)
        recs = list(wandb_records(path))
    return recs


def test_wandb_offline_run_holds_the_loss_at_its_steps_and_the_config(mirrored):
    pytest.importorskip("wandb")
    run, cfg = mirrored[0], CFG
    files = list(mirrored[1].glob("wandb/offline-run-*/run-*.wandb"))
    assert len(files) == 1, files
    recs = finished_records(files[0])
    history = [{i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in r.history.item}
               for r in recs if r.HasField("history")]
    assert [(h["step"], h["loss"]) for h in history] == logged(run)  # JSON: exact
    (meta,) = [r.run for r in recs if r.HasField("run")]
    assert meta.run_id == results.digest(str(run.resolve()))  # a resume continues this run
    config = {i.key or "/".join(i.nested_key): json.loads(i.value_json)
              for i in meta.config.update}
    assert {k: config[k] for k in ("name", "data", "model", "train")} == json.loads(cfg.to_json())
    assert config["provenance"]["commit"] == results.commit()
    assert config["provenance"]["config_digest"] == results.digest(cfg.to_dict())


def test_a_missing_package_or_unknown_kind_is_one_line_before_training(tmp_path, capsys,
                                                                        monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # import tensorboard now fails
    args = ["train", "--preset", "tiny", "--quiet", "--run-dir", str(tmp_path / "run")]
    assert main(args + ["--log-to", "tensorboard"]) == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1 and "pip install 'icl-ood[tensorboard]'" in err[0], err
    assert main(args + ["--log-to", "tensorbord,wandb"]) == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1 and "unknown 'tensorbord'; known: tensorboard, wandb" in err[0], err
    assert not (tmp_path / "run").exists()  # nothing trained, nothing written
    assert sinks.parse(None) == () and sinks.parse("wandb, tensorboard,wandb") == (
        "wandb", "tensorboard")
    with pytest.raises(ConfigError):
        sinks.parse("csv")
