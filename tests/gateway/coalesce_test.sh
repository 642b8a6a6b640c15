#!/usr/bin/env bash
# Identical reads share one call to kc-server (gateway/unary.c): against a
# live stack (kc-server, real tmux, the fake agent), pipelined HTTP/1.1
# reads share and answer alike, different credentials never share, reads
# after completed writes see them while 16 clients read concurrently, and
# clients leaving mid-call do no harm (coalesce_check.py). Then the same
# over HTTP/2: ten streams of one nghttp connection.
set -uo pipefail

source "$(pwd)/tests/lib/live_stack.sh"
live_stack_start --max-running 16 --log-level info --oauth

check "HTTP/1.1 checks (coalesce_check.py)" /usr/bin/python3 tests/gateway/coalesce_check.py "$LS_PORT" "$LS_TOKEN" "$LS_OAUTH_SOCK"

shared() { curl -s "$LS_URL/metrics/prometheus" | awk '$1 == "kc_gateway_shared_answers_total" {print $2}'; }
before=$(shared)
nghttp -n --stat -m 10 -H "authorization: Bearer $LS_TOKEN" "$LS_URL/api/claude/tasks" >"$LS_TMP/nghttp" 2>&1
after=$(shared)
check "nghttp: ten streams of one GET all answered 200" test "$(grep -c ' 200 ' "$LS_TMP/nghttp")" = 10
check "nghttp: the ten streams shared calls ($before -> $after)" test "$after" -gt "$before"
check "the gateway is still healthy" test "$(curl -s -o /dev/null -w '%{http_code}' "$LS_URL/healthz")" = 200
check_summary
