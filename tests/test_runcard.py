"""Runcard loading: typed configs from YAML, and errors that name file:line:col and the key path.

The tasks here are small fakes with their own Config dataclasses (nested sections, lists of sections,
tuples, dicts, Literal choices, Optional values, numeric bounds, required keys). Line numbers in the
assertions refer to the VALID runcard below (line 1 is the comment).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional

import pytest

from mlhep.config import option
from mlhep.engine.config import EngineConfig
from mlhep.errors import RunCardError
from mlhep.runcard import COMMON_KEYS, RunCard, load_runcard, load_runcard_text, to_dataclass, to_plain


@dataclass
class Cuts:
    xmin: float = option(0.0, "lowest x kept", ge=0, lt=1)
    xmax: Optional[float] = option(None, "highest x kept (none: no cut)", gt=0)


@dataclass
class Dataset:
    name: str = option(doc="dataset name")
    weight: float = option(1.0, "weight in the loss", gt=0)
    cuts: Cuts = option(Cuts(), "kinematic cuts")


@dataclass
class Data:
    datasets: list[Dataset] = option(doc="datasets in the fit")
    normalise: bool = option(False, "normalise the inputs")
    tags: dict[str, int] = option({}, "free integer tags")


@dataclass
class Model:
    layers: tuple[int, ...] = option((16,), "hidden layer widths", ge=1)
    activation: Literal["tanh", "relu", "sigmoid"] = option("relu", "activation function")
    dropout: float = option(0.0, "dropout rate", ge=0, lt=1)


@dataclass
class FitConfig:
    data: Data = option(doc="input data")
    model: Model = option(Model(), "network")
    label: str = option("fit", "a label")
    threshold: Optional[int] = option(None, "an optional count", ge=0)


@dataclass
class EftConfig:
    coefficients: list[str] = option(["cW"], "Wilson coefficients")


class FakeTask:
    def __init__(self, config):
        self.Config = config


TASKS = {"pdf-fit": FakeTask(FitConfig), "eft-fit": FakeTask(EftConfig), "toy-regression": FakeTask(EftConfig)}

VALID = """\
# A tiny runcard for the fake pdf-fit task.
task: pdf-fit
seed: 7
replicas: 4
engine:
  epochs: 50
  optimizer:
    name: adamw
    learning_rate: 1e-2
data:
  datasets:
    - name: alpha
    - name: beta
      weight: 2
      cuts: {xmin: 0.1}
  normalise: true
model:
  layers: [8, 8]
  activation: tanh
label: $HOME/out
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "runcard.yaml"
    path.write_text(text, newline="")
    return path


def variant(old: str, new: str) -> str:
    assert old in VALID, old
    return VALID.replace(old, new, 1)


def error_of(tmp_path: Path, text: str) -> RunCardError:
    path = write(tmp_path, text)
    with pytest.raises(RunCardError) as info:
        load_runcard(path, TASKS)
    assert info.value.exit_code == 2
    assert str(info.value).startswith(f"{path}:")
    return info.value


def where(err: RunCardError) -> tuple[int | None, int | None, str]:
    return err.line, err.col, err.key


# ---- a valid runcard ----------------------------------------------------------------------------------------

def test_valid_runcard_gives_typed_config_with_defaults(tmp_path):
    path = write(tmp_path, VALID)
    rc = load_runcard(path, TASKS)
    assert isinstance(rc, RunCard)
    assert (rc.path, rc.task, rc.seed, rc.replicas, rc.description, rc.output) == (path, "pdf-fit", 7, 4, "", None)
    assert rc.text == VALID and rc.sha256 == hashlib.sha256(VALID.encode()).hexdigest()
    assert rc.engine.epochs == 50 and rc.engine.chunk == EngineConfig().chunk
    assert rc.engine.optimizer.name == "adamw" and rc.engine.optimizer.learning_rate == 0.01
    assert rc.engine.stopping == EngineConfig().stopping
    cfg = rc.config
    assert cfg == FitConfig(
        data=Data(datasets=[Dataset("alpha"), Dataset("beta", 2.0, Cuts(xmin=0.1))], normalise=True),
        model=Model(layers=(8, 8), activation="tanh"), label="$HOME/out")
    assert type(cfg.data.datasets[1].weight) is float          # int 2 accepted for a float, stored as float
    assert type(cfg.model.layers) is tuple and type(cfg.data.datasets[0].name) is str
    assert cfg.label == "$HOME/out"                            # environment variables are not expanded here
    assert cfg.data.tags == {} and cfg.threshold is None


def test_engine_section_is_optional(tmp_path):
    text = "task: eft-fit\ncoefficients: [cW, cHq3]\n"
    rc = load_runcard(write(tmp_path, text), TASKS)
    assert rc.engine == EngineConfig() and rc.config == EftConfig(["cW", "cHq3"])
    assert (rc.seed, rc.replicas) == (0, 1)


def test_fail_points_at_the_key_path(tmp_path):
    path = write(tmp_path, VALID)
    rc = load_runcard(path, TASKS)
    assert rc.locate("data.datasets[1].weight") == (14, 15)     # scalar: the value's position
    assert rc.locate("data.datasets[1].cuts.xmin") == (15, 20)
    assert rc.locate("data.datasets[1]") == (13, 7)
    assert rc.locate("data") == (10, 1)                         # section: the key's position
    assert rc.locate("model.layers[1]") == (18, 15)
    assert rc.locate("data.datasets[1].cuts.xmax") == (15, 7)   # absent: nearest existing parent's key
    assert rc.locate("data.datasets[9].name") == (11, 3)
    err = rc.fail("data.datasets[1].name", "unknown dataset 'beta' (valid: alpha, gamma)")
    assert isinstance(err, RunCardError)
    assert str(err) == f"{path}:13:13: data.datasets[1].name: unknown dataset 'beta' (valid: alpha, gamma)"


def test_load_runcard_text_round_trips(tmp_path):
    rc = load_runcard(write(tmp_path, VALID), TASKS)
    again = load_runcard_text(rc.text, rc.path, TASKS)
    assert again == rc
    assert again.fail("model.activation", "x").line == 19


def test_to_plain_is_json_and_converts_back():
    rc = load_runcard_text(VALID, "stored.yaml", TASKS)
    plain = json.loads(json.dumps(to_plain(rc.config)))
    assert plain["data"]["datasets"][1] == {"name": "beta", "weight": 2.0, "cuts": {"xmin": 0.1, "xmax": None}}
    assert plain["model"]["layers"] == [8, 8]
    assert to_dataclass(FitConfig, plain) == rc.config
    assert to_dataclass(EngineConfig, json.loads(json.dumps(to_plain(rc.engine))), "engine") == rc.engine


def test_crlf_text_is_kept_exactly(tmp_path):
    text = VALID.replace("\n", "\r\n")
    rc = load_runcard(write(tmp_path, text), TASKS)
    assert rc.text == text and rc.sha256 == hashlib.sha256(text.encode()).hexdigest()
    assert rc.fail("model.activation", "x").line == 19


# ---- file and document errors -----------------------------------------------------------------------------

def test_file_not_found(tmp_path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(RunCardError) as info:
        load_runcard(missing, TASKS)
    assert str(info.value) == f"{missing}: file not found" and info.value.exit_code == 2


def test_yaml_syntax_error_has_the_line(tmp_path):
    err = error_of(tmp_path, variant("  layers: [8, 8]", "  layers: [8, 8"))
    assert err.line == 19 and err.key == ""
    assert "invalid YAML" in str(err) and "flow sequence started at line 18" in str(err)
    err = error_of(tmp_path, variant("seed: 7", "seed: 7: 8"))
    assert (err.line, err.col) == (3, 8) and "mapping values are not allowed" in str(err)


@pytest.mark.parametrize("text, line, key", [
    (variant("replicas: 4", "replicas: 4\nreplicas: 5"), 5, "replicas"),
    (variant("      weight: 2", "      weight: 2\n      weight: 3"), 15, "data.datasets[1].weight"),
])
def test_duplicate_key(tmp_path, text, line, key):
    err = error_of(tmp_path, text)
    assert (err.line, err.key) == (line, key)
    assert f": {key}: duplicate key '{key.split('.')[-1]}'" in str(err)


@pytest.mark.parametrize("text, got", [("- task: pdf-fit\n", "a list"), ("just text\n", "'just text'")])
def test_top_level_must_be_a_mapping(tmp_path, text, got):
    err = error_of(tmp_path, text)
    assert err.line == 1 and "the top level must be a mapping" in str(err) and f"(got {got})" in str(err)


@pytest.mark.parametrize("text", ["", "# only a comment\n"])
def test_empty_runcard(tmp_path, text):
    err = error_of(tmp_path, text)
    assert "empty runcard" in str(err) and "valid tasks: eft-fit, pdf-fit, toy-regression" in str(err)


# ---- the task -----------------------------------------------------------------------------------------------

def test_unknown_task_suggests(tmp_path):
    err = error_of(tmp_path, variant("task: pdf-fit", "task: pdf-fitt"))
    assert where(err) == (2, 7, "task")
    assert str(err).endswith(": task: unknown task 'pdf-fitt' (did you mean 'pdf-fit'? "
                             "valid: eft-fit, pdf-fit, toy-regression)")


def test_missing_task_lists_tasks(tmp_path):
    err = error_of(tmp_path, variant("task: pdf-fit\n", ""))
    assert err.line == 2 and err.key == ""
    assert str(err).endswith(":2:1: missing required key 'task' (valid tasks: eft-fit, pdf-fit, toy-regression)")


def test_task_must_be_a_name(tmp_path):
    err = error_of(tmp_path, variant("task: pdf-fit", "task: [pdf-fit]"))
    assert where(err) == (2, 7, "task") and "task must be a name (got a list)" in str(err)


# ---- keys ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("old, new, line, col, key, suggestion", [
    ("seed: 7", "seeds: 7", 3, 1, "seeds", "seed"),
    ("  epochs: 50", "  epoch: 50", 6, 3, "engine.epoch", "epochs"),
    ("    learning_rate: 1e-2", "    learnig_rate: 1e-2", 9, 5, "engine.optimizer.learnig_rate", "learning_rate"),
    ("      weight: 2", "      weigth: 2", 14, 7, "data.datasets[1].weigth", "weight"),
    ("cuts: {xmin: 0.1}", "cuts: {xmni: 0.1}", 15, 14, "data.datasets[1].cuts.xmni", "xmin"),
])
def test_unknown_key_suggests(tmp_path, old, new, line, col, key, suggestion):
    err = error_of(tmp_path, variant(old, new))
    assert where(err) == (line, col, key)
    assert f": {key}: unknown key '{key.split('.')[-1]}' (did you mean '{suggestion}'? valid keys: " in str(err)


def test_unknown_top_level_key_lists_common_and_task_keys(tmp_path):
    err = error_of(tmp_path, VALID + "zzz: 1\n")
    assert where(err) == (21, 1, "zzz")
    valid = sorted(COMMON_KEYS + ("data", "model", "label", "threshold"))
    assert str(err).endswith(f"unknown key 'zzz' (valid keys: {', '.join(valid)})")


@pytest.mark.parametrize("old, new, line, col, key", [
    ("  datasets:\n    - name: alpha\n    - name: beta\n      weight: 2\n      cuts: {xmin: 0.1}\n", "", 10, 1, "data"),
    ("    - name: alpha", "    - weight: 3", 12, 7, "data.datasets[0]"),
    ("data:\n  datasets:\n    - name: alpha\n    - name: beta\n      weight: 2\n      cuts: {xmin: 0.1}\n"
     "  normalise: true\n", "", 2, 1, ""),
])
def test_missing_required_key(tmp_path, old, new, line, col, key):
    err = error_of(tmp_path, variant(old, new))
    assert where(err) == (line, col, key)
    name = {"data": "datasets", "data.datasets[0]": "name", "": "data"}[key]
    assert str(err).endswith(f":{line}:{col}: {key + ': ' if key else ''}missing required key '{name}'")


# ---- types, ranges, choices ---------------------------------------------------------------------------------

@pytest.mark.parametrize("old, new, line, col, key, message", [
    ("  normalise: true", "  normalise: 1", 16, 14, "data.normalise", "must be true or false (got 1)"),
    ("  normalise: true", "  normalise: yes", 16, 14, "data.normalise", "must be true or false (got 'yes')"),
    ("seed: 7", "seed: 7.5", 3, 7, "seed", "must be an integer (got 7.5)"),
    ("seed: 7", "seed: true", 3, 7, "seed", "must be an integer (got true)"),
    ("seed: 7", "seed: '7'", 3, 7, "seed", "must be an integer (got '7')"),
    ("  epochs: 50", "  epochs: 1e3", 6, 11, "engine.epochs", "must be an integer (got 1000.0)"),
    ("  layers: [8, 8]", "  layers: [8, 8.5]", 18, 15, "model.layers[1]", "must be an integer (got 8.5)"),
    ("      weight: 2", "      weight: heavy", 14, 15, "data.datasets[1].weight", "must be a number (got 'heavy')"),
    ("      weight: 2", "      weight: false", 14, 15, "data.datasets[1].weight", "must be a number (got false)"),
    ("    - name: alpha", "    - name: 12", 12, 13, "data.datasets[0].name", "must be a string (got 12)"),
    ("    - name: alpha", "    - name:", 12, 7, "data.datasets[0].name", "must be a string (got null)"),
    ("  layers: [8, 8]", "  layers: 8", 18, 11, "model.layers", "must be a list (got 8)"),
    ("  datasets:\n    - name: alpha\n    - name: beta\n      weight: 2\n      cuts: {xmin: 0.1}\n",
     "  datasets: {a: 1}\n", 11, 13, "data.datasets", "must be a list (got a mapping)"),
    ("model:\n  layers: [8, 8]\n  activation: tanh\n", "model: relu\n", 17, 8, "model",
     "must be a mapping with keys layers, activation, dropout (got 'relu')"),
    ("  normalise: true", "  normalise: true\n  tags: [1]", 17, 9, "data.tags", "must be a mapping (got a list)"),
    ("  normalise: true", "  normalise: true\n  tags: {a: x}", 17, 13, "data.tags.a", "must be an integer (got 'x')"),
    ("label: $HOME/out", "threshold: 1.5", 20, 12, "threshold", "must be an integer (got 1.5)"),
])
def test_wrong_type(tmp_path, old, new, line, col, key, message):
    err = error_of(tmp_path, variant(old, new))
    assert where(err) == (line, col, key)
    assert f":{line}:{col}: {key}: {message}" in str(err)


@pytest.mark.parametrize("old, new, line, col, key, message", [
    ("replicas: 4", "replicas: 0", 4, 11, "replicas", "must be >= 1 (got 0; valid range [1, 100000])"),
    ("seed: 7", "seed: -1", 3, 7, "seed", "must be >= 0 (got -1; valid range [0, 4294967295])"),
    ("      weight: 2", "      weight: 0", 14, 15, "data.datasets[1].weight", "must be > 0 (got 0)"),
    ("{xmin: 0.1}", "{xmin: 1.0}", 15, 20, "data.datasets[1].cuts.xmin",
     "must be < 1 (got 1.0; valid range [0, 1))"),
    ("{xmin: 0.1}", "{xmax: -2}", 15, 20, "data.datasets[1].cuts.xmax", "must be > 0 (got -2)"),
    ("  layers: [8, 8]", "  layers: [8, 0]", 18, 15, "model.layers[1]", "must be >= 1 (got 0)"),
    ("    learning_rate: 1e-2", "    learning_rate: -1e-2", 9, 20, "engine.optimizer.learning_rate",
     "must be > 0 (got -0.01)"),
])
def test_out_of_range(tmp_path, old, new, line, col, key, message):
    err = error_of(tmp_path, variant(old, new))
    assert where(err) == (line, col, key)
    assert str(err).endswith(f":{line}:{col}: {key}: {message}")


@pytest.mark.parametrize("old, new, line, col, key, message", [
    ("  activation: tanh", "  activation: tahn", 19, 15, "model.activation",
     "must be one of: tanh, relu, sigmoid (got 'tahn'; did you mean 'tanh'?)"),
    ("  activation: tanh", "  activation: softplus", 19, 15, "model.activation",
     "must be one of: tanh, relu, sigmoid (got 'softplus')"),
    ("    name: adamw", "    name: adamm", 8, 11, "engine.optimizer.name",
     "must be one of: adam, nadam, adamw, sgd, rmsprop, adagrad, adadelta, amsgrad, lion (got 'adamm'; "
     "did you mean 'adam'?)"),
])
def test_bad_choice(tmp_path, old, new, line, col, key, message):
    err = error_of(tmp_path, variant(old, new))
    assert where(err) == (line, col, key)
    assert str(err).endswith(f":{line}:{col}: {key}: {message}")


def test_lenient_forms_that_are_accepted(tmp_path):
    text = variant("  normalise: true", "  normalise: true\n  tags: {a: 1}")
    text = text.replace("learning_rate: 1e-2", "learning_rate: '1e-3'").replace("{xmin: 0.1}", "{xmin: 0, xmax: null}")
    text = text.replace("engine:\n", "engine:\n  stopping:\n").replace("label: $HOME/out", "threshold: 3")
    rc = load_runcard(write(tmp_path, text), TASKS)
    assert rc.engine.optimizer.learning_rate == 1e-3         # a float given as a string that float() reads
    assert rc.engine.stopping == EngineConfig().stopping      # an empty section means defaults
    assert rc.config.data.datasets[1].cuts == Cuts(0.0, None) and rc.config.data.tags == {"a": 1}
    assert rc.config.threshold == 3


# ---- the converter on its own -------------------------------------------------------------------------------

def test_to_dataclass_without_context_locates_within_the_node():
    with pytest.raises(RunCardError) as info:
        to_dataclass(Model, {"layers": [4], "dropout": 2.0}, "model")
    assert info.value.key == "model.dropout" and str(info.value).endswith(
        "model.dropout: must be < 1 (got 2.0; valid range [0, 1))")
    assert to_dataclass(Model, {}, "model") == Model()


def test_config_redefining_a_common_key_is_a_programming_error():
    @dataclass
    class Clash:
        seed: int = option(0, "clashes with the common key")

    with pytest.raises(TypeError, match="common runcard keys"):
        load_runcard_text("task: clash\n", "x.yaml", {"clash": FakeTask(Clash)})


# ---- limits: aliases, infinities, documented ranges ---------------------------------------------------------

def test_anchors_aliases_and_merge_keys_within_the_budget_are_accepted(tmp_path):
    text = variant("    - name: beta\n      weight: 2\n      cuts: {xmin: 0.1}\n",
                   "    - &beta\n      name: beta\n      weight: 2\n      cuts: &cuts {xmin: 0.1}\n"
                   "    - <<: *beta\n      name: gamma\n    - {name: delta, cuts: *cuts}\n")
    datasets = load_runcard(write(tmp_path, text), TASKS).config.data.datasets
    assert [(d.name, d.weight, d.cuts.xmin) for d in datasets] == [
        ("alpha", 1.0, 0.0), ("beta", 2.0, 0.1), ("gamma", 2.0, 0.1), ("delta", 1.0, 0.1)]


@dataclass
class Limits:
    cutoff: float = option(float("inf"), "no cut unless given", allow_inf=True)
    ratio: float = option(0.5, "a fraction", ge=0, le=1)


@pytest.mark.parametrize("node, message", [
    ({"cutoff": float("nan")}, "limits.cutoff: must be a finite number (got .nan)"),
    ({"ratio": float("-inf")}, "limits.ratio: must be a finite number (got -.inf)"),
    ({"ratio": "NaN"}, "limits.ratio: must be a finite number (got 'NaN')"),
    ({"ratio": 2}, "limits.ratio: must be <= 1 (got 2; valid range [0, 1])"),
])
def test_non_finite_floats_are_refused_unless_the_field_allows_inf(node, message):
    with pytest.raises(RunCardError) as info:
        to_dataclass(Limits, node, "limits")
    assert str(info.value).endswith(message)
    assert to_dataclass(Limits, {"cutoff": float("inf")}, "limits").cutoff == float("inf")


def test_tasks_verbose_documents_the_valid_ranges():
    from mlhep.config import describe
    from mlhep.runcard import CommonConfig
    lines = "\n".join(describe(CommonConfig))
    assert "replicas: int = 1  number of replicas [1, 100000]" in lines
    assert "seed: int = 0  master seed: replica i uses fold_in(PRNGKey(seed), i) [0, 4294967295]" in lines
    assert "learning_rate: float = 0.001  initial learning rate (0, inf)" in lines
