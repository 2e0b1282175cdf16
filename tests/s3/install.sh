#!/usr/bin/env bash
# Builds the S3-compatible server the object-storage tests start: s3s-fs
# (Apache-2.0, from crates.io, pinned here), an S3 API with multipart
# uploads over a local directory, into target/toolchains/s3s. Idempotent:
# a second run finds the binary and returns. Takes about 4 minutes on 2 cores.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
version=0.14.1
dir="$root/target/toolchains/s3s"
if [ -x "$dir/bin/s3s-fs" ] && [ "$(cat "$dir/version" 2>/dev/null)" = "$version" ]; then
    echo "s3s-fs $version: $dir/bin/s3s-fs"
    exit 0
fi
echo "building s3s-fs $version into $dir"
# A build directory of its own: it must not touch the workspace's target/.
CARGO_TARGET_DIR="$dir/build" cargo install s3s-fs --version "$version" --features binary --locked --root "$dir" --quiet
rm -rf "$dir/build"
echo "$version" > "$dir/version"
echo "s3s-fs $version: $dir/bin/s3s-fs"
