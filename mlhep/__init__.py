"""mlhep: runcard-driven machine-learning fits for high-energy physics.

Every task's replica ensemble trains as one jit-compiled, vmapped JAX program (``mlhep.engine``).
"""
__version__ = "0.1.0"

import jax as _jax

# chi2 with large, strongly correlated covariances (HERA, LHC top data) needs float64.
_jax.config.update("jax_enable_x64", True)
