"""Separable jets for the jet-tag task tests, written as an mlhep jet file (no generator needed).

QCD-like jets are one prong, top-like jets three prongs 0.2-0.5 apart (``models.synthetic.random_jets``): they
differ in mass, width and constituent pattern, so any tagger separates them well.
"""
from __future__ import annotations

import jax
import numpy as np

from mlhep.tasks.jets.h5io import JetFileWriter
from mlhep.tasks.jets.models.synthetic import random_jets


def write_separable_jets(path, n_per_class: int = 300, n_particles: int = 24, seed: int = 0) -> None:
    """``n_per_class`` one-prong (label 0) then three-prong (label 1) jets of ``n_particles`` slots."""
    keys = jax.random.split(jax.random.PRNGKey(seed), 2)
    with JetFileWriter(path, {"synthetic": "models.synthetic.random_jets", "seed": seed},
                       n_constituents=n_particles) as writer:
        for label, (key, prongs) in enumerate(zip(keys, (1, 3))):
            p4 = np.asarray(random_jets(key, n_per_class, n_particles, prongs=prongs)["p4"], dtype=np.float32)
            writer.append({"constituents": p4, "label": np.full(n_per_class, label, np.int8),
                           "jet_p4": p4.sum(axis=1), "top_p4": np.zeros((n_per_class, 4), np.float32),
                           "n_constituents": (p4[..., 0] > 0).sum(axis=1).astype(np.int32),
                           "chunk": np.zeros(n_per_class, np.int32)})
