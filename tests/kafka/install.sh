#!/usr/bin/env bash
# Fetches the Apache Kafka broker the Kafka tests start (version pinned in
# tests/kafka/pom.xml) from Maven Central into target/toolchains/kafka/libs.
# Idempotent: a second run finds the jars and returns.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
libs="$root/target/toolchains/kafka/libs"
version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$root/tests/kafka/pom.xml")
if [ -f "$libs/kafka_2.13-$version.jar" ] && [ -f "$libs/slf4j-api-2.0.17.jar" ]; then
    echo "kafka $version: $libs"
    exit 0
fi
command -v java >/dev/null || { echo "the Kafka tests need java (17 or newer) on PATH" >&2; exit 1; }
command -v mvn >/dev/null || { echo "fetching Kafka needs mvn (Maven) on PATH" >&2; exit 1; }
rm -rf "$libs"
echo "fetching kafka $version from Maven Central into $libs"
mvn -q -B -f "$root/tests/kafka/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$libs" -DincludeScope=runtime
echo "kafka $version: $libs"
