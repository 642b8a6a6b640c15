#!/usr/bin/env bash
# Runs "$@" with a mock workspace (mock_workspace.py) listening on loopback:
# KC_TEST_REST_URL, KC_TEST_GRPC_URL and KC_TEST_TOKEN say where and how.
# The mock is stopped when the command ends, whatever its result.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
desc=${KC_TEST_DESCRIPTORS:-$here/../../proto/api_descriptor_set.pb}
tmp=$(mktemp -d "${TEST_TMPDIR:-/tmp}/mock.XXXXXX")
token=test-token-$RANDOM$RANDOM
# A throw-away CA-less certificate for the TLS listeners (https, grpcs).
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
	-addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
	-keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null
/usr/bin/python3 "$here/mock_workspace.py" "$desc" "$tmp/ports" "$token" "$tmp/cert.pem" "$tmp/key.pem" \
	2>"$tmp/mock.log" &
mock=$!
cleanup() {
	kill "$mock" 2>/dev/null || true
	wait "$mock" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
# Poll (no fixed sleep): a loaded machine may take seconds to import grpc.
for _ in $(seq 1 600); do
	[ -s "$tmp/ports" ] && break
	if ! kill -0 "$mock" 2>/dev/null; then
		echo "mock workspace died:" >&2
		cat "$tmp/mock.log" >&2
		exit 1
	fi
	sleep 0.1
done
read -r rest_port grpc_port https_port grpcs_port <"$tmp/ports"
export KC_TEST_REST_URL=http://127.0.0.1:$rest_port
export KC_TEST_GRPC_URL=grpc://127.0.0.1:$grpc_port
export KC_TEST_HTTPS_URL=https://127.0.0.1:$https_port
export KC_TEST_GRPCS_URL=grpcs://127.0.0.1:$grpcs_port
export KC_TEST_CA_FILE=$tmp/cert.pem
export KC_TEST_TOKEN=$token
# The mock's agents (mock_workspace.py): a prompt that completes after
# three lines, one that runs until killed, arguments that end in error.
export KC_TEST_PROFILE=mock KC_TEST_PROMPT_DONE="say hello" KC_TEST_DONE_OUTPUT="fake agent line 3"
export KC_TEST_PROMPT_RUN="sleep until killed" KC_TEST_FAIL_ARGS="fail to start"
"$@"
