#!/usr/bin/env bash
# Every check and every test of the repository: formatting, clippy (warnings
# are errors) and the whole workspace's tests, end-to-end tests included.
# Needs the wasm32-wasip2 target: `rustup target add wasm32-wasip2`.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
    echo "the wasm32-wasip2 target is missing: run 'rustup target add wasm32-wasip2'" >&2
    exit 1
fi
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
