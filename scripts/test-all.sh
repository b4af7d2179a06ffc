#!/usr/bin/env bash
# Run the whole test suite with tox on every Python 3.9-3.13 this machine has.
# With pyenv, every installed 3.9-3.13 interpreter is put on PATH first, so that tox
# finds python3.9 ... python3.13 (pyenv's shims alone only expose the active one).
set -euo pipefail
cd "$(dirname "$0")/.."
if command -v pyenv >/dev/null 2>&1; then
    root=$(pyenv root)
    active=$(pyenv version-name 2>/dev/null | cut -d: -f1 || true)
    versions=$(pyenv versions --bare | grep -E '^3\.(9|10|11|12|13)\.[0-9]+$' || true)
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
python3 -m pip install --quiet --disable-pip-version-check "tox>=4.4"
exec python3 -m tox "$@"
