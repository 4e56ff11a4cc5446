"""Semantic checks of the ``unbinned:`` section (types and ranges are checked by the runcard loader)."""
from __future__ import annotations

import numpy as np

from mlhep.task import RunContext
from mlhep.tasks.eft.unbinned.config import UnbinnedConfig


def check_config(config: UnbinnedConfig, ctx: RunContext, key: str) -> None:
    """Raise ``ctx.fail(<key path>, why)`` for the first inconsistent setting."""
    th, col, tr, b = config.theory, config.collider, config.training, config.binning
    threshold = 2.0 * th.m_t
    if not threshold < th.m_tt_max < col.sqrts:
        raise ctx.fail(f"{key}.theory.m_tt_max", f"must lie between the tt̄ threshold 2 m_t = {threshold:g} GeV "
                       f"and sqrt(S) = {col.sqrts:g} GeV (got {th.m_tt_max:g})")
    c_values = np.asarray(tr.c_values, dtype=float)
    if np.any(c_values == 0) or len(set(tr.c_values)) != len(tr.c_values) or len(tr.c_values) < 2:
        raise ctx.fail(f"{key}.training.c_values", "need at least two distinct non-zero c_tG values (the SM "
                       f"sample is always made), e.g. [-3, 3]; got {list(tr.c_values)}")
    if any(h < 1 for h in config.network.hidden):
        raise ctx.fail(f"{key}.network.hidden", f"layer widths must be >= 1 (got {list(config.network.hidden)})")
    edges = np.asarray(b.m_tt_edges, dtype=float)
    if len(edges) < 2 or np.any(np.diff(edges) <= 0):
        raise ctx.fail(f"{key}.binning.m_tt_edges", "need at least two strictly ascending edges")
    if edges[0] < threshold * (1 - 1e-9) or edges[-1] > th.m_tt_max * (1 + 1e-9):
        raise ctx.fail(f"{key}.binning.m_tt_edges", f"edges must lie inside [2 m_t, m_tt_max] = [{threshold:g}, "
                       f"{th.m_tt_max:g}] GeV (got {edges[0]:g} ... {edges[-1]:g})")
    y_edges = np.asarray(b.abs_y_tt_edges, dtype=float)
    if len(y_edges) < 2 or y_edges[0] != 0 or np.any(np.diff(y_edges) <= 0):
        raise ctx.fail(f"{key}.binning.abs_y_tt_edges", "need strictly ascending |y_tt| edges starting at 0, "
                       f"e.g. [0, 0.5, 1, 1.5, 10] (got {list(y_edges)})")
    if config.bounds.c_min > config.bounds.c_max:
        raise ctx.fail(f"{key}.bounds.c_min", f"c_min = {config.bounds.c_min} exceeds c_max = "
                       f"{config.bounds.c_max} (set both to 0 for an automatic range)")
    if tr.n_events - round(tr.validation_fraction * tr.n_events) < 2:
        raise ctx.fail(f"{key}.training.validation_fraction", "leaves fewer than 2 training events per sample")


def check_pseudo_experiments(config: UnbinnedConfig, ctx: RunContext, key: str, nu_sm: float) -> None:
    b = config.bounds
    if b.pseudo_experiments and nu_sm > b.max_events_per_experiment:
        raise ctx.fail(f"{key}.bounds.pseudo_experiments",
                       f"each pseudo-experiment would hold ~{nu_sm:.3g} events, more than "
                       f"bounds.max_events_per_experiment = {b.max_events_per_experiment}; lower "
                       "collider.luminosity or collider.efficiency, raise the limit, or use 0 (Asimov only)")
