#!/usr/bin/env bash
# Fetches Apache Iceberg's REST catalog for the REST catalog tests (versions
# pinned in tests/iceberg/pom.xml) from Maven Central into
# target/toolchains/iceberg-rest/libs. Idempotent: a second run finds the
# jars and returns.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
version=$(sed -n 's:.*<iceberg.version>\(.*\)</iceberg.version>.*:\1:p' "$root/tests/iceberg/pom.xml")
exec bash "$root/tests/fetch-jars.sh" "the iceberg $version REST catalog" "$root/tests/iceberg/pom.xml" \
    "$root/target/toolchains/iceberg-rest/libs" "iceberg-core-$version-tests.jar" jetty-servlet-11.0.25.jar
