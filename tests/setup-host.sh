#!/bin/bash
# Installs what the tests, the demo and the package build need on a fresh Debian machine (as root).
# Idempotent and quick when everything is already there: apt-get runs only for missing packages.
set -euo pipefail

PACKAGES=(
    python3 python3-docker python3-cheetah python3-lxml python3-pytest python3-hypothesis acl python3-setuptools python3-all
    docker.io tini iptables nginx apache2 ssl-cert docker-registry busybox-static curl openssl
    debhelper dh-python dpkg-dev fakeroot lintian git mypy debootstrap
    borgbackup python3-cryptography openssh-client
    podman netavark aardvark-dns
)

missing=()
for package in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] || missing+=("$package")
done

# Installing a daemon starts it (invoke-rc.d): Apache would take port 80 before the bench's nginx
# (tests/lab.sh start_nginx). A policy-rc.d answering 101 forbids any start during the install; an
# existing one (Docker images ship one) is put back afterwards, even when the install fails.
POLICY=/usr/sbin/policy-rc.d
POLICY_SAVED=""

restore_policy() {
    if [ -n "$POLICY_SAVED" ]; then
        mv -f "$POLICY_SAVED" "$POLICY"
    else
        rm -f "$POLICY"
    fi
}

if [ "${#missing[@]}" -gt 0 ]; then
    echo "Installation des paquets manquants : ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if [ -e "$POLICY" ]; then
        POLICY_SAVED=$(mktemp)
        cp -a "$POLICY" "$POLICY_SAVED"
    fi
    trap restore_policy EXIT
    trap 'exit 130' INT TERM
    printf '#!/bin/sh\nexit 101\n' > "$POLICY"  # forbids every start until restore_policy
    chmod 755 "$POLICY"
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
    trap - EXIT INT TERM
    restore_policy
fi

# Apache is only started by the tests that build an Apache host; never left running here.
if pgrep -x apache2 >/dev/null; then
    echo "Arrêt d'Apache (démarré par l'installation) : le banc de test publie par nginx"
    apache2ctl stop || true
    for _ in $(seq 50); do pgrep -x apache2 >/dev/null || break; sleep 0.2; done
fi
