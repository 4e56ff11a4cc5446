"""From the ``binned:`` runcard section to a ``BinnedProblem``: paths, dataset names and coefficients checked,
every mistake reported against its runcard key."""
from __future__ import annotations

import difflib

from mlhep.paths import expand

from .config import BinnedConfig
from .loader import available_datasets, load_dataset
from .problem import BinnedProblem, build_problem
from .theory import CoefficientError, build_coefficient_map

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
    return path


def setup_problem(config: BinnedConfig, ctx) -> BinnedProblem:
    database = database_path(config, ctx)
    valid = available_datasets(database)
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
    tables = [load_dataset(database, name, config.order) for name in config.datasets]
    known = set().union(*(t.linear for t in tables))
    for name in cmap.free:
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=3, cutoff=0.5)
            raise ctx.fail(f"{SECTION}.coefficients.{name}",
                           f"'{name}' has no linear correction in any selected dataset, so it is unconstrained"
                           f"{' (did you mean: ' + ', '.join(close) + ')' if close else ''}")
    lowered = [t.name for t in tables if config.order == "NLO" and t.order == "LO"]
    if lowered:
        ctx.log(f"eft-fit: no NLO_QCD table, using LO for: {', '.join(lowered)}")
    problem = build_problem(tables, cmap, config.use_quadratic, config.use_theory_covmat, config.use_t0)
    ctx.log(f"eft-fit: {len(tables)} datasets, {problem.central.size} points, "
            f"{len(cmap.free)} fitted of {len(cmap.names)} coefficients")
    return problem


def setup_fit(config: BinnedConfig, ctx) -> BinnedProblem:
    """What every binned fit starts with, and all that ``mlhep check`` runs: the fit options checked, then the
    problem built (data and theory read; cheap)."""
    check_fit_options(config, ctx)
    return setup_problem(config, ctx)


def check_fit_options(config: BinnedConfig, ctx) -> None:
    if config.fit == "analytic" and config.use_quadratic:
        raise ctx.fail(f"{SECTION}.use_quadratic", "fit: analytic is the linear Gaussian fit; use "
                                                   "replicas, nuts or scan with quadratic corrections")
    if config.fit in ("nuts", "nested", "scan"):
        for name, spec in config.coefficients.items():
            if spec.value is None and spec.constrain is None and (spec.min is None or spec.max is None):
                raise ctx.fail(f"{SECTION}.coefficients.{name}",
                               f"fit: {config.fit} needs min and max for every fitted coefficient")
    names = set(config.coefficients)
    for k, pair in enumerate(config.scan.pairs):
        if len(pair) != 2 or not set(pair) <= names or pair[0] == pair[1]:
            raise ctx.fail(f"{SECTION}.scan.pairs[{k}]", f"expected two different fitted coefficients, got {pair}")
