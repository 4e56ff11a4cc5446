"""mlhep: runcard-driven machine-learning fits for high-energy physics.

Every task's replica ensemble trains as one jit-compiled, vmapped JAX program (``mlhep.engine``).
"""
__version__ = "0.1.0"


import signal as _signal
import sys as _sys
import threading as _threading


def _import_jax():
    """``import jax`` with Ctrl-C held back until it is done: jaxlib turns a KeyboardInterrupt during its
    initialisation into an ImportError traceback. A Ctrl-C received meanwhile then ends the process (exit 130)."""
    if (_threading.current_thread() is not _threading.main_thread()
            or _signal.getsignal(_signal.SIGINT) is not _signal.default_int_handler):
        import jax
        return jax
    received = []
    _signal.signal(_signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        import jax
    finally:
        _signal.signal(_signal.SIGINT, _signal.default_int_handler)
    if received:
        print("mlhep: interrupted while starting; nothing was done (a fit whose training had begun continues "
              "with the same command and --resume)", file=_sys.stderr)
        raise SystemExit(130)
    return jax


_jax = _import_jax()
# Nothing process-wide is set here: precision, the compilation cache and the CPU device count are set by the
# commands (mlhep.runtime), so that importing mlhep in a notebook or another program changes nothing.
