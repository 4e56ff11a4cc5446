"""Nested sampling of binned EFT posteriors: the evidence of a Gaussian against its closed form, and a posterior
with two separated modes found with the right weights (which a single NUTS chain family does not)."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mlhep.io.results import Results
from mlhep.runtime import use_precision
from mlhep.tasks.eft.binned.nested import gaussian_log_evidence, nested_sample


@pytest.fixture(autouse=True)
def float64():
    use_precision("float64")


def test_gaussian_evidence_and_posterior():
    """chi2 = 5 + d^T F d in a box of volume 100: log Z = -5/2 + log(2 pi) - log det(F)/2 - log 100 = -6.2402;
    posterior mean x0 and covariance F^-1."""
    fisher, x0 = np.array([[4.0, 1.0], [1.0, 2.0]]), np.array([0.3, -0.2])
    chi2 = lambda x: 5.0 + (x - x0) @ jnp.asarray(fisher) @ (x - x0)   # noqa: E731
    result = nested_sample(chi2, np.full(2, -5.0), np.full(2, 5.0), jax.random.PRNGKey(0), live=300,
                           inner_steps=None, tolerance=0.01, max_steps=2000, samples=3000)
    truth = gaussian_log_evidence(fisher, 5.0, 100.0)
    assert truth == pytest.approx(-6.2402, abs=1e-4)
    assert result.converged and 0.03 < result.log_evidence_error < 0.3
    assert abs(result.log_evidence - truth) < 3 * result.log_evidence_error
    np.testing.assert_allclose(result.samples.mean(axis=0), x0, atol=0.05)
    np.testing.assert_allclose(np.cov(result.samples.T), np.linalg.inv(fisher), rtol=0.15, atol=0.02)


def test_two_separated_modes_with_their_weights():
    """Likelihood 0.7 N(-2, 0.2^2) + 0.3 N(+2, 0.2^2) in 1D (the shape of a quadratic EFT coefficient whose linear
    and quadratic terms cancel away from zero): both modes found, mass 0.7 / 0.3 within sampling error, and
    log Z = log(1 / 10) (the likelihood integrates to 1 over a prior of width 10)."""
    def chi2(x):
        def mode(mu, w):
            return w * jnp.exp(-0.5 * ((x[0] - mu) / 0.2) ** 2) / (0.2 * jnp.sqrt(2 * jnp.pi))
        return -2.0 * jnp.log(mode(-2.0, 0.7) + mode(2.0, 0.3))

    result = nested_sample(chi2, np.array([-5.0]), np.array([5.0]), jax.random.PRNGKey(1), live=300,
                           inner_steps=None, tolerance=0.01, max_steps=2000, samples=4000)
    x = result.samples[:, 0]
    left = np.mean(x < 0)
    assert abs(left - 0.7) < 4 * np.sqrt(0.21 / result.ess) + 0.02
    assert np.median(x[x < 0]) == pytest.approx(-2.0, abs=0.05) and np.median(x[x > 0]) == pytest.approx(2.0, abs=0.05)
    assert abs(result.log_evidence - np.log(0.1)) < 3 * result.log_evidence_error + 0.02


TWO_MODES = """\
task: eft-fit
seed: 2
replicas: 1
mode: binned
binned:
  database: db
  datasets: [TWO_MODES]
  use_quadratic: true
  use_t0: false
  fit: {fit}
  nuts: {{chains: 2, warmup: 100, samples: 300}}
  nested: {{live: 200, samples: 2000}}
  coefficients:
    Oq: {{min: -3, max: 5}}
"""


def test_quadratic_two_mode_posterior_cli(tmp_path, run_cli):
    """One measurement of 10 +- 0.5 against 10 - 4 c + 2 c^2: minima at c = 0 and c = 2 with equal chi2 and a
    likelihood symmetric about c = 1, so each mode holds half the posterior. Nested sampling finds both with half
    the mass each; NUTS is warned about (two minima) and its chains, one per mode, give R-hat far above 1."""
    from fixtures.smefit_toy import write_dataset
    write_dataset(tmp_path / "db", "TWO_MODES", [10.0], [0.5], [[0.0]], ["ADD"], ["UNCORR"], [10.0],
                  {"Oq": [-4.0]}, {("Oq", "Oq"): [2.0]})
    out = {}
    for fit in ("nested", "nuts"):
        (tmp_path / f"{fit}.yaml").write_text(TWO_MODES.format(fit=fit))
        code, _, err = run_cli("fit", tmp_path / f"{fit}.yaml", "-o", tmp_path / f"{fit}.h5", "--quiet")
        assert code == 0, err
        out[fit] = (Results.read(tmp_path / f"{fit}.h5").summary, err)
    nested = out["nested"][0]["posterior/samples"][:, 0]
    assert abs(np.mean(nested < 1.0) - 0.5) < 0.08
    assert np.median(nested[nested < 1]) == pytest.approx(0.0, abs=0.05)
    assert np.median(nested[nested > 1]) == pytest.approx(2.0, abs=0.05)
    nuts, err = out["nuts"]
    assert "2 separate minima" in err and "fit: nested" in err
    np.testing.assert_allclose(np.sort(nuts["posterior/minima"][:, 0]), [0.0, 2.0], atol=1e-6)
    assert nuts["posterior/rhat"][0] > 1.5
    code, report, err = run_cli("report", tmp_path / "nested.h5")
    assert code == 0 and "log Z" in report, err
