"""The bump hunt after an anomaly-score cut: what bump-hunt does with each method's scores.

For a cut that keeps a fraction eps of the signal-region events (the threshold t_eps = the score of the
round(eps n_SR)-th highest out-of-fold signal-region score), the same threshold is applied in every m_jj bin, the
dijet function is fitted to the bins outside the signal region of the cut spectrum and interpolated into it
(``dijet_fit``), and the signal-region count is tested against it with the fit uncertainty (``significance``);
BumpHunter (``scan``) adds the global significance over all windows. This is the procedure of CWoLa hunting
(Collins, Howe, Nachman, PRD 99 (2019) 014038, sec. III) and of the CATHODE paper's sculpting study (Hallin et
al., arXiv:2109.00546, sec. V): the cut must not sculpt a bump into the background spectrum, which a smooth fit
then tests.

Scores outside the signal region. The classifiers (CATHODE, CWoLa, idealised, supervised) are functions of the
features x only, so they score sideband events as well. Every event in the spectrum is scored as the signal-region
events are: by the mean of the replicas that held its fold out (``event_folds`` over all events, the assignment
the methods use), so the sideband scores have the same estimator (and noise) as the signal-region ones, and an
event a classifier trained on (CWoLa's sidebands) is never scored by it.

ANODE. log R = log p_SR(x | m) - log p_SB(x | m) is defined only in the signal region (p_SR is fitted there), so
there is no cut spectrum to fit. Its signal-region count after the cut is tested instead against B_SR eps_B: B_SR
the sideband fit of the uncut spectrum interpolated into the signal region, eps_B the fraction of background
events passing the cut, estimated on samples of the sideband density p_SB at signal-region masses (CATHODE's
background model; the same out-of-fold estimator of log R). Its uncertainty adds the fit's relative error and the
binomial error of eps_B in quadrature. This relies on p_SB modelling the background in the signal region far
into the tails of log R, which nothing here checks: on background only (40000 surrogate events, 4-block flows,
30 epochs) it gave Z = 2.5 and 3.0 after the 30% and 10% cuts (CATHODE's classifier on the same flow: |Z| < 1).
So ANODE's Z is always flagged not ``valid`` (a diagnostic, not a test); no global p-value for ANODE.

Validity. A cut that leaves too few sideband events (no more non-empty sideband bins than fit parameters) or a
fit that fails gives NaN for that cut. A fit is flagged not ``valid`` when it did not converge or when its
background density does not fall monotonically over the signal region and one signal-region width either side:
the cut spectrum is then no smooth falling spectrum near the signal region (sculpted by the cut, as CWoLa's
classifier does by learning m_jj; or signal leaking into the neighbouring sideband bins, which the dijet function
follows by bending into a bump), and its Z is no test of the background hypothesis, in either direction. Its
numbers are kept, and the report marks them.
"""
from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from mlhep.tasks.bumphunt.dijet_fit import dijet_function, fit_dijet, histogram, sideband_bins
from mlhep.tasks.bumphunt.scan import bumphunter
from mlhep.tasks.bumphunt.significance import local_significance, signal_region_significance


@dataclass
class CutResult:
    """The bump hunt at one cut: ``threshold``, ``counts`` (n_bins,) of the cut spectrum, ``expected`` (n_bins,)
    the sideband fit's prediction, ``params`` (4,) its dijet parameters, ``chi2``/``ndf`` of the fit; the
    signal-region ``observed``, ``background`` +- ``background_error``, ``z_local``; BumpHunter's ``p_global``,
    ``z_global`` and its most significant ``window`` (2,) TeV."""

    threshold: float
    counts: np.ndarray
    expected: np.ndarray
    params: np.ndarray
    chi2: float
    ndf: int
    observed: float
    background: float
    background_error: float
    z_local: float
    valid: bool = False
    p_global: float = np.nan
    z_global: float = np.nan
    window: tuple[float, float] = (np.nan, np.nan)

    @staticmethod
    def empty(n_bins: int, threshold: float = np.nan) -> "CutResult":
        nan = np.full(n_bins, np.nan)
        return CutResult(threshold, nan, nan, np.full(4, np.nan), np.nan, 0, np.nan, np.nan, np.nan, np.nan)


def falls_near(fit, signal_region) -> bool:
    """Whether the fitted background density falls monotonically over the signal region and one signal-region
    width on either side (module docstring, "Validity")."""
    lo, hi = signal_region
    grid = np.linspace(lo - (hi - lo), hi + (hi - lo), 61)
    with np.errstate(all="ignore"):     # parameters of a wild fit overflow: not a valid falling density
        density = dijet_function(grid, fit.params, fit.sqrt_s)
        return bool(np.all(np.isfinite(density)) and np.all(np.diff(density) <= 1e-9 * density[:-1]))


def threshold_for(sr_scores: np.ndarray, efficiency: float) -> float:
    """The score of the round(eps n)-th highest of the signal-region scores (n,) (at least one event kept)."""
    k = min(max(1, int(round(efficiency * len(sr_scores)))), len(sr_scores))
    return float(np.sort(sr_scores)[::-1][k - 1])


def hunt(mjj: np.ndarray, weights: np.ndarray, edges: np.ndarray, signal_region, *, n_params: int = 4,
         method: str = "profile", widths=(2, 3, 4, 5, 6), n_pseudo: int = 10000, seed: int = 0,
         threshold: float = np.nan) -> CutResult:
    """Fit, local and global significance of the spectrum of the events ``mjj`` (n,) [TeV] that passed a cut
    (``threshold`` is only recorded). NaNs when the fit cannot be made (too few bins with events)."""
    counts = histogram(mjj, edges, weights)
    try:
        if np.count_nonzero(counts[sideband_bins(edges, signal_region)]) <= n_params:
            raise ValueError("fewer sideband bins with events than parameters")
        with np.errstate(over="ignore", invalid="ignore"):
            fit = fit_dijet(edges, counts, signal_region=signal_region, n_params=n_params)
            sig = signal_region_significance(fit, signal_region, method)
            # BumpHunter's reference: the fit to every bin (it absorbs part of a signal: a conservative global p)
            reference = fit_dijet(edges, counts, n_params=n_params).expected()[0]
    except ValueError:      # too sparse a spectrum, or scipy on a non-finite likelihood
        out = CutResult.empty(len(counts), threshold)
        out.counts = counts
        return out
    chi2, ndf = fit.chi2()
    out = CutResult(threshold, counts, fit.expected()[0], fit.params, chi2, ndf, sig["observed"], sig["background"],
                    sig["background_error"], sig["z"], valid=fit.converged and falls_near(fit, signal_region))
    if len(counts) >= max(widths) and np.all(np.isfinite(reference)):
        bh = bumphunter(edges, counts, reference, widths=tuple(widths), n_pseudo=n_pseudo, seed=seed)
        out.p_global, out.z_global, out.window = bh.global_p, bh.global_z, bh.window
    return out


def anode_cut(sr_scores: np.ndarray, sr_weights: np.ndarray, sample_scores: np.ndarray, threshold: float,
              background: float, background_error: float, n_bins: int, method: str = "profile") -> CutResult:
    """ANODE's signal-region test (module docstring): observed = weighted count of signal-region events with
    score >= ``threshold``, expected = ``background`` (the uncut sideband fit in the signal region) x eps_B from
    the background-model ``sample_scores``."""
    passed = sample_scores >= threshold
    eps_b = max(float(passed.mean()), 0.5 / len(sample_scores))   # never 0: half an event of the samples
    b = background * eps_b
    rel = np.sqrt((background_error / background) ** 2 + (1 - eps_b) / (eps_b * len(sample_scores)))
    n = float(np.sum(sr_weights[sr_scores >= threshold]))
    z, _ = local_significance(n, b, b * rel, method)
    out = CutResult.empty(n_bins, threshold)
    out.observed, out.background, out.background_error, out.z_local = n, b, b * rel, float(z)
    out.valid = False           # a diagnostic, not a test (module docstring)
    return out


def background_samples(flow, params, keys, mjj_sr: np.ndarray, n: int, bandwidth: float, window,
                       seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(x (R n, dim), m (R n,)): n samples of each replica's sideband flow at masses of a KDE of the
    signal-region m_jj (``density.kde_masses``), pooled: the background model of the signal region."""
    from mlhep.tasks.bumphunt.methods.density import kde_masses

    masses = kde_masses(jax.random.PRNGKey(seed), jnp.asarray(mjj_sr, jnp.float32), n, bandwidth,
                        tuple(float(w) for w in window))
    draw = jax.jit(jax.vmap(lambda p, k: flow.sample(p, jax.random.fold_in(k, 9), masses)))
    x = np.asarray(draw(params, jnp.asarray(keys)), np.float32)
    return x.reshape(-1, x.shape[-1]), np.tile(np.asarray(masses), x.shape[0])
