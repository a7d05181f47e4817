"""``key=value`` command-line overrides of a YAML config, checked against the values they replace.

OmegaConf merges anything into a config loaded from YAML: ``chunk_size=abc`` or ``calls=1`` would only
fail later, deep inside the run, as a traceback. :func:`merge_overrides` refuses them up front with one
line naming the setting, the value and the config file: a key the config does not have (unless it lies
inside an empty, free-form mapping), or a value of another kind than the default it replaces (text for a
number, a number for text or a section). ``null`` ("none", "off": ``sources.hmd_arg_db=null``) goes
anywhere unless the caller lists the settings that take it — the runtime configs of ``predict`` and
``serve``, whose settings are all needed.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from biotune.errors import InputError

MISSING = object()


def merge_overrides(base: DictConfig, overrides: Sequence[str], path: str | Path, *, nullable: Collection[str] | None = None) -> DictConfig:
    """``base`` (read from ``path``) merged with ``overrides`` (OmegaConf dot-list syntax), each checked.
    ``nullable``: the settings that take ``null`` besides those that are ``null`` by default (None: all)."""
    try:
        override = OmegaConf.from_dotlist(list(overrides))
    except Exception as exc:  # OmegaConf raises several grammar errors; all mean a malformed override
        raise InputError(f"bad config override {list(overrides)}: {' '.join(str(exc).split())}", path=path) from None
    keys = leaf_keys(override)
    unknown = [k for k in keys if not known_key(base, k)]
    if unknown:
        raise InputError(f"unknown setting(s) {unknown}; the settings are those of this file", path=path)
    interpolated = [k for k in keys if _is_interpolation(override, k)]
    _check_kinds(base, override, [k for k in keys if k not in interpolated], path, nullable)  # before merging: a list cannot merge into a section
    try:
        merged = OmegaConf.merge(base, override)
        OmegaConf.resolve(merged)  # an override may refer to another setting: ${calls.is_arg_threshold}
    except OmegaConfBaseException as exc:
        raise InputError(f"bad config or override {list(overrides)}: {' '.join(str(exc).split())}", path=path) from None
    _check_kinds(base, merged, interpolated, path, nullable)
    return merged  # type: ignore[return-value]


def _is_interpolation(cfg: DictConfig, key: str) -> bool:
    parent, _, last = key.rpartition(".")
    return OmegaConf.is_interpolation(OmegaConf.select(cfg, parent) if parent else cfg, last)


def _check_kinds(base: DictConfig, values: DictConfig, keys: Sequence[str], path: str | Path, nullable: Collection[str] | None) -> None:
    for key in keys:
        default = lookup(base, key)
        value = OmegaConf.select(values, key)
        problem = None if value is None and (nullable is None or key in nullable) else kind_problem(default, value)
        if problem:
            raise InputError(f"bad value for setting {key}: {problem}", path=path)


def lookup(cfg: DictConfig, key: str) -> Any:
    """The value at dotted ``key``, or MISSING (absent, or the path runs through a list or a plain value)."""
    try:
        return OmegaConf.select(cfg, key, default=MISSING, throw_on_resolution_failure=False)
    except OmegaConfBaseException:
        return MISSING


def known_key(base: DictConfig, key: str) -> bool:
    """A key of ``base``, or one inside an empty mapping of it (free-form, e.g. a method's ``params``)."""
    if lookup(base, key) is not MISSING:
        return True
    parts = key.split(".")
    for n in range(1, len(parts)):
        parent = lookup(base, ".".join(parts[:n]))
        if isinstance(parent, DictConfig) and len(parent) == 0:
            return True
    return False


def leaf_keys(cfg: Any, prefix: str = "") -> list[str]:
    """Dotted keys of the values (not the mappings) of ``cfg``; an empty mapping counts as a value."""
    if not isinstance(cfg, DictConfig) or len(cfg) == 0:
        return [prefix]
    keys = []
    for k, v in cfg.items_ex(resolve=False):
        keys += leaf_keys(v, f"{prefix}.{k}" if prefix else str(k))
    return keys


EXPECTED = {"section": "a section of settings", "list": "a list", "boolean": "true or false", "integer": "an integer",
            "number": "a number", "text": "text"}  # fmt: skip


def kind_of(value: Any) -> str:
    """What a config value is: null, section, list, boolean, integer, number or text."""
    if value is None:
        return "null"
    for kind, name in ((DictConfig, "section"), (ListConfig, "list"), (bool, "boolean"), (int, "integer"), (float, "number")):
        if isinstance(value, kind):
            return name
    return "text"


def kind_problem(default: Any, value: Any) -> str | None:
    """Why ``value`` cannot replace ``default`` (None when it can): the same kind, or an integer for a number;
    anything where the default is ``null`` or absent (free-form). Text takes text only: quote a number, key='123'."""
    if default is MISSING or default is None:
        return None
    want, got = kind_of(default), kind_of(value)
    if got == want or (want, got) == ("number", "integer"):
        return None
    shown = repr(OmegaConf.to_container(value)) if got in ("section", "list") else "null" if got == "null" else repr(value)
    return f"{shown} where {EXPECTED[want]} is expected"
