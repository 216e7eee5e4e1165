#!/bin/bash
# What the benchmark needs beyond the tests: docker-compose (Debian's) and matplotlib for the plot.
set -euo pipefail
missing=()
for package in docker-compose python3-matplotlib; do
    [ "$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)" = "install ok installed" ] || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
