"""EFT theory predictions and the map from fitted (free) coefficients to all coefficients.

A fit varies the free coefficients x (F,); fixed and linearly constrained ones follow from them:
``c = M x + c0`` with M (N, F) and c0 (N,). Predictions (SMEFiT, arXiv:2105.00006 eq. 2.3), per data point n:
``t_n(c) = sm_n + sum_i L_ni c_i + sum_{i<=j} Q_nij c_i c_j`` (Q upper triangular, Lambda = 1 TeV).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Optional

import jax.numpy as jnp
import numpy as np


class CoefficientError(ValueError):
    """A bad coefficient specification; ``key`` is the runcard key path below ``binned.coefficients``."""

    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key


@dataclass(frozen=True)
class CoefficientMap:
    """All coefficients ``names`` (N,), the free ones ``free`` (F,), ``c = matrix @ x + offset``; bounds (F,)."""

    names: tuple[str, ...]
    free: tuple[str, ...]
    matrix: np.ndarray        # (N, F)
    offset: np.ndarray        # (N,)
    lower: np.ndarray         # (F,) -inf when unbounded
    upper: np.ndarray         # (F,) +inf when unbounded

    def full(self, free_values):
        """Free values (..., F) -> all coefficients (..., N)."""
        return free_values @ self.matrix.T + self.offset

    @property
    def bounded(self) -> bool:
        return bool(np.all(np.isfinite(self.lower)) and np.all(np.isfinite(self.upper)))


def build_coefficient_map(specs: Mapping[str, object]) -> CoefficientMap:
    """From the runcard ``coefficients`` mapping (name -> CoefficientConfig) to a ``CoefficientMap``."""
    names = tuple(specs)
    free, fixed, constrained = [], {}, {}
    for name, spec in specs.items():
        check_spec(name, spec)
        if spec.value is not None:
            fixed[name] = float(spec.value)
        elif spec.constrain is not None:
            constrained[name] = spec.constrain
        else:
            free.append(name)
    if not free:
        raise CoefficientError("", "no coefficient is fitted (every one is fixed or constrained)")
    column = {name: k for k, name in enumerate(free)}
    matrix = np.zeros((len(names), len(free)))
    offset = np.zeros(len(names))
    for i, name in enumerate(names):
        if name in column:
            matrix[i, column[name]] = 1.0
        elif name in fixed:
            offset[i] = fixed[name]
        else:
            for k, term in enumerate(constrained[name]):
                (other, factor), = term.items()
                if other not in column:
                    why = ("it is not among the coefficients" if other not in specs
                           else "it is not a fitted coefficient (fixed or itself constrained)")
                    raise CoefficientError(f"{name}.constrain[{k}]",
                                           f"'{other}' cannot appear here: {why} (fitted: {', '.join(free)})")
                matrix[i, column[other]] += float(factor)
    lower = np.array([-np.inf if specs[n].min is None else specs[n].min for n in free], dtype=float)
    upper = np.array([np.inf if specs[n].max is None else specs[n].max for n in free], dtype=float)
    return CoefficientMap(names, tuple(free), matrix, offset, lower, upper)


def check_spec(name: str, spec) -> None:
    """One coefficient is exactly one of fitted {min, max}, fixed {value} or constrained {constrain}, with
    finite numbers; raises ``CoefficientError`` at the offending key."""
    for field in ("min", "max", "value"):
        number = getattr(spec, field)
        if number is not None and not math.isfinite(number):
            hint = "" if field == "value" else "; omit min and max for an unbounded coefficient"
            raise CoefficientError(f"{name}.{field}", f"must be a finite number (got {number}{hint})")
    if spec.value is not None and spec.constrain is not None:
        raise CoefficientError(name, "give either 'value' (fixed) or 'constrain', not both")
    if (spec.min is not None or spec.max is not None) and (spec.value is not None or spec.constrain is not None):
        kind = "value" if spec.value is not None else "constrain"
        raise CoefficientError(name, f"min/max make it fitted but '{kind}' makes it "
                               f"{'fixed' if kind == 'value' else 'constrained'}: give {{min, max}} to fit it, "
                               f"or '{kind}' alone")
    if spec.min is not None and spec.max is not None and not spec.min < spec.max:
        raise CoefficientError(f"{name}.min", f"min = {spec.min} must be below max = {spec.max}")
    if spec.constrain is None:
        return
    if not spec.constrain:
        raise CoefficientError(f"{name}.constrain", "empty constraint: give at least one term [{OX: factor}], "
                               "or 'value: 0' to fix it")
    for k, term in enumerate(spec.constrain):
        if len(term) != 1:
            raise CoefficientError(f"{name}.constrain[{k}]", "each term is one {coefficient: factor}")
        (other, factor), = term.items()
        if other == name:
            raise CoefficientError(f"{name}.constrain[{k}]", f"'{name}' cannot be constrained by itself")
        if not math.isfinite(factor):
            raise CoefficientError(f"{name}.constrain[{k}].{other}", f"must be a finite number (got {factor})")


def correction_tables(datasets, names: tuple[str, ...], use_quadratic: bool):
    """Stack the corrections of ``datasets`` (list of DatasetTables) for the coefficients ``names``.

    Returns linear (n, N) and quadratic (n, N, N) upper triangular (None if not ``use_quadratic``).
    Corrections of coefficients not in ``names`` are dropped (those coefficients are zero in the fit).
    """
    index = {name: i for i, name in enumerate(names)}
    blocks_linear, blocks_quadratic = [], []
    for table in datasets:
        n = table.best_sm.size
        linear = np.zeros((n, len(names)))
        for name, values in table.linear.items():
            if name in index:
                linear[:, index[name]] = values
        blocks_linear.append(linear)
        if use_quadratic:
            quad = np.zeros((n, len(names), len(names)))
            for (first, second), values in table.quadratic.items():
                if first in index and second in index:
                    i, j = sorted((index[first], index[second]))
                    quad[:, i, j] += values
            blocks_quadratic.append(quad)
    linear = np.concatenate(blocks_linear)
    quadratic = np.concatenate(blocks_quadratic) if use_quadratic else None
    return linear, quadratic


def predict(coefficients, sm, linear, quadratic: Optional[jnp.ndarray] = None):
    """Theory predictions (n,) for coefficients (N,): sm (n,), linear (n, N), quadratic (n, N, N) or None."""
    theory = sm + linear @ coefficients
    if quadratic is not None:
        theory = theory + jnp.einsum("nij,i,j->n", quadratic, coefficients, coefficients)
    return theory
