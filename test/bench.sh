#!/usr/bin/env bash
# Benchmark: pool against dblink, measured with pgbench in one run on the same
# two clusters, printed as ratios against the goals of DESIGN.md.
#
#   test/bench.sh                    as root or as a user with sudo
#   BENCH_SECONDS=30 test/bench.sh   longer runs (default 10 s each)
#
# Every workload reaches the remote over TCP as a role with a SCRAM password,
# so both sides pay the same authentication when they connect.  The local
# cluster has pool preloaded (pool_size 4, max_overflow 0) and dblink.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SECONDS_EACH=${BENCH_SECONDS:-10}
WARMUP=2
REMOTE_PORT=${BENCH_REMOTE_PORT:-55433}
LOCAL_PORT=${BENCH_LOCAL_PORT:-55434}
ROWS=1000000
TARGET="host=127.0.0.1 port=$REMOTE_PORT dbname=app user=app password=secret"

pool_install_packages
say "building and installing pool"
BUILD=$(pool_build_copy)
as_root rm -rf "$BUILD"

DIR=$(mktemp -d "${TMPDIR:-/tmp}/pool-bench.XXXXXX")
if [ "$(id -u)" = 0 ]; then chown "$POOL_USER" "$DIR"; fi
cleanup() {
    local c
    for c in local remote; do
        [ -f "$DIR/$c/postmaster.pid" ] && as_user pg_ctl -D "$DIR/$c" -m immediate -w stop >/dev/null 2>&1
    done
    [ -n "${BENCH_KEEP:-}" ] || rm -rf "$DIR"
}
trap cleanup EXIT

say "starting the remote (port $REMOTE_PORT) and the local cluster (port $LOCAL_PORT)"
pool_cluster "$DIR/remote" "$REMOTE_PORT" "$DIR" "password_encryption = 'scram-sha-256'"
pool_cluster "$DIR/local" "$LOCAL_PORT" "$DIR" \
    "shared_preload_libraries = 'pool'" \
    "pool.pool_size = 4" \
    "pool.max_overflow = 0"
as_user psql -X -q -h "$DIR" -p "$REMOTE_PORT" -U postgres -d postgres \
    -c "CREATE ROLE app LOGIN PASSWORD 'secret'" -c "CREATE DATABASE app OWNER app"
as_user psql -X -q -h "$DIR" -p "$LOCAL_PORT" -U postgres -d postgres \
    -c "CREATE EXTENSION pool" -c "CREATE EXTENSION dblink"

local_sql() { as_user psql -X -q -At -h "$DIR" -p "$LOCAL_PORT" -U postgres -d postgres "$@"; }
remote_sql() { as_user psql -X -q -At -h "$DIR" -p "$REMOTE_PORT" -U postgres -d app "$@"; }

# pgbench scripts
write_script() {
    cat >"$DIR/$1.sql"
    if [ "$(id -u)" = 0 ]; then chown "$POOL_USER" "$DIR/$1.sql"; fi
}
write_script pool <<SQL
SELECT * FROM pool.query('$TARGET', 'SELECT 1') AS t(x int);
SQL
# pgbench variables live as long as the client: each connects once
write_script dblink_kept <<SQL
\if :connected = 0
SELECT dblink_connect('r', '$TARGET');
\set connected 1
\endif
SELECT * FROM dblink('r', 'SELECT 1') AS t(x int);
SQL
write_script dblink_per_call <<SQL
SELECT * FROM dblink('$TARGET', 'SELECT 1') AS t(x int);
SQL

# Remote backends serving one side (pool's connections show with
# application_name 'pool'), sampled every 0.2 s while pgbench runs.
sample_remote_connections() {
    local filter=$1 max=0 n
    sleep 1    # the warm-up's connections may still be closing
    while [ -f "$DIR/sampling" ]; do
        n=$(remote_sql -c "SELECT count(*) FROM pg_stat_activity WHERE datname = 'app' AND backend_type = 'client backend' AND pid <> pg_backend_pid() AND $filter" 2>/dev/null || echo 0)
        [ "$n" -gt "$max" ] && max=$n
        sleep 0.2
    done
    echo "$max" >"$DIR/max_connections"
}

# run_pgbench NAME CLIENTS -> sets LAT (ms), TPS, MAXCONN
run_pgbench() {
    local name=$1 clients=$2 out
    local args=(-n -h "$DIR" -p "$LOCAL_PORT" -U postgres -D connected=0
        -c "$clients" -j "$((clients > 1 ? 2 : 1))" -f "$DIR/$name.sql" postgres)
    as_user pgbench "${args[@]}" -T "$WARMUP" >/dev/null 2>&1
    touch "$DIR/sampling"
    if [ "$name" = pool ]; then
        sample_remote_connections "application_name = 'pool'" &
    else
        sample_remote_connections "application_name <> 'pool'" &
    fi
    out=$(as_user pgbench "${args[@]}" -T "$SECONDS_EACH" 2>&1)
    rm -f "$DIR/sampling"
    wait
    if ! grep -q 'number of failed transactions: 0 ' <<<"$out"; then
        echo "$out" >&2
        echo "pgbench run $name with $clients clients failed" >&2
        exit 1
    fi
    LAT=$(awk '/^latency average/ { print $4 }' <<<"$out")
    TPS=$(awk '/^tps/ { printf "%.0f", $3 }' <<<"$out")
    MAXCONN=$(cat "$DIR/max_connections")
    printf '  %-18s %2d clients: latency %8.3f ms  %9s tps  %3s remote connections\n' \
        "$name" "$clients" "$LAT" "$TPS" "$MAXCONN"
}

say "1 client, SELECT 1 on the remote (${SECONDS_EACH} s each)"
run_pgbench pool 1;            POOL1_LAT=$LAT
run_pgbench dblink_kept 1;     KEPT1_LAT=$LAT
run_pgbench dblink_per_call 1; CALL1_LAT=$LAT

say "16 clients (${SECONDS_EACH} s each)"
run_pgbench pool 16;            POOL16_TPS=$TPS; POOL16_CONN=$MAXCONN
run_pgbench dblink_kept 16;     KEPT16_TPS=$TPS; KEPT16_CONN=$MAXCONN
run_pgbench dblink_per_call 16; CALL16_TPS=$TPS

# 1,000,000 rows of (int, text): best of three, with the memory of the
# backend and of the worker sampled during the pool runs.
WORKER_PID=$(local_sql -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pool worker'")
rss_anon() { awk '/^RssAnon:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
# peak NAME KB: keep the largest value seen in $DIR/peak.NAME
peak() {
    local old
    old=$(cat "$DIR/peak.$1" 2>/dev/null || echo 0)
    if [ "${2:-0}" -gt "$old" ]; then echo "$2" >"$DIR/peak.$1"; fi
}

time_rows() {
    local how=$1 best="" i t0 t1 ms sql pidfile
    if [ "$how" = pool ]; then
        sql="SELECT count(*), sum(length(t)) FROM pool.query('$TARGET', 'SELECT g, md5(g::text) FROM generate_series(1, $ROWS) g') AS r(i int, t text)"
    else
        sql="SELECT count(*), sum(length(t)) FROM dblink('$TARGET', 'SELECT g, md5(g::text) FROM generate_series(1, $ROWS) g') AS r(i int, t text)"
    fi
    for i in 1 2 3; do
        pidfile="$DIR/backend.pid"
        rm -f "$pidfile"
        t0=$(date +%s%N)
        # the backend writes its pid, then runs the statement
        local_sql -c "SELECT pg_backend_pid()" -o "$pidfile" -c "$sql" >/dev/null &
        local job=$! bpid=""
        while kill -0 "$job" 2>/dev/null; do
            [ -z "$bpid" ] && [ -s "$pidfile" ] && bpid=$(head -1 "$pidfile")
            if [ "$how" = pool ]; then
                peak worker "$(rss_anon "$WORKER_PID")"
                [ -n "$bpid" ] && peak backend "$(rss_anon "$bpid")"
            fi
            sleep 0.05
        done
        wait "$job"
        t1=$(date +%s%N)
        ms=$(( (t1 - t0) / 1000000 ))
        if [ -z "$best" ] || [ "$ms" -lt "$best" ]; then best=$ms; fi
    done
    echo "$best"
}

say "$ROWS rows (int, text), best of 3"
WORKER_BEFORE=$(rss_anon "$WORKER_PID")
POOL_ROWS_MS=$(time_rows pool)
DBLINK_ROWS_MS=$(time_rows dblink)
WORKER_AFTER=$(rss_anon "$WORKER_PID")
printf '  pool   %6d ms\n  dblink %6d ms\n' "$POOL_ROWS_MS" "$DBLINK_ROWS_MS"

# ratio A B -> A/B with two decimals
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "inf"; else printf "%.2f", a / b }'; }
met() { awk -v r="$1" -v op="$2" -v g="$3" 'BEGIN { if ((op == "<=" && r <= g) || (op == ">=" && r >= g)) print "yes"; else print "no" }'; }

r1=$(ratio "$POOL1_LAT" "$KEPT1_LAT")
r2=$(ratio "$CALL1_LAT" "$POOL1_LAT")
r3=$(ratio "$POOL16_TPS" "$KEPT16_TPS")
r4=$(ratio "$POOL16_TPS" "$CALL16_TPS")
r5=$(ratio "$POOL_ROWS_MS" "$DBLINK_ROWS_MS")

say "results"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(as_user postgres --version), $(date -u '+%Y-%m-%d')"
echo "each pgbench run ${SECONDS_EACH} s after ${WARMUP} s of warm-up; remote over TCP with SCRAM"
echo
printf '| %-40s | %-30s | %11s | %11s | %8s | %9s | %-4s |\n' workload reference pool reference ratio goal met
printf '|%s|%s|%s|%s|%s|%s|%s|\n' ------------------------------------------ -------------------------------- ------------- ------------- ---------- ----------- ------
printf '| %-40s | %-30s | %11s | %11s | %7sx | %9s | %-4s |\n' \
    "1 client SELECT 1, latency (ms)" "dblink, kept connection" "$POOL1_LAT" "$KEPT1_LAT" "$r1" "<= 1.20x" "$(met "$r1" '<=' 1.2)"
printf '| %-40s | %-30s | %11s | %11s | %7sx | %9s | %-4s |\n' \
    "1 client SELECT 1, speed-up (latency)" "dblink, connect per call" "$POOL1_LAT" "$CALL1_LAT" "$r2" "" ""
printf '| %-40s | %-30s | %11s | %11s | %7sx | %9s | %-4s |\n' \
    "16 clients, pool of 4, throughput (tps)" "dblink, 16 kept connections" "$POOL16_TPS" "$KEPT16_TPS" "$r3" ">= 0.80x" "$(met "$r3" '>=' 0.8)"
printf '| %-40s | %-30s | %11s | %11s | %8s | %9s | %-4s |\n' \
    "16 clients, remote connections" "dblink, 16 kept connections" "$POOL16_CONN" "$KEPT16_CONN" "" "4x fewer" "$( [ "$POOL16_CONN" -le 4 ] && [ "$KEPT16_CONN" -ge 16 ] && echo yes || echo no)"
printf '| %-40s | %-30s | %11s | %11s | %7sx | %9s | %-4s |\n' \
    "16 clients, throughput (tps)" "dblink, connect per call" "$POOL16_TPS" "$CALL16_TPS" "$r4" ">= 50x" "$(met "$r4" '>=' 50)"
printf '| %-40s | %-30s | %11s | %11s | %7sx | %9s | %-4s |\n' \
    "1,000,000 rows (int, text), time (ms)" "dblink" "$POOL_ROWS_MS" "$DBLINK_ROWS_MS" "$r5" "<= 1.20x" "$(met "$r5" '<=' 1.2)"
echo
echo "memory during the 1,000,000-row pool runs (RssAnon): worker peak $(cat "$DIR/peak.worker") kB" \
    "(${WORKER_BEFORE} kB before, ${WORKER_AFTER} kB after), backend peak $(cat "$DIR/peak.backend" 2>/dev/null || echo '?') kB"
