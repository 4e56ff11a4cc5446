"""The Les Houches toy PDF (Giele et al., hep-ph/0204316, sec. 4.3; the benchmark input of eko/pegasus):

    x u_v = 5.107200 x^0.8 (1-x)^3,  x d_v = 3.064320 x^0.8 (1-x)^4,  x g = 1.7 x^-0.1 (1-x)^5,
    x dbar = 0.1939875 x^-0.1 (1-x)^6,  x ubar = (1-x) x dbar,  x s = x sbar = 0.2 x (ubar + dbar),

given at Q0 = sqrt(2) GeV with no heavy quarks. Used here as the t0 PDF and as a closure-test truth at the
fitting scale (a known shape obeying the sum rules: int u_v = 2, int d_v = 1, momentum = 1 to 1e-3).
"""
from __future__ import annotations

import numpy as np

from mlhep.tasks.pdf.model import FIT_BASIS


def lh_toy_flavours(x: np.ndarray) -> dict[str, np.ndarray]:
    """x f for u_v, d_v, g, ubar, dbar, s (= sbar) at x (n,)."""
    x = np.asarray(x, dtype=float)
    dbar = 0.1939875 * x ** -0.1 * (1 - x) ** 6
    ubar = (1 - x) * dbar
    return {"uv": 5.1072 * x ** 0.8 * (1 - x) ** 3, "dv": 3.06432 * x ** 0.8 * (1 - x) ** 4,
            "g": 1.7 * x ** -0.1 * (1 - x) ** 5, "ubar": ubar, "dbar": dbar, "s": 0.2 * (ubar + dbar)}


def lh_toy_basis(x: np.ndarray) -> np.ndarray:
    """x f in FIT_BASIS (7, n): Sigma, g, V, V3, V8, T3, T8 (s = sbar, so s- = 0)."""
    f = lh_toy_flavours(x)
    u_plus, d_plus, s_plus = f["uv"] + 2 * f["ubar"], f["dv"] + 2 * f["dbar"], 2 * f["s"]
    basis = {"Sigma": u_plus + d_plus + s_plus, "g": f["g"], "V": f["uv"] + f["dv"], "V3": f["uv"] - f["dv"],
             "V8": f["uv"] + f["dv"], "T3": u_plus - d_plus, "T8": u_plus + d_plus - 2 * s_plus}
    return np.stack([basis[k] for k in FIT_BASIS])
