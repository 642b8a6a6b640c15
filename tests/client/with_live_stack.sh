#!/usr/bin/env bash
# Runs "$@" against a live stack (tests/lib/live_stack.sh): kc-server (with
# a private tmux socket and the scripted fake agent) and kc-gateway in front
# of it, on loopback. Exports what with_mock.sh exports (KC_TEST_REST_URL,
# KC_TEST_GRPC_URL, KC_TEST_TOKEN) plus KC_TEST_PROFILE=live and the prompts
# that make the fake agent finish, keep running, or never get ready.
#
# Binaries: KC_SERVER_BIN, KC_GATEWAY_BIN, KC_FAKE_AGENT (runfiles paths of
# //server:kc-server, //gateway:kc-gateway, //tests/fake_agent:fake_agent.py
# by default). KC_TEST_KEEP=1 keeps the stack's directory.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib/live_stack.sh"
live_stack_start --grpc --never-agent --max-running 16 \
	--yaml "probes:
  vscode: 1
  terminal: 2"
export KC_TEST_PROFILE=live
export KC_TEST_REST_URL=$LS_URL
export KC_TEST_GRPC_URL=grpc://127.0.0.1:$LS_GRPC_PORT
export KC_TEST_UNIX_URL=unix:$LS_SOCKET
export KC_TEST_TOKEN=$LS_TOKEN
# The fake agent: "exit" ends the session (completed, after "bye");
# "flood 3" prints three lines and then waits for input (running).
# "--agent never" never shows its prompt: the task ends in error.
export KC_TEST_PROMPT_DONE=exit KC_TEST_DONE_OUTPUT=bye KC_TEST_PROMPT_RUN="flood 3"
export KC_TEST_FAIL_ARGS="--agent never never-ready"
"$@"
