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

# JavaScript guests: componentize-js, esbuild and apache-arrow from npm, in
# their own node_modules. npm 11 skips esbuild's install script; esbuild
# still runs through its platform package.
js="$tools/js"
js_wanted="$COMPONENTIZE_JS_VERSION $ESBUILD_VERSION $APACHE_ARROW_JS_VERSION"
if [ "$(cat "$js/.versions" 2>/dev/null)" != "$js_wanted" ]; then
    echo "installing componentize-js $COMPONENTIZE_JS_VERSION, esbuild $ESBUILD_VERSION, apache-arrow $APACHE_ARROW_JS_VERSION into $js"
    mkdir -p "$js"
    echo '{"private": true}' >"$js/package.json"
    (cd "$js" && npm install --silent --no-audit --no-fund --save-exact \
        "@bytecodealliance/componentize-js@$COMPONENTIZE_JS_VERSION" \
        "esbuild@$ESBUILD_VERSION" "apache-arrow@$APACHE_ARROW_JS_VERSION")
    echo "$js_wanted" >"$js/.versions"
fi
"$js/node_modules/.bin/esbuild" --version
