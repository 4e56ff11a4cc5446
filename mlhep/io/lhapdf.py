"""LHAPDF6 grid files (format ``lhagrid1``; Buckley et al., Eur. Phys. J. C 75 (2015) 132, arXiv:1412.7420).

A set ``<name>/`` holds ``<name>.info`` (YAML metadata) and one ``<name>_NNNN.dat`` per member. Each member file:

    PdfType: central|replica
    Format: lhagrid1
    ---
    x_1 ... x_nx
    Q_1 ... Q_nq          (one block per flavour-number subgrid; the threshold Q ends one block and starts the next)
    pid_1 ... pid_nf
    xf(x_1, Q_1, pid_1) ... xf(x_1, Q_1, pid_nf)
    xf(x_1, Q_2, pid_1) ...                          (x outer, Q inner: line index = ix * nq + iq)
    ---

Values are x f(x, Q). Generic: any PDF-like grid, no physics here.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np


def write_member(path: Path, xgrid: np.ndarray, subgrids: Sequence[tuple[np.ndarray, np.ndarray]],
                 pids: Sequence[int], pdf_type: str) -> None:
    """One ``.dat`` file; ``subgrids`` is a list of (q values (nq,), x f (nq, n_pids, nx))."""
    lines = [f"PdfType: {pdf_type}", "Format: lhagrid1", "---"]
    for q, xf in subgrids:
        lines.append(" ".join(f"{v:.8e}" for v in xgrid))
        lines.append(" ".join(f"{v:.8e}" for v in q))
        lines.append(" ".join(str(int(p)) for p in pids))
        block = np.transpose(np.asarray(xf), (2, 0, 1)).reshape(-1, len(pids))   # (nx * nq, n_pids)
        lines.extend(" ".join(f"{v: .8e}" for v in row) for row in block)
        lines.append("---")
    path.write_text("\n".join(lines) + "\n")


def _yaml_value(value) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple, np.ndarray)):
        return "[" + ", ".join(_yaml_value(v) for v in value) + "]"
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.8g}"
    return str(value)


def write_set(folder: Path, name: str, xgrid: np.ndarray, q_blocks: Sequence[np.ndarray], members: np.ndarray,
              pids: Sequence[int], info: dict, central: np.ndarray | None = None) -> Path:
    """Write ``folder/name/``: member 0 = ``central`` (default: mean of ``members``), then one per replica.

    ``members`` (R, nq_total, n_pids, nx) on the concatenated Q grid of ``q_blocks`` (each block's Q values in
    order; a threshold Q appears at the end of one block and the start of the next). ``info`` adds/overrides
    .info keys (e.g. SetDesc, OrderQCD, AlphaS_Qs, AlphaS_Vals, MCharm). Returns the set folder.
    """
    out = Path(folder) / name
    out.mkdir(parents=True, exist_ok=True)
    members = np.asarray(members, dtype=float)
    central = members.mean(axis=0) if central is None else central
    edges = np.cumsum([0] + [len(b) for b in q_blocks])
    q_all = np.concatenate(q_blocks)
    meta = {"SetDesc": name, "Authors": "mlhep", "Reference": "", "Format": "lhagrid1", "DataVersion": 1,
            "NumMembers": len(members) + 1, "Particle": 2212, "Flavors": list(pids), "ErrorType": "replicas",
            "XMin": float(xgrid[0]), "XMax": float(xgrid[-1]), "QMin": float(q_all[0]), "QMax": float(q_all[-1]),
            "FlavorScheme": "variable", "NumFlavors": 5} | info
    (out / f"{name}.info").write_text("".join(f"{k}: {_yaml_value(v)}\n" for k, v in meta.items()))
    for index, grid in enumerate([central, *members]):
        subgrids = [(q_blocks[b], grid[edges[b]:edges[b + 1]]) for b in range(len(q_blocks))]
        write_member(out / f"{name}_{index:04d}.dat", xgrid, subgrids, pids, "central" if index == 0 else "replica")
    return out


def read_member(path: Path) -> list[tuple[np.ndarray, np.ndarray, list[int], np.ndarray]]:
    """Blocks of a ``.dat`` file: (x (nx,), q (nq,), pids, x f (nq, n_pids, nx))."""
    text = Path(path).read_text().split("---")
    blocks = []
    for chunk in text[1:]:
        rows = [r for r in chunk.strip().splitlines() if r.strip()]
        if not rows:
            continue
        x = np.array(rows[0].split(), dtype=float)
        q = np.array(rows[1].split(), dtype=float)
        pids = [int(p) for p in rows[2].split()]
        values = np.array([r.split() for r in rows[3:]], dtype=float).reshape(len(x), len(q), len(pids))
        blocks.append((x, q, pids, np.transpose(values, (1, 2, 0))))
    return blocks
