#!/usr/bin/env bash
# The background queue of this machine's long experiments, in priority order (issue 16, then
# issue 21). Every step is resumable: rerunning this script skips finished trials and resumes the
# rest from their last checkpoints, so a new sitting just runs it again.
#   nohup experiments/queue.sh >> runs/queue.log 2>&1 &
# GRIDSSL_SRC (optional): a frozen checkout's src/ to run from, so that editing this working tree
# never changes the code under a running trial (e.g. a `git worktree` of the commit to run).
# ABLATION_SRC (optional): the same for the ablation alone, which keeps the code it started with
# (commit 8f177e5, the T 80 preset) so that all its trials round alike.
# Done and dropped from the queue (their results are in docs/RECIPE.md): the round-4 and fused
# seed tables, rounds 5-7, 9 and 10, round 10 judged on seeds 0-9 (runs/recipe-seeds-t80), and the
# 5-seed ablation of the round-4 preset (runs/ablate-cpu5, stopped at 8 of 45 trials when the
# preset changed). Not run: round 8 (data.still_fraction, recipe_tune6.yaml) and the fused
# preset's thread check (recipe_seeds_fused_2t.yaml), both of the round-4 preset.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
if [ -n "${GRIDSSL_SRC:-}" ]; then export PYTHONPATH="$GRIDSSL_SRC"; fi
G=("$PY" -m gridssl.cli)
step() { echo "queue [$(date -u +%FT%TZ)]: $*"; "$@"; echo "queue: exit $?"; }
# issue 16: the T 80 preset's thread check: seeds 0-2 at 2 torch threads, one at a time
step "${G[@]}" sweep experiments/recipe_seeds_t80_2t.yaml --out runs/recipe-seeds-t80-2t \
    --executor local --workers 1
# issue 16: the 5-seed ablation of the T 80 preset (its `full` seeds 0-4 are copies of
# runs/recipe-seeds-t80's trials, the same config and code: 40 trials to train, about 4.5 hours)
step env PYTHONPATH="${ABLATION_SRC:-${PYTHONPATH:-}}" "${G[@]}" ablate --preset cpu --seeds 5 \
    --out runs/ablate-cpu80 --executor local --workers 2
# issue 21: the block-diagonal control at T 60, then the long seeded trials (train.settle_window:
# a GRIDSSL_SRC of commit 48a0044 or later)
step "${G[@]}" sweep experiments/modules_control_t60.yaml --out runs/modules-control-t60 \
    --executor local --workers 2
step "${G[@]}" sweep experiments/modules_round3.yaml --out runs/modules-round3 \
    --executor local --workers 2
# issue 21, point 4: the decorrelation levers
step "${G[@]}" sweep experiments/modules_levers.yaml --out runs/modules-levers \
    --executor local --workers 2
