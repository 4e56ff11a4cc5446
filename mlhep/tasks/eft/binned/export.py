"""Export of a binned EFT fit in SMEFiT's result layout, so that SMEFiT's report tools (``smefit R``,
``smefit.fit_manager.FitManager``) read mlhep's bounds and posterior samples.

``<folder>/<result_ID>/`` holds (SMEFiT 4.0, ``smefit.optimize.*.save``, ``smefit.postfit.Postfit.save``):

- ``fit_results.json``: ``samples`` {coefficient: [S values]} (every coefficient, constrained ones evaluated),
  ``best_fit_point`` {coefficient: value}, ``max_loglikelihood`` (-chi2_min / 2), ``logz`` (nested sampling;
  null otherwise), ``free_parameters`` [names]. One-at-a-time fits use SMEFiT's ``single_parameter_fits`` form:
  ``"single_parameter_fits": true`` and ``logz``, ``max_loglikelihood``, ``best_fit_point``, ``samples`` keyed by
  each fitted coefficient;
- ``posterior.json``: {coefficient: [S values]} (the MC postfit layout);
- ``<result_ID>.yaml``: the equivalent SMEFiT runcard (data and theory paths, datasets with their order,
  coefficients with min/max, ``constrain``, ``is_mass``), which ``FitManager`` loads beside the results;
- ``bounds.json``: a HEPData-like table of best fit, mean, standard deviation and 68%/95% intervals.

The samples are those of the fit: the replicas' minima (failed ones left out), NUTS or nested-sampling draws, or,
for the analytic fit, draws from its Gaussian (``ANALYTIC_SAMPLES``, seeded, as SMEFiT's ``n_samples``). A scan has
bounds but no samples (``samples`` is empty).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from ruamel.yaml import YAML

from mlhep.errors import ResultsError

from .summary import is_individual

ANALYTIC_SAMPLES = 10000
ORDERS = {"LO": "LO", "NLO_QCD": "NLO_QCD", "NLO": "NLO_QCD"}


def _names(value) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in np.atleast_1d(value)]


def _number(value) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def export_samples(summary: dict, replicas: dict) -> np.ndarray:
    """(S, N) samples of every coefficient (see the module docstring); (0, N) for a scan."""
    names = _names(summary["coefficients/names"])
    fit = str(np.asarray(summary["fit"]).astype(str))
    if "coefficients" in replicas:
        kept = ~np.asarray(replicas.get("failed", np.zeros(len(replicas["coefficients"]), bool)), dtype=bool)
        return np.asarray(replicas["coefficients"])[kept]
    if "posterior/samples" in summary:
        return np.asarray(summary["posterior/samples"])
    if fit == "analytic" and not is_individual(summary):
        free = _names(summary["coefficients/free"])
        matrix, offset = np.asarray(summary["coefficients/matrix"]), np.asarray(summary["coefficients/offset"])
        best_free = np.asarray(summary["analytic/best"])[[names.index(f) for f in free]]
        draws = np.random.default_rng(0).multivariate_normal(best_free, np.asarray(summary["analytic/covariance"]),
                                                             size=ANALYTIC_SAMPLES)
        return draws @ matrix.T + offset
    if fit == "analytic":        # one at a time: independent Gaussians of the free coefficients
        rng = np.random.default_rng(0)
        mean, std = np.asarray(summary["mean"]), np.asarray(summary["std"])
        return mean + std * rng.standard_normal((ANALYTIC_SAMPLES, len(names)))
    return np.zeros((0, len(names)))


def fit_results(summary: dict, replicas: dict) -> dict:
    """The content of SMEFiT's ``fit_results.json``."""
    names, free = _names(summary["coefficients/names"]), _names(summary["coefficients/free"])
    samples = export_samples(summary, replicas)
    if is_individual(summary):
        evidence = summary.get("individual/log_evidence")
        chi2_min = np.asarray(summary["individual/chi2_min"])
        return {"single_parameter_fits": True, "free_parameters": free,
                "best_fit_point": {c: _number(summary["best_fit"][names.index(c)]) for c in free},
                "max_loglikelihood": {c: _number(-0.5 * chi2_min[k]) for k, c in enumerate(free)},
                "logz": {c: None if evidence is None else _number(evidence[k]) for k, c in enumerate(free)},
                "samples": {c: samples[:, names.index(c)].tolist() for c in free}}
    logz = summary.get("posterior/log_evidence")
    return {"samples": {c: samples[:, i].tolist() for i, c in enumerate(names)},
            "logz": None if logz is None else _number(logz),
            "max_loglikelihood": _number(-0.5 * float(summary["chi2/total_best"])),
            "best_fit_point": {c: _number(summary["best_fit"][i]) for i, c in enumerate(names)},
            "free_parameters": free}


def bounds_table(summary: dict) -> dict:
    """A HEPData-like table of the bounds: one row per coefficient."""
    names, free = _names(summary["coefficients/names"]), _names(summary["coefficients/free"])
    rows = []
    for i, name in enumerate(names):
        rows.append({"coefficient": name, "fitted": name in free,
                     "best_fit": _number(summary["best_fit"][i]), "mean": _number(summary["mean"][i]),
                     "std": _number(summary["std"][i]),
                     "cl68": [_number(v) for v in summary["bounds68"][i]],
                     "cl95": [_number(v) for v in summary["bounds95"][i]]})
    return {"fit": str(np.asarray(summary["fit"]).astype(str)), "individual": is_individual(summary),
            "units": "TeV^-2 (c / Lambda^2, Lambda = 1 TeV)", "intervals": "central (equal-tailed) credible or "
            "confidence intervals", "coefficients": rows}


def smefit_runcard(summary: dict, binned: dict, database: Path, result_id: str, folder: Path) -> dict:
    """The SMEFiT runcard equivalent to the fit (``binned`` is the plain runcard section)."""
    coefficients = {}
    for name, spec in binned["coefficients"].items():
        spec = {k: v for k, v in (spec or {}).items() if v is not None and v is not False}
        entry = {}
        if "value" in spec:
            entry = {"constrain": True, "value": float(spec["value"])}
        elif "constrain" in spec:
            entry = {"constrain": [{k: (list(v) if isinstance(v, (list, tuple)) else float(v)) for k, v in term.items()}
                                   for term in spec["constrain"]]}
        for key in ("min", "max"):
            if key in spec:
                entry[key] = float(spec[key])
        if spec.get("is_mass"):
            entry["is_mass"] = True
        coefficients[name] = entry
    datasets = [{"name": n, "order": ORDERS.get(o, o)} for n, o in
                zip(_names(summary["datasets/names"]), _names(summary["datasets/order"]))]
    uv = "coefficients/uv_constrained" in summary
    return {"result_ID": result_id, "result_path": str(folder.parent),
            "data_path": str(database / binned.get("commondata", "commondata")),
            "theory_path": str(database / "theory"),
            "order": binned.get("order", "NLO"), "use_quad": bool(binned.get("use_quadratic", False)),
            "use_t0": bool(binned.get("use_t0", True)),
            "use_theory_covmat": bool(binned.get("use_theory_covmat", True)),
            "uv_couplings": uv, "single_parameter_fits": is_individual(summary),
            "datasets": datasets, "coefficients": coefficients,
            "exported_by": "mlhep eft-fit (binned)"}


def export_smefit(summary: dict, replicas: dict, binned: dict, folder: Path, result_id: str,
                  database: Path | None = None) -> Path:
    """Write ``folder/result_id/`` (see the module docstring); returns that folder."""
    target = Path(folder) / result_id
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ResultsError(f"cannot create the export folder {target}: {err.strerror}") from None
    results = fit_results(summary, replicas)
    (target / "fit_results.json").write_text(json.dumps(results, indent=1))
    (target / "posterior.json").write_text(json.dumps(results["samples"]))
    (target / "bounds.json").write_text(json.dumps(bounds_table(summary), indent=1))
    database = Path(binned["database"]) if database is None else Path(database)
    yaml = YAML()
    yaml.default_flow_style = None
    with open(target / f"{result_id}.yaml", "w") as f:
        yaml.dump(smefit_runcard(summary, binned, database, result_id, target), f)
    return target


def read_smefit_results(folder: Path) -> dict:
    """SMEFiT's ``fit_results.json`` of ``folder`` read as ``FitManager.load_results`` does (samples as arrays per
    coefficient, ``best_fit_point`` a dict); for the round trip of an export."""
    path = Path(folder) / "fit_results.json"
    try:
        raw = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ResultsError(f"{path}: not a SMEFiT fit_results.json ({err})") from None
    raw["samples"] = {k: np.asarray(v, dtype=float) for k, v in raw["samples"].items()}
    return raw
