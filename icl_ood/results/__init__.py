"""The results layer: how every stage's outputs are written, checked, reused and read back.

Writing. `write_text`, `write_json`, `write_jsonl` and `atomic` write a temporary file beside the
target, fsync it and rename it into place: a crash or Ctrl-C leaves the old file or the new one,
never part of one (nor a file that looks finished). Files get the mode an ordinary open() gives
(0666 & ~umask: readable by colleagues under the usual umask 022). `check_writable(folder)`
refuses in one line, before any compute, to work for outputs that could not be written.

Manifests. Every output, or group of outputs written together, has a sidecar manifest,
`manifest_path(output)` (`eval/convex.jsonl` -> `eval/convex.manifest.json`):
    {"stage": "evaluate", "inputs": {...}, "outputs": {"convex.jsonl": "<sha256>", ...},
     "rank": [step, n_prompts], "complete": true, "commit": "abc1234+dirty", "written": "..."}
`inputs` holds everything the output was computed from (for an evaluation: a digest of the run's
config, the checkpoint step and a checksum of the evaluated parameters, the evaluation options,
a format version). The manifest is written last, after its outputs, so it vouches for them. A
stage reuses an output only if `matches(output, inputs)`: the manifest is complete, its inputs
equal these, and every file it lists still has its checksum. The code commit is recorded (and
reported), not compared: reusing nothing after every commit would make paper-scale evaluations
unaffordable; a change that alters results bumps the stage's format version in its inputs.

Never lesser. `rank` orders outputs of the same name (e.g. [checkpoint step, prompts per task]);
`check_replace` refuses (ResultsError) to replace an output by one of lower rank unless forced.

Reading. `load(out)` gives figures and the report everything they draw from a replicate folder:
experiment.json (run names, labels, pretraining changes, mix, sweeps, doc, and the result files
of each run) and the files it lists, each checked against its manifest. Anything missing,
incomplete, damaged or from different checkpoints of one run is refused with one line, so a
redraw never depends on today's experiment definitions nor mixes stale with current results.

`load_run(run_dir)` gives the same for a plain run folder (`icl-ood train` + `icl-ood
evaluate`): its metrics and, per sweep, the intact evaluation of its latest evaluated checkpoint
with the most prompts.

Standard library only: every layer may import it (see tests/test_imports.py). One concern per
file: files.py (writing, reading, hashes), manifest.py (manifests, evaluation file names),
provenance.py (commit, machine), load.py (reading folders back).
"""

from icl_ood.results.files import (
                                    ResultsError,
                                    atomic,
                                    check_writable,
                                    digest,
                                    jsonl_exists,
                                    read_json,
                                    read_jsonl,
                                    sha256,
                                    write_bytes,
                                    write_json,
                                    write_jsonl,
                                    write_text,
)
from icl_ood.results.load import FORMAT, load, load_run, replicate_command
from icl_ood.results.manifest import (
                                    EVAL_DEFAULTS,
                                    check_replace,
                                    copy_run_record,
                                    eval_files,
                                    eval_key,
                                    intact,
                                    manifest_path,
                                    matches,
                                    read_manifest,
                                    write_manifest,
                                    yardstick_files,
)
from icl_ood.results.provenance import commit, machine

__all__ = ["EVAL_DEFAULTS", "FORMAT", "ResultsError", "atomic", "check_replace", "check_writable",
           "commit", "copy_run_record",
           "digest", "eval_files", "eval_key", "intact", "jsonl_exists", "load", "load_run", "machine",
           "manifest_path", "matches", "read_json", "read_jsonl", "read_manifest",
           "replicate_command", "sha256", "write_bytes", "write_json", "write_jsonl",
           "write_manifest", "write_text", "yardstick_files"]
