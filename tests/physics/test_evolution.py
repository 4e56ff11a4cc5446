"""eko evolution: flavour rotations, sum rules of the evolved Les Houches toy, the LH benchmark tables, and the
accuracy of the operator interpolation in the scale.

The LH-toy tests at LO read the node operators from the theory bundle; those at NLO, and the direct eko runs, are
in the slow tier (eko computes the NLO toy operators once: about 15 min on one free core).
"""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("eko")

from mlhep.physics.evolution import (  # noqa: E402
    PIDS, evolution_operator, fit_basis_to_flavours, flavours_to_fit_basis, node_grid, run_eko,
)
from mlhep.physics.lh_toy import lh_cache_ready, lh_toy, lh_toy_at  # noqa: E402
from mlhep.physics.theorycard import theory_card  # noqa: E402


def _need_cache(order):
    """The toy's LO node operators ship in the theory bundle; at NLO (slow tier) eko computes them once
    (about 15 min on a free core) into $MLHEP_CACHE/eko."""
    assert order == "NLO" or lh_cache_ready(order), f"LH toy eko operators at {order} are not bundled"


def _pid(xf, pid):
    return xf[..., PIDS.index(pid), :]


def test_rotation_definitions_and_inverse():
    """Sigma = sum_q (q + qbar), V3 = u- - d-, T8 = u+ + d+ - 2 s+; rotations invert each other."""
    rng = np.random.default_rng(0)
    fit = rng.normal(size=(2, 7, 4))
    xf = fit_basis_to_flavours(fit)
    quarks = [1, 2, 3, 4, 5, 6]
    np.testing.assert_allclose(sum(_pid(xf, q) + _pid(xf, -q) for q in quarks), fit[:, 0], atol=1e-14)
    np.testing.assert_allclose(_pid(xf, 21), fit[:, 1], atol=1e-14)
    minus = {q: _pid(xf, q) - _pid(xf, -q) for q in (1, 2, 3)}
    plus = {q: _pid(xf, q) + _pid(xf, -q) for q in (1, 2, 3)}
    np.testing.assert_allclose(minus[2] - minus[1], fit[:, 3], atol=1e-14)
    np.testing.assert_allclose(plus[2] + plus[1] - 2 * plus[3], fit[:, 6], atol=1e-14)
    assert np.all(_pid(xf, 4) == 0) and np.all(_pid(xf, -5) == 0)
    np.testing.assert_allclose(flavours_to_fit_basis(xf), fit, atol=1e-14)


def _integrals(xf, x):
    """(momentum fraction, number of u_v) by the trapezoidal rule in ln x; xf (13, n).

    The momentum below x[0] = 1e-7 (2.6e-4 at 100 GeV) is added as the integral of a power law through the two
    smallest-x points (the evolved small-x singlet behaves as x^-lambda).
    """
    lnx = np.log(x)
    density = xf.sum(axis=0)
    momentum = np.trapezoid(x * density, lnx)
    power = np.log(density[1] / density[0]) / np.log(x[1] / x[0])  # density ~ x^power
    momentum += density[0] * x[0] / (1 + power)
    uv = np.trapezoid(_pid(xf, 2) - _pid(xf, -2), lnx)
    return momentum, uv


FINE_X = np.concatenate([np.geomspace(1e-7, 0.1, 1500, endpoint=False), np.linspace(0.1, 1.0, 1500)])


ORDERS = ["LO", pytest.param("NLO", marks=pytest.mark.slow)]   # the NLO toy operators are not bundled: eko


@pytest.mark.parametrize("order", ORDERS)
def test_lh_toy_sum_rules_at_100_gev(order):
    """Momentum = 1 and N(u_v) = 2 at Q0 and after evolution to 100 GeV, within 1e-3 (fine grid down to 1e-7).

    Measured at LO: momentum 0.99915, N(u_v) = 1.99994. The momentum deficit grows ~linearly with ln Q
    (1.7e-3 at 10 TeV): the accuracy of eko's x-space singlet operator on the 50-point grid.
    """
    _need_cache(order)
    momentum0, uv0 = _integrals(lh_toy(FINE_X), FINE_X)
    assert momentum0 == pytest.approx(1.0, abs=1e-3) and uv0 == pytest.approx(2.0, abs=1e-3)
    xf = lh_toy_at(100.0, FINE_X, order=order)
    momentum, uv = _integrals(xf, FINE_X)
    assert momentum == pytest.approx(1.0, abs=1e-3)
    assert uv == pytest.approx(2.0, abs=1e-3)
    assert np.all(_pid(xf, 5)[FINE_X < 0.5] > 0) and np.all(_pid(xf, 6) == 0)  # b generated, below m_t


# Giele et al., hep-ph/0204316, tables 2 (LO) and 4 (NLO), ZM-VFNS, mu_F^2 = mu_R^2 = 10^4 GeV^2, at
# x = 1e-4, 1e-3, 1e-2, 0.1, 0.3, 0.5 (as shipped in ekomark/benchmark/external/LHA.yaml).
LH_X = np.array([1e-4, 1e-3, 1e-2, 0.1, 0.3, 0.5])
LH_TABLES = {
    "LO": {"u_v": [1.0186e-2, 5.0893e-2, 2.2080e-1, 5.7166e-1, 3.7597e-1, 1.3284e-1],
           "L_p": [1.1406e+1, 5.0424e+0, 2.0381e+0, 4.0496e-1, 3.9592e-2, 2.8066e-3],
           "g": [9.6048e+1, 3.1333e+1, 7.7728e+0, 8.4358e-1, 7.8026e-2, 7.4719e-3]},
    "NLO": {"u_v": [1.3039e-2, 5.8507e-2, 2.3128e-1, 5.5324e-1, 3.5129e-1, 1.2130e-1],
            "L_p": [1.4822e+1, 6.1772e+0, 2.2500e+0, 3.9099e-1, 3.5463e-2, 2.3775e-3],
            "g": [8.9513e+1, 3.0245e+1, 7.7491e+0, 8.5586e-1, 7.9625e-2, 7.7265e-3]},
}


@pytest.mark.parametrize("order", ORDERS)
def test_lh_benchmark_table(order):
    """x u_v, x L+ = 2 x (ubar + dbar) and x g at 100 GeV agree with the LH tables within 2e-3 relative.

    eko itself reproduces the tables to ~1e-4; the rest is our 50-point x-grid, the scale spline and the 10
    steps of the iterated solution. Measured: u_v within 7e-5 (LO and NLO), g within 9e-4 (LO) and 1.4e-3 (NLO),
    L+ within 7.5e-4 (LO) and 1.2e-3 (NLO) -- except the NLO sea at x = 0.5, 8.3e-3 off (x L+ = 2.4e-3 there,
    50 times below x u_v), which gets 1e-2.
    """
    _need_cache(order)
    xf = lh_toy_at(100.0, LH_X, order=order)
    ours = {"u_v": _pid(xf, 2) - _pid(xf, -2), "L_p": 2 * (_pid(xf, -1) + _pid(xf, -2)), "g": _pid(xf, 21)}
    for name, reference in LH_TABLES[order].items():
        rtol = np.full(len(LH_X), 2e-3)
        if order == "NLO" and name == "L_p":
            rtol[LH_X == 0.5] = 1e-2
        np.testing.assert_array_less(np.abs(ours[name] / np.array(reference) - 1), rtol, err_msg=name)


@pytest.mark.slow
def test_scale_spline_matches_direct_eko(tmp_path):
    """The operator interpolated between 4 nodes equals a direct eko run at an off-node scale (< 5e-4)."""
    theory = theory_card("LO")
    xgrid = np.concatenate([np.geomspace(0.01, 0.1, 5, endpoint=False), np.linspace(0.1, 1.0, 8)])
    nodes = node_grid(theory, q_max=4.92, per_patch=4)
    assert [nf for _, nf in nodes] == [4, 4, 4, 4]
    q = 2.8
    spline = evolution_operator(xgrid, [q], theory, cache=tmp_path, nodes=nodes)
    direct = run_eko(theory, xgrid, [(q, 4)])
    xf0 = flavours_to_fit_basis(lh_toy(xgrid))
    a = np.einsum("qfjak,ak->qfj", spline, xf0)
    b = np.einsum("qfjak,ak->qfj", direct, xf0)
    big = np.abs(b) > 1e-3
    assert np.max(np.abs(a[big] / b[big] - 1)) < 5e-4
    # reproducible to the last bit (results files and LHAPDF grids of two identical fits must agree exactly),
    # and a node is reproduced exactly by the interpolating polynomial
    again = evolution_operator(xgrid, [q], theory, cache=tmp_path, nodes=nodes)
    np.testing.assert_array_equal(again, spline)
    at_node = evolution_operator(xgrid, [nodes[2][0]], theory, cache=tmp_path, nodes=nodes)
    np.testing.assert_allclose(at_node[0], run_eko(theory, xgrid, [nodes[2]])[0], rtol=0, atol=1e-12)


def test_scale_out_of_range(tmp_path):
    with pytest.raises(ValueError, match="scales must lie in"):
        evolution_operator(np.linspace(0.1, 1, 6), [1.0], theory_card("LO"), cache=tmp_path,
                           nodes=[(1.65, 4), (2.0, 4), (3.0, 4), (4.92, 4)])
