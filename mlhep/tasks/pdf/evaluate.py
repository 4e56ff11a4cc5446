"""Per-replica outputs of a PDF fit from the best parameters (leading axis = replica)."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from mlhep.engine.program import shared_data
from mlhep.stats.chi2 import Whitening
from mlhep.tasks.pdf import chi2, constraints, postfit, sumrules
from mlhep.tasks.pdf.problem import PdfProblem
from mlhep.tasks.pdf.trainable import PdfTrainable

ARC_X = np.concatenate([np.geomspace(1e-7, 0.1, 300, endpoint=False), np.linspace(0.1, 1.0, 200)])


def output_xgrid(xmin: float, points: int) -> np.ndarray:
    """Half log-spaced in [xmin, 0.1), half linear in [0.1, 0.99]."""
    n_log = points // 2
    return np.concatenate([np.geomspace(xmin, 0.1, n_log, endpoint=False), np.linspace(0.1, 0.99, points - n_log)])


def evaluate_replicas(trainable: PdfTrainable, params, data_keys: np.ndarray, x_out: np.ndarray) -> dict:
    """Arrays (R, ...) of every replica: PDFs, predictions, chi2s, positivity, sum rules, arc-lengths;
    ``data_keys`` (R, 2) are the engine's ``replica_data`` keys (``TrainResult.data_keys``)."""
    p, model = trainable.problem, trainable.model
    xf_of = jax.jit(jax.vmap(model.xf, in_axes=(0, None)))
    xf_fk = np.asarray(xf_of(params, jnp.asarray(p.xgrid)))                      # (R, 7, nx)
    xf_out = np.asarray(xf_of(params, jnp.asarray(x_out)))                       # (R, 7, n_out)
    xf_pos = np.asarray(xf_of(params, jnp.asarray(constraints.POSITIVITY_X)))
    flav_pos = np.einsum("fa,rak->rfk", constraints.evolution_to_flavour(), xf_pos)
    predictions = p.predictions(xf_fk)                                           # (R, n)
    out = {"pdf/q0/basis": xf_out, "prediction": predictions,
           "positivity/min": flav_pos.min(axis=(1, 2)),
           "positivity/ok": (flav_pos.min(axis=(1, 2)) > -trainable.positivity.threshold).astype(np.int8),
           "arclength": postfit.arc_lengths(ARC_X, np.asarray(xf_of(params, jnp.asarray(ARC_X))))}
    # an independent, finer rule than the one the normalisation uses: the reported sum rules measure accuracy
    x_int, w_int = sumrules.integration_grid(256, 128)
    xf_int = np.asarray(xf_of(params, jnp.asarray(x_int)))
    alpha = np.asarray(jax.vmap(lambda q: model.exponents(q)[0])(params))
    beta = np.asarray(jax.vmap(lambda q: model.exponents(q)[1])(params))
    out |= {f"sumrules/{k}": np.asarray(v) for k, v in sumrules.sum_rules(xf_int, x_int, w_int, alpha).items()}
    out |= {"exponents/alpha": alpha, "exponents/beta": beta}
    for name, sl in zip(p.names, p.slices()):
        resid = predictions[:, sl] - p.central[sl]
        out[f"chi2_exp/{name}"] = Whitening.of(p.cov_exp[sl, sl]).chi2(resid)
        out[f"chi2_t0/{name}"] = Whitening.of(p.cov_t0[sl, sl]).chi2(resid)
    out |= _split_chi2(trainable, params, data_keys)
    return out


def _split_chi2(trainable: PdfTrainable, params, data_keys: np.ndarray) -> dict:
    """Training and validation t0 chi2 per point on each replica's own pseudo-data and split."""
    p = trainable.problem
    data = jax.jit(jax.vmap(trainable.replica_data, in_axes=(0, None)))(data_keys, shared_data(trainable))
    q = jax.jit(jax.vmap(trainable.grid_values))(params)
    n_train = len(p.central) - p.n_valid
    out = {"chi2_train": np.asarray(jax.vmap(chi2.quadratic_chi2)(data["h_train"], q)) / n_train}
    if p.n_valid:
        out["chi2_valid"] = np.asarray(jax.vmap(chi2.quadratic_chi2)(data["h_valid"], q)) / p.n_valid
    else:
        out["chi2_valid"] = out["chi2_train"]
    return out


def summary(problem: PdfProblem, x_out: np.ndarray) -> dict:
    """Run-wide arrays: dataset names and sizes, data, covariance blocks of correlated datasets, grids."""
    s = {"datasets": np.array(problem.names), "ndata": problem.ndata, "pdf/x": x_out, "fk_xgrid": problem.xgrid}
    for name, sl in zip(problem.names, problem.slices()):
        s[f"data/{name}"] = problem.central[sl]
        for key, values in problem.kinematics[name].items():
            s[f"kinematics/{name}/{key}"] = np.asarray(values, dtype=float)
    offsets = np.concatenate([[0], np.cumsum(problem.ndata)])
    for g, members in enumerate(problem.corr_groups):
        rows = np.concatenate([np.arange(offsets[i], offsets[i + 1]) for i in members])
        s[f"corr_groups/{g}/datasets"] = members
        s[f"corr_groups/{g}/cov_exp"] = problem.cov_exp[np.ix_(rows, rows)]
        s[f"corr_groups/{g}/cov_t0"] = problem.cov_t0[np.ix_(rows, rows)]
    return s
