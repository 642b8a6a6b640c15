#!/usr/bin/env bash
# kc-gateway through real sockets: curl (and raw bytes over /dev/tcp)
# against the gateway, with stub_server standing in for kc-server over a
# unix socket. Covers routing, transcoding, the auth header rule, error
# codes, streams (SSE and NDJSON, teardown on disconnect), pipelining,
# smuggling, slowloris, traversal, static files, metrics and the drain.
set -uo pipefail
# Raw-socket checks write to connections the gateway closes on purpose.
trap "" PIPE

root=$(pwd)
source "$root/tests/lib/check.sh"
gw_bin=$root/gateway/kc-gateway
stub_bin=$root/tests/gateway/stub_server
# Unix socket paths must be short; the test tmpdir is not.
check_tmpdir tmp kcgw
# Runfiles are symlinks out of the tree, which the gateway refuses to
# follow (a file must lie inside the web root): serve a real copy.
cp -rL "$root/gateway/web" "$tmp/web"
web=$tmp/web
at_exit stop_pids

cat >"$tmp/kc.yaml" <<YAML
home: $tmp
server:
  socket: $tmp/s.sock
gateway:
  listen: 127.0.0.1:0
  upstream: unix:$tmp/s.sock
  web_root: $web
  oauth_listen: unix:$tmp/o/oauth.sock
  request_timeout_ms: 1500
  max_body_bytes: 1048576
YAML

"$stub_bin" "unix:$tmp/s.sock" "$tmp/cancelled" 2>"$tmp/stub.log" &
pids+=($!)
wait_for 20 test -S "$tmp/s.sock" || { echo "stub did not start"; cat "$tmp/stub.log"; exit 1; }
"$gw_bin" --config "$tmp/kc.yaml" 2>"$tmp/gw.log" &
gw_pid=$!
pids+=($gw_pid)
wait_for 20 grep -q '"listening"' "$tmp/gw.log" || { echo "gateway did not start"; cat "$tmp/gw.log"; exit 1; }
port=$(grep -o '"port":"[0-9]*"' "$tmp/gw.log" | grep -o '[0-9]*')
base=http://127.0.0.1:$port
# Bodies are JSON and say so (else 415); harmless on a GET.
B=(-H "Authorization: Bearer good" -H 'Content-Type: application/json')
J=(-H 'Content-Type: application/json')
# The identity listener, where the auth proxy's headers count (Host:
# localhost, which the allow-list has by default).
O=(--unix-socket "$tmp/o/oauth.sock")
obase=http://localhost

# code METHOD PATH [curl args...] -> prints the status, body in $tmp/body
code() {
	local m=$1 p=$2
	shift 2
	curl -s -o "$tmp/body" -D "$tmp/headers" -w '%{http_code}' -X "$m" "$@" "$base$p"
}
body_has() { grep -q -- "$1" "$tmp/body"; }
hdr_has() { grep -qi -- "$1" "$tmp/headers"; }
jqb() { jq -e "$1" "$tmp/body" >/dev/null; }

check "healthz 200 when the server serves" test "$(code GET /healthz)" = 200
check "health needs no auth, map renders as object" \
	bash -c "[ \"\$(curl -s $base/health | jq -r .services.vscode.status)\" = up ]"

check "list without credentials is 401" test "$(code GET /api/claude/tasks)" = 401
check "401 body is the server's message" jqb '.error == "missing or invalid credentials"'
check "list with bearer is 200" test "$(code GET /api/claude/tasks "${B[@]}")" = 200
check "list fields and enum strings" jqb '(.tasks | length) == 3 and .tasks[0].status == "running" and .tasks[1].status == "completed" and .tasks[0].created_at == 1732665600.25'
check "API answers carry no-store and nosniff" bash -c "grep -qi '^cache-control: no-store' $tmp/headers && grep -qi '^x-content-type-options: nosniff' $tmp/headers"
check "spoofed X-Auth-Request-User on a non-/oauth path is 401" \
	test "$(code GET /api/claude/tasks -H 'X-Auth-Request-User: mallory')" = 401
check "spoofed X-Auth-Request-User under /oauth on the public port is 401" \
	test "$(code GET /oauth/api/claude/tasks -H 'X-Auth-Request-User: mallory')" = 401
check "identity headers are honoured on the identity listener" \
	test "$(curl -s -o "$tmp/body" -w '%{http_code}' "${O[@]}" -H 'X-Auth-Request-User: alice' "$obase/oauth/api/claude/tasks")" = 200
check "the identity listener is a 0600 socket" test "$(stat -c %a "$tmp/o/oauth.sock")" = 600
check "its directory is 0700" test "$(stat -c %a "$tmp/o")" = 700

check "create is 201" test "$(code POST /api/claude/tasks "${B[@]}" -d '{"prompt":"fix it"}')" = 201
check "create echoes the task" jqb '.task_id == "1732665600-9f3a1c2b" and .status == "running" and .prompt == "fix it" and .followups == [] and .recent_output == ""'
check "identity stripped on non-/oauth create" \
	bash -c "curl -s -X POST ${B[*]@Q} -H 'X-Auth-Request-User: mallory' -d '{\"prompt\":\"x\"}' $base/api/claude/tasks | jq -e '.agent == \"\"' >/dev/null"
check "identity stripped on /oauth create on the public port" \
	bash -c "curl -s -X POST ${B[*]@Q} -H 'X-Auth-Request-User: mallory' -d '{\"prompt\":\"x\"}' $base/oauth/api/claude/tasks | jq -e '.agent == \"\"' >/dev/null"
check "identity forwarded on the identity listener" \
	bash -c "curl -s -X POST ${O[*]@Q} ${J[*]@Q} -H 'X-Auth-Request-User: alice' -d '{\"prompt\":\"x\"}' $obase/oauth/api/claude/tasks | jq -e '.agent == \"alice\"' >/dev/null"
check "a form body is 415" test "$(code POST /api/claude/tasks -H "Authorization: Bearer good" -d '{"prompt":"x"}')" = 415
check "415 is a JSON error" jqb '.error == "the request body must be application/json"'
check "JSON with a charset is fine" \
	test "$(code POST /api/claude/tasks -H "Authorization: Bearer good" -H 'Content-Type: Application/JSON; charset=utf-8' -d '{"prompt":"x"}')" = 201
check "a Host not allowed is 421" test "$(code GET /api/claude/tasks "${B[@]}" -H 'Host: attacker.example')" = 421
check "421 is a JSON error" jqb '.error == "misdirected request"'
check "no Host is 400" test "$(code GET /healthz -H 'Host:')" = 400
check "request id reaches the server and the client" \
	bash -c "curl -s -D - -X POST ${B[*]@Q} -H 'X-Request-Id: rid-123' -d '{\"prompt\":\"x\"}' $base/api/claude/tasks | grep -q 'rid-123'"

check "non-string prompt is 400" test "$(code POST /api/claude/tasks "${B[@]}" -d '{"prompt":5}')" = 400
check "400 names the field" jqb '.error | test("prompt")'
check "unknown field is 400" test "$(code POST /api/claude/tasks "${B[@]}" -d '{"prompt":"x","nope":1}')" = 400
check "malformed JSON is 400" test "$(code POST /api/claude/tasks "${B[@]}" -d '{"prompt":')" = 400
printf '{"prompt":"\xff\xfe"}' >"$tmp/bad-utf8"
check "invalid UTF-8 is 400" test "$(code POST /api/claude/tasks "${B[@]}" --data-binary @"$tmp/bad-utf8")" = 400
check "blank prompt: the server's INVALID_ARGUMENT is 400" test "$(code POST /api/claude/tasks "${B[@]}" -d '{"prompt":""}')" = 400
head -c 1048600 /dev/zero | tr '\0' 'a' >"$tmp/big"
check "body over the limit is 413" test "$(code POST /api/claude/tasks "${B[@]}" --data-binary @"$tmp/big")" = 413
check "chunked body over the limit is 413" \
	test "$(code POST /api/claude/tasks "${B[@]}" -H 'Transfer-Encoding: chunked' --data-binary @"$tmp/big")" = 413

check "unknown task is 404" test "$(code GET /api/claude/tasks/missing "${B[@]}")" = 404
check "404 body is JSON" jqb '.error == "task not found"'
check "encoded traversal in an id is 404" test "$(code GET '/api/claude/tasks/%2e%2e' "${B[@]}" --path-as-is)" = 404
check "encoded slash in an id is 404" test "$(code GET '/api/claude/tasks/..%2F..%2Fetc' "${B[@]}" --path-as-is)" = 404
check "../ in a path is 404" test "$(code GET '/api/claude/tasks/../../etc/passwd' "${B[@]}" --path-as-is)" = 404
check "unknown API route is 404 JSON" bash -c "[ \"\$(curl -s -o $tmp/b2 -w '%{http_code}' $base/api/nope)\" = 404 ] && jq -e .error $tmp/b2 >/dev/null"
check "wrong method is 405 with Allow" test "$(code PUT /api/claude/tasks "${B[@]}")" = 405
check "Allow header lists the methods" hdr_has '^allow: .*GET'

check "output with ?tail= is 200" test "$(code GET '/api/claude/tasks/1-a/output?tail=5' "${B[@]}")" = 200
check "output is text/plain and tail reached the server" bash -c "grep -qi '^content-type: text/plain' $tmp/headers && grep -q 'tail=5' $tmp/body"
check "bad tail is 400" test "$(code GET '/api/claude/tasks/1-a/output?tail=x' "${B[@]}")" = 400
check "token with a bearer is 403" test "$(code GET /api/claude/auth/token "${B[@]}")" = 403
check "token under /oauth with spoofed identity on the public port is 401" \
	test "$(code GET /oauth/api/claude/auth/token -H 'X-Auth-Request-User: alice' -H 'X-Auth-Request-Email: a@x')" = 401
check "token on the identity listener is 200" \
	test "$(curl -s -o "$tmp/body" -w '%{http_code}' "${O[@]}" -H 'X-Auth-Request-User: alice' -H 'X-Auth-Request-Email: a@x' "$obase/oauth/api/claude/auth/token")" = 200

# Streams.
curl -s -N "${B[@]}" -H 'Accept: text/event-stream' "$base/api/claude/tasks/1-a/watch" >"$tmp/sse" --max-time 20
check "SSE delivers every event" test "$(grep -c '^data: ' "$tmp/sse")" = 3
check "SSE shows output and the status change" \
	bash -c "grep '^data: ' $tmp/sse | sed 's/^data: //' | jq -s -e '.[1].output.text == \"working...\\n\" and .[2].task.status == \"completed\"' >/dev/null"
curl -s -N "${B[@]}" "$base/api/claude/tasks/1-a/watch" >"$tmp/ndjson" --max-time 20
check "NDJSON without the SSE Accept" bash -c "[ \$(wc -l <$tmp/ndjson) = 3 ] && jq -s -e 'length == 3' $tmp/ndjson >/dev/null"
check "stream error before the first event is a plain 404" test "$(code GET /api/claude/tasks/missing/watch "${B[@]}")" = 404
curl -s -N "${B[@]}" -H 'Accept: text/event-stream' "$base/api/claude/tasks/forever/watch" --max-time 1 >/dev/null
check "client disconnect cancels the upstream stream" wait_for 20 test -e "$tmp/cancelled"
open_streams() { curl -s "$base/metrics/prometheus" | grep -q '^kc_gateway_open_streams 0$'; }
check "and frees the stream" wait_for 20 open_streams

# Raw HTTP/1.1: pipelining, smuggling, slowloris.
raw() { # sends $1, prints what comes back within $2 seconds
	exec 3<>"/dev/tcp/127.0.0.1/$port"
	printf '%b' "$1" >&3
	timeout "$2" cat <&3
	exec 3<&-
}
raw "GET /api/claude/tasks/missing HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer good\r\n\r\nGET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n" 10 >"$tmp/pipe"
check "pipelined answers come back in order" \
	bash -c "grep -ao 'HTTP/1.1 [0-9]*' $tmp/pipe | tr '\n' ' ' | grep -q '^HTTP/1.1 404 HTTP/1.1 200 $'"
raw "POST /api/claude/tasks HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /healthz HTTP/1.1\r\n\r\n" 10 >"$tmp/smuggle"
check "Content-Length with Transfer-Encoding is 400 and nothing after it is read" \
	bash -c "[ \"\$(grep -ac 'HTTP/1.1 ' $tmp/smuggle)\" = 1 ] && grep -q '^HTTP/1.1 400' $tmp/smuggle"
raw "GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: " 10 >"$tmp/slow"
check "slowloris: an incomplete request is answered 408 and closed" grep -q '^HTTP/1.1 408' "$tmp/slow"
check "garbage is 400" bash -c "[ \"\$(printf 'HELLO\r\n\r\n' | timeout 10 bash -c 'exec 3<>/dev/tcp/127.0.0.1/$port; cat >&3; cat <&3' | head -c 12)\" = 'HTTP/1.1 400' ]"

# Static files.
check "page is served with CSP" bash -c "[ \"\$(curl -s -o /dev/null -D $tmp/ph -w '%{http_code}' $base/)\" = 200 ] && grep -qi \"^content-security-policy: default-src 'self'\" $tmp/ph && grep -qi '^x-frame-options' $tmp/ph"
etag=$(grep -i '^etag:' "$tmp/ph" | cut -d' ' -f2 | tr -d '\r')
check "ETag revalidates to 304" test "$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "$base/")" = 304
check "page under /oauth/" test "$(curl -s -o /dev/null -w '%{http_code}' "$base/oauth/")" = 200
check "/oauth redirects to /oauth/, query kept" test "$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' "$base/oauth?tab=tasks")" = "301 $base/oauth/?tab=tasks"
check "/oauth followed lands on the page" test "$(curl -sL -o /dev/null -w '%{http_code}' "$base/oauth")" = 200
check "POST /oauth is not redirected" test "$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' -d '{}' "$base/oauth")" = 404
check "static traversal is 404" test "$(curl -s -o /dev/null -w '%{http_code}' --path-as-is "$base/../../etc/passwd")" = 404
check "static encoded traversal is 404" test "$(curl -s -o /dev/null -w '%{http_code}' --path-as-is "$base/%2e%2e/%2e%2e/etc/passwd")" = 404

check "OpenAPI document generated from the protos" \
	bash -c "curl -s $base/api/openapi.json | jq -e '.openapi == \"3.0.3\" and (.paths[\"/api/claude/tasks\"].post.responses | has(\"201\"))' >/dev/null"
check "Prometheus counts requests by route and code" \
	bash -c "curl -s $base/metrics/prometheus | grep -q 'kc_gateway_requests_total{route=\"GET /api/claude/tasks\",code=\"200\"}'"

# Many clients at once.
seq 1 200 | xargs -P 50 -I{} curl -s -o /dev/null -w '%{http_code}\n' -H 'Authorization: Bearer good' "$base/api/claude/tasks" >"$tmp/many"
check "200 requests from 50 concurrent clients all succeed" test "$(grep -c '^200$' "$tmp/many")" = 200

kill -TERM "$gw_pid"
drained() { ! kill -0 "$gw_pid" 2>/dev/null; }
check "SIGTERM drains and exits" wait_for 20 drained
wait "$gw_pid"
check "exit status 0 after the drain" test $? = 0

check_summary
