#!/bin/bash
# Submit a hyperopt study with WORKERS array tasks, then (when all have ended, whatever their state) one job that
# writes the final trials table and best runcard: `mlhep hyperopt` on a complete study trains nothing.
#
#   scripts/slurm/submit_hyperopt.sh scan.yaml 8 [STORAGE]
#   -> hyperopt/scan.h5, hyperopt/scan-best.yaml; then: mlhep report hyperopt/scan.h5 --plot plots/
set -euo pipefail
RUNCARD=${1:?usage: scripts/slurm/submit_hyperopt.sh RUNCARD WORKERS [STORAGE]}
WORKERS=${2:?usage: scripts/slurm/submit_hyperopt.sh RUNCARD WORKERS [STORAGE]}
NAME=$(basename "$RUNCARD" .yaml)
STORAGE=${3:-journal:$PWD/hyperopt/$NAME.journal}
HERE=$(dirname "$0")
mkdir -p hyperopt
ARRAY=$(sbatch --parsable --array=0-$(( WORKERS - 1 )) "$HERE/hyperopt_array.sh" "$RUNCARD" "$STORAGE")
sbatch --dependency=afterany:"$ARRAY" --job-name=mlhep-hyperopt-table --time=00:30:00 \
    --output="hyperopt/slurm_%j_table.log" \
    --wrap "mlhep hyperopt '$RUNCARD' --storage '$STORAGE' --quiet -o 'hyperopt/$NAME.h5'"
echo "submitted array job $ARRAY ($WORKERS workers) and the table job after it"
