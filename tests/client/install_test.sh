#!/usr/bin/env bash
# client/install.sh into a scratch prefix, then the example program built
# against the installed library with cc and pkg-config (shared and
# static), run against a workspace over both transports; the installed kc
# runs too. Runs under with_mock.sh (or a live stack's KC_TEST_* URLs).
set -euo pipefail
prefix=${TEST_TMPDIR:-/tmp}/prefix
rm -rf "$prefix"
client/install.sh PREFIX="$prefix" BAZEL_BIN="$PWD"
for f in lib/libkcclient.so lib/libkcclient.so.0 lib/libkcclient.a lib/pkgconfig/kcclient.pc \
	include/kc/client.h include/kc/error.h bin/kc share/man/man1/kc.1; do
	[ -e "$prefix/$f" ] || { echo "missing $prefix/$f" >&2; exit 1; }
done
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
flags=(-std=c11 -Wall -Wextra -Werror -Wstrict-prototypes)
# Under --config=asan the library carries the sanitizers' references.
[ -n "${KC_SANITIZED:-}" ] && flags+=(-fsanitize=address,undefined)
out=${TEST_TMPDIR:-/tmp}
# shellcheck disable=SC2046
cc "${flags[@]}" client/examples/list_tasks.c $(pkg-config --cflags --libs kcclient) -o "$out/list_tasks"
# shellcheck disable=SC2046
cc "${flags[@]}" client/examples/list_tasks.c $(pkg-config --cflags kcclient) \
	-Wl,-Bstatic -lkcclient -Wl,-Bdynamic -L"$prefix/lib" $(pkg-config --libs grpc libcurl jansson libprotobuf-c) -lgpr -lpthread -o "$out/list_tasks_static"
if ldd "$out/list_tasks_static" | grep -q libkcclient; then
	echo "static example links libkcclient.so" >&2
	exit 1
fi
for url in "$KC_TEST_REST_URL" "$KC_TEST_GRPC_URL"; do
	for prog in list_tasks list_tasks_static; do
		LD_LIBRARY_PATH=$prefix/lib KC_URL=$url KC_TOKEN=$KC_TEST_TOKEN "$out/$prog" "$KC_TEST_PROMPT_DONE" >"$out/example.out" 2>"$out/example.err"
		grep -q "^started " "$out/example.out"
		grep -q "$KC_TEST_DONE_OUTPUT" "$out/example.out" || { cat "$out/example.out" "$out/example.err" >&2; exit 1; }
		grep -q " completed\]$" "$out/example.err"
	done
done
LD_LIBRARY_PATH=$prefix/lib KC_URL=$KC_TEST_GRPC_URL KC_TOKEN=$KC_TEST_TOKEN "$prefix/bin/kc" task ls -q | grep -q .
LD_LIBRARY_PATH=$prefix/lib "$prefix/bin/kc" --version | grep -q "^kc 0.1.0$"
[ "$(pkg-config --modversion kcclient)" = 0.1.0 ]
# Every command of kc --help has its entry in the man page.
man=$prefix/share/man/man1/kc.1
for c in "task create" "task ls" "task get" "task logs" "task send" "task kill" "task attach" "task wait" \
	metrics status token connect workspaces; do
	LD_LIBRARY_PATH=$prefix/lib "$prefix/bin/kc" --help | grep -q "^  $c" || { echo "--help lacks $c" >&2; exit 1; }
	grep -q "^\.B[IR]* \"*$c" "$man" || { echo "kc.1 lacks $c" >&2; exit 1; }
done
echo "1 passed, 0 failed"
