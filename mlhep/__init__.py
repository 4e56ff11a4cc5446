"""mlhep: runcard-driven machine-learning fits for high-energy physics.

Every task's replica ensemble trains as one jit-compiled, vmapped JAX program (``mlhep.engine``).
"""
__version__ = "0.1.0"

import os as _os

import jax as _jax

# chi2 with large, strongly correlated covariances (HERA, LHC top data) needs float64.
_jax.config.update("jax_enable_x64", True)

# Reuse compiled XLA programs across runs (same program -> same executable -> same numbers); set
# MLHEP_JAX_CACHE=0 to disable, or to a folder to move it.
if _os.environ.get("MLHEP_JAX_CACHE", "") != "0":
    from mlhep.paths import cache_dir as _cache_dir

    _jax.config.update("jax_compilation_cache_dir",
                       _os.environ.get("MLHEP_JAX_CACHE") or str(_cache_dir() / "jax"))
    _jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
