#!/usr/bin/env bash
# Installs the pinned guest toolchains (sdk/toolchains.env) into DIR (default
# target/toolchains/). Idempotent: a second run checks versions and returns.
# Point `quiver plugin build` at them with QUIVER_TOOLCHAINS=DIR.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
source "$root/sdk/toolchains.env"
tools="$(mkdir -p "${1:-$root/target/toolchains}" && cd "${1:-$root/target/toolchains}" && pwd)"

# Python guests: componentize-py in its own virtual environment, with the
# SDK's FlatBuffers runtime for running plugin tests in plain CPython.
venv="$tools/python"
if ! "$venv/bin/componentize-py" --version 2>/dev/null | grep -q "$COMPONENTIZE_PY_VERSION" ||
    ! "$venv/bin/python" -c "import flatbuffers, sys; sys.exit(flatbuffers.__version__ != '$PYTHON_FLATBUFFERS_VERSION')" 2>/dev/null; then
    echo "installing componentize-py $COMPONENTIZE_PY_VERSION into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
        "componentize-py==$COMPONENTIZE_PY_VERSION" "flatbuffers==$PYTHON_FLATBUFFERS_VERSION"
fi
"$venv/bin/componentize-py" --version
