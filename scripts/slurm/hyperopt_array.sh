#!/bin/bash
# SLURM array job: every array task is one `mlhep hyperopt` worker of ONE study (same runcard, same storage).
# The workers share the runcard's trial budget (hyperopt.trials) through the storage; each trains its batches of
# trials as one program and writes the whole study's trials table after every batch.
#
#   sbatch --array=0-7 scripts/slurm/hyperopt_array.sh scan.yaml                  # 8 workers, journal storage
#   sbatch --array=0-7 scripts/slurm/hyperopt_array.sh scan.yaml postgresql://user@dbhost/mlhep
#   scripts/slurm/submit_hyperopt.sh scan.yaml 8                                 # the same + the final table
#   (sbatch by hand: mkdir -p hyperopt first, SLURM writes the logs there)
#
# Storage: a journal file on the shared filesystem (default, no server needed), FILE.db (SQLite: one node only;
# its locking is unreliable over NFS), or an RDB URL. Keep passwords out of the command line: PostgreSQL reads
# ~/.pgpass. Each worker's sampler seed is the hyperopt seed + SLURM_ARRAY_TASK_ID.
# A worker killed by the time limit loses only its running batch: resubmit the array and the study continues
# (a worker closes the trials left running by dead workers of its own node; after a crash of the whole job,
# start the first resubmitted worker with --fail-running, when no other worker runs).
#SBATCH --job-name=mlhep-hyperopt
#SBATCH --cpus-per-task=4
#SBATCH --mem=8G
#SBATCH --time=04:00:00
#SBATCH --output=hyperopt/slurm_%A_%a.log
set -euo pipefail
RUNCARD=${1:?usage: sbatch --array=0-K scripts/slurm/hyperopt_array.sh RUNCARD [STORAGE]}
NAME=$(basename "$RUNCARD" .yaml)
STORAGE=${2:-journal:$PWD/hyperopt/$NAME.journal}
mkdir -p hyperopt
mlhep hyperopt "$RUNCARD" --storage "$STORAGE" --worker "${SLURM_ARRAY_TASK_ID:-0}" --quiet \
    -o "hyperopt/$NAME-w$(printf %03d "${SLURM_ARRAY_TASK_ID:-0}").h5"
