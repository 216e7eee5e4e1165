#!/bin/bash
# make demo: the seed's demonstration on the local bench (registry 127.0.0.1:5000, dockerd, nginx):
# reconfigure on the example configuration (the seed's two containers), then status, diagnose and the URL.
# Running it again changes nothing.
set -uo pipefail
cd "$(dirname "$0")/.."
CONFIG=examples/config.eol
CMD=(/usr/bin/python3 -m eole_conteneurs)
run() { echo; echo "# $*"; "$@"; }

mkdir -p /var/eole-httpd
[ -e /var/eole-httpd/index.html ] ||
    echo '<html><body><h1>my-apache-app : démonstration eole-conteneurs</h1></body></html>' > /var/eole-httpd/index.html

run "${CMD[@]}" reconfigure --config "$CONFIG"; status=$?
run "${CMD[@]}" status --config "$CONFIG" || status=1
echo
echo "# diagnose"
# EOLE's diagnose scripts always exit 0: an error is a line "=> Erreur".
diagnosis=$(EOLE_CONTENEURS_CONFIG=$CONFIG PYTHONPATH=$PWD diagnose/60-conteneurs)
echo "$diagnosis"
! grep -q "=> Erreur" <<<"$diagnosis" || status=1
echo
echo "# curl -k https://127.0.0.1/my-apache-app/"
curl -fsSk https://127.0.0.1/my-apache-app/ || status=1
echo
echo "URL : https://$(/usr/bin/python3 -c 'from eole_conteneurs.publish.names import host_name; print(host_name())')/my-apache-app/"
[ "$status" -eq 0 ] && echo "État : la démonstration fonctionne." || echo "État : erreur (voir ci-dessus)."
exit $status
