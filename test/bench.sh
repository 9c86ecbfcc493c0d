#!/usr/bin/env bash
# Benchmark: pool against dblink (kept connections, a connection per call,
# and through pgbouncer in transaction mode), measured with pgbench in one run
# on the same two throwaway clusters, printed as ratios against the
# performance goals, with where the CPU time of a call goes and what memory
# the worker and a backend use.
#
#   test/bench.sh                   as root or as a user with sudo
#   BENCH_SECONDS=3 test/bench.sh   a quick run (default 10 s per pgbench run)
#   BENCH_ONESHOT=100000            one-shot queries run before memory is
#                                   read again (default 1000000)
#   BENCH_REPEAT=5                  runs of pool and dblink on kept
#                                   connections, in turns (default 3)
#
# The whole run takes about 6 minutes with the defaults.  BENCH_REMOTE_PORT
# (default 55433), BENCH_LOCAL_PORT (55434) and BENCH_PGBOUNCER_PORT (55435)
# move the servers; BENCH_KEEP=1 leaves them running and keeps their
# directory.
#
# Every workload reaches the remote over TCP as a role with a SCRAM password,
# so pool, dblink and pgbouncer pay the same authentication when they
# connect.  The local cluster has pool preloaded (pool_size 4, max_overflow
# 0) and dblink; pgbouncer (Debian's package) runs in transaction mode with
# a pool of 4 per database, like pool's.  A second database of the local
# cluster has pool_dblink instead of dblink (the two cannot share one), for
# dblink's interface on pool next to the real dblink on the same workloads.
#
# PG_CONFIG, when set, names the PostgreSQL to build for and run (default:
# Debian's 15).

# lib.sh sets PG_CONFIG to the major's: keep the caller's
user_pg_config=${PG_CONFIG:-}
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
if [ -n "$user_pg_config" ]; then
    PG_CONFIG=$user_pg_config
    PG_BIN=$("$PG_CONFIG" --bindir)
    export PATH="$PG_BIN:$POOL_PATH0"
fi

SECONDS_EACH=${BENCH_SECONDS:-10}
WARMUP=2
REMOTE_PORT=${BENCH_REMOTE_PORT:-55433}
LOCAL_PORT=${BENCH_LOCAL_PORT:-55434}
PGB_PORT=${BENCH_PGBOUNCER_PORT:-55435}
ROWS=1000000
ONESHOT=${BENCH_ONESHOT:-1000000}
REPEAT=${BENCH_REPEAT:-3}
CPU_CALLS=20000
# max_pipeline of the pipelined runs (default: the extension's default)
PIPELINE=${BENCH_PIPELINE:-8}
# max_pipeline values tried for the choice of the default
SWEEP=${BENCH_SWEEP:-1 2 4 8 16 32}
SAMPLE_EVERY=0.2
TARGET="host=127.0.0.1 port=$REMOTE_PORT dbname=app user=app password=secret"
PGB_TARGET="host=127.0.0.1 port=$PGB_PORT dbname=app user=app password=secret"
# four remotes for the fan-out: four databases of the remote cluster
SHARDS=(shard1 shard2 shard3 shard4)
shard_target() { echo "host=127.0.0.1 port=$REMOTE_PORT dbname=$1 user=app password=secret"; }

case $SECONDS_EACH in
    '' | *[!0-9]* | 0) echo "BENCH_SECONDS must be a whole number of seconds, at least 1" >&2; exit 2 ;;
esac
case $REPEAT in
    '' | *[!0-9]* | 0) echo "BENCH_REPEAT must be a whole number, at least 1" >&2; exit 2 ;;
esac
case $PIPELINE in
    '' | *[!0-9]* | 0) echo "BENCH_PIPELINE must be a whole number from 1 to 1000" >&2; exit 2 ;;
esac
case $ONESHOT in
    '' | *[!0-9]* | 0) echo "BENCH_ONESHOT must be a whole number, at least 1" >&2; exit 2 ;;
esac
keep() { case ${BENCH_KEEP:-0} in '' | 0) return 1 ;; *) return 0 ;; esac; }
fail() { echo "bench: $*" >&2; exit 1; }

POOL_EXTRA_PACKAGES="pgbouncer"
pool_install_packages
say "building and installing pool"
BUILD=$(pool_build_copy)
as_root rm -rf "$BUILD"

for port in "$REMOTE_PORT" "$LOCAL_PORT" "$PGB_PORT"; do
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
    if [ -f "$DIR/pgbouncer.pid" ]; then
        kill "$(cat "$DIR/pgbouncer.pid")" 2>/dev/null
        sleep 0.5
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
for db in "${SHARDS[@]}"; do remote_sql -d postgres -c "CREATE DATABASE $db OWNER app"; done

say "starting pgbouncer (port $PGB_PORT, transaction mode, 4 server connections)"
as_user tee "$DIR/pgbouncer.ini" >/dev/null <<INI
[databases]
app = host=127.0.0.1 port=$REMOTE_PORT dbname=app application_name=pgbouncer
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PGB_PORT
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $DIR/userlist.txt
pool_mode = transaction
default_pool_size = 4
max_client_conn = 200
logfile = $DIR/pgbouncer.log
pidfile = $DIR/pgbouncer.pid
INI
echo '"app" "secret"' | as_user tee "$DIR/userlist.txt" >/dev/null
as_user pgbouncer -d -q "$DIR/pgbouncer.ini" || fail "pgbouncer did not start"
local_sql -c "CREATE EXTENSION pool" -c "CREATE EXTENSION dblink"
# the pipelined pools: 4 and 2 connections, each named on the remote
for n in 4 2; do
    local_sql -c "CREATE SERVER pipe$n FOREIGN DATA WRAPPER pool OPTIONS (host '127.0.0.1',
                      port '$REMOTE_PORT', dbname 'app', application_name 'pipe$n',
                      pool_size '$n', max_overflow '0', max_pipeline '$PIPELINE')" \
        -c "CREATE USER MAPPING FOR postgres SERVER pipe$n OPTIONS (user 'app', password 'secret')"
done
# pool_dblink in a database of its own; its named connections come from a
# server of pool with a pool of 16, so that 16 clients can each keep one
local_sql -c "CREATE DATABASE pooldblink"
local_sql -d pooldblink -c "CREATE EXTENSION pool" -c "CREATE EXTENSION pool_dblink" \
    -c "CREATE SERVER bench_kept FOREIGN DATA WRAPPER pool OPTIONS (host '127.0.0.1', port '$REMOTE_PORT', dbname 'app', pool_size '16')" \
    -c "CREATE USER MAPPING FOR postgres SERVER bench_kept OPTIONS (user 'app', password 'secret')"
# both reach the remote, or stop here with their error
[ "$(local_sql -c "SELECT x FROM pool.query('$TARGET', 'SELECT 1') AS t(x int)")" = 1 ] ||
    fail "pool.query does not reach the remote"
[ "$(local_sql -c "SELECT x FROM dblink('$TARGET', 'SELECT 1') AS t(x int)")" = 1 ] ||
    fail "dblink does not reach the remote"
[ "$(local_sql -d pooldblink -c "SELECT x FROM dblink('$TARGET', 'SELECT 1') AS t(x int)")" = 1 ] ||
    fail "pool_dblink does not reach the remote"
for i in $(seq 1 50); do
    [ "$(local_sql -c "SELECT x FROM dblink('$PGB_TARGET', 'SELECT 1') AS t(x int)" 2>/dev/null)" = 1 ] && break
    [ "$i" = 50 ] && { cat "$DIR/pgbouncer.log" >&2; fail "dblink does not reach the remote through pgbouncer"; }
    sleep 0.1
done

# The remote's connections are counted by one session kept open for the whole
# run (a new session per sample would cost the remote a fork each time).
# Pool's connections show there with application_name 'pool', pgbouncer's
# with 'pgbouncer', dblink's without; pool and pgbouncer keep their
# connections open while dblink runs, so each side counts only its own.
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
DBLINK_FILTER="application_name NOT IN ('pool', 'pgbouncer', 'pipe4', 'pipe2')"
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
write_script pipe4 <<SQL
SELECT * FROM pool.query('pipe4', 'SELECT 1') AS t(x int);
SQL
write_script pipe2 <<SQL
SELECT * FROM pool.query('pipe2', 'SELECT 1') AS t(x int);
SQL
write_script pipe4_slow <<SQL
SELECT * FROM pool.query('pipe4', 'SELECT 1 FROM pg_sleep(0.2)') AS t(x int);
SQL
write_script dblink_per_call <<SQL
SELECT * FROM dblink('$TARGET', 'SELECT 1') AS t(x int);
SQL
# the same two through pool_dblink (run in the database pooldblink)
write_script pool_dblink_kept <<SQL
\if :connected = 0
SELECT dblink_connect('r', 'bench_kept');
\set connected 1
\endif
SELECT * FROM dblink('r', 'SELECT 1') AS t(x int);
SQL
write_script pool_dblink_per_call <<SQL
SELECT * FROM dblink('$TARGET', 'SELECT 1') AS t(x int);
SQL
write_script dblink_pgbouncer <<SQL
SELECT * FROM dblink('$PGB_TARGET', 'SELECT 1') AS t(x int);
SQL
# fan-out: the same statement on four remotes, each waiting 10 ms there (a
# remote's I/O or distance); pool sends them together, dblink one by one
FANOUT_SQL="SELECT 1 FROM pg_sleep(0.01)"
write_script pool_fanout <<SQL
SELECT count(*) FROM pool.query_all(ARRAY['$(shard_target shard1)', '$(shard_target shard2)',
    '$(shard_target shard3)', '$(shard_target shard4)'], '$FANOUT_SQL') AS t(target text, x int);
SQL
write_script dblink_sequential <<SQL
\if :connected = 0
SELECT dblink_connect('s1', '$(shard_target shard1)'), dblink_connect('s2', '$(shard_target shard2)'),
       dblink_connect('s3', '$(shard_target shard3)'), dblink_connect('s4', '$(shard_target shard4)');
\set connected 1
\endif
SELECT count(*) FROM (SELECT * FROM dblink('s1', '$FANOUT_SQL') AS t(x int)
    UNION ALL SELECT * FROM dblink('s2', '$FANOUT_SQL') AS t(x int)
    UNION ALL SELECT * FROM dblink('s3', '$FANOUT_SQL') AS t(x int)
    UNION ALL SELECT * FROM dblink('s4', '$FANOUT_SQL') AS t(x int)) s;
SQL

# busy_ticks: the machine's busy CPU time so far, in clock ticks of
# /proc/stat (user, nice, system, irq, softirq; neither idle, iowait nor
# the steal of a virtual machine)
busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8; exit }' /proc/stat; }
TICK_US=$((1000000 / $(getconf CLK_TCK)))

# run_pgbench NAME CLIENTS [pgbench options]: a warm-up run, then the
# measured one while the remote's connections are counted; sets LAT (ms),
# TPS, MAXCONN and CPU (busy CPU time of the whole machine per transaction,
# in us: pgbench, both clusters and the sampler).  The pool_dblink scripts
# run in the database pooldblink.
run_pgbench() {
    local name=$1 clients=$2 filter=$DBLINK_FILTER job rc=0 out cpu0 txns db=postgres
    shift 2
    case $name in pool_dblink*) db=pooldblink ;; esac
    local args=(-n -h "$DIR" -p "$LOCAL_PORT" -U postgres -D connected=0
        -c "$clients" -j "$((clients > 1 ? 2 : 1))" -f "$DIR/$name.sql" "$@" "$db")
    case $name in
        pool*) filter=$POOL_FILTER ;;
        pipe4*) filter="application_name = 'pipe4'" ;;
        pipe2*) filter="application_name = 'pipe2'" ;;
    esac

    (as_user pgbench "${args[@]}" -T "$WARMUP") >"$DIR/pgbench.out" 2>&1 || rc=$?
    [ "$rc" = 0 ] || { cat "$DIR/pgbench.out" >&2; fail "warm-up of $name with $clients clients failed"; }
    wait_remote_quiet
    rm -f "$DIR"/pgbench_log.*

    MAXCONN=0
    cpu0=$(busy_ticks)
    as_user pgbench "${args[@]}" -T "$SECONDS_EACH" >"$DIR/pgbench.out" 2>&1 &
    job=$!
    while kill -0 "$job" 2>/dev/null; do
        remote_count "$filter"
        if [ "$COUNT" -gt "$MAXCONN" ]; then MAXCONN=$COUNT; fi
        sleep "$SAMPLE_EVERY"
    done
    wait "$job" || rc=$?
    CPU=$(($(busy_ticks) - cpu0))
    out=$(cat "$DIR/pgbench.out")
    if [ "$rc" != 0 ] || ! grep -q '^number of failed transactions: 0 ' <<<"$out"; then
        echo "$out" >&2
        fail "pgbench run of $name with $clients clients failed"
    fi
    LAT=$(awk '/^latency average = / { print $4 }' <<<"$out")
    TPS=$(awk '/^tps = / { printf "%.0f", $3 }' <<<"$out")
    txns=$(awk '/^number of transactions actually processed: / { split($6, a, "/"); print a[1] }' <<<"$out")
    if [ -z "$LAT" ] || [ -z "$TPS" ] || [ -z "$txns" ] || [ "$txns" = 0 ]; then
        echo "$out" >&2
        fail "no latency, tps or transactions in pgbench's output"
    fi
    CPU=$(awk -v t="$CPU" -v us="$TICK_US" -v n="$txns" 'BEGIN { printf "%.1f", t * us / n }')
    printf '  %-20s %2d clients: latency %8s ms %8s tps  %6s us CPU per call  %3s remote connections at most\n' \
        "$name" "$clients" "$LAT" "$TPS" "$CPU" "$MAXCONN"
}

# The comparisons with dblink on kept connections sit near their goals and
# move from run to run: pool and dblink run in turns, $REPEAT times, and the
# pair with the median ratio is reported (each pair's ratio is printed).
# median_pair A-VALUES B-VALUES: the index of the pair whose A/B is the median
median_pair() {
    paste -d ' ' <(tr ' ' '\n' <<<"$1") <(tr ' ' '\n' <<<"$2") |
        awk '{ print NR, $1 / $2 }' | sort -k2 -g | awk -v n="$REPEAT" 'NR == int((n + 1) / 2) { print $1 }'
}
pick() { tr ' ' '\n' <<<"$1" | sed -n "${2}p"; }

say "1 client, SELECT 1 on the remote (${SECONDS_EACH} s each, after ${WARMUP} s of warm-up; pool and dblink in turns, $REPEAT times)"
P="" K=""
for i in $(seq 1 "$REPEAT"); do
    run_pgbench pool 1;        P="$P $LAT"
    run_pgbench dblink_kept 1; K="$K $LAT"
done
P=${P# } K=${K# }
M=$(median_pair "$P" "$K")
POOL1_LAT=$(pick "$P" "$M"); KEPT1_LAT=$(pick "$K" "$M")
echo "  latency ratios pool/dblink: $(paste -d ' ' <(tr ' ' '\n' <<<"$P") <(tr ' ' '\n' <<<"$K") | awk '{ printf "%.2fx ", $1 / $2 }')(median: run $M)"
run_pgbench dblink_per_call 1; CALL1_LAT=$LAT

say "16 clients, SELECT 1 on the remote (${SECONDS_EACH} s each, after ${WARMUP} s of warm-up; pool and dblink in turns, $REPEAT times)"
P="" K="" PC="" KC=""
for i in $(seq 1 "$REPEAT"); do
    run_pgbench pool 16;        P="$P $TPS"; PC="$PC $MAXCONN"
    run_pgbench dblink_kept 16; K="$K $TPS"; KC="$KC $MAXCONN"
done
P=${P# } K=${K# } PC=${PC# } KC=${KC# }
M=$(median_pair "$P" "$K")
POOL16_TPS=$(pick "$P" "$M"); KEPT16_TPS=$(pick "$K" "$M")
POOL16_CONN=$(tr ' ' '\n' <<<"$PC" | sort -n | tail -n 1); KEPT16_CONN=$(pick "$KC" "$M")
echo "  throughput ratios pool/dblink: $(paste -d ' ' <(tr ' ' '\n' <<<"$P") <(tr ' ' '\n' <<<"$K") | awk '{ printf "%.2fx ", $1 / $2 }')(median: run $M)"
run_pgbench dblink_per_call 16; CALL16_TPS=$TPS
run_pgbench dblink_pgbouncer 16; PGB16_TPS=$TPS

# Pipelining: the pools pipe4 and pipe2 (4 and 2 connections, max_pipeline
# $PIPELINE) against dblink on as many kept connections as clients.
# turns POOL-SCRIPT DBLINK-SCRIPT CLIENTS: $REPEAT pairs in turns; sets the
# median pair's P_TPS, P_CPU, P_LAT, P_CONN and K_TPS, K_CPU, K_LAT, K_CONN
# (the median of the throughput ratio) and RATIOS (each pair's)
turns() {
    local i p="" k="" pc="" kc="" pl="" kl="" pn="" kn="" m
    for i in $(seq 1 "$REPEAT"); do
        run_pgbench "$1" "$3"; p="$p $TPS"; pc="$pc $CPU"; pl="$pl $LAT"; pn="$pn $MAXCONN"
        run_pgbench "$2" "$3"; k="$k $TPS"; kc="$kc $CPU"; kl="$kl $LAT"; kn="$kn $MAXCONN"
    done
    if [ "$3" = 1 ]; then m=$(median_pair "${kl# }" "${pl# }"); else m=$(median_pair "${p# }" "${k# }"); fi
    P_TPS=$(pick "${p# }" "$m"); P_CPU=$(pick "${pc# }" "$m"); P_LAT=$(pick "${pl# }" "$m")
    K_TPS=$(pick "${k# }" "$m"); K_CPU=$(pick "${kc# }" "$m"); K_LAT=$(pick "${kl# }" "$m")
    P_CONN=$(tr ' ' '\n' <<<"${pn# }" | sort -n | tail -n 1); K_CONN=$(pick "${kn# }" "$m")
    RATIOS=$(paste -d ' ' <(tr ' ' '\n' <<<"${p# }") <(tr ' ' '\n' <<<"${k# }") | awk '{ printf "%.2fx ", $1 / $2 }')
    echo "  throughput ratios $1/$2: ${RATIOS}(median: run $m)"
}

say "pipelined, 16 clients on 4 connections against dblink on 16 (${SECONDS_EACH} s each, in turns, $REPEAT times)"
turns pipe4 dblink_kept 16
PIPE16_TPS=$P_TPS PIPE16_CPU=$P_CPU PIPE16_CONN=$P_CONN KEPT16P_TPS=$K_TPS KEPT16P_CPU=$K_CPU
say "pipelined, 64 clients on 4 connections against dblink on 64 (${SECONDS_EACH} s each, in turns, $REPEAT times)"
turns pipe4 dblink_kept 64
PIPE64_TPS=$P_TPS PIPE64_CPU=$P_CPU PIPE64_CONN=$P_CONN KEPT64_TPS=$K_TPS KEPT64_CPU=$K_CPU KEPT64_CONN=$K_CONN
say "pipelined, 1 client, latency against dblink on a kept connection (${SECONDS_EACH} s each, in turns, $REPEAT times)"
turns pipe4 dblink_kept 1
PIPE1_LAT=$P_LAT KEPT1P_LAT=$K_LAT
say "pipelined, 16 and 64 clients on 2 connections (${SECONDS_EACH} s each)"
run_pgbench pipe2 16; PIPE2_16_TPS=$TPS PIPE2_16_CPU=$CPU
run_pgbench pipe2 64; PIPE2_64_TPS=$TPS PIPE2_64_CPU=$CPU

# percentiles P...: of the latencies (us) in pgbench's transaction logs
percentiles() {
    cat "$DIR"/pgbench_log.* | awk '{ print $3 }' | sort -n |
        awk -v ps="$*" '{ v[NR] = $1 } END {
            n = split(ps, p, " ")
            for (i = 1; i <= n; i++) { k = int(NR * p[i] / 100); if (k < 1) k = 1; printf "%.3f ", v[k] / 1000 } }'
}
say "short statements beside 200 ms ones: 16 clients on pipe4, alone and while 1 client runs pg_sleep(0.2) there"
run_pgbench pipe4 16 -l --log-prefix="$DIR/pgbench_log"
read -r ALONE_P50 ALONE_P99 ALONE_P999 <<<"$(percentiles 50 99 99.9)"
echo "  alone:  p50 $ALONE_P50 ms, p99 $ALONE_P99 ms, p99.9 $ALONE_P999 ms"
as_user pgbench -n -h "$DIR" -p "$LOCAL_PORT" -U postgres -c 1 -f "$DIR/pipe4_slow.sql" \
    -T $((WARMUP + SECONDS_EACH + 2)) postgres >"$DIR/slow.out" 2>&1 &
SLOW_JOB=$!
run_pgbench pipe4 16 -l --log-prefix="$DIR/pgbench_log"
read -r BESIDE_P50 BESIDE_P99 BESIDE_P999 <<<"$(percentiles 50 99 99.9)"
wait "$SLOW_JOB" || { cat "$DIR/slow.out" >&2; fail "the 200 ms client failed"; }
grep -q '^number of failed transactions: 0 ' "$DIR/slow.out" || { cat "$DIR/slow.out" >&2; fail "the 200 ms client failed"; }
echo "  beside: p50 $BESIDE_P50 ms, p99 $BESIDE_P99 ms, p99.9 $BESIDE_P999 ms;" \
    "the 200 ms client: $(awk '/^latency average = / { print $4 }' "$DIR/slow.out") ms on average"
PIPE_STATS=$(local_sql -F ' ' -c "SELECT target, queries, pipelined, max_depth FROM pool.stats WHERE target LIKE 'pipe%' ORDER BY target")

# the choice of the default: one run of each max_pipeline, 16 and 64
# clients on 4 connections
say "max_pipeline against throughput and CPU per call, 16 and 64 clients on 4 connections (${SECONDS_EACH} s each)"
SWEEP_OUT=""
for mp in $SWEEP; do
    local_sql -c "ALTER SERVER pipe4 OPTIONS (SET max_pipeline '$mp')"
    run_pgbench pipe4 16; line="$mp $TPS $CPU"
    run_pgbench pipe4 64; SWEEP_OUT="$SWEEP_OUT$line $TPS $CPU"$'\n'
done
local_sql -c "ALTER SERVER pipe4 OPTIONS (SET max_pipeline '$PIPELINE')"

say "dblink's interface through pool_dblink, SELECT 1 on the remote (${SECONDS_EACH} s each)"
run_pgbench pool_dblink_kept 1;      PD_KEPT1_LAT=$LAT
run_pgbench pool_dblink_per_call 1;  PD_CALL1_LAT=$LAT
run_pgbench pool_dblink_kept 16;     PD_KEPT16_TPS=$TPS
# close bench_kept's 16 idle connections, which would count as pool's below
local_sql -d pooldblink -c "SELECT pool.reset('bench_kept')" >/dev/null
run_pgbench pool_dblink_per_call 16; PD_CALL16_TPS=$TPS; PD_CALL16_CONN=$MAXCONN

say "4 remotes, one statement each waiting 10 ms there, 1 client (${SECONDS_EACH} s each)"
run_pgbench pool_fanout 1;       FAN_POOL_LAT=$LAT
run_pgbench dblink_sequential 1; FAN_DBLINK_LAT=$LAT

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

# Where the CPU time of one call goes: $CPU_CALLS calls of SELECT 1 in a loop
# in one session, through pool and through dblink on a kept connection; the
# CPU time (/proc/PID/schedstat, user and kernel) of the local backend, the
# pool worker and the remote backends, per call.
say "CPU time per call, SELECT 1, $CPU_CALLS calls in one session"
CPU_SQL=$(cat <<SQL
CREATE FUNCTION pg_temp.cpu_ns(pid int) RETURNS bigint LANGUAGE sql AS
  \$\$ SELECT coalesce(sum(split_part(pg_read_file('/proc/' || pid || '/schedstat'), ' ', 1)::bigint), 0) \$\$;
CREATE FUNCTION pg_temp.pool_remote_ns() RETURNS bigint LANGUAGE sql AS
  \$\$ SELECT coalesce(sum(pg_temp.cpu_ns(remote_pid)), 0)::bigint FROM pool.connections
       WHERE remote_pid IS NOT NULL AND target NOT LIKE '%shard%' \$\$;
SELECT pid AS wpid FROM pg_stat_activity WHERE backend_type = 'pool worker' \gset
SELECT x FROM pool.query('$TARGET', 'SELECT 1') AS t(x int) \g /dev/null
SELECT dblink_connect('cpu', '$TARGET') \g /dev/null
SELECT x AS dpid FROM dblink('cpu', 'SELECT pg_backend_pid()') AS t(x int) \gset
SELECT pg_temp.cpu_ns(pg_backend_pid()) AS b0, pg_temp.cpu_ns(:wpid) AS w0,
       pg_temp.pool_remote_ns() AS r0, clock_timestamp() AS t0 \gset
DO \$\$ BEGIN FOR i IN 1..$CPU_CALLS LOOP
  PERFORM * FROM pool.query('$TARGET', 'SELECT 1') AS t(x int); END LOOP; END \$\$;
SELECT 'pool', round((pg_temp.cpu_ns(pg_backend_pid()) - :b0) / $CPU_CALLS / 1000.0, 1),
       round((pg_temp.cpu_ns(:wpid) - :w0) / $CPU_CALLS / 1000.0, 1),
       round((pg_temp.pool_remote_ns() - :r0) / $CPU_CALLS / 1000.0, 1),
       round(extract(epoch FROM clock_timestamp() - :'t0') * 1e6 / $CPU_CALLS, 1);
SELECT pg_temp.cpu_ns(pg_backend_pid()) AS b0, pg_temp.cpu_ns(:dpid) AS r0,
       clock_timestamp() AS t0 \gset
DO \$\$ BEGIN FOR i IN 1..$CPU_CALLS LOOP
  PERFORM * FROM dblink('cpu', 'SELECT 1') AS t(x int); END LOOP; END \$\$;
SELECT 'dblink', round((pg_temp.cpu_ns(pg_backend_pid()) - :b0) / $CPU_CALLS / 1000.0, 1), 0,
       round((pg_temp.cpu_ns(:dpid) - :r0) / $CPU_CALLS / 1000.0, 1),
       round(extract(epoch FROM clock_timestamp() - :'t0') * 1e6 / $CPU_CALLS, 1);
SQL
)
CPU_OUT=$(local_sql -F ' ' <<<"$CPU_SQL") || fail "measuring CPU time per call failed"
printf '  %-8s %10s %10s %10s %10s %12s\n' "" backend worker remote "sum" "wall clock"
while read -r what b w r wall; do
    printf '  %-8s %7s us %7s us %7s us %7s us %9s us\n' "$what" "$b" "$w" "$r" \
        "$(awk -v b="$b" -v w="$w" -v r="$r" 'BEGIN { printf "%.1f", b + w + r }')" "$wall"
done <<<"$CPU_OUT"

# Memory after many one-shot queries: 16 clients run $ONESHOT calls in all;
# the worker's and the busiest backend's RssAnon are sampled meanwhile.
say "$ONESHOT one-shot queries through pool, 16 clients"
ONESHOT_WORKER_BEFORE=$(rss_anon "$WORKER_PID")
ONESHOT_BACKEND_PEAK=0
as_user pgbench -n -h "$DIR" -p "$LOCAL_PORT" -U postgres -c 16 -j 2 \
    -t $(((ONESHOT + 15) / 16)) -f "$DIR/pool.sql" postgres >"$DIR/pgbench.out" 2>&1 &
job=$!
BACKEND_PIDS=""
while kill -0 "$job" 2>/dev/null; do
    [ -z "$BACKEND_PIDS" ] &&
        BACKEND_PIDS=$(local_sql -c "SELECT string_agg(pid::text, ' ') FROM pg_stat_activity WHERE application_name = 'pgbench'")
    for pid in $BACKEND_PIDS; do
        rss=$(rss_anon "$pid")
        if [ "$rss" -gt "$ONESHOT_BACKEND_PEAK" ]; then ONESHOT_BACKEND_PEAK=$rss; fi
    done
    sleep 1
done
rc=0
wait "$job" || rc=$?
if [ "$rc" != 0 ] || ! grep -q '^number of failed transactions: 0 ' "$DIR/pgbench.out"; then
    cat "$DIR/pgbench.out" >&2
    fail "the one-shot run failed"
fi
ONESHOT_WORKER_AFTER=$(rss_anon "$WORKER_PID")
ONESHOT_TPS=$(awk '/^tps = / { printf "%.0f", $3 }' "$DIR/pgbench.out")
echo "  $(awk '/^number of transactions actually processed/ { print $6 }' "$DIR/pgbench.out") queries at $ONESHOT_TPS tps"

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
TPS_PGB=$(ratio "$POOL16_TPS" "$PGB16_TPS")
FANOUT=$(ratio "$FAN_DBLINK_LAT" "$FAN_POOL_LAT")
CONN=$(ratio "$KEPT16_CONN" "$POOL16_CONN")
ROWS_RATIO=$(ratio "$POOL_ROWS_S" "$DBLINK_ROWS_S")
PD_LAT_KEPT=$(ratio "$PD_KEPT1_LAT" "$KEPT1_LAT")
PD_LAT_CALL=$(ratio "$CALL1_LAT" "$PD_CALL1_LAT")
PD_TPS_KEPT=$(ratio "$PD_KEPT16_TPS" "$KEPT16_TPS")
PD_TPS_CALL=$(ratio "$PD_CALL16_TPS" "$CALL16_TPS")
# the pool must have been seen at work, on no more than pool_size connections
if [ "$POOL16_CONN" -ge 1 ] && [ "$POOL16_CONN" -le 4 ]; then CONN_MET=yes; else CONN_MET=no; fi

say "results"
echo "machine:    $(nproc) CPUs, $(grep -m 1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
echo "PostgreSQL: $(postgres --version)"
echo "date:       $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "runs:       pgbench ${SECONDS_EACH} s each after ${WARMUP} s of warm-up; remote over TCP (127.0.0.1) with SCRAM;"
echo "            against dblink on kept connections, the median of $REPEAT pairs run in turns"
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
row "16 clients, throughput (tps)" "dblink through pgbouncer" \
    "$POOL16_TPS" "$PGB16_TPS" "$(fmt "$TPS_PGB")" ">= 4x" "$(met "$TPS_PGB" '>=' 4)"
row "1,000,000 rows (int, text), time (s)" "dblink, connect per call" \
    "$POOL_ROWS_S" "$DBLINK_ROWS_S" "$(fmt "$ROWS_RATIO")" "<= 1.20x" "$(met "$ROWS_RATIO" '<=' 1.2)"
row "4 remotes, 10 ms each, latency (ms)" "dblink, one after another" \
    "$FAN_POOL_LAT" "$FAN_DBLINK_LAT" "$(fmt "$FANOUT") faster" ">= 3x" "$(met "$FANOUT" '>=' 3)"
echo
echo "pipelined (max_pipeline $PIPELINE), against dblink with a kept connection per client, the median of $REPEAT pairs:"
echo
row workload reference pool reference ratio goal met
printf '|%s|%s|%s|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..40})" "$(printf -- '-%.0s' {1..30})" \
    "$(printf -- '-%.0s' {1..11})" "$(printf -- '-%.0s' {1..11})" "$(printf -- '-%.0s' {1..15})" \
    "$(printf -- '-%.0s' {1..13})" "$(printf -- '-%.0s' {1..6})"
R=$(ratio "$PIPE16_TPS" "$KEPT16P_TPS")
row "16 clients on 4, throughput (tps)" "dblink, 16 kept connections" "$PIPE16_TPS" "$KEPT16P_TPS" "$(fmt "$R")" ">= 1.20x" "$(met "$R" '>=' 1.2)"
R=$(ratio "$PIPE16_CPU" "$KEPT16P_CPU")
row "16 clients on 4, CPU per call (us)" "dblink, 16 kept connections" "$PIPE16_CPU" "$KEPT16P_CPU" "$(fmt "$R")" "<= 0.90x" "$(met "$R" '<=' 0.9)"
R=$(ratio "$PIPE64_TPS" "$KEPT64_TPS")
row "64 clients on 4, throughput (tps)" "dblink, 64 kept connections" "$PIPE64_TPS" "$KEPT64_TPS" "$(fmt "$R")" ">= 1.00x" "$(met "$R" '>=' 1.0)"
R=$(ratio "$PIPE64_CPU" "$KEPT64_CPU")
row "64 clients on 4, CPU per call (us)" "dblink, 64 kept connections" "$PIPE64_CPU" "$KEPT64_CPU" "$(fmt "$R")" "" ""
row "64 clients, remote connections" "dblink, 64 kept connections" "$PIPE64_CONN" "$KEPT64_CONN" "" "<= 4 (pool)" \
    "$([ "$PIPE64_CONN" -ge 1 ] && [ "$PIPE64_CONN" -le 4 ] && echo yes || echo no)"
R=$(ratio "$PIPE2_16_TPS" "$KEPT16P_TPS")
row "16 clients on 2, throughput (tps)" "dblink, 16 kept connections" "$PIPE2_16_TPS" "$KEPT16P_TPS" "$(fmt "$R")" "" ""
R=$(ratio "$PIPE2_64_TPS" "$KEPT64_TPS")
row "64 clients on 2, throughput (tps)" "dblink, 64 kept connections" "$PIPE2_64_TPS" "$KEPT64_TPS" "$(fmt "$R")" "" ""
R=$(ratio "$PIPE1_LAT" "$KEPT1P_LAT")
row "1 client, latency (ms)" "dblink, kept connection" "$PIPE1_LAT" "$KEPT1P_LAT" "$(fmt "$R")" "<= 1.05x" "$(met "$R" '<=' 1.05)"
R=$(ratio "$BESIDE_P50" "$ALONE_P50")
row "short beside 200 ms ones, p50 (ms)" "the same, alone" "$BESIDE_P50" "$ALONE_P50" "$(fmt "$R")" "" ""
R=$(ratio "$BESIDE_P99" "$ALONE_P99")
row "short beside 200 ms ones, p99 (ms)" "the same, alone" "$BESIDE_P99" "$ALONE_P99" "$(fmt "$R")" "<= 2.00x" "$(met "$R" '<=' 2)"
echo
echo "CPU per call: busy CPU time of the whole machine (/proc/stat) during the run, divided by its calls"
echo "pipelined pools afterwards (target, queries, pipelined, deepest pipeline):"
sed 's/^/  /' <<<"$PIPE_STATS"
echo "max_pipeline on 4 connections: 16 clients (tps, us CPU per call), 64 clients (tps, us CPU per call):"
while read -r mp a b c d; do
    [ -n "$mp" ] && printf '  %4s: %8s tps %7s us   %8s tps %7s us\n' "$mp" "$a" "$b" "$c" "$d"
done <<<"$SWEEP_OUT"
echo
echo "dblink's interface through pool_dblink (the \"pool\" column) against the real dblink:"
row "1 client, named connection (ms)" "dblink, kept connection" \
    "$PD_KEPT1_LAT" "$KEPT1_LAT" "$(fmt "$PD_LAT_KEPT")" "" ""
row "1 client, connection string (ms)" "dblink, connect per call" \
    "$PD_CALL1_LAT" "$CALL1_LAT" "$(fmt "$PD_LAT_CALL") faster" "" ""
row "16 clients, named connections (tps)" "dblink, 16 kept connections" \
    "$PD_KEPT16_TPS" "$KEPT16_TPS" "$(fmt "$PD_TPS_KEPT")" "" ""
row "16 clients, connection string (tps)" "dblink, connect per call" \
    "$PD_CALL16_TPS" "$CALL16_TPS" "$(fmt "$PD_TPS_CALL")" "" ""
echo "  (16 clients with a connection string: $PD_CALL16_CONN remote connections of pool at most)"
echo
echo "ratios: latency and time pool/dblink (lower is better), throughput pool/dblink (higher is better);"
echo "        \"faster\" and \"fewer\" are dblink/pool"
echo "memory during the $ROWS-row pool runs (RssAnon, sampled every ${SAMPLE_EVERY} s):"
echo "  pool worker: ${WORKER_PEAK} kB at peak (${WORKER_BEFORE} kB before, ${WORKER_AFTER} kB after)"
echo "  backend running pool.query: ${BACKEND_PEAK} kB at peak"
echo "memory around $ONESHOT one-shot pool queries (16 clients, RssAnon):"
echo "  pool worker: ${ONESHOT_WORKER_BEFORE} kB before, ${ONESHOT_WORKER_AFTER} kB after"
echo "  largest client backend: ${ONESHOT_BACKEND_PEAK} kB at peak"
echo "CPU time per call of SELECT 1 (1 session, $CPU_CALLS calls):"
while read -r what b w r wall; do
    printf '  %-8s backend %6s us, worker %6s us, remote %6s us; %7s us wall clock\n' "$what" "$b" "$w" "$r" "$wall"
done <<<"$CPU_OUT"
