"""Every example runcard, end to end through the ``mlhep`` command at tiny size: check, fit, report.

Each runcard is the shipped file with only its sizes cut (replicas, epochs, events, NUTS samples), so a broken
example, a key it uses that the schema dropped, or theory the bundle lacks shows here. The eft-fit binned
examples read the SMEFiT database in ../shared/data and skip without it; the others never need it.
"""
from __future__ import annotations

import io
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from mlhep.io.results import Results
from mlhep.paths import embedded_runcards

FEW_EPOCHS = {"replicas": 2, "engine": {"epochs": 60, "chunk": 30, "stopping": {"min_epochs": 0}}}
TINY = {
    "toy-regression": FEW_EPOCHS,
    "toy-sideband": {"replicas": 2, "data": {"n_background": 2000, "n_signal": 100},
                     "engine": {"chunk": 2, "stages": {"density": {"epochs": 6}, "classifier": {"epochs": 4}}}},
    "pdf-fit-dis": FEW_EPOCHS,
    "pdf-fit-closure": FEW_EPOCHS,
    "pdf-fit-hyperopt": FEW_EPOCHS,
    "eft-fit-binned": {"replicas": 4},
    "eft-fit-binned-global": {"replicas": 4},
    "eft-fit-binned-nuts": {"binned": {"nuts": {"chains": 2, "warmup": 30, "samples": 30}}},
    "eft-fit-binned-individual": {},
    "eft-fit-unbinned": {"replicas": 2, "engine": {"epochs": 4, "chunk": 2, "minibatch_size": 500,
                                                   "stopping": {"min_epochs": 0}},
                         "unbinned": {"training": {"n_events": 2000}, "bounds": {"n_scan": 41}}},
    "jet-tag-top": {"replicas": 2, "engine": {"epochs": 2, "chunk": 2},
                    "data": {"generate": {"jets_per_class": 20, "workers": 1}}},
    "eels-fit-image": {"replicas": 2, "engine": {"epochs": 60, "chunk": 30}, "data": {"synthetic": {"pixels": [4, 4]}}},
    "eels-fit-ws2": {"replicas": 2, "engine": {"epochs": 60, "chunk": 30}},
    "bump-hunt-surrogate": {"replicas": 2, "data": {"surrogate": {"n_background": 5000}},
                            "model": {"flow": {"layers": 2, "width": 16}, "classifier": {"hidden": [16, 16]}},
                            "significance": {"pseudo_experiments": 200},
                            "engine": {"chunk": 2, "stages": {"flow_sb": {"epochs": 2}, "cathode": {"epochs": 2},
                                                              "cwola": {"epochs": 2}}}},
}
NEEDS_SHARED_DATA = {"eft-fit-binned", "eft-fit-binned-global", "eft-fit-binned-nuts", "eft-fit-binned-individual",
                     "eels-fit-ws2"}


def test_the_table_covers_every_shipped_example():
    assert set(TINY) == set(embedded_runcards())


def _merge(node, changes: dict) -> None:
    for key, value in changes.items():
        if isinstance(value, dict) and key in node:
            _merge(node[key], value)
        else:
            node[key] = value


def tiny_copy(name: str, folder: Path) -> Path:
    """The example runcard with the sizes of ``TINY[name]`` (comments and everything else kept)."""
    yaml = YAML()
    card = yaml.load(embedded_runcards()[name].read_text())
    _merge(card, TINY[name])
    out = io.StringIO()
    yaml.dump(card, out)
    path = folder / f"{name}.yaml"
    path.write_text(out.getvalue())
    return path


@pytest.fixture
def data_for(request):
    def need(name):
        if name in NEEDS_SHARED_DATA:
            request.getfixturevalue("shared_data")
    return need


@pytest.mark.parametrize("name", sorted(TINY))
def test_example_checks_fits_and_reports_at_tiny_size(name, tmp_path, run_cli, data_for):
    data_for(name)
    code, out, err = run_cli("check", "--example", name)
    assert code == 0 and "OK" in out, err
    card = tiny_copy(name, tmp_path)
    code, out, err = run_cli("fit", card, "-o", tmp_path / "fit.h5", "--quiet")
    assert code == 0, err
    results = Results.read(tmp_path / "fit.h5")
    assert results.task == card.read_text().split("task:")[1].split()[0]
    assert results.runcard_text == card.read_text()
    code, out, err = run_cli("report", tmp_path / "fit.h5", "--plot", tmp_path / "plots")
    assert code == 0 and out.strip(), err
    assert any(p.stat().st_size > 1000 for p in (tmp_path / "plots").glob("*.png"))
