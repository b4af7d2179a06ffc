#!/usr/bin/env bash
# Run tox environments for the CPythons this host cannot run (3.14, 3.15) inside a Debian
# testing root that packages them.
#
#   bash scripts/test-chroot.sh [-e ENVS] [TOX ARGS]         (default: -e py314,py315)
#   bash scripts/test-chroot.sh --shell CMD ...              (run CMD in the root, checkout at /src)
#
# Debian's python3.14/python3.15 need a newer C library than a Debian 12 host, so they live
# in a debootstrap root of the testing suite (forky), with Prometheus, the Pushgateway and
# rsyslog for the integration tests. The root is built once into a temporary directory and
# renamed into place when complete (HFTLOGGING_CI_CACHE, default /var/cache/hftlogging-ci);
# a root that fails its checks is rebuilt. Inside it, a venv made with python3.14 runs tox
# against the checkout's tox.ini (bind-mounted at /src; tox's work dir stays in the root),
# and a second venv holds the rotel OTLP collector. Needs root (debootstrap, mount, chroot).
# Every mount is undone on exit, success or failure.
set -euo pipefail
cd "$(dirname "$0")/.."
checkout=$(pwd)

suite=forky
packages=python3.14,python3.14-venv,python3.15,python3.15-venv,ca-certificates,prometheus,prometheus-pushgateway,rsyslog
mirror=${HFTLOGGING_CI_MIRROR:-http://deb.debian.org/debian}
cache=${HFTLOGGING_CI_CACHE:-/var/cache/hftlogging-ci}
root="$cache/$suite"
stamp=.hftlogging-ci-root   # written in the root once it passed its checks; holds $packages

if [ "$(id -u)" != 0 ]; then
    echo "test-chroot.sh: needs root (debootstrap, mount, chroot)" >&2
    exit 2
fi
mkdir -p "$cache"
# One run at a time uses the root: its mounts and tox work dir are shared.
exec 9>"$cache/$suite.lock"
flock 9

log() { printf '[chroot %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

root_ok() {  # $1: root directory; every program the tests need runs there
    local r=$1 p
    for p in usr/bin/python3.14 usr/bin/python3.15 usr/bin/prometheus usr/bin/prometheus-pushgateway \
            usr/bin/promtool usr/sbin/rsyslogd; do
        [ -x "$r/$p" ] || return 1
    done
    chroot "$r" /usr/bin/python3.14 -c 'import ensurepip, venv, ssl' >/dev/null 2>&1 || return 1
    chroot "$r" /usr/bin/python3.15 -c 'import ensurepip, venv, ssl' >/dev/null 2>&1 || return 1
}

ensure_root() {
    if [ -f "$root/$stamp" ] && [ "$(cat "$root/$stamp")" = "$packages" ] && root_ok "$root"; then
        return 0
    fi
    if [ -d "$root" ]; then
        log "root $root is incomplete or stale: rebuilding"
        mv "$root" "$root.broken.$$"
        rm -rf --one-file-system "$root.broken.$$"
    fi
    command -v debootstrap >/dev/null 2>&1 || {
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
    }
    # Debian 12's debootstrap has no script for the newer suites; sid's works for them.
    local script=/usr/share/debootstrap/scripts/$suite
    [ -e "$script" ] || script=/usr/share/debootstrap/scripts/sid
    local tmp="$root.tmp.$$"
    rm -rf --one-file-system "$tmp"
    log "debootstrap $suite into $tmp"
    if ! debootstrap --variant=minbase --include="$packages" "$suite" "$tmp" "$mirror" "$script" \
            >"$cache/debootstrap.log" 2>&1; then
        tail -n 20 "$cache/debootstrap.log" >&2
        rm -rf --one-file-system "$tmp"
        echo "test-chroot.sh: debootstrap failed (log: $cache/debootstrap.log)" >&2
        exit 1
    fi
    root_ok "$tmp" || { echo "test-chroot.sh: the new root fails its checks" >&2; exit 1; }
    printf '%s' "$packages" >"$tmp/$stamp"
    mv "$tmp" "$root"
}

mounted=()
cleanup() {
    local i
    for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
        umount "${mounted[$i]}" 2>/dev/null || umount -l "${mounted[$i]}" 2>/dev/null || true
    done
    mounted=()
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mnt() {  # mnt TARGET MOUNT-ARGS...: mount and remember it for cleanup
    local target=$1
    shift
    mkdir -p "$target"
    mount "$@" "$target"
    mounted+=("$target")
}

ensure_root

# The host's resolver and CA bundle, so that pip reaches the package index as it does here.
cp -L /etc/resolv.conf "$root/etc/resolv.conf"
mkdir -p "$root/etc/ssl/certs"
cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"

mnt "$root/proc" -t proc proc
mnt "$root/dev" --bind /dev
mnt "$root/dev/shm" -t tmpfs -o mode=1777 shm
mnt "$root/tmp" -t tmpfs -o mode=1777 tmp
mnt "$root/src" --bind "$checkout"

in_root() {
    chroot "$root" /usr/bin/env -i \
        PATH=/opt/ci/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin \
        HOME=/root LANG=C.UTF-8 TMPDIR=/tmp \
        PIP_CERT=/etc/ssl/certs/ca-certificates.crt PIP_DISABLE_PIP_VERSION_CHECK=1 \
        ${CI:+CI="$CI"} \
        PROMETHEUS_BIN=/usr/bin/prometheus PUSHGATEWAY_BIN=/usr/bin/prometheus-pushgateway \
        PROMTOOL_BIN=/usr/bin/promtool RSYSLOGD_BIN=/usr/sbin/rsyslogd \
        ${rotel_bin:+ROTEL_BIN="$rotel_bin"} \
        "$@"
}

# tox in a venv of the root's python3.14 (kept in the root: built once).
if ! [ -x "$root/opt/ci/bin/tox" ]; then
    log "venv with tox in the root"
    rm -rf "$root/opt/ci"
    in_root python3.14 -m venv /opt/ci
    in_root /opt/ci/bin/python -m pip install --quiet "tox>=4.4"
fi

# The rotel OTLP collector. Its wheel ships a native rotel-agent executable inside the
# package, built per CPython; the host's (ROTEL_BIN, installed by .ci/run) is copied in, so
# every Python is tested against the same collector. Otherwise it is installed in a venv of
# its own in the root; if that fails too, ROTEL_BIN stays unset.
rotel_bin=
if [ -n "${ROTEL_BIN:-}" ] && [ -x "$ROTEL_BIN" ]; then
    rm -rf "$root/opt/rotel-host"
    mkdir -p "$root/opt/rotel-host/lib"
    install -m 0755 "$ROTEL_BIN" "$root/opt/rotel-host/rotel-agent"
    # It links the libpython of the CPython it was built for, which the root lacks: bring
    # the host's copy along, and start it through a wrapper that points the loader there.
    for lib in $(ldd "$ROTEL_BIN" | awk '/libpython/ {print $3}'); do
        cp -L "$lib" "$root/opt/rotel-host/lib/"
    done
    printf '#!/bin/sh\nLD_LIBRARY_PATH=/opt/rotel-host/lib exec /opt/rotel-host/rotel-agent "$@"\n' \
        > "$root/opt/rotel-host/run"
    chmod 0755 "$root/opt/rotel-host/run"
    if in_root /opt/rotel-host/run --version >/dev/null 2>&1; then
        rotel_bin=/opt/rotel-host/run
    else
        log "the host's rotel does not run in the root: trying the root's own"
    fi
fi
rotel_path='import os, rotel; print(os.path.join(os.path.dirname(rotel.__file__), "rotel-agent"))'
if [ -z "$rotel_bin" ] && ! in_root /opt/rotel/bin/python -c "$rotel_path" >/dev/null 2>&1; then
    rm -rf "$root/opt/rotel"
    { in_root python3.14 -m venv /opt/rotel && in_root /opt/rotel/bin/python -m pip install --quiet rotel; } \
        || log "rotel could not be installed in the root: ROTEL_BIN stays unset"
fi
if [ -z "$rotel_bin" ] && p=$(in_root /opt/rotel/bin/python -c "$rotel_path" 2>/dev/null) \
        && [ -x "$root$p" ]; then
    rotel_bin=$p
fi

if [ "${1:-}" = --shell ]; then
    shift
    in_root /bin/sh -c 'cd /src && exec "$@"' sh "$@"
    exit $?
fi

envs=py314,py315
if [ "${1:-}" = -e ]; then
    envs=$2
    shift 2
fi
# A fresh tox work dir every run: envs left by an interrupted earlier run (the root is
# cached between runs) can hold a half-installed package whose metadata pip refuses.
rm -rf "$root/var/tmp/hftlogging-tox"
log "tox -e $envs in the root"
# tox's work dir stays in the root: the host's .tox holds envs of the host's interpreters.
in_root /bin/sh -c 'cd /src && exec tox --workdir /var/tmp/hftlogging-tox -e "$@"' sh "$envs" "$@"
