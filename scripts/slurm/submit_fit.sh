#!/bin/bash
# Submit a fit as BLOCKS array tasks of REPLICAS_PER_BLOCK replicas each, then a merge job that runs only if
# every block succeeded: results/NAME.h5, the same file as one fit of all replicas.
#
#   scripts/slurm/submit_fit.sh fit.yaml 10 10      # replicas: 100 in fit.yaml
#   (a failed block: resubmit it alone, sbatch --array=K scripts/slurm/fit_blocks.sh fit.yaml 10, then merge)
set -euo pipefail
RUNCARD=${1:?usage: scripts/slurm/submit_fit.sh RUNCARD BLOCKS REPLICAS_PER_BLOCK}
BLOCKS=${2:?usage: scripts/slurm/submit_fit.sh RUNCARD BLOCKS REPLICAS_PER_BLOCK}
PER_BLOCK=${3:?usage: scripts/slurm/submit_fit.sh RUNCARD BLOCKS REPLICAS_PER_BLOCK}
NAME=$(basename "$RUNCARD" .yaml)
HERE=$(dirname "$0")
mkdir -p results
ARRAY=$(sbatch --parsable --array=0-$(( BLOCKS - 1 )) "$HERE/fit_blocks.sh" "$RUNCARD" "$PER_BLOCK")
sbatch --dependency=afterok:"$ARRAY" --job-name=mlhep-merge --time=00:30:00 --output="results/slurm_%j_merge.log" \
    --wrap "mlhep merge results/${NAME}_r*.h5 -o results/$NAME.h5"
echo "submitted array job $ARRAY ($BLOCKS blocks x $PER_BLOCK replicas) and the merge after it"
