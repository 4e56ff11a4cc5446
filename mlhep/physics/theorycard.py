"""The QCD theory settings of the pdf-fit FK tables and of the PDF evolution.

The card uses the keys of the NNPDF theory database (``nnpdf_data/theory_cards/*.yaml``), which yadism reads
directly; :func:`mlhep.physics.evolution.eko_theory` turns it into an eko card. Values follow NNPDF4.0
(theory 708 and siblings, arXiv:2109.02653 sec. 3) except where stated:

- alpha_s(M_Z = 91.2 GeV) = 0.118 (5 flavours), pole masses m_c = 1.51, m_b = 4.92, m_t = 172.5 GeV with matching
  at the masses (k_Thr = 1), at most 5 active flavours in PDFs and alpha_s (MaxNfPdf = MaxNfAs = 5: no top PDF);
- the PDF is parametrised at Q0 = 1.65 GeV in the **3-flavour scheme with perturbative charm** (``nf0 = 3``,
  IC = 0): NNPDF4.0 fits charm, we do not. eko evolves the nf=3 PDF backwards from Q0 to m_c, matches to nf=4
  (charm generated perturbatively) and then evolves upwards; so the fitted basis has 7 combinations;
- truncated solution of DGLAP (ModEv = TRN) as NNPDF4.0;
- heavy-flavour scheme of the DIS coefficient functions: **ZM-VFNS** at every order (NNPDF4.0: FONLL-C).
  yadism 0.13 computes FONLL only as separate pieces (FFNS nf=3 massive, its massless limit, ZM nf=4) that
  pineko combines with PDFs of different nf; that combination is not implemented here. At the NNPDF cuts
  (Q^2 >= 3.49 GeV^2) ZM-VFNS differs from FONLL mainly near the charm threshold at small x (a few percent
  in F2 at HERA's lowest Q^2);
- target-mass corrections as NNPDF4.0 (TMC = 1, the approximate Georgi-Politzer form in yadism): they stay
  linear in the PDF, so the FK tables absorb them; they matter for the large-x, low-Q^2 fixed-target points.
"""
from __future__ import annotations

ORDERS = {"LO": 0, "NLO": 1, "NNLO": 2}

_BASE = {
    "DAMP": 0, "IC": 0, "ModEv": "TRN", "XIR": 1.0, "XIF": 1.0, "NfFF": 3, "MaxNfAs": 5, "MaxNfPdf": 5,
    "Q0": 1.65, "nf0": 3, "alphas": 0.118, "Qref": 91.2, "nfref": 5, "QED": 0, "alphaqed": 0.007496252,
    "Qedref": 1.777, "SxRes": 0, "SxOrd": "LL", "HQ": "POLE",
    "mc": 1.51, "Qmc": 1.51, "kcThr": 1.0, "mb": 4.92, "Qmb": 4.92, "kbThr": 1.0,
    "mt": 172.5, "Qmt": 172.5, "ktThr": 1.0,
    "CKM": [0.97428, 0.2253, 0.00347, 0.2252, 0.97345, 0.041, 0.00862, 0.0403, 0.999152],
    "MZ": 91.1876, "MW": 80.398, "GF": 1.1663787e-05, "SIN2TW": 0.23126, "TMC": 1, "MP": 0.938,
    "EScaleVar": 1,
}


def theory_card(order: str = "NLO") -> dict:
    """The mlhep NNPDF4.0-like perturbative-charm theory card at perturbative ``order`` (LO, NLO, NNLO)."""
    if order not in ORDERS:
        raise ValueError(f"unknown perturbative order '{order}' (valid: {', '.join(ORDERS)})")
    card = dict(_BASE)
    card["PTO"] = ORDERS[order]
    card["FNS"] = "ZM-VFNS"
    card["ID"] = f"mlhep-nnpdf40pch-{order}"
    # The comment names the module's former home: it is part of the card, so of card_hash, which names the
    # FK tables and eko operators of the theory bundle; changing it would orphan every bundled file.
    card["Comments"] = f"{order} perturbative-charm NNPDF4.0-like theory, see mlhep.tasks.pdf.theorycard"
    return card
