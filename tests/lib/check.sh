# Shared assertions for the shell tests: sourced, never run.
#
#   check NAME CMD...      runs CMD; counts and prints "ok   NAME" or "FAIL NAME"
#   ok NAME / bad NAME [WHY]
#   wait_for SECONDS CMD... polls CMD until it succeeds or the deadline
#                          passes (bounded: never an assertion on a sleep)
#   check_summary          prints "N passed, M failed"; fails if any failed
#   check_tmpdir VAR PREFIX sets VAR to a fresh directory under /tmp (short
#                          enough for unix socket paths), removed at exit
#   at_exit CMD            runs CMD at exit, the last registered first
#   fail_at_exit WHY       makes the test fail even if every check passed
#                          (for what only shows when processes stop, such
#                          as a sanitizer's leak report)
#   pids+=($!); at_exit stop_pids
#                          SIGTERMs the background processes a test started
#                          and waits for them
#
# The counters are $passed and $failed.
passed=0
failed=0

ok() { passed=$((passed + 1)); echo "ok   $1"; }
bad() { failed=$((failed + 1)); echo "FAIL $1${2:+: $2}"; }
check() { # name, then a command that must succeed
	local name=$1
	shift
	if "$@"; then ok "$name"; else bad "$name"; fi
}

# Polls every ${WAIT_FOR_INTERVAL:-0.1} s until a command succeeds or the
# deadline (seconds) passes.
wait_for() {
	local deadline=$(($(date +%s) + $1))
	shift
	until "$@"; do
		[ "$(date +%s)" -ge "$deadline" ] && return 1
		sleep "${WAIT_FOR_INTERVAL:-0.1}"
	done
}

check_summary() {
	echo "$passed passed, $failed failed"
	[ "$failed" = 0 ]
}

_at_exit=()
_fail_at_exit=
_run_at_exit() {
	local i
	for ((i = ${#_at_exit[@]} - 1; i >= 0; i--)); do
		eval "${_at_exit[i]}" || true
	done
	# exit inside the EXIT trap sets the script's status.
	[ -z "$_fail_at_exit" ] || exit 1
}
fail_at_exit() {
	echo "FAIL $1"
	_fail_at_exit=1
}
at_exit() {
	_at_exit+=("$1")
	trap _run_at_exit EXIT
}

check_tmpdir() { # not in $(...): the exit hook must be this shell's
	local d
	d=$(mktemp -d "/tmp/$2.XXXXXX") || return 1
	at_exit "rm -rf '$d'"
	printf -v "$1" '%s' "$d"
}

pids=()
stop_pids() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	return 0
}
