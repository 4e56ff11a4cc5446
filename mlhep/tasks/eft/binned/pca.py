"""Principal components of the Fisher information: which coefficient combinations the data constrain.

For the linear model t = t_0 + A x, the Fisher matrix is F = A^T C^-1 A (F, F). Its eigenvectors with
eigenvalues far below the largest are (nearly) flat directions of the chi2: combinations the data cannot
determine (SMEFiT, arXiv:2105.00006 sec. 5.2 uses the same decomposition to find them).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FisherPCA:
    eigenvalues: np.ndarray   # (F,) descending
    eigenvectors: np.ndarray  # (F, F) column k is the k-th principal direction
    flat: np.ndarray          # (F,) bool: eigenvalue below threshold * largest


def fisher_pca(fisher: np.ndarray, threshold: float) -> FisherPCA:
    values, vectors = np.linalg.eigh(fisher)
    order = np.argsort(values)[::-1]
    values, vectors = values[order], vectors[:, order]
    # Fix the sign: the largest component of every eigenvector is positive.
    signs = np.sign(vectors[np.argmax(np.abs(vectors), axis=0), np.arange(vectors.shape[1])])
    vectors = vectors * np.where(signs == 0, 1.0, signs)
    flat = values < threshold * max(values[0], 0.0)
    return FisherPCA(values, vectors, flat)


def leading_components(vector: np.ndarray, names: list[str], count: int = 3) -> str:
    """``+0.71 OtG -0.70 OtZ ...``: the largest components of an eigenvector."""
    order = np.argsort(np.abs(vector))[::-1][:count]
    return " ".join(f"{vector[k]:+.2f} {names[k]}" for k in order)
