#!/bin/bash
# Installs what the tests, the demo and the package build need on a fresh Debian machine (as root).
# Idempotent and quick when everything is already there: apt-get runs only for missing packages.
set -euo pipefail

PACKAGES=(
    python3 python3-docker python3-cheetah python3-lxml python3-pytest python3-setuptools python3-all
    docker.io tini iptables nginx docker-registry busybox-static curl openssl
    debhelper dh-python dpkg-dev fakeroot lintian git mypy debootstrap
)

missing=()
for package in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] || missing+=("$package")
done

if [ "${#missing[@]}" -gt 0 ]; then
    echo "Installation des paquets manquants : ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
