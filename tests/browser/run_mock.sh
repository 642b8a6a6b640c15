#!/usr/bin/env bash
# The dashboard in headless Chromium against tests/browser/mock_server.js,
# which speaks the REST contract (DESIGN §3) with canned data and streams.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
runfiles=${TEST_SRCDIR:+$TEST_SRCDIR/${TEST_WORKSPACE:-__main__}}
root=${runfiles:-$(cd "$here/../.." && pwd)}
web="$root/gateway/web"
tmp=${TEST_TMPDIR:-$(mktemp -d)}
# Chromium puts a unix socket in its profile, and a socket path must fit in
# 108 bytes: Bazel's TEST_TMPDIR is too deep, so the profile goes under /tmp.
short=$(mktemp -d /tmp/kcweb.XXXXXX)
export HOME="$tmp" TMPDIR="$short" XDG_CONFIG_HOME="$tmp/.config" XDG_CACHE_HOME="$tmp/.cache"

for need in node /usr/bin/chromium; do
	command -v "$need" >/dev/null || { echo "run_mock: $need is missing; run scripts/setup.sh" >&2; exit 1; }
done

token="mock-$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')"
node "$root/tests/browser/mock_server.js" --web "$web" --port 0 --token "$token" >"$tmp/mock.log" 2>&1 &
mock=$!
trap 'kill $mock 2>/dev/null || true; rm -rf "$short"' EXIT

port=""
for _ in $(seq 100); do
	port=$(sed -n 's/^listening \([0-9]*\)$/\1/p' "$tmp/mock.log")
	[ -n "$port" ] && break
	kill -0 $mock 2>/dev/null || { cat "$tmp/mock.log" >&2; exit 1; }
	sleep 0.1
done
[ -n "$port" ] || { echo "run_mock: the mock did not start" >&2; cat "$tmp/mock.log" >&2; exit 1; }

KC_URL="http://127.0.0.1:$port" KC_TOKEN="$token" KC_EXPECT_ANSI=1 KC_OAUTH=1 KC_MOCK=1 \
	node "$root/tests/browser/dashboard_test.js"
