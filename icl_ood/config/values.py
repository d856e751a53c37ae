"""Checks and parsing of config values: every failure a one-line ConfigError naming the field."""

from __future__ import annotations

import dataclasses
import json
import math
import typing
from typing import Any


class ConfigError(ValueError):
    """An invalid configuration value (the message names the field)."""


def _check(ok: bool, name: str, msg: str) -> None:
    if not ok:
        raise ConfigError(f"{name}: {msg}")


def _finite(section: Any, prefix: str) -> None:
    """Rejects NaN/inf in every float field of a section (named `prefix`.field)."""
    for f in dataclasses.fields(section):
        if f.name == "priors":
            continue
        v = getattr(section, f.name)
        vals = v if isinstance(v, tuple) else (v,)
        for x in vals:
            if isinstance(x, float):
                _check(math.isfinite(x), f"{prefix}.{f.name}",
                       f"must be finite, got {x}")


def _pos_int(v: Any, name: str, lo: int = 1) -> None:
    _check(isinstance(v, int) and not isinstance(v, bool) and v >= lo, name,
           f"must be an integer >= {lo}, got {v!r}")


def _flat(d: dict, prefix: str = "") -> dict:
    """{"data.sinusoid.freq": ..., ...} from nested dicts."""
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _parse_value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        if raw.lower() in ("true", "false"):
            return raw.lower() == "true"
        return raw  # a bare string such as linear or cosine


def _coerce(sec_cls: type, name: str, value: Any, full: str) -> Any:
    """Converts JSON values to the field's declared type (lists to tuples, ints to floats)."""
    hint = typing.get_type_hints(sec_cls)[name]
    origin = typing.get_origin(hint)
    if origin is tuple:
        if isinstance(value, str):  # "a,b" or "0.5,0.5": items as JSON where they parse
            value = [_json_or_str(v.strip()) for v in value.split(",") if v.strip()]
        _check(isinstance(value, (list, tuple)), full, f"must be a list, got {value!r}")
        elem = typing.get_args(hint)[0]
        return tuple(_coerce_scalar(elem, v, full) for v in value)
    return _coerce_scalar(hint, value, full)


def _json_or_str(v: str) -> Any:
    try:
        return json.loads(v)
    except json.JSONDecodeError:
        return v


def _coerce_scalar(tp: type, v: Any, full: str) -> Any:
    if tp is float:
        _check(isinstance(v, (int, float)) and not isinstance(v, bool), full,
               f"must be a number, got {v!r}")
        return float(v)
    if tp is int:
        _check(isinstance(v, int) and not isinstance(v, bool), full, f"must be an integer, got {v!r}")
        return v
    if tp is bool:
        _check(isinstance(v, bool), full, f"must be true or false, got {v!r}")
        return v
    if tp is str:
        _check(isinstance(v, str), full, f"must be a string, got {v!r}")
        return v
    return v
