"""Readers of the SMEFiT database formats (github.com/LHCfitNikhef/smefit_database).

- ``commondata/<name>.yaml``: ``num_data`` n, ``num_sys`` k, ``data_central`` (n,), ``statistical_error`` (n,),
  ``systematics`` stored systematic-major, i.e. k rows of n values (a flat list when n == 1), as *absolute*
  shifts in the units of the data; ``sys_type`` (ADD/MULT) and ``sys_names`` (UNCORR, CORR, or a name shared
  across datasets) of length k (a bare string when k == 1). MULT only matters for the t0 prescription, where
  SMEFiT rescales it as ``sys / central * best_sm`` (smefit ``Loader.load_experimental_data``).
- ``theory/<name>.json``: ``best_sm`` (n,), ``theory_cov_current`` (or ``theory_cov``) (n, n), and per QCD order
  (``LO``, ``NLO_QCD``) the SM prediction ``SM`` and the EFT corrections per unit coefficient (Lambda = 1 TeV):
  linear ``"OX"`` (n,) and quadratic ``"OX*OY"`` (n,). The prediction is (SMEFiT, arXiv:2105.00006 eq. 2.3)
  ``sigma = best_sm + sum_i L_i c_i + sum_{i<=j} Q_ij c_i c_j``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ruamel.yaml import YAML

from mlhep.errors import DataError
from mlhep.stats.covariance import Uncertainties

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


def read_commondata(path: Path) -> Uncertainties:
    """One commondata YAML file as ``Uncertainties`` with sys of shape (n, k), absolute values."""
    raw = YAML(typ="safe").load(Path(path).read_text())
    name = raw.get("dataset_name", Path(path).stem)
    n, k = int(raw["num_data"]), int(raw["num_sys"])
    central = np.atleast_1d(np.asarray(raw["data_central"], dtype=float))
    stat = np.atleast_1d(np.asarray(raw["statistical_error"], dtype=float))
    if central.shape != (n,) or stat.shape != (n,):
        raise DataError(f"{path}: num_data = {n} but data_central has {central.size} and statistical_error "
                        f"{stat.size} values")
    if k == 0:
        return Uncertainties(name, central, stat, np.zeros((n, 0)), (), ())
    sys = np.asarray(raw["systematics"], dtype=float)
    if sys.size != n * k:
        raise DataError(f"{path}: systematics has {sys.size} values, expected num_sys x num_data = {k} x {n}")
    sys = sys.reshape(k, n).T                         # stored systematic-major (SMEFiT convention)
    types = raw["sys_type"]
    names = raw["sys_names"]
    types = [types] if isinstance(types, str) else list(types)
    names = [names] if isinstance(names, str) else list(names)
    if len(types) != k or len(names) != k:
        raise DataError(f"{path}: num_sys = {k} but {len(types)} sys_type and {len(names)} sys_names")
    return Uncertainties(name, central, stat, sys, tuple(types), tuple(str(s) for s in names))


def read_theory(path: Path, order: str) -> tuple[np.ndarray, np.ndarray, str, dict, dict]:
    """A theory JSON file: (best_sm (n,), theory_cov (n, n), order used, linear dict, quadratic dict).

    ``order`` is ``"LO"`` or ``"NLO"``; a table without NLO_QCD falls back to LO (e.g. the LEP datasets).
    """
    raw = json.loads(Path(path).read_text())
    key = ORDER_KEYS[order]
    if key not in raw:
        key = "LO"
    if key not in raw:
        raise DataError(f"{path}: no '{ORDER_KEYS[order]}' or 'LO' table (keys: {sorted(raw)})")
    best_sm = np.atleast_1d(np.asarray(raw["best_sm"], dtype=float))
    n = best_sm.size
    cov_key = "theory_cov_current" if "theory_cov_current" in raw else "theory_cov"
    theory_cov = np.asarray(raw.get(cov_key, np.zeros((n, n))), dtype=float).reshape(n, n)
    linear, quadratic = {}, {}
    for name, values in raw[key].items():
        values = np.atleast_1d(np.asarray(values, dtype=float))
        if values.shape != (n,):
            raise DataError(f"{path}: {key}/{name} has {values.size} values, best_sm has {n}")
        if name == "SM":
            continue
        if "*" in name:
            first, second = name.split("*")
            quadratic[(first, second)] = values
        else:
            linear[name] = values
    return best_sm, theory_cov, key, linear, quadratic


def load_dataset(database: Path, name: str, order: str) -> DatasetTables:
    """Commondata and theory of dataset ``name`` from a SMEFiT database folder."""
    data_file = Path(database) / "commondata" / f"{name}.yaml"
    theory_file = Path(database) / "theory" / f"{name}.json"
    uncertainties = read_commondata(data_file)
    best_sm, theory_cov, used, linear, quadratic = read_theory(theory_file, order)
    if best_sm.size != uncertainties.central.size:
        raise DataError(f"{name}: {uncertainties.central.size} data points but {best_sm.size} theory points")
    return DatasetTables(name, uncertainties, best_sm, theory_cov, used, linear, quadratic)


def available_datasets(database: Path) -> list[str]:
    """Names with both a commondata and a theory file."""
    data = {p.stem for p in (Path(database) / "commondata").glob("*.yaml")}
    theory = {p.stem for p in (Path(database) / "theory").glob("*.json")}
    return sorted(data & theory)
