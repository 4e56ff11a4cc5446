"""The classifier methods: CWoLa hunting and the two references, the idealised anomaly detector and the fully
supervised classifier. Each trains one ensemble of classifiers (one stage, k-fold by replica).

- CWoLa hunting (Collins, Howe, Nachman, PRL 121 (2018) 241803, arXiv:1805.02664; PRD 99 (2019) 014038):
  signal region (label 1) against the sidebands (label 0); without signal the two differ only through the
  features' correlation with m_jj, which a classifier learns instead of the signal (the sculpting CATHODE avoids).
- Idealised anomaly detector (Hallin et al., arXiv:2109.00546, sec. III): signal-region data against a perfect
  background template, more background events in the signal region drawn from the true background.
- Supervised: truth labels (signal 1, background 0), the upper reference.
"""
from __future__ import annotations

import numpy as np

from mlhep.tasks.bumphunt.events import Events, signal_region_mask
from mlhep.tasks.bumphunt.methods.common import (MethodResult, MethodSettings, classifier_scores, event_folds,
                                                 features, out_of_fold, regions, replica_folds, train_classifier)


def scored(method: str, events: Events, sr: np.ndarray, fold_sr: np.ndarray, trainable, result, scale,
           settings: MethodSettings, ctx, test: Events | None, stage: str) -> MethodResult:
    """The ``MethodResult`` of a classifier ensemble: out-of-fold scores of the signal-region events, the
    ensemble's mean on the signal-region events of ``test``."""
    x_sr = scale(features(events)[sr])
    per_replica = classifier_scores(trainable, result, x_sr)
    folds = replica_folds(ctx, settings.folds)
    out = MethodResult(method, events.mjj[sr], out_of_fold(per_replica, folds, fold_sr), events.label[sr],
                       fold_sr, per_replica, folds, stages={stage: (trainable, result)})
    if test is not None:
        test = test.select(signal_region_mask(test, settings.signal_region))
        out.test_scores = np.nanmean(classifier_scores(trainable, result, scale(features(test))), axis=0)
        out.test_labels = test.label
    return out


def run_cwola(events: Events, settings: MethodSettings, ctx, *, test: Events | None = None,
              stage: str = "cwola") -> MethodResult:
    """CWoLa hunting: classifiers of signal region vs sidebands, k-fold over all their events."""
    sr, sb = regions(events, settings)
    use = sr | sb
    x, label = features(events)[use], sr[use].astype(np.float32)
    folds = event_folds(len(events), settings.folds, settings.fold_seed)
    trainable, result, scale = train_classifier(ctx, stage, settings, x[label == 1], x, label, folds[use],
                                                weight=events.weights[use])
    return scored("cwola", events, sr, folds[sr], trainable, result, scale, settings, ctx, test, stage)


def run_idealised(events: Events, template: Events, settings: MethodSettings, ctx, *, test: Events | None = None,
                  stage: str = "idealised") -> MethodResult:
    """Idealised anomaly detector: signal-region data (label 1, k-fold) against the signal-region events of
    ``template``, background-only events of the true background model (label 0, never held out)."""
    sr, _ = regions(events, settings)
    template = template.select(signal_region_mask(template, settings.signal_region))
    if len(template) < 10:
        raise ValueError(f"idealised anomaly detector: only {len(template)} template events in the signal region")
    x_sr = features(events)[sr]
    folds = event_folds(len(events), settings.folds, settings.fold_seed)[sr]
    examples = np.concatenate([x_sr, features(template)])
    label = np.concatenate([np.ones(len(x_sr)), np.zeros(len(template))]).astype(np.float32)
    fold = np.concatenate([folds, np.full(len(template), -1, np.int32)])
    weight = np.concatenate([events.weights[sr], template.weights])
    trainable, result, scale = train_classifier(ctx, stage, settings, x_sr, examples, label, fold, weight)
    return scored("idealised", events, sr, folds, trainable, result, scale, settings, ctx, test, stage)


def run_supervised(events: Events, settings: MethodSettings, ctx, *, extra: Events | None = None,
                   test: Events | None = None, stage: str = "supervised") -> MethodResult:
    """Fully supervised classifier on the truth labels of the signal-region events (k-fold), plus the
    signal-region events of ``extra`` labelled events if given (never held out: e.g. a large signal sample)."""
    sr, _ = regions(events, settings)
    x_sr = features(events)[sr]
    folds = event_folds(len(events), settings.folds, settings.fold_seed)[sr]
    examples, label, fold, weight = x_sr, events.label[sr].astype(np.float32), folds, events.weights[sr]
    if extra is not None:
        extra = extra.select(signal_region_mask(extra, settings.signal_region))
        examples = np.concatenate([examples, features(extra)])
        label = np.concatenate([label, extra.label.astype(np.float32)])
        fold = np.concatenate([fold, np.full(len(extra), -1, np.int32)])
        weight = np.concatenate([weight, extra.weights])
    if not 0 < label.sum() < len(label):
        raise ValueError("supervised classifier: the signal region needs both signal and background events "
                         f"({int(label.sum())} of {len(label)} are signal)")
    trainable, result, scale = train_classifier(ctx, stage, settings, x_sr, examples, label, fold, weight)
    return scored("supervised", events, sr, folds, trainable, result, scale, settings, ctx, test, stage)
