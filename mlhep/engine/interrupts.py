"""Ctrl-C and SIGTERM during training: the first one stops the run at the next chunk boundary, after a
complete checkpoint; a second one stops at once (the checkpoint on disk stays the previous complete one).

JAX registers a garbage-collector callback, and Python drops an exception raised inside one ("Exception
ignored"): a Ctrl-C landing there would vanish, so it is delivered again once the callback has returned.
"""
from __future__ import annotations

import gc
import os
import signal
import threading
import time
from contextlib import contextmanager

from mlhep.errors import Interrupted  # noqa: F401  (re-exported: the error the engine raises)


class StopNow(KeyboardInterrupt):
    """A second SIGINT/SIGTERM during training: stop at once, without waiting for the chunk or a checkpoint."""


def _in_gc_callback(frame) -> bool:
    """Whether ``frame`` runs inside a garbage-collector callback: Python prints an exception raised there as
    "Exception ignored" and drops it. JAX registers such a callback, so a Ctrl-C that arrived while it ran
    used to vanish and the fit ran to its end."""
    codes = {getattr(callback, "__code__", None) for callback in gc.callbacks}
    while frame is not None:
        if frame.f_code in codes:
            return True
        frame = frame.f_back
    return False


def _deliver_again(signum: int) -> None:
    """Send ``signum`` to this process again in a moment, once the gc callback it landed in has returned."""
    threading.Timer(0.01, os.kill, (os.getpid(), signum)).start()


def _keyboard_interrupt(signum, frame):
    """Python's default SIGINT behaviour (raise KeyboardInterrupt), except that an interrupt landing in a gc
    callback, where it would be swallowed, is delivered again instead."""
    if _in_gc_callback(frame):
        _deliver_again(signum)
        return
    raise KeyboardInterrupt


# Installed for the whole process (main thread, default handler only): the command's setup before training
# must not lose a Ctrl-C either. Behaves exactly like the default handler otherwise.
if threading.current_thread() is threading.main_thread() and \
        signal.getsignal(signal.SIGINT) is signal.default_int_handler:
    signal.signal(signal.SIGINT, _keyboard_interrupt)


class Signals:
    """SIGINT/SIGTERM received during training; true once one came. ``stopping``: the run is already ending
    (``Interrupted`` raised), so further signals are ignored."""

    def __init__(self):
        self.received: list[int] = []
        self.stopping = False

    def __bool__(self) -> bool:
        return bool(self.received)


@contextmanager
def deferred_signals():
    """Turn the first SIGINT/SIGTERM into a flag checked between chunks, so that training stops at a chunk
    boundary with a complete checkpoint; a second one raises ``StopNow`` at once (the checkpoint on disk stays
    the previous complete one: it is replaced atomically)."""
    signals = Signals()
    if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
        yield signals
        return

    def handler(signum, frame):
        if signals.stopping:
            return
        if not signals.received:
            signals.received.append(signum)
        elif _in_gc_callback(frame):
            _deliver_again(signum)
        else:
            signals.stopping = True
            raise StopNow
    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield signals
    finally:
        if signals:
            _wind_down(previous)
        else:
            for s, h in previous.items():
                signal.signal(s, h)


_WIND_DOWN_SECONDS = 5.0


def _wind_down(previous: dict) -> None:
    """After an interruption the program is stopping: for a few seconds further SIGINT/SIGTERM (an impatient
    second Ctrl-C) are ignored, else they would break the exit with a traceback in an arbitrary place (the
    message, JAX's atexit clean-up). The first signal after that restores ``previous`` and is handled by it."""
    until = time.monotonic() + _WIND_DOWN_SECONDS

    def handler(signum, frame):
        if time.monotonic() < until:
            return
        for s, h in previous.items():
            signal.signal(s, h)
        os.kill(os.getpid(), signum)
    for s in previous:
        signal.signal(s, handler)
