#!/usr/bin/env bash
# libkcclient and kc built with plain make (client/Makefile, no Bazel) match
# Bazel's: the same `kc --version` and help, and the same output, errors and
# exit statuses for a few commands over REST and gRPC against one workspace
# (with_mock.sh). The make-built library's exports are Bazel's too.
# Usage: make_build_test.sh BAZEL_KC BAZEL_LIBKCCLIENT_SO
set -uo pipefail
bazel_kc=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
bazel_so=$2
src=$(pwd) # the runfiles tree: the repository's files the build needs
tmp=$(mktemp -d "${TEST_TMPDIR:-/tmp}/make.XXXXXX")
export HOME=$tmp/home XDG_CONFIG_HOME= KC_CONFIG= KC_WORKSPACE=
mkdir -p "$HOME"
passed=0
failures=0
fail() {
	echo "FAIL: $*" >&2
	failures=$((failures + 1))
}

if ! make -s -C "$src/client" O="$tmp/build" -j2 >"$tmp/make.log" 2>&1; then
	cat "$tmp/make.log" >&2
	echo "0 passed, 1 failed"
	exit 1
fi
make_kc=$tmp/build/kc

# both NAME ARGS...: runs each kc, compares stdout, stderr and exit status.
both() {
	local name=$1 k
	shift
	for k in bazel make; do
		local bin=$bazel_kc
		[ $k = make ] && bin=$make_kc
		"$bin" "$@" >"$tmp/$k.out" 2>"$tmp/$k.err"
		echo "exit $?" >>"$tmp/$k.err"
	done
	if cmp -s "$tmp/bazel.out" "$tmp/make.out" && cmp -s "$tmp/bazel.err" "$tmp/make.err"; then
		passed=$((passed + 1))
	else
		fail "$name: the two kc differ"
		diff -u "$tmp/bazel.out" "$tmp/make.out" >&2
		diff -u "$tmp/bazel.err" "$tmp/make.err" >&2
	fi
}

both version --version
both help --help
both no-url task ls

# The exported symbols: the public API, and only it, in both libraries.
exports() { nm -D --defined-only "$1" | awk '$2 == "T" { print $3 }' | sort; }
if diff -u <(exports "$bazel_so") <(exports "$tmp/build/libkcclient.so") >&2; then
	passed=$((passed + 1))
else
	fail "libkcclient.so exports differ"
fi
# ... and every one of them is declared in a public header: an internal kc_
# helper that leaks into the ABI fails here.
declared=$(cat "$src/client/include/kc/client.h" "$src/common/kc_error.h" | grep -o '\bkc_[a-z0-9_]*(' | tr -d '(' | sort -u)
leaked=$(comm -23 <(exports "$bazel_so" | sed "s/@.*//") <(echo "$declared"))
if [ -z "$leaked" ] && [ -n "$(exports "$bazel_so")" ]; then
	passed=$((passed + 1))
else
	fail "libkcclient.so exports what no public header declares: $leaked"
fi

for url in "$KC_TEST_REST_URL" "$KC_TEST_GRPC_URL"; do
	export KC_URL=$url KC_TOKEN=$KC_TEST_TOKEN
	# A task that completes, so that both see the same state.
	id=$("$make_kc" task create -q -- "$KC_TEST_PROMPT_DONE") || fail "create over $url"
	"$bazel_kc" task wait "$id" --timeout 60 >/dev/null || fail "wait over $url"
	both "get $url" task get "$id" -o json
	both "logs $url" task logs "$id"
	both "ls $url" task ls -o json
	both "ls completed $url" task ls --status completed -o json
	both "unknown $url" task get 1700000000-00000000
	KC_TOKEN=wrong both "bad token $url" task ls
done

echo "$passed passed, $failures failed"
rm -rf "$tmp"
[ "$failures" = 0 ]
