"""NNPDF commondata reader: point counts after the NNPDF4.0 cuts, absolute uncertainties, covariance, errors."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("nnpdf_data")

from mlhep.errors import DataError  # noqa: E402
from mlhep.stats.covariance import covariance  # noqa: E402
from mlhep.tasks.pdf.commondata import available_datasets, kinematic_mask, load_dataset  # noqa: E402

# Points after cuts in NNPDF4.0 (arXiv:2109.02653, table 2.1) reproduced by W^2 = Q^2(1-x)/x > 12.5,
# Q^2 > 3.49 GeV^2 (strict, as validphys).
NNPDF40_POINTS = {
    "BCDMS_NC_NOTFIXED_P_EM-F2": 333,
    "NMC_NC_NOTFIXED_P_EM-SIGMARED": 204,
    "SLAC_NC_NOTFIXED_P_EM-F2": 33,
    "HERA_NC_318GEV_EP-SIGMARED": 377,
    "HERA_NC_318GEV_EM-SIGMARED": 159,
    "HERA_NC_300GEV_EP-SIGMARED": 70,
    "HERA_CC_318GEV_EP-SIGMARED": 39,
    "BCDMS_NC_NOTFIXED_D_EM-F2": 248,
    "SLAC_NC_NOTFIXED_D_EM-F2": 34,
}


def test_available_datasets_are_the_charged_lepton_dis_of_nnpdf40():
    names = available_datasets()
    assert "BCDMS_NC_NOTFIXED_P_EM-F2" in names and "HERA_CC_318GEV_EM-SIGMARED" in names
    assert "BCDMS_NC_NOTFIXED_D_EM-F2" in names and "SLAC_NC_NOTFIXED_D_EM-F2" in names
    assert len(names) == 12


@pytest.mark.parametrize("name, expected", sorted(NNPDF40_POINTS.items()))
def test_points_after_cuts_match_nnpdf40(name, expected):
    data = load_dataset(name)
    assert data.variant == "legacy"
    assert len(data.central) == expected == int(data.mask.sum())
    assert data.uncertainties.sys.shape[0] == expected


def test_bcdms_first_point_by_hand():
    """metadata + files read by hand: F2 = 0.38934 at x = 0.07, Q2 = 7.5; stat 0.006; BCDMSNORM (MULT) 3%."""
    data = load_dataset("BCDMS_NC_NOTFIXED_P_EM-F2", q2min=0.0, w2min=0.0)
    assert data.process == "DIS_NC" and data.observable == "F2"
    assert data.central[0] == pytest.approx(0.38934)
    assert data.kinematics["x"][0] == pytest.approx(0.07) and data.kinematics["Q2"][0] == pytest.approx(7.5)
    assert data.uncertainties.stat[0] == pytest.approx(0.006)
    norm = data.uncertainties.names.index("BCDMSNORM")
    assert data.uncertainties.treatment[norm] == "MULT"
    # absolute value in the new format: 3% of the central value, not "3" (percent)
    assert data.uncertainties.sys[0, norm] == pytest.approx(0.03 * 0.38934)


def test_covariance_diagonal_by_hand():
    """Diagonal of the covariance = stat^2 + sum of all systematics^2 (every column is a real source)."""
    data = load_dataset("SLAC_NC_NOTFIXED_P_EM-F2")
    cov = covariance([data.uncertainties])
    unc = data.uncertainties
    keep = np.array([n != "SKIP" for n in unc.names])
    expected = unc.stat**2 + (unc.sys[:, keep] ** 2).sum(axis=1)
    np.testing.assert_allclose(np.diag(cov), expected, rtol=1e-12)
    assert np.all(np.linalg.eigvalsh(cov) > 0)


def test_hera_shares_correlated_sources_across_datasets():
    """HERA's HC_sys* columns are one nuisance shared by every HERA dataset: off-diagonal block non-zero."""
    a = load_dataset("HERA_NC_318GEV_EP-SIGMARED")
    b = load_dataset("HERA_CC_318GEV_EP-SIGMARED")
    cov = covariance([a.uncertainties, b.uncertainties])
    assert np.abs(cov[: len(a.central), len(a.central):]).max() > 0


def test_kinematic_cuts():
    x = np.array([0.1, 0.1, 0.5, 0.9, 0.2])
    q2 = np.array([3.0, 10.0, 20.0, 50.0, 3.125])  # W2 = 27, 90, 20, 5.6, 12.5 (q2 * (1-x)/x)
    np.testing.assert_array_equal(kinematic_mask(x, q2, 3.49, 12.5), [False, True, True, False, False])
    assert kinematic_mask(x, q2, 0.0, 0.0).all()


def test_unknown_dataset_lists_close_matches():
    with pytest.raises(DataError, match="did you mean BCDMS_NC_NOTFIXED_P_EM-F2"):
        load_dataset("BCDMS_NC_NOTFIXED_P_F2")


def test_unknown_variant():
    with pytest.raises(DataError, match="no variant 'foo'.*legacy"):
        load_dataset("SLAC_NC_NOTFIXED_P_EM-F2", variant="foo")
