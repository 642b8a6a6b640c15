#!/usr/bin/env bash
# kc-server restarting behind kc-gateway (gateway/upstream.c): a request
# that finds kc-server away waits for it within upstream_wait_ms (here 2 s)
# and is answered when it is back; clients reading without pause through a
# restart see no error (calls kc-server refused unseen are sent again);
# past the budget the answer is a 503 JSON error, and /healthz says 503 at
# once. Real kc-server, real tmux, the fake agent, loopback only.
set -uo pipefail

source "$(pwd)/tests/lib/live_stack.sh"
live_stack_start --log-level info --gateway-yaml "  upstream_wait_ms: 2000"
tmp=$LS_TMP
A=(-H "Authorization: Bearer $LS_TOKEN")
ms() { date +%s%3N; }

# ---- a request sent while kc-server is down, answered once it is back ----
live_stack_server_stop
t0=$(ms)
curl -s -o "$tmp/body" -w '%{http_code}' "${A[@]}" "$LS_URL/api/claude/tasks" >"$tmp/code" &
curl_pid=$!
sleep 0.5
live_stack_server_start
wait "$curl_pid"
t1=$(ms)
check "the request made while kc-server was down is answered 200 after it came back" test "$(cat "$tmp/code")" = 200
check "... with the task list" jq -e '.tasks | type == "array"' "$tmp/body"
check "... after waiting for it (>= 400 ms)" test $((t1 - t0)) -ge 400

# ---- clients reading through a restart see no error ----
wait_for 20 bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' '$LS_URL/healthz')\" = 200 ]"
/usr/bin/python3 - "$LS_PORT" "$LS_TOKEN" "$tmp/load" <<'PY' &
import http.client, sys, threading, time
port, token, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
codes, stop = [], time.time() + 4.0
def run():
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    while time.time() < stop:
        c.request("GET", "/api/claude/tasks", headers={"Authorization": "Bearer " + token})
        r = c.getresponse(); r.read(); codes.append(r.status)
ts = [threading.Thread(target=run) for _ in range(4)]
[t.start() for t in ts]; [t.join() for t in ts]
bad = [c for c in codes if c != 200]
open(out, "w").write("%d %d %s\n" % (len(codes), len(bad), sorted(set(bad))))
PY
load_pid=$!
sleep 1
old=$LS_SERVER_PID
live_stack_server_stop
live_stack_server_start
wait "$load_pid"
read -r n_req n_bad bad_codes <"$tmp/load"
echo "# $n_req reads during the restart, $n_bad not 200 $bad_codes"
check "kc-server was restarted ($old -> $LS_SERVER_PID)" test "$old" != "$LS_SERVER_PID"
check "reads went on through the restart ($n_req)" test "$n_req" -gt 20
check "none of them failed ($n_bad not 200: $bad_codes)" test "$n_bad" = 0

# ---- past the budget: 503, and /healthz does not wait ----
wait_for 20 bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' '$LS_URL/healthz')\" = 200 ]"
live_stack_server_stop
t0=$(ms)
code=$(curl -s -o "$tmp/body" -w '%{http_code}' "${A[@]}" "$LS_URL/api/claude/tasks")
t1=$(ms)
check "kc-server away past upstream_wait_ms: 503" test "$code" = 503
check "... a JSON error saying so" jq -e '.error == "kc-server is not reachable"' "$tmp/body"
check "... after the 2 s budget ($((t1 - t0)) ms)" test $((t1 - t0)) -ge 1800
t0=$(ms)
check "/healthz is 503 while kc-server is away" test "$(curl -s -o /dev/null -w '%{http_code}' "$LS_URL/healthz")" = 503
t1=$(ms)
check "... at once ($((t1 - t0)) ms)" test $((t1 - t0)) -lt 1000
live_stack_server_start
check "and 200 again once kc-server is back" \
	wait_for 20 bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' '$LS_URL/healthz')\" = 200 ]"
check_summary
