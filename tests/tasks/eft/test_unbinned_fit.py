"""eft-fit unbinned end to end at tiny size, through the CLI: runcard -> replicas trained as one batched
program -> results file -> report and plots. Checks the physics: the learned ratio reproduces the exact tt̄
ratio over the bulk, the learned bounds the exact ones, and the binned bounds are not stronger."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import mlhep  # noqa: F401
from mlhep.cli import main
from mlhep.errors import RunCardError
from mlhep.io.results import Results
from mlhep.task import RunContext
from mlhep.tasks.eft.unbinned import UnbinnedConfig, run_unbinned

REPO = Path(__file__).resolve().parents[3]

TINY_RUNCARD = """\
task: eft-fit
description: tiny unbinned closure test
seed: 11
replicas: 2
engine:
  epochs: 700
  chunk: 100
  optimizer: {name: adam, learning_rate: 0.01, schedule: {kind: cosine, end_fraction: 0.05}}
  stopping: {patience: 300}
mode: unbinned
unbinned:
  collider: {sqrts: 14000.0, luminosity: 1.0, efficiency: 0.05}
  theory: {pdf: lh_toy_q0, mu_f: fixed, mu_f_fixed: 91.1876, m_tt_max: 2000.0}
  training: {n_events: 6000, c_values: [-3.0, 3.0]}
  network: {hidden: [16, 16]}
  bounds: {pseudo_experiments: 1}
  binning: {m_tt_edges: [345.52, 400, 500, 700, 1000, 2000], abs_y_tt_edges: [0, 0.5, 1.0, 10]}
  grid: {n_m: 80, n_y: 24}
"""


@pytest.fixture(scope="module")
def fit(tmp_path_factory) -> tuple[Results, str, Path]:
    folder = tmp_path_factory.mktemp("unbinned")
    runcard = folder / "tiny.yaml"
    runcard.write_text(TINY_RUNCARD)
    out = folder / "fit.h5"
    assert main(["fit", str(runcard), "-o", str(out), "-q"]) == 0
    return Results.read(out), runcard, out


def test_learned_ratio_matches_exact_over_the_bulk(fit):
    """Median over replicas of the SM-weighted mean |r_learned / r_exact - 1| over the bulk (90% of sigma_SM):
    < 3% at c = +-1; at the training values c = +-3, where r(x, 3) ~ 0.6 amplifies relative errors, < 15%
    (statistical: 4500 training events per sample; ~4% with 20k events in the example runcard)."""
    results = fit[0]
    c = results.summary["accuracy/c_values"]
    mean_dev = np.median(results.replicas["accuracy/ratio_mean"], axis=0)
    for value, dev in zip(c, mean_dev):
        assert dev < (0.03 if abs(value) == 1 else 0.15), (value, dev)
    assert np.median(results.replicas["accuracy/alpha"]) < 0.10


def test_learned_bounds_within_ten_percent_of_exact_and_binned_not_stronger(fit):
    s, r = fit[0].summary, fit[0].replicas
    exact = s["bounds/exact"]                                   # (levels, 2)
    width = exact[:, 1] - exact[:, 0]
    for learned in r["bounds/learned"]:                         # every replica, both ends, 68% and 95%
        assert np.all(np.abs(learned - exact) < 0.1 * width[:, None] / 2)
    binned = s["bounds/binned"]
    assert np.all(binned[:, 1] - binned[:, 0] >= width * (1 - 1e-6))
    assert exact[0, 0] < 0 < exact[0, 1]                        # Asimov SM data: c = 0 inside
    assert np.all(exact[1, 1] - exact[1, 0] > width[0])         # 95% wider than 68%


def test_shape_only_bounds_are_weaker_and_binned_weaker_still(fit):
    """Profiling a free normalisation leaves the shape information alone: wider than with the rate, and the
    15-bin Poisson fit is weaker than the exact unbinned one. (The learned shape-only bounds need larger
    samples: 0.99 of the exact width with 60k events per sample, see the example runcard.)"""
    s, r = fit[0].summary, fit[0].replicas
    width = lambda b: b[..., 1] - b[..., 0]  # noqa: E731
    shape_exact, shape_binned = s["shape_only/bounds_exact"], s["shape_only/bounds_binned"]
    assert np.all(width(shape_exact) > 3 * width(s["bounds/exact"]))
    assert np.all(width(shape_binned) > width(shape_exact))
    assert r["shape_only/bounds_learned"].shape == (2, 2, 2)
    assert np.all(np.isfinite(r["shape_only/bounds_learned"]))


def test_results_file_report_and_plots(fit, tmp_path, capsys):
    results, _, out = fit
    assert str(results.summary["mode"]) == "unbinned"
    assert results.replicas["bounds/learned"].shape == (2, 2, 2)
    assert results.replicas["pseudo/bounds_learned"].shape == (2, 1, 2, 2)
    assert results.replicas["ratio/alpha"].shape[0] == 2
    assert main(["report", str(out), "--plot", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "exact unbinned" in text and "binned Poisson" in text and "learned unbinned" in text
    assert (tmp_path / "unbinned_q_scan.png").stat().st_size > 1000


def test_example_runcard_is_valid():
    """runcards/eft-fit-unbinned.yaml passes the loader's type/range checks."""
    runcard = REPO / "runcards" / "eft-fit-unbinned.yaml"
    assert main(["check", str(runcard)]) == 0


def small_config() -> UnbinnedConfig:
    config = UnbinnedConfig()
    config.theory.pdf = "lh_toy_q0"
    config.bounds.pseudo_experiments = 1
    return config


def context() -> RunContext:
    return RunContext(runcard_path=Path("test.yaml"), seed=1, replica_ids=np.arange(1),
                      fail=lambda key, why: RunCardError(why, key=key), train=lambda t: None, quiet=True)


@pytest.mark.parametrize("key, change", [
    ("unbinned.training.c_values", lambda c: setattr(c.training, "c_values", [2.0])),
    ("unbinned.training.c_values", lambda c: setattr(c.training, "c_values", [0.0, 2.0])),
    ("unbinned.binning.m_tt_edges", lambda c: setattr(c.binning, "m_tt_edges", [300.0, 500.0])),
    ("unbinned.theory.m_tt_max", lambda c: setattr(c.theory, "m_tt_max", 300.0)),
    ("unbinned.binning.abs_y_tt_edges", lambda c: setattr(c.binning, "abs_y_tt_edges", [0.5, 1.0])),
    ("unbinned.bounds.c_min", lambda c: (setattr(c.bounds, "c_min", 1.0), setattr(c.bounds, "c_max", -1.0))),
    ("unbinned.bounds.pseudo_experiments", lambda c: setattr(c.bounds, "max_events_per_experiment", 1000)),
])
def test_bad_settings_name_their_key(key, change):
    config = small_config()
    config.grid.n_m, config.grid.n_y = 20, 10
    change(config)
    with pytest.raises(RunCardError) as err:
        run_unbinned(config, context())
    assert err.value.key == key
