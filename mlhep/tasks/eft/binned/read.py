"""Checked reading of SMEFiT database files: every problem is a ``DataError`` that names the file, the key (and
the index of a bad value) and says what the file should contain, instead of a KeyError, a reshape error or a
NaN that travels silently into the fit."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from mlhep.errors import DataError


def read_text(path: Path, layout: str) -> str:
    """The text of ``path``; ``layout`` (what the file should contain) completes the message of a bad file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{path}: file not found (expected {layout})") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory, expected a file ({layout})") from None
    except UnicodeDecodeError as error:
        raise DataError(f"{path}: not UTF-8 text (bad byte at offset {error.start}; expected {layout})") from None
    except OSError as error:
        raise DataError(f"{path}: cannot read the file ({error.strerror}; expected {layout})") from None
    if not text.strip():
        raise DataError(f"{path}: empty file (expected {layout})")
    return text


def load_yaml_mapping(path: Path, layout: str) -> dict:
    """A YAML file whose top level is a mapping."""
    text = read_text(path, layout)
    try:
        raw = YAML(typ="safe").load(text)
    except MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise DataError(f"{where}: not valid YAML ({error.problem or error.context}; expected {layout})") from None
    except YAMLError as error:
        raise DataError(f"{path}: not valid YAML ({error}; expected {layout})") from None
    return _mapping(raw, path, layout)


def load_json_object(path: Path, layout: str) -> dict:
    """A JSON file whose top level is an object (NaN and Infinity literals are read, then refused by the
    finiteness checks with their key)."""
    text = read_text(path, layout)
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise DataError(f"{path}:{error.lineno}:{error.colno}: not valid JSON ({error.msg}; "
                        f"expected {layout})") from None
    return _mapping(raw, path, layout)


def _mapping(raw: Any, path: Path, layout: str) -> dict:
    if not isinstance(raw, dict):
        raise DataError(f"{path}: the top level is {type(raw).__name__}, expected {layout}")
    return raw


def require(raw: dict, key: str, path: Path, meaning: str) -> Any:
    """``raw[key]``, or a DataError saying the key is missing and what it holds."""
    if key not in raw or raw[key] is None:
        raise DataError(f"{path}: missing '{key}' ({key}: {meaning})")
    return raw[key]


def count(raw: dict, key: str, path: Path, meaning: str, minimum: int) -> int:
    """A non-negative integer entry such as ``num_data``."""
    value = require(raw, key, path, meaning)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise DataError(f"{path}: {key} = {value!r}, expected an integer >= {minimum} ({key}: {meaning})")
    return value


def finite_array(value: Any, path: Path, key: str, meaning: str) -> np.ndarray:
    """``value`` (a number or nested lists of numbers) as a float array with only finite entries."""
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise DataError(f"{path}: {key} is not a number or a rectangular list of numbers ({key}: {meaning})"
                        ) from None
    bad = np.argwhere(~np.isfinite(np.atleast_1d(array)))
    if bad.size:
        index = "".join(f"[{i}]" for i in bad[0]) if array.ndim else ""     # a bare number has no index
        raise DataError(f"{path}: {key}{index} = {np.atleast_1d(array)[tuple(bad[0])]}: every value must be a "
                        f"finite number ({bad.shape[0]} non-finite of {array.size}; {key}: {meaning})")
    return array


def vector(raw: dict, key: str, path: Path, meaning: str, size: int) -> np.ndarray:
    """A (size,) entry of finite numbers (a bare number when size == 1)."""
    array = np.atleast_1d(finite_array(require(raw, key, path, meaning), path, key, meaning))
    if array.shape != (size,):
        raise DataError(f"{path}: {key} has {array.size} values in shape {array.shape}, expected {size} "
                        f"({key}: {meaning})")
    return array


def labels(raw: dict, key: str, path: Path, meaning: str, size: int) -> list[str]:
    """A list of ``size`` strings (a bare string when size == 1)."""
    value = require(raw, key, path, meaning)
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values) or len(values) != size:
        raise DataError(f"{path}: {key} should be {size} name(s), got {value!r:.80} ({key}: {meaning})")
    return values
