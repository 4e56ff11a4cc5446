"""FK tables for DIS: yadism coefficient functions x eko evolution, per dataset and perturbative order.

An FK table maps the fitted PDF at Q0 to the observable of every data point (Ball et al., arXiv:1001.2312):

    T_i = sum_{a, k} FK[i, a, k] * x f_a(x_k, Q0),     a in FIT_BASIS, x_k on fit_xgrid().

yadism (Candido, Hekhorn, Magni, Rossi, arXiv:2401.15187) gives per point i the coefficients C[i, p, j] with
T_i = sum_order a_s(Q_i)^order sum_{p, j} C_order[i, p, j] f_p(x_j, Q_i^2) (mu_F = mu_R = Q, f not x f), and
:mod:`mlhep.physics.evolution` gives x f_p(x_j, Q_i) = sum E[Q_i, p, j, a, k] x f_a(x_k, Q0); so
FK[i] = sum_{p, j} (C[i, p, j] / x_j) E[Q_i, p, j, :, :].

Observables (yadism names): F2 of BCDMS and SLAC as ``F2_total`` with photon exchange only; NMC's reduced cross
section as ``XSHERANC_total`` with photon exchange; HERA NC as ``XSHERANC_total`` (gamma + Z, lepton charge
from the dataset), HERA CC as ``XSHERACC_total``. Proton target, theory of :mod:`mlhep.physics.theorycard`.

Rows follow the *original* data order (``DataSet.mask`` selects the rows of the fitted points); rows of points
below Q0 (Q^2 < 2.72 GeV^2, always cut) or beyond ``max_points`` are NaN.
"""
from __future__ import annotations

import json
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlhep.errors import DataError
from mlhep.paths import cache_dir
from mlhep.physics import evolution
from mlhep.physics.evolution import FIT_BASIS, fit_xgrid  # noqa: F401  (part of this module's API)
from mlhep.physics.evolution import card_hash
from mlhep.physics.theorycard import theory_card
from mlhep.tasks.pdf import commondata
from mlhep.theory_bundle import theory_file

ORDERS = ("LO", "NLO", "NNLO")
CHUNK = 32  # data points whose evolution operators are interpolated at once (~60 MB)


@dataclass(frozen=True)
class FKTable:
    """``table`` (n_all, 7, nx): observable_i = sum_{a,k} table[i, a, k] * x f_a(x_k, q0)."""

    dataset: str
    order: str
    xgrid: np.ndarray
    table: np.ndarray
    q0: float
    theory: dict

    def rows(self, mask: np.ndarray) -> np.ndarray:
        """The rows of the points kept by ``mask`` (n_all,) bool; DataError if any of them was not computed."""
        if mask.shape != (self.table.shape[0],):
            raise DataError(f"FK table of {self.dataset} has {self.table.shape[0]} rows, mask has {mask.shape}")
        rows = self.table[mask]
        if np.isinf(rows).any():
            raise DataError(f"FK table of {self.dataset} ({self.order}) has infinite entries (a broken file); "
                            f"rebuild: {build_command(self.dataset, self.order)}")
        if np.isnan(rows).any():
            raise DataError(f"FK table of {self.dataset} ({self.order}) lacks some selected points (built with "
                            f"--max-points, below Q0, or broken); rebuild: {build_command(self.dataset, self.order)}")
        return rows


def fktable_cache(cache: Path | None = None) -> Path:
    """Where tables are built: ``cache`` or ``$MLHEP_CACHE/fktables`` (default ``~/.cache/mlhep/fktables``)."""
    return Path(cache) if cache is not None else cache_dir() / "fktables"


def fktable_name(dataset: str, order: str) -> str:
    return f"{dataset}-{order}-{card_hash(theory_card(order))}.npz"


def fktable_path(dataset: str, order: str, cache: Path | None = None) -> Path:
    """The file a build writes (in the cache, never in the shipped theory bundle)."""
    return fktable_cache(cache) / fktable_name(dataset, order)


def stored_fktable(dataset: str, order: str, cache: Path | None = None) -> Path:
    """The file a fit reads: in ``cache`` if given, else the theory bundle's, else the cache's (may not exist)."""
    return theory_file(f"fktables/{fktable_name(dataset, order)}", cache)


def available(dataset: str, order: str, cache: Path | None = None) -> bool:
    """True if the FK table can be read without building it."""
    return stored_fktable(dataset, order, cache).is_file()


# measured on a 2-core machine (2026-12): yadism for all 12 DIS sets, then eko once per order for its nodes
BUILD_MINUTES = {"LO": 10, "NLO": 30, "NNLO": 90}


def build_command(dataset: str, order: str, cache: Path | None = None) -> str:
    where = f" --cache {cache}" if cache is not None else ""
    return (f"python scripts/build_fk_tables.py --datasets {dataset} --order {order}{where} (all 12 DIS sets at "
            f"{order}: `make theory`, about {BUILD_MINUTES[order]} min on 2 cores)")


def load_fktable(dataset: str, order: str, cache: Path | None = None) -> FKTable:
    """Read a built FK table; :class:`DataError` naming the file, or with the command that builds it."""
    if order not in ORDERS:
        raise DataError(f"unknown perturbative order '{order}' (valid: {', '.join(ORDERS)})")
    path = stored_fktable(dataset, order, cache)
    if not path.is_file():
        where = path.parent if cache is not None else f"the theory bundle or {path.parent}"
        raise DataError(f"no FK table for {dataset} at {order} in {where}; build it with: "
                        f"{build_command(dataset, order, cache)}")
    try:
        with np.load(path, allow_pickle=False) as stored:
            fk = FKTable(dataset, order, stored["xgrid"], stored["table"], float(stored["q0"]),
                         json.loads(str(stored["theory"])))
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as err:
        raise DataError(f"{path}: not a readable FK table ({type(err).__name__}: {err}); it should be an .npz "
                        f"with xgrid, table, q0 and theory, as written by: {build_command(dataset, order, cache)}"
                        ) from None
    if fk.table.ndim != 3 or fk.table.shape[1:] != (len(FIT_BASIS), len(fk.xgrid)):
        raise DataError(f"{path}: FK table of shape {fk.table.shape}, expected (points, {len(FIT_BASIS)}, "
                        f"{len(fk.xgrid)}); rebuild it with: {build_command(dataset, order, cache)}")
    return fk


def yadism_observables(name: str, kinematics: dict, xgrid: np.ndarray) -> dict:
    """The yadism observables card for the points ``kinematics`` (x, Q2, y) of dataset ``name``."""
    process = commondata._observable_metadata(name)[1]["process_type"]
    observable = name.rsplit("_", 1)[-1]
    spec = commondata.SUPPORTED.get(name, {})
    projectile, target = spec.get("projectile", -1), spec.get("target", "proton")
    if process == "DIS_CC":
        kind, exchange = "XSHERACC_total", "CC"
    elif name.startswith("HERA_"):
        kind, exchange = "XSHERANC_total", "NC"
    elif observable.endswith("SIGMARED"):
        kind, exchange = "XSHERANC_total", "EM"
    elif observable.endswith("F2"):
        kind, exchange = "F2_total", "EM"
    else:
        raise DataError(f"no DIS theory for observable '{observable}' of {name}")
    points = [dict(x=float(x), Q2=float(q2), y=float(y))
              for x, q2, y in zip(kinematics["x"], kinematics["Q2"], kinematics["y"])]
    return dict(PolarizationDIS=0.0, ProjectileDIS="positron" if projectile > 0 else "electron",
                PropagatorCorrection=0.0, TargetDIS=target, prDIS=exchange, NCPositivityCharge=None,
                interpolation_is_log=True, interpolation_polynomial_degree=evolution.INTERPOLATION_DEGREE,
                interpolation_xgrid=[float(x) for x in xgrid], observables={kind: points})


def yadism_theory(theory: dict) -> dict:
    """The card with the few yadism-only keys (no scale-variation terms, DIS order = evolution order)."""
    return dict(theory, PTODIS=theory["PTO"], FONLLParts="full", n3lo_cf_variation=0, RenScaleVar=False,
                FactScaleVar=False)


def coefficient_tables(theory: dict, observables: dict) -> np.ndarray:
    """yadism at mu = Q: (n, 13 PIDS, nx) coefficients on x f (a_s powers included)."""
    import yadism

    yadism.log.silent_mode = True
    output = yadism.run_yadism(yadism_theory(theory), observables)
    results = next(iter(output[k] for k in observables["observables"]))
    xgrid = np.asarray(observables["interpolation_xgrid"])
    q = np.sqrt([r.Q2 for r in results])
    a_s = alpha_s_over_4pi(theory, q)
    out = np.zeros((len(results), 13, len(xgrid)))
    for i, result in enumerate(results):
        for (o_s, o_em, o_lnr, o_lnf), (values, _errors) in result.orders.items():
            if o_em == 0 and o_lnr == 0 and o_lnf == 0:
                out[i] += a_s[i] ** o_s * np.asarray(values)[1:]  # drop the photon PDF
    return out / xgrid


def alpha_s_over_4pi(theory: dict, q) -> np.ndarray:
    """a_s = alpha_s/(4 pi) at scales q (GeV) with the active flavours of the ZM-VFNS (eko's couplings)."""
    return evolution.alpha_s(theory, q) / (4 * np.pi)


@dataclass(frozen=True)
class Coefficients:
    """yadism's part of an FK table: rows ``index`` (of n_all) at scales ``q`` (GeV), (n, 13, nx) on x f."""

    dataset: str
    order: str
    n_all: int
    index: np.ndarray
    q: np.ndarray
    xgrid: np.ndarray
    values: np.ndarray
    seconds: float


def dis_coefficients(name: str, order: str, max_points: int | None = None, xgrid=None) -> Coefficients:
    """Run yadism for the points of ``name`` with Q >= Q0 (all of them, or those among the first ``max_points``)."""
    theory = theory_card(order)
    xgrid = fit_xgrid() if xgrid is None else np.asarray(xgrid, dtype=float)
    data = commondata.load_dataset(name, q2min=0.0, w2min=0.0)  # all points, original order
    kin = data.kinematics
    n_all = len(data.central)
    wanted = kin["Q2"] >= theory["Q0"] ** 2
    if max_points is not None:
        wanted &= np.arange(n_all) < max_points
    index = np.flatnonzero(wanted)
    start = time.perf_counter()
    values = np.zeros((0, 13, len(xgrid)))
    if index.size:
        observables = yadism_observables(name, {k: kin[k][index] for k in ("x", "Q2", "y")}, xgrid)
        values = coefficient_tables(theory, observables)
    return Coefficients(name, order, n_all, index, np.sqrt(kin["Q2"][index]), xgrid, values,
                        time.perf_counter() - start)


def combine(coefficients: Coefficients, nodes=None, eko_cache: Path | None = None) -> FKTable:
    """Contract yadism's coefficients with the eko evolution from Q0 to each point's scale."""
    theory = theory_card(coefficients.order)
    table = np.full((coefficients.n_all, len(FIT_BASIS), len(coefficients.xgrid)), np.nan)
    if coefficients.index.size:
        node_list, node_ops = evolution.node_operators(theory, coefficients.xgrid, eko_cache, nodes)
        for lo in range(0, len(coefficients.index), CHUNK):
            ops = evolution._interpolate(theory, node_list, node_ops, coefficients.q[lo:lo + CHUNK])
            rows = coefficients.index[lo:lo + CHUNK]
            table[rows] = np.einsum("ipj,ipjak->iak", coefficients.values[lo:lo + CHUNK], ops)
    return FKTable(coefficients.dataset, coefficients.order, coefficients.xgrid, table, theory["Q0"], theory)


def compute_fktable(name: str, order: str, max_points: int | None = None, xgrid=None, nodes=None,
                    eko_cache: Path | None = None, log=print) -> FKTable:
    """:func:`dis_coefficients` then :func:`combine`, with a timing line through ``log``."""
    start = time.perf_counter()
    coefficients = dis_coefficients(name, order, max_points, xgrid)
    fk = combine(coefficients, nodes, eko_cache)
    log(f"{name} {order}: {coefficients.index.size}/{coefficients.n_all} points, yadism "
        f"{coefficients.seconds:.1f} s, total {time.perf_counter() - start:.1f} s")
    return fk


def save_fktable(fk: FKTable, cache: Path | None = None) -> Path:
    """Write ``fk`` atomically to its cache file and return the path."""
    path = fktable_path(fk.dataset, fk.order, cache)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, xgrid=fk.xgrid, table=fk.table, q0=fk.q0,
                        theory=json.dumps(fk.theory, sort_keys=True), dataset=fk.dataset, order=fk.order)
    tmp.replace(path)
    return path
