"""DIS FK tables: built with the script's function for 5 BCDMS points on a small grid, then checked against
(a) the LO parton model F2 = sum_q e_q^2 x (q + qbar) of the independently evolved PDF and
(b) yadism's own convolution of the same evolved PDF (its own a_s), at LO and NLO.
Those run yadism and eko (numba compiles their kernels in a new environment): the slow tier, `make test-slow`.
The known PDF is the Les Houches toy shape put at Q0 = 1.65 GeV (an nf = 3 PDF, valid fit-basis input).
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("yadism")
pytest.importorskip("nnpdf_data")

from mlhep.errors import DataError  # noqa: E402
from mlhep.physics.evolution import PIDS, evolution_operator, flavours_to_fit_basis  # noqa: E402
from mlhep.physics.lh_toy import lh_toy  # noqa: E402
from mlhep.tasks.pdf import commondata, fktable  # noqa: E402
from mlhep.physics.theorycard import theory_card  # noqa: E402

DATASET = "BCDMS_NC_NOTFIXED_P_EM-F2"
N_POINTS = 5  # x = 0.07 .. 0.1, Q^2 = 7.5 .. 17 GeV^2 (nf = 4 patch)
XGRID = np.concatenate([np.geomspace(0.01, 0.1, 8, endpoint=False), np.linspace(0.1, 1.0, 12)])
NODES = [(1.65, 4), (2.4, 4), (3.4, 4), (4.92, 4)]
E2 = {1: 1 / 9, 2: 4 / 9, 3: 1 / 9, 4: 4 / 9, 5: 1 / 9}


def _script():
    path = Path(__file__).parents[3] / "scripts" / "build_fk_tables.py"
    spec = importlib.util.spec_from_file_location("build_fk_tables", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """FK tables in a temporary folder; the small eko node operators go to the shared eko cache
    ($MLHEP_CACHE/eko): the first run computes them (minutes on a busy machine), later runs take seconds."""
    cache = tmp_path_factory.mktemp("fk")
    done = set()

    def build(order):
        if order not in done:
            status = _script().build([DATASET], order, cache, max_points=N_POINTS, xgrid=XGRID, nodes=NODES)
            assert all(s.startswith("built") for s in status.values()), status
            done.add(order)
        return cache

    return build


@pytest.fixture(scope="module")
def kinematics():
    data = commondata.load_dataset(DATASET, q2min=0.0, w2min=0.0)
    return {k: v[:N_POINTS] for k, v in data.kinematics.items()}


def _xf0():
    return flavours_to_fit_basis(lh_toy(XGRID))


@pytest.mark.slow
def test_table_shape_and_rows(built):
    fk = fktable.load_fktable(DATASET, "LO", built("LO"))
    n_all = len(commondata.load_dataset(DATASET, q2min=0.0, w2min=0.0).central)
    assert fk.table.shape == (n_all, 7, len(XGRID)) and fk.q0 == 1.65
    assert fk.theory["PTO"] == 0 and fk.theory["FNS"] == "ZM-VFNS"
    assert np.isfinite(fk.table[:N_POINTS]).all() and np.isnan(fk.table[N_POINTS:]).all()
    with pytest.raises(DataError, match="rebuild"):
        fk.rows(np.ones(n_all, dtype=bool))


@pytest.mark.slow
def test_lo_f2_is_the_parton_model(built, kinematics):
    """(a) FK(LO) x PDF = sum_q e_q^2 x (q + qbar)(x, Q) from the evolved flavours at the data x, within 1e-3."""
    fk = fktable.load_fktable(DATASET, "LO", built("LO"))
    predicted = np.einsum("iak,ak->i", fk.table[:N_POINTS], _xf0())
    expected = []
    for x, q2 in zip(kinematics["x"], kinematics["Q2"]):
        op = evolution_operator(XGRID, [np.sqrt(q2)], theory_card("LO"), xgrid_out=[x], nodes=NODES)
        xf = np.einsum("fak,ak->f", op[0, :, 0], _xf0())
        expected.append(sum(e2 * (xf[PIDS.index(q)] + xf[PIDS.index(-q)]) for q, e2 in E2.items()))
    np.testing.assert_allclose(predicted, expected, rtol=1e-3)
    assert 0.2 < predicted.min() and predicted.max() < 0.6  # F2 of a proton-like PDF at x ~ 0.1


@pytest.mark.slow
def test_lo_deuteron_f2_is_the_nucleon_average(tmp_path):
    """BCDMS deuterium: FK(LO) x PDF = (F2p + F2n)/2 per nucleon, F2n from F2p by isospin (u <-> d), within 1e-3."""
    name = "BCDMS_NC_NOTFIXED_D_EM-F2"
    status = _script().build([name], "LO", tmp_path, max_points=N_POINTS, xgrid=XGRID, nodes=NODES)
    assert all(s.startswith("built") for s in status.values()), status
    table = fktable.load_fktable(name, "LO", tmp_path).table[:N_POINTS]
    data = commondata.load_dataset(name, q2min=0.0, w2min=0.0)
    predicted = np.einsum("iak,ak->i", table, _xf0())
    swap = {1: 2, 2: 1, -1: -2, -2: -1}
    expected = []
    for x, q2 in zip(data.kinematics["x"][:N_POINTS], data.kinematics["Q2"][:N_POINTS]):
        op = evolution_operator(XGRID, [np.sqrt(q2)], theory_card("LO"), xgrid_out=[x], nodes=NODES)
        xf = np.einsum("fak,ak->f", op[0, :, 0], _xf0())
        pdf = {pid: xf[PIDS.index(pid)] for pid in PIDS}
        f2 = lambda p: sum(e2 * (p[q] + p[-q]) for q, e2 in E2.items())  # noqa: E731
        expected.append(0.5 * (f2(pdf) + f2({pid: pdf[swap.get(pid, pid)] for pid in PIDS})))
    np.testing.assert_allclose(predicted, expected, rtol=1e-3)


class _EvolvedGrid:
    """LHAPDF-like access (xfxQ2) to the evolved PDF at the data scales, on the grid nodes."""

    def __init__(self, q2_values, order):
        self.q2 = np.asarray(q2_values)
        op = evolution_operator(XGRID, np.sqrt(self.q2), theory_card(order), nodes=NODES)
        self.xf = np.einsum("qfjak,ak->qfj", op, _xf0())

    def hasFlavor(self, pid):  # noqa: N802 - LHAPDF's name
        return pid in PIDS

    def xfxQ2(self, pid, x, q2):  # noqa: N802 - LHAPDF's name
        iq = int(np.argmin(np.abs(self.q2 - q2)))
        ix = int(np.argmin(np.abs(XGRID - x)))
        assert np.isclose(self.q2[iq], q2) and np.isclose(XGRID[ix], x)
        return self.xf[iq, PIDS.index(pid), ix]


@pytest.mark.slow
@pytest.mark.parametrize("order", ["LO", "NLO"])
def test_fk_equals_yadism_direct(built, kinematics, order):
    """(b) FK x PDF equals yadism's own convolution of the evolved PDF (its own a_s running), within 1e-3."""
    import yadism

    theory = theory_card(order)
    observables = fktable.yadism_observables(DATASET, kinematics, XGRID)
    yadism.log.silent_mode = True
    output = yadism.run_yadism(fktable.yadism_theory(theory), observables)
    direct = output.apply_pdf(_EvolvedGrid(kinematics["Q2"], order))
    direct = np.array([point["result"] for point in direct["F2_total"]])
    fk = fktable.load_fktable(DATASET, order, built(order))
    predicted = np.einsum("iak,ak->i", fk.table[:N_POINTS], _xf0())
    np.testing.assert_allclose(predicted, direct, rtol=1e-3)
    if order == "NLO":
        lo = np.einsum("iak,ak->i", fktable.load_fktable(DATASET, "LO", built("LO")).table[:N_POINTS], _xf0())
        assert np.all(np.abs(predicted / lo - 1) > 1e-3)  # the NLO coefficient functions do something


def test_missing_table_tells_the_command(tmp_path):
    with pytest.raises(DataError, match="scripts/build_fk_tables.py --datasets SLAC_NC_NOTFIXED_P_EM-F2 --order NLO"):
        fktable.load_fktable("SLAC_NC_NOTFIXED_P_EM-F2", "NLO", tmp_path)


def test_observable_cards():
    kin = {"x": np.array([0.01]), "Q2": np.array([100.0]), "y": np.array([0.5])}
    cc = fktable.yadism_observables("HERA_CC_318GEV_EP-SIGMARED", kin, XGRID)
    assert cc["prDIS"] == "CC" and cc["ProjectileDIS"] == "positron" and "XSHERACC_total" in cc["observables"]
    nc = fktable.yadism_observables("HERA_NC_318GEV_EM-SIGMARED", kin, XGRID)
    assert nc["prDIS"] == "NC" and nc["ProjectileDIS"] == "electron"
    nmc = fktable.yadism_observables("NMC_NC_NOTFIXED_P_EM-SIGMARED", kin, XGRID)
    assert nmc["prDIS"] == "EM" and "XSHERANC_total" in nmc["observables"] and nmc["TargetDIS"] == "proton"
    deuteron = fktable.yadism_observables("BCDMS_NC_NOTFIXED_D_EM-F2", kin, XGRID)
    assert deuteron["TargetDIS"] == "isoscalar" and "F2_total" in deuteron["observables"]
