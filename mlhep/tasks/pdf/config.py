"""The runcard sections of ``task: pdf-fit`` (everything but task/seed/replicas/engine/output/description).

Defaults follow the NNPDF4.0 DIS-only setup of n3fit (Ball et al., Eur. Phys. J. C 82 (2022) 428,
arXiv:2109.02653, sec. 3): a 2-25-20-7 tanh network, preprocessing exponents sampled per replica in fixed
ranges, growing Lagrange multipliers for positivity and integrability, t0 covariance, 75% training fraction.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

from mlhep.config import option

#: Preprocessing ranges of n3fit's NNPDF4.0-like runcard (n3fit/tests/regressions/quickcard.yml, fitbasis EVOL):
#: x f_i = A_i x^(1 - alpha_i) (1 - x)^beta_i NN_i; "smallx" = alpha, "largex" = beta.
NNPDF40_PREPROCESSING = {
    "Sigma": ((1.094, 1.118), (1.46, 3.003)),
    "g": ((0.8189, 1.044), (2.791, 5.697)),
    "V": ((0.457, 0.7326), (1.56, 3.431)),
    "V3": ((0.1462, 0.4061), (1.745, 3.452)),
    "V8": ((0.5401, 0.7665), (1.539, 3.393)),
    "T3": ((-0.4401, 0.9163), (1.773, 3.333)),
    "T8": ((0.5852, 0.8537), (1.533, 3.436)),
}


@dataclass
class DatasetSpec:
    """One NNPDF commondata set."""

    name: str = option(doc="commondata set and observable, e.g. HERA_NC_318GEV_EP-SIGMARED")
    variant: Optional[str] = option(None, "commondata variant (e.g. legacy); none: the default one")
    frac: float = option(0.75, "training fraction of its points after cuts: round(frac * points), which must "
                               "be at least one (1: all training, NNPDF's choice for tiny sets; with no validation "
                               "point in any set, early stopping watches the training chi2)", gt=0, le=1)


@dataclass
class DataConfig:
    datasets: list[DatasetSpec] = option(doc="datasets to fit")
    q2min: float = option(3.49, "kinematic cut: minimum Q^2 [GeV^2] (NNPDF4.0: 3.49)", ge=0)
    w2min: float = option(12.5, "kinematic cut: minimum W^2 [GeV^2] (NNPDF4.0: 12.5)", ge=0)


@dataclass
class TheoryConfig:
    order: Literal["LO", "NLO"] = option("NLO", "perturbative order of the DIS coefficient functions and DGLAP")
    fktables: Optional[str] = option(None, "FK-table cache folder (relative to the runcard); none: the default")


@dataclass
class ExponentRange:
    """x f = A x^(1-alpha) (1-x)^beta NN: alpha (small x) and beta (large x) ranges, sampled uniformly."""

    alpha: list[float] = option(doc="[low, high] of the small-x exponent alpha")
    beta: list[float] = option(doc="[low, high] of the large-x exponent beta")


def _default_preprocessing() -> dict[str, ExponentRange]:
    return {k: ExponentRange(list(a), list(b)) for k, (a, b) in NNPDF40_PREPROCESSING.items()}


@dataclass
class ModelConfig:
    architecture: list[int] = option([25, 20], "hidden layer widths (NNPDF4.0: 25, 20; output layer: 7)", ge=1)
    activation: Literal["tanh", "sigmoid", "relu", "elu", "gelu", "softplus"] = option(
        "tanh", "hidden-layer activation (output layer is linear)")
    initializer: Literal["glorot_normal", "glorot_uniform"] = option("glorot_normal", "weight initialiser")
    fit_exponents: bool = option(False, "train the preprocessing exponents (clipped to their ranges) instead of "
                                        "keeping the sampled values fixed (NNPDF4.0: fixed)")
    preprocessing: dict[str, ExponentRange] = option(
        default_factory=_default_preprocessing, doc="exponent ranges per fit-basis flavour (Sigma, g, V, V3, V8, "
                                                    "T3, T8); missing flavours keep the NNPDF4.0 ranges")


@dataclass
class PositivityConfig:
    """Penalty multiplier * sum elu(-x f_q(x, Q0)) over u, ubar, d, dbar, s, sbar, g on the NNPDF positivity
    x grid (NNPDF4.0 sec. 3.1.3; elu with alpha = 1e-7 as in n3fit's LossPositivity)."""

    multiplier: float = option(184.8, "initial Lagrange multiplier (NNPDF4.0: 184.8)", gt=0)
    growth: float = option(1.052, "factor applied every `every` epochs (1.052: NNPDF4.0's 184.8 -> 1e6 in 17000 "
                                  "epochs)", ge=1)
    max_multiplier: float = option(1e6, "the multiplier stops growing here (n3fit: maxlambda 1e6)", gt=0)
    every: int = option(100, "epochs between multiplier updates (n3fit: 100)", ge=1)
    threshold: float = option(1e-6, "a replica is positive if min x f > -threshold (n3fit: 1e-6)", ge=0)


@dataclass
class IntegrabilityConfig:
    """Penalty multiplier * sum (x f_k(x))^2 over the non-singlet ``flavours`` at small x (NNPDF4.0 sec. 3.1.3)."""

    multiplier: float = option(10.0, "initial Lagrange multiplier (NNPDF4.0: 10)", gt=0)
    growth: float = option(1.0136, "factor every `every` epochs (10 -> 1e2 in 17000 epochs)", ge=1)
    max_multiplier: float = option(100.0, "the multiplier stops growing here (n3fit: maxlambda 1e2)", gt=0)
    every: int = option(100, "epochs between multiplier updates", ge=1)
    x: list[float] = option([1e-9], "x points of the penalty (NNPDF_INTEG_3GEV: 1e-9)", gt=0, lt=1)
    flavours: list[Literal["V", "V3", "V8", "T3", "T8"]] = option(
        ["V", "V3", "V8", "T3", "T8"], "non-singlet combinations required to be integrable (n3fit: one "
                                       "integdataset each); a closure truth with x T8 ~ x^-0.1, as the Les "
                                       "Houches toy, needs T8 left out")


@dataclass
class T0Config:
    """The t0 prescription (Ball et al., JHEP 05 (2010) 075): multiplicative systematics scaled by theory
    predictions instead of the data. NNPDF iterates it: the t0 PDF is the central PDF of an earlier fit."""

    source: Literal["lh_toy", "fit", "experimental"] = option(
        "lh_toy", "t0 predictions: the Les Houches toy PDF at Q0 (lh_toy), the mean PDF of the accepted replicas "
                  "of an earlier pdf-fit (fit, with `fit:`), or none (experimental covariance)")
    fit: Optional[str] = option(None, "results file (.h5) of the earlier pdf-fit for source: fit (relative to "
                                      "the runcard; ${MLHEP_SHARED_DATA} is expanded)")


@dataclass
class ClosureConfig:
    """Closure test (``mlhep.tasks.pdf.closure``; NNPDF: ``closuretest``): fit fake data made from a known PDF
    through the same FK tables, then compare the fit with that truth in the report."""

    truth: Optional[Literal["lh_toy", "fit"]] = option(
        None, "known PDF: the Les Houches toy at Q0 (lh_toy; its x T8 grows as x^-0.1 at small x, so leave T8 "
              "out of integrability.flavours and widen its alpha range) or the mean PDF of the accepted replicas "
              "of an earlier pdf-fit (fit, with `fit:`, NNPDF's choice); none: fit the measured data")
    fit: Optional[str] = option(None, "results file (.h5) of the earlier pdf-fit for truth: fit (relative to the "
                                      "runcard)")
    level: int = option(1, "0: central values = truth predictions; 1: plus one fluctuation drawn from the "
                           "experimental covariance", ge=0, le=1)
    seed: int = option(1, "seed of the level-1 fluctuation (NNPDF: filterseed), independent of the replica seed")


@dataclass
class PostfitConfig:
    chi2_threshold: float = option(3.0, "discard replicas whose chi2/point to the data exceeds this "
                                        "(validphys postfit default: 3)", gt=0)
    arclength_sigma: float = option(4.0, "discard replicas whose arc-length exceeds the mean by this many "
                                         "standard deviations in any flavour (postfit default: 4)", gt=0)


@dataclass
class OutputGridConfig:
    xmin: float = option(1e-5, "smallest x of the stored PDF grid (with q_values: not below the FK tables' "
                               "smallest x, where evolution stops)", gt=0, lt=0.1)
    points: int = option(100, "x points: half log-spaced in [xmin, 0.1], half linear in [0.1, 1)", ge=4)
    q_values: list[float] = option([1.65, 100.0], "scales [GeV] at which evolved PDFs are stored, from Q0 to "
                                                  "1e5 GeV")


@dataclass
class LhapdfConfig:
    name: Optional[str] = option(None, "LHAPDF set name (letters, digits, _ - . +), a folder written beside the "
                                       "results file; none: no export")
    xmin: Optional[float] = option(None, "smallest x of the grid, not below the FK tables' smallest x (eko evolves "
                                         "on that grid; LHAPDF extrapolates below XMin); none: that x", gt=0, lt=0.1)
    x_points: int = option(100, "x grid points (log below 0.1, linear above)", ge=10)
    q_max: float = option(1e4, "largest Q [GeV], above Q0 and at most 1e5 (the evolution's range)", gt=1)
    q_points: int = option(30, "Q grid points (log-spaced, split at heavy-quark thresholds)", ge=4)


@dataclass
class PdfFitConfig:
    data: DataConfig = option(doc="datasets and kinematic cuts")
    theory: TheoryConfig = option(TheoryConfig(), "FK tables")
    model: ModelConfig = option(ModelConfig(), "neural-network parametrisation")
    positivity: PositivityConfig = option(PositivityConfig(), "positivity Lagrange multiplier")
    integrability: IntegrabilityConfig = option(IntegrabilityConfig(), "integrability Lagrange multiplier")
    t0: T0Config = option(T0Config(), "t0 covariance of the training loss")
    closure: ClosureConfig = option(ClosureConfig(), "closure test: fake data from a known PDF")
    postfit: PostfitConfig = option(PostfitConfig(), "replica selection at report/export time")
    output_grid: OutputGridConfig = option(OutputGridConfig(), "PDF grids stored in the results")
    lhapdf: LhapdfConfig = option(LhapdfConfig(), "LHAPDF6 export")
