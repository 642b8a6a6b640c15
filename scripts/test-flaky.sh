#!/usr/bin/env bash
# Hunts flaky tests: runs the whole suite RUNS times (default 5) while
# `stress` keeps both cores and the disk busy, as a shared CI machine is.
# A test that fails once in those runs is flaky; fix it, never retry it.
#
#   RUNS=5 LOAD=2 scripts/test-flaky.sh [bazel test arguments, default //...]
#
# LOAD is the number of CPU burners (default 2; 0 for none). The load stops
# by itself after FLAKY_SECONDS (default 3600) if the run outlives it.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-5}
load=${LOAD:-2}
[ $# -gt 0 ] || set -- //...

if [ "$load" -gt 0 ] && ! command -v stress >/dev/null; then
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	$sudo apt-get install -y -q --no-install-recommends stress >/dev/null ||
		{ $sudo apt-get update -q && $sudo apt-get install -y -q --no-install-recommends stress; }
fi
stress_pid=""
if [ "$load" -gt 0 ]; then
	setsid stress --quiet --cpu "$load" --io 1 --timeout "${FLAKY_SECONDS:-3600}" &
	stress_pid=$!
fi
trap '[ -z "$stress_pid" ] || kill -- "-$stress_pid" 2>/dev/null || true' EXIT
${BAZEL:-bazel} test --runs_per_test="$runs" "$@"
