"""The search space: which runcard keys a trial sets, how optuna samples them, and the runcard of one trial.

A searched key is a dotted path of runcard keys: ``engine.optimizer.learning_rate``, ``engine.stages.classifier.
optimizer.learning_rate``, ``model.architecture``, ``positivity.multiplier``. A trial's runcard is the runcard's
YAML with those keys set (ruamel round trip: comments kept), loaded and validated by ``mlhep.runcard`` like any
runcard, so a sampled value is checked exactly as a typed one would be (ranges, types, stage merging).
"""
from __future__ import annotations

import copy
import io
import json
from typing import Any, Mapping

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from mlhep.errors import RunCardError
from mlhep.hyperopt_config import Dimension, HyperoptConfig

EXAMPLE_KEY = "engine.optimizer.learning_rate"


def where(key: str) -> str:
    """The key path of a searched key's entry in the runcard, for located errors."""
    return f'hyperopt.space["{key}"]'


def check_space(hcfg: HyperoptConfig, runcard, tasks: Mapping[str, Any]) -> None:
    """Every searched key names a setting of this runcard, with a valid range or choices, and every end of the
    range and every choice makes a valid runcard (checked by loading it): errors at the key's line."""
    stages = tuple(getattr(tasks[runcard.task], "stages", ()))
    for key, dim in hcfg.space.items():
        if not _exists(runcard, key, stages):
            raise runcard.fail(where(key), f"'{key}' is not a setting of this runcard (use a key path such as "
                                           f"{EXAMPLE_KEY} or model.<key>; `mlhep tasks -v` lists them)")
        numeric = dim.low is not None and dim.high is not None
        if numeric == (dim.choices is not None):
            raise runcard.fail(where(key), "give either low and high, or choices")
        if numeric and not dim.low < dim.high:
            raise runcard.fail(where(key), f"low ({dim.low}) must be below high ({dim.high})")
        if numeric and dim.log and dim.low <= 0:
            raise runcard.fail(where(key), "a log range needs low > 0")
        if dim.choices is not None and not dim.choices:
            raise runcard.fail(where(key), "choices is empty")
        if numeric and dim.integer and (int(dim.low) != dim.low or int(dim.high) != dim.high):
            raise runcard.fail(where(key), f"an integer range needs integer ends (got {dim.low}, {dim.high})")
        for value in candidates(dim):
            try:
                trial_runcard(runcard, {key: value}, tasks)
            except RunCardError as err:
                raise runcard.fail(where(key), f"the value {value!r} is not valid for {key}: {err.reason}") from None


def candidates(dim: Dimension) -> list[Any]:
    """The values that bound a dimension: both ends of a range, or every choice."""
    if dim.choices is not None:
        return list(dim.choices)
    return [int(dim.low), int(dim.high)] if dim.integer else [float(dim.low), float(dim.high)]


def _exists(runcard, key: str, stages: tuple[str, ...]) -> bool:
    head, *rest = key.split(".")
    obj = runcard.engine if head == "engine" else runcard.config
    parts = rest if head == "engine" else [head, *rest]
    if head == "engine" and parts[:1] == ["stages"] and len(parts) > 2 and parts[1] in stages:
        parts = parts[2:]          # a declared stage without its own section in this runcard: engine's keys
        obj = runcard.engine.stages.get(rest[1], runcard.engine)
    for part in parts:
        if isinstance(obj, dict) and part in obj:
            obj = obj[part]
        elif not isinstance(obj, dict) and hasattr(obj, "__dataclass_fields__") and part in obj.__dataclass_fields__:
            obj = getattr(obj, part)
        else:
            return False
    return True


def suggest(trial, key: str, dim: Dimension) -> Any:
    """The trial's value of ``key``: a categorical choice is asked by index (choices may be lists)."""
    if dim.choices is not None:
        index = trial.suggest_categorical(key + "#", list(range(len(dim.choices))))
        return copy.deepcopy(dim.choices[index])
    if dim.integer:
        return trial.suggest_int(key, int(dim.low), int(dim.high), log=dim.log)
    return trial.suggest_float(key, dim.low, dim.high, log=dim.log)


def values_of(params: Mapping[str, Any], hcfg: HyperoptConfig) -> dict[str, Any]:
    """A finished trial's values from optuna's params (categorical keys are stored as the choice's index)."""
    out = {}
    for key, dim in hcfg.space.items():
        if dim.choices is not None and key + "#" in params:
            out[key] = dim.choices[params[key + "#"]]
        elif key in params:
            out[key] = params[key]
    return out


def show(value: Any) -> str:
    """A value as one short text (JSON for lists), for tables and logs."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return json.dumps(value) if isinstance(value, (list, dict)) else str(value)


# ---- the runcard of a trial ----------------------------------------------------------------------------------

def set_in_yaml(root: Any, key: str, value: Any) -> None:
    """Set the dotted ``key`` in a ruamel round-trip tree (creating missing mappings); lists in flow style."""
    parts = key.split(".")
    node = root
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, Mapping):
            child = CommentedMap()
            node[part] = child
        node = child
    node[parts[-1]] = _flow(value)


def _flow(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        seq = CommentedSeq([_flow(v) for v in value])
        seq.fa.set_flow_style()
        return seq
    if isinstance(value, dict):
        mapping = CommentedMap({k: _flow(v) for k, v in value.items()})
        mapping.fa.set_flow_style()
        return mapping
    return value


def runcard_text(text: str, values: Mapping[str, Any], drop_hyperopt: bool = False, header: str = "") -> str:
    """``text`` (a runcard) with ``values`` set (comments and order kept); optionally without its ``hyperopt:``
    section, and with ``header`` comment lines on top."""
    yaml = YAML(typ="rt")
    yaml.width = 120
    root = yaml.load(text)
    for key, value in values.items():
        set_in_yaml(root, key, value)
    if drop_hyperopt and "hyperopt" in root:
        del root["hyperopt"]
    out = io.StringIO()
    yaml.dump(root, out)
    lines = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
    return lines + out.getvalue()


def trial_runcard(runcard, values: Mapping[str, Any], tasks: Mapping[str, Any]):
    """The runcard with ``values`` set, loaded and validated (a ``RunCard``); errors name the runcard file (the
    caller re-locates them at the searched key)."""
    from mlhep.runcard import load_runcard_text
    return load_runcard_text(runcard_text(runcard.text, values), runcard.path, tasks)
