"""Train EELSfitter 3.1's ZLP models on given spectra and write their predictions: the reference side of
``scripts/bench_eels.py``. Runs in EELSfitter's own environment (PyTorch), never in mlhep's:

    <eelsfitter-venv>/bin/python scripts/eelsfitter_reference.py input.npz output.npz

input.npz: ``eaxis`` (n_E,) eV; ``spectra_<k>`` (n_members_k, n_E) counts for clusters k = 0..K-1;
``centroids`` (K,); scalars ``n_replica``, ``n_epochs``, ``lr``, ``penalty``, ``seed``.
output.npz: ``log_zlp`` (n_replica, K, n_E), the models' ln I_ZLP on the energy axis at each cluster's median
ln N (EELSfitter's own input scaling); ``de1``, ``de2`` (K,); ``train_seconds`` (training only, EELSfitter's
replica loop); ``loss_train``, ``loss_test`` (n_replica,) final losses.
"""
from __future__ import annotations

import random
import sys
import tempfile
import time

import numpy as np
import torch
from EELSFitter.core.training import MultilayerPerceptron, TrainZeroLossPeak, scale


def main(source: str, target: str) -> None:
    given = np.load(source)
    n_clusters = len(given["centroids"])
    spectra = [given[f"spectra_{k}"] for k in range(n_clusters)]
    seed = int(given["seed"])
    random.seed(seed)   # EELSfitter draws each replica's member spectra with `random`, the split with numpy
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(1)   # one replica at a time on one core: how EELSfitter runs (the comparison is per core)
    with tempfile.TemporaryDirectory() as models:
        trainer = TrainZeroLossPeak(spectra, given["eaxis"], cluster_centroids=given["centroids"],
                                    n_replica=int(given["n_replica"]), n_epochs=int(given["n_epochs"]),
                                    regularisation_constant=float(given["penalty"]), display_step=None,
                                    training_report_step=0, path_to_models=models + "/",
                                    remove_temp_files=True)   # its models end up merged in one file
        start = time.perf_counter()
        trainer.train_zlp_models_scaled(lr=float(given["lr"]))
        seconds = time.perf_counter() - start
        replicas = torch.load(f"{models}/nn_replicas")
        log_zlp = np.empty((int(given["n_replica"]), n_clusters, len(given["eaxis"])))
        for k, members in enumerate(spectra):
            peak = np.argmax(members, axis=1)
            log_n = np.median([np.log(np.sum(s[p - 1:p + 2])) for s, p in zip(members, peak)])
            x = np.stack([trainer.eaxis_scaled, np.full(len(given["eaxis"]),
                                                        scale(log_n, trainer.scale_var_log_int_i))], axis=1)
            for r in range(int(given["n_replica"])):
                model = MultilayerPerceptron(num_inputs=2, num_outputs=1)
                model.load_state_dict(replicas[f"model_{r + 1}"])
                with torch.no_grad():
                    log_zlp[r, k] = model(torch.from_numpy(x).float()).numpy()[:, 0]
    np.savez(target, log_zlp=log_zlp, de1=trainer.de1, de2=trainer.de2, train_seconds=seconds,
             loss_train=trainer.loss_train_reps, loss_test=trainer.loss_test_reps)


if __name__ == "__main__":
    main(*sys.argv[1:3])
