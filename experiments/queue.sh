#!/usr/bin/env bash
# The background queue of this machine's long experiments, in priority order (issue 16, then
# issue 21). Every step is resumable: rerunning this script skips finished trials and resumes the
# rest from their last checkpoints, so a new sitting just runs it again.
#   nohup experiments/queue.sh >> runs/queue.log 2>&1 &
# After each step the finished trials' records are copied into experiments/results/
# (experiments/harvest.sh) to be committed: a new checkout has no runs/ (the 2026-12-08 sitting
# found none), so the queue first restores them (harvest.sh --restore) where runs/NAME is absent,
# and goes on from there (trials that were still training start again from scratch).
# GRIDSSL_SRC (optional): a frozen checkout's src/ to run from, so that editing this working tree
# never changes the code under a running trial (e.g. a `git worktree` of the commit to run).
# Done and dropped from the queue (their results are in docs/RECIPE.md): the round-4 and fused
# seed tables, rounds 5-7, 9 and 10, round 10 judged on seeds 0-9 (runs/recipe-seeds-t80) and its
# thread check (runs/recipe-seeds-t80-2t); the first start of the T 80 ablation (runs/ablate-cpu80,
# lost with the sitting's runs/ at a few trials).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
if [ -n "${GRIDSSL_SRC:-}" ]; then export PYTHONPATH="$GRIDSSL_SRC"; fi
G=("$PY" -m gridssl.cli)
step() { echo "queue [$(date -u +%FT%TZ)]: $*"; "$@"; echo "queue: exit $?"; }
# a new checkout has no runs/: put back the committed records of finished trials first
for name in recipe-tune11 recipe-screen ablate-cpu80 modules-control-t60 modules-round3 \
    modules-levers; do
  if [ ! -d "runs/$name" ] && [ -d "experiments/results/$name" ]; then
    experiments/harvest.sh --restore "runs/$name"
  fi
done
# issue 16, round 11: standing still on the T 80 preset, tuning seeds 10-11 (4 trials), first:
# were it to make long walks hold, the preset (and so the ablation) would change
step "${G[@]}" sweep experiments/recipe_tune11.yaml --out runs/recipe-tune11 --executor local \
    --workers 2
experiments/harvest.sh runs/recipe-tune11
# issue 16, round 12: a screen of the early phase (to step 7000) on tuning seeds 10-19: the
# preset, iso2, sx09 (30 trials of about 4 core-minutes); needs train.stop_at (commit b8b7081)
step "${G[@]}" sweep experiments/recipe_screen.yaml --out runs/recipe-screen --executor local \
    --workers 2
experiments/harvest.sh runs/recipe-screen
# issue 16: the 5-seed ablation of the T 80 preset (45 trials, about 9 core-minutes each here), two
# seeds at a time so that every condition has the same seeds wherever the queue stops
for seeds in "seed=0 seed=1" "seed=2 seed=3" "seed=4"; do
  # shellcheck disable=SC2086
  step "${G[@]}" sweep experiments/ablate_cpu80.yaml --out runs/ablate-cpu80 --executor local \
      --workers 2 --only $seeds
  experiments/harvest.sh runs/ablate-cpu80
done
# the verdicts (trains nothing once every trial is finished)
step "${G[@]}" ablate --preset cpu --seeds 5 --out runs/ablate-cpu80 --executor local --workers 2
# issue 21: the block-diagonal control at T 60, then the long seeded trials (train.settle_window)
for name in control_t60 round3 levers; do
  step "${G[@]}" sweep "experiments/modules_$name.yaml" --out "runs/modules-${name//_/-}" \
      --executor local --workers 2
  experiments/harvest.sh "runs/modules-${name//_/-}"
done
