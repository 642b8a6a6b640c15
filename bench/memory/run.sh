#!/usr/bin/env bash
# Idle memory of kc-server + kc-gateway beside the DESIGN §6 target
# (together <= 10 MiB resident). Not a test.
#
#   bench/memory/run.sh [runs, default 3]
#
# Each run starts kc-server on an empty store (a fresh home, real tmux on a
# private socket) and kc-gateway in front of it, asks the gateway's
# /healthz once (which opens its upstream connection), waits 2 s and reads
# /proc: VmRSS, RssAnon (private: heap, stacks, relocated tables), RssFile
# (pages of the executable and of shared libraries mapped in), PSS (shared
# pages split among the processes that map them; moves with whatever else
# runs on the machine) and the thread count, and the pages of the two
# processes counted once (pagemap; what the pair costs the machine, needs
# root). The target is the VmRSS sum.
#
# Before each run both executables are dropped from the page cache
# (posix_fadvise DONTNEED on the two files), so they start as from a fresh
# image: how a file's pages came into the cache (written by the linker,
# copied, read ahead) sets the size of its page-cache folios, and a fault
# maps the whole folio, so the same binary measured warm can show a few
# hundred KiB more or less RssFile.
#
# MEMORY_MAPS=N also prints the N largest mappings of each process.
# KC_SERVER_BIN / KC_GW_BIN measure other builds (A/B comparisons).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
runs=${1:-3}

if [ -z "${KC_SERVER_BIN:-}" ] || [ -z "${KC_GW_BIN:-}" ]; then
	${BAZEL:-bazel} build //server:kc-server //gateway:kc-gateway >&2
fi
server=${KC_SERVER_BIN:-$root/bazel-bin/server/kc-server}
gw=${KC_GW_BIN:-$root/bazel-bin/gateway/kc-gateway}

kib() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
pss() { awk '/^Pss:/ {print $2}' "/proc/$1/smaps_rollup"; }
mib() { awk -v k="$1" 'BEGIN {printf "%.2f", k / 1024}'; }
maps() { # pid n: largest mappings by resident size
	awk '/^[0-9a-f]+-/ {n = split($6, p, "/"); name = (n == 0 ? "[anon]" : p[n]) " " $2} /^Rss:/ {r[name] += $2}
		END {for (n in r) if (r[n] > 0) print r[n], n}' "/proc/$1/smaps" | sort -rn | head -"$2" |
		awk '{printf "      %6d KiB  %s %s\n", $1, $2, $3}'
}
evict() { python3 -c 'import os, sys
for p in sys.argv[1:]:
    fd = os.open(p, os.O_RDONLY); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED); os.close(fd)' "$@"; }
pair_kib() { # pages resident in either process, each counted once
	python3 - "$@" <<'PY'
import struct, sys
frames = []
for pid in sys.argv[1:]:
    fr = set()
    with open("/proc/%s/maps" % pid) as maps, open("/proc/%s/pagemap" % pid, "rb") as pm:
        for line in maps:
            if "[vsyscall]" in line:
                continue
            lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
            pm.seek(lo // 4096 * 8)
            for (v,) in struct.iter_unpack("<Q", pm.read((hi - lo) // 4096 * 8)):
                if v >> 63:
                    fr.add(v & ((1 << 55) - 1))
    if 0 in fr:  # PFNs read as 0 without root
        print("")
        sys.exit(0)
    frames.append(fr)
print(len(set().union(*frames)) * 4)
PY
}
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

tmp=
sp=
gp=
cleanup() {
	[ -n "$gp" ] && kill "$gp" 2>/dev/null && wait "$gp" 2>/dev/null
	[ -n "$sp" ] && kill "$sp" 2>/dev/null && wait "$sp" 2>/dev/null
	if [ -n "$tmp" ]; then
		tmux -S "$tmp/tmux" kill-server 2>/dev/null || true
		rm -rf "$tmp"
	fi
	tmp= sp= gp=
}
trap cleanup EXIT

echo "idle memory, empty store ($(nproc) cores; server: $server, gateway: $gw)"
printf '%-4s %-10s %9s %9s %9s %9s %7s\n' run process "VmRSS" "RssAnon" "RssFile" "PSS" threads
sums=()
for r in $(seq 1 "$runs"); do
	evict "$server" "$gw"
	tmp=$(mktemp -d /tmp/kc-mem.XXXXXX)
	mkdir -p "$tmp/home"
	cat >"$tmp/kc.yaml" <<YAML
home: $tmp/home
server:
  socket: $tmp/s.sock
  tmux_socket: $tmp/tmux
  log_level: warn
YAML
	env -u KC_HOME -u KC_GRPC_PORT -u KC_AGENT "$server" --config "$tmp/kc.yaml" 2>"$tmp/server.log" &
	sp=$!
	for _ in $(seq 1 200); do
		[ -S "$tmp/s.sock" ] && [ -s "$tmp/home/.claude-tasks/.api-token" ] && break
		sleep 0.05
	done
	port=$(free_port)
	"$gw" --listen "127.0.0.1:$port" --upstream "unix:$tmp/s.sock" --web-root "$root/gateway/web" \
		--log-level warn 2>"$tmp/gw.log" &
	gp=$!
	ok=0
	for _ in $(seq 1 200); do
		curl -sf -o /dev/null "http://127.0.0.1:$port/healthz" && { ok=1; break; }
		sleep 0.05
	done
	[ $ok = 1 ] || { echo "memory: the gateway never answered /healthz" >&2; cat "$tmp/server.log" "$tmp/gw.log" >&2; exit 1; }
	sleep 2
	sum=0
	for p in "server $sp" "gateway $gp"; do
		set -- $p
		rss=$(kib "$2" VmRSS)
		sum=$((sum + rss))
		printf '%-4s %-10s %9s %9s %9s %9s %7s\n' "$r" "$1" "$(mib "$rss") MiB" "$(mib "$(kib "$2" RssAnon)")" \
			"$(mib "$(kib "$2" RssFile)")" "$(mib "$(pss "$2")")" "$(kib "$2" Threads)"
		[ -n "${MEMORY_MAPS:-}" ] && maps "$2" "$MEMORY_MAPS"
	done
	pair=$(pair_kib "$sp" "$gp")
	printf '%-4s %-10s %9s%s\n' "$r" "sum" "$(mib "$sum") MiB" \
		"${pair:+   (pages of the two counted once: $(mib "$pair") MiB)}"
	sums+=("$sum")
	cleanup
done
max=$(printf '%s\n' "${sums[@]}" | sort -n | tail -1)
min=$(printf '%s\n' "${sums[@]}" | sort -n | head -1)
echo "idle kc-server + kc-gateway, sum of VmRSS: $(mib "$min")–$(mib "$max") MiB over $runs runs" \
	"(target <= 10 MiB): $([ "$max" -le 10240 ] && echo MET || echo "NOT MET")"
