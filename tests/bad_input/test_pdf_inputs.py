"""Bad inputs of `mlhep fit` for task pdf-fit: runcard semantics, earlier-fit files, broken theory and data.

Runcard mistakes are found before any FK table is read (the runcards point `theory.fktables` at an empty folder,
so a check that is not reached fails the test with "no FK table"). Cases that need FK tables use the synthetic
ones of tests/tasks/pdf/pdf_synthetic.py in place of `fktable.load_fktable`; none runs eko or yadism.
"""
from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("nnpdf_data")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tasks" / "pdf"))
import pdf_synthetic  # noqa: E402

from mlhep.errors import DataError  # noqa: E402
from mlhep.io import results  # noqa: E402
from mlhep.tasks.pdf import commondata, fktable  # noqa: E402
from mlhep.tasks.pdf.problem import build_problem, lh_toy_basis  # noqa: E402

SLAC, BCDMS = "SLAC_NC_NOTFIXED_P_EM-F2", "BCDMS_NC_NOTFIXED_P_EM-F2"
DATASETS = f"""  datasets:
    - {{name: {BCDMS}}}
    - {{name: {SLAC}}}
"""
CARD = """task: pdf-fit
replicas: 1
engine: {{epochs: 1}}
data:
{data}theory:
  order: LO
  fktables: no-fk-tables
{extra}"""


def _card(tmp_path: Path, data: str = DATASETS, extra: str = "") -> Path:
    (tmp_path / "no-fk-tables").mkdir(exist_ok=True)
    card = tmp_path / "card.yaml"
    card.write_text(CARD.format(data=data, extra=extra))
    return card


def _line_of(card: Path, marker: str) -> int:
    """1-based line of the first line of ``card`` containing ``marker``."""
    return next(i for i, line in enumerate(card.read_text().splitlines(), 1) if marker in line)


def _fit(run_cli, card: Path):
    return run_cli("fit", card, "-q", "-o", card.parent / "out.h5")


def _assert_located(err: str, card: Path, marker: str, key: str, *fragments: str) -> None:
    assert f"{card}:{_line_of(card, marker)}:" in err, err
    assert f"{key}: " in err, err
    for fragment in fragments:
        assert fragment in err, err
    assert "Traceback" not in err


# ---- runcard semantics checked against the commondata, before any FK table -------------------------------

def _datasets(*entries: str) -> str:
    return "  datasets:\n" + "".join(f"    - {{{e}}}\n" for e in entries)


CUTS_AND_DATASETS = [
    # (id, data section, marker of the reported line, key, fragments)
    ("cuts-empty-every-dataset", "  q2min: 1.0e6\n" + DATASETS, "q2min", "data.q2min",
     [BCDMS, "q2min = 1e+06", "w2min = 12.5", "Q^2 = 230"]),
    ("cuts-empty-one-dataset", "  q2min: 50\n" + DATASETS, "q2min", "data.q2min", [SLAC, "q2min = 50"]),
    ("w2-cut-empty", "  w2min: 1.0e6\n" + DATASETS, "w2min", "data.w2min", [BCDMS, "w2min = 1e+06"]),
    ("q2-cut-infinite", "  q2min: .inf\n" + DATASETS, "q2min", "data.q2min", ["must be a finite number"]),
    ("frac-zero", _datasets(f"name: {BCDMS}, frac: 0.0"), "frac", "data.datasets[0].frac", ["must be > 0"]),
    ("frac-negative", _datasets(f"name: {BCDMS}, frac: -0.5"), "frac", "data.datasets[0].frac", ["must be > 0"]),
    ("frac-nan", _datasets(f"name: {BCDMS}, frac: .nan"), "frac", "data.datasets[0].frac", ["must be a finite number"]),
    ("frac-above-one", _datasets(f"name: {BCDMS}, frac: 1.5"), "frac", "data.datasets[0].frac", ["must be <= 1"]),
    ("frac-no-training-point", _datasets(f"name: {BCDMS}", f"name: {SLAC}, frac: 0.01"), "0.01",
     "data.datasets[1].frac", [SLAC, "33 points", "no training point", "frac > 0.0152"]),
    ("unknown-dataset", _datasets(f"name: {BCDMS}", "name: SLAC_NC_NOTFIXED_P_EM-F3"), "F3",
     "data.datasets[1].name", ["unknown dataset", f"did you mean {SLAC}"]),
    ("unknown-variant", _datasets(f"name: {BCDMS}", f"name: {SLAC}, variant: legacyy"), "legacyy",
     "data.datasets[1].variant", ["no variant 'legacyy'", "valid: legacy"]),
    ("not-dis", _datasets("name: ATLAS_Z0_7TEV_36PB_ETA"), "ATLAS", "data.datasets[0].name",
     ["only DIS is supported"]),
    ("duplicate-dataset", _datasets(f"name: {BCDMS}", f"name: {SLAC}", f"name: {BCDMS}, frac: 0.5"), "0.5",
     "data.datasets[2].name", ["already data.datasets[0]"]),
    ("duplicate-other-variant", _datasets(f"name: {SLAC}", f"name: {SLAC}, variant: legacy"), "variant",
     "data.datasets[1].name", ["already data.datasets[0]"]),
    ("no-dataset", "  datasets: []\n", "datasets", "data.datasets", ["no dataset given"]),
]


@pytest.mark.parametrize("data, marker, key, fragments", [r[1:] for r in CUTS_AND_DATASETS],
                         ids=[r[0] for r in CUTS_AND_DATASETS])
def test_dataset_mistakes_are_located_runcard_errors(run_cli, tmp_path, data, marker, key, fragments):
    card = _card(tmp_path, data=data)
    code, _, err = _fit(run_cli, card)
    assert code == 2, err
    _assert_located(err, card, marker, key, *fragments)


SECTIONS = [
    # (id, extra runcard sections, marker, key, fragments)
    ("lhapdf-qmax-below-q0", "lhapdf: {name: set, q_max: 1.5}", "q_max", "lhapdf.q_max", ["Q0 = 1.65"]),
    ("lhapdf-qmax-infinite", "lhapdf: {name: set, q_max: .inf}", "q_max", "lhapdf.q_max", ["finite"]),
    ("lhapdf-qmax-above-evolution", "lhapdf: {name: set, q_max: 1.0e6}", "q_max", "lhapdf.q_max",
     ["evolution range"]),
    ("lhapdf-qmax-at-most-one", "lhapdf: {name: set, q_max: 1.0}", "q_max", "lhapdf.q_max", ["must be > 1"]),
    ("lhapdf-x-points-one", "lhapdf: {name: set, x_points: 1}", "x_points", "lhapdf.x_points", ["must be >= 10"]),
    ("lhapdf-xmin-large", "lhapdf: {name: set, xmin: 0.5}", "xmin", "lhapdf.xmin", ["must be < 0.1"]),
    ("lhapdf-xmin-zero", "lhapdf: {name: set, xmin: 0}", "xmin", "lhapdf.xmin", ["must be > 0"]),
    ("lhapdf-xmin-negative", "lhapdf: {name: set, xmin: -1.0e-3}", "xmin", "lhapdf.xmin", ["must be > 0"]),
    ("lhapdf-name-path", "lhapdf: {name: ../elsewhere}", "name: ../", "lhapdf.name", ["not a plain LHAPDF set"]),
    ("q-values-below-q0", "output_grid: {q_values: [1.0, 100.0]}", "q_values", "output_grid.q_values[0]",
     ["outside the evolution range", "Q0 = 1.65"]),
    ("q-values-nan", "output_grid: {q_values: [100.0, .nan]}", "q_values", "output_grid.q_values[1]",
     ["finite"]),
    ("q-values-too-high", "output_grid: {q_values: [1.0e7]}", "q_values", "output_grid.q_values[0]",
     ["100000"]),
    ("preprocessing-unknown-flavour", "model: {preprocessing: {sigma: {alpha: [1, 1.1], beta: [1, 2]}}}",
     "sigma", "model.preprocessing.sigma", ["unknown flavour 'sigma'", "valid: Sigma, g"]),
    ("preprocessing-reversed", "model: {preprocessing: {g: {alpha: [1.1, 0.9], beta: [2, 3]}}}", "preprocessing",
     "model.preprocessing.g.alpha", ["low <= high"]),
    ("preprocessing-one-value", "model: {preprocessing: {g: {alpha: [1.1], beta: [2, 3]}}}", "preprocessing",
     "model.preprocessing.g.alpha", ["[low, high]"]),
    ("preprocessing-nan", "model: {preprocessing: {V: {alpha: [0.5, 0.6], beta: [.nan, 3]}}}", "preprocessing",
     "model.preprocessing.V.beta[0]", ["finite"]),
    ("integrability-x-zero", "integrability: {x: [0.0]}", "x: [0.0]", "integrability.x[0]", ["must be > 0"]),
    ("integrability-x-one", "integrability: {x: [1.0e-9, 1.0]}", "x: [", "integrability.x[1]", ["must be < 1"]),
    ("architecture-zero-width", "model: {architecture: [25, 0]}", "architecture", "model.architecture[1]",
     ["must be >= 1"]),
]


@pytest.mark.parametrize("extra, marker, key, fragments", [r[1:] for r in SECTIONS], ids=[r[0] for r in SECTIONS])
def test_section_mistakes_are_located_before_fk_tables(run_cli, tmp_path, extra, marker, key, fragments):
    card = _card(tmp_path, extra=extra + "\n")
    code, _, err = _fit(run_cli, card)
    assert code == 2, err
    _assert_located(err, card, marker, key, *fragments)


# ---- t0.fit / closure.fit: the earlier fit's results file ----------------------------------------------

def _pdf_results(path: Path, xgrid=pdf_synthetic.XGRID, task: str = "pdf-fit", chi2: float = 1.0,
                 basis: float | None = None, drop: str | None = None) -> Path:
    """A small pdf-fit-like results file: 2 replicas of the LH toy on ``xgrid``, chi2/point ``chi2``."""
    pdf = np.stack([lh_toy_basis(xgrid)] * 2)
    if basis is not None:
        pdf[:] = basis
    replicas = {"replica_id": np.arange(2), "pdf/fk/basis": pdf, "positivity/ok": np.ones(2, dtype=bool),
                "arclength": np.ones((2, 7)), f"chi2_exp/{SLAC}": np.full(2, 10.0 * chi2)}
    replicas.pop(drop, None)
    runcard = f"task: pdf-fit\nreplicas: 2\ndata:\n  datasets:\n    - {{name: {SLAC}}}\n"
    return results.write(path, task=task, runcard_text=runcard, runcard_sha256="0" * 64,
                         runcard_path=str(path.with_suffix(".yaml")), resolved={}, provenance={},
                         replicas=replicas, summary={"fk_xgrid": xgrid, "ndata": np.array([10]),
                                                     "datasets": np.array([SLAC])})


def _no_file(tmp: Path) -> str:
    return "missing.h5"


def _text_file(tmp: Path) -> str:
    (tmp / "notes.h5").write_text("not HDF5\n")
    return "notes.h5"


def _folder(tmp: Path) -> str:
    (tmp / "folder.h5").mkdir()
    return "folder.h5"


def _toy_results(tmp: Path) -> str:
    _pdf_results(tmp / "toy.h5", task="toy-regression")
    return "toy.h5"


def _without_fk_pdfs(tmp: Path) -> str:
    _pdf_results(tmp / "old.h5", drop="pdf/fk/basis")
    return "old.h5"


def _all_rejected(tmp: Path) -> str:
    _pdf_results(tmp / "bad.h5", chi2=50.0)
    return "bad.h5"


def _infinite_pdf(tmp: Path) -> str:
    _pdf_results(tmp / "inf.h5", basis=np.inf)
    return "inf.h5"


FIT_FILES = [
    # (id, maker of the file (returns its name), fragments)
    ("missing-file", _no_file, ["missing.h5", "no such results file"]),
    ("not-hdf5", _text_file, ["notes.h5", "unreadable HDF5"]),
    ("a-folder", _folder, ["folder.h5"]),
    ("other-task", _toy_results, ["toy.h5", "toy-regression fit, not a pdf-fit"]),
    ("no-fk-grid-pdfs", _without_fk_pdfs, ["old.h5", "lacks pdf/fk/basis"]),
    ("no-replica-passes-postfit", _all_rejected, ["bad.h5", "no replica passes postfit"]),
    ("non-finite-pdf", _infinite_pdf, ["inf.h5", "not finite"]),
]


@pytest.mark.parametrize("section, choice", [("t0", "source"), ("closure", "truth")])
@pytest.mark.parametrize("make, fragments", [r[1:] for r in FIT_FILES], ids=[r[0] for r in FIT_FILES])
def test_earlier_fit_files_are_refused_at_their_key(run_cli, tmp_path, section, choice, make, fragments):
    name = make(tmp_path)
    card = _card(tmp_path, extra=f"{section}:\n  {choice}: fit\n  fit: {name}\n")
    code, _, err = _fit(run_cli, card)
    assert code == 2, err
    _assert_located(err, card, f"fit: {name}", f"{section}.fit", *fragments)


@pytest.mark.parametrize("extra, marker, key, fragments", [
    ("t0: {source: fit}", "t0:", "t0.source", ["source: fit needs `t0.fit"]),
    ("closure: {truth: fit}", "closure:", "closure.truth", ["truth: fit needs `closure.fit"]),
    ("t0: {source: lh_toy, fit: earlier.h5}", "t0:", "t0.fit", ["t0.source is lh_toy", "`source: fit`"]),
    ("closure: {fit: earlier.h5}", "closure:", "closure.fit", ["closure.truth is not set"]),
], ids=["t0-fit-without-file", "closure-fit-without-file", "t0-file-unused", "closure-file-unused"])
def test_earlier_fit_keys_must_agree(run_cli, tmp_path, extra, marker, key, fragments):
    card = _card(tmp_path, extra=extra + "\n")
    code, _, err = _fit(run_cli, card)
    assert code == 2, err
    _assert_located(err, card, marker, key, *fragments)


# ---- after the FK tables: synthetic tables in place of the built ones -------------------------------------

@pytest.fixture
def synthetic_fk(monkeypatch):
    """Use synthetic FK tables; returns a function to install a loader with other options. A fit that got past
    its check would end in the evolution of its outputs: that fails the test instead of running eko."""
    from mlhep.physics import evolution

    def no_eko(*args, **kwargs):
        raise AssertionError("a bad input reached the evolution of the outputs (eko must not run in tests)")

    def install(**options):
        monkeypatch.setattr(fktable, "load_fktable", pdf_synthetic.fake_fktable_loader(**options))
    monkeypatch.setattr(evolution, "node_operators", no_eko)
    install()
    return install


def test_earlier_fit_on_another_x_grid_is_refused(run_cli, tmp_path, synthetic_fk):
    _pdf_results(tmp_path / "coarse.h5", xgrid=np.geomspace(1e-5, 0.9, 30))
    card = _card(tmp_path, extra="t0: {source: fit, fit: coarse.h5}\n")
    code, _, err = _fit(run_cli, card)
    assert code == 2, err
    _assert_located(err, card, "t0:", "t0.fit", "coarse.h5", "another FK x grid")


@pytest.mark.parametrize("value, fragments", [
    (np.inf, [f"FK table of {SLAC} (LO) has infinite entries", "rebuild"]),
    (np.nan, [f"FK table of {SLAC}", "lacks some selected points"]),
], ids=["fk-table-infinite", "fk-table-nan"])
def test_broken_fk_table_never_reaches_the_chi2(run_cli, tmp_path, synthetic_fk, value, fragments):
    synthetic_fk(poison={SLAC: value})
    card = _card(tmp_path)
    code, _, err = _fit(run_cli, card)
    assert code == 4, err               # a theory error (DataError), naming the dataset
    for fragment in fragments:
        assert fragment in err, err
    assert "Traceback" not in err


def _with_uncertainties(monkeypatch, dataset: str, **changes):
    """Let commondata return ``dataset`` with its uncertainties replaced (a broken data file)."""
    real = commondata.load_dataset

    def load(name, *args, **kwargs):
        loaded = real(name, *args, **kwargs)
        if name != dataset:
            return loaded
        u = loaded.uncertainties
        new = {k: (v(u) if callable(v) else v) for k, v in changes.items()}
        return dataclasses.replace(loaded, uncertainties=dataclasses.replace(u, **new))
    monkeypatch.setattr(commondata, "load_dataset", load)


@pytest.mark.parametrize("changes, fragments", [
    (dict(stat=lambda u: np.zeros_like(u.stat), sys=lambda u: np.zeros_like(u.sys)),
     [f"{SLAC}: zero uncertainty at point(s) 0, 1, 2, 3, 4 and 28 more", "covariance is singular"]),
    (dict(stat=lambda u: np.zeros_like(u.stat), sys=lambda u: u.sys[:, :1] * 0 + 0.01, treatment=("ADD",),
          names=("CORR",)),
     [f"{SLAC}: covariance is singular (rank 1 for 33 points)", "uncorrelated"]),
    (dict(central=lambda u: np.where(np.arange(len(u.central)) == 3, np.nan, u.central)),
     [f"{SLAC}: central value is not finite", "point(s) 3"]),
    (dict(stat=lambda u: np.where(np.arange(len(u.stat)) == 0, np.inf, u.stat)),
     [f"{SLAC}: statistical error is not finite", "point(s) 0"]),
], ids=["zero-errors", "only-correlated-errors", "nan-central-value", "infinite-error"])
def test_broken_uncertainties_are_data_errors_naming_the_dataset(run_cli, tmp_path, synthetic_fk, monkeypatch,
                                                                   changes, fragments):
    _with_uncertainties(monkeypatch, SLAC, **changes)
    code, _, err = _fit(run_cli, _card(tmp_path))
    assert code == 4, err
    for fragment in fragments:
        assert fragment in err, err
    assert "Traceback" not in err and "LinAlgError" not in err


def test_closure_level0_with_zero_errors_names_the_dataset():
    """A level-0 closure on synthetic data without uncertainties: singular covariance, named."""
    datasets = pdf_synthetic.closure_datasets(fluctuate=False, stat_scale=0.0)
    datasets = [dataclasses.replace(d, uncertainties=dataclasses.replace(d.uncertainties, sys=d.uncertainties.sys * 0))
                for d in datasets]
    with pytest.raises(DataError, match="F2p: zero uncertainty at point"):
        build_problem(datasets)


def test_t0_prediction_not_finite_names_the_dataset():
    datasets = pdf_synthetic.closure_datasets(fluctuate=False)
    t0 = lh_toy_basis(pdf_synthetic.XGRID)
    t0[:, -5:] = np.nan
    with pytest.raises(DataError, match="F2p: t0 prediction is not finite"):
        build_problem(datasets, t0=t0)


def test_no_validation_point_is_the_documented_rule(tmp_path, synthetic_fk, capsys):
    """frac 1 everywhere: no validation point; early stopping watches the training chi2 and says so."""
    from mlhep.fit import load
    from mlhep.task import RunContext

    card = _card(tmp_path, data=_datasets(f"name: {BCDMS}, frac: 1.0", f"name: {SLAC}, frac: 1"))
    runcard, task = load(card)
    ctx = RunContext(runcard_path=card, seed=0, replica_ids=np.arange(1), fail=runcard.fail, train=None)
    problem = task.setup(runcard.config, ctx)
    assert problem.n_valid == 0
    assert "no validation point" in capsys.readouterr().out
