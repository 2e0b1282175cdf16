#!/usr/bin/env bash
# Fetches the jars a pom.xml of the tests lists (a Java server's runtime)
# from Maven Central into a directory under target/toolchains/.
#
#     fetch-jars.sh WHAT POM LIBS JAR...
#
# Idempotent: when every JAR (a file name) is in LIBS already, it returns.
set -euo pipefail
what=$1 pom=$2 libs=$3
shift 3
have=1
for jar in "$@"; do
    [ -f "$libs/$jar" ] || have=0
done
if [ "$have" = 1 ]; then
    echo "$what: $libs"
    exit 0
fi
command -v java >/dev/null || { echo "$what needs java (17 or newer) on PATH" >&2; exit 1; }
command -v mvn >/dev/null || { echo "fetching $what needs mvn (Maven) on PATH" >&2; exit 1; }
rm -rf "$libs"
echo "fetching $what from Maven Central into $libs"
mvn -q -B -f "$pom" dependency:copy-dependencies -DoutputDirectory="$libs" -DincludeScope=runtime
echo "$what: $libs"
