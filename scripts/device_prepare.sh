#!/usr/bin/env bash
# Here, before a session's first call of the lent GPU (`run`): what that bare machine lacks.
# Its image has Python 3.12 with torch, lightning, numpy, safetensors, pillow, pytest and
# hypothesis, and it reaches no network (../.library/device/README.md). This puts the other
# wheels in .whl/ and the image training data in .devdata/ (both git-ignored; name them in the
# call's `carry`, 64 MiB with the repository). Then, there: `bash scripts/device_run.sh CMD...`.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${NEURALCODEC_DATA:-$HOME/.cache/neuralcodec/data}
rm -rf .whl .devdata && mkdir -p .whl .devdata
platforms=""
for p in manylinux_2_{17,24,27,28,31,34,35}_x86_64 manylinux2014_x86_64 manylinux1_x86_64; do platforms+=" --platform $p"; done
for pkg in constriction soundfile soxr pystoi bjontegaard pytorch-msssim compressai==1.2.8; do
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    $platforms -d .whl "$pkg"
done
cp -r "$data/image-train" .devdata/
python3 - "$data/manifest.json" .devdata/manifest.json <<'PY'
import json, sys
rows = [r for r in json.load(open(sys.argv[1])) if r["split"] == "image-train"]
json.dump(rows, open(sys.argv[2], "w"))
PY
du -sh .whl .devdata
