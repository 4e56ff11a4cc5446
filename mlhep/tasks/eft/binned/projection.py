"""Projections: pseudo-data for a future run of each dataset (SMEFiT's ``projections`` module, SMEFiT 3.0,
Celada et al., JHEP 09 (2024) 091, arXiv:2404.12809, sec. 3; smefit ``Projection.build_projection``).

Per dataset, with t the theory at the ``truth`` coefficients (the SM when none) and d the measured central values:

- statistical errors follow the predicted rate, ``stat * sqrt(t / d)`` (ratio 1 where it is negative or not finite),
  and the luminosity: ``* sqrt(L_dataset / L_new)``;
- systematics become additive, a MULT one rescaled to the theory (``sys * t / d``, as the t0 prescription), then
  times ``fred_sys``; a dataset without statistical errors (only a total) has them times ``fred_tot`` instead,
  and if its systematics are an "artificial" square decomposition (signed eigenvectors) only their diagonal is
  kept, correlations dropped, as SMEFiT does;
- central values: t (level 0), or t fluctuated with the projected covariance of the dataset (+ its theory
  covariance when used; level 1).

Without ``luminosity`` only the central values move (a closure test on the same uncertainties).
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from mlhep.errors import DataError
from mlhep.stats.covariance import Uncertainties, covariance

from .config import ProjectionConfig
from .loader import DatasetTables


def truth_prediction(table: DatasetTables, truth: dict[str, float], use_quadratic: bool) -> np.ndarray:
    """(n,) theory of ``table`` at the coefficient values ``truth`` (others zero)."""
    out = table.best_sm + sum(values * truth[name] for name, values in table.linear.items() if name in truth)
    if use_quadratic:
        out = out + sum(values * truth[a] * truth[b] for (a, b), values in table.quadratic.items()
                        if a in truth and b in truth)
    return np.asarray(out, dtype=float)


def rescale_systematics(sys: np.ndarray, factor: float) -> np.ndarray:
    """``sys`` (n, k) times ``factor``; an artificial decomposition (square, with negative entries) is replaced by
    the square root of its covariance's diagonal first (smefit ``Projection.rescale_sys``)."""
    if sys.shape[0] == sys.shape[1] and np.any(sys < 0):
        return np.diag(np.sqrt(np.diag(sys @ sys.T)) * factor)
    return sys * factor


def project_dataset(table: DatasetTables, config: ProjectionConfig, use_quadratic: bool, use_theory_covmat: bool,
                    rng: np.random.Generator, commondata_file: str) -> DatasetTables:
    """One dataset projected (see the module docstring); ``commondata_file`` names it in errors."""
    u = table.uncertainties
    theory = truth_prediction(table, config.truth, use_quadratic)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = theory / u.central
    ratio = np.where(np.isfinite(ratio) & (ratio >= 0), ratio, 1.0)
    stat = u.stat * np.sqrt(ratio)
    mult = np.array([t == "MULT" for t in u.treatment], dtype=bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        sys = np.where(mult[None, :], u.sys * (theory / u.central)[:, None], u.sys) if mult.any() else u.sys.copy()
    if not np.all(np.isfinite(sys)):
        raise DataError(f"{commondata_file}: a MULT systematic on a point whose data_central is 0 cannot be "
                        "rescaled to the projected theory")
    luminosity = table.luminosity
    if config.luminosity is not None:
        if not np.any(stat):
            sys = rescale_systematics(sys, config.fred_tot)
        else:
            if table.luminosity is None:
                raise DataError(f"{commondata_file}: no 'luminosity' (fb^-1): a projection to "
                                f"{config.luminosity:g} fb^-1 needs it to rescale the statistical errors")
            stat = stat * np.sqrt(table.luminosity / config.luminosity)
            sys = rescale_systematics(sys, config.fred_sys)
        luminosity = config.luminosity
    central = theory
    projected = Uncertainties(u.dataset, central, stat, sys, ("ADD",) * sys.shape[1], u.names)
    if config.noise == "L1":
        cov = covariance([projected]) + (table.theory_cov if use_theory_covmat else 0.0)
        central = rng.multivariate_normal(theory, cov)
        projected = replace(projected, central=central)
    return replace(table, uncertainties=projected, luminosity=luminosity)


def project(tables: list[DatasetTables], config: ProjectionConfig, use_quadratic: bool, use_theory_covmat: bool,
            seed: int, commondata_folder) -> list[DatasetTables]:
    """Every dataset projected; level-1 noise drawn dataset by dataset from ``seed`` (as SMEFiT does)."""
    rng = np.random.default_rng(seed)
    return [project_dataset(t, config, use_quadratic, use_theory_covmat, rng, f"{commondata_folder}/{t.name}.yaml")
            for t in tables]
