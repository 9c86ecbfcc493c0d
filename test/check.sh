#!/usr/bin/env bash
# Run the whole test suite: the pg_regress tests of the SQL surface, then the
# TAP tests that need two clusters, restarts and kills, then dblink's own
# regression suite against pool_dblink (test/dblink_suite.sh; it counts as one
# test), on each PostgreSQL major asked for.
#
#   test/check.sh            on 15 (Debian's package), as root or with sudo
#   test/check.sh 15 18      on 15, then on 18 (built from Debian's source
#                            package the first time, then cached)
#
# Installs what is missing, builds and installs the extension from a copy of
# the tree for each major, runs the tests as an unprivileged user, and ends
# with a line "N passed, N failed" over all majors.  POOL_DBLINK_SUITE=0 leaves
# dblink's suite out.  POOL_TAP_TESTS="test/t/001_x.pl ..."
# runs only those TAP tests; POOL_KEEP=1 keeps the build directories even on
# success.  POOL_PG_MAJORS="15 18" is the same as giving the majors.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

majors=${*:-${POOL_PG_MAJORS:-15}}

pool_install_packages

total_passed=0
total_failed=0
status=0
summaries=()

# Run the suite on the major pool_use_major chose; adds to the totals.
run_major() {
    local regress_passed=0 regress_failed=0 tap_passed=0 tap_failed=0
    local dblink_passed=0 dblink_failed=0
    local rc log major_status=0 start=$SECONDS

    say "PostgreSQL $PG_MAJOR: building ($("$PG_CONFIG" --version))"
    WORK=$(pool_build_copy)
    echo "build and test directory: $WORK"

    say "PostgreSQL $PG_MAJOR: pg_regress"
    set +e
    as_user make -C "$WORK" PG_CONFIG="$PG_CONFIG" installcheck TAP_TESTS= \
        >"$WORK/regress.log" 2>&1
    rc=$?
    set -e
    # pg_regress 15 writes "test x ... ok", 16 and later "ok 1 - x"
    grep -E '^(test | )?\s*\S+\s+\.\.\. |^(not )?ok [0-9]+ ' "$WORK/regress.log" || true
    regress_passed=$(grep -cE '\.\.\. ok|^ok [0-9]+ ' "$WORK/regress.log" || true)
    regress_failed=$(grep -cE '\.\.\. FAILED|^not ok [0-9]+ ' "$WORK/regress.log" || true)
    if [ "$rc" != 0 ]; then
        major_status=1
        if [ "$regress_failed" = 0 ]; then
            regress_failed=1
            cat "$WORK/regress.log"
        fi
        [ -f "$WORK/regression.diffs" ] && cat "$WORK/regression.diffs"
    fi

    say "PostgreSQL $PG_MAJOR: TAP tests"
    set +e
    as_user make -C "$WORK" PG_CONFIG="$PG_CONFIG" installcheck REGRESS= \
        PROVE_FLAGS="--verbose --timer" \
        ${POOL_TAP_TESTS:+PROVE_TESTS="$POOL_TAP_TESTS"} \
        >"$WORK/tap.log" 2>&1
    rc=$?
    set -e
    # one line per test file, then prove's summary
    grep -E '^\[[0-9:]+\] test/t/|^Files=|^Result:|^All tests' "$WORK/tap.log" || true
    tap_passed=$(grep -cE '^\s*ok [0-9]+' "$WORK/tap.log" || true)
    tap_failed=$(grep -cE '^\s*not ok [0-9]+' "$WORK/tap.log" || true)
    if [ "$rc" != 0 ]; then
        major_status=1
        say "PostgreSQL $PG_MAJOR: TAP output"
        cat "$WORK/tap.log"
        for log in "$WORK"/tmp_check/log/regress_log_*; do
            [ -f "$log" ] || continue
            if grep -q '^not ok\|Tests were run but no plan\|died' "$log"; then
                say "$log"
                tail -n 200 "$log"
            fi
        done
        if [ "$tap_failed" = 0 ]; then tap_failed=1; fi
    fi

    # the figures the reliability tests print (README's Reliability section)
    if grep -qE '^# (fault|load|bad input): ' "$WORK/tap.log"; then
        say "PostgreSQL $PG_MAJOR: reliability figures"
        grep -E '^# (fault|load|bad input): ' "$WORK/tap.log" | sed 's/^# //'
    fi

    # dblink's suite, against the pool_dblink just installed for this major
    # (POOL_DBLINK_SUITE=0 leaves it out, e.g. beside POOL_TAP_TESTS)
    if [ "${POOL_DBLINK_SUITE:-1}" != 0 ]; then
        say "PostgreSQL $PG_MAJOR: dblink's regression suite"
        set +e
        PG_CONFIG="$PG_CONFIG" bash "$POOL_ROOT/test/dblink_suite.sh" "$PG_MAJOR" \
            >"$WORK/dblink-suite.log" 2>&1
        rc=$?
        set -e
        if [ "$rc" = 0 ]; then
            dblink_passed=1
            grep -E '^dblink suite on ' "$WORK/dblink-suite.log" || true
        else
            dblink_failed=1
            major_status=1
            cat "$WORK/dblink-suite.log"
        fi
    fi

    summaries+=("PostgreSQL $PG_MAJOR: pg_regress $regress_passed passed, $regress_failed failed; TAP $tap_passed passed, $tap_failed failed; dblink suite $dblink_passed passed, $dblink_failed failed ($((SECONDS - start)) s)")
    total_passed=$((total_passed + regress_passed + tap_passed + dblink_passed))
    total_failed=$((total_failed + regress_failed + tap_failed + dblink_failed))
    if [ "$major_status" = 0 ] && [ -z "${POOL_KEEP:-}" ]; then
        as_root rm -rf "$WORK"
    fi
    [ "$major_status" = 0 ] || status=1
}

for major in $majors; do
    pool_use_major "$major"
    run_major
done

say "summary"
for line in "${summaries[@]}"; do echo "$line"; done
if [ "$total_passed" = 0 ]; then
    echo "no test ran" >&2
    status=1
fi
echo "$total_passed passed, $total_failed failed"
exit $status
