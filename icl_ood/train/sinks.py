"""Training curves where researchers watch them: optional mirrors of metrics.jsonl in TensorBoard
event files (RUN/tensorboard/, extra [tensorboard]) and Weights & Biases (extra [wandb]).

Off by default; `with logging_to(("tensorboard", "wandb")): train(...)` (the CLI's
`--log-to tensorboard,wandb`) turns them on for every run trained inside the block: each run's
metrics.jsonl writer (rundir._Logger) opens one sink per kind and hands it every record as it is
written; the sinks are closed when the block ends. metrics.jsonl stays the source of truth (a
sink never changes what is trained or saved, so it is not part of the config or its digest).
Each run's config and provenance (commit, machine, run folder, config digest) go with it:
TensorBoard gets the config as a text summary and as hparams, W&B as the run's `config`.
The packages are imported only when asked for; a missing one is a one-line ConfigError naming
the extra, raised by `logging_to` before anything trains.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from icl_ood import results
from icl_ood.config import Config, ConfigError

KINDS = {"tensorboard": "tensorboard", "wandb": "wandb"}  # kind -> module (and pip extra)
TB_FOLDER = "tensorboard"  # a run's event files: RUN/tensorboard/events.out.tfevents.*


class Sink(Protocol):
    """Gets each metrics.jsonl record of one run as it is written."""

    def write(self, rec: dict) -> None: ...

    def close(self) -> None: ...


def parse(spec: str | None) -> tuple[str, ...]:
    """The kinds of a `--log-to` value ("tensorboard,wandb"; None or "" for none); ConfigError
    (one line) for an unknown kind."""
    kinds = tuple(dict.fromkeys(k.strip() for k in (spec or "").split(",") if k.strip()))
    bad = [k for k in kinds if k not in KINDS]
    if bad:
        raise ConfigError(f"--log-to: unknown {', '.join(map(repr, bad))}; known: "
                          f"{', '.join(KINDS)} (comma-separated)")
    return kinds


def require(kinds: tuple[str, ...]) -> None:
    """Imports each kind's package; ConfigError naming the extra to install if one is missing."""
    for kind in kinds:
        try:
            importlib.import_module(KINDS[kind])
        except ImportError as e:
            raise ConfigError(f"--log-to {kind}: the {KINDS[kind]} package is not installed "
                              f"({e}); pip install 'icl-ood[{kind}]'") from e


def scalars(rec: dict) -> dict[str, float]:
    """A metrics.jsonl record's numbers by name (loss, loss_per_family/<family>, lr,
    steps_per_s, wall_s), without the step and without families that drew no prompt (null)."""
    out = {}
    for name, v in rec.items():
        if name == "step":
            continue
        if isinstance(v, dict):
            out.update({f"{name}/{k}": float(x) for k, x in v.items() if x is not None})
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out[name] = float(v)
    return out


def provenance(cfg: Config, run_dir: Path) -> dict:
    """What a run's mirrors record beside its config: code commit, machine, folder, digest."""
    return {"commit": results.commit(), "machine": results.machine(),
            "run_dir": str(Path(run_dir).resolve()), "config_digest": results.digest(cfg.to_dict())}


def _last_step(metrics_path: Path) -> int:
    """The step of metrics.jsonl's last record (0 if none): where a resumed run goes on from."""
    try:
        lines = [ln for ln in metrics_path.read_text().splitlines() if ln.strip()]
        return int(json.loads(lines[-1])["step"]) if lines else 0
    except (OSError, ValueError, KeyError, TypeError):
        return 0


def _flat(d: dict, prefix: str = "") -> dict[str, str | float | bool]:
    """A nested config as {"section.field": value} (lists and None as JSON text): hparams."""
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v if isinstance(v, (str, bool, int, float)) else json.dumps(v)
    return out


class TensorBoardSink:
    """Event files in RUN/tensorboard, written with tensorboard's own EventFileWriter (no
    TensorFlow or PyTorch): each record's scalars at its step; at the start the config and
    provenance as a text summary (tag "config") and the config as hparams. On a resumed run a
    SessionLog START at the step after the last kept record makes TensorBoard drop the
    earlier session's events past it (they are recomputed, as in metrics.jsonl)."""

    def __init__(self, cfg: Config, run_dir: Path):
        from tensorboard.compat.proto.event_pb2 import Event, SessionLog
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        folder = Path(run_dir) / TB_FOLDER
        resumed = folder.is_dir() and any(folder.glob("events.out.tfevents.*"))
        self._writer = EventFileWriter(str(folder))
        self._Event = Event
        if resumed:
            self._add(Event(step=_last_step(Path(run_dir) / "metrics.jsonl") + 1,
                            session_log=SessionLog(status=SessionLog.START)))
        else:
            self._add(self._header(cfg, run_dir))

    def _header(self, cfg: Config, run_dir: Path):
        from tensorboard.compat.proto import types_pb2
        from tensorboard.compat.proto.summary_pb2 import Summary
        from tensorboard.compat.proto.tensor_pb2 import TensorProto
        from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto
        from tensorboard.plugins.hparams import summary_v2 as hp
        from tensorboard.plugins.text import metadata as text_md

        text = ("```\n" + json.dumps({"config": cfg.to_dict(),
                                      "provenance": provenance(cfg, run_dir)}, indent=2)
                + "\n```")
        tensor = TensorProto(dtype=types_pb2.DT_STRING, string_val=[text.encode()],
                             tensor_shape=TensorShapeProto())
        value = Summary.Value(tag="config", tensor=tensor, metadata=text_md.create_summary_metadata(
            "config", "the run's config and provenance (icl-ood)"))
        summary = Summary(value=[value, *hp.hparams_pb(_flat(cfg.to_dict())).value])
        return self._Event(step=0, summary=summary)

    def _add(self, event) -> None:
        event.wall_time = time.time()
        self._writer.add_event(event)

    def write(self, rec: dict) -> None:
        from tensorboard.compat.proto.summary_pb2 import Summary

        self._add(self._Event(step=int(rec["step"]), summary=Summary(value=[
            Summary.Value(tag=k, simple_value=v) for k, v in scalars(rec).items()])))
        self._writer.flush()  # records are seconds apart: visible in TensorBoard at once

    def close(self) -> None:
        self._writer.close()


class WandbSink:
    """One W&B run per training run: config and provenance as its `config`, each record logged
    with its step as the x axis ("step"; so a resumed run's repeated steps are accepted). The
    W&B run's id is derived from the run folder, so a resumed training continues it. Its files
    go to $WANDB_DIR, else RUN/wandb; project $WANDB_PROJECT, else "icl-ood"."""

    def __init__(self, cfg: Config, run_dir: Path):
        import wandb

        run_dir = Path(run_dir)
        try:
            self._run = wandb.init(
                project=os.environ.get("WANDB_PROJECT") or "icl-ood",
                id=results.digest(str(run_dir.resolve())), resume="allow",
                name=str(run_dir), group=cfg.name, reinit="create_new",
                dir=None if os.environ.get("WANDB_DIR") else str(run_dir),
                config={**cfg.to_dict(), "provenance": provenance(cfg, run_dir)},
                # no console capture: wandb would wrap (and at exit close) sys.stdout/stderr of
                # the whole process; metrics.jsonl and the printed lines stay the record
                settings=wandb.Settings(console="off", silent=True))
        except Exception as e:  # wandb raises many kinds (no login, no network, bad settings)
            raise ConfigError(f"--log-to wandb: {run_dir}: wandb.init failed: "
                              f"{' '.join(str(e).split())} (WANDB_MODE=offline logs without an "
                              "account, into files `wandb sync` uploads later)") from e
        self._run.define_metric("step")
        self._run.define_metric("*", step_metric="step")

    def write(self, rec: dict) -> None:
        self._run.log({"step": int(rec["step"]), **scalars(rec)})

    def close(self) -> None:
        self._run.finish()


OPENERS = {"tensorboard": TensorBoardSink, "wandb": WandbSink}


@dataclass
class _Active:
    kinds: tuple[str, ...]
    stack: contextlib.ExitStack  # closes every sink opened, last first, even if one fails


_ACTIVE: contextvars.ContextVar[_Active | None] = contextvars.ContextVar("icl_ood_sinks",
                                                                          default=None)


@contextlib.contextmanager
def logging_to(kinds: tuple[str, ...] | list[str]) -> Iterator[None]:
    """Every run trained inside the block mirrors its metrics to these kinds (none: nothing);
    checks first that their packages import (ConfigError naming the extra), and closes every
    sink it opened at the end."""
    kinds = tuple(kinds)
    require(kinds)
    with contextlib.ExitStack() as stack:
        token = _ACTIVE.set(_Active(kinds, stack))
        try:
            yield
        finally:
            _ACTIVE.reset(token)


def open_for(cfg: Config, run_dir: Path) -> list[Sink]:
    """The sinks of one run for the kinds `logging_to` set ([] outside it)."""
    active = _ACTIVE.get()
    if active is None:
        return []
    sinks = []
    for kind in active.kinds:
        sinks.append(OPENERS[kind](cfg, Path(run_dir)))
        active.stack.callback(sinks[-1].close)
    return sinks
