"""From the ``binned:`` runcard section to a ``BinnedProblem``: paths, dataset names and coefficients checked,
every mistake reported against its runcard key."""
from __future__ import annotations

import difflib

import numpy as np

from mlhep.paths import expand

from .config import BinnedConfig
from .loader import available_datasets, load_dataset
from .problem import BinnedProblem, build_problem
from .projection import project
from .theory import CoefficientError, CoefficientMap, build_coefficient_map

SECTION = "binned"


def database_path(config: BinnedConfig, ctx):
    """The database folder: environment variables expanded, relative paths relative to the runcard."""
    expanded = expand(config.database)
    if "$" in expanded:
        raise ctx.fail(f"{SECTION}.database", f"'{config.database}': environment variable not set "
                                              f"(e.g. export MLHEP_SHARED_DATA=/path/to/shared/data)")
    path = ctx.resolve(expanded)
    if not (path / "commondata").is_dir() or not (path / "theory").is_dir():
        raise ctx.fail(f"{SECTION}.database", f"{path} is not a SMEFiT database (needs commondata/ and theory/)")
    if not (path / config.commondata).is_dir():
        folders = sorted(p.name for p in path.iterdir() if p.is_dir() and p.name.startswith("commondata"))
        raise ctx.fail(f"{SECTION}.commondata", f"no folder '{config.commondata}' in {path} (there: "
                                                f"{', '.join(folders)})")
    return path


def setup_problem(config: BinnedConfig, ctx) -> BinnedProblem:
    database = database_path(config, ctx)
    valid = available_datasets(database, config.commondata)
    if not config.datasets:
        raise ctx.fail(f"{SECTION}.datasets", "no datasets given")
    for i, name in enumerate(config.datasets):
        if name not in valid:
            close = difflib.get_close_matches(name, valid, n=5, cutoff=0.5)
            hint = f"did you mean: {', '.join(close)}" if close else f"{len(valid)} available in {database}"
            raise ctx.fail(f"{SECTION}.datasets[{i}]", f"unknown dataset '{name}' ({hint})")
    if len(set(config.datasets)) != len(config.datasets):
        raise ctx.fail(f"{SECTION}.datasets", "a dataset is listed twice")
    try:
        cmap = build_coefficient_map(config.coefficients)
    except CoefficientError as error:
        raise ctx.fail(f"{SECTION}.coefficients{'.' + error.key if error.key else ''}", str(error)) from None
    # A broken data or theory file is a DataError (exit 4) naming the file, not a runcard mistake.
    tables = [load_dataset(database, name, config.order, config.commondata) for name in config.datasets]
    known = set().union(*(t.linear for t in tables))
    check_coefficients(cmap, known, config, ctx)
    if config.projection is not None:
        check_projection(config, known, ctx)
        tables = project(tables, config.projection, config.use_quadratic, config.use_theory_covmat, ctx.seed,
                         database / config.commondata)
        ctx.log(f"eft-fit: projected pseudo-data ({config.projection.noise}"
                f"{', ' + format(config.projection.luminosity, 'g') + ' fb^-1' if config.projection.luminosity else ''}"
                f", truth {config.projection.truth or 'SM'})")
    lowered = [t.name for t in tables if config.order == "NLO" and t.order == "LO"]
    if lowered:
        ctx.log(f"eft-fit: no NLO_QCD table, using LO for: {', '.join(lowered)}")
    problem = build_problem(tables, cmap, config.use_quadratic, config.use_theory_covmat, config.use_t0)
    ctx.log(f"eft-fit: {len(tables)} datasets, {problem.central.size} points, "
            f"{len(cmap.free)} fitted of {len(cmap.names)} coefficients")
    return problem


def check_coefficients(cmap: CoefficientMap, known: set[str], config: BinnedConfig, ctx) -> None:
    """Every fitted parameter must move a prediction: through its own linear correction, or (a UV coupling or
    mass) through a constrained coefficient that has one. Non-linear maps need bounds (the start box) and do not
    fit analytically or one at a time."""
    with_tables = {cmap.names[i] for i in range(len(cmap.names)) if cmap.names[i] in known}
    for k, name in enumerate(cmap.free):
        drives = [cmap.names[i] for i in range(len(cmap.names)) if k in cmap.depends_on(i)]
        if not set(drives) & with_tables:
            close = difflib.get_close_matches(name, sorted(known), n=3, cutoff=0.5)
            through = [d for d in drives if d != name]
            raise ctx.fail(f"{SECTION}.coefficients.{name}",
                           f"'{name}' has no linear correction in any selected dataset"
                           f"{' (nor do ' + ', '.join(through) + ' that it sets)' if through else ''}, so it is "
                           f"unconstrained{' (did you mean: ' + ', '.join(close) + ')' if close else ''}")
    if cmap.is_linear:
        return
    uv = [cmap.names[t.target] for t in cmap.monomials]
    if config.fit == "analytic":
        raise ctx.fail(f"{SECTION}.fit", f"the constraints of {', '.join(uv)} are non-linear (UV couplings): the "
                                         "closed-form linear fit does not apply; use replicas, nuts, nested or scan")
    if config.individual:
        raise ctx.fail(f"{SECTION}.individual", f"one-at-a-time fits need linear constraints (those of "
                                                f"{', '.join(uv)} are not): with the others at zero a product of "
                                                "couplings vanishes and a mass power diverges")
    for k, name in enumerate(cmap.free):
        if not (np.isfinite(cmap.lower[k]) and np.isfinite(cmap.upper[k])):
            raise ctx.fail(f"{SECTION}.coefficients.{name}", "with non-linear (UV) constraints every fitted "
                                                             "parameter needs min and max (the box the starts "
                                                             "are drawn from)")


def check_projection(config: BinnedConfig, known: set[str], ctx) -> None:
    for name in config.projection.truth:
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=3, cutoff=0.5)
            raise ctx.fail(f"{SECTION}.projection.truth.{name}", f"'{name}' has no correction in any selected "
                           f"dataset{' (did you mean: ' + ', '.join(close) + ')' if close else ''}")


def setup_fit(config: BinnedConfig, ctx) -> BinnedProblem:
    """What every binned fit starts with, and all that ``mlhep check`` runs: the fit options checked, then the
    problem built (data and theory read; cheap)."""
    check_fit_options(config, ctx)
    return setup_problem(config, ctx)


def check_fit_options(config: BinnedConfig, ctx) -> None:
    if config.fit == "analytic" and config.use_quadratic:
        raise ctx.fail(f"{SECTION}.use_quadratic", "fit: analytic is the linear Gaussian fit; use "
                                                   "replicas, nuts or scan with quadratic corrections")
    if config.individual and config.fit == "scan":
        raise ctx.fail(f"{SECTION}.individual", "the one-at-a-time chi2 scan is fit: scan with scan.profile: false "
                                                "(the other coefficients at zero)")
    if config.individual and config.scan.pairs:
        raise ctx.fail(f"{SECTION}.scan.pairs", "one-at-a-time fits have no 2D contours: leave pairs empty")
    if config.fit in ("nuts", "nested", "scan"):
        for name, spec in config.coefficients.items():
            if spec.value is None and spec.constrain is None and (spec.min is None or spec.max is None):
                raise ctx.fail(f"{SECTION}.coefficients.{name}",
                               f"fit: {config.fit} needs min and max for every fitted coefficient")
    names = set(config.coefficients)
    for k, pair in enumerate(config.scan.pairs):
        if len(pair) != 2 or not set(pair) <= names or pair[0] == pair[1]:
            raise ctx.fail(f"{SECTION}.scan.pairs[{k}]", f"expected two different fitted coefficients, got {pair}")
