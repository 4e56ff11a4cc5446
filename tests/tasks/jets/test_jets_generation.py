"""A tiny Pythia 8 + FastJet generation: the selection, the top mass peak, reproducibility and the array split."""
from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import h5py
import numpy as np
import pytest

pytest.importorskip("pythia8mc", reason="pythia8mc not installed (pip install pythia8mc==8.317.2)")
pytest.importorskip("fastjet", reason="fastjet not installed (pip install fastjet==3.5.2.0)")

from mlhep.tasks.jets.chunk import ChunkSpec, generate_chunk  # noqa: E402
from mlhep.tasks.jets.h5io import JET_DATASETS, read_jets  # noqa: E402
from mlhep.tasks.jets.kinematics import delta_r_eta_phi, mass, pseudorapidity, pt  # noqa: E402
from mlhep.tasks.jets.production import ProductionPlan, produce  # noqa: E402
from mlhep.tasks.jets.sample import SampleDefinition  # noqa: E402

N_JETS = 30                  # per class
PLAN = ProductionPlan(n_jets=N_JETS, seed=11, chunk_size=N_JETS // 2, batch_events=50)
SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "generate_jets.py"


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    path = tmp_path_factory.mktemp("jets") / "jets.h5"
    stats = produce(PLAN, path, workers=1, progress=False)
    return path, stats


def test_selection(generated):
    path, stats = generated
    jets = read_jets(path)
    s = PLAN.sample
    top, qcd = jets.label == 1, jets.label == 0
    assert top.sum() == qcd.sum() == N_JETS
    assert stats["top"]["jets"] == stats["qcd"]["jets"] == N_JETS
    jet_p4 = jets.jet_p4.astype(np.float64)
    assert np.all((pt(jet_p4) >= s.jet_pt_min) & (pt(jet_p4) <= s.jet_pt_max))
    assert np.all(np.abs(pseudorapidity(jet_p4)) < s.jet_abs_eta_max)
    # tops: contained (the top itself within 0.8; its quarks are checked at selection), on shell; QCD: no top
    top_p4 = jets.top_p4.astype(np.float64)
    assert np.all(delta_r_eta_phi(top_p4[top], jet_p4[top]) < s.top_match_r)
    assert np.all((mass(top_p4[top]) > 160) & (mass(top_p4[top]) < 185))
    assert np.all(jets.top_p4[qcd] == 0)
    # constituents: pT-descending, zero-padded, at most 200, summing to the jet when none was cut away
    c = jets.constituents.astype(np.float64)
    present = c[..., 0] > 0
    n_present = present.sum(axis=1)
    assert jets.constituents.shape[1:] == (200, 4)
    np.testing.assert_array_equal(n_present, np.minimum(jets.n_constituents, 200))
    assert np.all(present[:, :-1] >= present[:, 1:])                     # padding only at the end
    pts = pt(c)
    assert np.all(np.diff(pts, axis=1)[present[:, 1:]] <= 1e-4)
    whole = jets.n_constituents <= 200
    np.testing.assert_allclose(c[whole].sum(axis=1), jet_p4[whole], rtol=1e-4, atol=1e-2)


def test_top_mass_peak(generated):
    """Top jets peak near the top mass (173 GeV); QCD jets at 550-650 GeV mostly lie well below."""
    jets = read_jets(generated[0])
    m = mass(jets.constituents.astype(np.float64).sum(axis=1))
    top, qcd = m[jets.label == 1], m[jets.label == 0]
    window = (135, 210)
    in_top = np.mean((top > window[0]) & (top < window[1]))
    in_qcd = np.mean((qcd > window[0]) & (qcd < window[1]))
    assert 150 < np.median(top) < 190 and in_top > 0.6, (np.median(top), in_top)
    assert np.median(qcd) < 120 and in_qcd < 0.35, (np.median(qcd), in_qcd)


def test_chunks_are_reproducible(generated):
    """A chunk depends only on (seed, process, index): regenerating one reproduces the file's rows exactly."""
    jets = read_jets(generated[0])
    spec = ChunkSpec(process="top", index=1, n_jets=N_JETS // 2, seed=PLAN.seed, sample=PLAN.sample,
                     detector=PLAN.detector, batch_events=PLAN.batch_events)
    again = generate_chunk(spec)
    with h5py.File(generated[0]) as f:
        rows = (f["label"][()] == 1) & (f["chunk"][()] == 1)
    np.testing.assert_array_equal(again["constituents"], jets.constituents[rows])
    np.testing.assert_array_equal(again["top_p4"], jets.top_p4[rows])


@pytest.mark.slow
def test_array_split_and_merge_equal_single_job(generated, tmp_path):
    """Two array tasks through the command-line script (one with 2 worker processes), merged: identical file."""
    spec = importlib.util.spec_from_file_location("generate_jets", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    common = ["generate", "-o", str(tmp_path / "jets.h5"), "--n-jets", str(N_JETS), "--seed", str(PLAN.seed),
              "--chunk-size", str(PLAN.chunk_size), "--batch-events", str(PLAN.batch_events), "--quiet",
              "--task-count", "2"]
    assert script.main(common + ["--task-index", "0", "--workers", "2"]) == 0
    assert script.main(common + ["--task-index", "1"]) == 0
    parts = sorted(tmp_path.glob("jets.part*of2.h5"))
    assert [p.name for p in parts] == ["jets.part0of2.h5", "jets.part1of2.h5"]
    assert script.main(["merge", *map(str, parts), "-o", str(tmp_path / "merged.h5")]) == 0
    with h5py.File(generated[0]) as a, h5py.File(tmp_path / "merged.h5") as b:
        for name in JET_DATASETS:
            np.testing.assert_array_equal(a[name][()], b[name][()])
        assert a.attrs["generation"] == b.attrs["generation"]


def test_particle_level_and_all_jets():
    """Without the detector the constituents are the final-state particles; with leading_only off, every jet in
    the window is kept. The selection holds in both."""
    sample = dataclasses.replace(SampleDefinition(), leading_only=False)
    out = generate_chunk(ChunkSpec(process="top", index=0, n_jets=3, seed=2, sample=sample, detector=None,
                                   batch_events=20))
    jet_p4 = out["jet_p4"].astype(np.float64)
    assert np.all((pt(jet_p4) >= 550) & (pt(jet_p4) <= 650) & (np.abs(pseudorapidity(jet_p4)) < 2))
    assert np.all(delta_r_eta_phi(out["top_p4"].astype(np.float64), jet_p4) < 0.8)
    c = out["constituents"].astype(np.float64)
    m_constituents = mass(c[c[..., 0] > 0])
    assert np.any(m_constituents > 0.1)        # hadrons keep their masses (the detector's towers are massless)
