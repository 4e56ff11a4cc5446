"""Typed configuration: dataclass fields with their defaults, documentation and valid ranges.

Every runcard section is a dataclass whose fields are declared with ``option``; ``mlhep.runcard`` turns a
YAML mapping into it, checking types, ranges and choices, and reporting mistakes with file:line.
Supported field types: bool, int, float, str, Literal[...], Optional[X], list[X], tuple[X, ...],
dict[str, X], and nested dataclasses.
"""
from __future__ import annotations

import dataclasses
from typing import Any

_MISSING = dataclasses.MISSING


class InvalidOptions(Exception):
    """Raised by a config dataclass's ``__post_init__`` for values that are valid one by one but not together;
    the runcard loader reports it at the section's line (RunCardError). Only this class is caught there: any
    other exception in a ``__post_init__`` is a bug and keeps its traceback."""


def option(default: Any = _MISSING, doc: str = "", *, ge: float | None = None, gt: float | None = None,
           le: float | None = None, lt: float | None = None, allow_inf: bool = False,
           default_factory: Any = _MISSING) -> Any:
    """A dataclass field with a doc string and numeric bounds; no default means the key is required.

    Float values (also inside lists and dicts) must be finite: NaN is always refused, and +-inf unless
    ``allow_inf`` (for a field where infinity means something, e.g. "no limit"). Integers must fit in 64 bits
    even without bounds. Mutable defaults (lists, dicts, dataclasses) are copied per instance.
    """
    meta = {"doc": doc, "ge": ge, "gt": gt, "le": le, "lt": lt, "allow_inf": allow_inf}
    if default_factory is not _MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    if isinstance(default, (list, dict)) or dataclasses.is_dataclass(default):
        return dataclasses.field(default_factory=lambda d=default: _copy(d), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _copy(value: Any) -> Any:
    import copy
    return copy.deepcopy(value)


def describe(cls: type, indent: str = "") -> list[str]:
    """Lines documenting a config dataclass: key, type, default, doc (for ``mlhep tasks --verbose``)."""
    lines = []
    for f in dataclasses.fields(cls):
        default = ("(required)" if f.default is _MISSING and f.default_factory is _MISSING
                   else repr(f.default if f.default is not _MISSING else f.default_factory()))
        ftype = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
        doc = " ".join(filter(None, [f.metadata.get("doc", ""), valid_range(f.metadata)]))
        lines.append(f"{indent}{f.name}: {ftype} = {default}  {doc}".rstrip())
        sub = _dataclass_of(cls, f)
        if sub is not None:
            lines.extend(describe(sub, indent + "  "))
    return lines


def valid_range(meta: Any) -> str:
    """The bounds of an option as an interval, e.g. ``[1, 100000]`` or ``(0, inf)``; "" without bounds."""
    has = lambda name: meta.get(name) is not None  # noqa: E731
    low = f"[{meta['ge']}" if has("ge") else f"({meta['gt']}" if has("gt") else "(-inf"
    high = f"{meta['le']}]" if has("le") else f"{meta['lt']})" if has("lt") else "inf)"
    return "" if (low, high) == ("(-inf", "inf)") else f"{low}, {high}"


def _dataclass_of(cls: type, f: dataclasses.Field) -> type | None:
    import typing
    hint = typing.get_type_hints(cls)[f.name]
    candidates = [hint, *typing.get_args(hint)]          # Optional[X] is Union[X, None]
    return next((c for c in candidates if dataclasses.is_dataclass(c)), None)
