#!/usr/bin/env bash
# Installs the Debian packages neuralcodec needs when they are missing (idempotent, quiet when
# everything is there). Add a package here as "command:package".
set -euo pipefail
needs=("c2enc:codec2" "heif-enc:libheif-examples")   # standard codecs for `neuralcodec eval rd`
missing=()
for pair in "${needs[@]+"${needs[@]}"}"; do
  cmd=${pair%%:*}; pkg=${pair##*:}
  command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing system packages: ${missing[*]}"
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
