"""Where things are in a runcard's YAML: parsing with line/column marks, and key paths such as
``data.datasets[2].name`` mapped to the nodes (and positions) they name. Used by ``mlhep.runcard``."""
from __future__ import annotations

import re
from typing import Any, Mapping

from ruamel.yaml import YAML
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from mlhep.errors import RunCardError

_ABSENT = object()


def parse(text: str, file: str) -> Any:
    try:
        return YAML(typ="rt").load(text)
    except DuplicateKeyError as exc:
        key = re.search(r'duplicate key "(.*?)"', exc.problem or "")
        parent = mapping_path_at(text, exc.context_mark)
        first = re.search(r'original value: "(.*?)"', exc.problem or "")
        where = f" (already set to '{first.group(1)}' above)" if first else ""
        raise RunCardError(f"duplicate key '{key.group(1) if key else '?'}'{where}", file=file,
                           line=exc.problem_mark.line + 1, col=exc.problem_mark.column + 1,
                           key=child_path(parent, key.group(1)) if key else parent) from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        why = f"invalid YAML: {exc.problem or exc.context}"
        if exc.problem and exc.context and exc.context_mark:
            why += f" ({exc.context} started at line {exc.context_mark.line + 1})"
        raise RunCardError(why, file=file, line=mark.line + 1 if mark else None,
                           col=mark.column + 1 if mark else None) from None
    except YAMLError as exc:
        raise RunCardError(f"invalid YAML: {exc}", file=file) from None


def mapping_path_at(text: str, mark: Any) -> str:
    """Key path of the mapping starting at ``mark`` (re-parsed with duplicates allowed); "" if not found."""
    loader = YAML(typ="rt")
    loader.allow_duplicate_keys = True
    try:
        root = loader.load(text)
    except YAMLError:
        return ""

    def search(node: Any, path: str) -> str | None:
        if isinstance(node, Mapping) and node_position(node) == (mark.line, mark.column):
            return path
        children = node.items() if isinstance(node, Mapping) else enumerate(node) if isinstance(node, list) else ()
        for key, child in children:
            sub = f"{path}[{key}]" if isinstance(node, list) else child_path(path, key)
            hit = search(child, sub)
            if hit is not None:
                return hit
        return None

    return search(root, "") or ""


def node_position(node: Any) -> tuple[int, int] | None:
    lc = getattr(node, "lc", None)
    return (lc.line, lc.col) if lc is not None and lc.line is not None else None


def child_position(node: Any, token: str | int):
    """(child, key position, value position) of ``token`` in ``node`` (0-based), or None if absent."""
    data = getattr(getattr(node, "lc", None), "data", {}) or {}
    if isinstance(node, list) and isinstance(token, int) and 0 <= token < len(node):
        pos = data.get(token)
        return node[token], (tuple(pos[:2]) if pos else None), (tuple(pos[:2]) if pos else None)
    if isinstance(node, Mapping):
        key = token if token in node else next((k for k in node if str(k) == str(token)), _ABSENT)
        if key is not _ABSENT:
            pos = data.get(key)
            return node[key], (tuple(pos[:2]) if pos else None), (tuple(pos[2:4]) if pos else None)
    return None


def key_tokens(key_path: str) -> list[str | int]:
    """``"a.b[2].c"`` -> ``["a", "b", 2, "c"]``; a key with dots is written ``a["b.c"]``."""
    found = re.findall(r'\["([^"]*)"\]|([^.\[\]"]+)|\[(\d+)\]', key_path)
    return [int(index) if index else (quoted or name) for quoted, name, index in found]


def child_path(path: str, key: Any) -> str:
    if "." in str(key):
        return f'{path}["{key}"]'
    return f"{path}.{key}" if path else str(key)
