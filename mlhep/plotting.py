"""The one matplotlib setup of every plot: headless backend, a figure per file, PNG at one resolution.

matplotlib is imported on first use, so commands that draw nothing do not pay for it.
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

DPI = 110


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")           # no display on clusters and in CI
    import matplotlib.pyplot as plt
    return plt


@contextmanager
def figure(path: str | Path, nrows: int = 1, ncols: int = 1, **subplots: Any) -> Iterator[tuple[Any, Any]]:
    """``with figure(path, nrows, ncols, figsize=...) as (fig, axes):`` draw on ``plt.subplots``' figure and axes;
    on leaving, the layout is tightened and ``path`` written as PNG at ``DPI``. The figure is closed in any case
    (a failed drawing writes nothing)."""
    plt = _pyplot()
    fig, axes = plt.subplots(nrows, ncols, **subplots)
    try:
        yield fig, axes
        fig.tight_layout()
        fig.savefig(path, dpi=DPI, format="png")
    finally:
        plt.close(fig)
