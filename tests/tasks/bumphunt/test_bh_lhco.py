"""Readers of the LHC Olympics R&D layouts, on tiny files in both pandas formats (h5py-written, and
pandas-written when pandas and PyTables are installed)."""
from __future__ import annotations

import numpy as np
import pytest
from bh_fixtures import write_frame

from mlhep.errors import DataError
from mlhep.tasks.bumphunt.lhco import FEATURE_COLUMNS, file_layout, read_constituents, read_features

FORMATS = ["table", "fixed"]


def feature_values(rng, n):
    """Random jets in the features layout (GeV): px, py, pz, m, tau1, tau2, tau3 per jet, then label."""
    cols = []
    for _ in range(2):
        pt, eta, phi = rng.uniform(1200, 2000, n), rng.uniform(-2, 2, n), rng.uniform(-np.pi, np.pi, n)
        m = rng.uniform(10, 600, n)
        tau1 = rng.uniform(0.1, 0.5, n)
        tau2 = tau1 * rng.uniform(0.1, 0.9, n)
        cols += [pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta), m, tau1, tau2, tau2 * 0.8]
    cols.append(rng.integers(0, 2, n).astype(float))
    return np.stack(cols, axis=1)


def check_features(ev, v):
    """Against an independent computation: m_jj = sqrt((E1 + E2)^2 - |p1 + p2|^2), jets ordered by mass."""
    e1 = np.sqrt(v[:, 0] ** 2 + v[:, 1] ** 2 + v[:, 2] ** 2 + v[:, 3] ** 2)
    e2 = np.sqrt(v[:, 7] ** 2 + v[:, 8] ** 2 + v[:, 9] ** 2 + v[:, 10] ** 2)
    mjj = np.sqrt((e1 + e2) ** 2 - ((v[:, 0:3] + v[:, 7:10]) ** 2).sum(axis=1)) / 1000
    np.testing.assert_allclose(ev.mjj, mjj, rtol=1e-9, atol=1e-12)
    light = np.where(v[:, 3] < v[:, 10], 0, 7)
    heavy = 7 - light
    rows = np.arange(len(v))
    np.testing.assert_allclose(ev.mj1, v[rows, light + 3] / 1000, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ev.dmj, (v[rows, heavy + 3] - v[rows, light + 3]) / 1000, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ev.tau21_1, v[rows, light + 5] / v[rows, light + 4], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ev.tau21_2, v[rows, heavy + 5] / v[rows, heavy + 4], rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(ev.label, v[:, -1])


@pytest.mark.parametrize("fmt", FORMATS)
def test_features_layout(tmp_path, fmt):
    v = feature_values(np.random.default_rng(1), 13)
    path = tmp_path / "events_anomalydetection_v2.features.h5"
    write_frame(path, v, list(FEATURE_COLUMNS), fmt)
    assert file_layout(path) == "features"
    check_features(read_features(path), v)
    check_features(read_features(path, start=3, stop=9), v[3:9])


def constituent_values(rng, n, p):
    particles = np.zeros((n, p, 3))
    for i in range(n):
        k = rng.integers(1, p + 1)
        particles[i, :k] = np.stack([np.sort(rng.exponential(50, k))[::-1], rng.normal(0, 1.5, k),
                                     rng.uniform(-np.pi, np.pi, k)], axis=1)
    label = rng.integers(0, 2, n)
    return np.concatenate([particles.reshape(n, 3 * p), label[:, None]], axis=1), particles, label


@pytest.mark.parametrize("fmt", FORMATS)
def test_constituent_layout(tmp_path, fmt):
    values, particles, label = constituent_values(np.random.default_rng(2), 11, 5)
    path = tmp_path / "events_anomalydetection.h5"
    write_frame(path, values, list(range(16)), fmt)           # integer column names 0 .. 3P, as in the R&D file
    assert file_layout(path) == "constituents"
    got, lab = read_constituents(path, step=4)
    np.testing.assert_allclose(got, particles.astype(np.float32))
    np.testing.assert_array_equal(lab, label)
    got, lab = read_constituents(path, start=2, stop=7, step=2)
    np.testing.assert_allclose(got, particles[2:7].astype(np.float32))
    assert got.dtype == np.float32 and lab.dtype == np.int8


def test_pandas_written(tmp_path):
    pd = pytest.importorskip("pandas", reason="pandas not installed: the h5py-written layouts are tested above")
    pytest.importorskip("tables", reason="PyTables not installed: the h5py-written layouts are tested above")
    rng = np.random.default_rng(3)
    v = feature_values(rng, 9)
    values, particles, label = constituent_values(rng, 7, 4)
    for fmt in FORMATS:
        path = tmp_path / f"features_{fmt}.h5"
        pd.DataFrame(v, columns=list(FEATURE_COLUMNS)).to_hdf(path, key="df", format=fmt, mode="w")
        check_features(read_features(path), v)
        path = tmp_path / f"constituents_{fmt}.h5"
        pd.DataFrame(values).to_hdf(path, key="df", format=fmt, mode="w")
        got, lab = read_constituents(path)
        np.testing.assert_allclose(got, particles.astype(np.float32))
        np.testing.assert_array_equal(lab, label)


def test_wrong_layouts_name_the_file(tmp_path):
    rng = np.random.default_rng(4)
    bad = tmp_path / "other.h5"
    write_frame(bad, rng.normal(size=(3, 2)), ["a", "b"], "table")
    with pytest.raises(DataError, match="other.h5: neither the LHCO features layout"):
        read_features(bad)
    no_tau = tmp_path / "no_tau.h5"
    write_frame(no_tau, feature_values(rng, 3)[:, :-2], list(FEATURE_COLUMNS[:-2]), "fixed")
    with pytest.raises(DataError, match="no_tau.h5: .*missing: tau3j2"):
        read_features(no_tau)
    ints = tmp_path / "ints.h5"
    write_frame(ints, rng.normal(size=(3, 5)), list(range(5)), "fixed")       # 5 = 3P + 1 fails
    with pytest.raises(DataError, match="ints.h5: integer columns 0..4 are not the LHCO constituent layout"):
        read_constituents(ints)
    feats = tmp_path / "f.h5"
    write_frame(feats, feature_values(rng, 3), list(FEATURE_COLUMNS), "fixed")
    with pytest.raises(DataError, match="f.h5: this is the LHCO features table"):
        read_constituents(feats)
    badlabel = feature_values(rng, 3)
    badlabel[0, -1] = 2
    write_frame(feats, badlabel, list(FEATURE_COLUMNS), "table")
    with pytest.raises(DataError, match="f.h5: the label column"):
        read_features(feats)
    text = tmp_path / "text.h5"
    text.write_text("not hdf5")
    with pytest.raises(DataError, match="text.h5: cannot open as HDF5"):
        file_layout(text)
    with pytest.raises(DataError, match="f.h5: no group /nope"):
        read_features(feats, key="nope")


def test_constituents_are_clustered_into_events(tmp_path):
    """Two narrow sprays of massless particles back to back (each of known total four-momentum) in the
    constituent layout: ``load_events`` clusters them into the two jets, whose m_jj and masses are those of the
    sprays' sums; tau21 of a two-prong spray is small, of a one-prong spray larger."""
    pytest.importorskip("fastjet", reason="fastjet not installed (pip install fastjet==3.5.2.0)")
    from mlhep.tasks.bumphunt.lhco import load_events
    from mlhep.tasks.jets.kinematics import from_pt_eta_phi_m, mass

    rng = np.random.default_rng(6)
    n, per = 4, 30
    rows, sums = [], []
    for i in range(n):
        eta1, phi1 = rng.uniform(-1, 1), rng.uniform(-np.pi, np.pi)
        # jet A: two prongs 0.3 apart; jet B: one prong; opposite in phi
        parts = []
        for k in range(per):
            prong = 0.3 * (k % 2)
            parts.append((rng.uniform(20, 60), eta1 + prong + rng.normal(0, 0.01), phi1 + rng.normal(0, 0.01), 0))
            parts.append((rng.uniform(20, 60), -eta1 + rng.normal(0, 0.02), phi1 + np.pi + rng.normal(0, 0.02), 1))
        parts = np.array(parts)
        p4 = from_pt_eta_phi_m(parts[:, 0], parts[:, 1], parts[:, 2])
        sums.append((p4[parts[:, 3] == 0].sum(axis=0), p4[parts[:, 3] == 1].sum(axis=0)))
        order = np.argsort(-parts[:, 0])
        rows.append(parts[order, :3].ravel())
    p = 2 * per + 3                           # padding: three empty particles per event
    values = np.zeros((n, 3 * p + 1))
    for i, r in enumerate(rows):
        values[i, :r.size] = r
    values[:, -1] = [0, 1, 0, 1]
    path = tmp_path / "events_anomalydetection.h5"
    write_frame(path, values, list(range(3 * p + 1)), "fixed")
    ev = load_events(path)
    sums = np.array(sums)                                # (n, 2, 4)
    np.testing.assert_allclose(ev.mjj, mass(sums.sum(axis=1)) / 1000, rtol=1e-5)
    m = mass(sums) / 1000
    np.testing.assert_allclose(ev.mj1 + ev.dmj, m.max(axis=1), rtol=1e-5)
    np.testing.assert_allclose(ev.mj1, m.min(axis=1), rtol=1e-4, atol=1e-7)
    two_prong = np.where(m[:, 0] > m[:, 1], ev.tau21_2, ev.tau21_1)
    one_prong = np.where(m[:, 0] > m[:, 1], ev.tau21_1, ev.tau21_2)
    assert np.all(two_prong < 0.3) and np.all(one_prong > two_prong)
    np.testing.assert_array_equal(ev.label, [0, 1, 0, 1])
