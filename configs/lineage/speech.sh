#!/usr/bin/env bash
# Rebuilds the shipped speech codec weights from scratch: configs/speech-cpu.json to its 4000
# steps (cosine schedule to 5% of the learning rate), then the same recipe continued to step 7000
# (the schedule stretched to 7000 steps, so it restarts at 42% of the rate). About 70 minutes on
# one core of a 2-core CPU; the weights: runs/speech-gl/speech.safetensors.
#
#   bash configs/lineage/speech.sh        (needs `neuralcodec data fetch audio` first)
set -euo pipefail
case "${1:-}" in -h|--help) sed -n '2,/^set -euo pipefail/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;; esac
cd "$(dirname "$0")/../.."
nc=${NEURALCODEC:-neuralcodec}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
if [ ! -f runs/speech-gl/.stage1 ]; then
  $nc train audio --config configs/speech-cpu.json --no-progress
  touch runs/speech-gl/.stage1
fi
$nc train audio --config configs/speech-cpu.json --max-steps 7000 --no-progress
echo "weights: runs/speech-gl/speech.safetensors"
