#!/usr/bin/env bash
# Quiver's enrich pipelines (the Rust plugin, the Python plugin on columns,
# with and without projection pushdown) beside Polars' native expressions
# on the same generated clickstream file, in one run.
#
#   bash bench/polars-vs-quiver.sh [ROWS]      # default 10,000,000
#
# Needs the guest toolchains (bash sdk/install-toolchains.sh target/toolchains)
# for the Python plugin; installs Polars into target/toolchains/bench.
# Not part of CI: a benchmark, minutes long.
set -euo pipefail
rows=${1:-10000000}
root=$(cd "$(dirname "$0")/.." && pwd)
target=$root/target
work=$target/bench/polars
venv=$target/toolchains/bench
mkdir -p "$work"

if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import polars' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet polars==2.1.0
fi

cargo build --release -p quiver --manifest-path "$root/Cargo.toml"
quiver=$target/release/quiver
export QUIVER_TOOLCHAINS=${QUIVER_TOOLCHAINS:-$target/toolchains}
rust=$("$quiver" plugin build "$root/plugins/rust/enrich" | tail -n 1)
python=$("$quiver" plugin build "$root/plugins/python/enrich" | tail -n 1)

# The demo's clickstream, in one file of row groups of a million rows.
"$quiver" demo --dir "$work/demo" --rows "$rows" --rows-per-file "$rows" > /dev/null
source=$(ls "$work"/demo/data/clicks/part-0000.parquet)

"$venv/bin/python" "$root/bench/polars_vs_quiver.py" "$quiver" "$source" "$rust" "$python" "$work"
