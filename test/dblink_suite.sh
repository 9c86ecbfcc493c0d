#!/usr/bin/env bash
# Runs dblink's own regression suite against pool_dblink and counts the hunks
# of the diff (issue 14: the peer's suite is the acceptance test).
#
#   test/dblink_suite.sh [15|18]
#
# The suite (contrib/dblink/sql/dblink.sql, expected/dblink.out,
# pg_service.conf) and the test helper regress.so (src/test/regress/regress.c)
# come from Debian's source package of that major, fetched at run time by
# test/pgbuild.sh and cached outside the repository; nothing fetched is ever
# written into the tree.  Only the line "CREATE EXTENSION dblink;" is changed,
# in the test and in its expected output.  pg_regress runs it on a temporary
# instance with pool preloaded (test/regress.conf).
#
# The extension must be installed in the PostgreSQL that PG_CONFIG names
# (test/check.sh does that before calling this).  Environment:
#   PG_CONFIG                  pg_config to use (default: that of the major)
#   POOL_DBLINK_SRC            an unpacked PostgreSQL source tree to take the
#                              suite from instead of fetching it
#   POOL_DBLINK_EXTENSION      "pool_dblink" (default) or "dblink", to run the
#                              unchanged suite against the real dblink
#   POOL_DBLINK_MAX_HUNKS      the most differing hunks that pass (default 2)
#
# Ends with one line "dblink suite on N: H differing hunks (at most M): PASS"
# or "... FAIL"; exits non-zero on a failure, a failed fetch or build.

# lib.sh sets PG_CONFIG to the major's: keep the caller's
user_pg_config=${PG_CONFIG:-}
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

major=${1:-15}
extension=${POOL_DBLINK_EXTENSION:-pool_dblink}
max_hunks=${POOL_DBLINK_MAX_HUNKS:-2}

if [ -n "$user_pg_config" ]; then
    PG_CONFIG=$user_pg_config
    PG_BIN=$("$PG_CONFIG" --bindir)
    export PATH="$PG_BIN:$POOL_PATH0"
    PG_MAJOR=$major
else
    pool_use_major "$major"
fi

case "$major" in
    15) package=postgresql-15 suite=bookworm ;;
    18) package=postgresql-18 suite=sid ;;
    *) echo "no dblink suite known for PostgreSQL $major" >&2; exit 2 ;;
esac

if [ -n "${POOL_DBLINK_SRC:-}" ]; then
    src=$POOL_DBLINK_SRC
else
    # shellcheck source=test/pgbuild.sh
    source "$POOL_ROOT/test/pgbuild.sh"
    if ! src=$(pool_pg_source "$package" "$suite"); then
        echo "dblink suite on $major: fetching $package from $suite failed: FAIL" >&2
        exit 1
    fi
fi
for f in contrib/dblink/sql/dblink.sql contrib/dblink/expected/dblink.out \
         contrib/dblink/pg_service.conf src/test/regress/regress.c; do
    if [ ! -f "$src/$f" ]; then
        echo "dblink suite on $major: $src/$f is missing: FAIL" >&2
        exit 1
    fi
done

dir=$(mktemp -d "${TMPDIR:-/tmp}/pool-dblink-suite.XXXXXX")
mkdir -p "$dir/sql" "$dir/expected" "$dir/regress"
cp "$src/contrib/dblink/sql/dblink.sql" "$dir/sql/"
cp "$src/contrib/dblink/expected/dblink.out" "$dir/expected/"
cp "$src/contrib/dblink/pg_service.conf" "$dir/"
cp "$src/src/test/regress/regress.c" "$dir/regress/"
cp "$POOL_ROOT/test/regress.conf" "$dir/regress.conf"
printf 'MODULES = regress\nPG_CONFIG ?= pg_config\nPGXS := $(shell $(PG_CONFIG) --pgxs)\ninclude $(PGXS)\n' \
    >"$dir/regress/Makefile"

if [ "$extension" = pool_dblink ]; then
    for f in "$dir/sql/dblink.sql" "$dir/expected/dblink.out"; do
        if ! grep -qx 'CREATE EXTENSION dblink;' "$f"; then
            echo "dblink suite on $major: no line 'CREATE EXTENSION dblink;' in $(basename "$f"): FAIL" >&2
            exit 1
        fi
        sed -i 's/^CREATE EXTENSION dblink;$/CREATE EXTENSION pool; CREATE EXTENSION pool_dblink;/' "$f"
    done
fi
if [ "$(id -u)" = 0 ]; then chown -R "$POOL_USER" "$dir"; fi

if ! as_user make -s -C "$dir/regress" PG_CONFIG="$PG_CONFIG" >"$dir/regress-build.log" 2>&1; then
    cat "$dir/regress-build.log" >&2
    echo "dblink suite on $major: building regress.so failed: FAIL" >&2
    exit 1
fi

pg_regress=$("$PG_CONFIG" --pkglibdir)/pgxs/src/test/regress/pg_regress
set +e
(cd "$dir" && as_user "$pg_regress" --bindir="$PG_BIN" \
    --inputdir=. --outputdir=. --dlpath="$dir/regress" \
    --temp-instance="$dir/tmp_check" --temp-config="$dir/regress.conf" \
    dblink) >"$dir/regress.log" 2>&1
rc=$?
set -e
cat "$dir/regress.log"

hunks=0
if [ -f "$dir/regression.diffs" ]; then
    hunks=$(grep -c '^@@' "$dir/regression.diffs" || true)
fi
if [ "$rc" != 0 ] && [ "$hunks" = 0 ]; then
    # pg_regress failed without a diff: the instance did not start
    echo "dblink suite on $major: pg_regress failed (exit $rc) without a diff; see $dir: FAIL"
    exit 1
fi
if [ "$hunks" -le "$max_hunks" ]; then
    [ -f "$dir/regression.diffs" ] && cat "$dir/regression.diffs"
    echo "dblink suite on $major ($extension): $hunks differing hunks (at most $max_hunks): PASS"
    if [ -z "${POOL_KEEP:-}" ]; then as_root rm -rf "$dir"; fi
    exit 0
fi
if [ "${CI:-}" = true ]; then cat "$dir/regression.diffs"; fi
echo "dblink suite on $major ($extension): $hunks differing hunks (at most $max_hunks), diff in $dir/regression.diffs: FAIL"
exit 1
