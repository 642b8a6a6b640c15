#!/usr/bin/env bash
# The gateway's protocol layer under attack (issue 11), on a live stack
# (kc-server, kc-gateway, tmux, the fake agent) on loopback. What it tries,
# each in several spellings (protocol_check.py holds the raw-socket cases):
#
#   - h2c Upgrade (curl --http2, raw requests with header case variants,
#     duplicates, with and without Connection/HTTP2-Settings, websocket),
#     followed by an HTTP/2 request for the API token with a spoofed
#     identity: never a 101, never an HTTP/2 frame, never the token;
#   - Transfer-Encoding other than exactly `chunked` once, and CL+TE:
#     400 and the connection closed, nothing after it read;
#   - bare LF / bare CR line ends and folded header lines: 400 and closed;
#   - Authorization / X-Auth-Request-User in chunked trailers: no effect
#     (401, no task created, the token not regenerated);
#   - an HTTP/2 client with a zero window asking for a large file and for a
#     stream, and an HTTP/1.1 client that never reads a large answer:
#     disconnected after write_timeout_ms while other clients are served;
#   - the 503 past max_connections: Content-Length equal to its body.
set -uo pipefail

root=$(pwd)
source "$root/tests/lib/live_stack.sh"
check=(/usr/bin/python3 "$root/tests/security/protocol_check.py")
write_ms=1500
big=12000000

live_stack_init
web=$LS_TMP/web
mkdir -p "$web"
[ -d "$root/gateway/web" ] && cp -rL "$root/gateway/web/." "$web/"
head -c "$big" /dev/zero >"$web/big.bin"
live_stack_start --max-running 4 --log-level info --web "$web" --gateway-yaml "  write_timeout_ms: $write_ms"
port=$LS_PORT
A=(-H "Authorization: Bearer $LS_TOKEN")

# h2c Upgrade through curl, which asks for it the standard way.
for target in /api/claude/tasks /oauth/api/claude/auth/token; do
	out=$(curl -s -o /dev/null -w '%{http_version} %{http_code}' --http2 "${A[@]}" "$LS_URL$target")
	check "curl --http2 $target stays HTTP/1.1 ($out)" test "${out%% *}" = 1.1
done
check "curl --http2 -v: no 101 in the exchange" \
	bash -c "! curl -sv --http2 -o /dev/null '$LS_URL/healthz' 2>&1 | grep -q ' 101 '"

check "h2c Upgrade in raw spellings is answered as HTTP/1.1" "${check[@]}" upgrade "$port" "$LS_TOKEN"
check "Transfer-Encoding other than chunked once is refused" "${check[@]}" te "$port"
check "bare LF/CR and folded lines are refused" "${check[@]}" lf "$port"
check "chunked trailers never become headers" "${check[@]}" trailers "$port" "$LS_TOKEN"

# Bounded resources.
check "zero-window HTTP/2 client asking for a file is disconnected" \
	"${check[@]}" zero-window "$port" /big.bin "$write_ms"
task=$(curl -s "${A[@]}" -H 'Content-Type: application/json' -d '{"prompt":"stay"}' "$LS_URL/api/claude/tasks" | jq -r .task_id)
check "zero-window HTTP/2 client on a stream is disconnected" \
	"${check[@]}" zero-window "$port" "/api/claude/tasks/$task/watch" "$write_ms" "$LS_TOKEN"
check "HTTP/1.1 client that never reads is disconnected" \
	"${check[@]}" never-read "$port" /big.bin "$big" "$write_ms"
check "the gateway logged why it closed them" \
	grep -q 'closing a connection whose answers do not drain' "$LS_GATEWAY_LOG"
check "the gateway still serves" test "$(curl -s -o /dev/null -w '%{http_code}' "${A[@]}" "$LS_URL/api/claude/tasks")" = 200

# The connection cap: a second gateway in front of the same kc-server.
cat >"$LS_TMP/cap.yaml" <<YAML
gateway:
  listen: 127.0.0.1:0
  upstream: unix:$LS_SOCKET
  web_root: $web
  max_connections: 3
YAML
env -u KC_PORT "$root/gateway/kc-gateway" --config "$LS_TMP/cap.yaml" >"$LS_TMP/cap.log" 2>&1 &
cap_pid=$!
# Not stop_pids: its bare `wait` would wait for the live stack too.
at_exit "kill $cap_pid 2>/dev/null; wait $cap_pid 2>/dev/null"
wait_for 30 grep -qs '"listening"' "$LS_TMP/cap.log" || { cat "$LS_TMP/cap.log"; exit 1; }
cap_port=$(grep -o '"port": *"[0-9]*"' "$LS_TMP/cap.log" | head -1 | grep -o '[0-9][0-9]*')
check "past max_connections: a well-formed 503" "${check[@]}" cap "$cap_port" 3

check_summary
