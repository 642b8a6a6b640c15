#!/usr/bin/env bash
# kc against a workspace (with_mock.sh, or a live stack): golden tests of
# --output json and of error messages and exit codes, logs -f and wait on
# running tasks, config-file workspaces, and kc connect with kubectl
# replaced by a stub. Usage: cli_test.sh KC GOLDEN_DIR
set -uo pipefail
kc=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
golden=$2
tmp=$(mktemp -d "${TEST_TMPDIR:-/tmp}/cli.XXXXXX")
export HOME=$tmp/home XDG_CONFIG_HOME= KC_CONFIG= KC_WORKSPACE=
mkdir -p "$HOME"
failures=0
passed=0

fail() {
	echo "FAIL: $*" >&2
	failures=$((failures + 1))
}
ok() { passed=$((passed + 1)); }

# run EXPECTED_EXIT ARGS...: runs kc, output in $tmp/out and $tmp/err.
run() {
	local want=$1
	shift
	"$kc" "$@" >"$tmp/out" 2>"$tmp/err"
	local got=$?
	if [ "$got" != "$want" ]; then
		fail "kc $* exited $got, want $want; stderr: $(cat "$tmp/err")"
		return 1
	fi
	ok
}

# same FILE GOLDEN: compares, showing the difference.
same() {
	if [ -n "${KC_GOLDEN_UPDATE:-}" ] && [ "${2#"$golden"/}" != "$2" ]; then
		cp "$1" "$KC_GOLDEN_UPDATE/${2#"$golden"/}"
		ok
		return
	fi
	if diff -u "$2" "$1" >&2; then ok; else fail "$1 differs from $2"; fi
}

# Volatile fields of the REST objects become placeholders.
normalize() {
	jq -S '
	  def fix: if type == "object" then
	      with_entries(
	        if (.key | test("^(created_at|finished_at|killed_at|sent_at|prompt_delivered_at|timestamp|checked_at)$")) then .value = "<time>"
	        elif .key == "task_id" then .value = "<id>"
	        elif .key == "session_id" then .value = "<uuid>"
	        elif .key == "tmux_session" then .value = "claude-<id>"
	        elif .key == "workdir" or .key == "path" or .key == "token_path" then .value = "<dir>"
	        else .value |= fix end)
	    elif type == "array" then map(fix) else . end;
	  fix'
}

# poll_for FILE TEXT: waits (up to 60 s) until FILE contains TEXT.
poll_for() {
	for _ in $(seq 1 600); do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	fail "timed out waiting for '$2' in $1"
	return 1
}

for transport in rest grpc; do
	if [ $transport = rest ]; then url=$KC_TEST_REST_URL; else url=$KC_TEST_GRPC_URL; fi
	export KC_URL=$url KC_TOKEN=$KC_TEST_TOKEN
	echo "== $transport ($url)"

	# create, wait, get, logs: JSON goldens
	# (status_detail of a new task races with the agent's start)
	run 0 task create -o json "$KC_TEST_PROMPT_DONE" && normalize <"$tmp/out" | jq -S 'del(.status_detail)' >"$tmp/create.json" &&
		same "$tmp/create.json" "$golden/create.json"
	id=$(jq -r .task_id <"$tmp/out")
	run 0 task wait "$id" && [ "$(cat "$tmp/out")" = "$id completed" ] || fail "wait output: $(cat "$tmp/out")"
	grep -q "completed after" "$tmp/err" || fail "wait shows no progress: $(cat "$tmp/err")"
	run 0 task get "$id" -o json && normalize <"$tmp/out" >"$tmp/get.json" &&
		same "$tmp/get.json" "$golden/get_completed.json"
	run 0 task get "$id" && grep -q "^status: *completed" "$tmp/out" || fail "get table: $(cat "$tmp/out")"
	run 0 task logs "$id" && grep -q "$KC_TEST_DONE_OUTPUT" "$tmp/out" || fail "logs: $(cat "$tmp/out")"
	run 0 task logs "$id" --tail 1 && [ "$(tr -d '\r' <"$tmp/out")" = "$KC_TEST_DONE_OUTPUT" ] || fail "tail 1: $(cat "$tmp/out")"
	run 0 task ls && head -1 "$tmp/out" | grep -q "^ID  *STATUS  *AGE  *PROMPT" || fail "ls header"
	grep -q "$id  *completed  *[0-9]*[smhd] ago  *$KC_TEST_PROMPT_DONE" "$tmp/out" || fail "ls row: $(cat "$tmp/out")"
	run 5 task send "$id" more && same "$tmp/err" <(echo "kc: send to task $id: Session is no longer running (failed precondition)")
	run 0 metrics -o json && jq -e '.cpu.cores >= 1 and .memory.total_mb > 0 and .disk.total_gb > 0 and (.alerts | type) == "array" and .timestamp > 0' "$tmp/out" >/dev/null || fail "metrics json: $(cat "$tmp/out")"
	run 0 status -o json && jq -e '(.health.status | test("healthy|degraded")) and (.health.services.vscode.port > 0) and (.github.git_config | type) == "object"' "$tmp/out" >/dev/null || fail "status json: $(cat "$tmp/out")"
	if [ "$KC_TEST_PROFILE" = mock ]; then
		normalize <"$tmp/out" >"$tmp/s.json" && same "$tmp/s.json" "$golden/status.json"
		run 0 metrics -o json && normalize <"$tmp/out" >"$tmp/m.json" && same "$tmp/m.json" "$golden/metrics.json"
	fi
	run 0 metrics && grep -q "^cpu      [0-9.]*% of [0-9]* core" "$tmp/out" && grep -q "^sampled  [0-9]*s ago" "$tmp/out" || fail "metrics table: $(cat "$tmp/out")"
	run 0 status && grep -q "^vscode  *\(up\|down\)  *[0-9]" "$tmp/out" || fail "status table: $(cat "$tmp/out")"
	run 0 token && [ "$(cat "$tmp/out")" = "$KC_TEST_TOKEN" ] || fail "token"

	# logs -f streams a running task until it ends; wait reports the kill
	run 0 task create -q "$KC_TEST_PROMPT_RUN"
	id=$(cat "$tmp/out")
	"$kc" task logs -f "$id" >"$tmp/follow" 2>"$tmp/follow.err" &
	follower=$!
	"$kc" task wait "$id" >"$tmp/wait.out" 2>"$tmp/wait.err" &
	waiter=$!
	poll_for "$tmp/follow" "line 2"
	# kc-server refuses follow-ups until it has recorded the prompt's
	# delivery, which may trail the agent's first output a little.
	for _ in $(seq 1 600); do
		"$kc" task get "$id" -o json | jq -e '.prompt_delivered_at > 0' >/dev/null && break
		sleep 0.1
	done
	run 0 task send "$id" "also this" && grep -q "^sent to $id (1 follow-up)" "$tmp/out" || fail "send"
	poll_for "$tmp/follow" "also this"
	run 0 task kill "$id" -o json && jq -e '.status == "killed" and (.killed_at > 0)' "$tmp/out" >/dev/null || fail "kill json"
	wait $follower
	[ $? = 0 ] && ok || fail "logs -f exit; stderr: $(cat "$tmp/follow.err")"
	# -f --tail 1 on the ended task: only the last line of its history
	run 0 task logs -f --tail 1 "$id" && [ "$(grep -c . "$tmp/out")" = 1 ] || fail "logs -f --tail 1: $(cat "$tmp/out")"
	wait $waiter
	[ $? = 11 ] && ok || fail "wait on a killed task should exit 11; $(cat "$tmp/wait.err")"
	[ "$(cat "$tmp/wait.out")" = "$id killed" ] || fail "wait output: $(cat "$tmp/wait.out")"

	# wait: error and timeout
	# shellcheck disable=SC2086
	run 0 task create -q $KC_TEST_FAIL_ARGS
	id=$(cat "$tmp/out")
	run 10 task wait -q "$id" && [ "$(cat "$tmp/out")" = "" ] || fail "wait -q prints nothing"
	run 0 task create -q "$KC_TEST_PROMPT_RUN"
	id=$(cat "$tmp/out")
	run 12 task wait "$id" --timeout 1 && grep -q "still running after 1s" "$tmp/err" || fail "wait timeout: $(cat "$tmp/err")"
	run 0 task attach "$id" && grep -q "^  tmux attach-session -t claude-$id$" "$tmp/out" || fail "attach: $(cat "$tmp/out")"
	run 0 task attach "$id" -o json && jq -e ".session == \"claude-$id\"" "$tmp/out" >/dev/null || fail "attach json"
	run 0 task kill "$id" && [ "$(cat "$tmp/out")" = "killed $id" ] || fail "kill table"

	# a watch that breaks while the task runs is opened again
	if [ "$KC_TEST_PROFILE" = mock ]; then
		run 0 task create -q "flaky hello"
		id=$(cat "$tmp/out")
		run 0 task wait "$id" && grep -q "reconnecting" "$tmp/err" && [ "$(cat "$tmp/out")" = "$id completed" ] ||
			fail "wait across a dropped stream: $(cat "$tmp/out" "$tmp/err")"
	fi

	# error messages and exit codes
	run 2 task get 1700000000-00000000 && same "$tmp/err" "$golden/err_not_found.txt"
	run 2 task logs 1700000000-00000000
	KC_TOKEN=wrong run 3 task ls && same "$tmp/err" "$golden/err_unauthenticated.txt"
	run 3 token --server
	run 5 task create "   "
	run 1 task get && same "$tmp/err" "$golden/err_usage_id.txt"
	run 1 task frobnicate x
	run 1 frobnicate
	run 1 task ls --output yaml
	run 1 task ls --limit lots
done

# the same list over both transports
for transport in rest grpc; do
	if [ $transport = rest ]; then url=$KC_TEST_REST_URL; else url=$KC_TEST_GRPC_URL; fi
	run 0 --url "$url" --token "$KC_TEST_TOKEN" task ls -o json && cp "$tmp/out" "$tmp/ls_$transport.json"
done
same "$tmp/ls_grpc.json" "$tmp/ls_rest.json"
jq -e '.tasks | length >= 8' "$tmp/ls_rest.json" >/dev/null && ok || fail "ls json: $(cat "$tmp/ls_rest.json")"

# server down, no URL, bad URL
unset KC_URL KC_TOKEN
run 4 --url http://127.0.0.1:1 --token t task ls && grep -q "^kc: list tasks: .*(unavailable)$" "$tmp/err" || fail "down: $(cat "$tmp/err")"
run 4 --url grpc://127.0.0.1:1 --token t task ls && grep -q "^kc: list tasks: .*(unavailable)$" "$tmp/err" || fail "down grpc: $(cat "$tmp/err")"
run 1 task ls && same "$tmp/err" "$golden/err_no_url.txt"
run 1 --url ftp://x task ls
run 0 --help && for c in "task create" "task ls" "task get" "task logs" "task send" "task kill" "task attach" "task wait" metrics status token connect; do
	grep -q "^  $c" "$tmp/out" || fail "--help lacks $c"
done

# workspaces from the config file
mkdir -p "$HOME/.config/kube-coder"
cat >"$HOME/.config/kube-coder/config.yaml" <<YAML
current: viarest
workspaces:
  viarest:
    url: $KC_TEST_REST_URL
    token: $KC_TEST_TOKEN
  viagrpc:
    url: $KC_TEST_GRPC_URL
    token_file: ~/token
  broken:
    url: $KC_TEST_GRPC_URL
    token: nope
YAML
echo "$KC_TEST_TOKEN" >"$HOME/token"
run 0 status && grep -q "(rest, degraded)" "$tmp/out" || fail "current workspace: $(cat "$tmp/out")"
run 0 -w viagrpc status && grep -q "(grpc, degraded)" "$tmp/out" || fail "-w: $(cat "$tmp/out")"
KC_WORKSPACE=broken run 3 task ls
KC_WORKSPACE=broken KC_TOKEN=$KC_TEST_TOKEN run 0 task ls
run 1 -w nosuch task ls && same "$tmp/err" <(echo 'kc: workspace "nosuch": not in the config file')
run 0 workspaces && grep -q "^\* viarest " "$tmp/out" || fail "workspaces: $(cat "$tmp/out")"
echo "workspaces: {x: {colour: red}}" >"$tmp/bad.yaml"
run 1 --config "$tmp/bad.yaml" task ls && grep -q 'line 1: workspaces.x: unknown key "colour"' "$tmp/err" || fail "bad config: $(cat "$tmp/err")"

# kc connect with kubectl replaced by a stub on PATH
mkdir -p "$tmp/bin"
rest_port=${KC_TEST_REST_URL##*:}
cat >"$tmp/bin/kubectl" <<STUB
#!/bin/sh
printf '%s\n' "\$*" >>"$tmp/kubectl.log"
case "\$1" in
exec) [ "\$2" = "-it" ] && exit 0; echo "$KC_TEST_TOKEN" ;;
port-forward) echo "Forwarding from 127.0.0.1:$rest_port -> 6080"; exec sleep 600 ;;
esac
STUB
chmod +x "$tmp/bin/kubectl"
rm -f "$HOME/.config/kube-coder/config.yaml"
PATH=$tmp/bin:$PATH run 0 connect alice --detach
grep -q "^connected to alice at http://127.0.0.1:$rest_port" "$tmp/out" || fail "connect: $(cat "$tmp/out")"
pf=$(sed -n 's/.*runs as pid \([0-9]*\).*/\1/p' "$tmp/out")
same "$tmp/kubectl.log" <(printf '%s\n' "exec -n coder deploy/alice-workspace -c kc-server -- cat /home/coder/.claude-tasks/.api-token" "port-forward -n coder svc/alice-workspace :6080")
[ "$(stat -c %a "$HOME/.config/kube-coder/config.yaml")" = 600 ] && ok || fail "config mode"
run 0 task ls -o json && ok
run 0 task create -q "$KC_TEST_PROMPT_RUN"
id=$(cat "$tmp/out")
run 0 task attach "$id" && grep -q "^  kubectl exec -it -n coder deploy/alice-workspace -c terminal -- tmux -S /tmp/kc-tmux/default attach-session -t claude-$id$" "$tmp/out" || fail "attach via kubectl: $(cat "$tmp/out")"
PATH=$tmp/bin:$PATH run 0 task attach "$id" --exec
tail -1 "$tmp/kubectl.log" | grep -q "^exec -it -n coder deploy/alice-workspace -c terminal -- tmux -S /tmp/kc-tmux/default attach-session -t claude-$id$" || fail "attach --exec: $(tail -1 "$tmp/kubectl.log")"
run 0 task kill "$id"
[ -n "$pf" ] && kill "$pf" 2>/dev/null
: >"$tmp/kubectl.log"
PATH=$tmp/bin:$PATH run 0 connect bob --namespace ns2 --target deploy/b --container c2 --token-container c3 --service svc/b --remote-port 7000 --detach
pf=$(sed -n 's/.*runs as pid \([0-9]*\).*/\1/p' "$tmp/out")
same "$tmp/kubectl.log" <(printf '%s\n' "exec -n ns2 deploy/b -c c3 -- cat /home/coder/.claude-tasks/.api-token" "port-forward -n ns2 svc/b :7000")
run 0 workspaces && grep -q "^\* bob " "$tmp/out" && grep -q "^  alice " "$tmp/out" || fail "workspaces after connect: $(cat "$tmp/out")"
[ -n "$pf" ] && kill "$pf" 2>/dev/null
cat >"$tmp/bin/kubectl" <<'STUB'
#!/bin/sh
echo "error: pods not found" >&2
exit 1
STUB
PATH=$tmp/bin:$PATH run 4 connect carol && grep -q "kubectl exec could not read the token" "$tmp/err" || fail "connect failure: $(cat "$tmp/err")"

echo "$passed passed, $failures failed"
rm -rf "$tmp"
[ "$failures" = 0 ]
