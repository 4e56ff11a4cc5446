"""ANODE (Nachman & Shih, PRD 101 (2020) 075042, arXiv:2001.04990): conditional densities of the data in the
signal region, p_SR(x | m), and in the sidebands, p_SB(x | m) interpolated into the signal region; the anomaly
score of a signal-region event is log R(x) = log p_SR(x | m) - log p_SB(x | m) (R = 1 without signal)."""
from __future__ import annotations

import numpy as np

from mlhep.engine.predict import predict
from mlhep.task import TrainResult
from mlhep.tasks.bumphunt.events import Events, signal_region_mask
from mlhep.tasks.bumphunt.methods.common import (MethodResult, MethodSettings, event_folds, features, out_of_fold,
                                                 regions, replica_folds)
from mlhep.tasks.bumphunt.methods.density import train_sideband_flow
from mlhep.tasks.bumphunt.methods.trainables import FlowTrainable


def log_ratio(sr_flow: FlowTrainable, sr_result: TrainResult, sb_flow: FlowTrainable, sb_result: TrainResult,
              events: Events) -> np.ndarray:
    """(R, n) log R(x) of replica r's pair of densities (the same preprocessing, so its Jacobian cancels)."""
    batch = (np.asarray(features(events), np.float32), np.asarray(events.mjj, np.float32))
    return predict(sr_flow.log_prob, sr_result.params, batch) - predict(sb_flow.log_prob, sb_result.params, batch)


def run_anode(events: Events, settings: MethodSettings, ctx, *, test: Events | None = None,
              sideband: tuple[FlowTrainable, TrainResult] | None = None, stage: str = "flow_sr") -> MethodResult:
    """ANODE with k-fold signal-region densities: replica r fits p_SR to the signal-region events outside its fold
    r % k, and pairs it with its own sideband density (``sideband``: from ``train_sideband_flow``, trained here
    if not given). ``scores``: each event's mean log R over the replicas that held it out (a geometric mean of
    R); ``test_scores``: the mean over all replicas."""
    sideband = sideband or train_sideband_flow(events, settings, ctx)
    sb_flow, sb_result = sideband
    sr, _ = regions(events, settings)
    folds = event_folds(len(events), settings.folds, settings.fold_seed)[sr]
    sr_flow = FlowTrainable(sb_flow.flow, features(events)[sr], events.mjj[sr], folds, settings.validation_fraction,
                            events.weights[sr])
    rfolds = replica_folds(ctx, settings.folds)
    sr_result = ctx.train(sr_flow, stage=stage, inputs={"fold": rfolds})
    inside = events.select(sr)
    per_replica = log_ratio(sr_flow, sr_result, sb_flow, sb_result, inside)
    out = MethodResult("anode", inside.mjj, out_of_fold(per_replica, rfolds, folds), inside.label, folds,
                       per_replica, rfolds, stages={"flow_sb": sideband, stage: (sr_flow, sr_result)})
    if test is not None:
        test = test.select(signal_region_mask(test, settings.signal_region))
        out.test_scores = np.nanmean(log_ratio(sr_flow, sr_result, sb_flow, sb_result, test), axis=0)
        out.test_labels = test.label
    return out
