"""mlhep: runcard-driven machine-learning fits for high-energy physics.

Every task's replica ensemble trains as one jit-compiled, vmapped JAX program (``mlhep.engine``).
"""
__version__ = "0.1.0"
