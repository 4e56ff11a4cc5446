"""The jets of a fit: read from files of either layout in blocks, reduced to the model's inputs, and split.

Reading goes ``block`` jets at a time (``load.load_jets``), and each block is reduced at once to the inputs the
model reads (``inputs.model_inputs``), so the raw 200 constituents of the whole sample are never in memory
together. The split is stratified by class and fixed by ``split_seed`` (the same for every replica); the training
part is ordered background first, then signal, so that a per-class bootstrap draws from two static ranges.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from mlhep.errors import DataError
from mlhep.tasks.jets.inputs import model_inputs
from mlhep.tasks.jets.kinematics import mass
from mlhep.tasks.jets.load import file_layout, load_jets


@dataclass(frozen=True)
class Jets:
    """Jets as the networks see them: ``inputs`` {key: (N, ...)} (``inputs.INPUT_KEYS``), ``label`` (N,) float32
    (1 top, 0 QCD) and the jet ``mass`` (N,) float32 in GeV (of the jet four-momentum in the file)."""

    inputs: dict[str, np.ndarray]
    label: np.ndarray
    mass: np.ndarray

    def __len__(self) -> int:
        return self.label.shape[0]

    def take(self, rows: np.ndarray) -> "Jets":
        return Jets({k: v[rows] for k, v in self.inputs.items()}, self.label[rows], self.mass[rows])

    def counts(self) -> tuple[int, int]:
        """(QCD jets, top jets)."""
        n_top = int(np.sum(self.label == 1))
        return len(self) - n_top, n_top


def read_jets(paths: list[os.PathLike], needed, n_keep: int, pixels: int = 40, half_width: float = 0.8,
              max_per_file: int | None = None, block: int = 20_000) -> Jets:
    """The jets of ``paths`` (concatenated in order; at most ``max_per_file`` from each), as model inputs."""
    parts: list[Jets] = []
    for path in paths:
        file_layout(path)            # DataError naming the file if it is neither layout
        start = 0
        while max_per_file is None or start < max_per_file:
            stop = start + block if max_per_file is None else min(start + block, max_per_file)
            sample = load_jets(path, start, stop)
            if len(sample) == 0:
                break
            parts.append(Jets(model_inputs(sample.constituents, needed, n_keep, pixels, half_width),
                              sample.label.astype(np.float32), mass(sample.jet_p4.astype(np.float64))
                              .astype(np.float32)))
            if len(sample) < stop - start:
                break
            start = stop
    if not parts:
        raise DataError(f"{', '.join(map(str, paths))}: no jets")
    jets = Jets({k: np.concatenate([p.inputs[k] for p in parts]) for k in parts[0].inputs},
                np.concatenate([p.label for p in parts]), np.concatenate([p.mass for p in parts]))
    n_qcd, n_top = jets.counts()
    if n_qcd == 0 or n_top == 0:
        raise DataError(f"{', '.join(map(str, paths))}: {n_top} top and {n_qcd} QCD jets; a tagger needs both")
    return jets


@dataclass(frozen=True)
class Split:
    """Row indices of the three parts: ``train`` (QCD first, then top; ``n_train_qcd`` of them QCD),
    ``valid`` and ``test``."""

    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray
    n_train_qcd: int


def split(label: np.ndarray, validation_fraction: float, test_fraction: float, seed: int) -> Split:
    """A split stratified by class: of each class, round(test_fraction n) jets for testing, round(
    validation_fraction n) for validation, the rest for training, drawn at random with ``seed``. ValueError if a
    part would have no jet of some class."""
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {"train": [], "valid": [], "test": []}
    for cls, name in ((0, "QCD"), (1, "top")):
        rows = rng.permutation(np.flatnonzero(label == cls))
        n_test, n_valid = round(test_fraction * rows.size), round(validation_fraction * rows.size)
        if min(n_test, n_valid, rows.size - n_test - n_valid) < 1:
            raise ValueError(f"{rows.size} {name} jets are too few for a split with validation_fraction "
                             f"{validation_fraction:g} and test_fraction {test_fraction:g} (each part needs at "
                             "least one jet of each class)")
        parts["test"].append(np.sort(rows[:n_test]))
        parts["valid"].append(np.sort(rows[n_test:n_test + n_valid]))
        parts["train"].append(np.sort(rows[n_test + n_valid:]))
    return Split(*(np.concatenate(parts[k]) for k in ("train", "valid", "test")), n_train_qcd=parts["train"][0].size)
