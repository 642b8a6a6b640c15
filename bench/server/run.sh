#!/usr/bin/env bash
# kc-server benchmark: figures beside the DESIGN §6 targets. Not a test.
#   bench/server/run.sh            (BENCH_TASKS=10000 BENCH_SECONDS=5 by default)
set -euo pipefail
cd "$(dirname "$0")/../.."
${BAZEL:-bazel} build //server:kc-server //proto:api_descriptor_set >&2
exec /usr/bin/python3 bench/server/bench.py
