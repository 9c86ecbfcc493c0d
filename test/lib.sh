# Shared by test/check.sh, test/demo.sh and test/bench.sh: installing what is
# missing, building, and running PostgreSQL as an unprivileged user.
#
# PostgreSQL refuses to run as root.  Started as root, these scripts run the
# servers and the tests as the "postgres" user of Debian's packages;
# started as anyone else, as that user, with sudo for installing.

set -euo pipefail
# errors in $(...) stop the script too (bash 4.4)
shopt -s inherit_errexit

POOL_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
POOL_PATH0=$PATH

# The majors the scripts know: 15 is Debian 12's package, 18 is built from
# Debian's source package of sid (test/pgbuild.sh) and cached on the
# machine.  pool_use_major picks one; 15 until then.
POOL_KNOWN_MAJORS="15 18"
PG_MAJOR=15
PG_BIN=/usr/lib/postgresql/15/bin
PG_CONFIG=$PG_BIN/pg_config
export PATH="$PG_BIN:$POOL_PATH0"

# Packages the scripts need; the server, its headers and its client must be
# of the same minor version, or a module built against newer headers may fail
# to load into an older server.
POOL_PG_PACKAGES="postgresql-15 postgresql-server-dev-15 postgresql-client-15"
POOL_OTHER_PACKAGES="libipc-run-perl make gcc perl"

say() { printf '\n== %s\n' "$*"; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

pool_installed_version() {
    # dpkg-query fails for a package it has never seen: that means missing
    { dpkg-query -W -f='${Status} ${Version}' "$1" 2>/dev/null || true; } |
        awk '$3 == "installed" { print $4 }'
}

# Install what is missing, keeping server and headers at one version.
pool_install_packages() {
    local missing="" p v server_v dev_v client_v
    for p in $POOL_OTHER_PACKAGES ${POOL_EXTRA_PACKAGES:-}; do
        v=$(pool_installed_version "$p")
        [ -n "$v" ] || missing="$missing $p"
    done
    server_v=$(pool_installed_version "postgresql-15")
    dev_v=$(pool_installed_version "postgresql-server-dev-15")
    client_v=$(pool_installed_version "postgresql-client-15")
    if [ -z "$server_v" ] || [ "$server_v" != "$dev_v" ] || [ "$server_v" != "$client_v" ]; then
        missing="$missing $POOL_PG_PACKAGES"
    fi
    if [ -n "$missing" ]; then
        say "installing:$missing"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
    fi
    server_v=$(pool_installed_version "postgresql-15")
    dev_v=$(pool_installed_version "postgresql-server-dev-15")
    if [ "$server_v" != "$dev_v" ]; then
        echo "postgresql-15 ($server_v) and postgresql-server-dev-15 ($dev_v) differ" >&2
        exit 1
    fi
}

# Build and test against PostgreSQL major $1 from here on: 15 from Debian's
# packages (installed if missing), 18 built from source (built once, then
# taken from the cache; rebuilt when sid has a new version).  Sets PG_MAJOR,
# PG_BIN, PG_CONFIG and PATH.
pool_use_major() {
    case "$1" in
        15)
            PG_BIN=/usr/lib/postgresql/15/bin
            ;;
        18)
            # shellcheck source=test/pgbuild.sh
            source "$POOL_ROOT/test/pgbuild.sh"
            local pg_config
            pg_config=$(pool_pg18_build)
            PG_BIN=${pg_config%/*}
            ;;
        *)
            echo "PostgreSQL $1 is not one of the majors the tests run on ($POOL_KNOWN_MAJORS)" >&2
            exit 2
            ;;
    esac
    PG_MAJOR=$1
    PG_CONFIG=$PG_BIN/pg_config
    export PATH="$PG_BIN:$POOL_PATH0"
}

# The user that runs PostgreSQL.
if [ "$(id -u)" = 0 ]; then
    POOL_USER=${POOL_USER:-postgres}
else
    POOL_USER=$(id -un)
fi

# Run a command as POOL_USER.
as_user() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u "$POOL_USER" -- env PATH="$PATH" HOME="$(getent passwd "$POOL_USER" | cut -d: -f6)" "$@"
    else
        "$@"
    fi
}

# Copy the source tree (without .git and build products) into a fresh
# directory owned by POOL_USER, build and install it there; prints the
# directory.
pool_build_copy() {
    local dir
    dir=$(mktemp -d "${TMPDIR:-/tmp}/pool-build.XXXXXX")
    tar -C "$POOL_ROOT" --exclude=.git --exclude='*.o' --exclude='*.so' \
        --exclude='*.bc' --exclude=results --exclude=tmp_check \
        --exclude=tmp_check_regress -cf - . | tar -C "$dir" -xf -
    if [ "$(id -u)" = 0 ]; then chown -R "$POOL_USER" "$dir"; fi
    as_user make -s -C "$dir" PG_CONFIG="$PG_CONFIG" >&2 || return 1
    as_root make -s -C "$dir" PG_CONFIG="$PG_CONFIG" install >&2 || return 1
    echo "$dir"
}

# Wait until a server answers.
pool_wait_ready() {
    local host=$1 port=$2 i
    for i in $(seq 1 100); do
        if as_user pg_isready -q -h "$host" -p "$port"; then return 0; fi
        sleep 0.1
    done
    echo "server on $host:$port did not start" >&2
    return 1
}

# Start a throwaway cluster: pool_cluster DIR PORT SOCKDIR [conf lines...]
pool_cluster() {
    local dir=$1 port=$2 sockdir=$3
    shift 3
    as_user initdb -D "$dir" -A trust --auth-host=scram-sha-256 -U postgres >/dev/null
    {
        echo "port = $port"
        echo "listen_addresses = '127.0.0.1'"
        echo "unix_socket_directories = '$sockdir'"
        echo "max_connections = 200"
        for line in "$@"; do echo "$line"; done
    } | as_user tee -a "$dir/postgresql.conf" >/dev/null
    as_user pg_ctl -D "$dir" -l "$dir/server.log" -w start >/dev/null
    pool_wait_ready "$sockdir" "$port"
}
