"""Studies: a grid of configurations x seed bundles, planned, run (here, on several devices, or
as a SLURM array through submitit), followed and collected (`icl-ood sweep`).

Study folder (every file written atomically through icl_ood.results, with manifests):
    DIR/plan.jsonl (+ plan.manifest.json)   one task per line: its configuration, seed bundle,
                                            what it scores, a content hash; the request in the
                                            manifest's inputs
    DIR/runs/<task>.seed<S>/                 ordinary run folders (config, metrics, ckpt/, eval/
                                            with the final step's and kept checkpoints' rows)
    DIR/tasks/<task>.json (+ manifest)      a finished task's record; <task>.claim.json while
                                            a process runs it
    DIR/submitit/                            submitit's job files and logs; submissions.jsonl
    DIR/experiment.json, provenance.json, figures/, report.md   written by collect: the folder
                                            reads as a replicate folder (figures --from DIR)

One file per concern: plan (the grid), run (one task), record (finished / claimed marks),
status, submit (submitit), collect (report and figures).
"""

from icl_ood.studies.collect import collect
from icl_ood.studies.plan import parse_grid, read_plan
from icl_ood.studies.plan import plan as plan_study
from icl_ood.studies.run import run_task
from icl_ood.studies.status import states
from icl_ood.studies.submit import submit

__all__ = ["collect", "parse_grid", "plan_study", "read_plan", "run_task", "states", "submit"]
