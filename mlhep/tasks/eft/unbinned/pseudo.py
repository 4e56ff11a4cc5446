"""SM pseudo-experiments: N ~ Poisson(nu_SM) events drawn from d sigma_SM, fitted three ways.

Each pseudo-experiment is fitted with the exact unbinned likelihood, the learned one (every replica, rate
from its own ratio) and the binned Poisson likelihood of the same events; the spread of the intervals over
pseudo-experiments shows the statistical fluctuation that the Asimov intervals leave out.
"""
from __future__ import annotations

import numpy as np

from mlhep.tasks.eft.unbinned import bounds as B
from mlhep.tasks.eft.unbinned.evaluate import exact_on_points, learned_alpha_beta
from mlhep.tasks.eft.unbinned.events import sample_events
from mlhep.tasks.eft.unbinned.physics import Spectrum


def pseudo_experiment_bounds(config, spectrum: Spectrum, model, params, c_grid: np.ndarray,
                             bin_sigma: np.ndarray, alpha_cells: np.ndarray, beta_cells: np.ndarray,
                             rng: np.random.Generator) -> tuple[dict, dict]:
    """({"pseudo/bounds_learned": (R, P, levels, 2)}, {"pseudo/bounds_exact", "pseudo/bounds_binned":
    (P, levels, 2), "pseudo/n_events": (P,)}) for P = ``config.bounds.pseudo_experiments``."""
    nu_sm = float(spectrum.expected_events(0.0))
    norm = {"normalisation": config.bounds.normalisation, "delta": config.bounds.normalisation_uncertainty}
    nu_exact = spectrum.expected_events(c_grid)
    nu_learned = B.expected_events(spectrum, c_grid, alpha_cells, beta_cells)          # (R, n_c)
    m_edges, y_edges = config.binning.m_tt_edges, config.binning.abs_y_tt_edges
    exact, binned, learned, sizes = [], [], [], []
    for _ in range(config.bounds.pseudo_experiments):
        events = sample_events(spectrum, 0.0, int(rng.poisson(nu_sm)), rng).events
        sizes.append(len(events))
        a_x, b_x = exact_on_points(spectrum, events[:, 0], events[:, 1])
        exact.append(B.intervals(c_grid, B.profile(B.events_unbinned(nu_exact, c_grid, a_x, b_x, **norm))))
        counts = B.histogram(events, m_edges, y_edges)
        q_binned = B.profile(B.binned(c_grid, bin_sigma, spectrum.rate_per_pb, counts, **norm))
        binned.append(B.intervals(c_grid, q_binned))
        a_l, b_l = learned_alpha_beta(model, params, events)
        learned.append(np.stack([
            B.intervals(c_grid, B.profile(B.events_unbinned(nu_learned[r], c_grid, a_l[r], b_l[r], **norm)))
            for r in range(a_l.shape[0])]))
    replicas = {"pseudo/bounds_learned": np.stack(learned, axis=1)}
    summary = {"pseudo/bounds_exact": np.stack(exact), "pseudo/bounds_binned": np.stack(binned),
               "pseudo/n_events": np.array(sizes)}
    return replicas, summary
