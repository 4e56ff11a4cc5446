"""Definition of the generated sample: the top-tagging reference sample's recipe, as Pythia 8 settings.

The reference (Kasieczka, Plehn et al., "The Machine Learning Landscape of Top Taggers", SciPost Phys. 7 (2019)
014, arXiv:1902.09914; sample of Butter et al., arXiv:1707.08966): 14 TeV pp, Pythia 8 with its default tune, no
multi-parton interactions and no pile-up; signal hadronic tt-bar, background QCD dijets; anti-kT R = 0.8 jets;
only the leading jet of an event, with pT in [550, 650] GeV and |eta| < 2; a top jet is kept only if the
hadronic top and all three of its decay quarks lie within Delta R = 0.8 of the jet axis; the 200 leading
constituents (E, px, py, pz), pT-ordered and zero-padded, with the truth label and the top four-momentum.

Here both W bosons are forced to decay to quarks (``24:onIfAny = 1 2 3 4 5``), so every top is hadronic, and the
hard 2 -> 2 process is generated above a minimum pT-hat (``pthat_min``, default 400 GeV) to save time. That
cut biases the sample: initial-state radiation lifts jets from lower pT-hat into the [550, 650] GeV window.
Measured here (detector on, leading jets in the window, generated with pthat_min = 300 GeV, ~700 top and ~860 QCD
jets): 10% of the top jets and 12% of the QCD jets come from pT-hat < 400 GeV, 30% and 39% from pT-hat < 500
GeV, 3.8% and 3.2% from pT-hat < 350 GeV; so the default leaves out about a tenth of the jets of an unbiased
sample (those with hard ISR), and pthat_min = 500 about a third. The rate falls as pthat_min falls (jets/s per
core in the window, this machine: top 66 / QCD 82 at 500 GeV, 27 / 43 at 400 GeV, 12 / 14 at 300 GeV).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

PROCESSES = ("top", "qcd")
PROCESS_CODES = {"top": 1, "qcd": 0}     # also the truth label written to the files

_HARD_PROCESS = {
    "top": ("Top:gg2ttbar = on", "Top:qqbar2ttbar = on", "24:onMode = off", "24:onIfAny = 1 2 3 4 5"),
    "qcd": ("HardQCD:all = on",),
}


@dataclass(frozen=True)
class SampleDefinition:
    """Physics choices of a sample; every field is written to the output file's attributes."""

    ecm: float = 14000.0              # GeV
    pthat_min: float = 400.0          # GeV; minimum pT of the 2 -> 2 hard process (bias: module doc)
    pthat_max: float = -1.0           # GeV; -1: no upper limit
    mpi: bool = False                 # multi-parton interactions (off in the reference sample)
    jet_r: float = 0.8                # anti-kT radius
    jet_pt_min: float = 550.0         # GeV, jet window
    jet_pt_max: float = 650.0
    jet_abs_eta_max: float = 2.0
    top_match_r: float = 0.8          # top and its three decay quarks within this Delta R (eta, phi) of the jet
    leading_only: bool = True         # only the leading jet of an event (the reference); False: every jet
    n_constituents: int = 200

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def pythia_settings(process: str, sample: SampleDefinition, seed: int) -> list[str]:
    """The ``readString`` lines for one Pythia instance of ``process`` ('top' or 'qcd') with random seed ``seed``
    (1 <= seed <= 900000000, Pythia's range). The default tune is left untouched."""
    if process not in _HARD_PROCESS:
        raise ValueError(f"unknown process {process!r} (valid: {', '.join(PROCESSES)})")
    if not 1 <= seed <= 900_000_000:
        raise ValueError(f"Pythia seed {seed} outside [1, 900000000]")
    return [
        "Print:quiet = on",
        f"Beams:eCM = {sample.ecm}",
        *_HARD_PROCESS[process],
        f"PhaseSpace:pTHatMin = {sample.pthat_min}",
        f"PhaseSpace:pTHatMax = {sample.pthat_max}",
        f"PartonLevel:MPI = {'on' if sample.mpi else 'off'}",
        "Random:setSeed = on",
        f"Random:seed = {seed}",
    ]
