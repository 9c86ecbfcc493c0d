#!/usr/bin/env bash
# Run the whole test suite: the pg_regress tests of the SQL surface, then the
# TAP tests that need two clusters, restarts and kills.
#
#   test/check.sh            as root, or as a user with sudo
#
# Installs what is missing, builds and installs the extension from a copy of
# the tree, runs the tests as an unprivileged user, and ends with a line
# "N passed, N failed".  POOL_TAP_TESTS="test/t/001_x.pl ..." runs only
# those TAP tests; POOL_KEEP=1 keeps the build directory even on success.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

pool_install_packages

say "building"
WORK=$(pool_build_copy)
echo "build and test directory: $WORK"

regress_passed=0
regress_failed=0
tap_passed=0
tap_failed=0
status=0

say "pg_regress"
set +e
as_user make -C "$WORK" PG_CONFIG="$PG_CONFIG" installcheck TAP_TESTS= \
    >"$WORK/regress.log" 2>&1
rc=$?
set -e
grep -E '^(test | )?\s*\S+\s+\.\.\. ' "$WORK/regress.log" || true
regress_passed=$(grep -cE '\.\.\. ok' "$WORK/regress.log" || true)
regress_failed=$(grep -cE '\.\.\. FAILED' "$WORK/regress.log" || true)
if [ "$rc" != 0 ]; then
    status=1
    if [ "$regress_failed" = 0 ]; then
        regress_failed=1
        cat "$WORK/regress.log"
    fi
    [ -f "$WORK/regression.diffs" ] && cat "$WORK/regression.diffs"
fi

say "TAP tests"
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
    status=1
    say "TAP output"
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
    say "reliability figures"
    grep -E '^# (fault|load|bad input): ' "$WORK/tap.log" | sed 's/^# //'
fi

passed=$((regress_passed + tap_passed))
failed=$((regress_failed + tap_failed))
say "summary"
echo "pg_regress: $regress_passed passed, $regress_failed failed"
echo "TAP:        $tap_passed passed, $tap_failed failed"
if [ "$passed" = 0 ]; then
    echo "no test ran" >&2
    status=1
fi
echo "$passed passed, $failed failed"
if [ "$status" = 0 ] && [ -z "${POOL_KEEP:-}" ]; then
    rm -rf "$WORK"
fi
exit $status
