#!/usr/bin/env bash
# Benchmark: pool against dblink, measured with pgbench in one run on the same
# two throwaway clusters, printed as ratios against the performance goals.
#
#   test/bench.sh                   as root or as a user with sudo
#   BENCH_SECONDS=3 test/bench.sh   a quick run (default 10 s per pgbench run;
#                                   the whole run takes about 1.5 minutes)
#
# BENCH_REMOTE_PORT (default 55433) and BENCH_LOCAL_PORT (55434) move the
# clusters; BENCH_KEEP=1 leaves them running and keeps their directory.
#
# Every workload reaches the remote over TCP as a role with a SCRAM password,
# so pool and dblink pay the same authentication when they connect.  The
# local cluster has pool preloaded (pool_size 4, max_overflow 0) and dblink.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SECONDS_EACH=${BENCH_SECONDS:-10}
WARMUP=2
REMOTE_PORT=${BENCH_REMOTE_PORT:-55433}
LOCAL_PORT=${BENCH_LOCAL_PORT:-55434}
ROWS=1000000
SAMPLE_EVERY=0.2
TARGET="host=127.0.0.1 port=$REMOTE_PORT dbname=app user=app password=secret"

case $SECONDS_EACH in
    '' | *[!0-9]* | 0) echo "BENCH_SECONDS must be a whole number of seconds, at least 1" >&2; exit 2 ;;
esac
keep() { case ${BENCH_KEEP:-0} in '' | 0) return 1 ;; *) return 0 ;; esac; }
fail() { echo "bench: $*" >&2; exit 1; }

pool_install_packages
say "building and installing pool"
BUILD=$(pool_build_copy)
as_root rm -rf "$BUILD"

for port in "$REMOTE_PORT" "$LOCAL_PORT"; do
    rc=0
    as_user pg_isready -q -t 2 -h 127.0.0.1 -p "$port" || rc=$?
    # 0: accepting, 1: rejecting; either way a server is there already
    [ "$rc" -ge 2 ] || fail "port $port is taken; set BENCH_REMOTE_PORT / BENCH_LOCAL_PORT"
done

DIR=$(mktemp -d "${TMPDIR:-/tmp}/pool-bench.XXXXXX")
if [ "$(id -u)" = 0 ]; then chown "$POOL_USER" "$DIR"; fi

cleanup() {
    local rc=$? c
    set +e
    # the sampling session ends when its input closes
    [ -n "${SAMPLER_IN:-}" ] && exec {SAMPLER_IN}>&-
    case $rc in
        0 | 129 | 130 | 143) ;;    # done, or interrupted
        *)
            for c in remote local; do
                [ -f "$DIR/$c/server.log" ] || continue
                say "end of the $c server's log" >&2
                tail -n 20 "$DIR/$c/server.log" >&2
            done
            ;;
    esac
    if keep; then
        say "kept (BENCH_KEEP): $DIR"
        echo "local:  psql -h $DIR -p $LOCAL_PORT -U postgres postgres"
        echo "remote: psql -h $DIR -p $REMOTE_PORT -U postgres app"
        echo "stop:   for c in local remote; do pg_ctl -D $DIR/\$c stop; done; rm -rf $DIR"
        return
    fi
    for c in local remote; do
        [ -f "$DIR/$c/postmaster.pid" ] || continue
        as_user pg_ctl -D "$DIR/$c" -m fast -t 30 -w stop >/dev/null 2>&1 ||
            as_user pg_ctl -D "$DIR/$c" -m immediate -w stop >/dev/null 2>&1
    done
    rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

say "starting a remote (port $REMOTE_PORT) and a local cluster (port $LOCAL_PORT) in $DIR"
# A function called with a redirection (as pool_cluster does inside) keeps
# it while a signal's trap runs; in a subshell, the trap's output stays ours.
(pool_cluster "$DIR/remote" "$REMOTE_PORT" "$DIR" "password_encryption = 'scram-sha-256'")
(pool_cluster "$DIR/local" "$LOCAL_PORT" "$DIR" \
    "shared_preload_libraries = 'pool'" \
    "pool.pool_size = 4" \
    "pool.max_overflow = 0")

local_sql() { as_user psql -X -q -At -v ON_ERROR_STOP=1 -h "$DIR" -p "$LOCAL_PORT" -U postgres -d postgres "$@"; }
remote_sql() { as_user psql -X -q -At -v ON_ERROR_STOP=1 -h "$DIR" -p "$REMOTE_PORT" -U postgres "$@"; }

remote_sql -d postgres -c "CREATE ROLE app LOGIN PASSWORD 'secret'" -c "CREATE DATABASE app OWNER app"
local_sql -c "CREATE EXTENSION pool" -c "CREATE EXTENSION dblink"
# both reach the remote, or stop here with their error
[ "$(local_sql -c "SELECT x FROM pool.query('$TARGET', 'SELECT 1') AS t(x int)")" = 1 ] ||
    fail "pool.query does not reach the remote"
[ "$(local_sql -c "SELECT x FROM dblink('$TARGET', 'SELECT 1') AS t(x int)")" = 1 ] ||
    fail "dblink does not reach the remote"

# The remote's connections are counted by one session kept open for the whole
# run (a new session per sample would cost the remote a fork each time).
# Pool's connections show there with application_name 'pool', dblink's
# without; pool keeps its connections open while dblink runs, so each side
# counts only its own.
coproc SAMPLER { as_user psql -X -q -At -h "$DIR" -p "$REMOTE_PORT" -U postgres -d app 2>"$DIR/sampler.err"; }
SAMPLER_IN=${SAMPLER[1]}
SAMPLER_OUT=${SAMPLER[0]}
# remote_count FILTER: sets COUNT to the remote's client backends of app
remote_count() {
    local line=""
    printf "SELECT count(*) FROM pg_stat_activity WHERE datname = 'app' AND backend_type = 'client backend' AND pid <> pg_backend_pid() AND %s;\n" \
        "$1" >&"$SAMPLER_IN"
    IFS= read -r -t 10 line <&"$SAMPLER_OUT" || true
    case $line in
        '' | *[!0-9]*) cat "$DIR/sampler.err" >&2; fail "counting the remote's connections failed" ;;
    esac
    COUNT=$line
}
DBLINK_FILTER="application_name <> 'pool'"
POOL_FILTER="application_name = 'pool'"

# Before a measured run, let the remote backends of the run before exit, so
# they neither use the CPU nor add to the count.
wait_remote_quiet() {
    local i
    for i in $(seq 1 100); do
        remote_count "$DBLINK_FILTER"
        [ "$COUNT" = 0 ] && return 0
        sleep 0.1
    done
    echo "warning: $COUNT dblink connections still open on the remote" >&2
}

# pgbench scripts
write_script() {
    cat >"$DIR/$1.sql"
    if [ "$(id -u)" = 0 ]; then chown "$POOL_USER" "$DIR/$1.sql"; fi
}
write_script pool <<SQL
SELECT * FROM pool.query('$TARGET', 'SELECT 1') AS t(x int);
SQL
# pgbench variables last as long as the client: each client connects once
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

# run_pgbench NAME CLIENTS: a warm-up run, then the measured one while the
# remote's connections are counted; sets LAT (ms), TPS and MAXCONN
run_pgbench() {
    local name=$1 clients=$2 filter=$DBLINK_FILTER job rc=0 out
    local args=(-n -h "$DIR" -p "$LOCAL_PORT" -U postgres -D connected=0
        -c "$clients" -j "$((clients > 1 ? 2 : 1))" -f "$DIR/$name.sql" postgres)
    [ "$name" = pool ] && filter=$POOL_FILTER

    (as_user pgbench "${args[@]}" -T "$WARMUP") >"$DIR/pgbench.out" 2>&1 || rc=$?
    [ "$rc" = 0 ] || { cat "$DIR/pgbench.out" >&2; fail "warm-up of $name with $clients clients failed"; }
    wait_remote_quiet

    MAXCONN=0
    as_user pgbench "${args[@]}" -T "$SECONDS_EACH" >"$DIR/pgbench.out" 2>&1 &
    job=$!
    while kill -0 "$job" 2>/dev/null; do
        remote_count "$filter"
        if [ "$COUNT" -gt "$MAXCONN" ]; then MAXCONN=$COUNT; fi
        sleep "$SAMPLE_EVERY"
    done
    wait "$job" || rc=$?
    out=$(cat "$DIR/pgbench.out")
    if [ "$rc" != 0 ] || ! grep -q '^number of failed transactions: 0 ' <<<"$out"; then
        echo "$out" >&2
        fail "pgbench run of $name with $clients clients failed"
    fi
    LAT=$(awk '/^latency average = / { print $4 }' <<<"$out")
    TPS=$(awk '/^tps = / { printf "%.0f", $3 }' <<<"$out")
    if [ -z "$LAT" ] || [ -z "$TPS" ]; then
        echo "$out" >&2
        fail "no latency or tps in pgbench's output"
    fi
    printf '  %-16s %2d clients: latency %8s ms %8s tps  %3s remote connections at most\n' \
        "$name" "$clients" "$LAT" "$TPS" "$MAXCONN"
}

say "1 client, SELECT 1 on the remote (${SECONDS_EACH} s each, after ${WARMUP} s of warm-up)"
run_pgbench pool 1;            POOL1_LAT=$LAT
run_pgbench dblink_kept 1;     KEPT1_LAT=$LAT
run_pgbench dblink_per_call 1; CALL1_LAT=$LAT

say "16 clients, SELECT 1 on the remote (${SECONDS_EACH} s each, after ${WARMUP} s of warm-up)"
run_pgbench pool 16;            POOL16_TPS=$TPS; POOL16_CONN=$MAXCONN
run_pgbench dblink_kept 16;     KEPT16_TPS=$TPS; KEPT16_CONN=$MAXCONN
run_pgbench dblink_per_call 16; CALL16_TPS=$TPS

# 1,000,000 rows of (int, text), best of three, timed by psql's \timing.
# During the pool runs the anonymous memory of the worker and of the backend
# running the query is sampled; the backend's psql writes its pid first.
WORKER_PID=$(local_sql -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pool worker' ORDER BY pid LIMIT 1")
[ -n "$WORKER_PID" ] || fail "no pool worker in pg_stat_activity"
rss_anon() { awk '/^RssAnon:/ { print $2; found = 1 } END { if (!found) print 0 }' "/proc/$1/status" 2>/dev/null || echo 0; }
WORKER_PEAK=0
BACKEND_PEAK=0

# time_rows FUNCTION: sets BEST (s)
time_rows() {
    local fn=$1 i job bpid rss ms rc
    local sql="SELECT count(*), sum(length(t)) FROM $fn('$TARGET', 'SELECT g, md5(g::text) FROM generate_series(1, $ROWS) g') AS r(i int, t text)"
    BEST=""
    for i in 1 2 3; do
        rm -f "$DIR/rows.out" "$DIR/rows.time"
        local_sql -o "$DIR/rows.out" -c "SELECT pg_backend_pid()" -c '\timing on' -c "$sql" \
            >"$DIR/rows.time" 2>&1 &
        job=$!
        bpid=""
        while kill -0 "$job" 2>/dev/null; do
            if [ "$fn" = pool.query ]; then
                [ -z "$bpid" ] && [ -s "$DIR/rows.out" ] && bpid=$(head -n 1 "$DIR/rows.out")
                rss=$(rss_anon "$WORKER_PID")
                if [ "$rss" -gt "$WORKER_PEAK" ]; then WORKER_PEAK=$rss; fi
                if [ -n "$bpid" ]; then
                    rss=$(rss_anon "$bpid")
                    if [ "$rss" -gt "$BACKEND_PEAK" ]; then BACKEND_PEAK=$rss; fi
                fi
            fi
            sleep "$SAMPLE_EVERY"
        done
        rc=0
        wait "$job" || rc=$?
        if [ "$rc" != 0 ] || [ "$(sed -n 2p "$DIR/rows.out")" != "$ROWS|$((ROWS * 32))" ]; then
            cat "$DIR/rows.time" "$DIR/rows.out" >&2
            fail "the $ROWS-row query through $fn failed"
        fi
        ms=$(awk '/^Time: / { t = $2 } END { print t }' "$DIR/rows.time")
        [ -n "$ms" ] || { cat "$DIR/rows.time" >&2; fail "no time from psql"; }
        if [ -z "$BEST" ] || awk -v a="$ms" -v b="$BEST" 'BEGIN { exit !(a < b) }'; then BEST=$ms; fi
        printf '  %-11s run %d: %9.3f s\n' "$fn" "$i" "$(awk -v m="$ms" 'BEGIN { print m / 1000 }')"
    done
    BEST=$(awk -v m="$BEST" 'BEGIN { printf "%.3f", m / 1000 }')
}

say "$ROWS rows (int, text) through the remote, best of 3"
WORKER_BEFORE=$(rss_anon "$WORKER_PID")
time_rows pool.query; POOL_ROWS_S=$BEST
WORKER_AFTER=$(rss_anon "$WORKER_PID")
time_rows dblink;     DBLINK_ROWS_S=$BEST
if [ "$BACKEND_PEAK" = 0 ]; then BACKEND_PEAK="?"; fi

# ratio A B: A/B unrounded; fmt: two decimals; met R OP GOAL: yes or no
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "inf"; else printf "%.6f", a / b }'; }
fmt() { awk -v r="$1" 'BEGIN { if (r == "inf") print r; else printf "%.2fx", r }'; }
met() {
    awk -v r="$1" -v op="$2" -v g="$3" 'BEGIN {
        if (r == "inf") ok = (op == ">=")
        else ok = (op == "<=" && r + 0 <= g + 0) || (op == ">=" && r + 0 >= g + 0)
        print ok ? "yes" : "no" }'
}

LAT_KEPT=$(ratio "$POOL1_LAT" "$KEPT1_LAT")
LAT_CALL=$(ratio "$CALL1_LAT" "$POOL1_LAT")
TPS_KEPT=$(ratio "$POOL16_TPS" "$KEPT16_TPS")
TPS_CALL=$(ratio "$POOL16_TPS" "$CALL16_TPS")
CONN=$(ratio "$KEPT16_CONN" "$POOL16_CONN")
ROWS_RATIO=$(ratio "$POOL_ROWS_S" "$DBLINK_ROWS_S")
# the pool must have been seen at work, on no more than pool_size connections
if [ "$POOL16_CONN" -ge 1 ] && [ "$POOL16_CONN" -le 4 ]; then CONN_MET=yes; else CONN_MET=no; fi

say "results"
echo "machine:    $(nproc) CPUs, $(grep -m 1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
echo "PostgreSQL: $(postgres --version)"
echo "date:       $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "runs:       pgbench ${SECONDS_EACH} s each after ${WARMUP} s of warm-up; remote over TCP (127.0.0.1) with SCRAM"
echo
row() { printf '| %-38s | %-28s | %9s | %9s | %-13s | %-11s | %-4s |\n' "$@"; }
row workload reference pool reference ratio goal met
printf '|%s|%s|%s|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..40})" "$(printf -- '-%.0s' {1..30})" \
    "$(printf -- '-%.0s' {1..11})" "$(printf -- '-%.0s' {1..11})" "$(printf -- '-%.0s' {1..15})" \
    "$(printf -- '-%.0s' {1..13})" "$(printf -- '-%.0s' {1..6})"
row "1 client SELECT 1, latency (ms)" "dblink, kept connection" \
    "$POOL1_LAT" "$KEPT1_LAT" "$(fmt "$LAT_KEPT")" "<= 1.20x" "$(met "$LAT_KEPT" '<=' 1.2)"
row "1 client SELECT 1, latency (ms)" "dblink, connect per call" \
    "$POOL1_LAT" "$CALL1_LAT" "$(fmt "$LAT_CALL") faster" "" ""
row "16 clients, throughput (tps)" "dblink, 16 kept connections" \
    "$POOL16_TPS" "$KEPT16_TPS" "$(fmt "$TPS_KEPT")" ">= 0.80x" "$(met "$TPS_KEPT" '>=' 0.8)"
row "16 clients, remote connections" "dblink, 16 kept connections" \
    "$POOL16_CONN" "$KEPT16_CONN" "$(fmt "$CONN") fewer" "<= 4 (pool)" "$CONN_MET"
row "16 clients, throughput (tps)" "dblink, connect per call" \
    "$POOL16_TPS" "$CALL16_TPS" "$(fmt "$TPS_CALL")" ">= 50x" "$(met "$TPS_CALL" '>=' 50)"
row "1,000,000 rows (int, text), time (s)" "dblink, connect per call" \
    "$POOL_ROWS_S" "$DBLINK_ROWS_S" "$(fmt "$ROWS_RATIO")" "<= 1.20x" "$(met "$ROWS_RATIO" '<=' 1.2)"
echo
echo "ratios: latency and time pool/dblink (lower is better), throughput pool/dblink (higher is better);"
echo "        \"faster\" and \"fewer\" are dblink/pool"
echo "memory during the $ROWS-row pool runs (RssAnon, sampled every ${SAMPLE_EVERY} s):"
echo "  pool worker: ${WORKER_PEAK} kB at peak (${WORKER_BEFORE} kB before, ${WORKER_AFTER} kB after)"
echo "  backend running pool.query: ${BACKEND_PEAK} kB at peak"
