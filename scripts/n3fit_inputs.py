"""Inputs that let NNPDF's n3fit fit mlhep's own DIS FK tables offline (used by scripts/bench_n3fit.py).

Written under a work folder ``W``:

- ``W/share/theories/theory_<ID>/fastkernel/<FK name>.pineappl.lz4``: mlhep's FK tables as pineappl FK tables.
  mlhep: obs_i = sum_{a,k} T[i, a, k] x f_a(x_k, Q0), a in FIT_BASIS, rows in commondata order
  (:mod:`mlhep.tasks.pdf.fktable`). validphys (``validphys/pineparser.py``) reads a pineappl FK table in the
  evolution pid basis (100 Sigma, 21 g, 200 V, 203 V3, 208 V8, 103 T3, 108 T8) and divides it by x_k, so we
  store T[i, a, k] x_k, one scale Q0^2, bin normalisation 1. A dataset with several FK tables in its commondata
  metadata (BCDMS: one per beam energy) gets its rows split into contiguous chunks, which validphys
  concatenates back (the split does not matter to the fit). Rows not computed by mlhep (NaN: below Q0,
  always cut) are stored as zeros;
- the theory card ``<ID>.yaml`` (mlhep's :func:`theory_card` with an integer ID) in the n3fit environment's
  ``nnpdf_data/theory_cards`` folder (validphys only looks there);
- ``W/share/LHAPDF/LHTOY_Q0``: the Les Houches toy PDF at Q0, the same at every Q (mlhep's t0 PDF ``lh_toy``,
  taken at Q0), written with :mod:`mlhep.io.lhapdf`; its x grid is the FK x grid (extended down to 1e-9), so
  the t0 predictions of n3fit equal mlhep's up to rounding;
- ``W/nnprofile.yaml``: the validphys profile (``NNPDF_PROFILE_PATH``) with ``nnpdf_share = W/share``;
- the n3fit runcard of an mlhep pdf-fit runcard (:func:`n3fit_runcard`), without positivity/integrability.

:func:`read_n3fit_fit` reads the per-replica results of an n3fit fit back, with its PDFs on mlhep's FK x grid.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import yaml

from mlhep.physics.evolution import PIDS, fit_xgrid, flavours_to_fit_basis
from mlhep.physics.lh_toy import lh_toy
from mlhep.tasks.pdf import commondata
from mlhep.tasks.pdf.fktable import load_fktable, stored_fktable
from mlhep.tasks.pdf.problem import lh_toy_basis
from mlhep.physics.theorycard import ORDERS, theory_card
from mlhep.runtime import use_precision

use_precision("float64")   # what mlhep fit sets for these tasks (import mlhep sets nothing)

EVOL_PIDS = (100, 21, 200, 203, 208, 103, 108)     # pineappl evolution pids of FIT_BASIS
TOY = "LHTOY_Q0"
LHAPDF_PIDS = (-5, -4, -3, -2, -1, 1, 2, 3, 4, 5, 21)
N3FIT_BASIS = {"Sigma": "sng", "g": "g", "V": "v", "V3": "v3", "V8": "v8", "T3": "t3", "T8": "t8"}
N3FIT_OPTIMIZERS = {"nadam": "Nadam", "adam": "Adam", "sgd": "SGD", "rmsprop": "RMSprop", "adagrad": "Adagrad",
                    "adadelta": "Adadelta", "amsgrad": "Amsgrad"}


def theory_id(order: str) -> int:
    return 990000 + ORDERS[order]


def run_python(venv: Path, code: str, *args: str, env: dict | None = None) -> str:
    """stdout of ``code`` run by the n3fit environment's python (its last line, which the code prints as JSON)."""
    out = subprocess.run([str(venv / "bin" / "python"), "-c", code, *args], check=True, capture_output=True,
                         text=True, env=env)
    return out.stdout.strip().splitlines()[-1]


VERSIONS = """
import importlib.metadata as m, json, pathlib, nnpdf_data
print(json.dumps(dict(cards=str(pathlib.Path(nnpdf_data.__file__).parent / "theory_cards"),
                      **{p: m.version(p) for p in ("nnpdf", "tensorflow", "keras", "pineappl")})))
"""


def venv_info(venv: Path) -> dict:
    """Theory-card folder and package versions of the n3fit environment."""
    return json.loads(run_python(venv, VERSIONS))


def fk_names(dataset: str) -> list[str]:
    """The FK-table names validphys expects for ``dataset`` (its commondata metadata)."""
    entry = commondata._observable_metadata(dataset)[1]
    return [name for group in entry["theory"]["FK_tables"] for name in group]


def pine_fktable(table: np.ndarray, xgrid: np.ndarray, q0: float):
    """A pineappl FkTable (DIS, one proton convolution, evolution basis) whose bins are the rows (n, 7, nx)."""
    from pineappl.boc import BinsWithFillLimits, Channel, Kinematics, Order, ScaleFuncForm, Scales
    from pineappl.convolutions import Conv, ConvType
    from pineappl.fk_table import FkTable
    from pineappl.grid import Grid
    from pineappl.interpolation import Interp, InterpolationMethod, MappingMethod, ReweightingMethod
    from pineappl.pids import PidBasis
    from pineappl.subgrid import ImportSubgridV1

    n = table.shape[0]
    interps = [
        Interp(min=q0**2, max=q0**2 * 1.0001, nodes=1, order=0, reweight_meth=ReweightingMethod.NoReweight,
               map=MappingMethod.ApplGridH0, interpolation_meth=InterpolationMethod.Lagrange),
        Interp(min=float(xgrid[0]), max=1.0, nodes=len(xgrid), order=3, reweight_meth=ReweightingMethod.ApplGridX,
               map=MappingMethod.ApplGridF2, interpolation_meth=InterpolationMethod.Lagrange),
    ]
    grid = Grid(pid_basis=PidBasis.Evol, channels=[Channel([([pid], 1.0)]) for pid in EVOL_PIDS],
                orders=[Order(0, 0, 0, 0, 0)], bins=BinsWithFillLimits.from_fill_limits(
                    fill_limits=[float(i) for i in range(n + 1)]),
                convolutions=[Conv(convolution_types=ConvType(polarized=False, time_like=False), pid=2212)],
                interpolations=interps, kinematics=[Kinematics.Scale(0), Kinematics.X(0)],
                scale_funcs=Scales(ren=ScaleFuncForm.Scale(0), fac=ScaleFuncForm.Scale(0),
                                   frg=ScaleFuncForm.NoScale(0)))
    pine = table * xgrid[None, None, :]         # validphys divides by x again
    for b in range(n):
        for c in range(len(EVOL_PIDS)):
            if np.any(pine[b, c]):
                sub = ImportSubgridV1(array=pine[b, c][np.newaxis, :],
                                      node_values=[np.array([q0**2]), np.asarray(xgrid, dtype=float)])
                grid.set_subgrid(0, b, c, sub.into())
    return FkTable(grid)


def export_theory(workdir: Path, datasets: list[str], order: str, cards_dir: Path, log=print) -> int:
    """FK tables and theory card of ``order`` for ``datasets``; skipped if done from the same mlhep files."""
    tid = theory_id(order)
    fkdir = workdir / "share" / "theories" / f"theory_{tid}" / "fastkernel"
    sources = {}
    for name in datasets:
        path = stored_fktable(name, order)
        sources[name] = [str(path), path.stat().st_size if path.is_file() else None,
                         path.stat().st_mtime if path.is_file() else None]
    stamp = fkdir.parent / "mlhep-sources.json"
    card_path = cards_dir / f"{tid}.yaml"
    card = dict(theory_card(order), ID=tid, Comments=f"mlhep {theory_card(order)['ID']} FK tables for n3fit")
    if not (stamp.is_file() and json.loads(stamp.read_text()) == sources and card_path.is_file()):
        fkdir.mkdir(parents=True, exist_ok=True)
        for name in datasets:
            fk = load_fktable(name, order)                 # DataError with the build command if missing
            table = np.nan_to_num(fk.table, nan=0.0)
            names = fk_names(name)
            for fkname, rows in zip(names, np.array_split(np.arange(table.shape[0]), len(names))):
                pine_fktable(table[rows], fk.xgrid, fk.q0).write_lz4(str(fkdir / f"{fkname}.pineappl.lz4"))
            log(f"  exported {name} ({table.shape[0]} rows) -> {', '.join(names)}")
        stamp.write_text(json.dumps(sources))
    else:
        log(f"  theory {tid}: FK tables already exported from the same mlhep files")
    card_path.write_text(yaml.safe_dump(card, sort_keys=False))
    return tid


def write_toy_set(workdir: Path) -> Path:
    """LHAPDF set LHTOY_Q0 (2 identical members) with mlhep's LHAPDF writer."""
    from mlhep.io.lhapdf import write_set

    x = np.concatenate([np.geomspace(1e-9, fit_xgrid()[0], 40, endpoint=False), fit_xgrid()])
    q = np.array([1.0, 1.65, 10.0, 100.0, 1.0e3, 1.0e5])
    xf = lh_toy(x)[[PIDS.index(p) for p in LHAPDF_PIDS]]                      # (11, nx)
    members = np.broadcast_to(xf, (1, len(q)) + xf.shape)
    info = {"SetDesc": "Les Houches toy PDF at Q0, Q independent (mlhep t0 lh_toy)", "Reference": "hep-ph/0204316",
            "OrderQCD": 1, "MZ": 91.1876, "MCharm": 1.51, "MBottom": 4.92, "MTop": 172.5, "AlphaS_MZ": 0.118,
            "AlphaS_OrderQCD": 1, "AlphaS_Type": "ipol", "AlphaS_Qs": list(q), "AlphaS_Vals": [0.118] * len(q)}
    return write_set(workdir / "share" / "LHAPDF", TOY, x, [q], members, LHAPDF_PIDS, info)


def write_profile(workdir: Path) -> Path:
    path = workdir / "nnprofile.yaml"
    path.write_text(yaml.safe_dump(dict(
        nnpdf_share=str(workdir / "share"), results_path="results", theories_path="theories",
        hyperscan_path="hyperscan", validphys_cache_path="vp-cache", ekos_path="ekos",
        photons_qed_path="photons_qed")))
    for sub in ("results", "theories", "hyperscan", "vp-cache", "ekos", "photons_qed"):
        (workdir / "share" / sub).mkdir(parents=True, exist_ok=True)
    return path


def n3fit_runcard(runcard, tid: int, epochs: int, parallel: bool = True, patience: float = 1.0) -> dict:
    """The n3fit runcard of an mlhep pdf-fit runcard: datasets, cuts, fractions, t0 = LH toy at Q0, network,
    initialiser, exponent ranges, optimizer; ``patience`` = n3fit's ``stopping_patience``, a fraction of the
    epochs (1: early stopping off); no positivity or integrability datasets."""
    cfg, opt = runcard.config, runcard.engine.optimizer
    model = cfg.model
    optimizer = {"optimizer_name": N3FIT_OPTIMIZERS[opt.name], "learning_rate": float(opt.learning_rate)}
    if opt.clipnorm is not None:
        optimizer["clipnorm"] = float(opt.clipnorm)
    basis = [{"fl": N3FIT_BASIS[k], "trainable": bool(model.fit_exponents), "smallx": list(map(float, v.alpha)),
              "largex": list(map(float, v.beta))} for k, v in model.preprocessing.items()]
    return {
        "description": f"n3fit on mlhep FK tables ({runcard.config.theory.order}), side by side with mlhep",
        "dataset_inputs": [dict(dataset=d.name, frac=float(d.frac), variant=d.variant or "legacy")
                           for d in cfg.data.datasets],
        "datacuts": {"t0pdfset": TOY, "q2min": float(cfg.data.q2min), "w2min": float(cfg.data.w2min)},
        "theory": {"theoryid": tid},
        "genrep": True, "trvlseed": 3, "nnseed": 2, "mcseed": 1,
        "parameters": {"nodes_per_layer": [*model.architecture, 7],
                       "activation_per_layer": [model.activation] * len(model.architecture) + ["linear"],
                       "initializer": model.initializer, "optimizer": optimizer, "epochs": int(epochs),
                       "stopping_patience": float(patience), "layer_type": "dense", "dropout": 0.0,
                       "threshold_chi2": 3.5},
        "fitting": {"fitbasis": "NN31PC", "savepseudodata": False, "basis": basis},
        "positivity": {"posdatasets": []}, "integrability": {"integdatasets": []},
        "debug": False, "parallel_models": parallel,
    }


VP_PREDICT = """
import json, sys
import numpy as np
from validphys.api import API
from validphys.convolution import central_predictions
tid, q2min, w2min, out = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
inputs = json.loads(sys.argv[5])
pdf = API.pdf(pdf="LHTOY_Q0")
res = {}
for name, variant in inputs:
    d = API.dataset(dataset_input={"dataset": name, "variant": variant}, theoryid=tid, use_cuts="internal",
                    q2min=q2min, w2min=w2min)
    res[name + "/pred"] = central_predictions(d, pdf).to_numpy()[:, 0]
    res[name + "/cuts"] = np.asarray(d.cuts.load())
np.savez(out, **res)
print(json.dumps(len(inputs)))
"""


def check_export(venv: Path, env: dict, workdir: Path, runcard, order: str, tid: int) -> tuple[float, int]:
    """validphys predictions (LHTOY_Q0, the exported theory, n3fit's cuts) vs mlhep FK table x LH toy on the same
    points; raises if the cut points differ from mlhep's. Returns (max |vp/mlhep - 1|, points)."""
    data = runcard.config.data
    out = workdir / f"vp-check-{tid}.npz"
    inputs = [(d.name, d.variant or "legacy") for d in data.datasets]
    run_python(venv, VP_PREDICT, str(tid), str(data.q2min), str(data.w2min), str(out), json.dumps(inputs), env=env)
    worst, points = 0.0, 0
    with np.load(out) as vp:
        for name, variant in inputs:
            fk = load_fktable(name, order)
            mask = commondata.load_dataset(name, variant, data.q2min, data.w2min).mask
            if not np.array_equal(vp[name + "/cuts"], np.flatnonzero(mask)):
                raise RuntimeError(f"{name}: validphys keeps {len(vp[name + '/cuts'])} points, mlhep {mask.sum()}")
            ours = np.einsum("iak,ak->i", fk.rows(mask), lh_toy_basis(fk.xgrid))
            diff = np.abs(vp[name + "/pred"] / ours - 1)
            if not np.all(np.isfinite(diff)):
                raise RuntimeError(f"{name}: validphys predictions are not finite (see {out})")
            worst = max(worst, float(np.max(diff)))
            points += len(ours)
    return worst, points


N3FIT_JSON_KEYS = {"chi2": "chi2", "chi2_train": "erf_tr", "chi2_valid": "erf_vl", "best_epoch": "best_epoch",
                   "stop_epoch": "stop_epoch"}
EXPORT_LABELS = {"TBAR": -6, "BBAR": -5, "CBAR": -4, "SBAR": -3, "UBAR": -2, "DBAR": -1, "GLUON": 21, "D": 1,
                 "U": 2, "S": 3, "C": 4, "B": 5, "T": 6}


def exportgrid_fit_basis(path: Path, xgrid: np.ndarray) -> np.ndarray:
    """x f (7, nx) in FIT_BASIS on ``xgrid`` of an n3fit ``.exportgrid`` (x f at Q0 per flavour on n3fit's own
    196-point x grid): cubic spline in log x of each flavour, then mlhep's flavour -> fit basis rotation."""
    from scipy.interpolate import CubicSpline

    grid = yaml.safe_load(Path(path).read_text())
    x = np.array([float(v) for v in grid["xgrid"]])
    table = np.asarray(grid["pdfgrid"], dtype=float)                             # (nx_n3fit, labels)
    xf = np.zeros((len(PIDS), len(xgrid)))
    for column, label in enumerate(grid["labels"]):
        if label in EXPORT_LABELS:
            xf[PIDS.index(EXPORT_LABELS[label])] = CubicSpline(np.log(x), table[:, column])(np.log(xgrid))
    return flavours_to_fit_basis(xf)


def read_n3fit_fit(fitdir: Path, name: str, xgrid: np.ndarray) -> dict:
    """Per-replica arrays of the n3fit fit in ``fitdir`` (replica order): the ``nnfit/replica_*/<name>.json``
    entries of :data:`N3FIT_JSON_KEYS` (``chi2``: chi2/N of the prediction to the central data with n3fit's
    fitting covariance, i.e. the t0 one; ``erf_tr``/``erf_vl``: training/validation chi2/N on the replica's
    pseudo-data; ``best_epoch``: best validation epoch; ``stop_epoch``: last epoch trained) and ``xf``
    (R, 7, nx), the exportgrid PDFs on ``xgrid``."""
    folders = sorted((Path(fitdir) / "nnfit").glob("replica_*"), key=lambda f: int(f.name.split("_")[1]))
    if not folders:
        raise RuntimeError(f"no replica folders in {fitdir / 'nnfit'}")
    info = [json.loads((f / f"{name}.json").read_text()) for f in folders]
    out = {key: np.array([i[source] for i in info]) for key, source in N3FIT_JSON_KEYS.items()}
    out["xf"] = np.stack([exportgrid_fit_basis(f / f"{name}.exportgrid", xgrid) for f in folders])
    return out
