#!/usr/bin/env bash
# Trust by listener, Host allow-list, CSRF and request shape (issue 11),
# against a live stack: kc-server with real tmux and the fake agent,
# kc-gateway with its identity listener on a unix socket, and the auth
# proxy's stand-in (scripts/oauth-standin.py) in front of that. Every class
# is tried in several spellings over HTTP/1.1 and HTTP/2 (curl with prior
# knowledge, nghttp), on IPv4 and IPv6 loopback (a second gateway on [::1]
# in front of the same kc-server), and each refusal is checked twice: the
# status, and that nothing happened (no token in any answer body, no task
# created, the token not regenerated).
#
#   identity   X-Auth-Request-User/-Email (and oauth2-proxy's X-Forwarded-*)
#              on the public listener, any case, duplicated, on /oauth/...,
#              /api/..., percent-encoded and dot-segment spellings of /oauth:
#              never a session (401/404/400), the token never in a body;
#              through the stand-in (the identity listener): a session
#   host       Host / :authority not in allowed_hosts: 421 (attacker names,
#              userinfo tricks, numeric spellings, other IPv6); missing: 400;
#              duplicate or disagreeing with :authority: 400; allowed
#              spellings (case, trailing dot, port, brackets): served
#   csrf       bodies that are not application/json: 415; on the identity
#              listener Sec-Fetch-Site cross-site/same-site and a foreign or
#              null Origin: 403; no task created, token unchanged
#   shape      a path-bound field (task_id) again in the body or the query: 400
set -uo pipefail

source "$(pwd)/tests/lib/live_stack.sh"
live_stack_start --standin --log-level info
tmp=$LS_TMP
TOKEN=$LS_TOKEN
V4=$LS_URL
OAUTH=$LS_OAUTH_URL
AUTH="Authorization: Bearer $TOKEN"
JSON='Content-Type: application/json'
mkdir -p "$tmp/bodies"

# A second gateway on IPv6 loopback, in front of the same kc-server, with
# no identity listener.
sed -e 's|^  listen: 127.0.0.1:0$|  listen: "[::1]:0"|' -e '/^  oauth_listen:/d' "$LS_CONFIG" >"$tmp/v6.yaml"
env -u KC_PORT "$LS_ROOT/gateway/kc-gateway" --config "$tmp/v6.yaml" >"$tmp/gw6.log" 2>&1 &
gw6_pid=$!
at_exit "kill -TERM $gw6_pid 2>/dev/null; wait $gw6_pid 2>/dev/null"
wait_for 30 grep -qs '"listening"' "$tmp/gw6.log" || { echo "the IPv6 gateway did not start"; cat "$tmp/gw6.log"; exit 1; }
V6="http://[::1]:$(grep -o '"port": *"[0-9]*"' "$tmp/gw6.log" | head -1 | grep -o '[0-9][0-9]*')"

# req [curl args...] URL -> the status; every body is kept in $tmp/bodies
# so the end of the test can look for the token in all of them, the last
# one's name in $tmp/last (req runs in a subshell: no variable survives).
req() {
	local f
	f=$(mktemp "$tmp/bodies/b.XXXXXX")
	echo "$f" >"$tmp/last"
	curl -s --path-as-is -o "$f" -w '%{http_code}' "$@"
}
last() { cat "$tmp/last"; }
last_body() { cat "$(last)"; }
jqf() { jq -e "$1" "$2" >/dev/null; }
in_set() { # value, allowed...
	local v=$1 a
	shift
	for a in "$@"; do [ "$v" = "$a" ] && return 0; done
	return 1
}
task_count() { curl -s -H "$AUTH" "$V4/api/claude/tasks" | jq '.tasks | length'; }
token_now() { cat "$LS_TOKEN_FILE"; }

tasks_before=$(task_count)

# ---- identity headers on the public listener: never a session ----
paths=(
	/oauth/api/claude/auth/token
	/api/claude/auth/token
	/%6fauth/api/claude/auth/token
	/%6Fauth/api/claude/auth/token
	//oauth/api/claude/auth/token
	/oauth//api/claude/auth/token
	/oauth/../oauth/api/claude/auth/token
	/oauth/./api/claude/auth/token
	/oauth%2fapi/claude/auth/token
	/OAUTH/api/claude/auth/token
	/oauth/api/claude/auth/token/
	/oauth/api/claude/auth/token?x=1
	/oauth/api/claude/tasks
	/api/claude/tasks
)
headers=(
	"X-Auth-Request-User: alice|X-Auth-Request-Email: alice@example.com"
	"x-auth-request-user: alice|x-auth-request-email: alice@example.com"
	"X-AUTH-REQUEST-USER: alice"
	"X-Auth-Request-User:alice"
	"X-Forwarded-User: alice|X-Forwarded-Email: alice@example.com"
	"X-Auth-Request-User: alice|X-Auth-Request-User: bob"
)
for base in "$V4" "$V6"; do
	for proto in --http1.1 --http2-prior-knowledge; do
		bad=0
		for p in "${paths[@]}"; do
			for h in "${headers[@]}"; do
				args=()
				IFS='|' read -ra hs <<<"$h"
				for x in "${hs[@]}"; do args+=(-H "$x"); done
				code=$(req "$proto" "${args[@]}" "$base$p")
				if ! in_set "$code" 400 401 404; then
					echo "  $proto $base$p [$h] -> $code: $(last_body)"
					bad=$((bad + 1))
				fi
			done
		done
		check "identity headers on the public listener ($base, $proto): ${#paths[@]} paths x ${#headers[@]} spellings are 400/401/404" test "$bad" = 0
	done
	check "regenerate with identity headers on the public listener ($base) is refused" \
		in_set "$(req -X POST -H 'X-Auth-Request-User: alice' "$base/oauth/api/claude/auth/token/regenerate")" 401 404
done
# nghttp writes the headers itself (no curl normalisation), lower-case.
for p in /oauth/api/claude/auth/token /api/claude/auth/token; do
	f=$(mktemp "$tmp/bodies/n.XXXXXX")
	nghttp -H 'x-auth-request-user: alice' -H 'x-auth-request-email: a@x' "$V4$p" >"$f" 2>/dev/null
	check "nghttp: identity on $p answers no token" bash -c "! grep -qF -- '$TOKEN' '$f' && grep -q '\"error\"' '$f'"
done
check "the token was never regenerated" test "$(token_now)" = "$TOKEN"

# ---- the identity listener, through the stand-in: a session ----
check "through the auth proxy the token is served (HTTP/1.1)" test "$(curl -s -o "$tmp/tok" -w '%{http_code}' "$OAUTH/oauth/api/claude/auth/token")" = 200
check "it is the token" jqf ".token == \"$TOKEN\"" "$tmp/tok"
check "straight on the identity socket over HTTP/2" \
	test "$(curl -s -o /dev/null -w '%{http_version} %{http_code}' --http2-prior-knowledge --unix-socket "$LS_OAUTH_SOCK" -H 'X-Auth-Request-User: alice' http://localhost/oauth/api/claude/auth/token)" = "2 200"
check "the identity socket is 0600, its directory 0700" \
	bash -c "[ \$(stat -c %a '$LS_OAUTH_SOCK') = 600 ] && [ \$(stat -c %a '$(dirname "$LS_OAUTH_SOCK")') = 700 ]"
check "on the identity listener without the headers there is no session" \
	in_set "$(req --unix-socket "$LS_OAUTH_SOCK" http://localhost/oauth/api/claude/auth/token)" 401
check "the stand-in streams (SSE through it)" \
	bash -c "curl -s -N --max-time 3 -H 'Accept: text/event-stream' '$OAUTH/oauth/metrics/watch' 2>/dev/null | grep -q '^data: '"

# ---- Host allow-list: 421 on every listener ----
bad_hosts=(
	attacker.example
	attacker.example:6080
	ATTACKER.EXAMPLE.
	"localhost@attacker.example"
	"attacker.example@localhost"
	"localhost:80@attacker.example"
	localhost.attacker.example
	127.0.0.1.nip.io
	2130706433
	0x7f.0.0.1
	127.1
	"[::2]"
	"[::ffff:127.0.0.1]"
	"localhost/x"
	"local%68ost"
	"localhost:x"
	"[::1"
)
for base in "$V4" "$V6" "$OAUTH"; do
	for proto in --http1.1 --http2-prior-knowledge; do
		[ "$base" = "$OAUTH" ] && [ "$proto" != --http1.1 ] && continue
		bad=0
		for h in "${bad_hosts[@]}"; do
			code=$(req "$proto" -H "$AUTH" -H "Host: $h" "$base/api/claude/tasks")
			# nghttp2 itself resets a stream whose :authority is not
			# authority syntax (a '/'): no answer at all is a refusal too.
			[ "$proto" != --http1.1 ] && [ "$code" = 000 ] && continue
			if [ "$code" != 421 ]; then
				echo "  $proto $base Host: $h -> $code"
				bad=$((bad + 1))
			fi
		done
		check "Hosts not allowed ($base, $proto): ${#bad_hosts[@]} spellings are 421" test "$bad" = 0
	done
done
req -H "$AUTH" -H "Host: attacker.example" "$V4/api/claude/tasks" >/dev/null
check "421 is the JSON error" jqf '.error == "misdirected request"' "$(last)"
check "a rebinding page cannot read the token through the proxy either" \
	test "$(req -H 'Host: attacker.example' "$OAUTH/oauth/api/claude/auth/token")" = 421
for h in localhost LOCALHOST localhost. "localhost:1" "127.0.0.1:9" "[::1]" "[::1]:6080" "::1" "[0:0:0:0:0:0:0:1]"; do
	check "allowed Host spelling '$h' is served" test "$(req -H "$AUTH" -H "Host: $h" "$V4/api/claude/tasks")" = 200
done
raw() { # bytes to the IPv4 public port; prints the first status line
	exec 3<>"/dev/tcp/127.0.0.1/$LS_PORT"
	printf '%b' "$1" >&3
	timeout 10 head -1 <&3
	exec 3<&-
}
check "HTTP/1.1 without Host is 400" \
	grep -q '^HTTP/1.1 400' <<<"$(raw "GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n")"
check "HTTP/1.0 without Host is 400" \
	grep -q '^HTTP/1.[01] 400' <<<"$(raw "GET /healthz HTTP/1.0\r\n\r\n")"
check "an empty Host is 400" \
	grep -q '^HTTP/1.1 400' <<<"$(raw "GET /healthz HTTP/1.1\r\nHost: \r\nConnection: close\r\n\r\n")"
check "a duplicate Host is 400" \
	grep -q '^HTTP/1.1 400' <<<"$(raw "GET /healthz HTTP/1.1\r\nHost: localhost\r\nHost: attacker.example\r\nConnection: close\r\n\r\n")"
check "an absolute-form target does not choose the host" \
	bash -c "! grep -q '^HTTP/1.1 200' <<<\"\$(exec 3<>/dev/tcp/127.0.0.1/$LS_PORT; printf 'GET http://attacker.example/api/claude/tasks HTTP/1.1\r\nHost: attacker.example\r\nAuthorization: Bearer $TOKEN\r\nConnection: close\r\n\r\n' >&3; timeout 10 head -1 <&3)\""
check "HTTP/2 :authority not allowed is 421 (nghttp)" \
	bash -c "nghttp -v -H ':authority: attacker.example' -H 'authorization: Bearer $TOKEN' '$V4/api/claude/tasks' 2>&1 | grep -q ':status: 421'"
check "HTTP/2 host disagreeing with :authority is 400 (nghttp)" \
	bash -c "nghttp -v -H 'host: attacker.example' -H 'authorization: Bearer $TOKEN' '$V4/api/claude/tasks' 2>&1 | grep -q ':status: 400'"
check "HTTP/2 with an allowed :authority is served (nghttp)" \
	bash -c "nghttp -v -H ':authority: localhost:1' -H 'authorization: Bearer $TOKEN' '$V4/api/claude/tasks' 2>&1 | grep -q ':status: 200'"

# ---- CSRF: bodies must be JSON; cross-site state changes refused ----
echo '{"prompt":"csrf"}' >"$tmp/prompt.json"
types=(
	"text/plain"
	"text/plain;charset=UTF-8"
	"application/x-www-form-urlencoded"
	"multipart/form-data; boundary=x"
	"application/jsonp"
	"application/json-patch+json"
	"text/json"
	"application/x-json"
	"text/plain; application/json"
	""
)
for base in "$V4" "$V6"; do
	for proto in --http1.1 --http2-prior-knowledge; do
		bad=0
		for t in "${types[@]}"; do
			if [ -n "$t" ]; then ct=(-H "Content-Type: $t"); else ct=(-H "Content-Type:"); fi
			code=$(req "$proto" -X POST -H "$AUTH" "${ct[@]}" --data-binary @"$tmp/prompt.json" "$base/api/claude/tasks")
			[ "$code" = 415 ] || { echo "  $proto $base Content-Type '$t' -> $code"; bad=$((bad + 1)); }
		done
		check "bodies not typed application/json ($base, $proto): ${#types[@]} spellings are 415" test "$bad" = 0
	done
done
check "415 is the JSON error" jqf '.error == "the request body must be application/json"' "$(last)"
check "a form post through the auth proxy is 415" \
	test "$(req -X POST -H 'Content-Type: application/x-www-form-urlencoded' --data-binary @"$tmp/prompt.json" "$OAUTH/oauth/api/claude/tasks")" = 415
check "text/plain through the auth proxy is 415" \
	test "$(req -X POST -H 'Content-Type: text/plain' --data-binary @"$tmp/prompt.json" "$OAUTH/oauth/api/claude/tasks")" = 415
oport=${OAUTH##*:}
cross=(
	"Sec-Fetch-Site: cross-site"
	"Sec-Fetch-Site: same-site"
	"Sec-Fetch-Site: Cross-Site"
	"Origin: https://attacker.example"
	"Origin: http://attacker.example:$oport"
	"Origin: null"
	"Origin: http://127.0.0.1:1"
	"Origin: https://127.0.0.1"
	"Origin: http://localhost:$oport"
	"Origin: http://127.0.0.1:$oport.attacker.example"
	"Origin: http://127.0.0.1@attacker.example"
)
bad=0
for h in "${cross[@]}"; do
	code=$(req -X POST -H "$JSON" -H "$h" --data-binary @"$tmp/prompt.json" "$OAUTH/oauth/api/claude/tasks")
	[ "$code" = 403 ] || { echo "  create with '$h' -> $code"; bad=$((bad + 1)); }
	code=$(req -X POST -H "$h" "$OAUTH/oauth/api/claude/auth/token/regenerate")
	[ "$code" = 403 ] || { echo "  regenerate with '$h' -> $code"; bad=$((bad + 1)); }
done
check "cross-site state changes through the auth proxy: ${#cross[@]} spellings x 2 routes are 403" test "$bad" = 0
check "403 is a JSON error" jqf '.error | test("refused")' "$(last)"
check "the token was not regenerated" test "$(token_now)" = "$TOKEN"
check "no refused request created a task" test "$(task_count)" = "$tasks_before"
check "a same-origin create through the auth proxy is 201" \
	test "$(req -X POST -H "$JSON" -H "Origin: http://127.0.0.1:$oport" -H 'Sec-Fetch-Site: same-origin' --data-binary @"$tmp/prompt.json" "$OAUTH/oauth/api/claude/tasks")" = 201
task=$(jq -r .task_id "$(last)")
check "the created task has an id" test -n "$task" -a "$task" != null
check "a cross-site GET is still served (reads change nothing)" \
	test "$(req -H 'Sec-Fetch-Site: cross-site' "$OAUTH/oauth/api/claude/tasks/$task")" = 200
check "cross-site marks on the public listener do not matter to a bearer" \
	test "$(req -X POST -H "$AUTH" -H "$JSON" -H 'Sec-Fetch-Site: cross-site' -d '{"prompt":"exit"}' "$V4/api/claude/tasks")" = 201

# ---- request shape: a path-bound field cannot come again ----
for proto in --http1.1 --http2-prior-knowledge; do
	check "task_id in the body of /tasks/{id}/message is 400 ($proto)" \
		test "$(req "$proto" -X POST -H "$AUTH" -H "$JSON" -d '{"prompt":"x","task_id":"1-00000000"}' "$V4/api/claude/tasks/$task/message")" = 400
	check "naming the field" jqf '.error | test("task_id")' "$(last)"
	check "taskId in the body is 400 too ($proto)" \
		test "$(req "$proto" -X POST -H "$AUTH" -H "$JSON" -d '{"taskId":"","prompt":"x"}' "$V4/api/claude/tasks/$task/message")" = 400
	check "task_id in the query of GET /tasks/{id} is 400 ($proto)" \
		test "$(req "$proto" -H "$AUTH" "$V4/api/claude/tasks/$task?task_id=1-00000000")" = 400
	check "naming the field" jqf '.error | test("task_id")' "$(last)"
	check "task%5Fid in the query of /output is 400 ($proto)" \
		test "$(req "$proto" -H "$AUTH" "$V4/api/claude/tasks/$task/output?task%5Fid=1-00000000")" = 400
	check "task_id in the query of DELETE is 400 ($proto)" \
		test "$(req "$proto" -X DELETE -H "$AUTH" "$V4/api/claude/tasks/$task?task_id=1-00000000")" = 400
done
check "the task is still there and running" bash -c "curl -s -H '$AUTH' '$V4/api/claude/tasks/$task' | jq -e '.status == \"running\"' >/dev/null"

# ---- the token never appeared in an answer to a refused request ----
check "no answer body on the public listeners or to a refused request holds the token" \
	bash -c "! grep -rlF -- '$TOKEN' '$tmp/bodies'"

[ "$failed" = 0 ] || live_stack_logs 30
check_summary
