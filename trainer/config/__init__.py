"""Run configs: ``load_config("smoke", ["steps=10"])`` reads ``trainer/config/smoke.py``.

The module name becomes the run's name. Overrides are ``field=value`` strings,
converted to the field's declared type; an unknown field is an error.
"""

from __future__ import annotations

import dataclasses
import importlib
import types
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from trainer.config.base import TrainConfig

__all__ = ["ConfigError", "TrainConfig", "config_record", "load_config"]


class ConfigError(ValueError):
    """An unknown experiment, field or unreadable override value."""


def load_config(name: str, overrides: Iterable[str] = ()) -> TrainConfig:
    """The experiment ``name`` with ``field=value`` overrides applied."""
    if not name.isidentifier():
        raise ConfigError(f"experiment names are module names, got {name!r}")
    try:
        module = importlib.import_module(f"trainer.config.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"trainer.config.{name}":
            raise
        raise ConfigError(f"no experiment {name!r}: add trainer/config/{name}.py") from None
    cfg = getattr(module, "config", None)
    if not isinstance(cfg, TrainConfig):
        raise ConfigError(f"trainer/config/{name}.py must define `config = TrainConfig(...)`")
    return apply_overrides(dataclasses.replace(cfg, name=name), overrides)


def apply_overrides(cfg: TrainConfig, overrides: Iterable[str]) -> TrainConfig:
    """``cfg`` with each ``field=value`` parsed to the field's type."""
    hints = typing.get_type_hints(TrainConfig)
    changes: dict[str, Any] = {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in hints:
            known = ", ".join(sorted(hints))
            raise ConfigError(f"bad override {item!r}: expected field=value, fields: {known}")
        try:
            changes[key] = _parse(raw.strip(), hints[key])
        except ValueError as exc:
            raise ConfigError(f"override {item!r}: {exc}") from None
    return dataclasses.replace(cfg, **changes)


def _parse(raw: str, kind: Any) -> Any:
    args = typing.get_args(kind)
    if isinstance(kind, types.UnionType) or typing.get_origin(kind) is typing.Union:
        if raw.lower() in ("none", "null", "") and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _parse(raw, inner)
    if typing.get_origin(kind) is tuple:
        return tuple(_parse(p.strip(), args[0]) for p in raw.split(",") if p.strip())
    if kind is bool:
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"not a boolean: {raw!r}")
    if kind in (int, float, str, Path):
        return kind(raw)
    raise ValueError(f"cannot parse a value of type {kind}")


def config_record(cfg: TrainConfig) -> dict[str, Any]:
    """The config as JSON-ready plain values (paths and tuples as strings and lists)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        out[f.name] = str(value) if isinstance(value, Path) else (
            list(value) if isinstance(value, tuple) else value)
    return out
