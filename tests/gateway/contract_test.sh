#!/usr/bin/env bash
# The REST contract of DESIGN §3 through real HTTP: curl and jq against
# kc-gateway in front of a live kc-server, real tmux on a private socket and
# the scripted fake agent (tests/fake_agent). Every row of the table, every
# error code, the workspace routes, and the seed's documented bash flow
# (create -> jq -r .task_id -> poll status until not running -> output) run
# as a user's script would. Polls are bounded by deadlines; nothing asserts
# on a fixed sleep.
set -uo pipefail

source "$(pwd)/tests/lib/live_stack.sh"
live_stack_start --max-running 8 --standin
tmp=$LS_TMP
BASE=$LS_URL
TOKEN=$LS_TOKEN
# Bodies are JSON and say so (a form or text/plain body is 415); on a GET
# the header is harmless.
J=(-H 'Content-Type: application/json')
A=(-H "Authorization: Bearer $TOKEN" "${J[@]}")

# code METHOD PATH [curl args] -> status; body in $tmp/body, headers in $tmp/headers
code() {
	local m=$1 p=$2
	shift 2
	curl -s -o "$tmp/body" -D "$tmp/headers" -w '%{http_code}' -X "$m" "$@" "$BASE$p"
}
jqb() { jq -e "$1" "$tmp/body" >/dev/null; }
jqq() { jq -e "$@" >/dev/null; }
err_is() { jq -e --arg m "$1" '.error == $m' "$tmp/body" >/dev/null; }
is_json_error() { jq -e '.error | type == "string"' "$tmp/body" >/dev/null; }
ctype() { grep -qi "^content-type: $1" "$tmp/headers"; }

# ---- health: no credentials needed ----
check "GET /health is 200 without credentials" test "$(code GET /health)" = 200
check "health fields" jqb '(.status | IN("healthy","degraded")) and .services.vscode.port == 8080 and .services.terminal.port == 7681 and .services.browser.port == 6081 and (.services.vscode.status | IN("up","down")) and (.timestamp | type == "number")'
for s in vscode terminal browser; do
	check "GET /health/$s is 200" test "$(code GET /health/$s)" = 200
done

# ---- auth ----
check "no credentials is 401" test "$(code GET /api/claude/tasks)" = 401
check "401 is a JSON error" is_json_error
check "a wrong bearer is 401" test "$(code GET /api/claude/tasks -H 'Authorization: Bearer nope')" = 401
# Identity is trusted by listener, never by path: on the public port the
# proxy's headers are nobody, under /oauth or not (tests/security has the
# many spellings).
check "identity headers on the public port are ignored (401)" \
	test "$(code GET /api/claude/tasks -H 'X-Auth-Request-User: alice' -H 'X-Auth-Request-Email: a@x')" = 401
check "identity headers under /oauth on the public port are ignored (401)" \
	test "$(code GET /oauth/api/claude/tasks -H 'X-Auth-Request-User: alice' -H 'X-Auth-Request-Email: a@x')" = 401
check "through the auth proxy (stand-in) the identity is honoured" \
	test "$(curl -s -o "$tmp/body" -w '%{http_code}' "$LS_OAUTH_URL/oauth/api/claude/tasks")" = 200
check "any route with the /oauth prefix and a bearer" test "$(code GET /oauth/api/claude/tasks "${A[@]}")" = 200

# ---- create ----
check "POST /api/claude/tasks is 201" \
	test "$(code POST /api/claude/tasks "${A[@]}" -d '{"prompt": "hello there"}')" = 201
check "create answers JSON" ctype application/json
check "task object fields" jqb '(.task_id | test("^[0-9]+-[0-9a-f]{8}$")) and (.session_id | test("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")) and .prompt == "hello there" and .status == "running" and (.created_at | type == "number") and .tmux_session == ("claude-" + .task_id) and .followups == []'
check "workdir defaults to the home" jqq --arg h "$LS_HOME" '.workdir == $h' "$tmp/body"
T1=$(jq -r .task_id "$tmp/body")
check "the task runs in real tmux" wait_for 20 tmux -S "$LS_TMUX" has-session -t "claude-$T1"
mkdir -p "$LS_HOME/proj"
check "workdir is honoured" \
	test "$(code POST /api/claude/tasks "${A[@]}" -d "{\"prompt\": \"$(printf 'x%.0s' $(seq 1 200))\", \"workdir\": \"$LS_HOME/proj\"}")" = 201
check "workdir echoed" jqq --arg w "$LS_HOME/proj" '.workdir == $w' "$tmp/body"
T2=$(jq -r .task_id "$tmp/body")

# ---- list ----
check "GET /api/claude/tasks is 200" test "$(code GET /api/claude/tasks "${A[@]}")" = 200
check "list items carry task_id, prompt, status, created_at" \
	jqb '(.tasks | length) == 2 and all(.tasks[]; has("task_id") and has("prompt") and has("status") and has("created_at"))'
check "list is newest first" jqq --arg a "$T2" --arg b "$T1" '[.tasks[].task_id] == [$a, $b]' "$tmp/body"
check "list prompts are cut to 120 characters" jqb '(.tasks[0].prompt | length) == 120'

# ---- get, output ----
delivered() { curl -s "${A[@]}" "$BASE/api/claude/tasks/$T1/output" | grep -q 'echo: hello there'; }
check "the prompt reaches the agent (output shows its answer)" wait_for 30 delivered
check "GET /api/claude/tasks/{id} is 200" test "$(code GET "/api/claude/tasks/$T1" "${A[@]}")" = 200
check "task has recent_output from the live pane" jqb '(.recent_output | type == "string") and (.recent_output | contains("echo: hello there"))'
check "output is 200" test "$(code GET "/api/claude/tasks/$T1/output" "${A[@]}")" = 200
check "output is text/plain" ctype text/plain
check "output ?tail=2 is 200" test "$(code GET "/api/claude/tasks/$T1/output?tail=2" "${A[@]}")" = 200
check "?tail=2 gives at most the last 2 lines" bash -c "[ \$(wc -l <$tmp/body) -le 2 ]"

# ---- message -> followups ----
msg_ok() { [ "$(code POST "/api/claude/tasks/$T1/message" "${A[@]}" -d '{"prompt": "and again"}')" = 200 ]; }
check "POST message is 200" wait_for 30 msg_ok
check "message answers the task with followups" \
	jqb '.task_id != null and (.followups | length) == 1 and .followups[0].prompt == "and again" and (.followups[0].sent_at | type == "number")'
answered() { curl -s "${A[@]}" "$BASE/api/claude/tasks/$T1/output" | grep -q 'echo: and again'; }
check "the follow-up reaches the agent" wait_for 30 answered

# ---- prepare-terminal ----
check "prepare-terminal is 200" test "$(code POST "/api/claude/tasks/$T1/prepare-terminal" "${A[@]}")" = 200
check "prepare-terminal answer" jqq --arg s "claude-$T1" '.ok == true and .session == $s' "$tmp/body"

# ---- delete -> killed ----
check "DELETE is 200" test "$(code DELETE "/api/claude/tasks/$T2" "${A[@]}")" = 200
check "DELETE answers killed" jqq --arg t "$T2" '.task_id == $t and .status == "killed" and (.killed_at | type == "number")' "$tmp/body"
check "the killed task's tmux session is gone" wait_for 20 bash -c "! tmux -S $LS_TMUX has-session -t claude-$T2 2>/dev/null"
check "GET shows killed" bash -c "curl -s -H 'Authorization: Bearer $TOKEN' $BASE/api/claude/tasks/$T2 | jq -e '.status == \"killed\"' >/dev/null"
check "message to an ended session is refused" \
	bash -c "[ \"\$(curl -s -o $tmp/b2 -w '%{http_code}' -H 'Authorization: Bearer $TOKEN' -H 'Content-Type: application/json' -d '{\"prompt\":\"x\"}' $BASE/api/claude/tasks/$T2/message)\" -ge 400 ]"
check "with the contract's message" jqq '.error == "Session is no longer running"' "$tmp/b2"

# ---- streams ----
curl -s -N "${A[@]}" -H 'Accept: text/event-stream' "$BASE/api/claude/tasks/$T1/watch" --max-time 4 >"$tmp/sse" 2>/dev/null
check "WatchTask as SSE shows the task" bash -c "grep '^data: ' $tmp/sse | head -1 | sed 's/^data: //' | jq -e '.task.task_id == \"$T1\"' >/dev/null"

# ---- token routes: OAuth identity only ----
OA=(-H 'X-Auth-Request-User: alice' -H 'X-Auth-Request-Email: alice@example.com')
# ocode METHOD PATH [curl args]: through the auth proxy's stand-in.
ocode() {
	local m=$1 p=$2
	shift 2
	curl -s -o "$tmp/body" -D "$tmp/headers" -w '%{http_code}' -X "$m" "$@" "$LS_OAUTH_URL$p"
}
check "token with a bearer is refused" bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer $TOKEN' $BASE/oauth/api/claude/auth/token)\" = 403 ]"
check "token without /oauth and spoofed identity is 401" test "$(code GET /api/claude/auth/token "${OA[@]}")" = 401
check "token under /oauth with spoofed identity on the public port is 401" \
	test "$(code GET /oauth/api/claude/auth/token "${OA[@]}")" = 401
check "token through the auth proxy is 200" test "$(ocode GET /oauth/api/claude/auth/token)" = 200
check "it is the API token" jqq --arg t "$TOKEN" '.token == $t' "$tmp/body"
check "regenerate through the auth proxy is 200" test "$(ocode POST /oauth/api/claude/auth/token/regenerate)" = 200
NEW=$(jq -r .token "$tmp/body")
check "a new token" test -n "$NEW" -a "$NEW" != "$TOKEN"
check "the old token dies at once" test "$(code GET /api/claude/tasks "${A[@]}")" = 401
TOKEN=$NEW
A=(-H "Authorization: Bearer $TOKEN" "${J[@]}")
check "the new token works" test "$(code GET /api/claude/tasks "${A[@]}")" = 200

# ---- workspace routes ----
check "GET /metrics is 200" test "$(code GET /metrics "${A[@]}")" = 200
check "metrics fields" jqb '(.cpu.usage_percent | type == "number") and (.cpu.cores | type == "number") and (.memory.total_mb | type == "number") and (.memory.used_mb | type == "number") and (.memory.available_mb | type == "number") and (.memory.percent | type == "number") and (.disk.total_gb | type == "number") and (.disk.path | type == "string") and (.alerts | type == "array") and (.timestamp | type == "number")'
check "GET /metrics needs credentials" test "$(code GET /metrics)" = 401
check "GET /api/github/status is 200" test "$(code GET /api/github/status "${A[@]}")" = 200
check "github status fields" jqb '(.ssh.configured | type == "boolean") and (.gh_cli.installed | type == "boolean") and (.gh_cli.authenticated | type == "boolean") and has("git_config")'
check "GET /api/github/config is 200" test "$(code GET /api/github/config "${A[@]}")" = 200
check "POST /api/github/config without email is 400" test "$(code POST /api/github/config "${A[@]}" -d '{"name":"A"}')" = 400
check "Prometheus exposition beside the JSON" \
	bash -c "curl -s $BASE/metrics/prometheus | grep -q '^kc_gateway_requests_total{route=\"GET /api/claude/tasks\",code=\"200\"}'"

# ---- every error code ----
check "bad JSON is 400" test "$(code POST /api/claude/tasks "${A[@]}" -d '{"prompt": ')" = 400
check "400 is a JSON error" is_json_error
check "missing prompt is 400" test "$(code POST /api/claude/tasks "${A[@]}" -d '{}')" = 400
check "missing prompt says so" err_is "prompt is required"
check "blank prompt is 400" test "$(code POST /api/claude/tasks "${A[@]}" -d '{"prompt": "   "}')" = 400
check "non-string prompt is 400" test "$(code POST /api/claude/tasks "${A[@]}" -d '{"prompt": 42}')" = 400
check "malformed id is 404 like an unknown one" test "$(code GET /api/claude/tasks/not-an-id "${A[@]}")" = 404
check "malformed id says so" err_is "task not found"
check "../ in an id never reaches a file" test "$(code GET '/api/claude/tasks/..%2F..%2Fetc' "${A[@]}" --path-as-is)" -ge 400
check "unknown task is 404" test "$(code GET /api/claude/tasks/1700000000-deadbeef "${A[@]}")" = 404
check "unknown task says so" err_is "task not found"
check "unknown route is 404 JSON" bash -c "[ \"\$(curl -s -o $tmp/b3 -w '%{http_code}' -H 'Authorization: Bearer $TOKEN' $BASE/api/claude/nope)\" = 404 ] && jq -e .error $tmp/b3 >/dev/null"
head -c 1100000 /dev/zero | tr '\0' 'a' | sed 's/^/{"prompt":"/; s/$/"}/' >"$tmp/big.json"
check "body over 1 MiB is 413" test "$(code POST /api/claude/tasks "${A[@]}" --data-binary @"$tmp/big.json")" = 413
check "413 is a JSON error" is_json_error
check "wrong method is 405" test "$(code PATCH /api/claude/tasks "${A[@]}")" = 405
check "405 is a JSON error" is_json_error
check "API answers are no-store" grep -qi '^cache-control: no-store' "$tmp/headers"

# ---- the same over HTTP/2 ----
H2=(--http2-prior-knowledge)
check "list over h2c" test "$(curl -s -o /dev/null -w '%{http_version} %{http_code}' "${H2[@]}" "${A[@]}" "$BASE/api/claude/tasks")" = "2 200"
check "create over h2c is 201" \
	test "$(curl -s -o "$tmp/body" -w '%{http_version} %{http_code}' "${H2[@]}" "${A[@]}" -d '{"prompt":"exit"}' "$BASE/api/claude/tasks")" = "2 201"
T3=$(jq -r .task_id "$tmp/body")
check "get asking for an h2c Upgrade is answered as HTTP/1.1" \
	test "$(curl -s -o "$tmp/body" -w '%{http_version} %{http_code}' --http2 "${A[@]}" "$BASE/api/claude/tasks/$T3")" = "1.1 200"
check "and the task is the one created" jqq --arg t "$T3" '.task_id == $t' "$tmp/body"
check "errors over h2c are the same JSON" \
	bash -c "[ \"\$(curl -s -o $tmp/b4 -w '%{http_code}' --http2-prior-knowledge -H 'Authorization: Bearer $TOKEN' -H 'Content-Type: application/json' -d '{}' $BASE/api/claude/tasks)\" = 400 ] && jq -e '.error == \"prompt is required\"' $tmp/b4 >/dev/null"

# ---- many clients at once (DESIGN §7: keep serving under 200) ----
seq 1 200 | xargs -P 100 -I{} curl -s -o /dev/null -w '%{http_code}\n' --max-time 60 "${A[@]}" "$BASE/api/claude/tasks" >"$tmp/many"
check "200 concurrent clients are all answered 200" test "$(grep -c '^200$' "$tmp/many")" = 200

# ---- the seed's documented bash flow, as a user's script runs it ----
cat >"$tmp/flow.sh" <<'FLOW'
set -euo pipefail
API=$1
TOKEN=$2
# Create a task
TASK_ID=$(curl -s -X POST "$API/api/claude/tasks" \
  -H "Authorization: Bearer $TOKEN" \
  -H "Content-Type: application/json" \
  -d '{"prompt": "exit"}' | jq -r .task_id)
echo "task: $TASK_ID"
# Poll its status until it is no longer running
for i in $(seq 1 120); do
  STATUS=$(curl -s "$API/api/claude/tasks/$TASK_ID" -H "Authorization: Bearer $TOKEN" | jq -r .status)
  [ "$STATUS" != running ] && break
  sleep 0.5
done
echo "status: $STATUS"
# Its output
curl -s "$API/api/claude/tasks/$TASK_ID/output" -H "Authorization: Bearer $TOKEN"
FLOW
bash "$tmp/flow.sh" "$BASE" "$TOKEN" >"$tmp/flow.out" 2>&1
check "seed flow: jq -r .task_id gives an id" grep -Eq '^task: [0-9]+-[0-9a-f]{8}$' "$tmp/flow.out"
check "seed flow: the status leaves running (completed)" grep -q '^status: completed$' "$tmp/flow.out"
check "seed flow: the output of the finished task is served from its log" grep -q 'bye' "$tmp/flow.out"

[ "$failed" = 0 ] || live_stack_logs 30
check_summary
