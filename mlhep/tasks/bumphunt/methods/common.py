"""What the bump-hunt methods share: their settings, the k-fold bookkeeping, the feature standardisation, the
ensemble's out-of-fold scores, and a stand-alone context to run a method outside ``mlhep fit``.

Every method's entry function is ``run_<method>(events, settings, ctx, ...) -> MethodResult``; ``ctx`` is the
task's ``RunContext`` (it needs ``ctx.train(trainable, stage=..., inputs=...)`` and ``ctx.replica_ids``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import expit

from mlhep.config import option
from mlhep.engine.predict import predict
from mlhep.errors import DataError
from mlhep.models.mlp import MLP
from mlhep.task import RunContext, TrainResult
from mlhep.tasks.bumphunt.events import FEATURES, Events, sideband_mask, signal_region_mask
from mlhep.tasks.bumphunt.flows import ConditionalFlow, Preprocessing
from mlhep.tasks.bumphunt.methods.trainables import ClassifierTrainable


@dataclass
class FlowSettings:
    """The conditional flow p(x | m_jj) (``flows.ConditionalFlow``: a MAF of affine MADE blocks)."""

    layers: int = option(6, "MADE blocks (CATHODE's reference: 15)", ge=1, le=64)
    width: int = option(32, "hidden units per MADE layer (CATHODE's reference: 128)", ge=2, le=1024)
    depth: int = option(2, "hidden layers per MADE block", ge=1, le=8)

    def build(self, preprocessing: Preprocessing, dim: int) -> ConditionalFlow:
        return ConditionalFlow(dim, preprocessing, self.layers, self.width, self.depth)


@dataclass
class ClassifierSettings:
    """The classifier of CWoLa, CATHODE, the idealised detector and the supervised reference."""

    hidden: list[int] = option([64, 64, 64], "hidden widths (CATHODE: 3 x 64, ReLU)", ge=1, le=4096)
    activation: str = option("relu", "activation of the hidden layers (mlhep.models.mlp.ACTIVATIONS)")

    def build(self) -> MLP:
        return MLP(tuple(self.hidden), 1, activation=self.activation)


@dataclass
class MethodSettings:
    """Settings every method reads (the task's runcard ``model:`` section, or built by hand)."""

    signal_region: list[float] = option([3.3, 3.7], "[low, high) of m_jj in TeV")
    sidebands: list[float] | None = option(None, "[outer low, outer high) in TeV (none: every event outside the "
                                                 "signal region, as CATHODE)")
    folds: int = option(5, "k of the k-fold: replica r holds out the events of fold r % k and scores them",
                        ge=2, le=100)
    validation_fraction: float = option(0.2, "fraction of a replica's events it validates on", gt=0, lt=1)
    oversample: int = option(4, "CATHODE: flow samples per signal-region event", ge=1, le=100)
    kde_bandwidth: float | None = option(None, "CATHODE: bandwidth of the KDE of the signal-region m_jj in TeV "
                                               "(none: Scott's rule)", gt=0)
    fold_seed: int = option(0, "seed of the events' fold assignment", ge=0, le=2**32 - 1)
    flow: FlowSettings = option(FlowSettings(), "the conditional flow")
    classifier: ClassifierSettings = option(ClassifierSettings(), "the classifiers")


@dataclass
class MethodResult:
    """One method's anomaly scores (higher = more signal-like).

    ``scores`` (n_sr,): every signal-region event of the data, scored by the mean of the replicas of its
    held-out fold (never by one that trained on it); ``replica_scores`` (R, n_sr) each replica's own, with
    ``replica_folds`` (R,) and ``folds`` (n_sr,) to tell which are out of fold. ``test_scores`` (n_test,): the
    whole ensemble's mean on the signal-region events of separate labelled events (SIC curves without fold
    noise), if any were given, with their ``test_labels``. ``labels`` (n_sr,) is the truth, for evaluation
    only. ``stages``: stage name -> (trainable, TrainResult).
    """

    method: str
    mjj: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    folds: np.ndarray
    replica_scores: np.ndarray
    replica_folds: np.ndarray
    test_scores: np.ndarray | None = None
    test_labels: np.ndarray | None = None
    stages: dict[str, tuple[Any, TrainResult]] = field(default_factory=dict)


def regions(events: Events, settings: MethodSettings) -> tuple[np.ndarray, np.ndarray]:
    """(signal region, sidebands) boolean (n,) masks; a DataError when either holds fewer than 10 events."""
    sr = signal_region_mask(events, settings.signal_region)
    sb = sideband_mask(events, settings.signal_region, settings.sidebands)
    for name, mask in (("signal region", sr), ("sidebands", sb)):
        if mask.sum() < 10:
            raise DataError(f"bump-hunt: only {int(mask.sum())} events in the {name} (m_jj window "
                            f"{settings.signal_region}, sidebands {settings.sidebands}): at least 10 are needed")
    return sr, sb


def event_folds(n: int, folds: int, seed: int) -> np.ndarray:
    """(n,) int32 fold of each event: a random permutation cut into ``folds`` nearly equal parts."""
    return (np.random.default_rng(seed).permutation(n) % folds).astype(np.int32)


def replica_folds(ctx, folds: int) -> np.ndarray:
    """(R,) int32 held-out fold of each replica: replica id modulo k. Needs a replica in every fold."""
    ids = np.asarray(ctx.replica_ids)
    if len(np.unique(ids % folds)) < folds:
        raise ValueError(f"k-fold with k = {folds} needs at least one replica per fold (replica id % {folds} "
                         f"covering 0..{folds - 1}); replicas {ids.tolist()} do not")
    return (ids % folds).astype(np.int32)


@dataclass(frozen=True, eq=False)
class Standardiser:
    """x -> (x - mean) / std per feature (dim,), fitted on the data the classifier sees."""

    mean: np.ndarray
    std: np.ndarray

    @staticmethod
    def fit(x: np.ndarray) -> "Standardiser":
        return Standardiser(x.mean(axis=0), np.where(x.std(axis=0) > 0, x.std(axis=0), 1.0))

    def __call__(self, x) -> np.ndarray:
        return ((np.asarray(x) - self.mean) / self.std).astype(np.float32)


def features(events: Events) -> np.ndarray:
    """(n, 4) float64 auxiliary features in ``FEATURES`` order."""
    return events.features(FEATURES)


def classifier_scores(trainable: ClassifierTrainable, result: TrainResult, x: np.ndarray) -> np.ndarray:
    """(R, n) sigmoid outputs of every replica's classifier on standardised x (n, dim)."""
    return expit(predict(trainable.logit, result.params, np.asarray(x, np.float32)))


def out_of_fold(replica_scores: np.ndarray, replica_fold: np.ndarray, folds: np.ndarray,
                combine=np.nanmean) -> np.ndarray:
    """(n,) score of each event from the replicas that held its fold out (``combine`` over them; the default
    skips NaN scores of replicas that failed without any parameters)."""
    out = np.empty(replica_scores.shape[1])
    for f in np.unique(folds):   # k folds, not replicas: a loop over k numpy reductions
        out[folds == f] = combine(replica_scores[replica_fold == f][:, folds == f], axis=0)
    return out


def make_classifier(settings: MethodSettings, x_sr: np.ndarray, examples: np.ndarray, label: np.ndarray,
                    fold: np.ndarray, weight: np.ndarray | None = None,
                    n_samples: int = 0) -> tuple[ClassifierTrainable, Standardiser]:
    """The classifier of ``examples`` (N, 4) with ``label``, ``fold`` and event ``weight`` (N,) (default 1), and
    ``n_samples`` per-replica examples of label 0; features standardised with the signal-region data ``x_sr``."""
    scale = Standardiser.fit(x_sr)
    weight = np.ones(len(label), np.float32) if weight is None else np.asarray(weight, np.float32)
    return ClassifierTrainable(settings.classifier.build(), scale(examples), label.astype(np.float32), weight, fold,
                               settings.validation_fraction, n_samples=n_samples), scale


def train_classifier(ctx, stage: str, settings: MethodSettings, x_sr: np.ndarray, examples: np.ndarray,
                     label: np.ndarray, fold: np.ndarray, weight: np.ndarray | None = None,
                     samples: np.ndarray | None = None) -> tuple[ClassifierTrainable, TrainResult, Standardiser]:
    """Train the classifier ensemble of ``stage`` (``make_classifier``), replica r holding out fold r % k;
    ``samples`` (R, M, 4): each replica's own extra background examples (label 0)."""
    trainable, scale = make_classifier(settings, x_sr, examples, label, fold, weight,
                                       0 if samples is None else samples.shape[1])
    inputs = {"fold": replica_folds(ctx, settings.folds)}
    if samples is not None:
        inputs["samples"] = scale(samples)
    return trainable, ctx.train(trainable, stage=stage, inputs=inputs), scale


def standalone_context(seed: int, replicas: int | np.ndarray, engine, workdir: Path = Path(".")) -> RunContext:
    """A ``RunContext`` that trains with ``mlhep.engine.train`` (``engine``: an ``EngineConfig``, its ``stages``
    per stage) without a runcard or checkpoints: to run a method in a test, a benchmark or a notebook."""
    from mlhep.engine import train
    ids = np.arange(replicas) if np.ndim(replicas) == 0 else np.asarray(replicas)

    def fail(key, why):
        return ValueError(f"{key}: {why}")

    def run(trainable, stage=None, inputs=None):
        return train(trainable, ids, seed, engine.for_stage(stage or ""), stage=stage, inputs=inputs)
    return RunContext(Path(workdir) / "standalone.yaml", seed, ids, fail, run, quiet=True, workdir=Path(workdir),
                      engine=engine)

