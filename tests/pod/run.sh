#!/usr/bin/env bash
# make test-pod: the workspace chart's pod, built and played here with
# podman (scripts/pod/), tested from outside through the gateway's port and
# the gRPC port, as a user and the kubelet would reach it.
#
#   images      scripts/pod/build-images.sh (cached layers), timed
#   play        a clean home volume, then scripts/pod/up.sh with
#               tests/pod/values.yaml (the scripted agent is the default),
#               tests/ mounted read-only at /opt/kc-tests, and
#               scripts/oauth-standin.py in oauth2-proxy's place
#   checks      health and readiness (the chart's probe commands), users and
#               read-only roots; a task whose agent runs in the workspace
#               toolchain's container (go, gcc), its output over SSE,
#               follow-up, kill; kc over REST and gRPC; identity through
#               the OAuth listener; the dashboard in headless Chromium;
#               kill -9 of kc-server, its restart by the restart policy and
#               the running task re-adopted; the home volume keeping tasks
#               across scripts/pod/down.sh + up.sh
#
# Environment: KC_POD_TEST_HTTP_PORT (16180), KC_POD_TEST_GRPC_PORT (16151),
# KC_POD_KEEP=1 leaves the pod and its volume for a look afterwards.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=../lib/check.sh
source "$root/tests/lib/check.sh"

export KC_POD_USER=podtest
export KC_POD_HTTP_PORT=${KC_POD_TEST_HTTP_PORT:-16180}
export KC_POD_GRPC_PORT=${KC_POD_TEST_GRPC_PORT:-16151}
export KC_POD_DIR=$root/.run/pod-test
export KC_POD_OAUTH_STANDIN=1
export KC_POD_VALUES=$root/tests/pod/values.yaml
export KC_POD_MOUNT=kc-tests=$root/tests:/opt/kc-tests
# shellcheck source=../../scripts/pod/common.sh
source "$root/scripts/pod/common.sh"
mkdir -p "$KC_POD_DIR"
tmp=$KC_POD_DIR/tmp
rm -rf "$tmp" && mkdir -p "$tmp"

t_start=$(date +%s)
timed() { # label command...: runs it, records "label seconds"
	local t0=$(date +%s) rc
	"$@"
	rc=$?
	echo "${1##*/} $(($(date +%s) - t0))" >>"$tmp/timings"
	return $rc
}
step() { echo "# --- $* ($(($(date +%s) - t_start)) s)"; }

step "images"
if ! timed "$root/scripts/pod/build-images.sh"; then
	bad "the images build"
	check_summary
	exit 1
fi
ok "the images build"

down() { "$root/scripts/pod/down.sh"; }
[ "${KC_POD_KEEP:-0}" = 1 ] || at_exit "POD_DOWN_VOLUMES=1 $root/scripts/pod/down.sh"
POD_DOWN_VOLUMES=1 down
step "play"
if ! KC_POD_SKIP_BUILD=1 timed "$root/scripts/pod/up.sh" >"$tmp/up.out"; then
	cat "$tmp/up.out"
	bad "make pod plays the chart and it gets ready"
	check_summary
	exit 1
fi
ok "make pod plays the chart and it gets ready"
pod=$(kc_pod)
check "it prints the dashboard URL with the token" grep -q "dashboard:  http://127.0.0.1:$KC_POD_HTTP_PORT/#token=" "$tmp/up.out"

server=$pod-kc-server
gateway=$pod-kc-gateway
# Where the agents run: the workspace image's agents container when the
# chart has one, else kc-server's container (an older chart).
agents=$pod-agents
podman container exists "$agents" || agents=$server
echo "# agents run in $agents"
URL=http://127.0.0.1:$KC_POD_HTTP_PORT
TOKEN=$(podman exec "$server" cat /home/coder/.claude-tasks/.api-token)
A=(-H "Authorization: Bearer $TOKEN")
code() { # METHOD PATH [curl args]: status code; body in $tmp/body
	local m=$1 p=$2
	shift 2
	curl -s -o "$tmp/body" -w '%{http_code}' -X "$m" -H 'Content-Type: application/json' "$@" "$URL$p"
}
jqb() { jq -e "$@" "$tmp/body" >/dev/null; }

step "health and readiness"
check "/healthz through the published port is 200" test "$(code GET /healthz)" = 200
check "/health answers without credentials" test "$(code GET /health)" = 200
check "... with a status and the services it probes" jqb '(.status | type == "string") and (.services | type == "object")'
check "the API refuses no credentials (401)" test "$(code GET /api/claude/tasks)" = 401
check "and answers the pod's token (200)" test "$(code GET /api/claude/tasks "${A[@]}")" = 200
# The chart's probes, run as the kubelet would (podman runs none).
python3 "$root/scripts/pod/probe.py" "$KC_POD_DIR/probes.json" "$pod" >"$tmp/probes" 2>&1
cat "$tmp/probes"
check "every probe of the chart passes (scripts/pod/probe.py)" bash -c "! grep -q FAIL '$tmp/probes' && grep -q '^probe ok' '$tmp/probes'"
check "... among them kc-server's (its socket)" grep -q '^probe ok   kc-server startupProbe: exec /usr/bin/test -S /run/kc/kc-server.sock' "$tmp/probes"
check "... and kc-gateway's /healthz with Host: localhost" grep -q '^probe ok   kc-gateway readinessProbe: GET /healthz -> 200' "$tmp/probes"
for c in $(podman pod inspect --format '{{range .Containers}}{{.Name}} {{end}}' "$pod"); do
	case $c in *-infra) continue ;; esac
	check "$c is running" test "$(podman inspect --format '{{.State.Running}}' "$c")" = true
	check "$c runs as uid 1000" test "$(podman exec "$c" id -u)" = 1000
done
check "kc-server's root is read-only" bash -c "! podman exec $server touch /kc-ro-probe 2>/dev/null"
check "kc-gateway's root is read-only" bash -c "! podman exec $gateway touch /kc-ro-probe 2>/dev/null"

step "a task in the workspace's toolchain"
check "POST /api/claude/tasks is 201" test "$(code POST /api/claude/tasks "${A[@]}" -d '{"prompt": "hello pod"}')" = 201
T1=$(jq -r '.task_id // empty' "$tmp/body")
check "... running, with an id" jqb '.status == "running" and (.task_id | test("^[0-9]+-[0-9a-f]{8}$"))'
T1=${T1:-no-such-task}
# The task's whole life over SSE: output chunks and task events.
curl -s -N "${A[@]}" -H 'Accept: text/event-stream' \
	"$URL/api/claude/tasks/$T1/watch?include_output=true" --max-time 300 >"$tmp/sse" 2>/dev/null &
sse_pid=$!
sse_has() { grep '^data: ' "$tmp/sse" | sed 's/^data: //' | jq -r '.output.text // empty' 2>/dev/null | tr -d '\r' | grep -q "$1"; }
check "output streams over SSE: the prompt reached the agent" wait_for 60 sse_has 'echo: hello pod'
check "the agent ran go (the workspace's toolchain): go version" sse_has 'go version go1\.'
check "... and gcc" sse_has 'gcc (Debian'
check "... as uid 1000 with the home volume's HOME" sse_has 'kc-pod-agent: uid 1000 home /home/coder'
check "SSE frames are data: lines with task events too" bash -c "grep '^data: {\"task\"' '$tmp/sse' | head -n 1 | sed 's/^data: //' | jq -e --arg t '$T1' '.task.task_id == \$t' >/dev/null"
check "the agents' tmux server runs in $agents" bash -c "podman top '$agents' args | grep -q '[t]mux'"
msg_ok() { [ "$(code POST "/api/claude/tasks/$T1/message" "${A[@]}" -d '{"prompt": "and again"}')" = 200 ]; }
check "follow-up: POST message is 200" wait_for 30 msg_ok
check "... recorded as a follow-up" jqb '(.followups | length) == 1 and .followups[0].prompt == "and again"'
check "... and answered, on the same SSE stream" wait_for 30 sse_has 'echo: and again'
check "POST a second task" test "$(code POST /api/claude/tasks "${A[@]}" -d '{"prompt": "to be killed"}')" = 201
T2=$(jq -r '.task_id // empty' "$tmp/body")
T2=${T2:-no-such-task}
check "kill: DELETE is 200 and says killed" bash -c "[ \"\$(curl -s -o '$tmp/kill' -w '%{http_code}' -X DELETE -H 'Content-Type: application/json' -H 'Authorization: Bearer $TOKEN' '$URL/api/claude/tasks/$T2')\" = 200 ] && jq -e '.status == \"killed\"' '$tmp/kill' >/dev/null"
check "... its tmux session is gone" wait_for 20 bash -c "! podman exec '$agents' tmux -S /tmp/kc-tmux/default has-session -t 'claude-$T2' 2>/dev/null"

step "kc over REST and gRPC"
kc=$root/bazel-bin/client/kc
if (cd "$root" && bazel build --disk_cache=/var/tmp/kc-bazel-disk-cache //client:kc >"$tmp/bazel.log" 2>&1); then
	export KC_TOKEN=$TOKEN
	unset KC_WORKSPACE KC_CONFIG
	check "kc task ls over REST lists the task" bash -c "KC_URL='$URL' '$kc' task ls | grep -q '$T1'"
	check "kc task get over REST" bash -c "KC_URL='$URL' '$kc' task get '$T1' | grep -q '$T1'"
	check "kc status over gRPC" env KC_URL="grpc://127.0.0.1:$KC_POD_GRPC_PORT" "$kc" status
	T3=$(KC_URL="grpc://127.0.0.1:$KC_POD_GRPC_PORT" "$kc" task create -q "via grpc")
	check "kc task create over gRPC gives an id" test -n "$T3"
	logs_grpc() { KC_URL="grpc://127.0.0.1:$KC_POD_GRPC_PORT" "$kc" task logs "$T3" | grep -q 'echo: via grpc'; }
	check "kc task logs over gRPC shows the agent's answer" wait_for 60 logs_grpc
	check "kc task send over gRPC" env KC_URL="grpc://127.0.0.1:$KC_POD_GRPC_PORT" "$kc" task send "$T3" "grpc follow-up"
	logs_rest() { KC_URL="$URL" "$kc" task logs "$T3" | grep -q 'echo: grpc follow-up'; }
	check "... seen over REST" wait_for 60 logs_rest
else
	tail -20 "$tmp/bazel.log"
	bad "bazel build //client:kc"
fi

step "identity through the OAuth listener (stand-in)"
standin=$pod-oauth-standin
check "the stand-in signs in: /oauth/api/claude/tasks is 200 without a token" \
	test "$(podman exec "$standin" curl -s -o /dev/null -w '%{http_code}' -H 'Host: localhost' http://127.0.0.1:4180/oauth/api/claude/tasks)" = 200
check "... and the token route answers the signed-in user" \
	bash -c "podman exec '$standin' curl -s -H 'Host: localhost' http://127.0.0.1:4180/oauth/api/claude/auth/token | jq -e --arg t '$TOKEN' '.token == \$t' >/dev/null"
check "identity headers on the public port are nobody (401)" \
	test "$(code GET /oauth/api/claude/tasks -H 'X-Forwarded-User: local' -H 'X-Forwarded-Email: l@x')" = 401

step "the dashboard in headless Chromium"
if KC_URL=$URL KC_TOKEN=$TOKEN KC_OUT=$KC_POD_DIR/screenshots HOME=$tmp TMPDIR=$tmp \
	timeout 600 node "$root/tests/browser/dashboard_test.js" >"$tmp/browser.out" 2>&1; then
	ok "dashboard_test.js against the pod ($(tail -n 1 "$tmp/browser.out"))"
else
	grep -E '^FAIL|Error' "$tmp/browser.out" | head -20
	bad "dashboard_test.js against the pod" "$(tail -n 1 "$tmp/browser.out")"
fi

step "kill -9 of kc-server; the restart policy; the running task re-adopted"
check "task $T1 is running before" bash -c "curl -s -H 'Authorization: Bearer $TOKEN' '$URL/api/claude/tasks/$T1' | jq -e '.status == \"running\"' >/dev/null"
restarts0=$(podman inspect --format '{{.RestartCount}}' "$server")
init=$(podman inspect --format '{{.State.Pid}}' "$server")
victim=$(pgrep -P "$init" -x kc-server)
check "kc-server found under the container's tini (pid $victim)" test -n "$victim"
[ -z "$victim" ] || kill -9 "$victim"
restarted() { [ "$(podman inspect --format '{{.RestartCount}}' "$server")" -gt "$restarts0" ] && [ "$(podman inspect --format '{{.State.Running}}' "$server")" = true ]; }
check "the container is restarted by its restart policy" wait_for 60 restarted
healthy() { [ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/healthz")" = 200 ]; }
check "the gateway is healthy again" wait_for 60 healthy
check "task $T1 is still running (re-adopted)" bash -c "curl -s -H 'Authorization: Bearer $TOKEN' '$URL/api/claude/tasks/$T1' | jq -e '.status == \"running\"' >/dev/null"
msg2_ok() { [ "$(code POST "/api/claude/tasks/$T1/message" "${A[@]}" -d '{"prompt": "after the restart"}')" = 200 ]; }
check "a follow-up to it is accepted" wait_for 30 msg2_ok
answered2() { curl -s "${A[@]}" "$URL/api/claude/tasks/$T1/output" | grep -q 'echo: after the restart'; }
check "... and answered by the same agent" wait_for 30 answered2
kill "$sse_pid" 2>/dev/null
wait "$sse_pid" 2>/dev/null

step "the home volume across make pod-down / make pod"
down >/dev/null
check "pod-down removed the pod" test -z "$(kc_pod)"
check "... and kept the home volume" podman volume exists "$KC_POD_NAME-home"
if KC_POD_SKIP_BUILD=1 timed "$root/scripts/pod/up.sh" >"$tmp/up2.out"; then
	ok "make pod again"
	check "the API token is the same" test "$(podman exec "$server" cat /home/coder/.claude-tasks/.api-token)" = "$TOKEN"
	check "the tasks are still listed" bash -c "curl -s -H 'Authorization: Bearer $TOKEN' '$URL/api/claude/tasks' | jq -e --arg a '$T1' --arg b '$T2' '[.tasks[].task_id] | index(\$a) != null and index(\$b) != null' >/dev/null"
	check "the first task's output is kept" bash -c "curl -s -H 'Authorization: Bearer $TOKEN' '$URL/api/claude/tasks/$T1/output' | grep -q 'echo: hello pod'"
else
	cat "$tmp/up2.out"
	bad "make pod again"
fi

echo "# timings (s): $(tr '\n' ' ' <"$tmp/timings") total $(($(date +%s) - t_start))"
check_summary
