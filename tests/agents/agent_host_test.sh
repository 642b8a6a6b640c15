#!/usr/bin/env bash
# Two "containers" on one machine: the agent host (the pod's `agents`
# container) is a foreground tmux server started by its own process tree
# (setsid) with its own environment (env -i, HOST_ONLY set there only);
# kc-server is a pure tmux client of its socket (server.tmux_server:
# external) and runs with secrets of its own that no agent may see.
#
#   - a task's agent sees the host's environment, not kc-server's
#   - the task survives a kc-server restart (re-adopted, still answers)
#   - the host's tmux server killed: the task ends in error, "lost", with
#     its saved output kept; creating a task meanwhile is 503 "agent host
#     not running", and kc-server never started a tmux server of its own
#   - the host back: new tasks work without restarting kc-server
set -uo pipefail

source "$(pwd)/tests/lib/live_stack.sh"
live_stack_init
agent=$(pwd)/tests/agents/host_env_agent.py
HOST_PID=

# The agent host: like `tini -- tmux -S /tmp/kc-tmux/default -D` in the pod.
host_start() {
	setsid env -i HOST_ONLY="$1" PATH=/usr/bin:/bin HOME="$LS_HOME" LANG=C.UTF-8 \
		tmux -S "$LS_TMUX" -D >/dev/null 2>&1 &
	HOST_PID=$!
	wait_for 20 tmux -S "$LS_TMUX" list-sessions -F x 2>/dev/null
}
host_kill() {
	kill -KILL "$HOST_PID" 2>/dev/null
	wait "$HOST_PID" 2>/dev/null
	HOST_PID=
}
at_exit 'host_kill'

check "the agent host's tmux server answers" host_start "first-host"
# What kc-server has and must not pass on.
export ANTHROPIC_API_KEY=kc-server-secret DISPLAY=:77
live_stack_start --agent "$agent" --server-yaml "  tmux_server: external" --agents-yaml '    - name: missing
      command: ["kc-no-such-agent", "--session-id", "{session_id}"]
      ready_timeout_ms: 20000'
unset ANTHROPIC_API_KEY DISPLAY
A=(-H "Authorization: Bearer $LS_TOKEN" -H 'Content-Type: application/json')
tmp=$LS_TMP

create() { curl -s -o "$tmp/body" -w '%{http_code}' "${A[@]}" -d "{\"prompt\": \"$1\"}" "$LS_URL/api/claude/tasks"; }
output() { curl -s "${A[@]}" "$LS_URL/api/claude/tasks/$1/output"; }
field() { curl -s "${A[@]}" "$LS_URL/api/claude/tasks/$1" | jq -r "$2"; }
says() { output "$1" | grep -qF -- "$2"; }
status_is() { [ "$(field "$1" .status)" = "$2" ]; }

check "create with the host up is 201" test "$(create 'hello host')" = 201
T1=$(jq -r .task_id "$tmp/body")
check "the prompt reaches the agent" wait_for 30 says "$T1" "echo: hello host"
check "the agent sees the host's environment" says "$T1" "env HOST_ONLY=first-host"
check "kc-server's ANTHROPIC_API_KEY does not reach the agent" says "$T1" "env ANTHROPIC_API_KEY=<unset>"
check "kc-server's DISPLAY does not reach the agent (update-environment)" says "$T1" "env DISPLAY=<unset>"
check "the task id does (tmux -e)" says "$T1" "env KC_TASK_ID=$T1"
# The session lives in the host's server, a child of the host's tmux.
pane_pid=$(tmux -S "$LS_TMUX" list-panes -t "=claude-$T1" -F '#{pane_pid}')
check "the agent is a child of the host's tmux server" \
	test "$(ps -o ppid= -p "$pane_pid" | tr -d ' ')" = "$HOST_PID"

# ---- kc-server restarts: the session is re-adopted ----
live_stack_server_stop
live_stack_server_start
check "kc-server is back" wait_for 60 _ls_healthy
check "the task is still running after kc-server's restart" status_is "$T1" running
curl -s -o /dev/null "${A[@]}" -d '{"prompt": "after restart"}' "$LS_URL/api/claude/tasks/$T1/message"
check "the re-adopted agent still answers" wait_for 30 says "$T1" "echo: after restart"

# ---- the agent host dies ----
host_kill
check "the task ends in error when the host's tmux server is gone" wait_for 30 status_is "$T1" error
check "its error says the agent host went away and the session is lost" \
	bash -c "curl -s ${A[*]@Q} '$LS_URL/api/claude/tasks/$T1' | jq -e '.error | test(\"agent host\") and test(\"lost\")' >/dev/null"
check "its saved output is kept" says "$T1" "echo: after restart"
check "create while the host is down is 503" test "$(create 'nobody home')" = 503
check "... saying the agent host is not running" jq -e '.error | test("agent host not running")' "$tmp/body" >/dev/null
check "kc-server started no tmux server of its own" bash -c "! tmux -S '$LS_TMUX' list-sessions -F x 2>/dev/null"

# ---- the host comes back: no kc-server restart needed ----
check "the agent host restarts" host_start "second-host"
check "create with the host back is 201" test "$(create 'hello again')" = 201
T2=$(jq -r .task_id "$tmp/body")
check "the new task's prompt reaches its agent" wait_for 30 says "$T2" "echo: hello again"
check "in the new host's environment" says "$T2" "env HOST_ONLY=second-host"
check "the lost task stays lost" status_is "$T1" error
# An agent that fails at once on the new host is its own failure, not the
# old host's loss.
code=$(curl -s -o "$tmp/body" -w '%{http_code}' "${A[@]}" -d '{"prompt": "x", "agent": "missing"}' "$LS_URL/api/claude/tasks")
check "a missing agent on the new host: 201" test "$code" = 201
T3=$(jq -r .task_id "$tmp/body")
check "... ends in error" wait_for 30 status_is "$T3" error
check "... saying the agent was not found, not that the host was lost" \
	bash -c "curl -s ${A[*]@Q} '$LS_URL/api/claude/tasks/$T3' | jq -e '.error | test(\"kc-no-such-agent: not found\") and (test(\"lost\") | not)' >/dev/null"
check "kc-server never restarted" kill -0 "$LS_SERVER_PID"
check_summary
