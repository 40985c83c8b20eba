#!/usr/bin/env bash
# Copy the small records of every finished trial of a sweep directory into experiments/results/
# (committed; checkpoints stay out of git), so that a new checkout keeps the results and a rerun
# of the same sweep skips those trials once they are copied back:
#   experiments/harvest.sh runs/ablate-cpu80            # runs/X -> experiments/results/X
#   experiments/harvest.sh --restore runs/ablate-cpu80  # experiments/results/X -> runs/X
# Kept per trial: trial.json (the record; its status marks it finished) and metrics.jsonl (the
# in-training evaluations); per sweep: sweep.yaml, results.csv, results.json.
set -euo pipefail
cd "$(dirname "$0")/.."
restore=0
if [ "${1:-}" = "--restore" ]; then restore=1; shift; fi
for run in "$@"; do
  name=$(basename "$run")
  src=$run dst=experiments/results/$name
  if [ $restore = 1 ]; then src=experiments/results/$name dst=$run; fi
  [ -d "$src" ] || { echo "harvest: no $src" >&2; continue; }
  mkdir -p "$dst/trials"
  for f in sweep.yaml results.csv results.json; do
    if [ -f "$src/$f" ]; then cp -p "$src/$f" "$dst/$f"; fi
  done
  n=0
  for t in "$src"/trials/*/; do
    [ -f "$t/trial.json" ] || continue
    grep -q '"status": "\(ok\|failed\|diverged\|stopped\)"' "$t/trial.json" || continue
    d="$dst/trials/$(basename "$t")"
    mkdir -p "$d"
    cp -p "$t/trial.json" "$d/"
    if [ -f "$t/metrics.jsonl" ]; then cp -p "$t/metrics.jsonl" "$d/"; fi
    n=$((n + 1))
  done
  echo "harvest: $n finished trials $src -> $dst"
done
