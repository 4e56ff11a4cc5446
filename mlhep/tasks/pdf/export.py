"""LHAPDF6 export of a pdf-fit: postfit-accepted replicas evolved with eko to a Q grid split at thresholds."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from mlhep.io.lhapdf import write_set
from mlhep.tasks.pdf import postfit

LHAPDF_PIDS = (-5, -4, -3, -2, -1, 1, 2, 3, 4, 5, 21)


def q_blocks(q0: float, q_max: float, points: int, thresholds: list[float]) -> list[np.ndarray]:
    """Log-spaced Q grid from q0 to q_max split at the heavy-quark thresholds inside it (each threshold ends one
    block and starts the next, as LHAPDF expects)."""
    edges = [q0] + [t for t in thresholds if q0 < t < q_max] + [q_max]
    logs = np.log(edges)
    per = [max(4, int(round(points * (b - a) / (logs[-1] - logs[0])))) for a, b in zip(logs[:-1], logs[1:])]
    return [np.geomspace(a, b, n) for a, b, n in zip(edges[:-1], edges[1:], per)]


def export_lhapdf(trainable, params, outputs, config, workdir: Path) -> Path:
    """Write ``workdir/<name>/``: member 0 = mean of the accepted replicas, then the accepted replicas."""
    import jax
    import jax.numpy as jnp

    from mlhep.physics import evolution

    problem, cfg = trainable.problem, config.lhapdf
    rep = outputs.replicas
    chi2 = np.sum([rep[f"chi2_exp/{n}"] for n in problem.names], axis=0) / problem.ndata.sum()
    keep = postfit.select(chi2, rep["positivity/ok"].astype(bool), rep["arclength"], config.postfit.chi2_threshold,
                          config.postfit.arclength_sigma)
    if not keep.any():
        keep = np.ones_like(keep)
    theory = problem.theory
    thresholds = [theory[f"k{q}Thr"] * theory[f"m{q}"] for q in "cb"]
    blocks = q_blocks(problem.q0, cfg.q_max, cfg.q_points, thresholds)
    xmin = cfg.xmin if cfg.xmin is not None else float(problem.xgrid.min())
    x = np.concatenate([np.geomspace(xmin, 0.1, cfg.x_points // 2, endpoint=False),
                        np.linspace(0.1, 1.0, cfg.x_points - cfg.x_points // 2)])
    xf_fk = np.asarray(jax.vmap(trainable.model.xf, in_axes=(0, None))(params, jnp.asarray(problem.xgrid)))[keep]
    q_all = np.concatenate(blocks)
    evolved = evolution.evolve(xf_fk, problem.xgrid, q_all, theory, xgrid_out=x)   # (R, nq, 13, nx)
    columns = [evolution.PIDS.index(p) for p in LHAPDF_PIDS]
    members = evolved[:, :, columns, :]
    members[..., -1] = 0.0                                                      # x f(x = 1) = 0 exactly
    # alpha_s on the same Q grid, each block with its own flavour number (readers such as pdfflow need it)
    nfs = np.concatenate([[evolution.nf_at(float(np.sqrt(b[0] * b[-1])), theory)] * len(b) for b in blocks])
    info = {"SetDesc": f"mlhep pdf-fit ({', '.join(problem.names)})", "OrderQCD": int(theory.get("PTO", 1)),
            "MCharm": theory["mc"], "MBottom": theory["mb"], "MTop": theory["mt"],
            "AlphaS_MZ": theory.get("alphas", 0.118), "AlphaS_OrderQCD": int(theory.get("PTO", 1)),
            "AlphaS_Type": "ipol", "AlphaS_Qs": [float(q) for q in q_all],
            "AlphaS_Vals": [float(a) for a in evolution.alpha_s(theory, q_all, nfs)]}
    return write_set(Path(workdir), cfg.name, x, blocks, members, LHAPDF_PIDS, info)
