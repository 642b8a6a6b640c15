# The live stack for shell tests, sourced: kc-server with a private tmux
# server and the scripted fake agent (tests/fake_agent), kc-gateway in front
# of it, on loopback, with a home in $TEST_TMPDIR. Sources check.sh.
#
#   live_stack_init        makes the directories (optional: start does it);
#                          call it first to use $LS_HOME/$LS_SOCK before start
#   live_stack_start [options]
#     --server BIN --gateway BIN --agent FAKE_AGENT_PY
#                          defaults: $KC_SERVER_BIN, $KC_GATEWAY_BIN,
#                          $KC_FAKE_AGENT, else the runfiles paths
#     --max-running N      limits.max_running_tasks (absent: the default)
#     --metrics-ms N       metrics.interval_ms (200)
#     --log-level L        server.log_level (debug)
#     --ready RE           the fake agent's ready_pattern (^>)
#     --never-agent        a second agent, "never", that never gets ready
#     --grpc               kc-server also listens for gRPC on a loopback port
#     --oauth              the gateway's identity listener on a unix socket
#                          ($LS_OAUTH_SOCK): the only place identity headers
#                          count (gateway/README.md, Trust model)
#     --standin            --oauth, plus the auth proxy's stand-in
#                          (scripts/oauth-standin.py) on a loopback port in
#                          front of it ($LS_OAUTH_URL): it sets the identity
#                          headers and drops any the client sent
#     --web DIR            the gateway's web_root (default: a copy of
#                          gateway/web when it is in the runfiles, else empty)
#     --server-yaml LINES  more lines under server: (indented by the caller)
#     --yaml LINES         more top-level config (probes:, tasks_dir: ...)
#     --gateway-yaml LINES more lines under gateway: (indented by the caller)
#     --agents-yaml LINES  more entries under agents.list (indented by the caller)
#   live_stack_logs [N]    the last N lines of both logs, to stderr
#   live_stack_server_stop / live_stack_server_start
#                          SIGTERM kc-server and wait for it / start it
#                          again with the same config (its log appended)
#   live_stack_stop        SIGTERMs the gateway then the server, kills the
#                          tmux server, removes the directories (kept with
#                          KC_TEST_KEEP=1); registered with at_exit by start
#
# After start: LS_URL (http://127.0.0.1:PORT), LS_PORT, LS_TOKEN,
# LS_TOKEN_FILE, LS_SOCKET (kc-server's unix socket), LS_TMUX (the tmux
# socket), LS_GRPC_PORT (with --grpc), LS_HOME, LS_TMP, LS_SOCK (a short
# directory for sockets), LS_CONFIG, LS_SERVER_LOG, LS_GATEWAY_LOG,
# LS_SERVER_PID, LS_GATEWAY_PID, LS_ROOT (the runfiles/source root);
# with --oauth LS_OAUTH_SOCK, with --standin also LS_OAUTH_URL
# (http://127.0.0.1:PORT, identity "standin"), LS_STANDIN_PID.
LS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=check.sh
source "$LS_ROOT/tests/lib/check.sh"

LS_TMP=
LS_SERVER_PID=
LS_GATEWAY_PID=
LS_STANDIN_PID=

live_stack_init() {
	[ -n "$LS_TMP" ] && return 0
	LS_TMP=$(mktemp -d "${TEST_TMPDIR:-/tmp}/kcls.XXXXXX")
	# Unix socket paths are limited to 107 bytes, and Bazel's test
	# directories are deeper than that: sockets then go under /tmp.
	LS_SOCK=$LS_TMP/s
	if [ ${#LS_SOCK} -gt 60 ]; then
		LS_SOCK=$(mktemp -d /tmp/kcls-s.XXXXXX)
	else
		mkdir -p "$LS_SOCK"
	fi
	chmod 700 "$LS_SOCK"
	LS_HOME=$LS_TMP/home
	mkdir -p "$LS_HOME"
	LS_SOCKET=$LS_SOCK/kc.sock
	LS_TMUX=$LS_SOCK/tmux
	LS_CONFIG=$LS_TMP/kc.yaml
	LS_SERVER_LOG=$LS_TMP/server.log
	LS_GATEWAY_LOG=$LS_TMP/gateway.log
	LS_TOKEN_FILE=$LS_HOME/.claude-tasks/.api-token
	at_exit live_stack_stop
}

_ls_free_port() {
	/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Ready, or dead: the caller tells which.
_ls_server_settled() {
	{ [ -S "$LS_SOCKET" ] && [ -s "$LS_TOKEN_FILE" ]; } || ! kill -0 "$LS_SERVER_PID" 2>/dev/null
}
_ls_gateway_settled() {
	grep -qs '"listening"' "$LS_GATEWAY_LOG" || ! kill -0 "$LS_GATEWAY_PID" 2>/dev/null
}
_ls_healthy() {
	[ "$(curl -s -o /dev/null -w '%{http_code}' "$LS_URL/healthz")" = 200 ]
}

live_stack_start() {
	local server=${KC_SERVER_BIN:-} gateway=${KC_GATEWAY_BIN:-} agent=${KC_FAKE_AGENT:-}
	local max_running= metrics_ms=200 log_level=debug ready='^>' never= grpc= web=
	local server_yaml= yaml= grpc_line= limits= never_yaml= gateway_yaml=
	local oauth= standin= oauth_line= agents_yaml=
	while [ $# -gt 0 ]; do
		case $1 in
		--server) server=$2; shift ;;
		--gateway) gateway=$2; shift ;;
		--agent) agent=$2; shift ;;
		--max-running) max_running=$2; shift ;;
		--metrics-ms) metrics_ms=$2; shift ;;
		--log-level) log_level=$2; shift ;;
		--ready) ready=$2; shift ;;
		--never-agent) never=1 ;;
		--grpc) grpc=1 ;;
		--oauth) oauth=1 ;;
		--standin) oauth=1; standin=1 ;;
		--web) web=$2; shift ;;
		--server-yaml) server_yaml=$2; shift ;;
		--yaml) yaml=$2; shift ;;
		--gateway-yaml) gateway_yaml=$2; shift ;;
		--agents-yaml) agents_yaml=$2; shift ;;
		*) echo "live_stack_start: unknown option $1" >&2; exit 2 ;;
		esac
		shift
	done
	live_stack_init
	server=${server:-$LS_ROOT/server/kc-server}
	gateway=${gateway:-$LS_ROOT/gateway/kc-gateway}
	agent=${agent:-$LS_ROOT/tests/fake_agent/fake_agent.py}
	if [ -z "$web" ]; then
		# The gateway serves regular files only and refuses symlinks, as
		# it should; runfiles are symlinks: serve a dereferenced copy.
		web=$LS_TMP/web
		if [ -d "$LS_ROOT/gateway/web" ]; then
			cp -rL "$LS_ROOT/gateway/web" "$web"
		else
			mkdir -p "$web"
		fi
	fi
	if [ -n "$grpc" ]; then
		LS_GRPC_PORT=$(_ls_free_port)
		grpc_line="  grpc_listen: \"127.0.0.1:$LS_GRPC_PORT\""
	fi
	if [ -n "$oauth" ]; then
		LS_OAUTH_SOCK=$LS_SOCK/oauth/gw.sock
		oauth_line="  oauth_listen: unix:$LS_OAUTH_SOCK"
	fi
	[ -n "$max_running" ] && limits="limits:
  max_running_tasks: $max_running"
	[ -n "$never" ] && never_yaml="    - name: never
      command: [\"/usr/bin/python3\", \"$agent\", \"--never-ready\"]
      ready_pattern: \"$ready\"
      ready_timeout_ms: 1500"
	# Empty option lines stay as blank lines: YAML ignores them.
	cat >"$LS_CONFIG" <<YAML
home: $LS_HOME
$yaml
server:
  socket: $LS_SOCKET
  tmux_socket: $LS_TMUX
  log_level: $log_level
$grpc_line
$server_yaml
$limits
metrics:
  interval_ms: $metrics_ms
agents:
  default: fake
  list:
    - name: fake
      command: ["/usr/bin/python3", "$agent", "--session-id", "{session_id}"]
      ready_pattern: "$ready"
      ready_timeout_ms: 20000
$never_yaml
$agents_yaml
gateway:
  listen: 127.0.0.1:0
  upstream: unix:$LS_SOCKET
  web_root: $web
$oauth_line
$gateway_yaml
YAML

	LS_SERVER_BIN=$server
	: >"$LS_SERVER_LOG"
	live_stack_server_start
	wait_for 60 _ls_server_settled
	if ! { [ -S "$LS_SOCKET" ] && [ -s "$LS_TOKEN_FILE" ]; }; then
		echo "live_stack: kc-server did not start" >&2
		cat "$LS_SERVER_LOG" >&2
		exit 1
	fi
	LS_TOKEN=$(cat "$LS_TOKEN_FILE")

	env -u KC_PORT "$gateway" --config "$LS_CONFIG" >"$LS_GATEWAY_LOG" 2>&1 &
	LS_GATEWAY_PID=$!
	wait_for 60 _ls_gateway_settled
	if ! grep -qs '"listening"' "$LS_GATEWAY_LOG"; then
		echo "live_stack: kc-gateway did not start" >&2
		cat "$LS_GATEWAY_LOG" >&2
		exit 1
	fi
	LS_PORT=$(grep -o '"port": *"[0-9]*"' "$LS_GATEWAY_LOG" | head -1 | grep -o '[0-9][0-9]*')
	LS_URL=http://127.0.0.1:$LS_PORT
	if ! wait_for 60 _ls_healthy; then
		echo "live_stack: the gateway never saw kc-server serving" >&2
		live_stack_logs 40
		exit 1
	fi
	[ -n "$standin" ] && live_stack_standin_start
	return 0
}

# The auth proxy's stand-in in front of the identity listener.
live_stack_standin_start() {
	LS_STANDIN_LOG=$LS_TMP/standin.log
	rm -f "$LS_TMP/standin.port"
	/usr/bin/python3 "$LS_ROOT/scripts/oauth-standin.py" --upstream "unix:$LS_OAUTH_SOCK" \
		--port-file "$LS_TMP/standin.port" >"$LS_STANDIN_LOG" 2>&1 &
	LS_STANDIN_PID=$!
	if ! wait_for 30 test -s "$LS_TMP/standin.port"; then
		echo "live_stack: the oauth stand-in did not start" >&2
		cat "$LS_STANDIN_LOG" >&2
		exit 1
	fi
	LS_OAUTH_URL=http://127.0.0.1:$(cat "$LS_TMP/standin.port")
}

live_stack_server_start() {
	env -u KC_HOME -u KC_PORT -u KC_GRPC_PORT -u KC_AGENT \
		"$LS_SERVER_BIN" --config "$LS_CONFIG" >>"$LS_SERVER_LOG" 2>&1 &
	LS_SERVER_PID=$!
}

live_stack_server_stop() {
	kill -TERM "$LS_SERVER_PID" 2>/dev/null
	wait "$LS_SERVER_PID" 2>/dev/null
	LS_SERVER_PID=
}

live_stack_logs() {
	local n=${1:-30}
	echo "---- kc-server log (tail) ----" >&2
	tail -n "$n" "$LS_SERVER_LOG" >&2 2>/dev/null
	echo "---- kc-gateway log (tail) ----" >&2
	tail -n "$n" "$LS_GATEWAY_LOG" >&2 2>/dev/null
}

live_stack_stop() {
	local p log
	for p in "$LS_STANDIN_PID" "$LS_GATEWAY_PID" "$LS_SERVER_PID"; do
		[ -n "$p" ] || continue
		kill -TERM "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	# Under --config=asan a leak is only reported as a process exits, after
	# every check ran: look for reports in both logs.
	for log in "$LS_GATEWAY_LOG" "$LS_SERVER_LOG"; do
		if [ -n "$LS_GATEWAY_PID$LS_SERVER_PID" ] && grep -qs 'Sanitizer' "$log"; then
			grep -A40 -m1 'Sanitizer' "$log" >&2
			fail_at_exit "sanitizer report in $(basename "$log")"
		fi
	done
	LS_GATEWAY_PID= LS_SERVER_PID= LS_STANDIN_PID=
	# Task sessions outlive the server by design (re-adopted at the next
	# start); this test's private tmux server goes with the test.
	[ -n "${LS_TMUX:-}" ] && tmux -S "$LS_TMUX" kill-server 2>/dev/null
	[ -n "${LS_SOCK:-}" ] && [ "$LS_SOCK" != "$LS_TMP/s" ] && rm -rf "$LS_SOCK"
	[ -n "$LS_TMP" ] && [ -z "${KC_TEST_KEEP:-}" ] && rm -rf "$LS_TMP"
	return 0
}
