"""The ``binned:`` runcard section of eft-fit: a SMEFiT-style global fit of Wilson coefficients to binned data.

Coefficient names are those of the SMEFiT theory tables (``OtG``, ``OpQM``, ...; see
``operators_implemented.yaml`` of the database). Each coefficient is either

- fitted: ``{min: -1, max: 1}`` (bounds optional for ``analytic``/``replicas``, required for ``nuts``/``scan``),
- fixed: ``{value: 0.5}``,
- linearly constrained: ``{constrain: [{OpWB: 1.0}, {OtW: -0.4}]}`` meaning ``c = 1.0 c_OpWB - 0.4 c_OtW``
  (the SMEFiT runcard convention; the right-hand side coefficients must be fitted ones).
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
    constrain: Optional[list[dict[str, float]]] = option(
        None, "linear constraint c = sum_k factor_k c_k, written [{name_k: factor_k}, ...]")


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
    flat_threshold: float = option(1e-8, "Fisher eigenvalues below this fraction of the largest are flat", gt=0)
