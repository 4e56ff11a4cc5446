"""Where things are in a runcard's YAML: parsing with line/column marks, and key paths such as
``data.datasets[2].name`` mapped to the nodes (and positions) they name. Used by ``mlhep.runcard``."""
from __future__ import annotations

import re
from typing import Any, Mapping

from ruamel.yaml import YAML
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import (AliasEvent, CollectionEndEvent, CollectionStartEvent, NodeEvent,
                                ScalarEvent)
from ruamel.yaml.reader import Reader

from mlhep.errors import RunCardError

_ABSENT = object()


MAX_DEPTH = 64             # nesting levels; real runcards use < 10 (the YAML composer recurses once per level)
MAX_ALIAS_VALUES = 100_000  # values a runcard may hold once its aliases are expanded ("billion laughs" guard)


def parse(text: str, file: str) -> Any:
    """The YAML tree of ``text`` (ruamel round-trip: keeps positions); every problem is a located RunCardError.

    Control characters, nesting deeper than ``MAX_DEPTH`` and aliases expanding beyond ``MAX_ALIAS_VALUES``
    values are refused before the tree is built, so a hostile file can neither overflow the stack nor make
    anything that walks the tree hang.
    """
    check_characters(text, file)
    try:
        check_structure(text, file)
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


def check_characters(text: str, file: str) -> None:
    """Refuse characters YAML does not allow (NUL, other C0 controls...), naming their line and column."""
    bad = Reader.NON_PRINTABLE.search(text)
    if bad is None:
        return
    char = bad.group()
    what = "a NUL byte (is this a binary file?)" if char == "\0" else f"control character U+{ord(char):04X}"
    line, col = line_col(text, bad.start())
    raise RunCardError(f"{what} is not allowed in a YAML runcard (delete it, or retype the line)",
                       file=file, line=line, col=col)


def check_structure(text: str, file: str) -> None:
    """Refuse nesting deeper than ``MAX_DEPTH`` (also through aliases), recursive aliases, and aliases expanding
    to more than ``MAX_ALIAS_VALUES`` values, by reading the parser's event stream (which does not recurse)."""
    open_nodes: list[list] = []          # [anchor, values counted before the node, deepest level inside it]
    sizes: dict[str, tuple[int, int]] = {}   # anchor -> (values of its node, levels below it), aliases expanded
    values = 0

    def reach(level: int, event: Any, via: str = "") -> None:
        if level > MAX_DEPTH:
            raise _at(event, file, f"nested deeper than {MAX_DEPTH} levels{via} (a runcard needs a few; check "
                                   "for unclosed brackets)")
        if open_nodes:
            open_nodes[-1][2] = max(open_nodes[-1][2], level)

    for event in YAML(typ="rt").parse(text):
        if isinstance(event, CollectionStartEvent):
            reach(len(open_nodes) + 1, event)
            open_nodes.append([event.anchor, values, len(open_nodes) + 1])
            values += 1
        elif isinstance(event, CollectionEndEvent):
            anchor, before, deepest = open_nodes.pop()
            reach(deepest, event)
            if anchor:
                sizes[anchor] = (values - before, deepest - len(open_nodes))   # levels it spans
        elif isinstance(event, ScalarEvent):
            values += 1
            if event.anchor:
                sizes[event.anchor] = (1, 0)
        elif isinstance(event, AliasEvent):
            if any(node[0] == event.anchor for node in open_nodes):
                raise _at(event, file, f"alias *{event.anchor} is inside its own anchor &{event.anchor} "
                                       "(recursive aliases are not allowed)")
            size, height = sizes.get(event.anchor, (0, 0))    # an undefined alias is reported by the composer
            reach(len(open_nodes) + height, event, f" through alias *{event.anchor}")
            values += size
            if values > MAX_ALIAS_VALUES:
                raise _at(event, file, f"aliases expand the runcard to more than {MAX_ALIAS_VALUES} values "
                                       "(a YAML alias bomb?); write the values out or use fewer aliases")


def _at(event: NodeEvent, file: str, why: str) -> RunCardError:
    mark = event.start_mark
    return RunCardError(why, file=file, line=mark.line + 1, col=mark.column + 1)


def line_col(text: str, index: int) -> tuple[int, int]:
    """1-based (line, column) of character ``index`` in ``text``."""
    return text.count("\n", 0, index) + 1, index - (text.rfind("\n", 0, index) + 1) + 1


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
