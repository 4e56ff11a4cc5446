"""Train EELSfitter 3.1's ZLP models on given spectra and write their predictions: the reference side of
``scripts/bench_eelsfitter.py``. Runs in EELSfitter's own environment (PyTorch), never in mlhep's:

    <eelsfitter-venv>/bin/python scripts/eelsfitter_reference.py input.npz output.npz

input.npz: ``eaxis`` (n_E,) eV; ``spectra_<k>`` (n_members_k, n_E) counts for clusters k = 0..K-1;
``centroids`` (K,); scalars ``n_replica``, ``n_epochs``, ``lr``, ``penalty``, ``seed``. Optional:
``analyse`` (S, n_E) spectra to subtract and fit a bandgap to, with ``window`` [E_min, E_max] eV,
``bandgap_range`` [low, high] eV and ``exponent_range`` [b_min, b_max]; ``network`` (a string) to train
mlhep's network instead of EELSfitter's (``mlhep_network`` below).
output.npz: ``log_zlp`` (n_replica, K, n_E), the models' ln I_ZLP on the energy axis at each cluster's median
ln N (EELSfitter's own input scaling); ``de1``, ``de2`` (K,); ``train_seconds`` (training only, EELSfitter's
replica loop); ``loss_train``, ``loss_test`` (n_replica,) final losses. With ``analyse``: ``analysed_log_zlp``
and ``inelastic`` (n_replica, S, n_E), the ZLP at each spectrum's own ln N and the spectrum minus that ZLP matched
by EELSfitter's ``SpectralImage.match_zlp_to_signal`` (using the first cluster's dE1, dE2); ``curve_fit_bandgap``,
``curve_fit_exponent`` (n_replica, S), A (E - E_bg)^b fitted to each by scipy's ``curve_fit``.

mlhep's network inside EELSfitter (``network = "act1,act2,act3;energy;intensity;standardise"``, e.g.
``"tanh,tanh,tanh;de1;0;1"``): EELSfitter's TrainZeroLossPeak runs unchanged (its dE1/dE2 search, sigma, replica
draw with ``random``, 25% ``train_test_split``, full-batch Adam for n_epochs, the FINAL parameters kept), with
three of its pieces replaced by monkeypatching, so that it trains exactly the function mlhep's eels-fit trains
(``mlhep.tasks.eels.trainable.ZLPTrainable``):
- ``MultilayerPerceptron.forward``: the same 2-10-15-5-1 layers (PyTorch's initialisation, as before) with the
  given activations, and the output standardised as mlhep's ``ZLPTrainable.apply``: xi = mean + std * NN, mean
  and std of the fitted targets (ln of the cluster median in region I, zeros in region III);
- ``scale_eaxis``: energy input E / max(dE1) when ``energy`` is "de1" (mlhep's default), E / that many eV when a
  number, EELSfitter's [0.1, 0.9] map when "minmax";
- ``calc_scale_var_log_int_i``: with ``intensity`` 0 the second input is the constant 0.5 (mlhep's
  ``intensity_input: false``), else EELSfitter's scaled ln N.
"""
from __future__ import annotations

import random
import sys
import tempfile
import time
import types

import numpy as np
import torch
from EELSFitter.core import training
from EELSFitter.core.spectral_image import SpectralImage
from EELSFitter.core.training import MultilayerPerceptron, TrainZeroLossPeak, scale
from scipy.optimize import curve_fit

ACTIVATIONS = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": torch.relu}
_OUTPUT = [0.0, 1.0]          # mlhep's output standardisation (mean, std), set once dE1/dE2 are known


def mlhep_network(spec: str) -> None:
    """Monkeypatch EELSfitter's network, energy scaling and intensity input (module docstring)."""
    names, energy, intensity, standardise = spec.split(";")
    acts = [ACTIVATIONS[a] for a in names.split(",")]
    if len(acts) != 3:
        raise SystemExit(f"network {spec!r}: EELSfitter's perceptron has 3 hidden layers, give 3 activations")

    def forward(self, x):
        x = acts[0](self.linear1(x))
        x = acts[1](self.linear2(x))
        x = acts[2](self.linear3(x))
        return _OUTPUT[0] + _OUTPUT[1] * self.output(x)

    original_scale_eaxis = TrainZeroLossPeak.scale_eaxis

    def scale_eaxis(self):
        # called by train_zlp_models_scaled right after dE1, dE2 are found
        if energy == "minmax":
            original_scale_eaxis(self)
        else:
            unit = float(np.max(self.de1)) if energy == "de1" else float(energy)
            self.eaxis_scaled = self.eaxis / unit
        if standardise == "1":
            targets = np.concatenate([np.concatenate([self.y_log_median[k][self.eaxis < self.de1[k]],
                                                      np.zeros(np.count_nonzero(self.eaxis > self.de2[k]))])
                                      for k in range(self.n_clusters)])
            _OUTPUT[:] = [float(np.mean(targets)), float(max(np.std(targets), 1e-3))]

    original_intensity = TrainZeroLossPeak.calc_scale_var_log_int_i

    def calc_scale_var_log_int_i(self, based_on="log_zlp"):
        if intensity == "0":
            self.scale_var_log_int_i = [0.0, 0.5]
        else:
            original_intensity(self, based_on)

    MultilayerPerceptron.forward = forward
    TrainZeroLossPeak.scale_eaxis = scale_eaxis
    TrainZeroLossPeak.calc_scale_var_log_int_i = calc_scale_var_log_int_i
    assert training.MultilayerPerceptron is MultilayerPerceptron


def _onset(x, amplitude, bandgap, exponent):
    return amplitude * np.clip(x - bandgap, 0.0, None) ** exponent


def curve_fit_onset(energy, inelastic, window, bandgap_range, exponent_range) -> tuple[float, float]:
    """(E_bg, b) of A (E - E_bg)^b fitted unweighted to ``inelastic`` in ``window`` by scipy's curve_fit (the fit of
    Roest et al. 2021; EELSfitter 3.1 ships none), bounded, best of a few starting points."""
    inside = (energy >= window[0]) & (energy <= window[1])
    e, y = energy[inside], inelastic[inside]
    best, best_cost = (np.nan, np.nan), np.inf
    for g0 in np.linspace(bandgap_range[0], bandgap_range[1], 6)[1:-1]:
        for b0 in (0.5, 1.0, 1.5):
            a0 = max(float(np.max(y)), 1e-9) / max(window[1] - g0, 1e-3) ** b0
            try:
                p, _ = curve_fit(_onset, e, y, p0=[a0, g0, b0], maxfev=5000,
                                 bounds=([0.0, bandgap_range[0], exponent_range[0]],
                                         [np.inf, bandgap_range[1], exponent_range[1]]))
            except RuntimeError:
                continue
            cost = float(np.sum((_onset(e, *p) - y) ** 2))
            if cost < best_cost:
                best, best_cost = (float(p[1]), float(p[2])), cost
    return best


def main(source: str, target: str) -> None:
    given = np.load(source)
    if "network" in given:
        mlhep_network(str(given["network"]))
    n_clusters = len(given["centroids"])
    spectra = [given[f"spectra_{k}"] for k in range(n_clusters)]
    seed = int(given["seed"])
    random.seed(seed)   # EELSfitter draws each replica's member spectra with `random`, the split with numpy
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(1)   # one replica at a time on one core: how EELSfitter runs (the comparison is per core)
    n_replica = int(given["n_replica"])
    with tempfile.TemporaryDirectory() as models:
        trainer = TrainZeroLossPeak(spectra, given["eaxis"], cluster_centroids=given["centroids"],
                                    n_replica=n_replica, n_epochs=int(given["n_epochs"]),
                                    regularisation_constant=float(given["penalty"]), display_step=None,
                                    training_report_step=0, path_to_models=models + "/",
                                    remove_temp_files=True)   # its models end up merged in one file
        start = time.perf_counter()
        trainer.train_zlp_models_scaled(lr=float(given["lr"]))
        seconds = time.perf_counter() - start
        replicas = torch.load(f"{models}/nn_replicas")
        nets = []
        for r in range(n_replica):
            model = MultilayerPerceptron(num_inputs=2, num_outputs=1)
            model.load_state_dict(replicas[f"model_{r + 1}"])
            nets.append(model)

    def predict(log_n: float) -> np.ndarray:
        """(n_replica, n_E) ln I_ZLP at ln N = log_n, EELSfitter's input scaling."""
        x = np.stack([trainer.eaxis_scaled, np.full(len(given["eaxis"]), scale(log_n, trainer.scale_var_log_int_i))],
                     axis=1)
        with torch.no_grad():
            return np.stack([m(torch.from_numpy(x).float()).numpy()[:, 0] for m in nets])

    def log_n_of(s: np.ndarray) -> float:
        p = int(np.argmax(s))
        return float(np.log(np.sum(s[p - 1:p + 2])))

    log_zlp = np.empty((n_replica, n_clusters, len(given["eaxis"])))
    for k, members in enumerate(spectra):
        log_zlp[:, k] = predict(float(np.median([log_n_of(s) for s in members])))
    out = dict(log_zlp=log_zlp, de1=trainer.de1, de2=trainer.de2, train_seconds=seconds,
               loss_train=trainer.loss_train_reps, loss_test=trainer.loss_test_reps)
    if "analyse" in given:
        eaxis = np.asarray(given["eaxis"], dtype=np.float64)
        shim = types.SimpleNamespace(eaxis=eaxis)           # match_zlp_to_signal reads only self.eaxis
        analyse = np.asarray(given["analyse"], dtype=np.float64)
        zlps = np.stack([predict(log_n_of(s)) for s in analyse], axis=1)          # (R, S, n)
        inelastic = np.empty_like(zlps)
        fits = np.full(zlps.shape[:2] + (2,), np.nan)
        for r in range(n_replica):
            for s, signal in enumerate(analyse):
                matched = SpectralImage.match_zlp_to_signal(shim, signal, np.exp(zlps[r, s]), trainer.de1[0],
                                                            trainer.de2[0])
                inelastic[r, s] = signal - matched
                fits[r, s] = curve_fit_onset(eaxis, inelastic[r, s], given["window"], given["bandgap_range"],
                                             given["exponent_range"])
        out |= dict(analysed_log_zlp=zlps, inelastic=inelastic, curve_fit_bandgap=fits[..., 0],
                    curve_fit_exponent=fits[..., 1])
    np.savez(target, **out)


if __name__ == "__main__":
    main(*sys.argv[1:3])
