#!/bin/bash
# The local test bench (design §7): dockerd, a registry on 127.0.0.1:5000, nginx, and the seed's images
# built from busybox-static with `docker import`. Used by `make test` and `make demo`; idempotent.
#   tests/lab.sh start     start what is not running and seed the registry
#   tests/lab.sh stop-registry | start-registry   (fault tests)
set -euo pipefail

LAB_DIR=/var/lib/eole-conteneurs-lab
REGISTRY=127.0.0.1:5000
DOCKER=/usr/bin/docker
export PATH=/usr/sbin:/usr/bin:/sbin:/bin

log() { echo "[banc de test] $*"; }

wait_for() {  # wait_for SECONDS COMMAND...
    local deadline=$((SECONDS + $1)); shift
    until "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.2
    done
}

start_dockerd() {
    if $DOCKER info >/dev/null 2>&1; then return; fi
    # A dockerd still starting or shutting down: let it finish first.
    wait_for 60 bash -c "! pgrep -x dockerd || $DOCKER info" || true
    if $DOCKER info >/dev/null 2>&1; then return; fi
    pgrep -x dockerd >/dev/null || rm -f /var/run/docker.pid
    log "démarrage de dockerd"
    # Debian's init script may fail in containers (ulimit); dockerd itself does not.
    service docker start >/dev/null 2>&1 || true
    if ! wait_for 5 $DOCKER info; then
        setsid /usr/sbin/dockerd >>/var/log/dockerd-lab.log 2>&1 < /dev/null &
    fi
    wait_for 60 $DOCKER info || { log "dockerd ne démarre pas (voir /var/log/dockerd-lab.log)"; exit 1; }
}

registry_up() { curl -fsS "http://$REGISTRY/v2/" >/dev/null 2>&1; }

start_registry() {
    if registry_up; then return; fi
    log "démarrage du registre sur $REGISTRY"
    mkdir -p "$LAB_DIR/registry"
    cat > "$LAB_DIR/registry.yml" <<CONF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $LAB_DIR/registry
  delete:
    enabled: true
http:
  addr: $REGISTRY
CONF
    setsid /usr/bin/docker-registry serve "$LAB_DIR/registry.yml" >>/var/log/docker-registry-lab.log 2>&1 < /dev/null &
    echo $! > "$LAB_DIR/registry.pid"
    wait_for 30 registry_up || { log "le registre ne répond pas"; exit 1; }
}

stop_registry() {
    pkill -f "docker-registry serve $LAB_DIR/registry.yml" || true
    wait_for 10 bash -c "! curl -fsS http://$REGISTRY/v2/"
}

start_nginx() {
    if pgrep -x nginx >/dev/null; then return; fi
    log "démarrage de nginx"
    nginx -t -q && nginx
}

# build_image NAME:TAG MARKER CMD... — a busybox root filesystem imported as one layer.
build_image() {
    local ref=$1 marker=$2; shift 2
    local root; root=$(mktemp -d)
    mkdir -p "$root/bin" "$root/usr/local/apache2/htdocs" "$root/tmp"
    cp /bin/busybox "$root/bin/busybox"
    for tool in sh echo cat ls sleep httpd wget; do ln -s busybox "$root/bin/$tool"; done
    echo "<html><body><h1>It works!</h1></body></html>" > "$root/usr/local/apache2/htdocs/index.html"
    echo "$marker" > "$root/image-version"
    local cmd; cmd=$(printf '"%s",' "$@")
    tar -C "$root" -c . | $DOCKER import -c "CMD [${cmd%,}]" -c "EXPOSE 80" - "$REGISTRY/$ref" >/dev/null
    rm -rf "$root"
    $DOCKER push "$REGISTRY/$ref" >/dev/null
}

seed_images() {
    if curl -fsS "http://$REGISTRY/v2/httpd/tags/list" 2>/dev/null | grep -q '"2.4"' &&
       curl -fsS "http://$REGISTRY/v2/hello-world/tags/list" 2>/dev/null | grep -q '"latest"'; then
        return
    fi
    log "construction des images hello-world:latest et httpd:2.4 (busybox-static)"
    build_image hello-world:latest 1 /bin/echo "Hello from Docker! (image de test eole-conteneurs)"
    build_image httpd:2.4 1 /bin/httpd -f -p 80 -h /usr/local/apache2/htdocs
}

case "${1:-start}" in
    start) start_dockerd; start_registry; start_nginx; seed_images
           bash "$(dirname "$0")/images/service.sh" ;;
    start-dockerd) start_dockerd ;;
    start-registry) start_registry ;;
    stop-registry) stop_registry ;;
    build-image) shift; build_image "$@" ;;
    *) echo "usage: $0 start|start-dockerd|start-registry|stop-registry|build-image REF MARKER CMD..." >&2; exit 2 ;;
esac
