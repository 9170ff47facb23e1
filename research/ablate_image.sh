#!/usr/bin/env bash
# What each part of mref's entropy model buys: every recipe in research/ablation/
# trains from the same warm start (the CPU hyperprior), seed and step count, then all of them
# are swept on image-eval beside JPEG and WebP; bd.md in OUT has the BD-rate of every pair.
#
#   research/ablate_image.sh [OUT]        train (or resume) each variant, then evaluate
#   TRAIN=0 research/ablate_image.sh      evaluate the weights already trained
#
# Each recipe is independent: running two at once (OMP_NUM_THREADS=1 each) halves the wall time.
set -euo pipefail
out=${1:-runs/ablation}
bin=${BIN:-.venv/bin}
mkdir -p "$out/weights"
codecs=jpeg,webp
for cfg in research/ablation/mref-*.json; do
  name=$(basename "$cfg" .json)
  run=$("$bin/python" -c "import json,os,sys; print(os.path.expanduser(json.load(open(sys.argv[1]))['out']))" "$cfg")
  if [ "${TRAIN:-1}" = 1 ]; then "$bin/neuralcodec" train image --config "$cfg" --no-progress; fi
  cp "$run/mref.safetensors" "$out/weights/$name.safetensors"   # distinct names label the curves
  codecs="$codecs,mref@$out/weights/$name.safetensors"
done
"$bin/neuralcodec" eval rd --modality image --data image-eval --codecs "$codecs" --out "$out"
