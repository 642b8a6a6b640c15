#!/usr/bin/env bash
# Runs inside the brand-new root (scripts/fresh-check.sh mounts the copy of
# the clone at /src): exactly the README's quick start, as root, with nothing
# installed beforehand.
set -euo pipefail
cd /src
export CI=true
start=$(date +%s)
./scripts/setup.sh
echo "fresh-check: setup took $(($(date +%s) - start)) s" >&2
make test
echo "fresh-check: setup + make test took $(($(date +%s) - start)) s" >&2
