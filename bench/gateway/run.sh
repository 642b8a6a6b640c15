#!/usr/bin/env bash
# Benchmark of DESIGN §6 for kc-gateway, printed beside its reference from
# the same run:
#   GET /api/claude/tasks (100 tasks) at 64 keep-alive connections,
#   wrk -t2 -c64 -d10s, against the gateway and against nginx serving the
#   very same response bytes as a static file: req/s, p50, p99, ratios
#   (targets: >= 40 % of nginx's req/s, p99 <= 2x nginx's);
#   GET /metrics latency through the gateway; idle RSS.
#
# The upstream is kc-server (//server:kc-server) with real tmux on a private
# socket and the fake agent (tests/fake_agent): 100 tasks are created
# through the gateway's API first (90 finish, 10 stay running, as in the
# DESIGN's reference). With --stub, or when kc-server does not build, the
# gRPC-core stub of the gateway tests answers ListTasks from memory
# instead. The script says which it used.
#
#   bench/gateway/run.sh [--stub] [duration, default 10s]
# Installs wrk and nginx-light from Debian when missing. KC_GW_BIN runs
# another kc-gateway binary (A/B runs of two builds on the same load);
# KC_GW_COALESCE=0 turns off the sharing of identical reads (gateway
# config coalesce_reads), so every request makes its own upstream call.
#
# Besides req/s the run prints CPU time per request of the gateway and of
# the upstream (from /proc, over the wrk run): on a shared machine req/s
# moves with whatever else runs, CPU per request much less.
set -euo pipefail

here=$(cd "$(dirname "$0")/../.." && pwd)
cd "$here"
use_stub=0
if [ "${1:-}" = --stub ]; then
	use_stub=1
	shift
fi
dur=${1:-10s}

need=()
command -v wrk >/dev/null || need+=(wrk)
[ -x /usr/sbin/nginx ] || need+=(nginx-light)
if [ ${#need[@]} -gt 0 ]; then
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	$sudo apt-get install -y -q "${need[@]}" >/dev/null
fi

bazel build -c opt //gateway:kc-gateway //tests/gateway:stub_server >/dev/null 2>&1
if [ $use_stub = 0 ] && ! bazel build -c opt //server:kc-server >/dev/null 2>&1; then
	use_stub=1
fi
gw=${KC_GW_BIN:-$here/bazel-bin/gateway/kc-gateway}
stub=$here/bazel-bin/tests/gateway/stub_server
server=$here/bazel-bin/server/kc-server
fake=$here/tests/fake_agent/fake_agent.py

tmp=$(mktemp -d /tmp/kcbench.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	tmux -S "$tmp/tmux" kill-server 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { local i; for i in $(seq 1 200); do "$@" && return 0; sleep 0.05; done; return 1; }

token=good
# The Bazel server's JVM keeps a core busy for a while after a build: stop
# it so it does not compete with the processes measured.
bazel shutdown >/dev/null 2>&1 || true
gport=$(free_port)
if [ $use_stub = 1 ]; then
	upstream_kind="stub (tests/gateway/stub_server, 100 tasks in memory)"
	STUB_TASKS=100 "$stub" "unix:$tmp/s.sock" 2>/dev/null &
	up_pid=$!
	pids+=($up_pid)
	wait_for test -S "$tmp/s.sock"
else
	upstream_kind="kc-server (100 tasks made through the API, 10 running, real tmux, fake agent)"
	mkdir -p "$tmp/home"
	cat >"$tmp/kc.yaml" <<YAML
home: $tmp/home
server:
  socket: $tmp/s.sock
  tmux_socket: $tmp/tmux
  log_level: warn
limits:
  max_running_tasks: 16
agents:
  default: fake
  list:
    - name: fake
      command: ["/usr/bin/python3", "$fake", "--session-id", "{session_id}"]
      ready_pattern: "^>"
      ready_timeout_ms: 30000
YAML
	env -u KC_HOME -u KC_GRPC_PORT -u KC_AGENT "$server" --config "$tmp/kc.yaml" 2>"$tmp/server.log" &
	up_pid=$!
	pids+=($up_pid)
	wait_for test -S "$tmp/s.sock"
	wait_for test -s "$tmp/home/.claude-tasks/.api-token"
	token=$(cat "$tmp/home/.claude-tasks/.api-token")
fi

coalesce=${KC_GW_COALESCE:-1}
printf 'gateway:\n  coalesce_reads: %s\n' "$([ "$coalesce" = 0 ] && echo false || echo true)" >"$tmp/gw.yaml"
"$gw" --config "$tmp/gw.yaml" --listen "127.0.0.1:$gport" --upstream "unix:$tmp/s.sock" --web-root "$here/gateway/web" --log-level warn 2>"$tmp/gw.log" &
gw_pid=$!
pids+=($gw_pid)
wait_for curl -sf -o /dev/null "http://127.0.0.1:$gport/healthz"

if [ $use_stub = 0 ]; then
	# 90 tasks that finish (their agent reads "exit" after the first line),
	# then 10 that stay running; past max_running_tasks (429) a create waits.
	long="Refactor the billing module so that invoices are generated in one pass and add tests for the rounding rules that finance asked about"
	create() { # prompt -> 0 when created
		local body
		body=$(jq -cn --arg p "$1" '{prompt: $p}')
		[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $token" -H 'Content-Type: application/json' -d "$body" "http://127.0.0.1:$gport/api/claude/tasks")" = 201 ]
	}
	for i in $(seq 1 90); do
		until create "$long"$'\n'exit; do sleep 0.2; done
	done
	n_running() { curl -s -H "Authorization: Bearer $token" "http://127.0.0.1:$gport/api/claude/tasks" | jq '[.tasks[] | select(.status == "running")] | length'; }
	for _ in $(seq 1 300); do [ "$(n_running)" = 0 ] && break; sleep 0.2; done
	for i in $(seq 1 10); do
		until create "$long"; do sleep 0.2; done
	done
	echo "tasks: $(curl -s -H "Authorization: Bearer $token" "http://127.0.0.1:$gport/api/claude/tasks" | jq '.tasks | length') listed, $(n_running) running" >&2
fi

mkdir -p "$tmp/www"
# nginx workers run unprivileged: let them read the file.
chmod 755 "$tmp" "$tmp/www"
curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:$gport/api/claude/tasks" >"$tmp/www/tasks.json"
chmod 644 "$tmp/www/tasks.json"
bytes=$(wc -c <"$tmp/www/tasks.json")

nport=$(free_port)
cat >"$tmp/nginx.conf" <<NGINX
worker_processes auto;
pid $tmp/nginx.pid;
error_log $tmp/nginx.err;
events { worker_connections 1024; }
http {
	access_log off;
	client_body_temp_path $tmp/cb;
	proxy_temp_path $tmp/px;
	fastcgi_temp_path $tmp/fc;
	uwsgi_temp_path $tmp/uw;
	scgi_temp_path $tmp/sc;
	server {
		listen 127.0.0.1:$nport;
		location = /api/claude/tasks { default_type application/json; alias $tmp/www/tasks.json; }
	}
}
NGINX
/usr/sbin/nginx -c "$tmp/nginx.conf" -g 'daemon off;' &
pids+=($!)
wait_for curl -sf -o /dev/null "http://127.0.0.1:$nport/api/claude/tasks"

rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
# RSS counts every shared-library page a process touched (libgrpc alone is
# ~5 MiB of text, mapped by kc-server and the stub); USS is what the process alone
# holds; PSS splits shared pages among the processes that map them, so the
# two PSS figures add up to what the pair costs the machine.
uss_kb() { awk '/^Private_(Clean|Dirty):/ {s += $2} END {print s}' "/proc/$1/smaps_rollup"; }
pss_kb() { awk '/^Pss:/ {print $2}' "/proc/$1/smaps_rollup"; }
mib() { echo "$(($1 / 1024)).$((($1 % 1024) * 10 / 1024))"; }
# Idle: let the last creates settle.
sleep 2
idle_gw=$(rss_kb "$gw_pid")
idle_up=$(rss_kb "$up_pid")
uss_gw=$(uss_kb "$gw_pid")
uss_up=$(uss_kb "$up_pid")
pss_gw=$(pss_kb "$gw_pid")
pss_up=$(pss_kb "$up_pid")

# wrk's --latency table: "50%" and "99%" rows; values like 1.23ms / 456.00us / 1.02s.
to_ms() { awk '{v=$1; if (v ~ /us$/) {sub(/us$/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v*=1000}; printf "%.3f", v}'; }
run_wrk() { # url -> "rps p50 p99 errors"
	local out
	out=$(wrk -t2 -c64 -d"$dur" --latency -H "Authorization: Bearer $token" "$1")
	local rps p50 p99 errs
	rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
	p50=$(awk '$1=="50%" {print $2}' <<<"$out" | to_ms)
	p99=$(awk '$1=="99%" {print $2}' <<<"$out" | to_ms)
	errs=$(awk '/Non-2xx|Socket errors/ {print}' <<<"$out" | tr '\n' ' ')
	echo "$rps $p50 $p99 ${errs:-none}"
}

# utime + stime in clock ticks (fields 14 and 15 of /proc/PID/stat; the
# command name in field 2 has no spaces here).
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
served() { curl -s "http://127.0.0.1:$gport/metrics/prometheus" | awk '/^kc_gateway_requests_total/ && /GET \/api\/claude\/tasks"/ && /code="200"/ {s += $NF} END {print s + 0}'; }
shared() { curl -s "http://127.0.0.1:$gport/metrics/prometheus" | awk '$1 == "kc_gateway_shared_answers_total" {print $2 + 0}'; }
echo "kc-gateway benchmark ($(nproc) cores, wrk -t2 -c64 -d$dur, $bytes-byte answer, upstream: $upstream_kind, gateway: $gw, coalesce_reads: $([ "$coalesce" = 0 ] && echo off || echo on))"
read -r n_rps n_p50 n_p99 n_err < <(run_wrk "http://127.0.0.1:$nport/api/claude/tasks")
gw_t0=$(cpu_ticks "$gw_pid")
up_t0=$(cpu_ticks "$up_pid")
req0=$(served)
sh0=$(shared)
read -r g_rps g_p50 g_p99 g_err < <(run_wrk "http://127.0.0.1:$gport/api/claude/tasks")
req1=$(served)
sh1=$(shared)
gw_t1=$(cpu_ticks "$gw_pid")
up_t1=$(cpu_ticks "$up_pid")
hz=$(getconf CLK_TCK)
printf '%-28s %12s %10s %10s\n' "" "req/s" "p50 ms" "p99 ms"
printf '%-28s %12s %10s %10s\n' "nginx (static file)" "$n_rps" "$n_p50" "$n_p99"
printf '%-28s %12s %10s %10s\n' "kc-gateway + upstream" "$g_rps" "$g_p50" "$g_p99"
ratio=$(awk -v g="$g_rps" -v n="$n_rps" 'BEGIN {printf "%.1f", 100*g/n}')
p99r=$(awk -v g="$g_p99" -v n="$n_p99" 'BEGIN {printf "%.2f", g/n}')
echo "req/s ratio: ${ratio}% of nginx (target >= 40%): $(awk -v r="$ratio" 'BEGIN {print (r>=40)?"MET":"NOT MET"}')"
echo "p99 ratio:   ${p99r}x nginx (target <= 2x):     $(awk -v r="$p99r" 'BEGIN {print (r<=2)?"MET":"NOT MET"}')"
echo "errors: nginx ${n_err}; gateway ${g_err}"
n_req=$((req1 - req0))
if [ "$n_req" -gt 0 ]; then
	awk -v g=$((gw_t1 - gw_t0)) -v u=$((up_t1 - up_t0)) -v n="$n_req" -v hz="$hz" \
		'BEGIN {printf "CPU per request (%d requests): kc-gateway %.0f us, upstream %.0f us\n", n, g / hz / n * 1e6, u / hz / n * 1e6}'
	awk -v s=$((sh1 - sh0)) -v n="$n_req" 'BEGIN {printf "answered from a call shared with identical reads: %d of %d (%.0f%%; %.1f requests per upstream call)\n", s, n, 100 * s / n, n / (n - s)}'
fi

# /metrics through the gateway, one request at a time.
for i in $(seq 1 200); do
	curl -s -o /dev/null -w '%{time_total}\n' -H "Authorization: Bearer $token" "http://127.0.0.1:$gport/metrics"
done | sort -n >"$tmp/m"
m50=$(awk '{a[NR]=$1} END {printf "%.3f", a[int(NR*0.5)]*1000}' "$tmp/m")
m99=$(awk '{a[NR]=$1} END {printf "%.3f", a[int(NR*0.99)]*1000}' "$tmp/m")
echo "GET /metrics via gateway (curl, sequential, incl. connect): p50 ${m50} ms, p99 ${m99} ms (seed: 502 ms)"
echo "idle memory, kc-gateway: RSS $(mib "$idle_gw") MiB, USS $(mib "$uss_gw") MiB, PSS $(mib "$pss_gw") MiB"
echo "idle memory, upstream:   RSS $(mib "$idle_up") MiB, USS $(mib "$uss_up") MiB, PSS $(mib "$pss_up") MiB"
both=$((idle_gw + idle_up))
echo "idle memory, both (RSS sum): $(mib "$both") MiB (target: server + gateway <= 10 MiB): $([ "$both" -le 10240 ] && echo MET || echo "NOT MET")"
echo "idle memory, both (PSS sum): $(mib $((pss_gw + pss_up))) MiB (the empty-store figure: bench/memory/run.sh)"
echo "RSS after the load: kc-gateway $(($(rss_kb "$gw_pid") / 1024)) MiB"
