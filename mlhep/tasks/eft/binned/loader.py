"""Readers of the SMEFiT database formats (github.com/LHCfitNikhef/smefit_database).

- ``commondata/<name>.yaml``: ``num_data`` n, ``num_sys`` k, ``data_central`` (n,), ``statistical_error`` (n,),
  ``systematics`` stored systematic-major, i.e. k rows of n values (a flat list when n == 1), as *absolute*
  shifts in the units of the data; ``sys_type`` (ADD/MULT) and ``sys_names`` (UNCORR, CORR, or a name shared
  across datasets) of length k (a bare string when k == 1). MULT only matters for the t0 prescription, where
  SMEFiT rescales it as ``sys / central * best_sm`` (smefit ``Loader.load_experimental_data``). Optional:
  ``luminosity`` in fb^-1 (what projections rescale the statistical errors by).
- ``theory/<name>.json``: ``best_sm`` (n,), ``theory_cov_current`` (or ``theory_cov``) (n, n), and per QCD order
  (``LO``, ``NLO_QCD``) the SM prediction ``SM`` and the EFT corrections per unit coefficient (Lambda = 1 TeV):
  linear ``"OX"`` (n,) and quadratic ``"OX*OY"`` (n,). The prediction is (SMEFiT, arXiv:2105.00006 eq. 2.3)
  ``sigma = best_sm + sum_i L_i c_i + sum_{i<=j} Q_ij c_i c_j``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlhep.errors import DataError
from mlhep.stats.covariance import Uncertainties

from .read import count, finite_array, labels, load_json_object, load_yaml_mapping, require, vector

ORDER_KEYS = {"LO": "LO", "NLO": "NLO_QCD"}


@dataclass(frozen=True)
class DatasetTables:
    """Data and theory of one dataset, as read (no selection of coefficients yet)."""

    name: str
    uncertainties: Uncertainties
    best_sm: np.ndarray                               # (n,) best SM prediction
    theory_cov: np.ndarray                            # (n, n) theory covariance (scale and PDF), absolute
    order: str                                        # the theory order actually used ("LO" or "NLO_QCD")
    linear: dict[str, np.ndarray]                     # coefficient -> (n,) linear correction
    quadratic: dict[tuple[str, str], np.ndarray]      # (coefficient, coefficient) -> (n,) quadratic correction
    luminosity: float | None = None                   # integrated luminosity (fb^-1) from the commondata, if given


COMMONDATA_LAYOUT = ("a SMEFiT commondata mapping: num_data, num_sys, data_central and statistical_error "
                     "(num_data values each), systematics (num_sys x num_data values), sys_type and sys_names "
                     "(num_sys each)")
THEORY_LAYOUT = ("a SMEFiT theory object: best_sm (n values), theory_cov_current or theory_cov (n x n), and the "
                 "tables LO and/or NLO_QCD mapping 'SM', 'OX' and 'OX*OY' to n values")
SYSTEMATIC_TYPES = ("ADD", "MULT")


def read_commondata(path: Path, raw: dict | None = None) -> Uncertainties:
    """One commondata YAML file (or its already parsed mapping ``raw``) as ``Uncertainties`` with sys of shape
    (n, k), absolute values."""
    raw = load_yaml_mapping(path, COMMONDATA_LAYOUT) if raw is None else raw
    name = str(raw.get("dataset_name", Path(path).stem))
    n = count(raw, "num_data", path, "number of data points", minimum=1)
    k = count(raw, "num_sys", path, "number of systematics, num_sys x num_data values under 'systematics'",
              minimum=0)
    central = vector(raw, "data_central", path, f"the num_data = {n} measured central values", n)
    stat = vector(raw, "statistical_error", path, f"the num_data = {n} absolute statistical errors", n)
    if k == 0:
        return Uncertainties(name, central, stat, np.zeros((n, 0)), (), ())
    meaning = (f"num_sys x num_data = {k} x {n} absolute shifts, one row per systematic"
               + (" (a flat list of num_sys values when num_data = 1)" if n == 1 else ""))
    sys = finite_array(require(raw, "systematics", path, meaning), path, "systematics", meaning)
    if sys.size != n * k or (sys.ndim == 2 and sys.shape != (k, n)) or sys.ndim > 2:
        raise DataError(f"{path}: systematics has {sys.size} values in shape {sys.shape}, expected "
                        f"num_sys x num_data = {k} x {n} (systematics: {meaning})")
    sys = sys.reshape(k, n).T                         # stored systematic-major (SMEFiT convention)
    types = labels(raw, "sys_type", path, f"num_sys = {k} entries, each ADD or MULT", k)
    bad = sorted(set(types) - set(SYSTEMATIC_TYPES))
    if bad:
        raise DataError(f"{path}: sys_type has {bad}, each entry must be ADD or MULT")
    names = labels(raw, "sys_names", path, f"num_sys = {k} names: UNCORR, CORR, or a source shared across "
                   "datasets", k)
    return Uncertainties(name, central, stat, sys, tuple(types), tuple(names))


def read_theory(path: Path, order: str) -> tuple[np.ndarray, np.ndarray, str, dict, dict]:
    """A theory JSON file: (best_sm (n,), theory_cov (n, n), order used, linear dict, quadratic dict).

    ``order`` is ``"LO"`` or ``"NLO"``; a table without NLO_QCD falls back to LO (e.g. the LEP datasets).
    """
    raw = load_json_object(path, THEORY_LAYOUT)
    key = ORDER_KEYS[order]
    if key not in raw:
        key = "LO"
    if key not in raw:
        raise DataError(f"{path}: no '{ORDER_KEYS[order]}' or 'LO' table (keys: {sorted(raw)}; expected "
                        f"{THEORY_LAYOUT})")
    meaning = "the best SM prediction, one value per data point"
    best_sm = np.atleast_1d(finite_array(require(raw, "best_sm", path, meaning), path, "best_sm", meaning))
    if best_sm.ndim != 1:
        raise DataError(f"{path}: best_sm has shape {best_sm.shape}, expected a list of numbers (best_sm: {meaning})")
    n = best_sm.size
    theory_cov = _theory_covariance(raw, path, n)
    table = raw[key]
    if not isinstance(table, dict):
        raise DataError(f"{path}: '{key}' is {type(table).__name__}, expected a mapping of 'SM', 'OX' and "
                        f"'OX*OY' to {n} values each")
    linear, quadratic = {}, {}
    for name, values in table.items():
        entry = f"{key}/{name}"
        values = np.atleast_1d(finite_array(values, path, entry, f"{n} values, one per data point"))
        if values.shape != (n,):
            raise DataError(f"{path}: {entry} has {values.size} values, best_sm has {n}")
        if name == "SM":
            continue
        if "*" in name:
            first, _, second = name.partition("*")
            if not first or not second or "*" in second:
                raise DataError(f"{path}: {entry}: a quadratic term is named 'OX*OY' (two coefficients)")
            quadratic[(first, second)] = values
        else:
            linear[name] = values
    return best_sm, theory_cov, key, linear, quadratic


def _theory_covariance(raw: dict, path: Path, n: int) -> np.ndarray:
    """The (n, n) theory covariance (zero when the file has none)."""
    cov_key = "theory_cov_current" if "theory_cov_current" in raw else "theory_cov"
    if cov_key not in raw:
        return np.zeros((n, n))
    meaning = f"the {n} x {n} theory covariance (one row of {n} values per data point)"
    cov = finite_array(raw[cov_key], path, cov_key, meaning)
    if cov.size != n * n or cov.ndim > 2 or (cov.ndim == 2 and cov.shape != (n, n)):
        raise DataError(f"{path}: {cov_key} has {cov.size} values in shape {cov.shape}, expected "
                        f"{n} x {n} ({cov_key}: {meaning}; n = the length of best_sm)")
    return cov.reshape(n, n)


def read_luminosity(raw: dict, path: Path) -> float | None:
    """The optional ``luminosity`` (fb^-1) of a parsed commondata file ``path``; None when absent."""
    if raw.get("luminosity") is None:
        return None
    value = finite_array(raw["luminosity"], path, "luminosity", "the integrated luminosity in fb^-1")
    if value.ndim != 0 or float(value) <= 0:
        raise DataError(f"{path}: luminosity = {raw['luminosity']!r}, expected one positive number (fb^-1)")
    return float(value)


def load_dataset(database: Path, name: str, order: str, commondata: str = "commondata") -> DatasetTables:
    """Commondata (from the folder ``commondata`` of the database) and theory of dataset ``name``."""
    data_file = Path(database) / commondata / f"{name}.yaml"
    theory_file = Path(database) / "theory" / f"{name}.json"
    raw = load_yaml_mapping(data_file, COMMONDATA_LAYOUT)
    uncertainties = read_commondata(data_file, raw)
    best_sm, theory_cov, used, linear, quadratic = read_theory(theory_file, order)
    if best_sm.size != uncertainties.central.size:
        raise DataError(f"{theory_file}: best_sm has {best_sm.size} values but {data_file} has num_data = "
                        f"{uncertainties.central.size} (one theory value per data point)")
    return DatasetTables(name, uncertainties, best_sm, theory_cov, used, linear, quadratic,
                         read_luminosity(raw, data_file))


def available_datasets(database: Path, commondata: str = "commondata") -> list[str]:
    """Names with both a commondata and a theory file."""
    data = {p.stem for p in (Path(database) / commondata).glob("*.yaml")}
    theory = {p.stem for p in (Path(database) / "theory").glob("*.json")}
    return sorted(data & theory)
