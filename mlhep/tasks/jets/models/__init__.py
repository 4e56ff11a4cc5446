"""The jet-tag networks (flax.linen), one module per architecture, chosen by name from ``MODELS``.

Input convention. Every model is a ``flax.linen.Module`` called as ``model(batch, training)`` and returns logits
(B,) (top = 1); ``batch`` is a dict of which each model reads only the keys in its ``inputs`` class attribute:

=============  ==============  ===============================================================================
key            shape           content
=============  ==============  ===============================================================================
"particles"    (B, P, F)       per-constituent features (e.g. delta eta, delta phi, ln pT, ln E, ln pT/pT_jet,
                               ln E/E_jet, delta R; F is whatever the data give)
"p4"           (B, P, 4)       constituent four-momenta (E, px, py, pz) in GeV (LoLa, EFN's pT, ParT's pairs)
"mask"         (B, P) bool     True for real constituents, False for zero padding
"points"       (B, P, 2)       (delta eta, delta phi) to the jet axis: EFN's angles, ParticleNet's first kNN
"features"     (B, H)          high-level features (mass, tau21, tau32, multiplicity...) for the dense network
"image"        (B, H, W, C)    jet image for the CNN
=============  ==============  ===============================================================================

Rules every model keeps: padded particles never influence the output (inputs are zeroed where ``mask`` is False
before anything else; sums, means, kNN, attention and batch-norm statistics run over real particles only);
static shapes and no Python loop over particles (jit and vmap over replicas); float32 parameters and arithmetic
for float32 inputs. Batch norm keeps running averages in the ``batch_stats`` collection and dropout draws from the
``dropout`` RNG stream: ``adapter.Network`` maps both onto the engine's ``(params, model_state, key, training)``.

A builder is the module class: ``MODELS[name](**options)`` with the options of its fields (sizes default near
the published networks, scaled down where those are too large for a laptop CPU).
"""
from __future__ import annotations

import dataclasses
from typing import Any

from mlhep.tasks.jets.models.adapter import Network
from mlhep.tasks.jets.models.cnn import JetCNN
from mlhep.tasks.jets.models.deepsets import EFN, PFN
from mlhep.tasks.jets.models.dense import DenseNet
from mlhep.tasks.jets.models.lola import LoLaNet
from mlhep.tasks.jets.models.part import ParticleTransformer
from mlhep.tasks.jets.models.particlenet import ParticleNet
from mlhep.tasks.jets.models.rnn import JetRNN

MODELS = {
    "dense": DenseNet,
    "cnn": JetCNN,
    "efn": EFN,
    "pfn": PFN,
    "particlenet": ParticleNet,
    "part": ParticleTransformer,
    "lola": LoLaNet,
    "rnn": JetRNN,
}


def options(name: str) -> dict[str, Any]:
    """The options of model ``name`` and their defaults."""
    if name not in MODELS:
        raise ValueError(f"unknown jet model {name!r} (valid: {', '.join(MODELS)})")
    return {f.name: f.default for f in dataclasses.fields(MODELS[name]) if f.name not in ("parent", "name")}


def build(name: str, **settings) -> Network:
    """The model ``name`` with ``settings`` (a subset of its ``options``), as a ``Network`` (init / apply)."""
    unknown = sorted(set(settings) - set(options(name)))
    if unknown:
        raise ValueError(f"unknown option(s) {', '.join(unknown)} of jet model {name!r} "
                         f"(valid: {', '.join(options(name))})")
    return Network(MODELS[name](**settings))


__all__ = ["MODELS", "Network", "build", "options"]
