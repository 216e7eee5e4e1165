#!/bin/bash
# make demo: the seed's demonstration on the local bench (registry 127.0.0.1:5000, dockerd).
set -uo pipefail
cd "$(dirname "$0")/.."
CONFIG=examples/config.eol
run() { echo; echo "# $*"; "$@"; }

mkdir -p /var/eole-httpd
[ -e /var/eole-httpd/index.html ] ||
    echo '<html><body><h1>my-apache-app : démonstration eole-conteneurs</h1></body></html>' > /var/eole-httpd/index.html

run /usr/bin/python3 -m eole_conteneurs check --config "$CONFIG" || exit 1
run /usr/bin/python3 -m eole_conteneurs apply --config "$CONFIG"; status=$?
run /usr/bin/python3 -m eole_conteneurs plan --config "$CONFIG"
run /usr/bin/docker ps -a --filter label=fr.eole.conteneurs.managed=eole \
    --format 'table {{.Names}}\t{{.Image}}\t{{.Status}}\t{{.Ports}}'
echo
echo "# curl http://127.0.0.1:8081/   (publication par nginx : https://<serveur>/my-apache-app/, à venir)"
curl -fsS http://127.0.0.1:8081/ || status=1
exit $status
