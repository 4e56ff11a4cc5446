"""The SLURM templates (scripts/slurm/) run the commands they promise: stand-ins for ``sbatch`` and ``mlhep`` on
PATH record their arguments."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

SLURM = Path(__file__).resolve().parents[2] / "scripts" / "slurm"
RECORDER = """#!/bin/bash
echo "$(basename "$0") $*" >> "{log}"
[ "$(basename "$0")" = sbatch ] && echo 4242 || true
"""


def run(tmp_path: Path, script: str, *args: str, **env: str) -> list[str]:
    bin_dir, log = tmp_path / "bin", tmp_path / "calls.log"
    bin_dir.mkdir(exist_ok=True)
    for name in ("sbatch", "mlhep"):
        (bin_dir / name).write_text(RECORDER.format(log=log))
        (bin_dir / name).chmod(0o755)
    environ = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", **env}
    subprocess.run(["bash", str(SLURM / script), *args], cwd=tmp_path, env=environ, check=True,
                   capture_output=True, text=True)
    return log.read_text().splitlines()


def test_hyperopt_workers_join_one_study(tmp_path):
    calls = run(tmp_path, "hyperopt_array.sh", "scan.yaml", SLURM_ARRAY_TASK_ID="3")
    assert calls == [f"mlhep hyperopt scan.yaml --storage journal:{tmp_path}/hyperopt/scan.journal --worker 3 "
                     "--quiet -o hyperopt/scan-w003.h5"]
    calls = run(tmp_path, "submit_hyperopt.sh", "scan.yaml", "8", "sqlite:////shared/s.db")[1:]
    assert calls[0].startswith("sbatch --parsable --array=0-7 ") and calls[0].endswith(
        "hyperopt_array.sh scan.yaml sqlite:////shared/s.db")
    assert "--dependency=afterany:4242" in calls[1] and "-o 'hyperopt/scan.h5'" in calls[1]


def test_fit_blocks_then_merge(tmp_path):
    calls = run(tmp_path, "fit_blocks.sh", "fit.yaml", "10", SLURM_ARRAY_TASK_ID="2")
    assert calls == ["mlhep fit fit.yaml --replicas 20:30 --resume --quiet -o results/fit_r00020.h5"]
    calls = run(tmp_path, "submit_fit.sh", "fit.yaml", "10", "10")[1:]
    assert calls[0].startswith("sbatch --parsable --array=0-9 ") and calls[0].endswith("fit_blocks.sh fit.yaml 10")
    assert "--dependency=afterok:4242" in calls[1] and "mlhep merge results/fit_r*.h5 -o results/fit.h5" in calls[1]
