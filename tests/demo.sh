#!/bin/bash
# make demo: the seed's demonstration on the local bench (registry 127.0.0.1:5000, dockerd, nginx):
# check, containers converged (pull, run), nginx published, then the status and the URL.
set -uo pipefail
cd "$(dirname "$0")/.."
CONFIG=examples/config.eol
CMD=(/usr/bin/python3 -m eole_conteneurs)
run() { echo; echo "# $*"; "$@"; }

mkdir -p /var/eole-httpd
[ -e /var/eole-httpd/index.html ] ||
    echo '<html><body><h1>my-apache-app : démonstration eole-conteneurs</h1></body></html>' > /var/eole-httpd/index.html

run "${CMD[@]}" check --config "$CONFIG" || exit 1
run "${CMD[@]}" apply --config "$CONFIG"; status=$?
run "${CMD[@]}" publish --config "$CONFIG" || status=1
run "${CMD[@]}" plan --config "$CONFIG"
run /usr/bin/docker ps -a --filter label=fr.eole.conteneurs.managed=eole \
    --format 'table {{.Names}}\t{{.Image}}\t{{.Status}}\t{{.Ports}}'
echo
echo "# curl -k https://127.0.0.1/my-apache-app/"
curl -fsSk https://127.0.0.1/my-apache-app/ || status=1
echo
echo "URL : https://$(hostname -f 2>/dev/null || hostname)/my-apache-app/"
exit $status
