#!/bin/bash
# The modules search (issue 11) on a lent GPU machine: as many of the remaining trials as fit in
# DEADLINE seconds, trained and evaluated there by experiments/run_trials.py (the code `gridssl
# sweep` runs), WORKERS processes sharing the GPU (through MPS when it starts). What comes back
# under $OUT: run.log, trials.tgz (every trial's trial.json, config.yaml, meta.json and
# metrics.jsonl; no checkpoints), models.json + m1.pt..m4.pt (fp16 exports of the best finished trials:
# most distinct periods, then grid fraction) and smi.log. Merge the finished ones into the local
# sweep directories, then `gridssl sweep SPEC --out DIR` writes their tables.
set -u
# at most 8 files come back from $OUT: run.log, smi.log, trials.tgz, models.json and MODELS models
OUT=${OUT:?} R=/tmp/runs DEADLINE=${DEADLINE:-480} MODELS=${MODELS:-4}
export PYTHONPATH=$PWD/src PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,utilization.gpu,memory.used --format=csv -l 20 >"$OUT/smi.log" 2>&1 &
python3 -c "import torch, numpy, scipy, sklearn, yaml; print('torch', torch.__version__, torch.cuda.get_device_name(0))"
W=${WORKERS_PLAIN:-5}
if command -v nvidia-cuda-mps-control >/dev/null; then
  export CUDA_MPS_PIPE_DIRECTORY=/tmp/mps CUDA_MPS_LOG_DIRECTORY=/tmp/mps-log
  mkdir -p /tmp/mps /tmp/mps-log
  if nvidia-cuda-mps-control -d && timeout 60 python3 -c "import torch; print('mps ok', torch.ones(1, device='cuda').sum().item())"; then
    W=${WORKERS_MPS:-14}
  else
    echo quit | nvidia-cuda-mps-control; unset CUDA_MPS_PIPE_DIRECTORY CUDA_MPS_LOG_DIRECTORY
    echo "MPS did not start: $W workers without it"
  fi
fi
# the jobs: this script's arguments (--job SPEC OUT [NAME-PART ...] ..., OUT under /tmp/runs), or
# by default the batch of 2026-11-26
if [ $# -eq 0 ]; then
  set -- --job experiments/modules_octave.yaml $R/modules-octave \
    --job experiments/modules_control.yaml $R/modules-control \
    --job experiments/modules_coarse.yaml $R/modules-coarse iso_max_step=0.05 \
    w_cap=0.75_loss.iso_max_step=1_data.seq_len=40
fi
python3 experiments/run_trials.py --workers "$W" --device auto --deadline-s "$DEADLINE" --shed \
  "$@" 2>&1 | tee "$OUT/run.log"
tar czf "$OUT/trials.tgz" --exclude=checkpoints --exclude=tb -C $R .
python3 - "$OUT" "$MODELS" <<'EOF'
import json, sys
from pathlib import Path
from gridssl.checkpoint import export_model
out, k = Path(sys.argv[1]), int(sys.argv[2])
recs = [(p.parent, json.loads(p.read_text())) for p in Path("/tmp/runs").glob("*/trials/*/trial.json")]
done = [(run, r) for run, r in recs if r.get("status") == "ok"]
key = lambda x: (x[1]["metrics"].get("n_distinct_periods") or 0, x[1]["metrics"].get("grid_fraction") or 0)
names = {}
for i, (run, r) in enumerate(sorted(done, key=key, reverse=True)[:k], 1):
    export_model(run, out / f"m{i}.pt", half=True)
    names[f"m{i}.pt"] = f"{run.parent.parent.name}/{run.name}"
(out / "models.json").write_text(json.dumps(names, indent=1))
print(len(done), "trials finished; exported", names)
EOF
