"""The results layer (icl_ood.results): atomic writes, manifests, reuse only on matching inputs,
never a lesser result over a fuller one; and the CLI's answers to Ctrl-C at start-up and to a
rerun of a finished `icl-ood train` (issue 11, scenarios 5 and 6; scenarios 1-4 are in
test_replicate.py)."""

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from icl_ood import results
from icl_ood.cli import main

ROOT = Path(__file__).resolve().parent.parent


# ------------------------------------------------------------------------------ atomic writes

def test_atomic_write_leaves_old_file_when_the_writer_fails(tmp_path):
    path = tmp_path / "sub" / "rows.jsonl"
    results.write_jsonl(path, [{"a": 1}, {"a": 2}])
    assert results.read_jsonl(path) == [{"a": 1}, {"a": 2}]
    with pytest.raises(RuntimeError), results.atomic(path) as tmp:
        tmp.write_text('{"a": 3')  # half written, then the writer dies
        raise RuntimeError("killed")
    assert results.read_jsonl(path) == [{"a": 1}, {"a": 2}]
    assert sorted(p.name for p in path.parent.iterdir()) == ["rows.jsonl"]  # no temporaries


def test_jsonl_is_read_from_its_gzipped_copy(tmp_path):
    """Committed results keep large JSON lines gzipped; read_jsonl reads them as they are."""
    import gzip
    recs = [{"a": 1, "b": [0.5, None]}, {"a": 2, "b": "x"}]
    results.write_jsonl(tmp_path / "rows.jsonl", recs)
    gz = tmp_path / "rows.jsonl.gz"
    gz.write_bytes(gzip.compress((tmp_path / "rows.jsonl").read_bytes()))
    (tmp_path / "rows.jsonl").unlink()
    assert results.jsonl_exists(tmp_path / "rows.jsonl")
    assert results.read_jsonl(tmp_path / "rows.jsonl") == recs
    assert not results.jsonl_exists(tmp_path / "other.jsonl")


def test_manifest_matches_only_the_same_inputs_and_intact_outputs(tmp_path):
    rows, weights = tmp_path / "k.jsonl", tmp_path / "k_bayes_weights.jsonl"
    results.write_jsonl(rows, [{"step": 100}])
    results.write_jsonl(weights, [])
    inputs = {"checkpoint": {"step": 100, "checksum": "ab"}, "options": {"mix": ("a", "b")}}
    mpath = results.write_manifest(rows, "evaluate", inputs, [rows, weights], rank=[100, 64])
    assert mpath == tmp_path / "k.manifest.json"
    man = results.read_manifest(rows)
    assert man["complete"] and man["commit"] and set(man["outputs"]) == {rows.name, weights.name}
    assert results.matches(rows, inputs)  # tuples compare as the lists JSON reads back
    assert not results.matches(rows, {**inputs, "checkpoint": {"step": 100, "checksum": "cd"}})
    weights.write_text("{}\n")  # an output changed after its manifest was written
    assert not results.matches(rows, inputs)
    assert results.intact(results.read_manifest(rows), tmp_path) == \
        "k_bayes_weights.jsonl changed since it was written"
    assert not results.matches(tmp_path / "other.jsonl", inputs)  # no manifest
    weights.write_text("")  # back as written; then both gzipped, as committed folders hold them
    for p in (rows, weights):
        p.with_name(p.name + ".gz").write_bytes(gzip.compress(p.read_bytes()))
        p.unlink()
    assert results.matches(rows, inputs)
    rows.with_name("k.jsonl.gz").write_bytes(gzip.compress(b'{"step": 200}\n'))
    assert results.intact(results.read_manifest(rows), tmp_path) == \
        "k.jsonl changed since it was written"


def test_never_replaces_a_fuller_result_unless_forced(tmp_path):
    path = tmp_path / "k.jsonl"
    results.check_replace(path, [1, 1])  # nothing there yet
    results.write_jsonl(path, [])
    results.check_replace(path, [0, 1], legacy_rank=None)  # no manifest, rank unknown
    with pytest.raises(results.ResultsError, match="--force"):
        results.check_replace(path, [80, 1280], legacy_rank=[100, 1280])
    results.write_manifest(path, "evaluate", {}, [path], rank=[100, 1280])
    results.check_replace(path, [100, 1280])
    results.check_replace(path, [200, 64])
    with pytest.raises(results.ResultsError) as e:
        results.check_replace(path, [80, 1280])
    assert "\n" not in str(e.value)
    results.check_replace(path, [80, 1280], force=True)


def test_evaluation_files_are_keyed_by_their_options():
    assert results.eval_files("convex", {}) == ("convex.jsonl", "convex_bayes_weights.jsonl")
    assert results.eval_files("k", {"n_prompts": 64}) == ("k.n64.jsonl",
                                                          "k_bayes_weights.n64.jsonl")
    assert results.eval_key({"n_prompts": 1280, "seed": 1, "baselines": [], "n_boot": 50,
                             "mix": ["linear", "sinusoid"]}) == \
        "seed1.bl=none.mix=linear+sinusoid.boot50"


def test_evaluation_options_normalise_the_default_mix():
    from icl_ood import evaluate as ev
    from icl_ood.presets import LINEAR_SINE_1D
    same = ev.eval_options(LINEAR_SINE_1D, "convex", mix=("linear", "sinusoid"))
    assert same == ev.eval_options(LINEAR_SINE_1D, "convex") and same["mix"] is None
    assert ev.eval_options(LINEAR_SINE_1D, "convex", mix=("sinusoid", "linear"))["mix"] == \
        ["sinusoid", "linear"]
    assert ev.eval_options(LINEAR_SINE_1D, "k", mix=("sinusoid", "linear"))["mix"] is None


def test_load_refuses_folders_of_older_versions(tmp_path):
    results.write_json(tmp_path / "experiment.json", {"experiment": "demo", "preset": "demo",
                                                       "overrides": [], "n_prompts": 1280})
    with pytest.raises(results.ResultsError, match="older icl-ood.*icl-ood replicate"):
        results.load(tmp_path)
    with pytest.raises(results.ResultsError, match="no experiment.json"):
        results.load(tmp_path / "nope")


# ------------------------------------------------------- scenario 5: Ctrl-C in the first seconds

def _caught(pid: int, sig: int) -> bool:
    """Whether process `pid` has a handler for `sig` (Linux: SigCgt in /proc/<pid>/status)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    mask = int(next(ln.split()[1] for ln in status.splitlines() if ln.startswith("SigCgt")), 16)
    return bool(mask >> (sig - 1) & 1)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("sig,delay", [(signal.SIGINT, 0.0), (signal.SIGINT, 0.6),
                                       (signal.SIGTERM, 0.3)])
def test_signal_in_the_first_seconds_is_one_line(tmp_path, sig, delay):
    """Scenario 5: SIGINT (or SIGTERM) while the command starts (importing jax, building the
    model): one line on stderr and exit 130 (143), no traceback, no segfault."""
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "icl_ood.cli", "train", "--preset", "tiny", "--quiet",
         "--run-dir", str(tmp_path / "run")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=env)
    t0 = time.monotonic()
    # the CLI's handler catches SIGTERM (Python's own catches only SIGINT): it is installed
    while not _caught(proc.pid, signal.SIGTERM) and time.monotonic() - t0 < 10 \
            and proc.poll() is None:
        time.sleep(0.005)
    time.sleep(delay)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    lines = [ln for ln in err.decode().splitlines() if ln.strip()]
    assert proc.returncode == 128 + sig, (proc.returncode, err.decode()[-2000:])
    assert len(lines) == 1 and lines[0].startswith(f"icl-ood: {signal.Signals(sig).name}"), lines
    assert not (tmp_path / "run" / "ckpt").exists()


# ------------------------------------------------- scenario 6: rerun of a finished `icl-ood train`

def _strict_json(line: str) -> dict:
    def nan(v):
        raise ValueError(f"not JSON: {v}")
    return json.loads(line, parse_constant=nan)


def test_rerun_of_a_finished_train_says_complete_in_valid_json(tmp_path, capsys):
    run_dir = tmp_path / "run"
    args = ["train", "--preset", "tiny", "--quiet", "--run-dir", str(run_dir),
            "--set", "train.steps=40", "--set", "train.log_every=20", "--set",
            "train.ckpt_every=20"]
    assert main(args) == 0
    first = _strict_json(capsys.readouterr().out.strip().splitlines()[-1])
    assert main(args) == 0
    cap = capsys.readouterr()
    again = _strict_json(cap.out.strip().splitlines()[-1])  # the old code printed NaN here
    assert first["complete"] is True and first["steps"] == 40
    last = results.read_jsonl(run_dir / "metrics.jsonl")[-1]
    assert again["complete"] is True and again["steps"] == again["resumed_from"] == 40
    assert again["final_loss"] == last["loss"] and last["step"] == 40
    assert "already complete" in cap.err and "NaN" not in cap.out
    partial = tmp_path / "partial"
    assert main(["train", "--preset", "tiny", "--quiet", "--run-dir", str(partial), "--set",
                 "train.steps=40", "--set", "train.log_every=20", "--set",
                 "train.ckpt_every=20", "--stop-at", "20"]) == 0
    stopped = _strict_json(capsys.readouterr().out.strip().splitlines()[-1])
    assert stopped["complete"] is False and stopped["steps"] == 20
