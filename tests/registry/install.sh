#!/usr/bin/env bash
# Fetches Apicurio Registry (Apache-2.0; a Confluent-compatible schema
# registry under /apis/ccompat/v7, in-memory storage) for the schema
# registry tests from Maven Central into target/toolchains/apicurio.
# Idempotent: a second run finds it and returns.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
version=3.0.9
dir="$root/target/toolchains/apicurio"
jar="$dir/apicurio-registry-app-$version-runner.jar"
if [ -f "$jar" ]; then
    echo "apicurio registry $version: $jar"
    exit 0
fi
command -v java >/dev/null || { echo "the schema registry tests need java (17 or newer) on PATH" >&2; exit 1; }
command -v mvn >/dev/null || { echo "fetching the schema registry needs mvn (Maven) on PATH" >&2; exit 1; }
rm -rf "$dir"
mkdir -p "$dir"
echo "fetching apicurio registry $version from Maven Central into $dir"
mvn -q -B dependency:copy -Dartifact="io.apicurio:apicurio-registry-app:$version:zip:all" -DoutputDirectory="$dir"
python3 -m zipfile -e "$dir/apicurio-registry-app-$version-all.zip" "$dir"
rm "$dir/apicurio-registry-app-$version-all.zip"
echo "apicurio registry $version: $jar"
