#!/bin/bash
# Real-software test images for the bench: a MariaDB server and a small web application that stores notes
# in it over the network. Built once, pushed to the local registry and skipped afterwards:
#   127.0.0.1:5000/eole-test/mariadb:10.11   (also tagged :10.11-bis, the same image, to force a recreation)
#   127.0.0.1:5000/eole-test/appli:1
# Both share one Debian bookworm root filesystem made by debootstrap; that rootfs is kept as a tarball
# under /var/lib/eole-conteneurs-lab/cache/ so that rebuilding after the registry is lost takes seconds.
# Called by `tests/lab.sh start`; can be run alone (as root, with dockerd and the registry up).
set -euo pipefail

LAB_DIR=/var/lib/eole-conteneurs-lab
CACHE_DIR=$LAB_DIR/cache
REGISTRY=127.0.0.1:5000
DOCKER=/usr/bin/docker
SUITE=bookworm
PACKAGES=mariadb-server,mariadb-client
# Bump when the rootfs recipe (suite, packages, clean-up) changes: the name keys the cached tarball.
ROOTFS_TARBALL=$CACHE_DIR/rootfs-$SUITE-mariadb-v1.tar
# Local-only image the two test images are built FROM, so that they share its layer in the registry
# (the application must not inherit the database's VOLUME, hence not FROM the database image itself).
BASE=eole-test/base-mariadb:$SUITE
MARIADB=$REGISTRY/eole-test/mariadb
APPLI=$REGISTRY/eole-test/appli
export PATH=/usr/sbin:/usr/bin:/sbin:/bin

log() { echo "[banc de test] $*"; }

has_tag() {  # has_tag REPOSITORY TAG
    curl -fsS "http://$REGISTRY/v2/$1/tags/list" 2>/dev/null | grep -q "\"$2\""
}

# The registry holding the tags is not enough: images pushed by an older version of this script would be
# stale. The script's own hash, recorded after a successful push, says which recipe built them.
STAMP=$CACHE_DIR/service-images.sha256
RECIPE=$(sha256sum "${BASH_SOURCE[0]}" | cut -d' ' -f1)

up_to_date() {
    has_tag eole-test/mariadb 10.11 && has_tag eole-test/mariadb 10.11-bis && has_tag eole-test/appli 1 &&
        [ "$(cat "$STAMP" 2>/dev/null)" = "$RECIPE" ]
}

if up_to_date; then exit 0; fi

mkdir -p "$CACHE_DIR"
# Two `lab.sh start` at once (make test and a developer) must not build twice or race on the cache.
exec 9>"$CACHE_DIR/service-images.lock"
flock 9
if up_to_date; then exit 0; fi

START=$SECONDS
WORK=$(mktemp -d "$CACHE_DIR/build.XXXXXX")

# A failed debootstrap can leave /proc or /sys mounted inside the target: unmount before removing, and
# never let rm cross into another file system.
cleanup() {
    local mountpoint
    for mountpoint in $(findmnt -n -l -o TARGET | grep "^$WORK/" | sort -r || true); do
        umount -l "$mountpoint" || true
    done
    rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT

# debootstrap uses this host's Debian mirror (deb.debian.org may be redirected to a local mirror here).
debian_mirror() {
    local uri
    uri=$(grep -hs -E '^(URIs:|deb )' /etc/apt/sources.list /etc/apt/sources.list.d/*.sources \
              /etc/apt/sources.list.d/*.list 2>/dev/null |
          grep -v -e security -e updates | grep -o -E 'https?://[^ ]+/debian/?' | head -n1 || true)
    echo "${uri:-http://deb.debian.org/debian}"
}

make_rootfs() {
    if ! command -v debootstrap >/dev/null; then
        log "installation de debootstrap"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends debootstrap >/dev/null ||
            { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive \
                  apt-get install -y -q --no-install-recommends debootstrap >/dev/null; }
    fi
    local mirror root=$WORK/rootfs
    mirror=$(debian_mirror)
    log "debootstrap $SUITE ($PACKAGES) depuis $mirror : quelques minutes, une seule fois"
    if ! debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$root" "$mirror" \
            > "$WORK/debootstrap.log" 2>&1; then
        tail -n 20 "$WORK/debootstrap.log" >&2
        log "échec de debootstrap (journal ci-dessus)"
        exit 1
    fi
    # Smaller image: package caches, indexes, documentation and logs serve no test.
    rm -rf "$root"/var/cache/apt/* "$root"/var/lib/apt/lists/* "$root"/var/cache/debconf/*-old \
           "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/* \
           "$root"/tmp/* "$root"/var/tmp/*
    find "$root/var/log" -type f -delete
    # The package's postinst initialised a datadir: the entrypoint must find it empty to run its own
    # initialisation (root password, database, user) on a fresh volume.
    find "$root/var/lib/mysql" -mindepth 1 -delete
    # Host details copied by debootstrap; docker supplies its own at run time.
    : > "$root/etc/resolv.conf"
    echo localhost > "$root/etc/hostname"
    rm -f "$root/etc/machine-id"
    # Written next to its final name and renamed, so an interrupted build never leaves a truncated cache.
    tar -C "$root" --numeric-owner -cf "$ROOTFS_TARBALL.tmp" .
    mv "$ROOTFS_TARBALL.tmp" "$ROOTFS_TARBALL"
    rm -rf --one-file-system "$root"
}

if [ -s "$ROOTFS_TARBALL" ]; then
    log "système de fichiers Debian repris du cache $ROOTFS_TARBALL"
else
    make_rootfs
fi

# ---------------------------------------------------------------------------------------------------------
# eole-test/mariadb: the entrypoint mimics the official image (secrets read from files, first start
# initialises the datadir, then mariadbd runs as PID 1 so that `docker stop` shuts it down cleanly).
mkdir -p "$WORK/mariadb"
cat > "$WORK/mariadb/entrypoint" <<'ENTRYPOINT'
#!/bin/bash
# Entrypoint of the eole-test/mariadb image (test bench of eole-conteneurs), after the official image:
#   MARIADB_ROOT_PASSWORD_FILE  required, file holding root@localhost's password
#   MARIADB_DATABASE            optional, database created at the first start
#   MARIADB_USER                optional, user '<user>'@'%' with every right on that database
#   MARIADB_PASSWORD_FILE       file holding that user's password (required with MARIADB_USER)
# Passwords are read from files (mode 0444 root is fine: this runs as root), go to the server on stdin
# only, and are never printed.
set -euo pipefail
DATADIR=/var/lib/mysql

log() { echo "[entrypoint] $*" >&2; }
die() { log "$*"; exit 1; }

read_secret() {  # read_secret FILE — its content, trailing newlines removed (as `echo x > file` leaves one)
    [ -r "$1" ] || die "fichier secret illisible : $1"
    cat "$1"
}

sql_string() {  # a quoted SQL string literal
    local s=${1//\\/\\\\}
    s=${s//\'/\\\'}
    printf "'%s'" "$s"
}

sql_name() {  # a quoted SQL identifier
    printf '`%s`' "${1//\`/\`\`}"
}

[ -n "${MARIADB_ROOT_PASSWORD_FILE:-}" ] || die "MARIADB_ROOT_PASSWORD_FILE est obligatoire"
if [ -n "${MARIADB_USER:-}" ] && [ -z "${MARIADB_PASSWORD_FILE:-}" ]; then
    die "MARIADB_USER demande MARIADB_PASSWORD_FILE"
fi

# A fresh volume or tmpfs may come without the owner mariadbd (run as mysql) needs.
mkdir -p /run/mysqld "$DATADIR"
chown mysql:mysql /run/mysqld "$DATADIR"

if [ ! -d "$DATADIR/mysql" ]; then
    root_password=$(read_secret "$MARIADB_ROOT_PASSWORD_FILE")
    user_password=
    [ -z "${MARIADB_USER:-}" ] || user_password=$(read_secret "$MARIADB_PASSWORD_FILE")

    log "initialisation de $DATADIR"
    mariadb-install-db --user=mysql --datadir="$DATADIR" --skip-test-db >/dev/null

    # Temporary server without networking, on a socket of its own: nothing can connect before root has a
    # password, and the health command (`mariadb-admin ping`, default socket) fails until the real server.
    socket=/run/mysqld/init.sock
    mariadbd --user=mysql --datadir="$DATADIR" --skip-networking --socket="$socket" &
    pid=$!
    for _ in $(seq 120); do
        mariadb-admin --socket="$socket" ping --silent >/dev/null 2>&1 && break
        kill -0 "$pid" 2>/dev/null || die "le serveur temporaire s'est arrêté"
        sleep 0.5
    done
    mariadb-admin --socket="$socket" ping --silent >/dev/null 2>&1 ||
        die "le serveur temporaire ne répond pas"

    {
        # root keeps unix_socket (docker exec … mariadb works as the container's root) and gains the password.
        echo "ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket" \
             "OR mysql_native_password USING PASSWORD($(sql_string "$root_password"));"
        if [ -n "${MARIADB_DATABASE:-}" ]; then
            echo "CREATE DATABASE IF NOT EXISTS $(sql_name "$MARIADB_DATABASE");"
        fi
        if [ -n "${MARIADB_USER:-}" ]; then
            echo "CREATE USER $(sql_string "$MARIADB_USER")@'%' IDENTIFIED BY $(sql_string "$user_password");"
            if [ -n "${MARIADB_DATABASE:-}" ]; then
                echo "GRANT ALL ON $(sql_name "$MARIADB_DATABASE").* TO $(sql_string "$MARIADB_USER")@'%';"
            fi
        fi
    } | mariadb --protocol=socket --socket="$socket" -uroot ||
        { kill "$pid"; wait "$pid" || true; die "échec de l'initialisation"; }
    unset root_password user_password

    mariadb-admin --socket="$socket" -uroot shutdown
    wait "$pid" || true
    log "initialisation terminée"
fi

exec mariadbd --user=mysql --datadir="$DATADIR" --bind-address=0.0.0.0 --port=3306
ENTRYPOINT
# COPY keeps the context's modes (the legacy builder has no --chmod): set them here.
chmod 0755 "$WORK/mariadb/entrypoint"
cat > "$WORK/mariadb/Dockerfile" <<DOCKERFILE
FROM $BASE
COPY entrypoint /usr/local/bin/entrypoint
VOLUME ["/var/lib/mysql"]
EXPOSE 3306
CMD ["/usr/local/bin/entrypoint"]
DOCKERFILE

# ---------------------------------------------------------------------------------------------------------
# eole-test/appli: busybox httpd serving a CGI that talks to the database by host name over TCP, as a real
# application container would.
mkdir -p "$WORK/appli/www/cgi-bin"
cp /bin/busybox "$WORK/appli/busybox"
echo '<html><body><h1>appli eole-test</h1></body></html>' > "$WORK/appli/www/index.html"
cat > "$WORK/appli/www/cgi-bin/notes" <<'CGI'
#!/bin/sh
# Notes kept in MariaDB (test application of eole-conteneurs).
#   GET /cgi-bin/notes              the notes, one per line
#   GET /cgi-bin/notes?ajout=WORD   adds WORD ([A-Za-z0-9_-] only), then the notes
# Database from APPLI_DB_HOST (port 3306), APPLI_DB_NAME, APPLI_DB_USER, APPLI_DB_PASSWORD_FILE.
# The password goes to the client through MYSQL_PWD, never on a command line or in an answer.

# busybox httpd turns a leading "Status:" line into the HTTP status line.
fail() {  # fail "CODE REASON" MESSAGE
    printf 'Status: %s\r\nContent-Type: text/plain\r\n\r\n%s\n' "$1" "$2"
    exit 0
}

for variable in APPLI_DB_HOST APPLI_DB_NAME APPLI_DB_USER APPLI_DB_PASSWORD_FILE; do
    eval "value=\${$variable:-}"
    [ -n "$value" ] || fail "500 Internal Server Error" "variable $variable absente"
done
[ -r "$APPLI_DB_PASSWORD_FILE" ] ||
    fail "500 Internal Server Error" "fichier secret illisible : $APPLI_DB_PASSWORD_FILE"
password=$(cat "$APPLI_DB_PASSWORD_FILE")

sql="CREATE TABLE IF NOT EXISTS notes (id INT AUTO_INCREMENT PRIMARY KEY, texte VARCHAR(200));"
old_ifs=$IFS; IFS='&'
for parameter in ${QUERY_STRING:-}; do
    case $parameter in
        ajout=*)
            word=${parameter#ajout=}
            # Whitelisted characters only: the word then goes into SQL without any escaping.
            case $word in
                ''|*[!A-Za-z0-9_-]*) fail "400 Bad Request" "ajout refusé : lettres, chiffres, _ et - seulement" ;;
            esac
            [ ${#word} -le 200 ] || fail "400 Bad Request" "ajout refusé : 200 caractères au plus"
            sql="$sql INSERT INTO notes (texte) VALUES ('$word');"
            ;;
    esac
done
IFS=$old_ifs
sql="$sql SELECT texte FROM notes ORDER BY id;"

if notes=$(MYSQL_PWD=$password mariadb --protocol=tcp --host="$APPLI_DB_HOST" --port=3306 \
               --user="$APPLI_DB_USER" --database="$APPLI_DB_NAME" --connect-timeout=5 \
               --batch --skip-column-names --execute="$sql" 2>&1); then
    printf 'Content-Type: text/plain\r\n\r\n'
    [ -z "$notes" ] || printf '%s\n' "$notes"
else
    fail "500 Internal Server Error" "$notes"
fi
CGI
chmod 0755 "$WORK/appli/busybox" "$WORK/appli/www/cgi-bin/notes"
cat > "$WORK/appli/Dockerfile" <<DOCKERFILE
FROM $BASE
COPY busybox /bin/busybox
COPY www /www
EXPOSE 8080
# busybox httpd sets no SIGTERM handler, which PID 1 needs: without this every stop would wait the full
# timeout (10 s) before SIGKILL. It holds no state, so being killed at once loses nothing.
STOPSIGNAL SIGKILL
CMD ["busybox", "httpd", "-f", "-p", "8080", "-h", "/www"]
DOCKERFILE

log "construction des images eole-test/mariadb:10.11 (et :10.11-bis) et eole-test/appli:1"
# Images of a previous build (registry lost, recipe changed) would otherwise stay behind untagged.
previous=$($DOCKER image inspect -f '{{.Id}}' "$BASE" "$MARIADB:10.11" "$APPLI:1" 2>/dev/null || true)
# One import of the cached rootfs. An imported image has no environment: PATH is set explicitly so that
# any runtime resolves the commands the same way.
$DOCKER import -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    "$ROOTFS_TARBALL" "$BASE" >/dev/null
$DOCKER build -q -t "$MARIADB:10.11" "$WORK/mariadb" >/dev/null
$DOCKER tag "$MARIADB:10.11" "$MARIADB:10.11-bis"
$DOCKER build -q -t "$APPLI:1" "$WORK/appli" >/dev/null
for ref in "$MARIADB:10.11" "$MARIADB:10.11-bis" "$APPLI:1"; do
    $DOCKER push "$ref" >/dev/null
done
echo "$RECIPE" > "$STAMP"
# The base tag only served the two builds (the next build imports the tarball again); its layer stays,
# shared by the two images. An old image still used by a container is kept: rmi refuses it.
$DOCKER rmi "$BASE" >/dev/null
for image in $previous; do $DOCKER rmi "$image" >/dev/null 2>&1 || true; done
log "images eole-test poussées sur $REGISTRY en $((SECONDS - START)) s"
