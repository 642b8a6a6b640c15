#!/usr/bin/env bash
# Coverage-guided fuzzing of every fuzz target with libFuzzer (clang, ASan,
# UBSan). Each target runs for FUZZ_SECONDS (default 30) on a scratch copy
# of its seed corpus, so the tree is never written. A crash fails the run
# and leaves the reproducer in the printed directory.
#   scripts/fuzz.sh [bazel-target ...]   default: every *_fuzz_libfuzzer
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-30}
bazel=${BAZEL:-bazel}

if [ $# -gt 0 ]; then
	targets=("$@")
else
	mapfile -t targets < <($bazel query 'attr(name, "_fuzz_libfuzzer$", //...)' 2>/dev/null)
fi
[ ${#targets[@]} -gt 0 ] || { echo "fuzz: no targets" >&2; exit 1; }

$bazel build --config=fuzz "${targets[@]}"

work=$(mktemp -d /tmp/kc-fuzz.XXXXXX)
failed=0
for t in "${targets[@]}"; do
	pkg=${t#//}; pkg=${pkg%%:*}
	name=${t##*:}
	base=${name%_libfuzzer}
	corpus="$work/$base/corpus"
	mkdir -p "$corpus" "$work/$base/artifacts"
	# The seed corpus is the test's data: testdata/<something>_corpus in the package.
	for d in "$pkg"/testdata/*_corpus; do
		[ -d "$d" ] && cp -r "$d"/. "$corpus"/
	done
	echo "fuzz: $t for ${seconds}s"
	if ! "bazel-bin/$pkg/$name" -max_total_time="$seconds" -max_len=65536 \
		-artifact_prefix="$work/$base/artifacts/" "$corpus" >"$work/$base/log" 2>&1; then
		echo "fuzz: $t FAILED; log and reproducer in $work/$base" >&2
		tail -30 "$work/$base/log" >&2
		failed=1
	else
		tail -1 "$work/$base/log"
	fi
done
[ "$failed" -eq 0 ] && rm -rf "$work"
exit "$failed"
