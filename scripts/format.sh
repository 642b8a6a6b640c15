#!/usr/bin/env bash
# clang-format over every C file git tracks, with the tree's .clang-format.
#
#   scripts/format.sh           rewrite the files in place
#   scripts/format.sh --check   change nothing; list the files that differ
#                               and fail (what .ci/run runs)
set -euo pipefail
cd "$(dirname "$0")/.."

command -v clang-format >/dev/null || { echo "format: clang-format missing (scripts/setup.sh installs it)" >&2; exit 1; }
mapfile -t files < <(git ls-files '*.c' '*.h')

if [ "${1:-}" = "--check" ]; then
	bad=0
	for f in "${files[@]}"; do
		if ! clang-format --dry-run -Werror "$f" >/dev/null 2>&1; then
			echo "format: $f is not clang-formatted" >&2
			bad=1
		fi
	done
	[ $bad -eq 0 ] || { echo "format: run 'make format' and commit the result" >&2; exit 1; }
	echo "format: ${#files[@]} files clean"
else
	clang-format -i "${files[@]}"
fi
