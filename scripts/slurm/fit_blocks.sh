#!/bin/bash
# SLURM array job: each array task fits one block of replicas of the same runcard (`mlhep fit --replicas A:B`);
# `mlhep merge` then joins the blocks (scripts/slurm/submit_fit.sh submits both, the merge after the blocks).
#
#   sbatch --array=0-9 scripts/slurm/fit_blocks.sh fit.yaml 10     # fit.yaml says replicas: 100
#   mlhep merge results/fit_r*.h5 -o results/fit.h5                # once all blocks are done
#   (sbatch by hand: mkdir -p results first, SLURM writes the logs there)
#
# A block killed by the time limit resumes from its checkpoint when resubmitted (same command, --resume).
# Replica i's numbers depend only on the seed and i: the merged file equals one 100-replica fit.
#SBATCH --job-name=mlhep-fit
#SBATCH --cpus-per-task=4
#SBATCH --mem=8G
#SBATCH --time=04:00:00
#SBATCH --output=results/slurm_%A_%a.log
set -euo pipefail
RUNCARD=${1:?usage: sbatch --array=0-K scripts/slurm/fit_blocks.sh RUNCARD REPLICAS_PER_BLOCK}
PER_BLOCK=${2:-10}
NAME=$(basename "$RUNCARD" .yaml)
START=$(( ${SLURM_ARRAY_TASK_ID:-0} * PER_BLOCK ))
mkdir -p results
mlhep fit "$RUNCARD" --replicas "$START:$(( START + PER_BLOCK ))" --resume --quiet \
    -o "results/${NAME}_r$(printf %05d "$START").h5"
