#!/usr/bin/env bash
# Every check and every test of the repository: formatting, clippy (warnings
# are errors) and the whole workspace's tests, end-to-end tests included.
# Needs the wasm32-wasip2 target (`rustup target add wasm32-wasip2`),
# python3 with venv (a shared-library build: `import quiver` is tested with
# the native module cargo builds), java 17+ with mvn for the Kafka broker and
# Spark, and node for the Azure server; installs the pinned guest
# toolchains, the test clients, the broker's jars, the S3 server, the Azure
# server, the Iceberg REST catalog's jars and the schema registry.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
    echo "the wasm32-wasip2 target is missing: run 'rustup target add wasm32-wasip2'" >&2
    exit 1
fi
# Guest toolchains for the plugins in other languages (pinned in sdk/toolchains.env).
bash sdk/install-toolchains.sh
# Python clients of the tests (pyarrow, pandas, Polars, requests, and PySpark,
# whose jars and spark-class run the Spark tests' standalone cluster).
bash tests/install-clients.sh
# The Apache Kafka broker of the Kafka tests (jars from Maven Central; needs java and mvn).
bash tests/kafka/install.sh
# The S3-compatible server of the object-storage tests (s3s-fs, built from crates.io).
bash tests/s3/install.sh
# The Azure Blob Storage server of the Azure tests (Azurite, from npm; needs node).
bash tests/azure/install.sh
# Apache Iceberg's REST catalog of the REST catalog tests (jars from Maven Central; needs java and mvn).
bash tests/iceberg/install.sh
# The Confluent-compatible schema registry of the Avro tests (Apicurio, from Maven Central; needs java and mvn).
bash tests/registry/install.sh
cargo fmt --all --check
# Clippy lints the workspace's crates while they build for the tests, with
# warnings as errors: what `cargo clippy --workspace --all-targets -- -D
# warnings` does (clippy-driver as the workspace's rustc wrapper), but the
# dependencies build once, for the tests, instead of a second time in check
# mode. The test run below keeps the same settings, so it rebuilds nothing.
clippy_driver=$(rustup which clippy-driver 2>/dev/null || command -v clippy-driver) || {
    echo "clippy is missing: run 'rustup component add clippy'" >&2
    exit 1
}
export RUSTC_WORKSPACE_WRAPPER="$clippy_driver"
export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
cargo test --workspace --all-targets --locked --no-run

# The Python SDK's codec against pyarrow: fast, so before the long cargo run.
# (Each plugin's own tests run in the workspace's tests, by `quiver plugin test`.)
python=target/toolchains/clients/bin/python
(cd sdk/python && "../../$python" -B -m unittest discover -s tests)

# cargo prints one result line per test binary (the last is often an empty
# doc-test run): end with the total, so the closing line tells the truth.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace --locked 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed;?$/) p += $i; if ($(i+1) ~ /^failed;?$/) f += $i } }
     END { printf "workspace: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
