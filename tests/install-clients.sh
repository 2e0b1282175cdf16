#!/usr/bin/env bash
# Installs the pinned Python clients of the sidecar tests (pyarrow's Flight
# client, pandas, requests; tests/clients/requirements.txt) into their own
# virtual environment, target/toolchains/clients. Idempotent.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/target/toolchains/clients"
requirements="$root/tests/clients/requirements.txt"
stamp="$venv/.requirements"
if [ -f "$stamp" ] && cmp -s "$stamp" "$requirements"; then
    exit 0
fi
echo "installing the Python test clients into $venv"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
cp "$requirements" "$stamp"
