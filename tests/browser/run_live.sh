#!/usr/bin/env bash
# The dashboard in headless Chromium against the real stack: kc-server with
# the scripted fake agent in a private tmux server, and kc-gateway serving
# gateway/web and transcoding the REST API, all on loopback with a home in
# $TEST_TMPDIR. Checks and screenshots: tests/browser/dashboard_test.js.
#
#   run_live.sh KC_SERVER KC_GATEWAY FAKE_AGENT
set -euo pipefail

server_bin=$(realpath "$1")
gateway_bin=$(realpath "$2")
fake_agent=$(realpath "$3")

here=$(cd "$(dirname "$0")" && pwd)
runfiles=${TEST_SRCDIR:+$TEST_SRCDIR/${TEST_WORKSPACE:-kube_coder}}
root=${runfiles:-$(cd "$here/../.." && pwd)}
tmp=${TEST_TMPDIR:-$(mktemp -d)}
# Unix socket paths (kc-server's, tmux's, Chromium's singleton) must fit in
# 108 bytes, and Bazel's TEST_TMPDIR is deeper than that: sockets and the
# browser profile go under a short directory in /tmp, removed at exit.
short=$(mktemp -d /tmp/kcweb.XXXXXX)
chmod 700 "$short"
home="$tmp/home"
mkdir -p "$home"
# The gateway serves regular files only (it refuses symlinks, as it should),
# and Bazel's runfiles are symlinks: serve a dereferenced copy.
web="$tmp/web"
rm -rf "$web"
cp -rL "$root/gateway/web" "$web"
export HOME="$home" TMPDIR="$short" XDG_CONFIG_HOME="$home/.config" XDG_CACHE_HOME="$home/.cache"
unset KC_HOME KC_PORT KC_GRPC_PORT KC_AGENT

for need in node python3 tmux /usr/bin/chromium; do
	command -v "$need" >/dev/null || { echo "run_live: $need is missing; run scripts/setup.sh" >&2; exit 1; }
done

pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	tmux -S "$short/tmux.sock" kill-server 2>/dev/null || true
	rm -rf "$short"
}
trap cleanup EXIT

# A listener standing in for VS Code, so /health shows one service up and
# the others down (the page shows both states).
node -e '
	const s = require("net").createServer((c) => c.end());
	s.listen(0, "127.0.0.1", () => console.log(s.address().port));
' >"$short/ide.port" &
pids+=($!)
for _ in $(seq 50); do [ -s "$short/ide.port" ] && break; sleep 0.1; done
ide_port=$(cat "$short/ide.port")

# Ports nothing listens on: bind and release, then use them as dead probes.
dead_ports=$(python3 -c '
import socket
ss = [socket.socket() for _ in range(3)]
for s in ss: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))
')
read -r term_port browser_port vnc_port <<<"$dead_ports"

cat >"$tmp/kc.yaml" <<EOF
home: $home
tasks_dir: $home/.claude-tasks
server:
  socket: $short/kc.sock
  tmux_socket: $short/tmux.sock
  terminal_marker: $home/.claude-tasks/.terminal-session
  log_level: info
agents:
  default: fake
  list:
    - name: fake
      command: ["python3", "$fake_agent", "--session-id", "{session_id}"]
      ready_pattern: "^> "
      ready_timeout_ms: 20000
metrics:
  interval_ms: 500
probes:
  vscode: $ide_port
  terminal: $term_port
  browser: $browser_port
  vnc: $vnc_port
gateway:
  listen: 127.0.0.1:0
  upstream: unix:$short/kc.sock
  web_root: $web
EOF

"$server_bin" --config "$tmp/kc.yaml" >"$tmp/kc-server.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -S "$short/kc.sock" ] && break; sleep 0.1; done
[ -S "$short/kc.sock" ] || { echo "run_live: kc-server did not start" >&2; cat "$tmp/kc-server.log" >&2; exit 1; }

"$gateway_bin" --config "$tmp/kc.yaml" >"$tmp/kc-gateway.log" 2>&1 &
pids+=($!)
port=""
for _ in $(seq 100); do
	port=$(grep -o '"port": *"[0-9]*"' "$tmp/kc-gateway.log" 2>/dev/null | head -1 | grep -o '[0-9][0-9]*' || true)
	[ -n "$port" ] && break
	sleep 0.1
done
[ -n "$port" ] || { echo "run_live: kc-gateway did not start" >&2; cat "$tmp/kc-gateway.log" >&2; exit 1; }

token_file="$home/.claude-tasks/.api-token"
for _ in $(seq 50); do [ -s "$token_file" ] && break; sleep 0.1; done
[ -s "$token_file" ] || { echo "run_live: no API token at $token_file" >&2; exit 1; }
token=$(tr -d '\n' <"$token_file")

# Once the gateway answers, hand over to the browser.
for _ in $(seq 50); do
	curl -fsS -o /dev/null "http://127.0.0.1:$port/health" && break
	sleep 0.1
done

status=0
KC_URL="http://127.0.0.1:$port" KC_TOKEN="$token" KC_ECHO='echo: {prompt}' \
	KC_EXPECT_ANSI=0 KC_OAUTH=1 KC_BAD_WORKDIR="$home/does-not-exist" \
	node "$root/tests/browser/dashboard_test.js" || status=$?

if [ "$status" -ne 0 ]; then
	echo "--- kc-server log (tail)" >&2
	tail -n 40 "$tmp/kc-server.log" >&2
	echo "--- kc-gateway log (tail)" >&2
	tail -n 40 "$tmp/kc-gateway.log" >&2
fi
exit "$status"
