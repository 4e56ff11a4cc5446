"""CATHODE (Hallin et al., PRD 106 (2022) 055006, arXiv:2109.00546): a conditional flow p_SB(x | m) trained on the
sidebands is sampled in the signal region at masses drawn from a KDE of the signal-region m_jj; a classifier then
separates the signal-region data (label 1) from these samples (label 0). Its output is monotonic in
p_data(x) / p_bkg(x) in the signal region, the optimal anomaly score, as long as the flow interpolates the
background well.

The reference code samples one flow (an ensemble of its 10 best epochs) and trains an ensemble of classifiers on
those samples. Here replica r samples its own sideband flow and trains its own classifier on them, so the
replica ensemble averages over flows and classifiers together (the engine keeps one best epoch per replica:
snapshot ensembles within a replica would need the engine to keep the k best).
"""
from __future__ import annotations

import numpy as np

from mlhep.task import TrainResult
from mlhep.tasks.bumphunt.events import Events
from mlhep.tasks.bumphunt.methods.classifiers import scored
from mlhep.tasks.bumphunt.methods.common import (MethodResult, MethodSettings, event_folds, features, regions,
                                                 train_classifier)
from mlhep.tasks.bumphunt.methods.density import sample_signal_region, scott_bandwidth, train_sideband_flow
from mlhep.tasks.bumphunt.methods.trainables import FlowTrainable


def run_cathode(events: Events, settings: MethodSettings, ctx, *, test: Events | None = None,
                sideband: tuple[FlowTrainable, TrainResult] | None = None,
                stage: str = "cathode") -> MethodResult:
    """CATHODE: ``oversample`` x n_SR samples per replica from its sideband flow (``sideband``, trained here if
    not given), then classifiers of signal-region data (k-fold) against them."""
    sideband = sideband or train_sideband_flow(events, settings, ctx)
    sb_flow, sb_result = sideband
    sr, _ = regions(events, settings)
    x_sr, m_sr = features(events)[sr], events.mjj[sr]
    bandwidth = settings.kde_bandwidth or scott_bandwidth(m_sr)
    samples = sample_signal_region(sb_flow.flow, sb_result.params, sb_result.data_keys, m_sr,
                                   settings.oversample * len(m_sr), bandwidth, settings.signal_region)
    folds = event_folds(len(events), settings.folds, settings.fold_seed)[sr]
    trainable, result, scale = train_classifier(ctx, stage, settings, x_sr, x_sr, np.ones(len(x_sr), np.float32),
                                                folds, weight=events.weights[sr], samples=samples)
    out = scored("cathode", events, sr, folds, trainable, result, scale, settings, ctx, test, stage)
    out.stages["flow_sb"] = sideband
    return out
