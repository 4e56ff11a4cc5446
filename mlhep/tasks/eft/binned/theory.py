"""EFT theory predictions and the map from fitted (free) coefficients to all coefficients.

A fit varies the free parameters x (F,); fixed and constrained coefficients follow from them. A constraint is
SMEFiT's (``smefit.coefficients.Coefficient``): a sum of terms, each a product of powers of free parameters,
``c_m = sum_i prod_j a_ij x_j^n_ij``, written ``[{x1: a}, {g: [a, 2], m: [1, -2]}, ...]`` (a bare number is
``[a, 1]``). Terms linear in one parameter form ``c = M x + c0`` with M (N, F) and c0 (N,); the others are
``Monomial``s, which make the map non-linear: a UV model fitted in its couplings and masses (e.g. a coefficient
``g^2 / M^2``; the free parameters need not have theory tables of their own, SMEFiT's ``uv_couplings``).
Predictions (SMEFiT, arXiv:2105.00006 eq. 2.3), per data point n:
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
class Monomial:
    """A non-linear constraint term: ``factor * prod_j x_j^power_j`` added to coefficient ``target``."""

    target: int                                # index of the constrained coefficient in ``names``
    factor: float                              # the product of the term's factors a_j
    powers: tuple[tuple[int, float], ...]      # (free index, power != 0) pairs


@dataclass(frozen=True)
class CoefficientMap:
    """All coefficients ``names`` (N,), the free ones ``free`` (F,), ``c = matrix @ x + offset + monomials(x)``;
    bounds (F,); ``masses``: free parameters declared ``is_mass`` (UV masses, SMEFiT's convention)."""

    names: tuple[str, ...]
    free: tuple[str, ...]
    matrix: np.ndarray        # (N, F)
    offset: np.ndarray        # (N,)
    lower: np.ndarray         # (F,) -inf when unbounded
    upper: np.ndarray         # (F,) +inf when unbounded
    monomials: tuple[Monomial, ...] = ()
    masses: tuple[str, ...] = ()

    @property
    def is_linear(self) -> bool:
        """True when every coefficient is an affine function of the free parameters."""
        return not self.monomials

    def full(self, free_values):
        """Free values (..., F) -> all coefficients (..., N) (numpy or jax arrays; jit- and grad-able)."""
        out = free_values @ self.matrix.T + self.offset
        for term in self.monomials:
            value = term.factor
            for k, power in term.powers:
                value = value * _power(free_values[..., k], power)
            out = out + value[..., None] * np.eye(len(self.names))[term.target]
        return out

    def jacobian(self, free_values: np.ndarray) -> np.ndarray:
        """d c / d x (N, F) at free values (F,)."""
        if self.is_linear:
            return self.matrix
        import jax
        return np.asarray(jax.jacfwd(self.full)(jnp.asarray(free_values, dtype=float)))

    def depends_on(self, i: int) -> set[int]:
        """Indices of the free parameters that coefficient ``i`` depends on."""
        used = set(np.flatnonzero(self.matrix[i]).tolist())
        return used | {k for t in self.monomials if t.target == i for k, _ in t.powers}

    @property
    def bounded(self) -> bool:
        return bool(np.all(np.isfinite(self.lower)) and np.all(np.isfinite(self.upper)))


def _power(x, power: float):
    """x ** power, through an integer power when it is one (defined, with its derivatives, for x < 0)."""
    return x ** int(power) if float(power).is_integer() else x ** power


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
    monomials = []
    for i, name in enumerate(names):
        if name in column:
            matrix[i, column[name]] = 1.0
        elif name in fixed:
            offset[i] = fixed[name]
        else:
            for k, term in enumerate(constrained[name]):
                factor, powers = 1.0, []
                for other, value in term.items():
                    if other not in column:
                        why = ("it is not among the coefficients" if other not in specs
                               else "it is not a fitted coefficient (fixed or itself constrained)")
                        raise CoefficientError(f"{name}.constrain[{k}]",
                                               f"'{other}' cannot appear here: {why} (fitted: {', '.join(free)})")
                    a, power = _factor_power(value)
                    factor *= a
                    if power != 0:
                        powers.append((column[other], power))
                        _check_power_domain(specs[other], other, power, f"{name}.constrain[{k}]")
                if not powers:
                    offset[i] += factor
                elif len(powers) == 1 and powers[0][1] == 1:
                    matrix[i, powers[0][0]] += factor
                else:
                    monomials.append(Monomial(i, factor, tuple(powers)))
    lower = np.array([-np.inf if specs[n].min is None else specs[n].min for n in free], dtype=float)
    upper = np.array([np.inf if specs[n].max is None else specs[n].max for n in free], dtype=float)
    masses = tuple(n for n in free if getattr(specs[n], "is_mass", False))
    return CoefficientMap(names, tuple(free), matrix, offset, lower, upper, tuple(monomials), masses)


def _factor_power(value) -> tuple[float, float]:
    """A constraint factor: a number a (meaning a x^1) or SMEFiT's [a, n] (meaning a x^n)."""
    if isinstance(value, (list, tuple)):
        return float(value[0]), float(value[1])
    return float(value), 1.0


def _check_power_domain(spec, name: str, power: float, where: str) -> None:
    """A negative or fractional power is defined (with its derivatives) only for a parameter kept above zero."""
    if float(power).is_integer() and power > 0:
        return
    if spec.min is None or spec.min <= 0:
        raise CoefficientError(f"{name}.min", f"'{name}' appears with power {power:g} in {where}, which needs "
                               f"{name} > 0: give it min > 0 (e.g. a UV mass: {{is_mass: true, min: 0.5, max: 5}})")


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
    if getattr(spec, "is_mass", False) and (spec.value is not None or spec.constrain is not None
                                            or spec.min is None or spec.max is None or spec.min <= 0):
        raise CoefficientError(name, "is_mass: a UV mass is a fitted parameter with bounds 0 < min < max "
                               "(e.g. {is_mass: true, min: 0.5, max: 5})")
    if spec.constrain is None:
        return
    if not spec.constrain:
        raise CoefficientError(f"{name}.constrain", "empty constraint: give at least one term [{OX: factor}], "
                               "or 'value: 0' to fix it")
    for k, term in enumerate(spec.constrain):
        if not term:
            raise CoefficientError(f"{name}.constrain[{k}]", "an empty term: each term is {coefficient: factor} "
                                   "or a product {g1: [factor, power], m: [factor, power]}")
        for other, value in term.items():
            if other == name:
                raise CoefficientError(f"{name}.constrain[{k}]", f"'{name}' cannot be constrained by itself")
            numbers = list(value) if isinstance(value, (list, tuple)) else [value]
            is_number = [isinstance(v, (int, float)) and not isinstance(v, bool) for v in numbers]
            if not all(is_number) or (isinstance(value, (list, tuple)) and len(numbers) != 2):
                raise CoefficientError(f"{name}.constrain[{k}].{other}", f"must be a factor or [factor, power] "
                                       f"(SMEFiT's form), got {value!r}")
            for number in numbers:
                if not math.isfinite(number):
                    raise CoefficientError(f"{name}.constrain[{k}].{other}",
                                           f"must be a finite number (got {number})")


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
