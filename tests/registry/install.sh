#!/usr/bin/env bash
# Fetches Apicurio Registry (Apache-2.0; a Confluent-compatible schema
# registry under /apis/ccompat/v7, in-memory storage) for the schema
# registry tests from Maven Central into target/toolchains/apicurio.
# Then Debian's nginx, unpacked (never installed as a service) into
# target/toolchains/nginx: the tests put it in front of the registry as a
# TLS and basic-auth gate, as registries run in production.
# Idempotent: a second run finds them and returns.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"

nginx_dir="$root/target/toolchains/nginx"
if [ ! -x "$nginx_dir/usr/sbin/nginx" ]; then
    command -v apt-get >/dev/null || { echo "fetching nginx needs apt-get (Debian's packages)" >&2; exit 1; }
    rm -rf "$nginx_dir" && mkdir -p "$nginx_dir/deb"
    echo "fetching nginx from Debian's packages into $nginx_dir"
    (cd "$nginx_dir/deb" && { apt-get download nginx 2>/dev/null || { apt-get update -qq && apt-get download nginx; }; })
    deb=$(ls "$nginx_dir"/deb/nginx_*.deb 2>/dev/null | head -1)
    [ -n "$deb" ] || { echo "apt-get download nginx fetched nothing: run apt-get update, or check the network" >&2; exit 1; }
    dpkg -x "$deb" "$nginx_dir"
    rm -rf "$nginx_dir/deb"
fi
"$nginx_dir/usr/sbin/nginx" -v

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
