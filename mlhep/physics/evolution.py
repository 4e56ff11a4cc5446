"""DGLAP evolution of PDFs with eko (Candido, Hekhorn, Magni, Eur. Phys. J. C 82 (2022) 976, arXiv:2202.02338).

The fitted PDF lives at Q0 in the 7-combination evolution basis ``FIT_BASIS`` (3 light flavours; charm is
perturbative, so T15 = T24 = T35 = Sigma and V15 = V24 = V35 = V), tabulated as x f on an x-grid. eko returns
linear operators on that grid; here they are rotated so that

    x f_pid(x_j, Q) = sum_{a, k} E[Q, pid, j, a, k] * x f_a(x_k, Q0),      pid in PIDS (LHAPDF order).

eko's operators act on f, not on x f, hence the factor x_j / x_k. Computing an operator costs about a minute per
target scale (NLO, 50 x points, one core), so eko is run once per theory on a fixed set of *nodes* per
flavour-number patch (uniform in u = ln ln(Q^2/0.04 GeV^2), close to ln 1/a_s) and the operator at any other
Q is the polynomial in u through all nodes of its patch (never across a heavy-quark threshold). At LO the
Mellin-space operator is exp(-gamma_0/beta_0 ln(a_s/a_s0)), an entire function of ln a_s, for which polynomial
interpolation on uniform nodes converges fast; the tests measure the accuracy against direct eko runs.
Node operators are cached on disk under ``$MLHEP_CACHE/eko`` (default ``~/.cache/mlhep/eko``) by a hash of
(x-grid, nodes, theory card).
"""
from __future__ import annotations

import concurrent.futures
import hashlib
import json
import logging
import math
import multiprocessing
import os
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Sequence

import numpy as np

from mlhep.errors import DataError
from mlhep.paths import cache_dir
from mlhep.physics.theorycard import theory_card
from mlhep.theory_bundle import theory_file

PIDS = (-6, -5, -4, -3, -2, -1, 21, 1, 2, 3, 4, 5, 6)
FIT_BASIS = ("Sigma", "g", "V", "V3", "V8", "T3", "T8")
Q_MAX = 1.0e5  # GeV: upper end of the node grid (LHAPDF grids of NNPDF stop there too)
NODES_PER_PATCH = 7
INTERPOLATION_DEGREE = 4
LAMBDA2 = 0.04  # GeV^2, only sets the scale variable of the node grid and of the interpolation

log = logging.getLogger(__name__)


def card_hash(card: dict) -> str:
    """Short stable hash of a card (or of any JSON-able dict), used in cache file names."""
    text = json.dumps(card, sort_keys=True, default=float)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def eko_theory(card: dict) -> dict:
    """The eko (>= 0.14) theory card of an NNPDF-style ``card``; the top threshold is removed if MaxNfPdf < 6."""
    ratios = [card["kcThr"], card["kbThr"], card["ktThr"] if card.get("MaxNfPdf", 6) >= 6 else math.inf]
    return dict(
        order=[card["PTO"] + 1, card["QED"]],
        couplings=dict(alphas=card["alphas"], alphaem=card["alphaqed"], ref=(card["Qref"], card["nfref"])),
        heavy=dict(masses=[[card[m], math.nan] for m in ("mc", "mb", "mt")], masses_scheme=card["HQ"],
                   matching_ratios=ratios),
        xif=card["XIF"],
        n3lo_ad_variation=(0, 0, 0, 0, 0, 0, 0),
        matching_order=[card["PTO"], 0],
        use_fhmruvv=True,
    )


EVOLUTION_METHODS = {"EXA": "iterate-exact", "EXP": "iterate-expanded", "TRN": "truncated"}


def fit_xgrid() -> np.ndarray:
    """The x-grid of the fit and of all FK tables: 30 points log-spaced in [1e-5, 0.1) and 20 linear in [0.1, 1]."""
    return np.concatenate([np.geomspace(1e-5, 0.1, 30, endpoint=False), np.linspace(0.1, 1.0, 20)])


def _fit_to_light_flavours() -> np.ndarray:
    """(7 flavours [sbar, ubar, dbar, g, d, u, s], 7 FIT_BASIS) matrix with f = M @ fit (nf = 3 at Q0).

    Sigma = u+ + d+ + s+, V = u- + d- + s-, V3 = u- - d-, V8 = u- + d- - 2 s-, T3 = u+ - d+, T8 = u+ + d+ - 2 s+
    (q+- = q +- qbar), inverted: u+ = Sigma/3 + T3/2 + T8/6, d+ = Sigma/3 - T3/2 + T8/6, s+ = Sigma/3 - T8/3.
    """
    plus = {"u": [1 / 3, 0, 0, 0, 0, 1 / 2, 1 / 6], "d": [1 / 3, 0, 0, 0, 0, -1 / 2, 1 / 6],
            "s": [1 / 3, 0, 0, 0, 0, 0, -1 / 3]}
    minus = {"u": [0, 0, 1 / 3, 1 / 2, 1 / 6, 0, 0], "d": [0, 0, 1 / 3, -1 / 2, 1 / 6, 0, 0],
             "s": [0, 0, 1 / 3, 0, -1 / 3, 0, 0]}
    quark = {q: (np.array(plus[q]) + np.array(minus[q])) / 2 for q in "uds"}
    antiquark = {q: (np.array(plus[q]) - np.array(minus[q])) / 2 for q in "uds"}
    gluon = np.eye(7)[1]
    return np.stack([antiquark["s"], antiquark["u"], antiquark["d"], gluon, quark["d"], quark["u"], quark["s"]])


_LIGHT_ROWS = [PIDS.index(p) for p in (-3, -2, -1, 21, 1, 2, 3)]


def rotation_matrix() -> np.ndarray:
    """(13 PIDS, 7 FIT_BASIS) matrix: x f_pid = R @ x f_fit at Q0 (heavy flavours zero)."""
    rot = np.zeros((13, 7))
    rot[_LIGHT_ROWS] = _fit_to_light_flavours()
    return rot


def fit_basis_to_flavours(xf):
    """(..., 7, nx) fit basis -> (..., 13, nx) in PIDS order, at Q0 (rotation only, no evolution)."""
    return np.einsum("fa,...ak->...fk", rotation_matrix(), xf)


def flavours_to_fit_basis(xf):
    """(..., 13, nx) PIDS order (only u, ubar, d, dbar, s, sbar, g are used) -> (..., 7, nx) fit basis."""
    inverse = np.linalg.inv(_fit_to_light_flavours())
    return np.einsum("af,...fk->...ak", inverse, np.asarray(xf)[..., _LIGHT_ROWS, :])


def _default_theory(theory: dict | None) -> dict:
    if theory is not None:
        return theory
    return theory_card("NLO")


def _thresholds(theory: dict) -> list[float]:
    """Matching scales (GeV) of c, b, t; inf if a flavour is never active in the PDF."""
    scales = [theory[f"k{q}Thr"] * theory[f"m{q}"] for q in "cbt"]
    return [s if i + 4 <= theory.get("MaxNfPdf", 6) else math.inf for i, s in enumerate(scales)]


def nf_at(q: float, theory: dict) -> int:
    """Active flavours at scale q (GeV): 3 + number of thresholds at or below q (eko's default flow)."""
    return 3 + sum(q >= t for t in _thresholds(theory))


def node_grid(theory: dict, q_max: float = Q_MAX, per_patch: int = NODES_PER_PATCH) -> list[tuple[float, int]]:
    """Scales (GeV, nf) where eko is run: per patch between Q0 and q_max, uniform in :func:`_scale_variable`."""
    q0 = theory["Q0"]
    edges = [q0] + [t for t in _thresholds(theory) if q0 < t < q_max] + [q_max]
    nodes = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        nf = nf_at(lo, theory)
        u = np.linspace(math.log(math.log(lo**2 / LAMBDA2)), math.log(math.log(hi**2 / LAMBDA2)), per_patch)
        nodes += [(float(math.sqrt(LAMBDA2 * math.exp(math.exp(v)))), nf) for v in u]
        nodes[-per_patch] = (lo, nf)
        nodes[-1] = (hi, nf)
    return nodes


def _eko_cards(theory: dict, xgrid: np.ndarray, targets: Sequence[tuple[float, int]]):
    from eko.io.runcards import OperatorCard, TheoryCard

    # n_integration_cores = 0: eko spreads the Mellin integrals over all cores (same numbers)
    operator = dict(
        init=(theory["Q0"], theory.get("nf0", nf_at(theory["Q0"], theory))),
        mugrid=[(float(q), int(nf)) for q, nf in targets],
        xgrid=[float(x) for x in xgrid],
        configs=dict(evolution_method=EVOLUTION_METHODS[theory["ModEv"]], ev_op_max_order=[10, 0],
                     ev_op_iterations=10, interpolation_polynomial_degree=INTERPOLATION_DEGREE,
                     interpolation_is_log=True, scvar_method=None, inversion_method=None, n_integration_cores=0,
                     polarized=False, time_like=False),
        debug=dict(skip_singlet=False, skip_non_singlet=False),
    )
    return TheoryCard.from_dict(eko_theory(theory)), OperatorCard.from_dict(operator)


def _solve_eko(theory: dict, xgrid: list[float], targets: list[tuple[float, int]], path: str) -> None:
    from eko.runner.managed import solve

    solve(*_eko_cards(theory, xgrid, targets), Path(path))


def run_eko(theory: dict, xgrid: np.ndarray, targets: Sequence[tuple[float, int]]) -> np.ndarray:
    """eko operators in the x f fit-basis form, (n_targets, 13, nx, 7, nx); no caching (minutes per target)."""
    from eko.io.struct import EKO

    xgrid = np.asarray(xgrid, dtype=float)
    out = np.empty((len(targets), 13, len(xgrid), 7, len(xgrid)))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "eko.tar"
        # eko forks a pool of workers; a fork of a process whose JAX/XLA threads hold locks can hang its workers
        # for ever, so eko runs in a fresh interpreter (spawned, not forked).
        spawn = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=spawn) as pool:
            pool.submit(_solve_eko, dict(theory), [float(x) for x in xgrid],
                        [(float(q), int(nf)) for q, nf in targets], str(path)).result()
        with EKO.read(path) as eko:
            for i, (q, nf) in enumerate(targets):
                op = eko[(q**2, nf)].operator  # (14 pids incl. photon, nx, 14, nx) acting on f
                op = op[1:] * (xgrid[None, :, None, None] / xgrid[None, None, None, :])
                out[i] = np.einsum("fjgk,ga->fjak", op[:, :, 1:, :], rotation_matrix())
    return out


def evolution_key(theory: dict, xgrid, nodes) -> str:
    """Hash of everything the node operators depend on (not the DIS-only keys of the card)."""
    # x and Q values rounded to 12 digits: they come from log/exp (geomspace), whose last bit differs between
    # CPUs, and a hash of the raw bits named the bundled operators differently on another machine
    relevant = {"eko": eko_theory(theory), "ModEv": theory["ModEv"], "Q0": theory["Q0"], "nf0": theory.get("nf0"),
                "xgrid": [_digits(v) for v in np.asarray(xgrid, dtype=float)],
                "nodes": [(_digits(q), int(nf)) for q, nf in nodes], "deg": INTERPOLATION_DEGREE}
    return card_hash(relevant)


def _digits(value: float) -> float:
    return float(f"{float(value):.12g}")


def node_file_name(theory: dict, xgrid, nodes) -> str:
    return f"nodes-{theory.get('ID', 'theory')}-{evolution_key(theory, xgrid, nodes)}.npz"


def node_cache_path(theory: dict, xgrid, nodes, cache: Path | None = None) -> Path:
    """Where eko's node operators of (theory, xgrid, nodes) are written: ``cache`` or ``$MLHEP_CACHE/eko``."""
    folder = Path(cache) if cache is not None else cache_dir() / "eko"
    return folder / node_file_name(theory, xgrid, nodes)


def stored_node_operators(theory: dict, xgrid, nodes, cache: Path | None = None) -> Path:
    """Where they are read: ``cache`` if given, else the theory bundle's copy, else the cache's (may not exist)."""
    return theory_file(f"eko/{node_file_name(theory, xgrid, nodes)}", cache)


def node_operators(theory: dict | None = None, xgrid=None, cache: Path | None = None, nodes=None):
    """Nodes (list of (Q, nf)) and their operators (n_nodes, 13, nx, 7, nx): from the theory bundle or the disk
    cache if there, else computed with eko (minutes per node) and cached.

    ``nodes`` defaults to :func:`node_grid` of the theory.
    """
    theory = _default_theory(theory)
    xgrid = fit_xgrid() if xgrid is None else np.asarray(xgrid, dtype=float)
    nodes = node_grid(theory) if nodes is None else [(float(q), int(nf)) for q, nf in nodes]
    stored = stored_node_operators(theory, xgrid, nodes, cache)
    if stored.is_file():
        return nodes, _read_operators(stored)
    path = node_cache_path(theory, xgrid, nodes, cache)
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    lock = path.with_suffix(".lock")
    _wait_for_other_process(lock, path)
    if path.is_file():
        return nodes, _read_operators(path)
    log.info("running eko for %d nodes (cached afterwards in %s)", len(nodes), path)
    lock.write_text(str(os.getpid()))
    try:
        operators = run_eko(theory, xgrid, nodes)
        tmp = path.with_suffix(f".tmp{os.getpid()}.npz")
        np.savez_compressed(tmp, operators=operators, q=np.array([q for q, _ in nodes]),
                            nf=np.array([n for _, n in nodes]))
        tmp.replace(path)
    finally:
        lock.unlink(missing_ok=True)
    return nodes, operators


def _read_operators(path: Path) -> np.ndarray:
    try:
        with np.load(path, allow_pickle=False) as stored:
            return stored["operators"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
        raise DataError(f"{path}: not readable eko node operators ({type(err).__name__}: {err}); delete it and "
                        "rerun to rebuild it with eko (minutes), or reinstall mlhep if it is a bundle file") from None


def _wait_for_other_process(lock: Path, path: Path, poll: float = 5.0) -> None:
    """If another live process holds ``lock`` (it is computing ``path``), wait until it is done."""
    while lock.is_file() and not path.is_file():
        try:
            os.kill(int(lock.read_text().strip()), 0)
        except (ValueError, ProcessLookupError, PermissionError, FileNotFoundError):
            return  # stale lock
        log.info("waiting for process %s computing %s", lock.read_text().strip(), path.name)
        time.sleep(poll)


def _log_alpha_s(theory: dict, qs: Sequence[float], nfs: Sequence[int]) -> np.ndarray:
    """ln a_s(Q) from eko's coupling evolution (same settings as the PDF evolution); decreasing in Q."""
    from eko.runner import commons

    theory_card, operator_card = _eko_cards(theory, fit_xgrid()[:5], [(q, nf) for q, nf in zip(qs, nfs)])
    couplings = commons.couplings(theory_card, operator_card)
    return np.log([couplings.a_s(q**2, nf) for q, nf in zip(qs, nfs)])


def alpha_s(theory: dict, qs: Sequence[float], nfs: Sequence[int] | None = None) -> np.ndarray:
    """alpha_s at scales ``qs`` (GeV) from eko's coupling evolution, with ``nfs`` active flavours (default: those
    of the ZM-VFNS at each scale; give them to pick a side at a threshold)."""
    qs = np.atleast_1d(np.asarray(qs, dtype=float))
    nfs = [nf_at(q, theory) for q in qs] if nfs is None else list(nfs)
    return 4 * np.pi * np.exp(_log_alpha_s(theory, qs, nfs))


def _scale_variable(q) -> np.ndarray:
    """u = ln ln(Q^2 / Lambda^2), Lambda^2 = 0.04 GeV^2: close to ln(1/a_s), the variable of the LO solution."""
    return np.log(np.log(np.asarray(q, dtype=float) ** 2 / LAMBDA2))


def _interpolate(theory: dict, nodes, operators, q_values: Sequence[float]) -> np.ndarray:
    """Operators at ``q_values``: per flavour patch, the polynomial through all its nodes in :func:`_scale_variable`.

    The nodes are uniform in that variable; a global polynomial beats a cubic spline by an order of magnitude
    here (leave-one-out test on the LO nodes: <= 1.5e-3 with a node removed, vs 1.4e-2 for a cubic spline).
    """
    node_q = np.array([q for q, _ in nodes])
    node_nf = np.array([nf for _, nf in nodes])
    q_values = np.asarray(q_values, dtype=float)
    _check_scales(theory, nodes, q_values)
    nfs = np.array([nf_at(q, theory) for q in q_values])
    out = np.empty((len(q_values),) + operators.shape[1:])
    for nf in np.unique(nfs):
        in_patch = node_nf == nf
        wanted = nfs == nf
        weights = _lagrange_weights(_scale_variable(node_q[in_patch]), _scale_variable(q_values[wanted]))
        patch = operators[in_patch]
        # a fixed-order sum of the node operators: scipy's BarycentricInterpolator goes through threaded BLAS,
        # whose rounding changed from call to call (1e-15), and so did every evolved PDF and LHAPDF grid
        out[wanted] = sum(weights[:, j].reshape(-1, *[1] * (patch.ndim - 1)) * patch[j] for j in range(len(patch)))
    return out


def _check_scales(theory: dict, nodes, q_values) -> None:
    q_values, q_max = np.asarray(q_values, dtype=float), max(q for q, _ in nodes)
    if q_values.size and (q_values.min() < theory["Q0"] * (1 - 1e-12) or q_values.max() > q_max):
        raise ValueError(f"scales must lie in [Q0 = {theory['Q0']}, {q_max:g}] GeV, got "
                         f"[{q_values.min():g}, {q_values.max():g}]")


def _lagrange_weights(nodes: np.ndarray, u: np.ndarray) -> np.ndarray:
    """(len(u), len(nodes)) Lagrange basis polynomials of ``nodes`` at ``u``: p(u) = weights @ p(nodes)."""
    weights = np.ones((len(u), len(nodes)))
    for j, node in enumerate(nodes):
        for m, other in enumerate(nodes):
            if m != j:
                weights[:, j] *= (u - other) / (node - other)
    return weights


def output_interpolation(xgrid, xgrid_out) -> np.ndarray:
    """(n_out, nx) matrix mapping x f on ``xgrid`` to x f on ``xgrid_out`` with eko's log-x polynomials."""
    from eko.interpolation import InterpolatorDispatcher, XGrid

    xgrid = np.asarray(xgrid, dtype=float)
    xgrid_out = np.asarray(xgrid_out, dtype=float)
    dispatcher = InterpolatorDispatcher(XGrid(xgrid, log=True), INTERPOLATION_DEGREE, mode_N=False)
    matrix = np.asarray(dispatcher.get_interpolation(xgrid_out))  # acts on f
    return matrix * xgrid_out[:, None] / xgrid[None, :]


def evolution_operator(xgrid, q_values: Sequence[float], theory: dict | None = None, cache: Path | None = None,
                       xgrid_out=None, nodes=None) -> np.ndarray:
    """(nq, 13 PIDS, nx_out, 7 FIT_BASIS, nx): x f_pid(x_out, q) = sum op * x f_a(x_k, Q0).

    ``xgrid`` is the grid of the input PDF (and of eko); ``xgrid_out`` defaults to it. Scales q in GeV,
    Q0 <= q <= 1e5 GeV. ``theory`` is an NNPDF-style card (default: ``theorycard.theory_card("NLO")``);
    ``nodes`` overrides the eko scales of :func:`node_grid`.
    """
    theory = _default_theory(theory)
    nodes = node_grid(theory) if nodes is None else [(float(q), int(nf)) for q, nf in nodes]
    _check_scales(theory, nodes, q_values)       # before eko, which may take minutes
    nodes, operators = node_operators(theory, xgrid, cache, nodes)
    op = _interpolate(theory, nodes, operators, q_values)
    if xgrid_out is not None:
        op = np.einsum("oj,qfjak->qfoak", output_interpolation(xgrid, xgrid_out), op)
    return op


def evolve(xf_q0, xgrid, q_values: Sequence[float], theory: dict | None = None, xgrid_out=None) -> np.ndarray:
    """x f at Q0 in FIT_BASIS, (..., 7, nx) -> x f per pid at each q, (..., nq, 13, nx_out)."""
    op = evolution_operator(xgrid, q_values, theory, xgrid_out=xgrid_out)
    return np.einsum("qfoak,...ak->...qfo", op, np.asarray(xf_q0, dtype=float))
