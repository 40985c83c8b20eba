#!/bin/bash
# The recipe's seed tables (issue 16) on a lent GPU machine: the cpu preset (or the candidate the
# arguments name) on many seeds at once, trained and measured there (long walks included) by
# experiments/run_trials.py, WORKERS processes sharing the GPU through MPS when it starts. On an
# H100, 13 trials of 10000 steps at B 32 took 500 s together (docs/MODULES.md), so one 15-minute
# lease holds the 10 judging seeds plus the 3 two-thread repeats' worth of trials.
#   run: OUT=$OUT bash experiments/device_recipe.sh                 # the judging table
#        OUT=$OUT bash experiments/device_recipe.sh --job experiments/recipe_tune2.yaml /tmp/runs/t2
# What comes back under $OUT (at most 8 files): run.log, smi.log, trials.tgz (every trial's
# trial.json, config.yaml, meta.json, metrics.jsonl; no checkpoints), table.txt (the seed table
# of experiments/seed_table.py) and m0.pt (the fp16 export of seed 0, the candidate for
# gridssl.load("pretrained")). Merge the trial folders into runs/, then
# `python experiments/seed_table.py runs/recipe-seeds` prints the same table here.
set -u
OUT=${OUT:?} R=/tmp/runs DEADLINE=${DEADLINE:-540}
export PYTHONPATH=$PWD/src PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,utilization.gpu,memory.used --format=csv -l 20 >"$OUT/smi.log" 2>&1 &
python3 -c "import torch, numpy, scipy, sklearn, yaml; print('torch', torch.__version__, torch.cuda.get_device_name(0))"
W=${WORKERS_PLAIN:-5}
if command -v nvidia-cuda-mps-control >/dev/null; then
  export CUDA_MPS_PIPE_DIRECTORY=/tmp/mps CUDA_MPS_LOG_DIRECTORY=/tmp/mps-log
  mkdir -p /tmp/mps /tmp/mps-log
  if nvidia-cuda-mps-control -d && timeout 60 python3 -c "import torch; print('mps ok', torch.ones(1, device='cuda').sum().item())"; then
    W=${WORKERS_MPS:-13}
  else
    echo quit | nvidia-cuda-mps-control; unset CUDA_MPS_PIPE_DIRECTORY CUDA_MPS_LOG_DIRECTORY
    echo "MPS did not start: $W workers without it"
  fi
fi
if [ $# -eq 0 ]; then
  set -- --job experiments/recipe_seeds.yaml $R/recipe-seeds
fi
python3 experiments/run_trials.py --workers "$W" --device auto --deadline-s "$DEADLINE" --shed \
  "$@" 2>&1 | tee "$OUT/run.log"
tar czf "$OUT/trials.tgz" --exclude=checkpoints --exclude=tb -C $R .
# each job's table (results.json), then the seed table of them all
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  if [ "${args[$i]}" = --job ]; then
    python3 -m gridssl.cli sweep "${args[$((i + 1))]}" --out "${args[$((i + 2))]}" --collect >/dev/null
  fi
done
python3 experiments/seed_table.py $R/*/ >"$OUT/table.txt" 2>&1
python3 - "$OUT" <<'PY'
import sys
from pathlib import Path
from gridssl.checkpoint import export_model
runs = sorted(Path("/tmp/runs").glob("*/trials/*seed=0"))
if runs:
    export_model(runs[0], Path(sys.argv[1]) / "m0.pt", half=True)
    print("exported", runs[0])
PY
