"""One-way imports inside icl_ood: no cycle, and every import points to a lower layer.

Every module of icl_ood is parsed (ast), every import counted, function-local and
TYPE_CHECKING ones included, so a cycle cannot hide behind an import inside a function.

Layers, lowest first; a module imports only from lower layers (or from its own package):
  0  registry, results   the plug-in registries; the results layer (the on-disk format of
                         every stage's outputs: atomic writes, manifests, reading them back)
  1  families            the function families (icl_ood/families/: one node; their JAX code
                         is imported on first use, so building a config imports no JAX)
  2  config              the config schema (family sections come from the registry)
  3  presets             named configs
  4  data, model         prompt generation; the Transformer
  5  tasks, baselines, checkpoint, reliability, stats, table
                         evaluation tasks; reference predictors (plug-ins); orbax checkpoints;
                         signals and run folders; paired-bootstrap statistics; the text table
  6  sweeps, train, predict
                         sweep plug-ins; the training package (icl_ood/train/*.py: one node);
                         the model's forward pass on prompts
  7  evaluate, benchmark scoring checkpoints and baselines (writes results); timing training
  8  examples, yardsticks
                         a model's predictions on example prompts (saved for figure 4); the
                         yardsticks computed once per sweep, checkpoints scored against them
  9  figures             drawing saved results (reads results only)
 10  report              report.md from saved results (and the figures' conventions)
 11  experiments         the experiment definitions (typed values, no code that runs them)
 12  replicate           runs an experiment's stages (train, evaluate, figures, report)
 13  studies             a grid of runs: plan, run a task, submit (submitit), status, collect
 14  cli                 the command line
Figures and report read run names, labels, mixes and docs from experiment.json through the
results layer, never from icl_ood.experiments: a redraw shows saved results as they were made.
"""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "icl_ood"
LAYERS = (
    ("registry", "results"),
    ("families",),
    ("config",),
    ("presets",),
    ("data", "model"),
    ("tasks", "baselines", "checkpoint", "reliability", "stats", "table"),
    ("sweeps", "train", "predict"),
    ("evaluate", "benchmark"),
    ("examples", "yardsticks"),
    ("figures",),
    ("report",),
    ("experiments",),
    ("replicate",),
    ("studies",),
    ("cli",),
)
MAX_LINES = 300  # no module longer: one concern per file
LAYER = {node: i for i, nodes in enumerate(LAYERS) for node in nodes}


def modules() -> dict[str, Path]:
    """icl_ood's modules by dotted name (a package by its __init__.py)."""
    out = {}
    for path in sorted(PKG.rglob("*.py")):
        parts = path.relative_to(PKG.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The icl_ood modules `name` imports anywhere in its source (`from pkg import sub` counts
    as importing the submodule when `sub` is one)."""
    is_pkg = path.name == "__init__.py"
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")[:len(name.split(".")) - node.level + is_pkg]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module
            subs = {f"{mod}.{a.name}" for a in node.names} & set(known)
            out |= subs or {mod}
            if subs and len(subs) < len(node.names):
                out.add(mod)  # names that are not submodules come from the package itself
    return {m for m in out if m == "icl_ood" or m.startswith("icl_ood.")} - {name}


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


def node(module: str) -> str:
    """A module's layer node: its top-level name under icl_ood (icl_ood.train.loop -> train)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "icl_ood"


def find_cycle(g: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(v: str) -> list[str] | None:
        state[v] = 1
        path.append(v)
        for w in sorted(g.get(v, ())):
            if state.get(w) == 1:
                return path[path.index(w):] + [w]
            if w not in state and (c := visit(w)):
                return c
        path.pop()
        state[v] = 2
        return None

    for v in sorted(g):
        if v not in state and (c := visit(v)):
            return c
    return None


def test_parser_sees_function_local_and_relative_imports(tmp_path):
    src = ("import os\nfrom icl_ood.config import Config\n"
           "def f():\n    from icl_ood import evaluate as ev, presets\n"
           "    from . import results\n    import icl_ood.train\n")
    path = tmp_path / "m.py"
    path.write_text(src)
    known = {k: Path() for k in ("icl_ood.config", "icl_ood.evaluate", "icl_ood.presets",
                                 "icl_ood.results", "icl_ood.train")}
    assert imports("icl_ood.m", path, known) == set(known)
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_every_module_has_a_layer():
    missing = sorted({node(m) for m in modules()} - set(LAYER) - {"icl_ood"})
    assert not missing, f"place {missing} in LAYERS (tests/test_imports.py)"


def test_no_import_cycle():
    assert find_cycle(graph()) is None, " -> ".join(find_cycle(graph()))
    g = graph()
    nodes = {}
    for m, deps in g.items():
        nodes.setdefault(node(m), set()).update(node(d) for d in deps if node(d) != node(m))
    assert find_cycle(nodes) is None, " -> ".join(find_cycle(nodes))


def test_imports_go_down_the_layers():
    up = [f"{m} imports {d} (layer {LAYER.get(node(d))} >= {LAYER.get(node(m))})"
          for m, deps in graph().items() for d in sorted(deps)
          if node(d) != node(m) and node(m) != "icl_ood"
          and LAYER.get(node(d), 99) >= LAYER.get(node(m), -1)]
    assert not up, "\n".join(up)


def test_figures_and_report_do_not_import_experiments_or_jax_layers():
    for m, deps in graph().items():
        if node(m) in ("figures", "report"):
            # registry: figures and report sections are plug-ins (figures/plugins.py)
            assert {node(d) for d in deps} <= {"registry", "results", "config", "figures",
                                               "report"}, (m, deps)


def test_no_module_over_max_lines():
    long = {m: n for m, path in modules().items()
            if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert not long, f"split by concern (at most {MAX_LINES} lines each): {long}"



def test_building_a_config_imports_no_jax():
    """presets.get and config validation register the families without importing JAX (1 s)."""
    import subprocess
    import sys
    code = ("import sys; from icl_ood import presets; presets.get('demo').override("
            "['data.sinusoid.freq=[0.5,1.5]']); print(sorted(m for m in sys.modules "
            "if m == 'jax' or m.startswith(('jax.', 'flax', 'optax'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_the_readme_stays_short():
    """README.md: what it is, the two commands, findings with links, usage (at most 250 lines;
    each study's numbers live in its report.md, indexed in figures/README.md)."""
    readme = (PKG.parent / "README.md").read_text().splitlines()
    assert len(readme) <= 250, len(readme)
    assert "python -m pytest -q" in "\n".join(readme[:8])
