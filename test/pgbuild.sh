#!/usr/bin/env bash
# Gets PostgreSQL source packages from Debian's archive and builds
# PostgreSQL 18 from source, for testing pool against a major version that
# has no binary package here (only 15 has one, see test/lib.sh).
#
#   test/pgbuild.sh 18                              prints the path of pg_config
#   test/pgbuild.sh source postgresql-15 bookworm   prints the unpacked source dir
#
# or, sourced: pool_pg18_build and pool_pg_source PACKAGE SUITE do the same.
# Progress goes to stderr, only the path to stdout.
#
# Sources are fetched with apt-get source through a private apt configuration
# under the cache (one deb-src line for the suite, its own lists and cache),
# built from the Debian mirror this machine already uses; the system's apt
# configuration is never changed.  Missing build tools are installed with
# apt-get from the normal system configuration.
#
# Everything is cached outside the repository, in $POOL_PG_CACHE (default
# /var/cache/pool as root, ${XDG_CACHE_HOME:-$HOME/.cache}/pool otherwise),
# keyed by the exact Debian source version: a new upload to sid means a new
# build, the same version reuses the installed one.  Older installs are left
# in place (a server may still run from one); remove pg-<version> by hand.
#
# Debian's patches are NOT applied: they move pkglibdir to
# /usr/lib/postgresql/<major>/lib, outside the prefix, and change the default
# socket directory.  The tree is the pristine upstream release.

set -euo pipefail
shopt -s inherit_errexit

if [ "$(id -u)" = 0 ]; then
    POOL_PG_CACHE=${POOL_PG_CACHE:-/var/cache/pool}
else
    POOL_PG_CACHE=${POOL_PG_CACHE:-${XDG_CACHE_HOME:-${HOME:?}/.cache}/pool}
fi
POOL_PG_JOBS=${POOL_PG_JOBS:-2}
# 0: do not refresh the private package lists, use the ones already fetched
POOL_PG_REFRESH=${POOL_PG_REFRESH:-1}
POOL_PG_KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

# Tools for fetching and unpacking, and for building.
POOL_PG_SOURCE_TOOLS="dpkg-dev xz-utils bzip2 debian-archive-keyring"
POOL_PG_BUILD_TOOLS="gcc make perl bison flex pkg-config libssl-dev zlib1g-dev libipc-run-perl"

pool_pg_say() { printf '== %s\n' "$*" >&2; }

pool_pg_as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

pool_pg_installed() {
    # dpkg-query fails for a package it has never seen: that means missing
    { dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true; } | grep -q ' installed$'
}

# Install the packages that are missing, from the system's apt configuration.
pool_pg_need() {
    local p missing=""
    for p in "$@"; do
        pool_pg_installed "$p" || missing="$missing $p"
    done
    [ -n "$missing" ] || return 0
    pool_pg_say "installing:$missing"
    # a fresh machine may have no package lists at all yet
    pool_pg_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    # shellcheck disable=SC2086 # a list of names
    pool_pg_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >&2
}

# The URI of the Debian mirror this machine uses (not the security one),
# read from its apt sources; POOL_DEBIAN_MIRROR overrides.
pool_pg_mirror() {
    local uri=${POOL_DEBIAN_MIRROR:-} f
    if [ -z "$uri" ] && [ -r /etc/apt/sources.list.d/debian.sources ]; then
        # deb822: stanzas separated by blank lines, "URIs:" may list several
        uri=$(awk 'BEGIN { RS = ""; FS = "\n" }
            {
                enabled = 1; n = 0
                for (i = 1; i <= NF; i++) {
                    if ($i ~ /^[Ee]nabled:[ \t]*[Nn]o/) enabled = 0
                    if ($i ~ /^URIs:/) { s = $i; sub(/^URIs:[ \t]*/, "", s); n = split(s, u, /[ \t]+/) }
                }
                if (!enabled) next
                for (j = 1; j <= n; j++) {
                    x = u[j]; sub(/\/+$/, "", x)
                    if (x ~ /\/debian$/) { print x; exit }
                }
            }' /etc/apt/sources.list.d/debian.sources)
    fi
    if [ -z "$uri" ]; then
        # classic one-line format: deb [options] URI suite components
        for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
            [ -r "$f" ] || continue
            uri=$(awk '$1 == "deb" || $1 == "deb-src" {
                    i = 2
                    if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
                    x = $i; sub(/\/+$/, "", x)
                    if (x ~ /\/debian$/) { print x; exit }
                }' "$f")
            [ -z "$uri" ] || break
        done
    fi
    if [ -z "$uri" ]; then
        echo "no Debian mirror (URI ending in /debian) in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list; set POOL_DEBIAN_MIRROR" >&2
        return 1
    fi
    echo "$uri"
}

# Set up the private apt configuration for SUITE and put its options into
# the array POOL_PG_APT.
pool_pg_apt_setup() {
    local suite=$1 mirror dir line
    mirror=$(pool_pg_mirror)
    case "$mirror" in https:*) pool_pg_need ca-certificates ;; esac
    dir=$POOL_PG_CACHE/apt/$suite
    (umask 022; mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial")
    line="deb-src [signed-by=$POOL_PG_KEYRING] $mirror $suite main"
    if [ "$(cat "$dir/sources.list" 2>/dev/null || true)" != "$line" ]; then
        echo "$line" >"$dir/sources.list"
    fi
    # the system's update hooks (PackageKit, AppStream) have nothing to do
    # with these lists
    printf '#clear APT::Update::Pre-Invoke;\n#clear APT::Update::Post-Invoke;\n#clear APT::Update::Post-Invoke-Success;\n' >"$dir/apt.conf"
    POOL_PG_APT=(
        -c "$dir/apt.conf"
        -o "Dir::Etc::sourcelist=$dir/sources.list"
        -o "Dir::Etc::sourceparts=-"
        -o "Dir::State::Lists=$dir/lists"
        -o "Dir::Cache=$dir/cache"
        -o "Acquire::Languages=none"
    )
}

# The newest version of source package PACKAGE in SUITE, refreshing the
# private lists first (falling back to the lists already there if the
# archive cannot be reached).
pool_pg_version() {
    local pkg=$1 suite=$2 v best=""
    pool_pg_apt_setup "$suite"
    if [ "$POOL_PG_REFRESH" != 0 ]; then
        if ! apt-get "${POOL_PG_APT[@]}" update -qq >&2; then
            pool_pg_say "could not refresh the $suite source list, using the one already fetched"
        fi
    fi
    for v in $(apt-cache "${POOL_PG_APT[@]}" showsrc --only-source "$pkg" 2>/dev/null |
               awk '/^Version: / { print $2 }'); do
        if [ -z "$best" ] || dpkg --compare-versions "$v" gt "$best"; then best=$v; fi
    done
    if [ -z "$best" ]; then
        echo "no source package $pkg in $suite" >&2
        return 1
    fi
    echo "$best"
}

# Unpack PACKAGE at VERSION (fetching it if needed) under the cache, without
# Debian's patches; prints the tree.  The caller holds the lock.
pool_pg_unpack() {
    local pkg=$1 suite=$2 version=$3 key tree dl tmp start dsc old
    # "_" is in no package name: PACKAGE_VERSION names one version alone
    key=${pkg}_${version//:/_}
    tree=$POOL_PG_CACHE/src/$key
    if [ -f "$tree/.pool-unpacked" ]; then echo "$tree"; return 0; fi
    dl=$POOL_PG_CACHE/debian/$key
    (umask 022; mkdir -p "$POOL_PG_CACHE/debian" "$POOL_PG_CACHE/src")
    if [ ! -f "$dl/.pool-fetched" ]; then
        start=$SECONDS
        pool_pg_say "fetching $pkg $version from $suite"
        pool_pg_apt_setup "$suite"
        rm -rf "$dl"
        tmp=$(mktemp -d "$POOL_PG_CACHE/debian/.fetch.XXXXXX")
        chmod 755 "$tmp"
        # as root apt downloads as _apt: let it write there
        if [ "$(id -u)" = 0 ] && getent passwd _apt >/dev/null; then chown _apt "$tmp"; fi
        if ! (cd "$tmp" && apt-get "${POOL_PG_APT[@]}" source --download-only -qq "$pkg=$version" >&2); then
            rm -rf "$tmp"
            echo "apt-get source $pkg=$version failed" >&2
            return 1
        fi
        if [ "$(id -u)" = 0 ]; then chown -R root:root "$tmp"; fi
        touch "$tmp/.pool-fetched"
        mv "$tmp" "$dl"
        pool_pg_say "fetched $pkg $version in $((SECONDS - start))s"
    fi
    dsc=$(ls "$dl"/*.dsc)
    rm -rf "$tree" "$tree.tmp"
    pool_pg_say "unpacking $(basename "$dsc") (without Debian's patches)"
    (umask 022; cd "$POOL_PG_CACHE/src" &&
        dpkg-source -x --skip-patches "$dsc" "$tree.tmp" >&2)
    chmod -R a+rX "$tree.tmp"
    touch "$tree.tmp/.pool-unpacked"
    mv "$tree.tmp" "$tree"
    # other versions of this package are of no more use
    for old in "$POOL_PG_CACHE/src/${pkg}_"* "$POOL_PG_CACHE/debian/${pkg}_"*; do
        [ -e "$old" ] || continue
        case "$old" in "$tree" | "$dl") ;; *) rm -rf "$old" ;; esac
    done
    echo "$tree"
}

# pool_pg_source PACKAGE SUITE: prints the unpacked source tree of the newest
# PACKAGE in SUITE, fetching it if needed.
pool_pg_source() {
    local pkg=$1 suite=$2 version
    # shellcheck disable=SC2086 # a list of names
    pool_pg_need $POOL_PG_SOURCE_TOOLS
    (umask 022; mkdir -p "$POOL_PG_CACHE")
    version=$(pool_pg_version "$pkg" "$suite")
    (
        flock 9
        pool_pg_unpack "$pkg" "$suite" "$version"
    ) 9>>"$POOL_PG_CACHE/.lock"
}

# pool_pg18_build: prints the pg_config of the cached build of the newest
# postgresql-18 in sid, building it if needed.
pool_pg18_build() {
    local pkg=postgresql-18 suite=sid version prefix
    # shellcheck disable=SC2086 # lists of names
    pool_pg_need $POOL_PG_SOURCE_TOOLS $POOL_PG_BUILD_TOOLS
    (umask 022; mkdir -p "$POOL_PG_CACHE")
    if ! version=$(pool_pg_version "$pkg" "$suite"); then
        # sid moves on to the next major one day: the newest 18 built stays
        prefix=$( (ls -d "$POOL_PG_CACHE"/pg-18.* 2>/dev/null || true) | sort -V | tail -n 1)
        if [ -n "$prefix" ] && [ -f "$prefix/.pool-built" ]; then
            pool_pg_say "no $pkg in $suite any more; using the build in $prefix"
            echo "$prefix/bin/pg_config"
            return 0
        fi
        return 1
    fi
    prefix=$POOL_PG_CACHE/pg-${version//:/_}
    if [ -f "$prefix/.pool-built" ]; then echo "$prefix/bin/pg_config"; return 0; fi
    (
        flock 9
        # another run may have built it while we waited
        if [ -f "$prefix/.pool-built" ]; then echo "$prefix/bin/pg_config"; exit 0; fi
        src=$(pool_pg_unpack "$pkg" "$suite" "$version")
        build=$POOL_PG_CACHE/build-${version//:/_}
        log=$POOL_PG_CACHE/pg-${version//:/_}.log
        # ICU and readline only if their headers are here already: neither
        # matters to pool's tests, and leaving them out keeps the tools small
        extra=()
        pool_pg_installed libicu-dev || extra+=(--without-icu)
        pool_pg_installed libreadline-dev || extra+=(--without-readline)
        rm -rf "$build" "$prefix"
        mkdir -p "$build"
        start=$SECONDS
        pool_pg_say "building PostgreSQL $version into $prefix (log: $log)"
        umask 022
        if ! (
            cd "$build" &&
            echo "+ configure --prefix=$prefix --enable-tap-tests --with-openssl ${extra[*]}" &&
            "$src/configure" --prefix="$prefix" --enable-tap-tests --with-openssl "${extra[@]}" &&
            echo "+ make -j$POOL_PG_JOBS world-bin" &&
            make -j"$POOL_PG_JOBS" world-bin &&
            echo "+ make install-world-bin" &&
            make install-world-bin
        ) >"$log" 2>&1; then
            if [ "${CI:-}" = true ]; then cat "$log" >&2; else tail -n 40 "$log" >&2; fi
            echo "building PostgreSQL $version failed after $((SECONDS - start))s; the log is $log" >&2
            exit 1
        fi
        chmod -R a+rX "$prefix"
        "$prefix/bin/pg_config" --version >&2
        touch "$prefix/.pool-built"
        # the trees are big; the fetched files stay for a rebuild
        rm -rf "$build" "$src"
        pool_pg_say "built PostgreSQL $version in $((SECONDS - start))s"
        if [ "$(id -u)" = 0 ] && getent passwd postgres >/dev/null &&
           ! runuser -u postgres -- test -x "$prefix/bin/postgres"; then
            pool_pg_say "warning: the postgres user cannot run $prefix/bin/postgres (is $POOL_PG_CACHE readable?)"
        fi
        echo "$prefix/bin/pg_config"
    ) 9>>"$POOL_PG_CACHE/.lock"
}

pool_pg_main() {
    if [ $# = 1 ] && [ "$1" = 18 ]; then
        pool_pg18_build
    elif [ $# = 3 ] && [ "$1" = source ]; then
        pool_pg_source "$2" "$3"
    else
        echo "usage: $0 18 | $0 source PACKAGE SUITE" >&2
        exit 2
    fi
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    pool_pg_main "$@"
fi
