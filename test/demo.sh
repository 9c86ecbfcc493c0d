#!/usr/bin/env bash
# Set everything up and show pool at work:
#
#   test/demo.sh          install what is missing, build and install pool,
#                         start a remote cluster and a local one with pool
#                         preloaded, run a short demonstration, and leave both
#                         running
#   test/demo.sh stop     stop both clusters and remove them
#
# Run as root or as a user with sudo.  POOL_DEMO_DIR (default /tmp/pool-demo),
# POOL_DEMO_LOCAL_PORT (5434) and POOL_DEMO_REMOTE_PORT (5433) move it;
# POOL_PG_MAJOR=18 runs it on PostgreSQL 18 (built from source the first
# time, as for the tests) instead of 15.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DIR=${POOL_DEMO_DIR:-/tmp/pool-demo}
LOCAL_PORT=${POOL_DEMO_LOCAL_PORT:-5434}
REMOTE_PORT=${POOL_DEMO_REMOTE_PORT:-5433}
TARGET="host=127.0.0.1 port=$REMOTE_PORT dbname=app user=app password=secret"

stop_clusters() {
    local c
    for c in local remote; do
        if [ -f "$DIR/$c/postmaster.pid" ]; then
            as_user pg_ctl -D "$DIR/$c" -m fast -w stop >/dev/null || true
        fi
    done
    as_root rm -rf "$DIR"
}

if [ "${1:-}" = stop ]; then
    stop_clusters
    echo "stopped and removed $DIR"
    exit 0
fi

local_psql() { as_user psql -X -q -h "$DIR" -p "$LOCAL_PORT" -U postgres "$@"; }
remote_psql() { as_user psql -X -q -h "$DIR" -p "$REMOTE_PORT" -U postgres "$@"; }

pool_install_packages
pool_use_major "${POOL_PG_MAJOR:-15}"

say "building and installing pool for PostgreSQL $PG_MAJOR"
BUILD=$(pool_build_copy)
as_root rm -rf "$BUILD"

say "starting a remote cluster (port $REMOTE_PORT) and a local one with pool (port $LOCAL_PORT) in $DIR"
stop_clusters
as_root mkdir -p "$DIR"
if [ "$(id -u)" = 0 ]; then chown "$POOL_USER" "$DIR"; fi
pool_cluster "$DIR/remote" "$REMOTE_PORT" "$DIR" "password_encryption = 'scram-sha-256'"
pool_cluster "$DIR/local" "$LOCAL_PORT" "$DIR" \
    "shared_preload_libraries = 'pool'" \
    "pool.pool_size = 4" \
    "pool.max_overflow = 0"

remote_psql -d postgres <<'SQL'
CREATE ROLE app LOGIN PASSWORD 'secret';
CREATE DATABASE app OWNER app;
SQL
remote_psql -d app <<'SQL'
SET ROLE app;
CREATE TABLE items (id int PRIMARY KEY, name text, price numeric);
INSERT INTO items SELECT g, 'item ' || g, g * 2.5 FROM generate_series(1, 1000) g;
SQL
local_psql -d postgres -c 'CREATE EXTENSION pool'

say "one query, typed by a column definition list, with a parameter out of band"
local_psql -d postgres -e <<SQL
SELECT * FROM pool.query('$TARGET',
                         'SELECT id, name FROM items WHERE id > \$1 ORDER BY id LIMIT 3', '10')
         AS t(id int, name text);
SELECT pool.exec('$TARGET', 'UPDATE items SET name = \$1 WHERE id = \$2', 'renamed', '3');
SQL

say "the same remote as a foreign server: options on the server, the password in a user mapping"
local_psql -d postgres -e <<SQL
CREATE SERVER demo_remote FOREIGN DATA WRAPPER pool
    OPTIONS (host '127.0.0.1', port '$REMOTE_PORT', dbname 'app', pool_size '2');
CREATE USER MAPPING FOR PUBLIC SERVER demo_remote OPTIONS (user 'app', password 'secret');
SELECT * FROM pool.query('demo_remote', 'SELECT count(*) FROM items') AS t(n bigint);
SQL

say "roles that are not superusers: a server they have USAGE on, or connection strings with USAGE on the wrapper"
local_psql -d postgres -e <<SQL
CREATE ROLE analyst LOGIN;
GRANT USAGE ON FOREIGN SERVER demo_remote TO analyst;
CREATE ROLE etl LOGIN;
GRANT USAGE ON FOREIGN DATA WRAPPER pool TO etl;
SQL
as_user psql -X -q -h "$DIR" -p "$LOCAL_PORT" -U analyst -d postgres -e <<SQL || true
SELECT * FROM pool.query('demo_remote', 'SELECT current_user, count(*) FROM items') AS t(remote_user text, n bigint);
SELECT * FROM pool.query('$TARGET', 'SELECT 1') AS t(x int);   -- refused: no USAGE on the wrapper
SQL
as_user psql -X -q -h "$DIR" -p "$LOCAL_PORT" -U etl -d postgres -e <<SQL
SELECT * FROM pool.query('$TARGET', 'SELECT current_user') AS t(remote_user text);
SQL

say "dblink's interface on the same pools: pool_dblink"
local_psql -d postgres -e <<SQL
CREATE EXTENSION pool_dblink;
SELECT * FROM dblink('demo_remote', 'SELECT id, name FROM items ORDER BY id LIMIT 2') AS t(id int, name text);
SELECT dblink_connect('kept', 'demo_remote');
SELECT dblink_exec('kept', 'BEGIN');
SELECT dblink_exec('kept', 'UPDATE items SET price = price WHERE id = 1');
SELECT connection_id, state, holder_pid = pg_backend_pid() AS held_here FROM pool.connections WHERE handle IS NOT NULL;
SELECT dblink_exec('kept', 'COMMIT');
SELECT dblink_disconnect('kept');
SQL

say "16 local sessions run 4,000 pooled queries at once"
cat >"$DIR/demo.pgbench" <<SQL
\set id random(1, 1000)
SELECT * FROM pool.query('$TARGET', 'SELECT name FROM items WHERE id = \$1', :id::text) AS t(name text);
SQL
if [ "$(id -u)" = 0 ]; then chown "$POOL_USER" "$DIR/demo.pgbench"; fi
as_user pgbench -n -h "$DIR" -p "$LOCAL_PORT" -U postgres -c 16 -j 2 -t 250 \
    -f "$DIR/demo.pgbench" postgres | grep -E 'clients|processed|failed|latency average|tps'

say "what the remote saw: the 16 sessions shared this many connections"
remote_psql -d app -c "SELECT count(*) AS remote_connections_from_pool FROM pg_stat_activity WHERE application_name = 'pool'"

say "pool.stats (one row per pool) and pool.connections (one row per connection)"
local_psql -d postgres -x -c "SELECT * FROM pool.stats"
local_psql -d postgres -c "SELECT connection_id, state, holder_pid, remote_pid, remote_host, remote_port, uses, left(query, 40) AS last_query FROM pool.connections"

cat <<EOF

Both clusters are running.
  local, with pool:  $( [ "$(id -u)" = 0 ] && echo "runuser -u $POOL_USER -- " )psql -h $DIR -p $LOCAL_PORT -U postgres postgres
  remote:            psql "$TARGET"
  a pooled query:    SELECT * FROM pool.query('demo_remote', 'SELECT now()') AS t(now timestamptz);
  (or with a connection string: pool.query('$TARGET', ...))
Stop and remove both: $0 stop
EOF
