#!/usr/bin/env bash
# Run the whole test suite with tox: py310 ... py315, lint and type.
#
# Every Python 3.10-3.15 this machine has runs here (with pyenv, each installed 3.10-3.15
# interpreter is put on PATH first, so that tox finds python3.10 ... python3.15; pyenv's
# shims alone only expose the active one). CPython 3.14 and 3.15, when the host lacks
# them, run afterwards in a Debian testing root (scripts/test-chroot.sh; needs root).
# Both parts always run, one after the other; the exit status is non-zero if either fails.
# Arguments go to both tox runs, e.g. `bash scripts/test-all.sh -- -x -k queue`.
set -uo pipefail
cd "$(dirname "$0")/.."
if command -v pyenv >/dev/null 2>&1; then
    root=$(pyenv root)
    active=$(pyenv version-name 2>/dev/null | cut -d: -f1 || true)
    versions=$(pyenv versions --bare | grep -E '^3\.(10|11|12|13|14|15)\.[0-9]+$' || true)
    for v in $versions; do
        [ "$v" = "$active" ] || PATH="$root/versions/$v/bin:$PATH"
    done
    # The active interpreter stays first on PATH: it runs tox.
    if [ -n "$active" ] && [ -d "$root/versions/$active/bin" ]; then
        PATH="$root/versions/$active/bin:$PATH"
    fi
    PYENV_VERSION=$( (echo "$active"; echo "$versions") | grep -v '^$' | awk '!seen[$0]++' | paste -sd: -)
    export PATH PYENV_VERSION
fi

# 3.10-3.13 always run here (tox fails if one is missing); 3.14 and 3.15 here if present.
host_envs=py310,py311,py312,py313
chroot_envs=
for v in 14 15; do
    if command -v "python3.$v" >/dev/null 2>&1; then
        host_envs="$host_envs,py3$v"
    else
        chroot_envs="${chroot_envs:+$chroot_envs,}py3$v"
    fi
done
host_envs="$host_envs,lint,type"

python3 -m pip install --quiet --disable-pip-version-check "tox>=4.4" || exit 1
start=$SECONDS
python3 -m tox -e "$host_envs" "$@"
host_rc=$?
echo "test-all.sh: tox -e $host_envs exited $host_rc after $((SECONDS - start)) s" >&2
chroot_rc=0
if [ -n "$chroot_envs" ]; then
    start=$SECONDS
    bash scripts/test-chroot.sh -e "$chroot_envs" "$@"
    chroot_rc=$?
    echo "test-all.sh: tox -e $chroot_envs (Debian testing root) exited $chroot_rc after $((SECONDS - start)) s" >&2
fi
[ "$host_rc" = 0 ] && [ "$chroot_rc" = 0 ]
