"""Runcards: a YAML file turned into typed config dataclasses, with ``file:line:col`` errors.

This is the one place that reads runcards. ruamel.yaml's round-trip loader keeps the line and column of every
key and value; ``to_dataclass`` converts a mapping into a config dataclass (fields declared with
``mlhep.config.option``), checking types, numeric bounds, Literal choices, unknown and missing keys, and raises
``RunCardError`` as ``file:line:col: key.path: what is wrong (what is valid)``. Semantic checks (does this
dataset exist?) belong to the tasks, which call ``RunCard.fail(key_path, why)`` to get an error located the
same way. Key paths look like ``data.datasets[2].name``. Environment variables are not expanded here.
"""
from __future__ import annotations

import dataclasses
import datetime
import difflib
import functools
import hashlib
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import AbstractSet, Any, Callable, Literal, Mapping, Optional

from ruamel.yaml.scalarbool import ScalarBoolean

from mlhep.config import InvalidOptions, option, valid_range
from mlhep.engine.config import MAX_REPLICAS, EngineConfig
from mlhep.hyperopt_config import HyperoptConfig
from mlhep.yaml_positions import child_path, child_position, key_tokens, node_position, parse
from mlhep.errors import RunCardError

MAX_RUNCARD_BYTES = 10**7   # the largest runcards (long dataset lists) are a few kB
COMMON_KEYS = ("task", "seed", "replicas", "engine", "output", "description", "hyperopt")
_MISSING = dataclasses.MISSING


@dataclass
class CommonConfig:
    """The top-level keys every runcard shares; all other top-level keys belong to the task's ``Config``."""

    task: str = option(doc="name of the task to run (see `mlhep tasks`)")
    seed: int = option(0, "master seed: replica i uses fold_in(PRNGKey(seed), i)", ge=0, le=2**32 - 1)
    replicas: int = option(1, "number of replicas", ge=1, le=MAX_REPLICAS)
    engine: EngineConfig = option(EngineConfig(), "how the replicas train")
    output: Optional[str] = option(None, "results file (none: derived from the runcard name)")
    description: str = option("", "free text stored with the results")
    hyperopt: Optional[HyperoptConfig] = option(None, "hyperparameter search (mlhep hyperopt)")


@dataclass
class RunCard:
    """A loaded, validated runcard: the common keys, the engine section and the task's config."""

    path: Path
    text: str = field(repr=False)
    sha256: str
    task: str
    seed: int
    replicas: int
    description: str
    output: str | None
    engine: EngineConfig
    config: Any
    hyperopt: HyperoptConfig | None
    locate: Callable[[str], tuple[int, int]] = field(repr=False, compare=False)

    def fail(self, key_path: str, why: str) -> RunCardError:
        """An error located at ``key_path`` (or its nearest existing parent); use ``raise runcard.fail(...)``."""
        line, col = self.locate(key_path)
        return RunCardError(why, file=str(self.path), line=line, col=col, key=key_path)


class LoadContext:
    """Where a runcard tree came from: turns key paths into 1-based (line, col) and errors into RunCardError.

    ``base`` is the key path of ``root`` itself (``""`` for the whole runcard).
    """

    def __init__(self, file: str, root: Any, base: str = ""):
        self.file, self.root, self.base = file, root, base

    def locate(self, key_path: str, at: str = "auto") -> tuple[int, int]:
        """1-based (line, col) of ``key_path``: its key (``at="key"``), its value (``"value"``), or the value
        when it is a non-null scalar and the key otherwise (``"auto"``). Absent keys give the nearest parent."""
        inside = self.base and (key_path == self.base or key_path.startswith((self.base + ".", self.base + "[")))
        rel = key_path[len(self.base):].lstrip(".") if inside else key_path
        node, pos = self.root, node_position(self.root) or (0, 0)
        tokens = key_tokens(rel)
        for i, token in enumerate(tokens):
            found = child_position(node, token)
            if found is None:
                break
            child, key_pos, value_pos = found
            last = i == len(tokens) - 1
            scalar = child is not None and not isinstance(child, (Mapping, list))
            use_value = last and (at == "value" or (at == "auto" and scalar))
            pos = (value_pos if use_value and child is not None else key_pos) or pos
            node = child
        return pos[0] + 1, pos[1] + 1

    def error(self, key_path: str, why: str, at: str = "auto") -> RunCardError:
        line, col = self.locate(key_path, at)
        return RunCardError(why, file=self.file, line=line, col=col, key=key_path)


def load_runcard(path: str | Path, tasks: Mapping[str, Any]) -> RunCard:
    """Read and validate a runcard file; ``tasks`` maps task name -> object with a ``Config`` dataclass."""
    path = Path(path)
    try:
        with path.open("rb") as file:     # bounded: /dev/zero or a huge file must not fill the memory
            raw = file.read(MAX_RUNCARD_BYTES + 1)
    except FileNotFoundError:
        raise RunCardError("file not found", file=str(path)) from None
    except IsADirectoryError:
        raise RunCardError("is a directory, not a runcard file", file=str(path)) from None
    except OSError as exc:
        raise RunCardError(f"cannot read the file ({exc.strerror})", file=str(path)) from None
    if len(raw) > MAX_RUNCARD_BYTES:
        raise RunCardError(f"larger than {MAX_RUNCARD_BYTES // 10**6} MB: not a runcard (a runcard is a short "
                           "YAML text file)", file=str(path)) from None
    return load_runcard_text(decode_runcard(raw, str(path)), path, tasks)


def decode_runcard(raw: bytes, file: str) -> str:
    """The text of a runcard file's bytes; RunCardError at the first byte that is not UTF-8."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        kind = ("UTF-16 or UTF-32 text (save it as UTF-8)" if raw[:2] in (b"\xff\xfe", b"\xfe\xff")
                else "a binary file, not a YAML runcard" if b"\0" in raw else "not UTF-8 text (save it as UTF-8)")
        raise RunCardError(f"{kind}: byte 0x{raw[exc.start]:02x} is not UTF-8", file=file, line=line,
                           col=col) from None


def load_runcard_text(text: str, path: str | Path, tasks: Mapping[str, Any]) -> RunCard:
    """Validate runcard ``text`` (e.g. stored in a results file); ``path`` names it in errors."""
    path = Path(path)
    root = parse(text, str(path))
    ctx = LoadContext(str(path), root)
    valid_tasks = ", ".join(sorted(tasks)) or "(no tasks installed)"
    if root is None:
        raise RunCardError(f"empty runcard: expected at least 'task: <name>' (valid tasks: {valid_tasks})",
                           file=str(path), line=1, col=1)
    if not isinstance(root, Mapping):
        raise RunCardError(f"the top level must be a mapping of keys like 'task: {next(iter(sorted(tasks)), 'x')}'"
                           f" (got {_show(root)})", file=str(path), line=1, col=1)
    if "task" not in root:
        raise ctx.error("", f"missing required key 'task' (valid tasks: {valid_tasks})")
    name = root["task"]
    if not isinstance(name, str) or name not in tasks:
        got = f"unknown task '{name}'" if isinstance(name, str) else f"task must be a name (got {_show(name)})"
        raise ctx.error("task", f"{got} ({_did_you_mean(name, tasks)}valid: {valid_tasks})", at="value")
    config_cls = tasks[name].Config
    own = _field_names(config_cls)
    if set(own) & set(COMMON_KEYS):
        raise TypeError(f"{config_cls.__qualname__} redefines common runcard keys {set(own) & set(COMMON_KEYS)}")
    common = _to_dataclass(CommonConfig, root, "", ctx, others=own)
    engine = _with_stages(common.engine, root.get("engine"), tasks[name], ctx)
    config = _to_dataclass(config_cls, root, "", ctx, others=COMMON_KEYS)
    return RunCard(path=path, text=text, sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
                   task=name, seed=common.seed, replicas=common.replicas, description=common.description,
                   output=common.output, engine=engine, config=config, hyperopt=common.hyperopt,
                   locate=ctx.locate)


def _with_stages(engine: EngineConfig, node: Any, task: Any, ctx: LoadContext) -> EngineConfig:
    """``engine`` with ``engine.stages.<name>`` validated into full settings: that stage's keys over the
    ``engine:`` defaults. Stage names must be stages the task declares (``Task.stages``)."""
    raw = node.get("stages") if isinstance(node, Mapping) else None
    if not raw:
        return engine
    declared = tuple(getattr(task, "stages", ()))
    if not isinstance(raw, Mapping):
        raise ctx.error("engine.stages", f"must be a mapping of stage names to engine settings (got {_show(raw)})",
                        at="value")
    defaults = {key: value for key, value in node.items() if key != "stages"}
    stages = {}
    for stage, settings in raw.items():
        path = f"engine.stages.{stage}"
        if stage not in declared:
            valid = (f"valid stages of task '{task.name}': {', '.join(declared)}" if declared else
                     f"task '{task.name}' trains in one stage: set its engine keys directly under engine:")
            raise ctx.error(path, f"unknown stage '{stage}' ({_did_you_mean(str(stage), declared)}{valid})",
                            at="key")
        if isinstance(settings, Mapping) and "stages" in settings:
            raise ctx.error(f"{path}.stages", "stages cannot be nested", at="key")
        stages[stage] = _to_dataclass(EngineConfig, _merged(defaults, settings), path, ctx)
    return dataclasses.replace(engine, stages=stages)


def _merged(defaults: Mapping, overrides: Any) -> Any:
    """``defaults`` with the keys of the mapping ``overrides`` replaced (nested mappings merged key by key)."""
    if not isinstance(overrides, Mapping):
        return overrides            # not a mapping: _to_dataclass reports it at the stage's key
    merged = dict(defaults)
    for key, value in overrides.items():
        old = merged.get(key)
        merged[key] = _merged(old, value) if isinstance(old, Mapping) and isinstance(value, Mapping) else value
    return merged


def to_dataclass(cls: type, node: Any, key_path: str = "", ctx: LoadContext | None = None) -> Any:
    """Convert a YAML mapping (ruamel or plain dict) at ``key_path`` into the dataclass ``cls``.

    Raises RunCardError for unknown keys, missing required keys, wrong types, out-of-range numbers and
    invalid choices. Without ``ctx`` errors are located within ``node`` itself, in file ``<runcard>``.
    """
    return _to_dataclass(cls, node, key_path, ctx or LoadContext("<runcard>", node, key_path))


def to_plain(obj: Any) -> Any:
    """A config dataclass (or anything inside one) as plain dicts, lists and scalars, for JSON."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    if obj is None or isinstance(obj, (bool, ScalarBoolean)):
        return None if obj is None else bool(obj)
    for kind in (int, float, str):
        if isinstance(obj, kind):
            return kind(obj)
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "item") and callable(obj.item):       # numpy scalars
        return obj.item()
    raise TypeError(f"to_plain: cannot store {type(obj).__name__} {obj!r}")


# ---- conversion -------------------------------------------------------------------------------------------

def _to_dataclass(cls: type, node: Any, path: str, ctx: LoadContext, others: tuple | list = ()) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    if node is None:                     # an empty section (all keys commented out): defaults
        node = {}
    if not isinstance(node, Mapping):
        raise ctx.error(path, f"must be a mapping with keys {', '.join(fields)} (got {_show(node)})", at="value")
    valid = sorted(set(fields) | set(others))
    for key in node:
        if key not in fields and key not in others:
            raise ctx.error(child_path(path, key), f"unknown key '{key}' ({_did_you_mean(key, valid)}valid keys: "
                                               f"{', '.join(valid)})", at="key")
    hints, kwargs = _hints(cls), {}
    for name, f in fields.items():
        if name in node:
            kwargs[name] = _convert(hints[name], node[name], child_path(path, name), ctx, f.metadata)
        elif f.default is _MISSING and f.default_factory is _MISSING:
            raise ctx.error(path, f"missing required key '{name}'")
    try:
        return cls(**kwargs)
    except InvalidOptions as exc:        # a __post_init__ check
        raise ctx.error(path, str(exc)) from None


def _convert(tp: Any, node: Any, path: str, ctx: LoadContext, meta: Mapping) -> Any:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any or tp is object:
        return to_plain(node)
    if origin is typing.Union or origin is types.UnionType:
        if node is None and type(None) in args:
            return None
        arms = [a for a in args if a is not type(None)]
        errors = []
        for arm in arms:
            try:
                return _convert(arm, node, path, ctx, meta)
            except RunCardError as exc:
                errors.append(exc)
        if len(arms) == 1 or any(exc.key != path for exc in errors):
            raise errors[0]              # a single type, or a mistake inside a section: its own message
        raise ctx.error(path, f"must be {' or '.join(_describe(a) for a in arms)} (got {_show(node)})", at="value")
    if origin is Literal:
        value = _scalar(node)
        for choice in args:
            if type(choice) is type(value) and choice == value:
                return choice
        names = [c if isinstance(c, str) else _show(c) for c in args]
        hint = _did_you_mean(value, names).strip() if isinstance(value, str) else ""
        raise ctx.error(path, f"must be one of: {', '.join(names)} (got {_show(node)}{'; ' + hint if hint else ''})",
                        at="value")
    if dataclasses.is_dataclass(tp):
        return _to_dataclass(tp, node, path, ctx)
    if tp in (list, tuple) or origin in (list, tuple):
        if not isinstance(node, (list, tuple)):
            raise ctx.error(path, f"must be a list (got {_show(node)})", at="value")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(node) != len(args):
                raise ctx.error(path, f"must be a list of {len(args)} items (got {len(node)})", at="value")
            return tuple(_convert(a, v, f"{path}[{i}]", ctx, meta) for i, (a, v) in enumerate(zip(args, node)))
        item = args[0] if args else Any
        items = [_convert(item, v, f"{path}[{i}]", ctx, meta) for i, v in enumerate(node)]
        return tuple(items) if (origin or tp) is tuple else items
    if tp is dict or origin is dict:
        if not isinstance(node, Mapping):
            raise ctx.error(path, f"must be a mapping (got {_show(node)})", at="value")
        value_tp = args[1] if args else Any
        out = {}
        for key, value in node.items():
            if not isinstance(key, str):
                raise ctx.error(child_path(path, key), f"keys must be strings (got {_show(key)})", at="key")
            out[str(key)] = _convert(value_tp, value, child_path(path, key), ctx, meta)
        return out
    if tp in (bool, int, float, str):
        return _check_bounds(_convert_scalar(tp, node, path, ctx), node, path, ctx, meta)
    raise TypeError(f"mlhep.runcard: unsupported config field type {tp!r} at '{path}'")


def _convert_scalar(tp: type, node: Any, path: str, ctx: LoadContext) -> Any:
    is_bool = isinstance(node, (bool, ScalarBoolean))
    if tp is bool and is_bool:
        return bool(node)
    if tp is int and isinstance(node, int) and not is_bool:
        return int(node)
    if tp is float and isinstance(node, (int, float)) and not is_bool:
        return float(node)
    if tp is float and isinstance(node, str):
        try:
            return float(node)           # YAML 1.2 reads some exponent forms (e.g. 1e-3) as strings
        except ValueError:
            pass
    if tp is str and isinstance(node, str):
        return str(node)
    raise ctx.error(path, f"must be {_describe(tp)} (got {_show(node)})", at="value")


def _check_bounds(value: Any, node: Any, path: str, ctx: LoadContext, meta: Mapping) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    if isinstance(value, float) and not math.isfinite(value) and (math.isnan(value) or not meta.get("allow_inf")):
        raise ctx.error(path, f"must be a finite number (got {_show(node)})", at="value")
    tests = {"ge": (">=", lambda v, b: v >= b), "gt": (">", lambda v, b: v > b),
             "le": ("<=", lambda v, b: v <= b), "lt": ("<", lambda v, b: v < b)}
    for name, (symbol, ok) in tests.items():
        bound = meta.get(name)
        if bound is not None and not ok(value, bound):
            raise ctx.error(path, f"must be {symbol} {bound!r} (got {_show(node)}{_range_hint(meta)})", at="value")
    if isinstance(value, int) and not -2**63 <= value < 2**63:    # numpy and JAX would overflow
        raise ctx.error(path, f"must fit in a 64-bit integer, |value| < 2**63 (got {_show(node)})", at="value")
    return value


def _range_hint(meta: Mapping) -> str:
    """"; valid range [a, b]" for an option bounded on both sides (one bound is already in the message)."""
    lower, upper = (any(meta.get(k) is not None for k in pair) for pair in (("ge", "gt"), ("le", "lt")))
    return f"; valid range {valid_range(meta)}" if lower and upper else ""


# ---- helpers ----------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls) if f.init)


def _did_you_mean(word: Any, options: Any) -> str:
    close = difflib.get_close_matches(str(word), [str(o) for o in options], n=1)
    return f"did you mean '{close[0]}'? " if close else ""


def _scalar(node: Any) -> Any:
    """A ruamel scalar as the plain Python value (bool, int, float, str, None)."""
    return to_plain(node) if node is None or isinstance(node, (bool, int, float, str)) else node


def _describe(tp: Any) -> str:
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    if tp in names:
        return names[tp]
    origin = typing.get_origin(tp) or tp
    if origin in (list, tuple):
        return "a list"
    if origin is dict or dataclasses.is_dataclass(tp):
        return "a mapping"
    if origin is Literal:
        return "one of: " + ", ".join(map(str, typing.get_args(tp)))
    return getattr(tp, "__name__", str(tp))


def _show(node: Any) -> str:
    """How a YAML value reads in a message: null, true, 1.5, 'text', a mapping, a list."""
    if node is None:
        return "null"
    if isinstance(node, (bool, ScalarBoolean)):
        return "true" if node else "false"
    if isinstance(node, Mapping):
        return "a mapping"
    if isinstance(node, (list, tuple)):
        return "a list"
    if isinstance(node, AbstractSet):
        return "a set"
    if isinstance(node, datetime.date):                      # YAML reads 2001-12-14 as a date
        return f"a date ({node.isoformat()})"
    if isinstance(node, str):
        return repr(str(node))
    if isinstance(node, float) and not math.isfinite(node):
        return ".nan" if math.isnan(node) else ".inf" if node > 0 else "-.inf"     # as YAML spells them
    if isinstance(node, (int, float)):
        return repr(to_plain(node))
    tag = getattr(getattr(node, "tag", None), "value", None)
    return f"a value tagged {tag}" if tag else repr(node)
