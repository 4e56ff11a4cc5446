"""Reader for the NNPDF commondata (new format, shipped by the PyPI package ``nnpdf-data``).

Every experiment folder ``<EXP>_<PROC>_<ENERGY>[_<EXTRA>]`` holds a ``metadata.yaml`` whose
``implemented_observables`` each define one dataset named ``<folder>_<observable_name>``, e.g.
``BCDMS_NC_NOTFIXED_P_EM-F2``. An observable points to a ``data_*.yaml`` (``data_central``: list of values),
one or more ``uncertainties_*.yaml`` (``definitions``: per column a ``treatment`` ADD/MULT and a ``type``
UNCORR/CORR/SKIP/<shared name>; ``bins``: per point the column values) and a ``kinematics_*.yaml``
(``bins``: per point ``{var: {min, mid, max}}``). A *variant* (e.g. ``legacy``, the one NNPDF4.0 uses for the DIS
sets) replaces ``data_central`` and/or ``data_uncertainties``.

In the new format every uncertainty value is an *absolute* shift (validphys converts MULT columns to percent
only for its legacy tables, ``nnpdf_data.commondataparser.load_commondata``); e.g. the BCDMS normalisation
column ``sys_corr_4`` of the first point is 0.0116802 = 3% of F2 = 0.38934. Columns named ``stat`` are the
statistical errors; every other column is a systematic for :mod:`mlhep.stats.covariance`.

Kinematic cuts are those of NNPDF4.0 (arXiv:2109.02653, sec. 4.1) as validphys applies them:
Q^2 > 3.49 GeV^2 and W^2 = Q^2 (1 - x)/x > 12.5 GeV^2 (strict; the target mass is not added to W^2). This
reproduces the NNPDF4.0 point counts of all ten supported datasets (BCDMS 333, NMC 204, SLAC 33, HERA 1145).
"""
from __future__ import annotations

import difflib
import functools
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from mlhep.errors import DataError
from mlhep.stats.covariance import Uncertainties

PROTON_MASS = 0.938  # GeV, as in the NNPDF theory cards (MP)

# The DIS datasets of NNPDF4.0 for which fktable.py can build theory, with the variant NNPDF4.0 uses
# (commondata/dataset_names.yml maps the legacy names BCDMSP/D, NMC, SLACP/D, HERACOMB* to these).
# projectile: the lepton charge sign (-1 e-/mu-, +1 e+) for the reduced cross sections; target: yadism's
# TargetDIS ("isoscalar" = (p + n)/2 per nucleon: deuterium without nuclear corrections, which NNPDF4.0 adds
# as a theory covariance and mlhep does not).
SUPPORTED = {
    "BCDMS_NC_NOTFIXED_P_EM-F2": dict(variant="legacy", projectile=-1, target="proton"),
    "BCDMS_NC_NOTFIXED_D_EM-F2": dict(variant="legacy", projectile=-1, target="isoscalar"),
    "NMC_NC_NOTFIXED_P_EM-SIGMARED": dict(variant="legacy", projectile=-1, target="proton"),
    "SLAC_NC_NOTFIXED_P_EM-F2": dict(variant="legacy", projectile=-1, target="proton"),
    "SLAC_NC_NOTFIXED_D_EM-F2": dict(variant="legacy", projectile=-1, target="isoscalar"),
    "HERA_NC_318GEV_EM-SIGMARED": dict(variant="legacy", projectile=-1, target="proton"),
    "HERA_NC_318GEV_EP-SIGMARED": dict(variant="legacy", projectile=+1, target="proton"),
    "HERA_NC_300GEV_EP-SIGMARED": dict(variant="legacy", projectile=+1, target="proton"),
    "HERA_NC_251GEV_EP-SIGMARED": dict(variant="legacy", projectile=+1, target="proton"),
    "HERA_NC_225GEV_EP-SIGMARED": dict(variant="legacy", projectile=+1, target="proton"),
    "HERA_CC_318GEV_EM-SIGMARED": dict(variant="legacy", projectile=-1, target="proton"),
    "HERA_CC_318GEV_EP-SIGMARED": dict(variant="legacy", projectile=+1, target="proton"),
}


class UnknownDataset(DataError):
    """A dataset name that is not in the installed commondata, or not a DIS set (a mistake of the runcard)."""


class UnknownVariant(DataError):
    """A variant that the dataset does not have (a mistake of the runcard)."""


@dataclass(frozen=True)
class DataSet:
    """One dataset after the kinematic cuts.

    ``kinematics`` holds per surviving point ``x``, ``Q2`` (GeV^2), ``y`` (and any other variable of the file);
    ``mask`` (n_all,) tells which of the original points survived (FK-table rows follow the original order).
    """

    name: str
    variant: str | None
    process: str
    observable: str
    kinematics: dict
    central: np.ndarray
    uncertainties: Uncertainties
    sqrts: float | None
    mask: np.ndarray

    @property
    def projectile(self) -> int:
        """Charge sign of the lepton beam (-1 for e-/mu-, +1 for e+)."""
        return SUPPORTED[self.name]["projectile"] if self.name in SUPPORTED else -1


def commondata_path() -> Path:
    """The ``commondata`` folder of the installed ``nnpdf-data`` package."""
    try:
        import nnpdf_data
    except ImportError as err:  # pragma: no cover - the pdf extra is a dependency of pdf-fit
        raise DataError("the NNPDF commondata need the package 'nnpdf-data' (pip install 'mlhep[pdf]')") from err
    return Path(nnpdf_data.__file__).parent / "commondata"


@functools.lru_cache(maxsize=64)
def _load_yaml(path: Path) -> dict:
    """Parsed YAML file (cached: the HERA uncertainty files take seconds to parse); do not mutate the result."""
    with open(path, encoding="utf-8") as stream:
        return yaml.load(stream, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def available_datasets() -> list[str]:
    """Names of the datasets that :func:`load_dataset` reads and ``fktable.py`` can build theory for."""
    return sorted(SUPPORTED)


@functools.lru_cache(maxsize=None)
def _all_commondata_names() -> tuple[str, ...]:
    """Every ``<folder>_<observable>`` of the installed commondata (for error messages only)."""
    names = []
    for metadata in commondata_path().glob("*/metadata.yaml"):
        text = metadata.read_text(encoding="utf-8")
        names += [f"{metadata.parent.name}_{obs}" for obs in re.findall(r"observable_name:\s*(\S+)", text)]
    return tuple(sorted(names))


def _split_name(name: str) -> tuple[Path, str]:
    """Folder and observable name of ``name`` (the observable is after the last '_' that names a folder)."""
    parts = name.split("_")
    for cut in range(len(parts) - 1, 0, -1):
        folder = commondata_path() / "_".join(parts[:cut])
        if (folder / "metadata.yaml").is_file():
            return folder, "_".join(parts[cut:])
    raise KeyError(name)


def _unknown(name: str) -> UnknownDataset:
    names = dict.fromkeys([*SUPPORTED, *_all_commondata_names()])          # ordered, without repeats
    close = difflib.get_close_matches(name, list(names), n=5, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return UnknownDataset(f"unknown dataset '{name}' (supported: {', '.join(available_datasets())}){hint}")


def _observable_metadata(name: str) -> tuple[Path, dict]:
    try:
        folder, observable = _split_name(name)
    except KeyError:
        raise _unknown(name) from None
    for entry in _load_yaml(folder / "metadata.yaml")["implemented_observables"]:
        if entry["observable_name"] == observable:
            return folder, entry
    raise _unknown(name)


def _apply_variant(name: str, entry: dict, variant: str | None) -> dict:
    """Replace ``data_central`` / ``data_uncertainties`` by those of ``variant`` (as validphys does)."""
    if variant is None:
        return entry
    variants = entry.get("variants") or {}
    if variant not in variants:
        raise UnknownVariant(f"dataset '{name}' has no variant '{variant}' (valid: {', '.join(variants) or 'none'})")
    updated = dict(entry)
    for key in ("data_central", "data_uncertainties"):
        if variants[variant].get(key) is not None:
            updated[key] = variants[variant][key]
    return updated


def read_kinematics(path: Path) -> dict[str, np.ndarray]:
    """Per-point ``mid`` value of every kinematic variable (mean of min and max when mid is null)."""
    bins = _load_yaml(path)["bins"]
    out = {}
    for var in bins[0]:
        values = []
        for point in bins:
            entry = point[var]
            mid = entry.get("mid")
            values.append(0.5 * (entry["min"] + entry["max"]) if mid is None else mid)
        out[var] = np.asarray(values, dtype=float)
    return out


def read_uncertainties(paths: list[Path], name: str, central: np.ndarray) -> Uncertainties:
    """Statistical and systematic uncertainties (absolute) of all ``paths`` concatenated column-wise."""
    n = len(central)
    stat2 = np.zeros(n)
    columns, treatment, names = [], [], []
    for path in paths:
        content = _load_yaml(path)
        bins = content["bins"]
        if len(bins) != n:
            raise DataError(f"{path}: {len(bins)} bins but {n} data points")
        for key, definition in content["definitions"].items():
            values = np.array([float(point[key]) for point in bins])
            if key.lower() == "stat":
                stat2 += values**2
                continue
            columns.append(values)
            treatment.append(definition["treatment"])
            names.append(str(definition["type"]))
    sys = np.stack(columns, axis=1) if columns else np.zeros((n, 0))
    return Uncertainties(name, central, np.sqrt(stat2), sys, tuple(treatment), tuple(names))


def kinematic_mask(x: np.ndarray, q2: np.ndarray, q2min: float, w2min: float) -> np.ndarray:
    """NNPDF DIS cuts: ``Q2 > q2min`` and ``W2 = Q2 (1-x)/x > w2min`` (GeV^2); shape (n,) bool.

    A cut value <= 0 keeps every point.
    """
    w2 = q2 * (1.0 - x) / x
    return ((q2 > q2min) | (q2min <= 0)) & ((w2 > w2min) | (w2min <= 0))


def load_dataset(name: str, variant: str | None = None, q2min: float = 3.49, w2min: float = 12.5) -> DataSet:
    """Read dataset ``name`` (NNPDF spelling) with ``variant`` and apply the DIS kinematic cuts.

    ``variant=None`` takes the variant NNPDF4.0 uses for a supported dataset (``legacy``), else none.
    Raises :class:`DataError` for unknown names or variants (listing close matches / valid variants).
    """
    folder, entry = _observable_metadata(name)
    if variant is None and name in SUPPORTED:
        variant = SUPPORTED[name]["variant"]
    entry = _apply_variant(name, entry, variant)
    process = entry["process_type"]
    if not process.startswith("DIS"):
        raise UnknownDataset(f"dataset '{name}' is a {process} process; only DIS is supported "
                        f"(supported: {', '.join(available_datasets())})")
    if not entry.get("data_uncertainties"):
        valid = ", ".join(entry.get("variants") or {}) or "none"
        raise UnknownVariant(f"dataset '{name}' has no uncertainties without a variant (give one of: {valid})")
    central_all = np.asarray(_load_yaml(folder / entry["data_central"])["data_central"], dtype=float)
    kin_all = read_kinematics(folder / entry["kinematics"]["file"])
    unc_all = read_uncertainties([folder / f for f in entry["data_uncertainties"]], name, central_all)
    for var in ("x", "Q2"):
        if var not in kin_all:
            raise DataError(f"dataset '{name}': kinematics file lacks '{var}' (has {', '.join(kin_all)})")
    mask = kinematic_mask(kin_all["x"], kin_all["Q2"], q2min, w2min)
    kinematics = {var: values[mask] for var, values in kin_all.items()}
    if "y" not in kinematics:
        kinematics["y"] = np.full(int(mask.sum()), np.nan)
    central = central_all[mask]
    uncertainties = Uncertainties(name, central, unc_all.stat[mask], unc_all.sys[mask], unc_all.treatment,
                                  unc_all.names)
    match = re.search(r"_(\d+(?:P\d+)?)GEV", folder.name)
    sqrts = float(match.group(1).replace("P", ".")) if match else None
    observable = entry["observable_name"].split("-", 1)[-1]
    return DataSet(name, variant, process, observable, kinematics, central, uncertainties, sqrts, mask)
