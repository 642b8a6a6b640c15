#!/usr/bin/env bash
# Runs a Python test with Debian's interpreter (which has python3-grpcio),
# never whatever python3 comes first on PATH.
set -euo pipefail
script="$1"
shift
exec /usr/bin/python3 -u "$script" "$@"
