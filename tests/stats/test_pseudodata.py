"""Pseudo-data replicas reproduce the covariance; training masks take the requested fraction per group."""
import jax
import jax.numpy as jnp
import numpy as np

from mlhep.stats.pseudodata import sample_replica, train_mask


def test_replicas_have_the_experimental_mean_and_covariance():
    cov = np.array([[1.0, 0.6, 0.0], [0.6, 2.0, -0.3], [0.0, -0.3, 0.5]])
    central = jnp.array([1.0, 2.0, 3.0])
    keys = jax.random.split(jax.random.PRNGKey(0), 40000)
    samples = jax.vmap(lambda k: sample_replica(k, central, jnp.linalg.cholesky(cov)))(keys)
    np.testing.assert_allclose(samples.mean(0), central, atol=0.03)
    np.testing.assert_allclose(np.cov(np.asarray(samples).T), cov, atol=0.05)


def test_training_mask_takes_the_fraction_of_each_group():
    groups = jnp.array([0] * 8 + [1] * 4 + [2] * 3)
    fraction = jnp.array([0.75, 0.5, 1.0])
    masks = jax.vmap(lambda k: train_mask(k, groups, fraction))(jax.random.split(jax.random.PRNGKey(1), 50))
    counts = [np.asarray(masks[:, groups == g].sum(1)) for g in range(3)]
    assert (counts[0] == 6).all() and (counts[1] == 2).all() and (counts[2] == 3).all()
    assert len({tuple(m) for m in np.asarray(masks)}) > 10     # different replicas, different splits
