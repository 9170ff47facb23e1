#!/usr/bin/env bash
# On the GPU machine without network, in the repository root: install the carried wheels, put the
# carried data where `neuralcodec` looks for it, build the C rANS lanes if a compiler is there,
# then run the command given, e.g.
#   bash scripts/device_run.sh python3 -m pytest -q -m cuda
#   bash scripts/device_run.sh python3 -m neuralcodec.cli train image --config configs/mref-gpu.json --max-minutes 8
# (carry: .whl .devdata and, to resume, the run folder). Prepared by scripts/device_prepare.sh.
set -euo pipefail
case "${1:-}" in -h|--help) sed -n '2,/^set -euo pipefail/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;; esac
cd "$(dirname "$0")/.."
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
mkdir -p "$HOME/.cache/neuralcodec/data"
cp -rn .devdata/. "$HOME/.cache/neuralcodec/data/"
python3 setup.py -q build_ext --inplace > /dev/null 2>&1 || echo "device_run: no C rANS lanes (numpy lanes instead)"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
"$@"
