#!/usr/bin/env bash
# Runs every command block the /remote-task skill prescribes, exactly as
# written in .claude/skills/remote-task/SKILL.md, against a workspace
# (with_mock.sh or a live stack), in the order a session would: connect
# (kubectl is a stub on PATH, since there is no cluster here: it reads the
# token and "forwards" to the workspace's REST port), launch, status,
# output, send, attach, wait, kill.
# Usage: skill_test.sh SKILL.md KC
set -uo pipefail
skill=$1
kc_dir=$(cd "$(dirname "$2")" && pwd)
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

# step NAME EXPECTED_EXIT: runs the block; output in $tmp/out.
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
	if [ "$got" != "$2" ]; then
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
