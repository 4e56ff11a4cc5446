"""eels-fit: neural-network zero-loss-peak (ZLP) subtraction for low-loss EELS (issue 12).

The method of Roest et al., Ultramicroscopy 222 (2021) 113202, and of EELSfitter 3.1. This package holds the
pieces that do not need the engine, each in its own module:

- ``spectra``: the ``Spectra`` container and the low-loss checks (a zero-loss peak in range, counts that are
  not negative beyond the noise);
- ``io``: readers for Gatan DM3/DM4 and HyperSpy .hspy files (rosettasciio), plain-text/CSV spectra and the
  EELSfitter/Roest layout; a .hspy writer for synthetic images;
- ``synthetic``: spectra and spectrum images with a known truth (ZLP, interband onset, plasmons, thickness);
- ``kinematics``: relativistic beam quantities shared by the thickness and Kramers-Kronig formulas;
- ``thickness``, ``deconvolution``, ``kramers_kronig``, ``bandgap``: the physics of Egerton's textbook;
- ``regions``: EELSfitter's automatic dE1/dE2 (the fit and the forced-zero regions);
- ``pooling``: sliding-window averaging of spectrum images;
- ``clustering``: k-means of spectrum-image pixels and the per-cluster median and spread;
- ``zlp_model``: the ZLP network and its one-replica loss (JAX), ``subtraction``: matching a model ZLP to a
  spectrum and subtracting it (numpy or JAX).
"""
