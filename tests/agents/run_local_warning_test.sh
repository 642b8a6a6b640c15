#!/usr/bin/env bash
# `make run` (scripts/run-local.sh) warns at start, naming KC_AGENT, when
# the configured agent's program is not on the PATH, and says nothing when
# it is; either way the stack starts.
set -uo pipefail

root=$(pwd)
source "$root/tests/lib/check.sh"
check_tmpdir tmp kcrw
bins=$tmp/bin
mkdir -p "$bins"
cp "$root/server/kc-server" "$root/gateway/kc-gateway" "$bins/"
cp -rL "$root/gateway/web" "$tmp/web"
script_pid= home=

stop_script() {
	[ -n "$script_pid" ] && kill -TERM "$script_pid" 2>/dev/null && wait "$script_pid" 2>/dev/null
	[ -n "$home" ] && tmux -S "$home/.kc-run/tmux/default" kill-server 2>/dev/null
	script_pid=
}
at_exit stop_script

# run NAME AGENT: starts run-local with KC_AGENT=AGENT (empty: unset) until it says it is up.
run() {
	local port
	home=$tmp/$1
	mkdir -p "$home"
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	if [ -n "$2" ]; then
		KC_BIN_DIR=$bins KC_WEB_ROOT=$tmp/web KC_HOME=$home KC_PORT=$port KC_AGENT=$2 \
			bash "$root/scripts/run-local.sh" >"$tmp/$1.out" 2>"$tmp/$1.err" &
	else
		env -u KC_AGENT PATH=/usr/bin:/bin KC_BIN_DIR=$bins KC_WEB_ROOT=$tmp/web KC_HOME=$home KC_PORT=$port \
			bash "$root/scripts/run-local.sh" >"$tmp/$1.out" 2>"$tmp/$1.err" &
	fi
	script_pid=$!
	wait_for 60 grep -q 'Ctrl-C stops both' "$tmp/$1.out"
}

check "a missing KC_AGENT program: the stack still starts" run missing "kc-no-such-agent --flag"
check "... with a warning" grep -q "warning: the agent program 'kc-no-such-agent' is not on the PATH" "$tmp/missing.err"
check "... naming KC_AGENT" grep -q "KC_AGENT" "$tmp/missing.err"
stop_script
if ! PATH=/usr/bin:/bin command -v claude >/dev/null; then
	check "the default agent (claude) missing: warned" run default ""
	check "... naming claude and KC_AGENT" \
		grep -q "agent program 'claude' is not on the PATH.*KC_AGENT" "$tmp/default.err"
	stop_script
fi
check "an agent on the PATH: the stack starts" run present "/usr/bin/python3 $root/tests/fake_agent/fake_agent.py"
check "... without a warning" bash -c "! grep -q warning '$tmp/present.err'"
stop_script
check_summary
