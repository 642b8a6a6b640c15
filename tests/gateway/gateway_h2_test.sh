#!/usr/bin/env bash
# kc-gateway over HTTP/2 through real loopback sockets, against stub_server
# standing in for kc-server: the API calls of gateway_http_test.sh over h2c
# with prior knowledge (curl --http2-prior-knowledge, nghttp), the same
# calls asking for `Upgrade: h2c` (curl --http2) answered as plain HTTP/1.1
# (no h2c upgrade: issue 11), over TLS with ALPN (curl --http2 -k, with
# a certificate made here by openssl req -x509), streams as DATA frames,
# flow control on a body larger than the windows, the limits, and a
# bounded h2load run.
set -uo pipefail

root=$(pwd)
source "$root/tests/lib/check.sh"
gw_bin=$root/gateway/kc-gateway
stub_bin=$root/tests/gateway/stub_server
check_tmpdir tmp kch2
cp -rL "$root/gateway/web" "$tmp/web"
# Larger than HTTP/2's default windows (64 KiB), so the answer only gets
# through if WINDOW_UPDATEs are honoured.
head -c 3000000 /dev/urandom >"$tmp/web/big.bin"
at_exit stop_pids

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/key.pem" -out "$tmp/cert.pem" -days 1 \
	-subj /CN=localhost -addext subjectAltName=IP:127.0.0.1,DNS:localhost 2>/dev/null ||
	{ echo "openssl could not make a test certificate"; exit 1; }

conf() { # name, extra lines
	cat >"$tmp/$1.yaml" <<YAML
gateway:
  listen: 127.0.0.1:0
  upstream: unix:$tmp/s.sock
  web_root: $tmp/web
  request_timeout_ms: 3000
  max_body_bytes: 65536
  max_streams: 16
$2
YAML
}
start_gw() { # name -> the bound port in $gw_port
	"$gw_bin" --config "$tmp/$1.yaml" >/dev/null 2>"$tmp/$1.log" &
	pids+=($!)
	wait_for 20 grep -qs '"listening"' "$tmp/$1.log" || { echo "gateway $1 did not start"; cat "$tmp/$1.log"; exit 1; }
	gw_port=$(grep -o '"port":"[0-9]*"' "$tmp/$1.log" | grep -o '[0-9]*')
}

"$stub_bin" "unix:$tmp/s.sock" "$tmp/cancelled" >/dev/null 2>"$tmp/stub.log" &
pids+=($!)
wait_for 20 test -S "$tmp/s.sock" || { echo "stub did not start"; exit 1; }
conf plain ""
conf tls "  tls_cert: $tmp/cert.pem
  tls_key: $tmp/key.pem"
start_gw plain
port=$gw_port
plain_pid=${pids[-1]}
start_gw tls
tport=$gw_port
base=http://127.0.0.1:$port
tbase=https://127.0.0.1:$tport
# Bodies are JSON and say so (else 415); harmless on a GET.
B=(-H "Authorization: Bearer good" -H 'Content-Type: application/json')

# v MODE METHOD PATH [curl args] -> "<http version> <status>", body in $tmp/body
v() {
	local mode=$1 m=$2 p=$3 url
	shift 3
	case $mode in
	prior) url=$base$p; set -- --http2-prior-knowledge "$@" ;;
	upgrade) url=$base$p; set -- --http2 "$@" ;;
	tls) url=$tbase$p; set -- --http2 -k "$@" ;;
	tls1) url=$tbase$p; set -- --http1.1 -k "$@" ;;
	esac
	curl -s -o "$tmp/body" -D "$tmp/headers" -w '%{http_version} %{http_code}' -X "$m" "$@" "$url"
}
jqb() { jq -e "$1" "$tmp/body" >/dev/null; }

for mode in prior upgrade tls; do
	# An h2c upgrade is never honoured: curl --http2 stays on HTTP/1.1.
	ver=2
	[ $mode = upgrade ] && ver=1.1
	check "$mode: list is HTTP/$ver 200" test "$(v $mode GET /api/claude/tasks "${B[@]}")" = "$ver 200"
	check "$mode: list fields" jqb '(.tasks | length) == 3 and .tasks[0].status == "running"'
	check "$mode: no credentials is 401" test "$(v $mode GET /api/claude/tasks)" = "$ver 401"
	check "$mode: spoofed identity off /oauth is 401" \
		test "$(v $mode GET /api/claude/tasks -H 'X-Auth-Request-User: mallory')" = "$ver 401"
	check "$mode: spoofed identity under /oauth on the public port is 401" \
		test "$(v $mode GET /oauth/api/claude/auth/token -H 'X-Auth-Request-User: mallory')" = "$ver 401"
	check "$mode: create is 201" \
		test "$(v $mode POST /api/claude/tasks "${B[@]}" -d '{"prompt":"fix it"}')" = "$ver 201"
	check "$mode: create echoes the task" jqb '.task_id == "1732665600-9f3a1c2b" and .prompt == "fix it"'
	check "$mode: non-string prompt is 400" test "$(v $mode POST /api/claude/tasks "${B[@]}" -d '{"prompt":5}')" = "$ver 400"
	check "$mode: unknown task is 404 JSON" \
		bash -c "[ \"\$(curl -s -o $tmp/b404 -w '%{http_code}' $([ $mode = tls ] && echo "-k --http2" || echo --http2-prior-knowledge) -H 'Authorization: Bearer good' $([ $mode = tls ] && echo "$tbase" || echo "$base")/api/claude/tasks/missing)\" = 404 ] && jq -e '.error == \"task not found\"' $tmp/b404 >/dev/null"
	check "$mode: output is text/plain with ?tail=" \
		bash -c "[ \"\$(cd $tmp && curl -s -o $tmp/out -D $tmp/oh -w '%{http_code}' $([ $mode = tls ] && echo "-k --http2" || echo --http2-prior-knowledge) -H 'Authorization: Bearer good' '$([ $mode = tls ] && echo "$tbase" || echo "$base")/api/claude/tasks/1-a/output?tail=5')\" = 200 ] && grep -qi '^content-type: text/plain' $tmp/oh && grep -q 'tail=5' $tmp/out"
	check "$mode: wrong method is 405" test "$(v $mode PUT /api/claude/tasks "${B[@]}")" = "$ver 405"
done
check "tls: TLS 1.2 with h2 works too" \
	test "$(curl -s -o /dev/null -w '%{http_version} %{http_code}' -k --http2 --tlsv1.2 --tls-max 1.2 "${B[@]}" "$tbase/api/claude/tasks")" = "2 200"
check "tls: ALPN falls back to HTTP/1.1" test "$(v tls1 GET /api/claude/tasks "${B[@]}")" = "1.1 200"
check "tls: plaintext on the TLS port gets no answer" \
	test "$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "http://127.0.0.1:$tport/healthz")" = "000"

# Limits.
head -c 70000 /dev/zero | tr '\0' 'a' | sed 's/^/{"prompt":"/; s/$/"}/' >"$tmp/big.json"
check "h2 body over the limit is 413" \
	test "$(v prior POST /api/claude/tasks "${B[@]}" --data-binary @"$tmp/big.json")" = "2 413"
check "413 body is JSON" jqb '.error == "request body too large"'
check "h2 headers over the limit are 431" \
	test "$(v prior GET /api/claude/tasks "${B[@]}" -H "X-Big: $(head -c 20000 /dev/zero | tr '\0' b)")" = "2 431"

# Streams as DATA frames.
curl -s -N --http2-prior-knowledge "${B[@]}" -H 'Accept: text/event-stream' "$base/api/claude/tasks/1-a/watch" \
	--max-time 20 >"$tmp/sse"
check "h2 SSE delivers every event" test "$(grep -c '^data: ' "$tmp/sse")" = 3
curl -s -N -k --http2 "${B[@]}" "$tbase/api/claude/tasks/1-a/watch" --max-time 20 >"$tmp/ndjson"
check "h2 over TLS NDJSON" bash -c "[ \$(wc -l <$tmp/ndjson) = 3 ] && jq -s -e 'length == 3' $tmp/ndjson >/dev/null"
curl -s -N --http2-prior-knowledge "${B[@]}" -H 'Accept: text/event-stream' "$base/api/claude/tasks/forever/watch" \
	--max-time 1 >/dev/null
check "h2 client going away cancels the upstream stream" wait_for 20 test -e "$tmp/cancelled"
open_streams() { curl -s "$base/metrics/prometheus" | grep -q '^kc_gateway_open_streams 0$'; }
check "and frees the stream" wait_for 20 open_streams

# Flow control: a body far beyond the initial windows.
curl -s --http2-prior-knowledge -o "$tmp/big.out" "$base/big.bin"
check "h2c body past the windows arrives whole" cmp -s "$tmp/big.out" "$tmp/web/big.bin"
curl -s -k --http2 -o "$tmp/big.out2" "$tbase/big.bin"
check "h2 over TLS body past the windows arrives whole" cmp -s "$tmp/big.out2" "$tmp/web/big.bin"

# nghttp: several requests multiplexed on one connection.
nghttp -n --stat "${B[@]}" "$base/api/claude/tasks" "$base/healthz" "$base/api/openapi.json" \
	"$base/api/claude/tasks/missing" \
	>"$tmp/nghttp" 2>&1
check "nghttp multiplexes four requests on one connection" \
	bash -c "grep -Ec ' (200|404) ' $tmp/nghttp | grep -qx 4"
nghttp -n --stat "${B[@]}" "$tbase/api/claude/tasks" >"$tmp/nghttps" 2>&1
check "nghttp over TLS (ALPN h2)" grep -q ' 200 ' "$tmp/nghttps"

# Bounded load smoke: 400 requests, 4 connections, 8 streams each.
h2load -n 400 -c 4 -m 8 "${B[@]}" "$base/api/claude/tasks" >"$tmp/h2load" 2>&1
check "h2load: every request succeeds" grep -q '400 succeeded, 0 failed, 0 errored' "$tmp/h2load"
check "h2load: all 2xx" grep -q 'status codes: 400 2xx' "$tmp/h2load"
h2load -n 100 -c 2 -m 4 "${B[@]}" "$tbase/api/claude/tasks" >"$tmp/h2loadtls" 2>&1
check "h2load over TLS: every request succeeds" grep -q '100 succeeded, 0 failed' "$tmp/h2loadtls"

# Hostile bytes after the preface get a GOAWAY, and the gateway lives on.
printf 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x04\x07\x00\x00\x00\x00\x00garbage!' |
	timeout 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port; cat >&3; cat <&3" >"$tmp/goaway" 2>/dev/null
# GOAWAY: type 07, flags 00, stream 0, last stream 0, PROTOCOL_ERROR (1).
check "a broken frame ends in GOAWAY" bash -c "od -An -tx1 $tmp/goaway | tr -d ' \n' | grep -q '0700000000000000000000000001'"
check "and the gateway still answers" test "$(v prior GET /healthz)" = "2 200"

# Slow request over HTTP/2: HEADERS without END_STREAM, then nothing. The
# connection is ended (GOAWAY, close) after request_timeout_ms (3 s here).
start=$(date +%s)
printf 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00\x06\x01\x04\x00\x00\x00\x01\x83\x86\x84\x41\x01\x61' |
	timeout 20 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port; cat >&3; cat <&3" >"$tmp/slow2" 2>/dev/null
slow_rc=$?
check "h2 slow request: the connection is closed, not held" test "$slow_rc" != 124
check "h2 slow request: after the request timeout, not at once" test $(($(date +%s) - start)) -ge 2
check "h2 slow request: GOAWAY first" bash -c "od -An -tx1 $tmp/slow2 | tr -d ' \n' | grep -q '070000000000'"

# Drain with an HTTP/2 stream open: GOAWAY, the stream ends cleanly, exit 0
# (under ASan a leak would make the exit status non-zero).
curl -s -N --http2-prior-knowledge "${B[@]}" "$base/api/claude/tasks/forever/watch" --max-time 30 \
	-o "$tmp/drain.out" -w '%{http_code}' >"$tmp/drain.code" &
drain_curl=$!
stream_open() { curl -s "$base/metrics/prometheus" | grep -q '^kc_gateway_open_streams 1$'; }
wait_for 20 stream_open
kill -TERM "$plain_pid"
drained() { ! kill -0 "$plain_pid" 2>/dev/null; }
check "SIGTERM with an h2 stream open drains and exits" wait_for 20 drained
wait "$plain_pid"
check "exit status 0 after the drain" test $? = 0
wait "$drain_curl"
check "the open h2 stream ended cleanly" test "$(cat "$tmp/drain.code")" = 200

check_summary
