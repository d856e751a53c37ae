"""Atomic writes and plain reads of result files, and the hashes manifests use."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class ResultsError(RuntimeError):
    """A result that is missing, incomplete or inconsistent, or a write that would replace a
    fuller result by a lesser one (the message is one line)."""


def _new_temp(folder: Path, prefix: str) -> Path:
    """Creates an empty, new file `folder/<prefix><random>.tmp` as an ordinary open() would
    (mode 0666 & ~umask, unlike tempfile.mkstemp's 0600), so outputs renamed from it are as
    readable as the user's other files."""
    for _ in range(100):
        tmp = folder / f"{prefix}{secrets.token_hex(4)}.tmp"
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"{folder}: no free temporary file name after 100 tries")


def check_writable(folder: str | Path, hint: str = "") -> None:
    """Refuses (ResultsError, one line, ending with `hint`) unless files can be created in
    `folder`: creates and removes a temporary file there (or, if it does not exist yet, in its
    nearest existing parent, where it would be made), so a read-only mount, missing
    permissions or a path through a file are caught before any compute, and nothing is left."""
    folder = Path(folder)
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        if not probe.is_dir():
            raise NotADirectoryError(20, f"{probe} is not a folder")
        _new_temp(probe, ".icl-ood-write-check.").unlink()
    except OSError as e:
        raise ResultsError(f"{folder}: cannot write there ({e.strerror or e}){hint}") from e


@contextlib.contextmanager
def atomic(path: str | Path) -> Iterator[Path]:
    """Yields a temporary path in the target's folder; renamed to `path` if the block succeeds,
    removed if it fails. For writers that want a file name (e.g. matplotlib's savefig). The
    file gets the mode an ordinary open() gives (0666 & ~umask)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _new_temp(path.parent, f".{path.name}.")
    try:
        yield tmp
        with tmp.open("rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Writes `data` to `path` atomically."""
    with atomic(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | Path, text: str) -> Path:
    return write_bytes(path, text.encode())


def write_json(path: str | Path, obj: Any, indent: int | None = None) -> Path:
    return write_text(path, json.dumps(obj, indent=indent) + ("\n" if indent else ""))


def write_jsonl(path: str | Path, rows: list[dict], digits: int | None = None) -> Path:
    """Writes one JSON record per line; `digits`: floats kept to that many significant digits
    (rows written at every scored step: about half the size gzipped at 6)."""
    if digits is not None:
        rows = [{k: float(f"{v:.{digits}g}") if isinstance(v, float) else v for k, v in r.items()}
                for r in rows]
    return write_text(path, "".join(json.dumps(r) + "\n" for r in rows))


def read_json(path: str | Path, default: Any = None) -> Any:
    path = Path(path)
    return json.loads(path.read_text()) if path.exists() else default


def read_jsonl(path: str | Path) -> list[dict]:
    """The records of a JSON lines file (blank lines skipped), or of PATH.gz if only that exists
    (large committed results are gzipped)."""
    path, gz = Path(path), Path(f"{path}.gz")
    text = gzip.decompress(gz.read_bytes()).decode() if not path.exists() and gz.exists() \
        else path.read_text()
    return [json.loads(ln) for ln in text.splitlines() if ln.strip()]


def jsonl_exists(path: str | Path) -> bool:
    """PATH or PATH.gz exists (what read_jsonl reads)."""
    return Path(path).exists() or Path(f"{path}.gz").exists()


def sha256(path: str | Path) -> str:
    """Hex SHA-256 of PATH's bytes, or of PATH.gz's decompressed bytes if only that exists."""
    path, gz = Path(path), Path(f"{path}.gz")
    h = hashlib.sha256()
    with (gzip.open(gz, "rb") if not path.exists() and gz.exists() else path.open("rb")) as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def digest(obj: Any) -> str:
    """A short hash of a JSON-able value (keys sorted), e.g. of a config dict."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]


def _canonical(obj: Any) -> Any:
    """What `obj` reads back as from JSON (tuples become lists), for comparisons."""
    return json.loads(json.dumps(obj))
