#!/usr/bin/env bash
# Installs the Debian packages neuralcodec's standard-codec sweeps use when they are missing
# (idempotent, quiet when everything is there, never fatal). Add a package here as "command:package".
set -euo pipefail
case "${1:-}" in -h|--help) sed -n '2,/^set -euo pipefail/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;; esac
needs=("c2enc:codec2" "heif-enc:libheif-examples")   # standard codecs for `neuralcodec eval rd`
missing=()
for pair in "${needs[@]+"${needs[@]}"}"; do
  cmd=${pair%%:*}; pkg=${pair##*:}
  command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing system packages: ${missing[*]}"
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
# best effort: the test suite does not need these; `eval rd` says so when a codec is missing
if ! { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"; } >/dev/null; then
  echo "warning: could not install ${missing[*]} (apt); Codec2 and HEVC-intra sweeps will be unavailable" >&2
fi
exit 0
