#!/usr/bin/env bash
# The dashboard in headless Chromium against the real stack: kc-server with
# the scripted fake agent in a private tmux server, and kc-gateway serving
# gateway/web and transcoding the REST API, all on loopback with a home in
# $TEST_TMPDIR, started by tests/lib/live_stack.sh. Checks and screenshots:
# tests/browser/dashboard_test.js.
#
#   run_live.sh KC_SERVER KC_GATEWAY FAKE_AGENT
set -euo pipefail

server_bin=$(realpath "$1")
gateway_bin=$(realpath "$2")
fake_agent=$(realpath "$3")

here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib/live_stack.sh"
root=$LS_ROOT
live_stack_init
# Chromium's singleton socket must fit in 108 bytes too: its profile and
# temporary files go under the stack's short socket directory.
home=$LS_HOME
export HOME="$home" TMPDIR="$LS_SOCK" XDG_CONFIG_HOME="$home/.config" XDG_CACHE_HOME="$home/.cache"
unset KC_HOME KC_PORT KC_GRPC_PORT KC_AGENT

for need in node python3 tmux /usr/bin/chromium; do
	command -v "$need" >/dev/null || { echo "run_live: $need is missing; run scripts/setup.sh" >&2; exit 1; }
done

# A listener standing in for VS Code, so /health shows one service up and
# the others down (the page shows both states).
node -e '
	const s = require("net").createServer((c) => c.end());
	s.listen(0, "127.0.0.1", () => console.log(s.address().port));
' >"$LS_SOCK/ide.port" &
ide_pid=$!
at_exit "kill $ide_pid 2>/dev/null; wait $ide_pid 2>/dev/null"
wait_for 30 test -s "$LS_SOCK/ide.port" || { echo "run_live: the stand-in listener did not start" >&2; exit 1; }
ide_port=$(cat "$LS_SOCK/ide.port")

# Ports nothing listens on: bind and release, then use them as dead probes.
dead_ports=$(python3 -c '
import socket
ss = [socket.socket() for _ in range(3)]
for s in ss: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))
')
read -r term_port browser_port vnc_port <<<"$dead_ports"

live_stack_start --server "$server_bin" --gateway "$gateway_bin" --agent "$fake_agent" \
	--log-level info --ready '^> ' --metrics-ms 500 --standin \
	--server-yaml "  terminal_marker: $home/.claude-tasks/.terminal-session" \
	--yaml "tasks_dir: $home/.claude-tasks
probes:
  vscode: $ide_port
  terminal: $term_port
  browser: $browser_port
  vnc: $vnc_port"

status=0
# /oauth/ goes through the auth proxy's stand-in, as the ingress sends it
# through oauth2-proxy: the page's own calls (same origin, JSON bodies)
# must pass the gateway's Host and CSRF checks there.
KC_URL="$LS_URL" KC_OAUTH_URL="$LS_OAUTH_URL" KC_TOKEN="$LS_TOKEN" KC_ECHO='echo: {prompt}' \
	KC_EXPECT_ANSI=0 KC_OAUTH=1 KC_BAD_WORKDIR="$home/does-not-exist" \
	node "$root/tests/browser/dashboard_test.js" || status=$?

[ "$status" -eq 0 ] || live_stack_logs 40
exit "$status"
