#!/usr/bin/env bash
# Runs every command block the /remote-task skill prescribes, exactly as
# written in .claude/skills/remote-task/SKILL.md, against a workspace
# (with_mock.sh or a live stack), in the order a session would: connect
# (kubectl is a stub on PATH, since there is no cluster here: it reads the
# token and "forwards" to the workspace's REST port), launch, status,
# output, send, attach, wait, kill.
# With MODE "curl" the same blocks run without kc on the PATH, as before
# kc is installed: status, launch, output and kill through curl + jq
# against KC_URL/KC_TOKEN, the rest failing with the install hint given.
# Usage: skill_test.sh SKILL.md KC [kc|curl]
set -uo pipefail
skill=$1
kc_dir=$(cd "$(dirname "$2")" && pwd)
mode=${3:-kc}
tmp=$(mktemp -d "${TEST_TMPDIR:-/tmp}/skill.XXXXXX")
export HOME=$tmp/home KC_CONFIG= KC_WORKSPACE= XDG_CONFIG_HOME=
unset KC_URL KC_TOKEN
mkdir -p "$HOME" "$tmp/bin"
passed=0
failures=0

rest_port=${KC_TEST_REST_URL##*:}
cat >"$tmp/bin/kubectl" <<STUB
#!/bin/sh
printf '%s\n' "\$*" >>"$tmp/kubectl.log"
case "\$1" in
exec) echo "$KC_TEST_TOKEN" ;;
port-forward) echo "Forwarding from 127.0.0.1:$rest_port -> 6080"; exec sleep 600 ;;
esac
STUB
chmod +x "$tmp/bin/kubectl"
export PATH=$kc_dir:$tmp/bin:$PATH KC_USER=alice

# The bash block after "<!-- skill-step: NAME -->".
block() {
	awk -v name="$1" '
		$0 == "<!-- skill-step: " name " -->" { found = 1; next }
		found && /^```bash/ { inside = 1; next }
		inside && /^```/ { exit }
		inside { print }
	' "$skill"
}

# step NAME EXPECTED_EXIT: runs the block; output in $tmp/out, $tmp/err.
# EXPECTED_EXIT "!0" is any failure.
step() {
	local code
	code=$(block "$1")
	if [ -z "$code" ]; then
		echo "FAIL: SKILL.md has no block for step $1" >&2
		failures=$((failures + 1))
		return 1
	fi
	bash -c "$code" >"$tmp/out" 2>"$tmp/err"
	local got=$?
	if [ "$got" != "$2" ] && { [ "$2" != "!0" ] || [ "$got" = 0 ]; }; then
		echo "FAIL: step $1 exited $got, want $2: $(cat "$tmp/err")" >&2
		failures=$((failures + 1))
		return 1
	fi
	passed=$((passed + 1))
}

check() {
	if "$@"; then passed=$((passed + 1)); else
		echo "FAIL: $*; output: $(cat "$tmp/out")" >&2
		failures=$((failures + 1))
	fi
}

if [ "$mode" = curl ]; then
	# kc out of reach: the PATH keeps only directories without one.
	path=
	IFS=: read -ra dirs <<<"$tmp/bin:$PATH"
	for d in "${dirs[@]}"; do
		[ "$d" = "$kc_dir" ] || [ -x "$d/kc" ] || path=$path${path:+:}$d
	done
	export PATH=$path
	check test -z "$(command -v kc)"
	step connect '!0' # no KC_URL yet: it asks for one
	check grep -q "export KC_URL=" "$tmp/err"
	check grep -qF 'install kc: make -C client install PREFIX=$HOME/.local' "$tmp/err"
	export KC_URL=$KC_TEST_REST_URL KC_TOKEN=wrong
	step connect '!0' # a bad token
	check grep -q "401" "$tmp/err"
	export KC_TOKEN=$KC_TEST_TOKEN
	step connect 0

	export PROMPT="-sleep: don't \"run\" \$(rm -rf /) ; echo pwned"
	step launch 0
	check grep -q "^status: *running" "$tmp/out"
	TASK_ID=$(sed -n 's/^task_id: *//p' "$tmp/out")
	export TASK_ID
	check test -n "$TASK_ID"
	check grep -qF "prompt:        $PROMPT" "$tmp/out"
	check grep -q "^tmux_session:  claude-$TASK_ID$" "$tmp/out"
	step status 0
	check grep -q "^$TASK_ID  *running" "$tmp/out"
	for _ in $(seq 1 300); do
		step output 0 && grep -q "agent line\|^echo: " "$tmp/out" && break
		sleep 0.1
	done
	check grep -q "^status: *running" "$tmp/out"
	check grep -q "agent line\|^echo: " "$tmp/out"
	# Without kc the rest names what is missing.
	for s in send attach wait; do
		step $s 127
		check grep -q "kc: command not found" "$tmp/err"
	done
	step kill 0
	check grep -q "^killed $TASK_ID$" "$tmp/out"
	step status 0
	check grep -q "^$TASK_ID  *killed" "$tmp/out"
	# Unknown and malformed ids fail, saying why.
	for s in output kill; do
		TASK_ID=1700000000-00000000 step $s '!0'
		check grep -q "404" "$tmp/err"
		TASK_ID=../tasks step $s '!0'
		check grep -q "not a task id" "$tmp/err"
	done
	echo "$passed passed, $failures failed"
	rm -rf "$tmp"
	[ "$failures" = 0 ]
	exit
fi

step connect 0
check grep -q "^port-forward -n coder svc/alice-workspace :6080$" "$tmp/kubectl.log"
pf=$(sed -n 's/.*runs as pid \([0-9]*\).*/\1/p' "$tmp/out")
: >"$tmp/kubectl.log"
step connect 0 # a second time: the workspace answers, nothing is run
check test ! -s "$tmp/kubectl.log"

# A prompt with quotes, a leading dash and shell syntax reaches the agent as is.
export PROMPT="-sleep: don't \"run\" \$(rm -rf /) ; echo pwned"
step launch 0
check grep -q "^status: *running" "$tmp/out"
TASK_ID=$(sed -n 's/^task_id: *//p' "$tmp/out")
export TASK_ID
check test -n "$TASK_ID"
check grep -qF "prompt:        $PROMPT" "$tmp/out"

step status 0
check grep -q "^$TASK_ID  *running" "$tmp/out"

# Output: wait (polling, bounded) until the fake agent printed something.
for _ in $(seq 1 300); do
	step output 0 && grep -q "agent line\|^echo: " "$tmp/out" && break
	sleep 0.1
done
check grep -q "^status: *running" "$tmp/out"
check grep -q "agent line\|^echo: " "$tmp/out"

# kc-server takes follow-ups once it has recorded the prompt's delivery.
for _ in $(seq 1 600); do
	kc task get "$TASK_ID" -o json | jq -e '.prompt_delivered_at > 0' >/dev/null && break
	sleep 0.1
done
PROMPT="and then this" step send 0
check grep -q "^sent to $TASK_ID (1 follow-up)" "$tmp/out"

step attach 0
check grep -q "^  kubectl exec -it -n coder deploy/alice-workspace -c terminal -- tmux -S /tmp/kc-tmux/default attach-session -t claude-$TASK_ID$" "$tmp/out"

step kill 0
check grep -q "^killed $TASK_ID$" "$tmp/out"
step wait 11
check grep -q "^$TASK_ID killed$" "$tmp/out"

# An unknown id: the documented exit status 2.
TASK_ID=1700000000-00000000 step output 2
TASK_ID=1700000000-00000000 step kill 2

# A short task that completes: wait exits 0.
PROMPT=$KC_TEST_PROMPT_DONE step launch 0
TASK_ID=$(sed -n 's/^task_id: *//p' "$tmp/out") step wait 0

[ -n "$pf" ] && kill "$pf" 2>/dev/null
echo "$passed passed, $failures failed"
rm -rf "$tmp"
[ "$failures" = 0 ]
