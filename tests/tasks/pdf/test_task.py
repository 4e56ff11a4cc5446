"""Runcard-level errors of pdf-fit point at the key and say what is valid (no training, real commondata)."""
from pathlib import Path

import numpy as np
import pytest

from mlhep.errors import DataError, RunCardError
from mlhep.fit import load
from mlhep.task import RunContext

RUNCARD = """task: pdf-fit
replicas: 2
data:
  datasets:
    - {{name: BCDMS_NC_NOTFIXED_P_EM-F2, variant: legacy}}
    - {{name: {second}, variant: legacy}}
theory:
  order: LO
  fktables: {cache}
"""


def _setup(tmp_path: Path, second: str, cache: Path):
    path = tmp_path / "card.yaml"
    path.write_text(RUNCARD.format(second=second, cache=cache))
    runcard, task = load(path)
    ctx = RunContext(runcard_path=path, seed=0, replica_ids=np.arange(2), fail=runcard.fail, train=None, quiet=True)
    return task.setup(runcard.config, ctx)


def test_unknown_dataset_names_key_and_suggests(tmp_path):
    pytest.importorskip("nnpdf_data")
    with pytest.raises(RunCardError) as err:
        _setup(tmp_path, "NMC_NC_NOTFIXED_P_EM-SIGMARD", tmp_path)
    message = str(err.value)
    assert "data.datasets[1].name" in message and ":6:" in message
    assert "NMC_NC_NOTFIXED_P_EM-SIGMARED" in message          # did you mean / valid list


def test_missing_fk_table_gives_build_command(tmp_path):
    pytest.importorskip("nnpdf_data")
    with pytest.raises(DataError) as err:
        _setup(tmp_path, "NMC_NC_NOTFIXED_P_EM-SIGMARED", tmp_path / "empty")
    message = str(err.value)
    assert err.value.exit_code == 4
    assert "no FK table for BCDMS_NC_NOTFIXED_P_EM-F2 at LO" in message and "build_fk_tables.py" in message
