#!/usr/bin/env bash
# For a GPU machine without network whose Python 3.12 already has torch, lightning, numpy,
# safetensors, pillow, pytest and hypothesis: put the other wheels in .whl/ and the training and
# validation data in .devdata/ (both git-ignored), copy them there with the repository, then run
# `bash scripts/device_run.sh CMD...` on that machine.
#
#   scripts/device_prepare.sh images   image-train and image-val (about 29 MB)
#   scripts/device_prepare.sh audio    the speech and synthesised samples of audio-train and
#                                      audio-val (about 35 MB; drum kits and game music left out)
set -euo pipefail
case "${1:-}" in -h|--help) sed -n '2,/^set -euo pipefail/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;; esac
cd "$(dirname "$0")/.."
data=${NEURALCODEC_DATA:-$HOME/.cache/neuralcodec/data}
rm -rf .whl .devdata && mkdir -p .whl .devdata
platforms=""
for p in manylinux_2_{17,24,27,28,31,34,35}_x86_64 manylinux2014_x86_64 manylinux1_x86_64; do platforms+=" --platform $p"; done
for pkg in constriction soundfile soxr pystoi bjontegaard pytorch-msssim compressai==1.2.8; do
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    $platforms -d .whl "$pkg"
done
python3 - "$data" .devdata "${1:-images}" <<'PY'
import json, shutil, sys
from pathlib import Path
src, dst, what = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
audio = {"codec2-examples", "fillets-ng-data", "pocketsphinx-testdata", "klettres-data", "espeak-ng",
         "supersonic-scsynth-samples"}
keep = {"images": lambda r: r["split"] in ("image-train", "image-val"),
        "audio": lambda r: r["split"] in ("audio-train", "audio-val") and r["package"] in audio}[what]
rows = [r for r in json.loads((src / "manifest.json").read_text()) if keep(r)]
for r in rows:
    (dst / r["path"]).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src / r["path"], dst / r["path"])
(dst / "manifest.json").write_text(json.dumps(rows))
print(f"{len(rows)} files of {what}")
PY
du -sh .whl .devdata
