"""Redraws every committed folder under figures/ from its saved results and checks the numbers.

figures/ is copied to a scratch directory and each folder redrawn there (the committed files are
never touched): a study (plan.jsonl) with `icl-ood sweep collect` (`--partial` if it was
collected so), a replicate folder (report.md) with `icl-ood figures --from`, a plain run
(config.json) with `icl-ood figures --run`. For a folder with a report, the numbers of every
table row of the redrawn report must equal the committed report's, in order (labels and prose
may differ where the code's wording changed since); a plain run must redraw without error. One
line per folder; exit status 1 if any folder fails. Run it from the repository root.

  python scripts/check_redraw.py            # all of figures/ (8 min on 2 CPU cores, 5 GB peak)
  python scripts/check_redraw.py figures/demo figures/compute-cpu
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?")


def table_numbers(report: Path) -> list[list[str]]:
    """The numbers of each markdown table row of a report, row by row."""
    return [NUMBER.findall(line) for line in report.read_text().splitlines()
            if line.startswith("|")]


def folders(roots: list[Path]) -> list[Path]:
    """The redrawable folders under `roots`: studies, replicate folders and plain runs."""
    out = []
    for root in roots:
        if any((root / f).exists() for f in ("plan.jsonl", "report.md", "config.json")):
            out.append(root)
        elif root.is_dir():
            out += folders(sorted(p for p in root.iterdir() if p.is_dir()))
    return out


def redraw(folder: Path, copy: Path) -> str | None:
    """None if `copy` (a scratch copy of `folder`) redraws with `folder`'s table numbers, else
    why not (one line)."""
    if (folder / "plan.jsonl").exists():  # a study collected with --partial is redrawn so
        partial = "--partial" in json.loads((folder / "provenance.json").read_text())["command"]
        cmd = ["sweep", "collect", str(copy)] + (["--partial"] if partial else [])
    elif (folder / "report.md").exists():
        cmd = ["figures", "--from", str(copy)]
    else:
        cmd = ["figures", "--run", str(copy)]
    proc = subprocess.run([sys.executable, "-m", "icl_ood.cli", *cmd], check=False,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        return f"`icl-ood {cmd[0]}` exited {proc.returncode}: " + \
            (proc.stderr.strip().splitlines() or ["(no message)"])[-1]
    if (folder / "report.md").exists():
        old, new = table_numbers(folder / "report.md"), table_numbers(copy / "report.md")
        if old != new:
            bad = next((i for i, (a, b) in enumerate(zip(old, new)) if a != b),
                       min(len(old), len(new)))
            return (f"report.md: table numbers differ from row {bad + 1} ({len(old)} rows "
                    f"committed, {len(new)} redrawn)")
    return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folders", nargs="*", type=Path, help="default: every folder under figures/")
    args = ap.parse_args(argv)
    roots = args.folders or sorted(p for p in Path("figures").iterdir() if p.is_dir())
    here = Path("figures").resolve()
    missing = [str(r) for r in roots if not r.is_dir() or here not in r.resolve().parents]
    if missing:
        print(f"check_redraw: not a folder under ./figures: {', '.join(missing)}", file=sys.stderr)
        return 2
    failed = 0
    with tempfile.TemporaryDirectory(prefix="icl-ood-redraw-") as scratch:
        # the whole tree is copied: a folder may draw runs of its siblings (../compute-cpu)
        top = Path(scratch) / "figures"
        shutil.copytree("figures", top)
        for folder in folders(roots):
            why = redraw(folder, top / folder.resolve().relative_to(Path("figures").resolve()))
            failed += why is not None
            ok = "same table numbers" if (folder / "report.md").exists() else "redrawn (no report)"
            print(f"{folder}: {ok if why is None else 'FAILED: ' + why}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
