"""The bump-hunt task through the ``mlhep`` command: a tiny surrogate fit end to end (results, report, plots),
bad input located in the runcard, and the physics: a clearly injected signal is more significant after the
anomaly-score cut than before, and without signal there is no significant excess.

Sizes: 20000 surrogate QCD events (about 2060 in the signal region 3.3-3.7 TeV), CWoLa hunting with 2 replicas =
2 folds of a small classifier, 8 epochs (5-10 s a fit on this CPU, compiling included); every method runs once at
a smaller size in the end-to-end test (25-45 s: six stages to compile).
"""
from __future__ import annotations

import numpy as np
import pytest

from mlhep.io.results import Results
from mlhep.tasks.bumphunt import analysis, surrogate

ENGINE = """\
engine:
  minibatch_size: 256
  chunk: {epochs}
  epochs: {epochs}
  checkpoint_seconds: 0
  optimizer: {{name: adam, learning_rate: 2.0e-3}}
  stopping: {{patience: 1000}}
"""
CARD = """\
task: bump-hunt
seed: 3
replicas: 2
{engine}data:
  surrogate: {{n_background: {n_background}, {signal}seed: 1}}
methods: {methods}
model:
  folds: 2
  flow: {{layers: 2, width: 16}}
  classifier: {{hidden: [32, 32]}}
significance:
  pseudo_experiments: 500
"""


def _card(folder, name="bh.yaml", *, n_background=20000, signal="", methods="[cwola]", epochs=8, extra=""):
    path = folder / name
    path.write_text(CARD.format(engine=ENGINE.format(epochs=epochs), n_background=n_background, signal=signal,
                                methods=methods) + extra)
    return path


def _fit(folder, run_cli, **card) -> Results:
    card = _card(folder, **card)
    code, out, err = run_cli("fit", card, "-o", folder / "fit.h5", "--quiet")
    assert code == 0, err
    return Results.read(folder / "fit.h5")


def test_every_method_end_to_end_with_report_and_plots(tmp_path, run_cli):
    """All five methods on 5000 events with 250 W' (3 epochs): every summary key is written, the report names
    each method, the plots are drawn; CWoLa's signal-region scores through the task equal its out-of-fold scores
    of all events in the signal region (the sideband scoring reuses the methods' folds)."""
    card = _card(tmp_path, n_background=5000, signal="n_signal: 250, ", epochs=3,
                 methods="[cathode, anode, cwola, idealised, supervised]")
    code, out, err = run_cli("check", card)
    assert code == 0 and "OK" in out, err
    code, _, err = run_cli("fit", card, "-o", tmp_path / "fit.h5", "--quiet")
    assert code == 0, err
    res = Results.read(tmp_path / "fit.h5")
    s = res.summary
    assert set(res.stages) == {"flow_sb", "cathode", "flow_sr", "cwola", "idealised", "supervised"}
    for m in ("cathode", "anode", "cwola", "idealised", "supervised"):
        assert np.isfinite(s[f"{m}/max_sic"]) and s[f"{m}/z_local"].shape == (3,)
        assert s[f"{m}/counts"].shape == (3, 34) and res.replicas[f"{m}/scores"].shape[0] == 2
        assert np.all(np.diff(s[f"{m}/threshold"]) >= 0)      # tighter cuts, higher thresholds
    # the cut spectra hold exactly the kept fraction of the signal-region events (classifier methods)
    sr_bins = slice(7, 11)    # 3.3-3.7 TeV in 0.1 TeV bins from 2.6
    n_sr = int(s["n_signal_region"])
    for m in ("cathode", "cwola"):
        kept = s[f"{m}/counts"][:, sr_bins].sum(axis=1)
        np.testing.assert_allclose(kept, np.maximum(1, np.round(s["efficiencies"] * n_sr)), atol=2)
    code, out, err = run_cli("report", tmp_path / "fit.h5", "--plot", tmp_path / "plots")
    assert code == 0 and all(m in out for m in ("cathode", "anode", "cwola", "idealised", "supervised")), err
    names = {p.name for p in (tmp_path / "plots").glob("*.png")}
    assert {"bump_hunt_sic.png", "bump_hunt_fit_uncut.png", "bump_hunt_significance.png"} <= names


CUTS = "  efficiencies: [0.3, 0.1, 0.03]\n"


def test_the_cut_makes_an_injected_signal_more_significant(tmp_path, run_cli):
    """S/B = 10% in the signal region (about 200 W' over 2060 QCD events): before any cut the excess is not
    significant (measured Z_local 1.65); keeping the 30% of signal-region events CWoLa scores highest, the sideband
    fit of the cut spectrum is a valid falling background and the local significance rises (measured 6.8), and
    BumpHunter's most significant window overlaps the signal region."""
    s = _fit(tmp_path, run_cli, signal="s_over_b: 0.1, ", extra=CUTS).summary
    before, after = float(s["uncut/z_local"][0]), s["cwola/z_local"]
    assert before < 3 and s["cwola/valid"][0] and after[0] > before + 2, (before, after, s["cwola/valid"])
    lo, hi = s["cwola/window"][0]
    assert lo < 3.7 and hi > 3.3, (lo, hi)
    assert s["cwola/max_sic"] > 2, s["cwola/max_sic"]


def test_no_signal_no_significant_excess(tmp_path, run_cli):
    """Background only: the sideband fit predicts the signal-region count before and after every cut within
    3 sigma (|Z_local| < 3; measured |Z| <= 1.5, every fit valid), and no BumpHunter window is globally
    significant (p > 0.001; measured >= 0.38)."""
    s = _fit(tmp_path, run_cli, extra=CUTS).summary
    z = np.concatenate([s["uncut/z_local"], s["cwola/z_local"]])
    assert np.all(np.isfinite(z)) and np.all(np.abs(z) < 3), z
    p = np.concatenate([s["uncut/p_global"], s["cwola/p_global"]])
    assert np.all(p > 1e-3), p


def test_hunt_closes_on_an_oracle_score():
    """No training: the surrogate's truth label (plus noise) as the score. The sideband fit of the uncut
    background-only spectrum predicts the signal region (|Z| < 3), and keeping the top 3% of signal-region
    events of an injected sample by the oracle score raises Z far above its value without the cut."""
    edges, sr = np.linspace(2.6, 6.0, 35), (3.3, 3.7)
    null = surrogate.generate(50000, 0, seed=4)
    assert abs(analysis.hunt(null.mjj, null.weights, edges, sr, n_pseudo=200).z_local) < 3
    events = surrogate.generate(50000, 150, seed=4)
    score = events.label + np.random.default_rng(0).normal(0, 0.3, len(events))
    inside = (events.mjj >= sr[0]) & (events.mjj < sr[1])
    t = analysis.threshold_for(score[inside], 0.03)
    before = analysis.hunt(events.mjj, events.weights, edges, sr, n_pseudo=200)
    after = analysis.hunt(events.mjj[score >= t], events.weights[score >= t], edges, sr, n_pseudo=200, threshold=t)
    assert after.z_local > before.z_local + 2, (before.z_local, after.z_local)


@pytest.mark.parametrize("extra, replace, key, message", [
    ("", ("methods: [cwola]", "methods: [cwola, cathod]"), "methods[1]", "cathode, anode, cwola, idealised"),
    ("", ("surrogate: {n_background: 20000, seed: 1}", "files: [nowhere.h5]"), "data.files[0]", "nowhere.h5"),
    ("", ("surrogate: {n_background: 20000, seed: 1}",
          "surrogate: {n_background: 20000, seed: 1}\n  signal_region: [3.3, 3.7]\n  sidebands: [3.4, 3.9]"),
     "data", "must be [outer low, outer high] enclosing the signal region"),
    ("", ("surrogate: {n_background: 20000, seed: 1}",
          "surrogate: {n_background: 20000, seed: 1}\n  signal_region: [6.5, 7.0]"),
     "data.signal_region", "must lie inside significance.mjj_range"),
    ("", ("surrogate: {n_background: 20000, seed: 1}",
          "surrogate: {n_background: 20000, seed: 1}\n  signal_region: [3.33, 3.7]"),
     "data.signal_region", "must tile the signal region"),
    ("", ("folds: 2", "folds: 3"), "model.folds", "one replica per fold"),
])
def test_bad_input_is_located_in_the_runcard(tmp_path, run_cli, extra, replace, key, message):
    card = _card(tmp_path)
    card.write_text(card.read_text().replace(*replace) + extra)
    commands = ("check", "fit") if key != "model.folds" else ("fit",)
    for command in commands:
        code, _, err = run_cli(command, card, "-o", tmp_path / "x.h5") if command == "fit" else run_cli(command, card)
        assert code == 2 and "bh.yaml:" in err and key in err and message in err, (command, err)
        assert "Traceback" not in err


def _lhco_file(path, events) -> None:
    """``events`` as an LHCO R&D features table (GeV): two back-to-back jets along x of p_T = m_jj / 2 with the
    events' masses, tau1 = 1 and tau2 = tau21 (m_jj read back is within 1% of the surrogate's)."""
    from bh_fixtures import write_frame
    from mlhep.tasks.bumphunt.lhco import FEATURE_COLUMNS
    p, n = 500 * events.mjj, len(events)
    jets = [(p, events.mj1 * 1e3, events.tau21_1), (-p, events.mj2 * 1e3, events.tau21_2)]
    columns = [col for px, m, tau21 in jets
               for col in (px, np.zeros(n), np.zeros(n), m, np.ones(n), tau21, 0.5 * tau21)]
    write_frame(path, np.stack(columns + [events.label.astype(float)], axis=1), list(FEATURE_COLUMNS), "table")


def test_files_with_injected_signal(tmp_path, run_cli):
    """The files path: QCD events of one LHCO-layout file plus W' events of another, injected at S/B = 10% in the
    signal region (``events.inject``): the signal-region events are the file's QCD there plus a binomial draw
    around 10% of them, and the fit runs through (CWoLa, 2 epochs)."""
    _lhco_file(tmp_path / "qcd.h5", surrogate.generate(8000, 0, seed=2))
    _lhco_file(tmp_path / "wprime.h5", surrogate.generate(0, 1000, seed=3))
    card = _card(tmp_path, n_background=8000, epochs=2)
    card.write_text(card.read_text().replace(
        "surrogate: {n_background: 8000, seed: 1}",
        "files: [qcd.h5]\n  signal_files: [wprime.h5]\n  inject: {s_over_b_in_sr: 0.1, seed: 4}"))
    code, out, err = run_cli("check", card)
    assert code == 0 and "OK" in out, err
    code, _, err = run_cli("fit", card, "-o", tmp_path / "fit.h5", "--quiet")
    assert code == 0, err
    s = Results.read(tmp_path / "fit.h5").summary
    n_signal, n_sr = int(s["n_signal_region_signal"]), int(s["n_signal_region"])
    expected = 0.1 * (n_sr - n_signal)
    assert abs(n_signal - expected) < 4 * np.sqrt(expected), (n_signal, expected)
    assert np.isfinite(s["cwola/max_sic"]) and np.isfinite(s["uncut/z_local"][0])


def test_a_file_of_another_layout_is_named(tmp_path, run_cli):
    import h5py
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = np.zeros(3)
    card = _card(tmp_path)
    card.write_text(card.read_text().replace("surrogate: {n_background: 20000, seed: 1}", "files: [other.h5]"))
    code, _, err = run_cli("check", card)
    assert code == 4 and "other.h5" in err and "Traceback" not in err, err


@pytest.mark.slow
def test_background_only_significances_scatter_around_zero(tmp_path, run_cli):
    """Six background-only samples (seeds 11-16), CWoLa and the sideband fit before and after the 30%, 10% and 3%
    cuts: under the background hypothesis each Z_local is about N(0, 1), so none exceeds 3.5 and their mean (24
    values, correlated within a sample) stays within 1 of 0: neither the fit nor CWoLa's cut makes a bump."""
    z = []
    for seed in range(11, 17):
        folder = tmp_path / str(seed)
        folder.mkdir()
        card = _card(folder, extra=CUTS)
        card.write_text(card.read_text().replace("seed: 1}", f"seed: {seed}}}"))
        code, _, err = run_cli("fit", card, "-o", folder / "fit.h5", "--quiet")
        assert code == 0, err
        s = Results.read(folder / "fit.h5").summary
        z.extend(np.concatenate([s["uncut/z_local"], s["cwola/z_local"]]))
    z = np.asarray(z)
    assert np.all(np.isfinite(z)) and np.max(np.abs(z)) < 3.5 and abs(z.mean()) < 1, z
