#!/usr/bin/env bash
# kc-server benchmarks: figures beside the DESIGN §6 targets. Not a test.
#   bench/server/run.sh            everything
#   bench/server/run.sh prompt     prompt delivery latency only
#   bench/server/run.sh store      start-up, list, rate and idle memory only
# (BENCH_TASKS=10000 BENCH_SECONDS=5 BENCH_PROMPTS=40 BENCH_PARALLEL=4 by default)
set -euo pipefail
cd "$(dirname "$0")/../.."
${BAZEL:-bazel} build //server:kc-server //gateway:kc-gateway //proto:api_descriptor_set >&2
what="${1:-all}"
if [ "$what" = all ] || [ "$what" = store ]; then
	/usr/bin/python3 bench/server/bench.py
fi
if [ "$what" = all ] || [ "$what" = prompt ]; then
	[ "$what" = all ] && echo
	/usr/bin/python3 bench/server/prompt_latency.py
fi
