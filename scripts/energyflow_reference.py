"""Train energyflow's own Particle Flow Network on given jets and score the test jets: the reference side of the
PFN comparison in ``scripts/bench_jets.py``. Runs in EnergyFlow's environment (Keras 3 + TensorFlow), never in
mlhep's:

    <energyflow-venv>/bin/python scripts/energyflow_reference.py input.npz output.npz

input.npz: ``x_train`` (N, P, F), ``x_valid``, ``x_test`` float32 per-constituent features, zero for padded
slots (energyflow's PFN masks a slot whose features are all 0); ``y_train``, ``y_valid`` (N,) 0/1 (1 = top);
scalars ``epochs``, ``batch``, ``lr``, ``seed``, and the sizes ``phi_sizes``, ``f_sizes`` (1-D int arrays).
output.npz: ``test_score`` (N_test,) P(top); ``epoch_seconds`` (epochs,) wall time of each epoch (training +
validation, Keras's fit); ``history_train``, ``history_valid`` (epochs,) losses; ``best_epoch``; ``versions``.

The features are standardised here with the training jets' mean and standard deviation over real constituents
(padding stays 0), as energyflow's examples prepare inputs; mlhep's PFN does the same inside the network with a
masked batch norm of its inputs. The kept model is the one of the epoch with the lowest validation loss (what
mlhep's engine keeps).

EnergyFlow 1.4.0 imports ``tf_keras`` (Keras 2) and, at the top level, the compiled ``wasserstein`` extension
(the EMD, unused here). With Keras 3 only and a ``wasserstein`` built against numpy 1, both imports are stood in
for: ``tf_keras`` by Keras 3's own modules (the PFN uses Dense, TimeDistributed, Lambda, Dot, which Keras 3 has),
``wasserstein`` by an empty module. The network built is energyflow's ``PFN`` unchanged.
"""
from __future__ import annotations

import sys
import time
import types


def _keras3_as_tf_keras() -> None:
    """Register Keras 3 under the module names energyflow.archs imports (tf_keras.*)."""
    import keras
    from keras import ops

    backend = types.ModuleType("tf_keras.backend")
    backend.cast, backend.not_equal, backend.any = ops.cast, ops.not_equal, ops.any
    backend.dtype = lambda x: keras.backend.standardize_dtype(x.dtype)
    layers = types.ModuleType("tf_keras.layers")
    for name in dir(keras.layers):
        setattr(layers, name, getattr(keras.layers, name))
    layers.ThresholdedReLU = None      # gone in Keras 3; only in energyflow's table of optional activations
    package = types.ModuleType("tf_keras")
    package.backend, package.layers = backend, layers
    sys.modules.update({"tf_keras": package, "tf_keras.backend": backend, "tf_keras.layers": layers,
                        "tf_keras.models": keras.models, "tf_keras.regularizers": keras.regularizers,
                        "tf_keras.callbacks": keras.callbacks})


def main(source: str, target: str) -> None:
    sys.modules.setdefault("wasserstein", types.ModuleType("wasserstein"))
    _keras3_as_tf_keras()
    import keras
    import numpy as np
    import tensorflow as tf

    import energyflow
    from energyflow.archs import PFN

    given = np.load(source)
    seed = int(given["seed"])
    keras.utils.set_random_seed(seed)
    x = {part: given[f"x_{part}"] for part in ("train", "valid", "test")}
    real = np.any(x["train"] != 0, axis=-1)
    mean, std = x["train"][real].mean(axis=0), x["train"][real].std(axis=0)
    std = np.where(std > 0, std, 1.0)
    for part, a in x.items():
        mask = np.any(a != 0, axis=-1, keepdims=True)
        x[part] = np.where(mask, (a - mean) / std, 0.0).astype(np.float32)
        x[part][mask[..., 0] & ~np.any(x[part] != 0, axis=-1)] = 1e-6   # keep a real slot real (all-zero: masked)
    y_train = keras.utils.to_categorical(given["y_train"], 2)
    y_valid = keras.utils.to_categorical(given["y_valid"], 2)

    model = PFN(input_dim=x["train"].shape[-1], Phi_sizes=tuple(int(s) for s in given["phi_sizes"]),
                F_sizes=tuple(int(s) for s in given["f_sizes"]), summary=False,
                optimizer=keras.optimizers.Adam(learning_rate=float(given["lr"])))

    class Keep(keras.callbacks.Callback):
        """Epoch wall times, and the weights of the best validation loss."""

        def __init__(self):
            super().__init__()
            self.seconds, self.best, self.best_epoch, self.weights = [], np.inf, -1, None

        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self.start)
            if logs["val_loss"] < self.best:
                self.best, self.best_epoch, self.weights = logs["val_loss"], epoch, self.model.get_weights()

    keep = Keep()
    history = model.fit(x["train"], y_train, epochs=int(given["epochs"]), batch_size=int(given["batch"]),
                        validation_data=(x["valid"], y_valid), callbacks=[keep], verbose=0, shuffle=True)
    model.model.set_weights(keep.weights)
    score = model.predict(x["test"], batch_size=4096, verbose=0)[:, 1]
    versions = f"energyflow {energyflow.__version__}, keras {keras.__version__}, tensorflow {tf.__version__}"
    np.savez(target, test_score=score.astype(np.float32), epoch_seconds=np.array(keep.seconds),
             history_train=np.array(history.history["loss"]), history_valid=np.array(history.history["val_loss"]),
             best_epoch=keep.best_epoch, versions=versions,
             n_parameters=int(model.model.count_params()))


if __name__ == "__main__":
    main(*sys.argv[1:3])
