#!/usr/bin/env bash
# When is a seed's lattice decided? (docs/RECIPE.md round 12, "Branching the rounding".) The
# `cpu` preset on seeds 14, 10 (square on the 2026-12-08 machine) and 11 (hexagonal) is trained
# to step 5000 with every checkpoint kept (train.stop_at: the schedules stay the 14000-step ones),
# then continued from step 3000 and from step 5000 to step 7000 under another rounding
# (MKL_ENABLE_INSTRUCTIONS=AVX2, which changes the loss within 60 steps). Read the in-training
# evaluations of each OUT/br_*/metrics.jsonl at steps 5000-7000.
#   experiments/branch_rounding.sh [OUT]      # default runs/branch-rounding
set -u
OUT=${1:-runs/branch-rounding}
mkdir -p "$OUT"
P="$(pwd)/.venv/bin/python -m gridssl.cli train --quiet"
cd "$OUT"
for s in 14 10 11; do
  [ -f base_$s/checkpoints/step_00005000.pt ] || { rm -rf base_$s; $P --preset cpu --out base_$s --seed $s --set train.threads=1 --set train.keep_ckpts=20 --set train.stop_at=5000; }
  for from in 3000 5000; do
    d=br_${s}_from$from
    rm -rf $d && cp -r base_$s $d
    for c in $d/checkpoints/step_*.pt; do
      n=$(basename $c .pt); n=$((10#${n#step_}))
      if [ $n -gt $from ]; then rm $c; fi
    done
    rm -f $d/checkpoints/best.pt
    MKL_ENABLE_INSTRUCTIONS=AVX2 $P --resume $d --set train.stop_at=7000
  done
  echo "seed $s done"
done
