"""Experiments: which models to pretrain and which sweeps to run, and `replicate`, the main job
(train -> evaluate -> figures -> report) with every finished stage reused on a rerun.

An experiment is a list of pretraining runs (overrides on a scale preset: demo, colab or paper)
plus the sweeps that evaluate them. Output folder layout:
    OUT/experiment.json                 what was asked (experiment, preset, overrides, seed)
    OUT/runs/<run>/                     training run (config.json, metrics.jsonl, ckpt/) and
    OUT/runs/<run>/eval/<sweep>.jsonl   its evaluation rows (see icl_ood.evaluate)
    OUT/runs/<run>/eval/examples.json   curves across x for the example-prompt figure
    OUT/figures/*.png|pdf, OUT/report.md, OUT/provenance.json
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from icl_ood import presets
from icl_ood.config import Config, ConfigError


@dataclass(frozen=True)
class Run:
    """One pretraining run of an experiment: a name, a legend label, overrides on the preset."""

    name: str
    label: str
    overrides: tuple[str, ...] = ()


@dataclass(frozen=True)
class Experiment:
    """Pretraining runs, shared data overrides, and what to evaluate."""

    name: str
    doc: str
    runs: tuple[Run, ...]
    data: tuple[str, ...] = ()  # overrides shared by every run (applied before the run's own)
    sweeps: tuple[str, ...] = ("convex", "freq", "k")
    mix: tuple[str, str] | None = ("linear", "sinusoid")  # f = a*f1 + (1-a)*f2 in the a-sweep

    def config(self, preset: str, run: Run, extra: tuple[str, ...] = ()) -> Config:
        """The full config of `run` at scale `preset` (with user overrides `extra` last)."""
        cfg = presets.get(preset).override(list(self.data) + list(run.overrides) + list(extra))
        return dataclasses.replace(cfg, name=f"{self.name}/{run.name}")


# Runs that differ only in mixture weights (or seed) are trained together in one program.
LIN = Run("linear", "pretrained on linear", ("data.weights=[1.0, 0.0]",))
SIN = Run("sinusoid", "pretrained on sinusoid", ("data.weights=[0.0, 1.0]",))
BOTH = Run("both", "pretrained on linear + sinusoid (50/50)")
LS = ('data.families=["linear", "sinusoid"]', "data.weights=[0.5, 0.5]")
D20 = ("data.dim=20", "data.x_dist=\"gaussian\"", "data.x_scale=1.0")

EXPERIMENTS = {e.name: e for e in (
    Experiment("demo", "One model pretrained on pure 1-D linear and pure sinusoid prompts "
               "(50/50); the convex and frequency sweeps against the Bayes predictor of its "
               "pretraining prior and the joint-class oracle.", (BOTH,), data=LS),
    Experiment("ood", "The paper's out-of-distribution comparison: models pretrained on linear "
               "only, sinusoid only, and both, tested on a*linear + (1-a)*sinusoid and on "
               "sinusoids of other frequencies.", (LIN, SIN, BOTH), data=LS),
    Experiment("freq", "Frequency generalization: sinusoid models pretrained at one frequency "
               "(w = 1) or on a range (w ~ U[0.5, 1.5]) [ours], tested from 4x below to 4x above.",
               (Run("sin_w1", "pretrained on sinusoids, w = 1",
                    ('data.families=["sinusoid"]', "data.weights=[1.0]")),
                Run("sin_range", "pretrained on sinusoids, w ~ U[0.5, 1.5]",
                    ('data.families=["sinusoid"]', "data.weights=[1.0]",
                     "data.sinusoid.freq=[0.5, 1.5]"))),
               sweeps=("freq", "k"), mix=None),
    Experiment("selection", "Model selection at d = 20 (Garg et al.'s families): dense + sparse "
               "linear, dense linear + 2-layer ReLU nets, and the same with the ReLU family rarely "
               "seen (10%) [weights ours]; the Bayes predictor's posterior family weight vs k.",
               (Run("linear+sparse", "dense + sparse linear (50/50)",
                    ('data.families=["linear", "sparse_linear"]', "data.weights=[0.5, 0.5]")),
                Run("linear+relu", "dense linear + ReLU nets (50/50)",
                    ('data.families=["linear", "relu_net"]', "data.weights=[0.5, 0.5]")),
                Run("linear+relu_rare", "dense linear + ReLU nets (90/10)",
                    ('data.families=["linear", "relu_net"]', "data.weights=[0.9, 0.1]"))),
               data=D20, sweeps=("k",), mix=None),
)}


def get(name: str) -> Experiment:
    if name not in EXPERIMENTS:
        raise ConfigError(f"--experiment: unknown experiment {name!r}; known: {sorted(EXPERIMENTS)}")
    return EXPERIMENTS[name]


# ------------------------------------------------------------------------------------ stages

def commit() -> str:
    """The git commit of the code (with '+dirty' for uncommitted changes), else $ICL_OOD_COMMIT
    (for copies without .git, e.g. on a remote accelerator), else 'unknown'."""
    if os.environ.get("ICL_OOD_COMMIT"):
        return os.environ["ICL_OOD_COMMIT"]
    root = Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, text=True,
                             capture_output=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               text=True, capture_output=True, check=True).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _trained_step(run_dir: Path) -> int:
    """The newest checkpoint step of a run folder (0 if none), without starting jax."""
    ckpt = run_dir / "ckpt"
    steps = [int(p.name) for p in ckpt.iterdir() if p.name.isdigit()] if ckpt.exists() else []
    return max(steps, default=0)


def _check_request(out: Path, request: dict) -> None:
    """Refuses to reuse an output folder made by a different request (names the fields)."""
    path = out / "experiment.json"
    if not path.exists():
        return
    old = json.loads(path.read_text())
    differ = [f"{k}: {old.get(k)!r} -> {v!r}" for k, v in request.items() if old.get(k) != v]
    if differ:
        raise ConfigError(f"{out} holds results of another request ({'; '.join(differ)}); "
                          "rerun with the same options to resume, or pick another --out")


def _groups(cfgs: dict[str, Config]) -> list[list[str]]:
    """Run names grouped so that each group differs only in seed and mixture weights."""
    from icl_ood.train import GROUP_FIELDS
    groups: list[list[str]] = []
    for name, cfg in cfgs.items():
        for g in groups:
            diff = [f for f in cfg.diff(cfgs[g[0]]) if f.split(":")[0] not in GROUP_FIELDS]
            if not diff:
                g.append(name)
                break
        else:
            groups.append([name])
    return groups


def _eval_done(path: Path, step: int, n_prompts: int) -> bool:
    if not path.exists():
        return False
    first = json.loads(path.open().readline() or "{}")
    return first.get("step") == step and first.get("n_prompts") == n_prompts


def replicate(experiment: str = "demo", preset: str = "demo", out: str | Path | None = None, *,
              overrides: tuple[str, ...] = (), n_prompts: int = 1280, progress: bool = True,
              log=print) -> Path:
    """Trains every run of the experiment, evaluates its sweeps, draws the figures and writes
    report.md in `out` (default results/<experiment>-<preset>); finished stages are reused."""
    exp = get(experiment)
    cfgs = {r.name: exp.config(preset, r, tuple(overrides)) for r in exp.runs}  # validates all
    if n_prompts < 2:
        raise ConfigError(f"--n-prompts: must be >= 2, got {n_prompts}")
    out = Path(out or f"results/{experiment}-{preset}")
    request = {"experiment": experiment, "preset": preset, "overrides": list(overrides),
               "n_prompts": n_prompts}
    _check_request(out, request)
    from icl_ood import evaluate as ev  # jax imports: after every check
    from icl_ood import figures, report
    from icl_ood.train import check_run_dir, load_model, train_many
    for name, cfg in cfgs.items():
        check_run_dir(cfg, out / "runs" / name)
    out.mkdir(parents=True, exist_ok=True)
    (out / "experiment.json").write_text(json.dumps(request, indent=2))
    prov_path = out / "provenance.json"
    prov = json.loads(prov_path.read_text()) if prov_path.exists() else {"stages": {}}
    t_start = time.perf_counter()
    groups = _groups(cfgs)
    n_stages = len(groups) + len(cfgs) + 1
    stage = 0
    for names in groups:
        stage += 1
        todo = [n for n in names if _trained_step(out / "runs" / n) < cfgs[n].train.steps]
        what = ", ".join(names)
        if not todo:
            log(f"[{stage}/{n_stages}] train {what}: done, reused")
            continue
        steps = cfgs[names[0]].train.steps
        log(f"[{stage}/{n_stages}] train {what} ({preset} preset, {steps} steps"
            + (", together in one program)" if len(names) > 1 else ")"))
        t0 = time.perf_counter()
        dirs = [out / "runs" / n for n in names]
        summary = train_many([cfgs[n] for n in names], dirs, progress=progress)
        prov["stages"][f"train/{'+'.join(names)}"] = {"wall_s": round(time.perf_counter() - t0, 1),
                                                     "final_loss": summary["final_loss"]}
    for name, cfg in cfgs.items():
        stage += 1
        run_dir = out / "runs" / name
        model, mcfg, step = load_model(run_dir)
        todo = [s for s in exp.sweeps
                if not _eval_done(run_dir / "eval" / f"{s}.jsonl", step, n_prompts)]
        if cfg.data.dim == 1 and not (run_dir / "eval" / "examples.json").exists():
            todo.append("examples")
        if not todo:
            log(f"[{stage}/{n_stages}] evaluate {name}: done, reused")
            continue
        log(f"[{stage}/{n_stages}] evaluate {name}: {', '.join(todo)} "
            f"({n_prompts} prompts per task, all baselines)")
        t0 = time.perf_counter()
        for sweep in todo:
            if sweep == "examples":
                examples = ev.example_curves(model, mcfg.data, exp.mix or (mcfg.data.families[0],))
                ev.write_json(run_dir / "eval" / "examples.json", examples)
                continue
            res = ev.run_sweep(run_dir, sweep, n_prompts=n_prompts, mix=exp.mix,
                               model_and_cfg=(model, mcfg, step))
            log(f"    {sweep}: {len({r['task'] for r in res.rows})} tasks, "
                f"{res.seconds['total']:.1f} s")
        prov["stages"][f"evaluate/{name}"] = {"wall_s": round(time.perf_counter() - t0, 1)}
    stage += 1
    log(f"[{stage}/{n_stages}] figures and report")
    prov.update(provenance(experiment, preset, overrides, cfgs))
    prov["wall_s_this_invocation"] = round(time.perf_counter() - t_start, 1)
    prov_path.write_text(json.dumps(prov, indent=2))
    paths = figures.draw_all(out)
    report.write(out)
    log(f"done: {len(paths)} figures in {out / 'figures'}, report {out / 'report.md'}")
    return out


def provenance(experiment: str, preset: str, overrides, cfgs: dict[str, Config]) -> dict:
    """Command, preset, commit, device and seeds of a replicate call."""
    import jax
    dev = jax.devices()[0]
    return {"command": " ".join(["icl-ood"] + sys.argv[1:]) if sys.argv[0].endswith("icl-ood")
            else f"icl-ood replicate --experiment {experiment} --preset {preset}"
            + "".join(f" --set {o}" for o in overrides),
            "experiment": experiment, "preset": preset, "overrides": list(overrides),
            "commit": commit(), "device": f"{dev.platform}: {dev.device_kind}",
            "n_devices": jax.device_count(), "host": f"{platform.machine()}, {os.cpu_count()} CPU cores",
            "jax": jax.__version__,
            "python": platform.python_version(),
            "seeds": {n: c.train.seed for n, c in cfgs.items()},
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
