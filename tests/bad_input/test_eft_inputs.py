"""Bad inputs of eft-fit, one parametrized row each: broken SMEFiT data and theory files (DataError, exit 4,
naming the file and the key), contradictory or non-finite coefficient specs and unbinned settings (RunCardError,
exit 2, at the runcard line and key; `mlhep check` rejects them with the same message as `fit`), and fits that
end non-finite (an error, or a reported per-replica failure)."""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest
from ruamel.yaml import YAML

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tasks" / "eft"))
from fixtures.smefit_toy import write_toy_database  # noqa: E402

from mlhep.errors import RunCardError  # noqa: E402
from mlhep.io.results import Results  # noqa: E402
from mlhep.task import RunContext  # noqa: E402
from mlhep.tasks.eft import TASK  # noqa: E402
from mlhep.tasks.eft import Config as EftConfig  # noqa: E402
from mlhep.tasks.eft.binned import run as binned_run  # noqa: E402
from mlhep.tasks.eft.binned.config import CoefficientConfig  # noqa: E402
from mlhep.tasks.eft.binned.theory import CoefficientError, build_coefficient_map  # noqa: E402
from mlhep.tasks.eft.unbinned import UnbinnedConfig  # noqa: E402

BINNED_CARD = """\
task: eft-fit
seed: 11
replicas: 3
mode: binned
binned:
  database: db
  datasets: [TOY_A, TOY_B, TOY_C]
  fit: replicas
  coefficients:
{coefficients}
"""
GOOD_COEFFICIENTS = """\
    Oa: {min: -5, max: 5}
    Ob: {min: -5, max: 5}
    Oc: {constrain: [{Oa: -1.0}]}
"""
LINE = {"Oa": 10, "Ob": 11, "Oc": 12}          # runcard line of each coefficient in BINNED_CARD


def binned_card(tmp_path: Path, coefficients: str = GOOD_COEFFICIENTS) -> Path:
    """A good toy database in tmp_path/db and a runcard using it."""
    write_toy_database(tmp_path / "db", {"Oa": 0.4, "Ob": -0.3, "Oc": -0.4}, quadratic=True, noise_seed=0)
    card = tmp_path / "eft.yaml"
    card.write_text(BINNED_CARD.format(coefficients=coefficients))
    return card


def fit_and_check_agree(run_cli, card: Path, tmp_path: Path, code: int) -> str:
    """Run `fit` and `check` on ``card``: both fail with ``code`` and the same message; no results file."""
    out = tmp_path / "fit.h5"
    fit_code, _, fit_err = run_cli("fit", card, "-o", out, "--quiet")
    check_code, _, check_err = run_cli("check", card)
    assert (fit_code, check_code) == (code, code), fit_err + check_err
    assert "Traceback" not in fit_err + check_err
    assert fit_err.strip().splitlines()[-1] == check_err.strip().splitlines()[-1]
    assert not out.exists()
    return fit_err


# ---------------------------------------------------------------------------------------------------------
# Broken SMEFiT files: DataError (exit 4) naming the file, the key (and index), and what it should contain.

def commondata(name: str, change):
    """A breaker that edits commondata/<name>.yaml as a mapping."""
    def breaker(db: Path) -> None:
        path = db / "commondata" / f"{name}.yaml"
        raw = YAML(typ="safe").load(path.read_text())
        change(raw)
        with open(path, "w") as f:
            YAML().dump(raw, f)
    return breaker


def theory(name: str, change):
    """A breaker that edits theory/<name>.json as an object (json writes NaN and Infinity literals)."""
    def breaker(db: Path) -> None:
        path = db / "theory" / f"{name}.json"
        raw = json.loads(path.read_text())
        change(raw)
        path.write_text(json.dumps(raw))
    return breaker


def setting(key, index, value):
    """raw[key] = value (index None), raw[key][index] = value, or raw[key][i][j] = value (index (i, j))."""
    def change(raw):
        if index is None:
            raw[key] = value
        elif isinstance(index, tuple):
            raw[key][index[0]][index[1]] = value
        else:
            raw[key][index] = value
    return change


def table_entry(order, key, index, value):
    def change(raw):
        raw[order][key][index] = value
    return change


def deleting(*keys):
    def change(raw):
        for key in keys:
            del raw[key]
    return change


def drop_last_point(raw):
    """A theory file made consistently for one point fewer than its commondata."""
    raw["best_sm"].pop()
    raw["theory_cov_current"] = [row[:-1] for row in raw["theory_cov_current"][:-1]]
    for table in (raw["LO"], raw["NLO_QCD"]):
        for values in table.values():
            values.pop()


def replace_file(folder: str, name: str, content):
    """A breaker that replaces a file by ``content`` (text, bytes, or None for a directory)."""
    def breaker(db: Path) -> None:
        path = db / folder / name
        path.unlink()
        if content is None:
            path.mkdir()
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return breaker


def zero_errors(points=None):
    """Statistical errors and systematics of TOY_A set to zero (at ``points``, default all)."""
    def change(raw):
        index = range(len(raw["data_central"])) if points is None else points
        for i in index:
            raw["statistical_error"][i] = 0.0
            for row in raw["systematics"]:
                row[i] = 0.0
    return change


NAN, INF = float("nan"), float("inf")
A_DATA, B_THEORY, C_DATA = "commondata/TOY_A.yaml", "theory/TOY_B.json", "commondata/TOY_C.yaml"

DATA_ROWS = [
    # non-finite numbers
    ("central-nan", commondata("TOY_A", setting("data_central", 2, NAN)), [A_DATA, "data_central[2] = nan"]),
    ("central-inf", commondata("TOY_A", setting("data_central", 0, INF)), [A_DATA, "data_central[0] = inf"]),
    ("stat-nan", commondata("TOY_A", setting("statistical_error", 1, NAN)), [A_DATA, "statistical_error[1]"]),
    ("stat-inf", commondata("TOY_A", setting("statistical_error", 3, INF)), [A_DATA, "statistical_error[3] = inf"]),
    ("sys-nan", commondata("TOY_A", setting("systematics", (1, 4), NAN)), [A_DATA, "systematics[1][4] = nan"]),
    ("sys-inf-flat", commondata("TOY_C", setting("systematics", 0, -INF)), [C_DATA, "systematics[0] = -inf"]),
    ("central-scalar-nan", commondata("TOY_C", setting("data_central", None, NAN)), [C_DATA, "data_central = nan"]),
    ("best-sm-nan", theory("TOY_B", setting("best_sm", 1, NAN)), [B_THEORY, "best_sm[1] = nan"]),
    ("best-sm-inf", theory("TOY_B", setting("best_sm", 4, INF)), [B_THEORY, "best_sm[4] = inf"]),
    ("linear-nan", theory("TOY_B", table_entry("NLO_QCD", "Oa", 0, NAN)), [B_THEORY, "NLO_QCD/Oa[0] = nan"]),
    ("linear-inf", theory("TOY_B", table_entry("NLO_QCD", "Ob", 3, INF)), [B_THEORY, "NLO_QCD/Ob[3] = inf"]),
    ("quadratic-nan", theory("TOY_B", table_entry("NLO_QCD", "Oa*Ob", 2, NAN)), [B_THEORY, "NLO_QCD/Oa*Ob[2]"]),
    ("theory-cov-nan", theory("TOY_B", setting("theory_cov_current", (1, 1), NAN)),
     [B_THEORY, "theory_cov_current[1][1] = nan"]),
    ("theory-cov-inf", theory("TOY_B", setting("theory_cov_current", (0, 3), INF)),
     [B_THEORY, "theory_cov_current[0][3] = inf"]),
    # singular covariance
    ("zero-errors-dataset", commondata("TOY_A", zero_errors()),
     ["experimental covariance is singular", "TOY_A (zero total uncertainty at point(s) [0, 1, 2, 3, 4, 5])"]),
    ("zero-errors-one-point", commondata("TOY_A", zero_errors([3])),
     ["covariance is singular", "TOY_A (zero total uncertainty at point(s) [3])"]),
    ("zero-central-t0", commondata("TOY_C", setting("data_central", None, 0.0)),
     [C_DATA, "data_central is 0 at point(s) [0]", "use_t0: false"]),
    # broken files
    ("empty-commondata", replace_file("commondata", "TOY_A.yaml", ""),
     [A_DATA, "empty file", "num_sys", "systematics"]),
    ("empty-theory", replace_file("theory", "TOY_B.json", "  \n"), [B_THEORY, "empty file", "best_sm"]),
    ("malformed-yaml", replace_file("commondata", "TOY_A.yaml", "num_data: 6\nnum_sys: [3\n"),
     [A_DATA + ":3:", "not valid YAML"]),
    ("malformed-json", replace_file("theory", "TOY_B.json", '{"best_sm": [1, 2,'),
     [B_THEORY + ":1:", "not valid JSON"]),
    ("binary-commondata", replace_file("commondata", "TOY_A.yaml", b"\xff\xfe\x00garbage"), [A_DATA, "not UTF-8"]),
    ("yaml-not-mapping", replace_file("commondata", "TOY_A.yaml", "- 1\n- 2\n"), [A_DATA, "top level is list"]),
    ("json-not-object", replace_file("theory", "TOY_B.json", "[1, 2]"), [B_THEORY, "top level is list"]),
    ("commondata-is-directory", replace_file("commondata", "TOY_A.yaml", None), [A_DATA, "is a directory"]),
    ("theory-is-directory", replace_file("theory", "TOY_B.json", None), [B_THEORY, "is a directory"]),
    # missing keys and wrong shapes
    ("missing-num-sys", commondata("TOY_A", deleting("num_sys")),
     [A_DATA, "missing 'num_sys'", "num_sys: number of systematics, num_sys x num_data values under 'systematics'"]),
    ("missing-central", commondata("TOY_A", deleting("data_central")), [A_DATA, "missing 'data_central'"]),
    ("missing-systematics", commondata("TOY_A", deleting("systematics")),
     [A_DATA, "missing 'systematics'", "3 x 6"]),
    ("missing-sys-names", commondata("TOY_A", deleting("sys_names")), [A_DATA, "missing 'sys_names'"]),
    ("num-data-not-integer", commondata("TOY_A", setting("num_data", None, "six")),
     [A_DATA, "num_data = 'six'", "integer >= 1"]),
    ("num-data-wrong", commondata("TOY_A", setting("num_data", None, 7)),
     [A_DATA, "data_central has 6 values", "expected 7"]),
    ("central-not-numbers", commondata("TOY_A", setting("data_central", 1, "abc")), [A_DATA, "data_central is not"]),
    ("systematics-wrong-count", commondata("TOY_A", lambda raw: raw["systematics"].pop()),
     [A_DATA, "systematics has 12 values", "num_sys x num_data = 3 x 6"]),
    ("systematics-ragged", commondata("TOY_A", lambda raw: raw["systematics"][0].pop()),
     [A_DATA, "systematics is not", "rectangular"]),
    ("sys-type-unknown", commondata("TOY_A", setting("sys_type", 0, "FOO")), [A_DATA, "ADD or MULT"]),
    ("sys-names-too-few", commondata("TOY_A", lambda raw: raw["sys_names"].pop()),
     [A_DATA, "sys_names should be 3 name(s)"]),
    ("missing-best-sm", theory("TOY_B", deleting("best_sm")), [B_THEORY, "missing 'best_sm'"]),
    ("theory-cov-wrong-shape", theory("TOY_B", setting("theory_cov_current", None, [[1.0, 0.0], [0.0, 1.0]])),
     [B_THEORY, "theory_cov_current has 4 values", "expected 5 x 5"]),
    ("no-order-table", theory("TOY_B", deleting("NLO_QCD", "LO")), [B_THEORY, "no 'NLO_QCD' or 'LO' table"]),
    ("linear-wrong-length", theory("TOY_B", lambda raw: raw["NLO_QCD"]["Oa"].pop()),
     [B_THEORY, "NLO_QCD/Oa has 4 values, best_sm has 5"]),
    ("best-sm-vs-num-data", theory("TOY_B", drop_last_point),
     [B_THEORY, "best_sm has 4 values but", "commondata/TOY_B.yaml has num_data = 5"]),
]


@pytest.mark.parametrize("breaker, needles", [row[1:] for row in DATA_ROWS], ids=[row[0] for row in DATA_ROWS])
def test_broken_data_file_is_a_data_error(tmp_path, run_cli, breaker, needles):
    card = binned_card(tmp_path)
    breaker(tmp_path / "db")
    err = fit_and_check_agree(run_cli, card, tmp_path, code=4)
    for needle in needles:
        assert needle in err


@pytest.mark.shared_data
def test_non_finite_value_in_a_real_smefit_file(tmp_path, run_cli, shared_data):
    """The real database format (136 systematics, systematic-major): a NaN is found by file, key and index."""
    source = shared_data / "smefit_database"
    if not source.is_dir():
        pytest.skip(f"no SMEFiT database in {shared_data}")
    name = "ATLAS_tt_8TeV_ljets_Mtt"
    for folder, suffix in (("commondata", "yaml"), ("theory", "json")):
        (tmp_path / "db" / folder).mkdir(parents=True)
        shutil.copy(source / folder / f"{name}.{suffix}", tmp_path / "db" / folder)
    commondata(name, setting("systematics", (110, 3), NAN))(tmp_path / "db")
    card = tmp_path / "real.yaml"
    card.write_text(BINNED_CARD.format(coefficients="    OtG: {min: -2, max: 2}\n").replace(
        "[TOY_A, TOY_B, TOY_C]", f"[{name}]"))
    err = fit_and_check_agree(run_cli, card, tmp_path, code=4)
    assert f"commondata/{name}.yaml: systematics[110][3] = nan" in err


# ---------------------------------------------------------------------------------------------------------
# Coefficient specs: RunCardError (exit 2) at the coefficient's line and key, from `fit` and `check` alike.

def coefficients_with(**changed: str) -> str:
    specs = {"Oa": "{min: -5, max: 5}", "Ob": "{min: -5, max: 5}", "Oc": "{constrain: [{Oa: -1.0}]}", **changed}
    return "".join(f"    {name}: {spec}\n" for name, spec in specs.items())


COEFFICIENT_ROWS = [
    ("min-max-value", {"Oa": "{min: -1, max: 1, value: 0.5}"}, "Oa", "binned.coefficients.Oa",
     "min/max make it fitted but 'value' makes it fixed"),
    ("min-max-constrain", {"Oc": "{min: -1, max: 1, constrain: [{Oa: 1.0}]}"}, "Oc", "binned.coefficients.Oc",
     "'constrain' makes it constrained"),
    ("value-and-constrain", {"Oc": "{value: 1.0, constrain: [{Oa: 1.0}]}"}, "Oc", "binned.coefficients.Oc",
     "either 'value' (fixed) or 'constrain'"),
    ("min-above-max", {"Oa": "{min: 2, max: 1}"}, "Oa", "binned.coefficients.Oa.min", "must be below max"),
    ("min-equals-max", {"Oa": "{min: 1, max: 1}"}, "Oa", "binned.coefficients.Oa.min", "must be below max"),
    ("min-nan", {"Oa": "{min: .nan, max: 1}"}, "Oa", "binned.coefficients.Oa.min", "finite number"),
    ("max-inf", {"Ob": "{min: -1, max: .inf}"}, "Ob", "binned.coefficients.Ob.max", "finite number"),
    ("min-minus-inf", {"Ob": "{min: -.inf}"}, "Ob", "binned.coefficients.Ob.min", "finite number"),
    ("value-nan", {"Ob": "{value: .nan}"}, "Ob", "binned.coefficients.Ob.value", "finite number"),
    ("value-inf", {"Ob": "{value: -.inf}"}, "Ob", "binned.coefficients.Ob.value", "finite number"),
    ("factor-nan", {"Oc": "{constrain: [{Oa: .nan}]}"}, "Oc", "binned.coefficients.Oc.constrain[0].Oa",
     "finite number"),
    ("constrain-unknown", {"Oc": "{constrain: [{Oz: 1.0}]}"}, "Oc", "binned.coefficients.Oc.constrain[0]",
     "'Oz' cannot appear here: it is not among the coefficients"),
    ("constrain-self", {"Oc": "{constrain: [{Oa: 1.0}, {Oc: 0.5}]}"}, "Oc",
     "binned.coefficients.Oc.constrain[1]", "'Oc' cannot be constrained by itself"),
    ("constrain-on-fixed", {"Ob": "{value: 0.0}", "Oc": "{constrain: [{Ob: 1.0}]}"}, "Oc",
     "binned.coefficients.Oc.constrain[0]", "not a fitted coefficient"),
    ("constrain-empty", {"Oc": "{constrain: []}"}, "Oc", "binned.coefficients.Oc.constrain", "empty constraint"),
    ("constrain-factor-three-numbers", {"Oc": "{constrain: [{Oa: [1.0, 2, 3]}]}"}, "Oc",
     "binned.coefficients.Oc.constrain[0].Oa", "[factor, power]"),
]


@pytest.mark.parametrize("changed, name, key, why", [row[1:] for row in COEFFICIENT_ROWS],
                         ids=[row[0] for row in COEFFICIENT_ROWS])
def test_bad_coefficient_spec_is_a_runcard_error(tmp_path, run_cli, changed, name, key, why):
    card = binned_card(tmp_path, coefficients_with(**changed))
    err = fit_and_check_agree(run_cli, card, tmp_path, code=2)
    assert f"{card}:{LINE[name]}:" in err and f"{key}: " in err and why in err


# ---------------------------------------------------------------------------------------------------------
# Unbinned settings: every semantic rule of mlhep/tasks/eft/unbinned/validate.py, rejected by `check` as by
# `fit` (tiny grids and the unevolved toy PDF: no eko, no event generation before the rejection).

UNBINNED_CARD = """\
task: eft-fit
seed: 1
replicas: 1
engine: {epochs: 10, chunk: 10}
mode: unbinned
unbinned:
  collider: {sqrts: 14000.0, luminosity: 1.0, efficiency: 0.05}
  theory: {pdf: lh_toy_q0, mu_f: fixed, m_tt_max: 2000.0, lambda_np: 1000.0}
  training: {n_events: 200, c_values: [-3.0, 3.0], validation_fraction: 0.25}
  network: {hidden: [8, 8]}
  bounds: {c_min: 0.0, c_max: 0.0, pseudo_experiments: 0}
  binning: {m_tt_edges: [345.52, 400.0, 700.0, 2000.0], abs_y_tt_edges: [0.0, 1.0, 10.0]}
  grid: {n_m: 20, n_y: 10, accuracy_c_values: [-1.0, 1.0]}
"""

UNBINNED_ROWS = [
    ("m-tt-max-below-threshold", "m_tt_max: 2000.0", "m_tt_max: 300.0", 8, "unbinned.theory.m_tt_max",
     "tt̄ threshold"),
    ("m-tt-max-above-sqrts", "sqrts: 14000.0", "sqrts: 1500.0", 8, "unbinned.theory.m_tt_max", "sqrt(S)"),
    ("one-c-value", "c_values: [-3.0, 3.0]", "c_values: [2.0]", 9, "unbinned.training.c_values",
     "at least two distinct non-zero"),
    ("zero-c-value", "c_values: [-3.0, 3.0]", "c_values: [0.0, 2.0]", 9, "unbinned.training.c_values",
     "non-zero"),
    ("repeated-c-value", "c_values: [-3.0, 3.0]", "c_values: [3.0, 3.0]", 9, "unbinned.training.c_values",
     "distinct"),
    ("nan-c-value", "c_values: [-3.0, 3.0]", "c_values: [.nan, 3.0]", 9, "unbinned.training.c_values[0]",
     "finite number"),
    ("too-few-training-events", "validation_fraction: 0.25", "validation_fraction: 0.995", 9,
     "unbinned.training.validation_fraction", "fewer than 2 training events"),
    ("zero-width-layer", "hidden: [8, 8]", "hidden: [8, 0]", 10, "unbinned.network.hidden", ">= 1"),
    ("c-min-above-c-max", "c_min: 0.0, c_max: 0.0", "c_min: 1.0, c_max: -1.0", 11, "unbinned.bounds.c_min",
     "exceeds c_max"),
    ("c-max-inf", "c_min: 0.0, c_max: 0.0", "c_min: -1.0, c_max: .inf", 11, "unbinned.bounds.c_max",
     "finite number"),
    ("m-tt-edges-descending", "[345.52, 400.0, 700.0, 2000.0]", "[345.52, 700.0, 400.0, 2000.0]", 12,
     "unbinned.binning.m_tt_edges", "strictly ascending"),
    ("m-tt-edges-below-threshold", "[345.52, 400.0, 700.0, 2000.0]", "[300.0, 400.0, 700.0, 2000.0]", 12,
     "unbinned.binning.m_tt_edges", "inside [2 m_t, m_tt_max]"),
    ("m-tt-edges-above-max", "[345.52, 400.0, 700.0, 2000.0]", "[345.52, 400.0, 700.0, 2500.0]", 12,
     "unbinned.binning.m_tt_edges", "inside [2 m_t, m_tt_max]"),
    ("m-tt-edges-nan", "[345.52, 400.0, 700.0, 2000.0]", "[345.52, .nan, 700.0, 2000.0]", 12,
     "unbinned.binning.m_tt_edges[1]", "finite number"),
    ("y-edges-not-from-zero", "abs_y_tt_edges: [0.0, 1.0, 10.0]", "abs_y_tt_edges: [0.5, 1.0, 10.0]", 12,
     "unbinned.binning.abs_y_tt_edges", "starting at 0"),
    ("y-edges-inf", "abs_y_tt_edges: [0.0, 1.0, 10.0]", "abs_y_tt_edges: [0.0, 1.0, .inf]", 12,
     "unbinned.binning.abs_y_tt_edges[2]", "finite number"),
    ("lambda-inf", "lambda_np: 1000.0", "lambda_np: .inf", 8, "unbinned.theory.lambda_np", "finite number"),
    ("luminosity-inf", "luminosity: 1.0", "luminosity: .inf", 7, "unbinned.collider.luminosity",
     "finite number"),
    ("accuracy-c-nan", "accuracy_c_values: [-1.0, 1.0]", "accuracy_c_values: [-1.0, .nan]", 13,
     "unbinned.grid.accuracy_c_values[1]", "finite number"),
    ("pseudo-experiments-too-large", "pseudo_experiments: 0", "pseudo_experiments: 1, max_events_per_experiment: 1",
     11, "unbinned.bounds.pseudo_experiments", "more than bounds.max_events_per_experiment = 1"),
    ("no-unbinned-section", UNBINNED_CARD[UNBINNED_CARD.index("unbinned:\n"):], "", 5, "mode",
     "needs a 'unbinned:' section"),
]


def unbinned_card(tmp_path: Path, old: str = "", new: str = "") -> Path:
    text = UNBINNED_CARD
    if old:
        assert old in text
        text = text.replace(old, new, 1)
    card = tmp_path / "unbinned.yaml"
    card.write_text(text)
    return card


@pytest.mark.parametrize("old, new, line, key, why", [row[1:] for row in UNBINNED_ROWS],
                         ids=[row[0] for row in UNBINNED_ROWS])
def test_bad_unbinned_setting_is_rejected_by_check_as_by_fit(tmp_path, run_cli, old, new, line, key, why):
    card = unbinned_card(tmp_path, old, new)
    err = fit_and_check_agree(run_cli, card, tmp_path, code=2)
    assert f"{card}:{line}:" in err and f"{key}: " in err and why in err


def test_good_cards_pass_check(tmp_path, run_cli):
    """The controls of the rows above: the unbroken binned and unbinned cards are accepted."""
    assert run_cli("check", binned_card(tmp_path))[0] == 0
    code, out, err = run_cli("check", unbinned_card(tmp_path, "pseudo_experiments: 0", "pseudo_experiments: 1"))
    assert code == 0 and "OK" in out, err


# ---------------------------------------------------------------------------------------------------------
# Fits that end non-finite: an error, or (single replicas) an explicit failure in the log, file and report.

def poison(monkeypatch, rows):
    """Make the minima NaN in ``rows`` (0: the central data's best fit, r + 1: replica r): the central fit's
    solver, and the replicas' outcome of the engine's Newton step."""
    from mlhep.tasks.eft.binned.fits import NewtonTrainable
    original_solver, original_outcome = binned_run.make_replica_solver, NewtonTrainable.outcome
    replicas = np.asarray([r - 1 for r in rows if r > 0], dtype=int)

    def make(problem, *args, **kwargs):
        solve = original_solver(problem, *args, **kwargs)

        def poisoned(data, starts):
            result = solve(data, starts)
            if 0 not in rows:
                return result
            return result._replace(x=result.x.at[0].set(jnp.nan), value=result.value.at[0].set(jnp.nan))
        return poisoned

    def outcome(result):
        out = original_outcome(result)
        out["free"][replicas], out["chi2"][replicas] = np.nan, np.nan
        return out
    monkeypatch.setattr(binned_run, "make_replica_solver", make)
    monkeypatch.setattr(NewtonTrainable, "outcome", staticmethod(outcome))


def test_one_non_finite_replica_is_reported_and_excluded(tmp_path, run_cli, monkeypatch):
    poison(monkeypatch, [2])
    card = binned_card(tmp_path)
    code, _, err = run_cli("fit", card, "-o", tmp_path / "fit.h5", "--quiet")
    assert code == 0, err
    assert "1/3 replicas ended non-finite" in err and "[1]" in err
    results = Results.read(tmp_path / "fit.h5")
    np.testing.assert_array_equal(results.replicas["failed"], [False, True, False])
    assert np.all(np.isfinite(results.summary["bounds68"][:2])) and np.all(np.isfinite(results.summary["mean"]))
    code, out, err = run_cli("report", tmp_path / "fit.h5", "--plot", tmp_path / "plots")
    assert code == 0 and "FAILED replicas (non-finite minimum, excluded from the statistics): 1/3: [1]" in out, err


@pytest.mark.parametrize("rows, why", [
    ([1, 2, 3], "every replica's minimum is non-finite (3 replicas)"),
    ([0], "the best fit to the central data is not finite"),
], ids=["every-replica", "central-best-fit"])
def test_non_finite_fit_is_an_error(tmp_path, run_cli, monkeypatch, rows, why):
    poison(monkeypatch, rows)
    code, _, err = run_cli("fit", binned_card(tmp_path), "-o", tmp_path / "fit.h5", "--quiet")
    assert code == 4 and why in err, err
    assert not (tmp_path / "fit.h5").exists()


def test_overflowing_theory_table_is_an_error_not_zero_bounds(tmp_path, run_cli):
    """Finite but huge linear corrections overflow the Fisher matrix; before, the fit reported 0 +- 0."""
    card = binned_card(tmp_path)
    theory("TOY_B", lambda raw: raw["NLO_QCD"].update(Oa=[1e200] * 5))(tmp_path / "db")
    code, _, err = run_cli("fit", card, "-o", tmp_path / "fit.h5", "--quiet")
    assert code == 4 and "Fisher information" in err and "1e+200" in err, err
    assert not (tmp_path / "fit.h5").exists()


# ---------------------------------------------------------------------------------------------------------
# The task's semantic checks themselves, on configs built in Python (the runcard loader, which refuses NaN and
# inf first, is bypassed): `EftTask.validate(config, ctx)` is what `mlhep check` runs.

def python_context(tmp_path: Path) -> RunContext:
    def no_training(trainable):
        raise AssertionError("validate must not train")
    return RunContext(runcard_path=tmp_path / "card.yaml", seed=0, replica_ids=None,
                      fail=lambda key, why: RunCardError(why, key=key), train=no_training, quiet=True)


@pytest.mark.parametrize("specs, key", [
    ({"Oa": CoefficientConfig(min=NAN, max=1.0)}, "Oa.min"),
    ({"Oa": CoefficientConfig(min=-1.0, max=INF)}, "Oa.max"),
    ({"Oa": CoefficientConfig(), "Ob": CoefficientConfig(value=-INF)}, "Ob.value"),
    ({"Oa": CoefficientConfig(), "Ob": CoefficientConfig(constrain=[{"Oa": NAN}])}, "Ob.constrain[0].Oa"),
], ids=["min-nan", "max-inf", "value-inf", "factor-nan"])
def test_coefficient_map_refuses_non_finite_numbers(specs, key):
    with pytest.raises(CoefficientError, match="must be a finite number") as error:
        build_coefficient_map(specs)
    assert error.value.key == key


def unbinned_config(**theory) -> EftConfig:
    section = UnbinnedConfig()
    section.theory.pdf, section.theory.m_tt_max = "lh_toy_q0", 2000.0
    section.grid.n_m, section.grid.n_y = 20, 10
    section.binning.m_tt_edges = [345.52, 700.0, 2000.0]
    for name, value in theory.items():
        setattr(section.theory, name, value)
    return EftConfig(mode="unbinned", unbinned=section)


@pytest.mark.parametrize("change, key", [
    (lambda c: setattr(c.unbinned.training, "c_values", [NAN, 3.0]), "unbinned.training.c_values[0]"),
    (lambda c: setattr(c.unbinned.collider, "sqrts", INF), "unbinned.collider.sqrts"),
    (lambda c: setattr(c.unbinned.bounds, "normalisation_uncertainty", INF),
     "unbinned.bounds.normalisation_uncertainty"),
], ids=["c-value-nan", "sqrts-inf", "normalisation-uncertainty-inf"])
def test_validate_refuses_non_finite_unbinned_settings(tmp_path, change, key):
    config = unbinned_config()
    change(config)
    with pytest.raises(RunCardError, match="must be a finite number") as error:
        TASK.validate(config, python_context(tmp_path))
    assert error.value.key == key


def test_validate_never_runs_eko(tmp_path, monkeypatch):
    """With the evolved toy not in the cache, check leaves the pseudo-experiment size to fit, not eko."""
    import mlhep.physics.lh_toy as lh_toy
    from mlhep.tasks.eft.unbinned import pdf_table

    monkeypatch.setattr(lh_toy, "lh_cache_ready", lambda order="NLO": False)
    monkeypatch.setattr(pdf_table, "_evolved_toy", lambda *a, **k: pytest.fail("validate ran the evolution"))
    config = unbinned_config(pdf="lh_toy_evolved")
    config.unbinned.bounds.pseudo_experiments, config.unbinned.bounds.max_events_per_experiment = 1, 1
    assert TASK.validate(config, python_context(tmp_path)) is None
