#!/usr/bin/env bash
# Runs "$@" against a live stack: kc-server (with a private tmux socket and
# the scripted fake agent) and kc-gateway in front of it, on loopback.
# Exports what with_mock.sh exports (KC_TEST_REST_URL, KC_TEST_GRPC_URL,
# KC_TEST_TOKEN) plus KC_TEST_PROFILE=live and the prompts that make the
# fake agent finish, keep running, or never get ready.
#
# Binaries: KC_SERVER_BIN, KC_GATEWAY_BIN, KC_FAKE_AGENT (runfiles paths of
# //server:kc-server, //gateway:kc-gateway, //tests/fake_agent:fake_agent.py
# by default).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
server=${KC_SERVER_BIN:-$root/server/kc-server}
gateway=${KC_GATEWAY_BIN:-$root/gateway/kc-gateway}
fake=${KC_FAKE_AGENT:-$root/tests/fake_agent/fake_agent.py}
tmp=$(mktemp -d "${TEST_TMPDIR:-/tmp}/live.XXXXXX")
# unix socket paths are short; Bazel's test directories are deep
sock=$(mktemp -d /tmp/kcl.XXXXXX)
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
grpc_port=$(free_port)
http_port=$(free_port)
mkdir -p "$tmp/home"
cat >"$tmp/kc.yaml" <<YAML
home: $tmp/home
server:
  socket: $sock/kc.sock
  grpc_listen: "127.0.0.1:$grpc_port"
  tmux_socket: $sock/tmux
  log_level: debug
limits:
  max_running_tasks: 16
metrics:
  interval_ms: 200
probes:
  vscode: 1
  terminal: 2
agents:
  default: fake
  list:
    - name: fake
      command: ["/usr/bin/python3", "$fake", "--session-id", "{session_id}"]
      ready_pattern: "^>"
      ready_timeout_ms: 20000
    - name: never
      command: ["/usr/bin/python3", "$fake", "--never-ready"]
      ready_pattern: "^>"
      ready_timeout_ms: 1500
gateway:
  listen: 127.0.0.1:$http_port
  upstream: unix:$sock/kc.sock
  web_root: $tmp
YAML
env -u KC_HOME -u KC_GRPC_PORT -u KC_AGENT -u KC_PORT "$server" --config "$tmp/kc.yaml" >"$tmp/server.log" 2>&1 &
spid=$!
gpid=
cleanup() {
	[ -n "$gpid" ] && kill "$gpid" 2>/dev/null
	kill "$spid" 2>/dev/null || true
	wait 2>/dev/null || true
	tmux -S "$sock/tmux" kill-server 2>/dev/null || true
	rm -rf "$sock"
	[ -n "${KC_TEST_KEEP:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT
token_file=$tmp/home/.claude-tasks/.api-token
for _ in $(seq 1 600); do
	[ -S "$sock/kc.sock" ] && [ -s "$token_file" ] && break
	kill -0 "$spid" 2>/dev/null || { cat "$tmp/server.log" >&2; exit 1; }
	sleep 0.1
done
env -u KC_PORT "$gateway" --config "$tmp/kc.yaml" >"$tmp/gateway.log" 2>&1 &
gpid=$!
for _ in $(seq 1 600); do
	/usr/bin/python3 -c "import socket; socket.create_connection(('127.0.0.1', $http_port), 1)" 2>/dev/null && break
	kill -0 "$gpid" 2>/dev/null || { cat "$tmp/gateway.log" >&2; exit 1; }
	sleep 0.1
done
export KC_TEST_PROFILE=live
export KC_TEST_REST_URL=http://127.0.0.1:$http_port
export KC_TEST_GRPC_URL=grpc://127.0.0.1:$grpc_port
export KC_TEST_UNIX_URL=unix:$sock/kc.sock
export KC_TEST_TOKEN=$(cat "$token_file")
# The fake agent: "exit" ends the session (completed, after "bye");
# "flood 3" prints three lines and then waits for input (running).
# "--agent never" never shows its prompt: the task ends in error.
export KC_TEST_PROMPT_DONE=exit KC_TEST_DONE_OUTPUT=bye KC_TEST_PROMPT_RUN="flood 3"
export KC_TEST_FAIL_ARGS="--agent never never-ready"
"$@"
