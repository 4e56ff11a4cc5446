"""A tiny Pythia 8 + FastJet dijet generation: the selection, the W' -> X Y mass peaks, reproducibility, reading
back as Events, and the array split + merge."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import h5py
import numpy as np
import pytest

pytest.importorskip("pythia8mc", reason="pythia8mc not installed (pip install pythia8mc==8.317.2)")
pytest.importorskip("fastjet", reason="fastjet not installed (pip install fastjet==3.5.2.0)")

from mlhep.tasks.bumphunt.generate import (DATASETS, DijetChunk, DijetPlan, generate_chunk,  # noqa: E402
                                           generation_settings, produce, read_generated)
from mlhep.tasks.bumphunt.pythia_dijets import pythia_settings  # noqa: E402
from mlhep.tasks.jets.kinematics import mass, pseudorapidity, pt  # noqa: E402

PLAN = DijetPlan(n_background=16, n_signal=16, seed=3, chunk_size=8, batch_events=40)
SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "generate_lhco.py"


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    path = tmp_path_factory.mktemp("lhco") / "lhco.h5"
    stats = produce(PLAN, path, workers=1, progress=False)
    return path, stats


def test_selection_and_features(generated):
    path, stats = generated
    s = PLAN.sample
    with h5py.File(path) as f:
        p4, tau, label = f["jet_p4"][()], f["tau"][()], f["label"][()]
        assert f["chunks"].shape == (4,)
    assert stats["qcd"]["events"] == stats["wprime"]["events"] == 16 and label.sum() == 16
    lead, sub = p4[:, 0], p4[:, 1]
    assert np.all(pt(lead) > s.leading_pt_min) and np.all(np.abs(pseudorapidity(lead)) < s.leading_abs_eta_max)
    assert np.all(pt(lead) >= pt(sub)) and np.all(pt(sub) >= s.jet_pt_min)
    # exclusive-kT axes are not minimised, so tau_N need not fall with N in every jet; it does on average
    assert np.all(tau >= 0) and np.mean(tau[..., 1] <= tau[..., 0]) > 0.9 and np.mean(tau[..., 2] <= tau[..., 1]) > 0.8
    ev = read_generated(path)
    np.testing.assert_allclose(ev.mjj, mass(p4.sum(axis=1)) / 1000, rtol=1e-9)
    m = mass(p4) / 1000
    np.testing.assert_allclose(ev.mj1, m.min(axis=1), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ev.dmj, m.max(axis=1) - m.min(axis=1), rtol=1e-9, atol=1e-12)
    assert ev.weight is None and np.all(ev.tau21_1 >= 0)
    assert generation_settings(path)["sample"]["jet_r"] == 1.0


def test_signal_peaks(generated):
    """W' events: m_jj near 3.5 TeV, the lighter jet near m_Y = 100 GeV and the heavier near m_X = 500 GeV (medians;
    the jets lose some mass to out-of-cone radiation), QCD jets lighter."""
    ev = read_generated(generated[0])
    sig, bkg = ev.select(ev.label == 1), ev.select(ev.label == 0)
    assert 3.2 < np.median(sig.mjj) < 3.7
    assert 0.07 < np.median(sig.mj1) < 0.13 and 0.4 < np.median(sig.mj2) < 0.55
    assert np.median(bkg.mj2) < 0.35
    assert np.median(sig.tau21_2) < np.median(bkg.tau21_2)          # the 500 GeV jet is two-pronged


def test_chunks_are_reproducible(generated):
    spec = DijetChunk(process="wprime", index=1, n_events=8, seed=PLAN.seed, sample=PLAN.sample,
                      detector=PLAN.detector, batch_events=PLAN.batch_events)
    again = generate_chunk(spec)
    with h5py.File(generated[0]) as f:
        rows = (f["label"][()] == 1) & (f["chunk"][()] == 1)
        for name in DATASETS:
            np.testing.assert_array_equal(again[name], f[name][()][rows])


def test_settings_define_the_resonances():
    lines = pythia_settings("wprime", PLAN.sample, 5)
    assert "34:addChannel = 1 1.0 100 9000001 9000002" in lines and "34:onMode = off" in lines
    assert any(line.startswith("9000002:all = Y+ Y- 1 3 0 100.0") for line in lines)
    with pytest.raises(ValueError, match="unknown process"):
        pythia_settings("top", PLAN.sample, 5)


@pytest.mark.slow
def test_array_split_and_merge_equal_single_job(generated, tmp_path):
    spec = importlib.util.spec_from_file_location("generate_lhco", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    common = ["generate", "-o", str(tmp_path / "lhco.h5"), "--n-background", "16", "--n-signal", "16",
              "--seed", str(PLAN.seed), "--chunk-size", "8", "--batch-events", "40", "--quiet", "--task-count", "2"]
    assert script.main(common + ["--task-index", "0", "--workers", "2"]) == 0
    assert script.main(common + ["--task-index", "1"]) == 0
    parts = sorted(tmp_path.glob("lhco.part*of2.h5"))
    assert script.main(["merge", *map(str, parts), "-o", str(tmp_path / "merged.h5")]) == 0
    with h5py.File(generated[0]) as a, h5py.File(tmp_path / "merged.h5") as b:
        for name in [*DATASETS, "chunks"]:
            if name == "chunks":
                np.testing.assert_array_equal(a[name]["pythia_seed"], b[name]["pythia_seed"])
            else:
                np.testing.assert_array_equal(a[name][()], b[name][()])
        assert a.attrs["generation"] == b.attrs["generation"]
