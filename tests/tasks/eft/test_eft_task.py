"""eft-fit is two task objects behind one runcard interface: ``mode:`` picks BinnedEftTask or UnbinnedEftTask,
``mlhep check`` runs that mode's own validation, and report/plot follow the mode stored in the results."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from mlhep.tasks.eft import TASK, Config
from mlhep.tasks.eft.binned import BinnedEftTask
from mlhep.tasks.eft.task import MODES
from mlhep.tasks.eft.unbinned import UnbinnedEftTask

UNBINNED = """\
task: eft-fit
mode: unbinned
unbinned:
  theory: {{pdf: lh_toy_evolved, pdf_order: LO, {theory}}}
  collider: {{sqrts: 100000.0}}
  binning: {{m_tt_edges: [345.52, 1000.0, 3000.0]}}
"""


def test_mode_chooses_the_task_object():
    assert isinstance(MODES["binned"], BinnedEftTask) and isinstance(MODES["unbinned"], UnbinnedEftTask)
    assert TASK.variant(Config(mode="unbinned")) == ("mode", MODES["unbinned"])


@pytest.mark.parametrize("theory, key, line", [
    ("mu_f: fixed, mu_f_fixed: 20000.0", "unbinned.theory.mu_f_fixed", 4),
    ("mu_f: mtt, m_tt_max: 12000.0", "unbinned.theory.m_tt_max", 4),
])
def test_check_runs_the_unbinned_validation(tmp_path, run_cli, theory, key, line):
    """Factorisation scales beyond the evolved toy PDF's range: refused by `check` and by `fit` at the key, not
    a ValueError from the evolution after the events are made."""
    card = tmp_path / "u.yaml"
    card.write_text(UNBINNED.format(theory=theory))
    for command in ("check", "fit"):
        code, _, err = run_cli(command, card, *(["-o", tmp_path / "u.h5"] if command == "fit" else []))
        assert code == 2 and f"{card}:{line}:" in err and f"{key}: factorisation scales" in err, err
        assert "leave the range of the evolved toy PDF, [1.414, 10000] GeV" in err and "Traceback" not in err
    assert not (tmp_path / "u.h5").exists()


def test_check_runs_the_binned_validation(tmp_path, run_cli):
    """A missing section of the chosen mode, then a binned fit-option mistake: both found by `check`."""
    card = tmp_path / "b.yaml"
    card.write_text("task: eft-fit\nmode: binned\n")
    code, _, err = run_cli("check", card)
    assert code == 2 and f"{card}:2:7: mode: mode: binned needs a 'binned:' section" in err, err
    card.write_text("task: eft-fit\nmode: binned\nbinned:\n  database: db\n  datasets: [A]\n  fit: analytic\n"
                    "  use_quadratic: true\n  coefficients: {Oa: {min: -1, max: 1}}\n")
    code, _, err = run_cli("check", card)
    assert code == 2 and f"{card}:7:18: binned.use_quadratic: fit: analytic is the linear" in err, err


@pytest.mark.parametrize("mode", ["binned", "unbinned"])
def test_report_and_plot_follow_the_stored_mode(monkeypatch, tmp_path, mode):
    for name, task in MODES.items():
        monkeypatch.setattr(task, "report", lambda results, name=name: f"report of {name}")
        monkeypatch.setattr(task, "plot", lambda results, outdir, name=name: [Path(name)])
    results = SimpleNamespace(summary={"mode": np.array(mode)}, replicas={})
    assert TASK.report(results) == f"report of {mode}" and TASK.plot(results, tmp_path) == [Path(mode)]
