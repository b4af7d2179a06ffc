#!/usr/bin/env bash
# Run the whole test suite with tox on every Python 3.9-3.13 this machine has.
# With pyenv, all installed 3.9-3.13 interpreters are made visible first.
set -euo pipefail
cd "$(dirname "$0")/.."
if command -v pyenv >/dev/null 2>&1; then
    versions=$(pyenv versions --bare | grep -E '^3\.(9|10|11|12|13)\.[0-9]+$' | sort -t. -k1,1n -k2,2n -k3,3n || true)
    if [ -n "$versions" ]; then
        # The active interpreter stays first (it runs tox); the others follow so python3.X resolves.
        active=$(pyenv version-name 2>/dev/null | cut -d: -f1 || true)
        PYENV_VERSION=$( (echo "$active"; echo "$versions") | grep -v '^$' | awk '!seen[$0]++' | paste -sd: -)
        export PYENV_VERSION
    fi
fi
python3 -m pip install --quiet --disable-pip-version-check "tox>=4.4"
exec python3 -m tox "$@"
