#!/usr/bin/env bash
# Rebuilds the shipped mref weights from scratch: every stage of their recipe, in order, each
# warm-started from the one before (runs/hyperprior-cpu -> runs/mref-cpu -> runs/lineage/mref-*).
# About 21 hours on a 2-core CPU; a stage that is interrupted resumes where it stopped when the
# script runs again, and finished stages are skipped. The last stage's export is the weights:
# runs/lineage/mref-16-more/mref.safetensors.
#
#   bash configs/lineage/mref.sh            (needs `neuralcodec data fetch images` first)
#
# --stop-at ends a stage where the shipped lineage's run ended (a time limit), keeping the
# recipe's lr schedule. Stage 14 trains residual blocks, which the next stage starts without
# (scripts/pack_weights.py --drop-res-blocks).
set -euo pipefail
case "${1:-}" in -h|--help) sed -n '2,/^set -euo pipefail/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;; esac
cd "$(dirname "$0")/../.."
nc=${NEURALCODEC:-neuralcodec}
py=${PYTHON:-python3}

stage() {   # stage RECIPE [--stop-at N]: train unless its export exists
  local recipe=$1; shift
  local out; out=$($py -c "import json,sys; print(json.load(open(sys.argv[1]))['out'])" "$recipe")
  local model; model=$($py -c "import json,sys; print(json.load(open(sys.argv[1])).get('model','hyperprior'))" "$recipe")
  if [ -f "$out/$model.safetensors" ] && [ -f "$out/.done" ]; then echo "done: $recipe"; return; fi
  echo "training: $recipe $*"
  $nc train image --config "$recipe" --no-progress "$@"
  touch "$out/.done"
}

stage configs/hyperprior-cpu.json --stop-at 4250
stage configs/mref-cpu.json --stop-at 8250
for n in 03-global 04-wide 05-n96; do stage configs/lineage/mref/$n.json; done
stage configs/lineage/mref/06-n96b.json --stop-at 10509
for n in 07-n96c 08-n96d 09-m192 10-t128 11-q11 12-qs 13-qs2 14-rb; do stage configs/lineage/mref/$n.json; done
[ -f runs/lineage/mref-14-rb/mref-plain.safetensors ] ||
  $py scripts/pack_weights.py runs/lineage/mref-14-rb/mref.safetensors runs/lineage/mref-14-rb/mref-plain.safetensors --drop-res-blocks
stage configs/lineage/mref/15-more.json --stop-at 7512
stage configs/lineage/mref/16-more.json --stop-at 5531
echo "weights: runs/lineage/mref-16-more/mref.safetensors"
