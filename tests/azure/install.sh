#!/usr/bin/env bash
# Installs the Azure Blob Storage server the Azure tests start: Azurite
# (MIT, from npm, pinned with its whole tree in tests/azure/package-lock.json)
# into target/toolchains/azurite. Idempotent: a second run finds it and
# returns. Takes about a minute.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
dir="$root/target/toolchains/azurite"
lock="$root/tests/azure/package-lock.json"
if [ -x "$dir/node_modules/.bin/azurite-blob" ] && cmp -s "$lock" "$dir/package-lock.json"; then
    echo "azurite: $dir/node_modules/.bin/azurite-blob"
    exit 0
fi
echo "installing azurite into $dir"
mkdir -p "$dir"
cp "$root/tests/azure/package.json" "$lock" "$dir/"
(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
echo "azurite: $dir/node_modules/.bin/azurite-blob"
