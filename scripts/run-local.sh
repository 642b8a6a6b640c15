#!/usr/bin/env bash
# `make run`: the control plane on this machine, on loopback only.
#
# Builds kc-server and kc-gateway, starts kc-server with the workspace home
# under ./.run/home (or $KC_HOME) and tasks under $KC_HOME/.claude-tasks,
# agents in real tmux on a private socket, then kc-gateway on
# 127.0.0.1:$KC_PORT in front of it, and prints the dashboard URL (the API
# token in its fragment) and the token. Ctrl-C or SIGTERM stops both
# cleanly, the gateway first (tmux sessions of running tasks are left alive
# and re-adopted at the next start). If either exits, the other is stopped.
#
# Environment:
#   KC_HOME       workspace home (default ./.run/home)
#   KC_PORT       the gateway's HTTP port on 127.0.0.1 (default 6080)
#   KC_GRPC_PORT  also serve gRPC on 127.0.0.1:$KC_GRPC_PORT (off when unset)
#   KC_AGENT      the agent command (default: claude); run here, in tmux
#                 on this machine, with this environment (in the pod, agents
#                 run in the workspace image's agents container instead).
#                 A warning at start names it when its program is not on
#                 the PATH: tasks would fail with "<program>: not found".
#   KC_OAUTH_STANDIN=1  also run a stand-in for the workspace's auth proxy
#                 (scripts/oauth-standin.py) on 127.0.0.1:$KC_OAUTH_PORT
#                 (default: a free port, printed), in front of the gateway's
#                 identity listener (a 0600 unix socket in the run
#                 directory). Whoever reaches that port is "signed in": it
#                 is for testing /oauth/ flows, off by default. Without it
#                 the gateway has no identity listener at all, and the
#                 dashboard uses the token in the URL's fragment.
# Several stacks can run side by side with different KC_HOME and KC_PORT:
# each home gets its own run directory (sockets, tmux, logs).
# For tests: KC_BIN_DIR holds kc-server and kc-gateway already built (no
# Bazel run), KC_WEB_ROOT the dashboard's files.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
run="$root/.run"
export KC_HOME="${KC_HOME:-$run/home}"
export KC_PORT="${KC_PORT:-6080}"
mkdir -p "$run" "$KC_HOME"
KC_HOME=$(cd "$KC_HOME" && pwd)
export KC_HOME
# A home of its own (not the default) gets its own run directory beside it,
# so two stacks never share sockets. Unix socket paths are short: keep it
# under /tmp when the home's path is long.
if [ "$KC_HOME" != "$run/home" ]; then
	run="$KC_HOME/.kc-run"
	[ ${#run} -gt 60 ] && run="/tmp/kc-run-$(echo "$KC_HOME" | md5sum | cut -c1-12)"
	mkdir -p "$run"
fi

if [ -n "${KC_BIN_DIR:-}" ]; then
	bin="$KC_BIN_DIR/kc-server"
	gw_src="$KC_BIN_DIR/kc-gateway"
else
	${BAZEL:-bazel} build //server:kc-server //gateway:kc-gateway >&2
	bin="$root/bazel-bin/server/kc-server"
	gw_src="$root/bazel-bin/gateway/kc-gateway"
fi
web_root="${KC_WEB_ROOT:-$root/gateway/web}"
tmp_bin="$run/kc-server"
gw_bin="$run/kc-gateway"
# Private copies, so a rebuild while they run does not pull the files away.
cp -f "$bin" "$tmp_bin"
cp -f "$gw_src" "$gw_bin"

oauth_line=
if [ "${KC_OAUTH_STANDIN:-0}" = 1 ]; then
	oauth_sock="$run/oauth/gateway.sock"
	oauth_line="  oauth_listen: unix:$oauth_sock"
fi

config="$run/kc-server.yaml"
cat >"$config" <<YAML
# Written by scripts/run-local.sh for a local run.
server:
  socket: $run/sock/kc-server.sock
  tmux_socket: $run/tmux/default
  log_level: info
gateway:
  listen: 127.0.0.1:$KC_PORT
  upstream: unix:$run/sock/kc-server.sock
  web_root: $web_root
$oauth_line
YAML

# The agent's program, as the shell that runs a one-element command will
# look it up: the first word of KC_AGENT, else the default agent, claude.
agent_cmd=${KC_AGENT:-claude}
agent_prog=${agent_cmd%% *}
if ! command -v -- "$agent_prog" >/dev/null 2>&1; then
	echo "run-local: warning: the agent program '$agent_prog' is not on the PATH; tasks will end" \
		"in error ('$agent_prog: not found'). Install it, or set KC_AGENT to the agent command" \
		"(for example KC_AGENT=\"/usr/bin/python3 $root/tests/fake_agent/fake_agent.py\")." >&2
fi

pids=()
stop() {
	trap - INT TERM EXIT
	# The gateway first (it drains its streams), then the server.
	local i
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		kill -TERM "${pids[i]}" 2>/dev/null || true
		wait "${pids[i]}" 2>/dev/null || true
	done
}
trap stop INT TERM EXIT

"$tmp_bin" --config "$config" 2>>"$run/kc-server.log" &
pids+=($!)

token_file="$KC_HOME/.claude-tasks/.api-token"
# Ours is up when the socket's lock names our kc-server (it writes its pid
# there): a socket alone may be another kc-server's on this home, which ours
# refuses to replace (it exits, and the check below says why).
sock_lock="$run/sock/kc-server.sock.lock"
for _ in $(seq 1 200); do
	[ -s "$token_file" ] && [ -S "$run/sock/kc-server.sock" ] &&
		[ "$(cat "$sock_lock" 2>/dev/null)" = "${pids[0]}" ] && kill -0 "${pids[0]}" 2>/dev/null && break
	if ! kill -0 "${pids[0]}" 2>/dev/null; then
		echo "run-local: kc-server exited; see $run/kc-server.log" >&2
		tail -5 "$run/kc-server.log" >&2 || true
		exit 1
	fi
	sleep 0.05
done

# KC_PORT reaches the gateway through the environment as well.
"$gw_bin" --config "$config" 2>>"$run/kc-gateway.log" &
pids+=($!)
for _ in $(seq 1 200); do
	curl -sf -o /dev/null "http://127.0.0.1:$KC_PORT/healthz" && break
	if ! kill -0 "${pids[1]}" 2>/dev/null; then
		echo "run-local: kc-gateway exited; see $run/kc-gateway.log" >&2
		tail -5 "$run/kc-gateway.log" >&2 || true
		exit 1
	fi
	sleep 0.05
done

standin_url=
if [ -n "$oauth_line" ]; then
	rm -f "$run/standin.port"
	/usr/bin/python3 "$root/scripts/oauth-standin.py" --upstream "unix:$oauth_sock" \
		--listen "127.0.0.1:${KC_OAUTH_PORT:-0}" --port-file "$run/standin.port" \
		>>"$run/oauth-standin.log" 2>&1 &
	pids+=($!)
	for _ in $(seq 1 200); do
		[ -s "$run/standin.port" ] && break
		if ! kill -0 "${pids[2]}" 2>/dev/null; then
			echo "run-local: the oauth stand-in exited; see $run/oauth-standin.log" >&2
			tail -5 "$run/oauth-standin.log" >&2 || true
			exit 1
		fi
		sleep 0.05
	done
	standin_url="http://127.0.0.1:$(cat "$run/standin.port")"
fi

token=$(cat "$token_file")
echo "kc-server and kc-gateway are running (logs: $run/kc-server.log, $run/kc-gateway.log)"
echo "  dashboard:  http://127.0.0.1:$KC_PORT/#token=$token"
echo "  API:        http://127.0.0.1:$KC_PORT/api/claude/tasks (Authorization: Bearer <token>)"
echo "  API token:  $token"
echo "  home:       $KC_HOME"
echo "  tasks:      $KC_HOME/.claude-tasks"
echo "  socket:     unix:$run/sock/kc-server.sock"
[ -n "${KC_GRPC_PORT:-}" ] && echo "  gRPC (TCP): 127.0.0.1:$KC_GRPC_PORT"
[ -n "$standin_url" ] && echo "  signed in:  $standin_url/oauth/ (stand-in auth proxy; anyone reaching it is signed in)"
echo "  tmux:       tmux -S $run/tmux/default ls"
echo "Ctrl-C stops both."

# Exits when either process does (the trap stops the other), or on
# Ctrl-C/SIGTERM through the trap.
wait -n "${pids[@]}" || true
