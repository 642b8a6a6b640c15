#!/usr/bin/env bash
# An agent that cannot start says why, through REST: the task's `error`
# carries the agent's own last lines.
#   - a program that is not on the PATH (argv form: exec'd by /bin/sh, which
#     says "not found")
#   - a one-element command (run by tmux through sh -c) naming a missing program
#   - an agent that prints a reason and exits before it is ready
#   - one whose reason comes in colour, with a title escape (the error holds
#     the words, not the escape sequences)
set -uo pipefail

source "$(pwd)/tests/lib/live_stack.sh"
live_stack_start --agents-yaml '    - name: missing
      command: ["kc-no-such-agent", "--session-id", "{session_id}"]
      ready_timeout_ms: 20000
    - name: missing-sh
      command: ["kc-no-such-agent-either --flag"]
      ready_timeout_ms: 20000
    - name: early-exit
      command: ["/bin/sh", "-c", "echo starting up; echo >&2 \"fatal: no API key configured\"; exit 3"]
      ready_timeout_ms: 20000
    - name: colourful
      command: ["/bin/sh", "-c", "printf \"\\033]0;a title\\007\\033[1;31merror:\\033[0m key \\033(Bmissing\\n\"; exit 1"]
      ready_timeout_ms: 20000'
A=(-H "Authorization: Bearer $LS_TOKEN" -H 'Content-Type: application/json')
tmp=$LS_TMP

create() {
	curl -s -o "$tmp/body" -w '%{http_code}' "${A[@]}" -d "{\"prompt\": \"hi\", \"agent\": \"$1\"}" \
		"$LS_URL/api/claude/tasks"
}
get() { curl -s -o "$tmp/task" "${A[@]}" "$LS_URL/api/claude/tasks/$1"; }
ended() { get "$1" && jq -e '.status != "running"' "$tmp/task" >/dev/null; }

for agent in missing missing-sh early-exit colourful; do
	check "$agent: create is 201" test "$(create $agent)" = 201
	id=$(jq -r .task_id "$tmp/body")
	check "$agent: the task ends well before its ready timeout" wait_for 15 ended "$id"
	check "$agent: status error" jq -e '.status == "error"' "$tmp/task"
	check "$agent: the error says it exited before it was ready" \
		jq -e '.error | startswith("the agent exited before it became ready: ")' "$tmp/task"
	case $agent in
	missing) want="kc-no-such-agent: not found" ;;
	missing-sh) want="kc-no-such-agent-either" ;;
	early-exit) want="fatal: no API key configured" ;;
	colourful) want="error: key missing" ;;
	esac
	check "$agent: the error quotes the agent's own words ($want)" \
		jq -e --arg w "$want" '.error | contains($w)' "$tmp/task"
	[ $agent = missing-sh ] && check "$agent: ... and the shell's 'not found'" \
		jq -e '.error | contains("not found")' "$tmp/task"
	jq -r .error "$tmp/task" | sed "s/^/    /"
done
check_summary
