"""Checks of a pdf-fit runcard that need no FK table, run first so that a mistake costs seconds, not an FK-table
load or a whole fit: the datasets against the commondata (names, variants, repeats, cuts, training fractions),
the scales of the evolved outputs, the preprocessing ranges, and the earlier fits named by ``t0.fit`` and
``closure.fit``. Every mistake is raised as ``ctx.fail(key, why)`` (exit 2, located at the key).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlhep.errors import ResultsError, RunCardError
from mlhep.task import RunContext
from mlhep.tasks.pdf import commondata
from mlhep.tasks.pdf.config import DatasetSpec, PdfFitConfig

#: What a results file must hold to serve as the t0 PDF or closure truth of a later fit.
FIT_REPLICA_KEYS = ("pdf/fk/basis", "positivity/ok", "arclength")
FIT_SUMMARY_KEYS = ("fk_xgrid", "ndata", "datasets")
LHAPDF_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")


def load_datasets(config: PdfFitConfig, ctx: RunContext) -> list[commondata.DataSet]:
    """The commondata of every ``data.datasets`` entry after the cuts; each must be given once and keep at
    least one training point."""
    if not config.data.datasets:
        raise ctx.fail("data.datasets", f"no dataset given (supported: {', '.join(commondata.available_datasets())})")
    first_seen: dict[str, int] = {}
    loaded = []
    for i, spec in enumerate(config.data.datasets):
        key = f"data.datasets[{i}]"
        if spec.name in first_seen:
            raise ctx.fail(f"{key}.name", f"{spec.name} is already data.datasets[{first_seen[spec.name]}]: give "
                                          "each dataset once (its points would count twice in the chi2)")
        first_seen[spec.name] = i
        dataset = _load_dataset(spec, key, config, ctx)
        _check_training_points(spec, len(dataset.central), key, ctx)
        loaded.append(dataset)
    return loaded


def _load_dataset(spec: DatasetSpec, key: str, config: PdfFitConfig, ctx: RunContext) -> commondata.DataSet:
    q2min, w2min = config.data.q2min, config.data.w2min
    try:
        dataset = commondata.load_dataset(spec.name, spec.variant, q2min, w2min)
    except commondata.UnknownVariant as err:
        raise ctx.fail(f"{key}.variant", str(err)) from None
    except commondata.UnknownDataset as err:
        raise ctx.fail(f"{key}.name", str(err)) from None
    if len(dataset.central) == 0:
        raise ctx.fail(*_empty_after_cuts(spec, q2min, w2min))
    return dataset


def _empty_after_cuts(spec: DatasetSpec, q2min: float, w2min: float) -> tuple[str, str]:
    """(key, message) for a dataset that no point survives: at the cut that alone removes them all."""
    every = commondata.load_dataset(spec.name, spec.variant, 0.0, 0.0).kinematics
    q2, x = every["Q2"], every["x"]
    w2 = q2 * (1 - x) / x
    key = ("data.q2min" if not commondata.kinematic_mask(x, q2, q2min, 0.0).any()
           else "data.w2min" if not commondata.kinematic_mask(x, q2, 0.0, w2min).any() else "data")
    return key, (f"no point of {spec.name} survives the cuts q2min = {q2min:g} GeV^2, w2min = {w2min:g} GeV^2 "
                 f"(its {len(q2)} points reach Q^2 = {q2.max():g} GeV^2 and W^2 = {w2.max():g} GeV^2; "
                 "NNPDF4.0: q2min 3.49, w2min 12.5)")


def _check_training_points(spec: DatasetSpec, n_points: int, key: str, ctx: RunContext) -> None:
    """round(frac * n) training points, as ``mlhep.stats.pseudodata.train_mask`` draws them: at least one.
    (No validation point at all is allowed: early stopping then watches the training chi2.)"""
    if np.round(spec.frac * n_points) < 1:
        raise ctx.fail(f"{key}.frac", f"{spec.frac:g} of the {n_points} points of {spec.name} left by the cuts "
                                      f"is no training point (use frac > {0.5 / n_points:.3g}; 1: all training)")


def check_scales(config: PdfFitConfig, ctx: RunContext) -> None:
    """Evolved PDFs and the LHAPDF grid exist between Q0 and the evolution's Q_MAX: refuse other scales now,
    not after the fit."""
    from mlhep.physics.evolution import Q_MAX
    from mlhep.physics.theorycard import theory_card

    q0 = theory_card(config.theory.order)["Q0"]
    for i, q in enumerate(config.output_grid.q_values):
        if not q0 <= q <= Q_MAX:
            raise ctx.fail(f"output_grid.q_values[{i}]", f"{q:g} GeV is outside the evolution range "
                                                         f"[Q0 = {q0:g}, {Q_MAX:g}] GeV")
    lhapdf = config.lhapdf
    if lhapdf.name is None:
        return
    if not LHAPDF_NAME.fullmatch(lhapdf.name):
        raise ctx.fail("lhapdf.name", f"'{lhapdf.name}' is not a plain LHAPDF set name (letters, digits, "
                                      "'_', '-', '.', '+'; it names a folder in the output's folder)")
    if not q0 < lhapdf.q_max <= Q_MAX:
        raise ctx.fail("lhapdf.q_max", f"{lhapdf.q_max:g} GeV is outside the evolution range: the grid runs from "
                                       f"Q0 = {q0:g} GeV up to q_max, at most {Q_MAX:g} GeV")


def check_preprocessing(config: PdfFitConfig, ctx: RunContext) -> None:
    """Exponent ranges: a known fit-basis flavour each, [low, high] finite with low <= high."""
    from mlhep.tasks.pdf.model import FIT_BASIS

    for flavour, ranges in config.model.preprocessing.items():
        key = f"model.preprocessing.{flavour}"
        if flavour not in FIT_BASIS:
            raise ctx.fail(key, f"unknown flavour '{flavour}' (valid: {', '.join(FIT_BASIS)})")
        for exponent in ("alpha", "beta"):
            values = getattr(ranges, exponent)
            if len(values) != 2 or not np.all(np.isfinite(values)) or values[0] > values[1]:
                raise ctx.fail(f"{key}.{exponent}", f"must be [low, high], finite with low <= high (got {values})")


@dataclass(frozen=True)
class EarlierFit:
    """A pdf-fit results file read for ``t0.fit`` or ``closure.fit``, checked except for its x grid."""

    path: Path
    key: str                          # "t0.fit" or "closure.fit"
    xgrid: np.ndarray                 # (nx,) FK x grid it was fitted on
    mean_pdf: np.ndarray              # (7, nx) mean x f of its accepted replicas on ``xgrid``
    accepted: int


def earlier_fits(config: PdfFitConfig, ctx: RunContext) -> tuple[EarlierFit | None, EarlierFit | None]:
    """(closure truth, t0 PDF) fits named by ``closure.fit`` and ``t0.fit``; None where not asked for. A ``fit:``
    whose section does not use it is a mistake (it would be silently ignored)."""
    for section, choice, value in (("closure", "truth", config.closure.truth), ("t0", "source", config.t0.source)):
        if getattr(config, section).fit and value != "fit":
            raise ctx.fail(f"{section}.fit", f"is given but {section}.{choice} is {value or 'not set'}: set "
                                             f"`{choice}: fit` to use it, or remove it")
    truth = read_earlier_fit(ctx, config.closure.fit, "closure") if config.closure.truth == "fit" else None
    t0 = read_earlier_fit(ctx, config.t0.fit, "t0") if config.t0.source == "fit" else None
    return truth, t0


def read_earlier_fit(ctx: RunContext, fit: str | None, section: str) -> EarlierFit:
    """The results file of ``{section}.fit`` (section "t0" or "closure"), checked as far as it can be before the
    FK tables are read: a readable pdf-fit results file with FK-grid PDFs and at least one accepted replica."""
    from mlhep.io.results import Results
    from mlhep.tasks.pdf import postfit

    key = f"{section}.fit"
    choice = "source" if section == "t0" else "truth"
    if not fit:
        raise ctx.fail(f"{section}.{choice}", f"{choice}: fit needs `{key}: <results.h5>` of an earlier pdf-fit")
    path = ctx.resolve(fit)
    try:
        results = Results.read(path)
    except ResultsError as err:
        raise ctx.fail(key, str(err)) from None
    if results.task != "pdf-fit":
        raise ctx.fail(key, f"{path} holds a {results.task} fit, not a pdf-fit")
    missing = ([k for k in FIT_REPLICA_KEYS if k not in results.replicas]
               + [f"summary/{k}" for k in FIT_SUMMARY_KEYS if k not in results.summary])
    if missing:
        raise ctx.fail(key, f"{path} is not a pdf-fit results file with FK-grid PDFs (lacks {', '.join(missing)})")
    try:
        keep = postfit.accepted(results, results.config)
    except RunCardError as err:
        raise ctx.fail(key, f"{path}: its stored runcard does not load here ({err.reason})") from None
    except KeyError as err:
        raise ctx.fail(key, f"{path} lacks the chi2 of dataset {err} (a truncated or foreign file?)") from None
    if not keep.any():
        raise ctx.fail(key, f"{path}: no replica passes postfit, so there is no central PDF to use")
    mean = np.asarray(results.replicas["pdf/fk/basis"])[keep].mean(axis=0)
    if not np.isfinite(mean).all():
        raise ctx.fail(key, f"{path}: the mean PDF of its accepted replicas is not finite")
    return EarlierFit(path, key, np.asarray(results.summary["fk_xgrid"], dtype=float), mean, int(keep.sum()))


def pdf_on_grid(ctx: RunContext, fit: EarlierFit, xgrid: np.ndarray) -> np.ndarray:
    """The mean PDF (7, nx) of ``fit``, if it was fitted on the FK x grid ``xgrid`` of this fit."""
    same = fit.xgrid.shape == xgrid.shape and np.allclose(fit.xgrid, xgrid, rtol=1e-12, atol=0)
    if not same or fit.mean_pdf.shape != (7, len(xgrid)):
        raise ctx.fail(fit.key, f"{fit.path} was fitted on another FK x grid: rebuild the FK tables of one theory")
    ctx.log(f"pdf-fit: {fit.key.split('.')[0]} PDF = mean of {fit.accepted} accepted replicas of {fit.path}")
    return fit.mean_pdf
