#!/usr/bin/env bash
# `make run`: the control plane on this machine.
#
# Builds kc-server, starts it with the workspace home under ./.run/home (or
# $KC_HOME) and tasks under $KC_HOME/.claude-tasks, agents in real tmux on a
# private socket, and prints the API token. Ctrl-C or SIGTERM stops it
# cleanly (tmux sessions of running tasks are left alive and re-adopted at
# the next start).
#
# Environment:
#   KC_HOME       workspace home (default ./.run/home)
#   KC_GRPC_PORT  also serve gRPC on 127.0.0.1:$KC_GRPC_PORT (off when unset)
#   KC_AGENT      the agent command (default: claude)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
run="$root/.run"
export KC_HOME="${KC_HOME:-$run/home}"
mkdir -p "$run" "$KC_HOME"
KC_HOME=$(cd "$KC_HOME" && pwd)
export KC_HOME

${BAZEL:-bazel} build //server:kc-server >&2
bin="$root/bazel-bin/server/kc-server"
tmp_bin="$run/kc-server"
# A private copy, so a rebuild while it runs does not pull the file away.
cp -f "$bin" "$tmp_bin"

config="$run/kc-server.yaml"
cat >"$config" <<YAML
# Written by scripts/run-local.sh for a local run.
server:
  socket: $run/sock/kc-server.sock
  tmux_socket: $run/tmux/default
  log_level: info
YAML

pids=()
stop() {
	trap - INT TERM EXIT
	for pid in "${pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
}
trap stop INT TERM EXIT

"$tmp_bin" --config "$config" 2>>"$run/kc-server.log" &
pids+=($!)

token_file="$KC_HOME/.claude-tasks/.api-token"
for _ in $(seq 1 200); do
	[ -s "$token_file" ] && [ -S "$run/sock/kc-server.sock" ] && break
	if ! kill -0 "${pids[0]}" 2>/dev/null; then
		echo "run-local: kc-server exited; see $run/kc-server.log" >&2
		tail -5 "$run/kc-server.log" >&2 || true
		exit 1
	fi
	sleep 0.05
done

echo "kc-server is running (logs: $run/kc-server.log)"
echo "  home:       $KC_HOME"
echo "  tasks:      $KC_HOME/.claude-tasks"
echo "  socket:     unix:$run/sock/kc-server.sock"
[ -n "${KC_GRPC_PORT:-}" ] && echo "  gRPC (TCP): 127.0.0.1:$KC_GRPC_PORT"
echo "  tmux:       tmux -S $run/tmux/default ls"
echo "  API token:  $(cat "$token_file")"
echo "Ctrl-C stops it."

# Exits when kc-server does, or on Ctrl-C/SIGTERM through the trap.
wait "${pids[0]}"
