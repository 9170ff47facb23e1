#!/usr/bin/env bash
# Rebuilds the shipped wavtok40 weights from scratch: configs/wavtok-cpu.json to step 1400 (mel
# loss only: its GAN phase starts at 1400), then configs/wavtok-mel-cpu.json (mel loss only,
# speech share 0.8, the token prior counted on all training audio) continues that checkpoint to
# step 7300. About 2 hours on a 2-core CPU; the weights: runs/wavtok-mel/wavtok.safetensors.
#
#   bash configs/lineage/wavtok40.sh        (needs `neuralcodec data fetch audio` first)
set -euo pipefail
case "${1:-}" in -h|--help) sed -n '2,/^set -euo pipefail/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;; esac
cd "$(dirname "$0")/../.."
nc=${NEURALCODEC:-neuralcodec}
if [ ! -f runs/wavtok-cpu/.done ]; then
  $nc train audio --config configs/wavtok-cpu.json --no-progress --stop-at 1400
  touch runs/wavtok-cpu/.done
fi
if [ ! -f runs/wavtok-mel/checkpoints/last.ckpt ]; then   # the second recipe resumes the first's checkpoint
  mkdir -p runs/wavtok-mel/checkpoints
  cp runs/wavtok-cpu/checkpoints/last.ckpt runs/wavtok-mel/checkpoints/last.ckpt
fi
$nc train audio --config configs/wavtok-mel-cpu.json --no-progress --stop-at 7300
echo "weights: runs/wavtok-mel/wavtok.safetensors"
