"""Definition of the generated dijet sample, after the LHC Olympics 2020 R&D set, as Pythia 8 settings.

The R&D set (Kasieczka et al., Rep. Prog. Phys. 84 (2021) 124201, arXiv:2101.08320, section 2): 13 TeV pp,
Pythia 8 + Delphes 3.4.1, QCD dijets as background and W' (3.5 TeV) -> X (500 GeV) Y (100 GeV), X, Y -> qq as
signal; events with at least one anti-kT R = 1.0 jet of pT > 1.2 TeV and |eta| < 2.5; features from the two
leading jets. Here (``DijetSample``):

- the detector is mlhep's parametrised one (``mlhep/tasks/jets/detector.py``, Delphes-ATLAS-like), not Delphes;
- multi-parton interactions are off by default (``mpi``), as we read the R&D description (no pile-up, no MPI);
- QCD: ``HardQCD:all`` with pT-hat > ``pthat_min`` = 1.1 TeV, a cut that saves the events far below the
  1.2 TeV jet threshold. It biases the sample where the recoil against initial-state radiation lifts a jet from
  pT-hat < 1.1 TeV above 1.2 TeV; ``scripts/generate_lhco.py`` measures that fraction (module doc there).
  Optionally (``pthat_bias_pow`` > 0) Pythia's ``PhaseSpace:bias2Selection`` samples pT-hat with an extra
  (pT-hat / pthat_min)^pow and returns the compensating event weight, which is stored (honest: the weighted
  sample is unbiased; off by default, so that the events are unweighted pseudo-data);
- signal: ``NewGaugeBoson:ffbar2Wprime`` (f fbar' -> W'+-, SM-like couplings) with m = 3.5 TeV and its width
  forced to ``w_width`` = 35 GeV (1%; ``34:doForceWidth``) inside [3, 4] TeV, all its decays replaced by one
  channel W'+ -> X Y+ (user-defined resonances: X neutral, id 9000001, -> d dbar, u ubar, s sbar, c cbar,
  b bbar with equal rates; Y+ charged, id 9000002, -> u dbar, c sbar; both spin 0, width 10 MeV, prompt), so
  charge is conserved and every W' gives two hadronic resonances, as in the R&D signal (their quark flavours
  are not documented there).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

PROCESSES = ("qcd", "wprime")
PROCESS_CODES = {"qcd": 0, "wprime": 1}     # also the truth label written to the files
X_ID, Y_ID = 9000001, 9000002
X_QUARKS = ((1, -1), (2, -2), (3, -3), (4, -4), (5, -5))
Y_QUARKS = ((2, -1), (4, -3))               # Y+ -> u dbar, c sbar (charge +1)


@dataclass(frozen=True)
class DijetSample:
    """Physics choices of a dijet sample (module docstring); every field is written to the output file."""

    ecm: float = 13000.0                    # GeV
    pthat_min: float = 1100.0               # GeV, QCD only
    pthat_max: float = -1.0                 # GeV; -1: no upper limit
    pthat_bias_pow: float = 0.0             # QCD only; > 0: weighted events, (pT-hat / pthat_min)^pow bias
    mpi: bool = False
    jet_r: float = 1.0                      # anti-kT radius
    leading_pt_min: float = 1200.0          # GeV, the leading jet
    leading_abs_eta_max: float = 2.5
    jet_pt_min: float = 20.0                # GeV, jets considered at all (the second jet must pass it)
    n_constituents: int = 500               # hardest constituents per jet kept for N-subjettiness
    w_mass: float = 3500.0                  # GeV
    w_width: float = 35.0
    w_mass_min: float = 3000.0
    w_mass_max: float = 4000.0
    x_mass: float = 500.0
    y_mass: float = 100.0
    xy_width: float = 0.01

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _resonance(pid: int, name: str, anti: str, charge3: int, mass: float, width: float, decays) -> list[str]:
    """``id:all`` (name antiName spinType chargeType colType m0 mWidth mMin mMax tau0) and its channels
    (onMode bRatio meMode products; meMode 100: the branching ratios as given)."""
    lines = [f"{pid}:all = {name} {anti} 1 {charge3} 0 {mass} {width} {mass - 100 * width} {mass + 100 * width} 0."]
    lines += [f"{pid}:addChannel = 1 {1 / len(decays):.6f} 100 {a} {b}" for a, b in decays]
    return lines


def hard_process(process: str, sample: DijetSample) -> list[str]:
    """The process-specific settings of ``process`` ('qcd' or 'wprime')."""
    if process == "qcd":
        lines = ["HardQCD:all = on", f"PhaseSpace:pTHatMin = {sample.pthat_min}",
                 f"PhaseSpace:pTHatMax = {sample.pthat_max}"]
        if sample.pthat_bias_pow > 0:
            lines += ["PhaseSpace:bias2Selection = on", f"PhaseSpace:bias2SelectionPow = {sample.pthat_bias_pow}",
                      f"PhaseSpace:bias2SelectionRef = {sample.pthat_min}"]
        return lines
    if process == "wprime":
        return ["NewGaugeBoson:ffbar2Wprime = on", f"34:m0 = {sample.w_mass}", "34:doForceWidth = on",
                f"34:mWidth = {sample.w_width}", f"34:mMin = {sample.w_mass_min}", f"34:mMax = {sample.w_mass_max}",
                "34:onMode = off", f"34:addChannel = 1 1.0 100 {X_ID} {Y_ID}",
                *_resonance(X_ID, "X", "void", 0, sample.x_mass, sample.xy_width, X_QUARKS),
                *_resonance(Y_ID, "Y+", "Y-", 3, sample.y_mass, sample.xy_width, Y_QUARKS)]
    raise ValueError(f"unknown process {process!r} (valid: {', '.join(PROCESSES)})")


def pythia_settings(process: str, sample: DijetSample, seed: int) -> list[str]:
    """The ``readString`` lines of one Pythia instance of ``process`` with random seed ``seed`` (1 <= seed <=
    900000000). The default tune is left untouched."""
    if not 1 <= seed <= 900_000_000:
        raise ValueError(f"Pythia seed {seed} outside [1, 900000000]")
    return ["Print:quiet = on", f"Beams:eCM = {sample.ecm}", *hard_process(process, sample),
            f"PartonLevel:MPI = {'on' if sample.mpi else 'off'}", "Random:setSeed = on", f"Random:seed = {seed}"]
