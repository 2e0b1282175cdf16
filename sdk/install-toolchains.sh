#!/usr/bin/env bash
# Installs the pinned guest toolchains (sdk/toolchains.env) into
# target/toolchains/. Idempotent: a second run checks versions and returns.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
source "$root/sdk/toolchains.env"
tools="$root/target/toolchains"
mkdir -p "$tools"

# Python guests: componentize-py in its own virtual environment.
venv="$tools/python"
if ! "$venv/bin/componentize-py" --version 2>/dev/null | grep -q "$COMPONENTIZE_PY_VERSION"; then
    echo "installing componentize-py $COMPONENTIZE_PY_VERSION into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "componentize-py==$COMPONENTIZE_PY_VERSION"
fi
"$venv/bin/componentize-py" --version
