#!/usr/bin/env bash
# Fetches Apache Iceberg's REST catalog for the REST catalog tests (versions
# pinned in tests/iceberg/pom.xml) from Maven Central into
# target/toolchains/iceberg-rest/libs. Idempotent: a second run finds the
# jars and returns.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
libs="$root/target/toolchains/iceberg-rest/libs"
version=$(sed -n 's:.*<iceberg.version>\(.*\)</iceberg.version>.*:\1:p' "$root/tests/iceberg/pom.xml")
if [ -f "$libs/iceberg-core-$version-tests.jar" ] && [ -f "$libs/jetty-servlet-11.0.25.jar" ]; then
    echo "iceberg REST catalog $version: $libs"
    exit 0
fi
command -v java >/dev/null || { echo "the REST catalog tests need java (17 or newer) on PATH" >&2; exit 1; }
command -v mvn >/dev/null || { echo "fetching the REST catalog needs mvn (Maven) on PATH" >&2; exit 1; }
rm -rf "$libs"
echo "fetching the iceberg $version REST catalog from Maven Central into $libs"
mvn -q -B -f "$root/tests/iceberg/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$libs" -DincludeScope=runtime
echo "iceberg REST catalog $version: $libs"
