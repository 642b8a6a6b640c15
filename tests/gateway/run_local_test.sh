#!/usr/bin/env bash
# `make run` (scripts/run-local.sh) as a person uses it: started with its
# own KC_HOME and KC_PORT and the fake agent as KC_AGENT, it prints the
# dashboard URL with the token in the fragment and the token; the page and
# the API answer at that URL with that token; a task runs in real tmux;
# SIGTERM stops kc-gateway and kc-server and the script exits 0. Run with
# KC_OAUTH_STANDIN=1: the auth proxy's stand-in serves a signed-in /oauth/
# on its own loopback port, while the public port never takes identity
# headers.
set -uo pipefail

root=$(pwd)
source "$root/tests/lib/check.sh"
check_tmpdir tmp kcrl
bins=$tmp/bin
mkdir -p "$bins" "$tmp/home"
cp "$root/server/kc-server" "$root/gateway/kc-gateway" "$bins/"
cp -rL "$root/gateway/web" "$tmp/web"
script_pid=

stop_script() {
	[ -n "$script_pid" ] && kill -TERM "$script_pid" 2>/dev/null && wait "$script_pid" 2>/dev/null
	# Task sessions outlive the server by design (re-adopted at the next
	# start); this test's private tmux server goes with the test.
	tmux -S "$tmp/home/.kc-run/tmux/default" kill-server 2>/dev/null
}
at_exit stop_script

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
KC_BIN_DIR=$bins KC_WEB_ROOT=$tmp/web KC_HOME=$tmp/home KC_PORT=$port KC_OAUTH_STANDIN=1 \
	KC_AGENT="/usr/bin/python3 $root/tests/fake_agent/fake_agent.py" \
	bash "$root/scripts/run-local.sh" >"$tmp/out" 2>"$tmp/err" &
script_pid=$!
started() { grep -q 'Ctrl-C stops both' "$tmp/out"; }
check "run-local starts both and says so" wait_for 60 started
[ "$failed" = 0 ] || { cat "$tmp/out" "$tmp/err"; check_summary; exit 1; }
url=$(awk '/dashboard:/ {print $2}' "$tmp/out")
token=$(awk '/API token:/ {print $3}' "$tmp/out")
check "the dashboard URL carries the token in its fragment" \
	test "$url" = "http://127.0.0.1:$port/#token=$token"
check "the token is the server's" test "$token" = "$(cat "$tmp/home/.claude-tasks/.api-token")"
check "the page answers at the URL" test "$(curl -s -o /dev/null -w '%{http_code}' "${url%%#*}")" = 200
check "the API answers with the token" \
	test "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "http://127.0.0.1:$port/api/claude/tasks")" = 200
check "a task is created (the KC_AGENT command)" \
	test "$(curl -s -o "$tmp/task" -w '%{http_code}' -H "Authorization: Bearer $token" -H 'Content-Type: application/json' -d '{"prompt":"hello"}' "http://127.0.0.1:$port/api/claude/tasks")" = 201
tid=$(jq -r .task_id "$tmp/task")
standin=$(awk '/signed in:/ {print $3}' "$tmp/out")
check "the stand-in's signed-in URL is printed" grep -Eq '^http://127\.0\.0\.1:[0-9]+/oauth/$' <<<"$standin"
check "through the stand-in the token is served" \
	bash -c "curl -s '${standin}api/claude/auth/token' | jq -e --arg t '$token' '.token == \$t' >/dev/null"
check "on the public port identity headers are nobody" \
	test "$(curl -s -o /dev/null -w '%{http_code}' -H 'X-Auth-Request-User: x' "http://127.0.0.1:$port/oauth/api/claude/auth/token")" = 401
check "the identity socket is 0600" test "$(stat -c %a "$tmp/home/.kc-run/oauth/gateway.sock")" = 600
answered() { curl -s -H "Authorization: Bearer $token" "http://127.0.0.1:$port/api/claude/tasks/$tid/output" | grep -q 'echo: hello'; }
check "the fake agent answers in tmux" wait_for 30 answered
gw=$(pgrep -f "$tmp/home/.kc-run/kc-gateway" | head -1)
srv=$(pgrep -f "$tmp/home/.kc-run/kc-server" | head -1)
kill -TERM "$script_pid"
wait "$script_pid"
rc=$?
script_pid=
check "SIGTERM: the script exits 0" test "$rc" = 0
gone() { [ -n "$1" ] && ! kill -0 "$1" 2>/dev/null; }
check "and the gateway is gone" gone "$gw"
check "and the server is gone" gone "$srv"
check "and the stand-in is gone" bash -c "! curl -s -o /dev/null --max-time 2 '$standin'"
check "the gateway drained" grep -q '"stopped"' "$tmp/home/.kc-run/kc-gateway.log"

check_summary
