"""The ``binned:`` runcard section of eft-fit: a SMEFiT-style global fit of Wilson coefficients to binned data.

Coefficient names are those of the SMEFiT theory tables (``OtG``, ``OpQM``, ...; see
``operators_implemented.yaml`` of the database). Each coefficient is either

- fitted: ``{min: -1, max: 1}`` (bounds optional for ``analytic``/``replicas``, required for ``nuts``/``scan``),
- fixed: ``{value: 0.5}``,
- constrained: ``{constrain: [{OpWB: 1.0}, {OtW: -0.4}]}`` meaning ``c = 1.0 c_OpWB - 0.4 c_OtW`` (the SMEFiT
  runcard convention; the right-hand side coefficients must be fitted ones), or SMEFiT's non-linear form for UV
  models, a sum of products of powers: ``{constrain: [{g1: [0.5, 2], M: [1.0, -2]}]}`` meaning
  ``c = 0.5 g1^2 M^-2``. The fitted parameters of a UV model (couplings ``g1``, masses ``M`` with
  ``is_mass: true``) need no theory table of their own.

``individual: true`` fits every fitted coefficient alone, the others at zero (SMEFiT's
``single_parameter_fits``), all as one batched program; ``projection:`` turns the datasets into pseudo-data for
a future luminosity (SMEFiT's ``PROJ``); ``commondata:`` picks another commondata folder of the database (e.g.
``commondata_projections_L0``, SMEFiT's level-0 projections for HL-LHC and future colliders).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

from mlhep.config import option


@dataclass
class CoefficientConfig:
    """One Wilson coefficient (in units of TeV^-2, i.e. c / Lambda^2 with Lambda = 1 TeV)."""

    min: Optional[float] = option(None, "lower bound of the fit / flat prior")
    max: Optional[float] = option(None, "upper bound of the fit / flat prior")
    value: Optional[float] = option(None, "fix the coefficient to this value (not fitted)")
    # the factors are checked by ``theory.check_spec`` (a number or [factor, power]), which names the key of a bad one
    constrain: Optional[list[dict[str, object]]] = option(
        None, "constraint c = sum of terms, each a product of factor x power: [{name: factor}, ...] (linear) or "
              "[{g1: [factor, power], M: [factor, power]}, ...] (SMEFiT's non-linear UV form)")
    is_mass: bool = option(False, "a UV mass parameter (fitted, with 0 < min < max; SMEFiT's is_mass)")


@dataclass
class ReplicaConfig:
    """Monte Carlo replica fit: one chi2 minimisation per pseudo-data replica, all replicas batched."""

    solver: Literal["newton", "engine"] = option(
        "newton", "newton: vmapped damped Newton (Levenberg-Marquardt) in one jitted loop; "
                  "engine: the mlhep gradient-descent engine (engine: section)")
    starts: Optional[int] = option(
        None, "newton: starting points per replica, lowest minimum kept (default: 1 if linear, 8 if quadratic, "
              "whose chi2 can have several minima)", ge=1)
    max_iterations: int = option(100, "newton: iteration limit", ge=1)
    tolerance: float = option(1e-10, "newton: stop when the chi2 decrease is below tolerance * (1 + chi2)", gt=0)


@dataclass
class NutsConfig:
    """Bayesian posterior with the No-U-Turn sampler (blackjax), flat priors inside the coefficient bounds."""

    chains: int = option(4, "independent chains, vmapped", ge=1)
    warmup: int = option(500, "window-adaptation steps (step size and dense mass matrix)", ge=10)
    samples: int = option(1000, "samples kept per chain", ge=10)


@dataclass
class NestedConfig:
    """Posterior and evidence by nested sampling (blackjax's nested slice sampler), flat priors inside the bounds:
    finds every mode of a multimodal (quadratic) posterior, as SMEFiT's nested sampling does."""

    live: int = option(500, "live points (more: finer evidence, modes less likely missed)", ge=20, le=100000)
    inner_steps: Optional[int] = option(None, "slice moves per new live point (default: max(5, 3 x fitted))", ge=1)
    tolerance: float = option(0.01, "stop when the live points can add less than this to log Z", gt=0)
    max_steps: int = option(20000, "cap on the steps (each replaces half the live points)", ge=1)
    samples: int = option(4000, "posterior draws resampled from the weighted dead points", ge=10)


@dataclass
class ProjectionConfig:
    """Pseudo-data for a future run from each dataset's commondata (SMEFiT's ``projections`` module, SMEFiT 3.0,
    arXiv:2404.12809 sec. 3): central values = the theory at ``truth`` (the SM when empty); statistical errors
    rescaled to it and by sqrt(L_dataset / luminosity); systematics (all made additive, t0-style) times
    ``fred_sys``; a dataset without a statistical/systematic breakdown has its total error times ``fred_tot``."""

    luminosity: Optional[float] = option(None, "target integrated luminosity in fb^-1 (none: keep the "
                                               "uncertainties, only move the central values)", gt=0)
    fred_sys: float = option(0.5, "systematics reduction factor (SMEFiT/HL-LHC optimistic scenario: 1/2)", gt=0)
    fred_tot: float = option(0.333, "total-error reduction for datasets with no statistical breakdown", gt=0)
    noise: Literal["L0", "L1"] = option("L0", "L0: central values = theory; L1: fluctuated with the projected "
                                              "covariance (seeded by the runcard seed)")
    truth: dict[str, float] = option({}, "coefficient values of the pseudo-data (others 0: the SM)")


@dataclass
class ScanConfig:
    """Profile chi2 scans: 1D for every fitted coefficient, 2D for the listed pairs (others minimised)."""

    points: int = option(41, "grid points per axis", ge=3)
    pairs: list[list[str]] = option([], "coefficient pairs for 2D scans, e.g. [[OtG, OtZ]]")
    profile: bool = option(True, "minimise the other coefficients at each grid point (false: fix them to 0)")


@dataclass
class BinnedConfig:
    """A global fit of SMEFT Wilson coefficients to binned measurements (the SMEFiT approach)."""

    database: str = option(doc="SMEFiT database folder with commondata/ and theory/ (env vars expanded)")
    datasets: list[str] = option(doc="dataset names (files commondata/<name>.yaml and theory/<name>.json)")
    coefficients: dict[str, CoefficientConfig] = option(doc="Wilson coefficients: fitted, fixed or constrained")
    order: Literal["LO", "NLO"] = option("NLO", "QCD order of the EFT corrections (LO fallback per dataset)")
    use_quadratic: bool = option(False, "include O(1/Lambda^4) quadratic EFT corrections")
    use_theory_covmat: bool = option(True, "add the theory covariance of each dataset to the experimental one")
    use_t0: bool = option(True, "t0 prescription: multiplicative systematics rescaled to the SM prediction")
    fit: Literal["analytic", "replicas", "nuts", "nested", "scan"] = option(
        "replicas", "analytic: linear Gaussian closed form; replicas: MC replicas; nuts: posterior (one mode); "
                    "nested: posterior and evidence (every mode); scan: chi2")
    replica: ReplicaConfig = option(ReplicaConfig(), "replica fit settings")
    nuts: NutsConfig = option(NutsConfig(), "NUTS settings")
    nested: NestedConfig = option(NestedConfig(), "nested sampling settings")
    scan: ScanConfig = option(ScanConfig(), "scan settings (also used by other fits for 2D contours if pairs set)")
    individual: bool = option(
        False, "fit every fitted coefficient alone, the others at zero (SMEFiT's single_parameter_fits), all at "
               "once: analytic 1/sqrt(F_kk); replicas: each replica's 1D minimum; nuts/nested: the exact 1D "
               "posterior and evidence by quadrature. The report sets them beside the global bounds")
    commondata: str = option("commondata", "commondata folder inside the database (e.g. "
                                           "commondata_projections_L0: SMEFiT's level-0 future-collider data)")
    projection: Optional[ProjectionConfig] = option(None, "make the data a projection to a future luminosity")
    export: Optional[str] = option(None, "also write the results in SMEFiT's layout (fit_results.json, "
                                         "posterior.json, runcard) into this folder (relative to the runcard)")
    flat_threshold: float = option(1e-8, "Fisher eigenvalues below this fraction of the largest are flat", gt=0)
