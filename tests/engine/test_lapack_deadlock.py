"""jaxlib 0.10's batched CPU LAPACK kernels deadlock when XLA runs two of them at once on a 2-core machine
(eft-fit's vmapped Newton step hung for ever under load). ``mlhep.runtime.configure_process`` sets the XLA flag
that keeps them apart; this program hangs at its first call without it."""
import os
import subprocess
import sys

PROGRAM = """
from mlhep.runtime import configure_process
configure_process()
import jax, jax.numpy as jnp
jax.config.update("jax_enable_x64", True)
a = jax.random.normal(jax.random.PRNGKey(0), (200, 49, 49))
a = a @ jnp.swapaxes(a, 1, 2) + 49 * jnp.eye(49)
lower = jnp.linalg.cholesky(a)
b = jax.random.normal(jax.random.PRNGKey(1), (200, 49, 1))

def body(c, _):   # an LU solve and a triangular solve that do not depend on each other
    x = jnp.linalg.solve(a + c[0] * 1e-9, b)
    y = jax.scipy.linalg.solve_triangular(lower, b + c[1] * 1e-9, lower=True)
    return (jnp.sum(x) * 1e-12, jnp.sum(y) * 1e-12), None

out = jax.jit(lambda: jax.lax.scan(body, (0.0, 0.0), None, length=200)[0])()
print("finished", float(out[0]) != 0.0)
"""


def test_independent_batched_lapack_calls_do_not_deadlock():
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    done = subprocess.run([sys.executable, "-c", PROGRAM], env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    assert "finished True" in done.stdout
