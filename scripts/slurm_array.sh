#!/bin/bash
# SLURM array job: each task fits one block of replicas of the same runcard; `mlhep merge` joins them.
#
#   sbatch --array=0-9 scripts/slurm_array.sh my-fit.yaml 10     # 10 blocks x 10 replicas: my-fit.yaml says
#                                                                 # replicas: 100 (ids beyond it are refused)
#   mlhep merge results/block_*.h5 -o results/fit.h5                           # once all blocks are done
#
# A block killed by the time limit resumes from its checkpoint when resubmitted (same command: --resume).
#SBATCH --job-name=mlhep
#SBATCH --cpus-per-task=4
#SBATCH --mem=8G
#SBATCH --time=04:00:00
#SBATCH --output=results/slurm_%A_%a.log
set -euo pipefail
RUNCARD=${1:?usage: sbatch --array=0-K scripts/slurm_array.sh RUNCARD REPLICAS_PER_BLOCK}
PER_BLOCK=${2:-10}
START=$(( SLURM_ARRAY_TASK_ID * PER_BLOCK ))
STOP=$(( START + PER_BLOCK ))
mkdir -p results
mlhep fit "$RUNCARD" --replicas "$START:$STOP" -o "results/block_$(printf %04d "$START").h5" --resume --quiet
