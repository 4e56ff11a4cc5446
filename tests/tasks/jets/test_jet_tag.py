"""jet-tag through the ``mlhep`` command on separable synthetic jets: a tiny fit reaches a high AUC and reports;
the batched ensemble equals the replicas trained one by one; bad runcards and files give errors naming them."""
from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from jet_tag_fixtures import write_separable_jets
from mlhep.io.results import Results

CARD = """\
task: jet-tag
seed: 3
replicas: 2
engine:
  epochs: 8
  chunk: 4
  minibatch_size: 64
  checkpoint_seconds: 0
  optimizer: {{name: adam, learning_rate: 3.0e-3}}
  stopping: {{patience: 100}}   # every replica runs to the epoch limit (keeping its best): one compiled program
data:
{data}
  constituents: 16
model:
  architecture: {architecture}
  options: {options}
ensemble: {{bootstrap: true}}
"""
FILES = "  files: [jets.h5]"


def write_card(folder: Path, data: str = FILES, architecture: str = "pfn",
               options: str = "{phi_sizes: [16, 16], f_sizes: [16]}") -> Path:
    path = folder / "card.yaml"
    path.write_text(CARD.format(data=data, architecture=architecture, options=options))
    return path


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("jet_tag")
    write_separable_jets(path / "jets.h5", n_per_class=300)
    return path


def _fit(folder: Path, output: str, *extra: str) -> Results:
    from mlhep.cli import main
    assert main(["fit", str(write_card(folder)), "-o", str(folder / output), "-q", *extra]) == 0
    return Results.read(folder / output)


@pytest.fixture(scope="module")
def batched(folder) -> Results:
    return _fit(folder, "batched.h5")


def test_a_tiny_fit_separates_the_jets_and_reports(batched, folder, run_cli):
    """One- against three-prong jets: every replica's test AUC above 0.9 after 8 epochs on 300 training jets
    (measured 0.96-0.99), the ensemble mean's too; the test set is 30% of each class and held out of training."""
    r, s = batched.replicas, batched.summary
    assert r["test_score"].shape == (2, 180) and s["test_label"].sum() == 90
    assert np.all(r["auc"] > 0.9) and s["ensemble/auc"] > 0.9
    assert s["n_train"] == 300 and s["n_valid"] == 120
    assert r["roc_eps_b"].shape == (2, s["roc_eps_s"].size) and np.all(np.diff(r["roc_eps_b"], axis=1) >= 0)
    np.testing.assert_allclose(s["ensemble/score"], r["test_score"].mean(axis=0), rtol=1e-6)
    code, out, err = run_cli("report", folder / "batched.h5", "--plot", folder / "plots")
    assert code == 0, err
    assert "jet-tag: pfn" in out and "ensemble (2)" in out and "1/eB@0.3" in out
    assert f"{s['ensemble/auc']:.4f}" in out
    for name in ("roc", "scores", "mass_sculpting"):
        assert (folder / "plots" / f"jet_tag_{name}.png").stat().st_size > 1000


def test_the_batched_ensemble_equals_the_replicas_trained_one_by_one(batched, folder):
    """``--sequential`` trains each replica alone with the 1-replica program: same bootstrap weights, same
    minibatches, same numbers up to float32 rounding of differently vectorised matmuls (measured < 1e-6)."""
    sequential = _fit(folder, "sequential.h5", "--sequential")
    np.testing.assert_array_equal(batched.train["best_epoch"], sequential.train["best_epoch"])
    np.testing.assert_allclose(batched.replicas["test_score"], sequential.replicas["test_score"], atol=1e-5)
    np.testing.assert_allclose(batched.replicas["auc"], sequential.replicas["auc"], atol=1e-4)


def _check(run_cli, folder: Path, **card) -> tuple[int, str]:
    code, out, err = run_cli("check", write_card(folder, **card))
    return code, err


@pytest.mark.parametrize("card, code, message", [
    ({"architecture": "pfm"}, 2, "card.yaml:15:17: model.architecture: must be one of: dense, cnn, efn, pfn"),
    ({"options": "{phi_size: [8]}"}, 2, "model.options.phi_size: unknown option of pfn (valid: phi_sizes, f_sizes"),
    ({"options": "{phi_sizes: 8}"}, 2, "model.options.phi_sizes: must be a list (the default is [100, 100, 256])"),
    ({"architecture": "part", "options": "{embed_dims: [10], heads: 4}"}, 2,
     "model.options: part cannot be built with these options (ValueError: ParT: the embedding width 10"),
    ({"data": "  files: [missing.h5]"}, 2, "card.yaml:12:11: data.files[0]: no such file: "),
    ({"data": "  files: [jets.h5]\n  generate: {jets_per_class: 10}"}, 2,
     "data: give exactly one of 'files' (a list of jet files) and 'generate'"),
    ({"data": "  files: [other.h5]"}, 4, "other.h5: neither an mlhep jet file"),
    ({"data": "  files: [card.yaml]"}, 4, "card.yaml: cannot open as HDF5"),
])
def test_bad_runcards_and_files_are_named(card, code, message, folder, run_cli):
    with h5py.File(folder / "other.h5", "w") as f:
        f["x"] = np.zeros(3)
    got, err = _check(run_cli, folder, **card)
    assert got == code and message in err, err


def test_too_few_jets_of_a_class_are_refused(folder, tmp_path, run_cli):
    """Two jets of each class cannot fill training, validation and test: the error names the data section. The
    first 2 jets of the file are both QCD: refused as data (exit 4), naming the file."""
    from mlhep.tasks.jets.h5io import JET_DATASETS, JetFileWriter
    with h5py.File(folder / "jets.h5") as f, JetFileWriter(tmp_path / "jets.h5", {}, 24) as writer:
        writer.append({k: np.concatenate([f[k][:2], f[k][300:302]]) for k in JET_DATASETS})
    code, _, err = run_cli("fit", write_card(tmp_path), "-o", tmp_path / "fit.h5", "-q")
    assert code == 2 and "card.yaml:11:1: data: 2 QCD jets are too few for a split" in err, err
    code, _, err = run_cli("fit", write_card(folder, data=FILES + "\n  max_jets_per_file: 2"), "-o",
                           tmp_path / "fit.h5", "-q")
    assert code == 4 and "jets.h5: 0 top and 2 QCD jets; a tagger needs both" in err, err


def test_the_results_file_keeps_the_batch_norm_statistics_with_the_parameters(batched):
    """The PFN's input batch norm keeps running statistics (model state): the results file stores them per
    replica beside the parameters (``/replicas/model_state/...``), so the tagger can be applied from the file.
    Each replica saw its own bootstrap of the jets, so their statistics differ."""
    state = batched.model_state
    assert state, "no model_state arrays in the results file"
    for name, value in state.items():
        assert value.shape[0] == 2 and np.all(np.isfinite(value)), name
    assert any(not np.allclose(value[0], value[1]) for value in state.values())
