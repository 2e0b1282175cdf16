#!/usr/bin/env bash
# Fetches the Apache Kafka broker the Kafka tests start (version pinned in
# tests/kafka/pom.xml) from Maven Central into target/toolchains/kafka/libs.
# Idempotent: a second run finds the jars and returns.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$root/tests/kafka/pom.xml")
exec bash "$root/tests/fetch-jars.sh" "kafka $version" "$root/tests/kafka/pom.xml" \
    "$root/target/toolchains/kafka/libs" "kafka_2.13-$version.jar" slf4j-api-2.0.17.jar
