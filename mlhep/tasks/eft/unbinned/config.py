"""The ``unbinned:`` runcard section of eft-fit: ML likelihood-ratio fits of c_tG on LO tt̄ (ML4EFT)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mlhep.config import option
from mlhep.models.mlp import ACTIVATIONS


@dataclass
class ColliderConfig:
    """Collider energy and integrated luminosity of the (pseudo-)measurement."""

    sqrts: float = option(14000.0, "proton-proton centre-of-mass energy sqrt(S) in GeV", gt=0)
    luminosity: float = option(1.0, "integrated luminosity in fb^-1", gt=0)
    efficiency: float = option(1.0, "branching fraction times selection efficiency multiplying every rate",
                               gt=0, le=1)


@dataclass
class TheoryConfig:
    """LO tt̄ + O_tG theory (closed form, mlhep.physics.ttbar_ctg)."""

    m_t: float = option(172.76, "top-quark mass in GeV", gt=0)
    alpha_s: float = option(0.1179, "fixed strong coupling in the partonic cross sections", gt=0, lt=1)
    lambda_np: float = option(1000.0, "EFT scale Lambda in GeV (c_tG / Lambda^2)", gt=0)
    vev: float = option(246.22, "Higgs vacuum expectation value in GeV", gt=0)
    mu_f: Literal["half_mtt", "mtt", "fixed"] = option(
        "half_mtt", "factorisation scale: m_tt/2, m_tt, or the fixed value mu_f_fixed")
    mu_f_fixed: float = option(91.1876, "factorisation scale in GeV when mu_f is 'fixed'", gt=1.5)
    pdf: Literal["lh_toy_evolved", "lh_toy_q0"] = option(
        "lh_toy_evolved", "Les Houches toy PDF evolved with eko to mu_f, or unevolved at Q0 = sqrt(2) GeV")
    pdf_order: Literal["LO", "NLO"] = option("LO", "perturbative order of the toy's DGLAP evolution (LO matches "
                                             "the LO partonic cross sections; NLO takes long the first time)")
    m_tt_max: float = option(3000.0, "upper edge of the m_tt range of the measurement in GeV", gt=0)


@dataclass
class TrainingConfig:
    """Event samples for the classifiers (ML4EFT, arXiv:2211.02058, sec. 3)."""

    n_events: int = option(20000, "unweighted events per sample (the SM sample and each EFT sample)", ge=100)
    c_values: list[float] = option([-3.0, 3.0], "c_tG values of the EFT training samples "
                                   "(at least two distinct non-zero values to learn alpha and beta)")
    validation_fraction: float = option(0.25, "fraction of each sample kept for validation (early stopping)",
                                        gt=0, lt=1)
    bootstrap: bool = option(True, "resample each replica's training events with replacement")


@dataclass
class NetworkConfig:
    """The network (NN_alpha(x), NN_beta(x)) on standardised (log m_tt, y_tt[, beta_t])."""

    hidden: list[int] = option([16, 16], "hidden-layer widths")
    activation: Literal[tuple(ACTIVATIONS)] = option("tanh", "hidden activation")
    threshold_feature: bool = option(True, "add the top velocity beta_t = sqrt(1 - 4 m_t^2/m_tt^2) as an input")


@dataclass
class BoundsConfig:
    """Profile-likelihood scan of q(c) = -2 Delta log L."""

    c_min: float = option(0.0, "lower end of the c_tG scan (c_min = c_max: automatic, 4x the exact 95% CL "
                          "half-width)")
    c_max: float = option(0.0, "upper end of the c_tG scan")
    n_scan: int = option(401, "points in the c_tG scan", ge=11)
    normalisation: Literal["fixed", "constrained", "free"] = option(
        "fixed", "overall rate normalisation nuisance: known exactly, Gaussian-constrained, or free (shape only)")
    normalisation_uncertainty: float = option(0.05, "relative width of the 'constrained' normalisation prior",
                                              gt=0)
    pseudo_experiments: int = option(0, "SM pseudo-experiments (0: Asimov data only)", ge=0)
    max_events_per_experiment: int = option(100000, "refuse pseudo-experiments with more expected events",
                                            ge=1)


@dataclass
class BinningConfig:
    """Bins of the binned Poisson comparison fit."""

    m_tt_edges: list[float] = option([345.52, 400.0, 450.0, 500.0, 550.0, 600.0, 700.0, 800.0, 1000.0, 1300.0,
                                      3000.0], "m_tt bin edges in GeV (ascending, inside [2 m_t, m_tt_max])")
    abs_y_tt_edges: list[float] = option([0.0, 0.5, 1.0, 1.5, 10.0], "|y_tt| bin edges per m_tt bin "
                                         "(ascending from 0; [0, 10] for m_tt bins only)")


@dataclass
class GridConfig:
    """Numerical grids: integration/sampling grid and the test grid of learned-vs-exact ratios."""

    n_m: int = option(240, "integration cells in log m_tt", ge=20)
    n_y: int = option(60, "integration cells in u = y_tt / y_max(m_tt)", ge=10)
    test_n_m: int = option(40, "test-grid points in m_tt", ge=5)
    test_n_y: int = option(21, "test-grid points in y_tt", ge=3)
    bulk_fraction: float = option(0.9, "the bulk: highest-density region holding this fraction of sigma_SM",
                                  gt=0, le=1)
    accuracy_c_values: list[float] = option([-1.0, 1.0], "c_tG values (besides the training ones) at which the "
                                            "learned ratio is compared with the exact one")


@dataclass
class UnbinnedConfig:
    """Unbinned ML likelihood-ratio fit of c_tG on LO tt̄ events with exact closed-form truth."""

    collider: ColliderConfig = option(ColliderConfig(), "collider")
    theory: TheoryConfig = option(TheoryConfig(), "theory")
    training: TrainingConfig = option(TrainingConfig(), "training samples")
    network: NetworkConfig = option(NetworkConfig(), "networks")
    bounds: BoundsConfig = option(BoundsConfig(), "bounds")
    binning: BinningConfig = option(BinningConfig(), "binned comparison")
    grid: GridConfig = option(GridConfig(), "numerical grids")
