#!/usr/bin/env bash
# A bad annotation fails the build with the rpc's name and the reason:
# routegen refuses each of testdata/bad_*.proto with the expected message,
# and accepts the real API, for the gateway's table and the client's.
set -u
routegen=$1 api_set=$2 proto_root=$3
shift 3
tmp=${TEST_TMPDIR:-$(mktemp -d)}
pass=0 fail=0

expect_refusal() {
	local proto=$1 want=$2
	local name
	name=$(basename "$proto" .proto)
	if ! protoc -I"$(dirname "$proto")" -I"$proto_root" -I/usr/include --include_imports \
		--descriptor_set_out="$tmp/$name.pb" "$proto"; then
		echo "FAIL $name: protoc failed"; fail=$((fail + 1)); return
	fi
	if "$routegen" "$tmp/$name.pb" "$tmp/$name.c" 2>"$tmp/$name.err"; then
		echo "FAIL $name: routegen accepted it"; fail=$((fail + 1)); return
	fi
	if grep -qF -- "$want" "$tmp/$name.err"; then
		echo "ok   $name: $(cat "$tmp/$name.err")"; pass=$((pass + 1))
	else
		echo "FAIL $name: message was: $(cat "$tmp/$name.err"), want: $want"; fail=$((fail + 1))
	fi
}

dir=$(dirname "$0")/testdata
expect_refusal "$dir/bad_field.proto" 'bad.v1.Things/GetThing: path variable "id": no field "id" in GetThingRequest'
expect_refusal "$dir/bad_body.proto" 'bad.v1.Things/MakeThing: body field "thing": no field "thing"'
expect_refusal "$dir/bad_rest.proto" '{field=**} must be the last segment'
expect_refusal "$dir/bad_get_body.proto" 'GET routes cannot have a body'
expect_refusal "$dir/bad_var_type.proto" 'path variable "inner" must be a singular scalar field'

if "$routegen" "$api_set" "$tmp/api.c" && grep -q 'kc_n_routes = ' "$tmp/api.c"; then
	echo "ok   the kc.v1 API generates"; pass=$((pass + 1))
else
	echo "FAIL the kc.v1 API does not generate"; fail=$((fail + 1))
fi

# --client: one kci_rpc per rpc, its primary binding as annotated.
if "$routegen" --client "$api_set" "$tmp/client.c" &&
	grep -q 'const struct kci_rpc kci_rpc_create_task = {' "$tmp/client.c" &&
	awk '/kci_rpc_create_task = \{/,/^};/' "$tmp/client.c" | grep -q '\.body_field = "\*"' &&
	awk '/kci_rpc_get_task = \{/,/^};/' "$tmp/client.c" | grep -q '\.path_template = "/api/claude/tasks/{task_id}"' &&
	awk '/kci_rpc_kill_task = \{/,/^};/' "$tmp/client.c" | grep -q '\.http_method = "DELETE"'; then
	echo "ok   the kc.v1 API generates the client's table"; pass=$((pass + 1))
else
	echo "FAIL the client's table"; fail=$((fail + 1))
fi
if "$routegen" --client "$tmp/bad_field.pb" "$tmp/bad_client.c" 2>/dev/null; then
	echo "FAIL --client accepted a bad annotation"; fail=$((fail + 1))
else
	echo "ok   --client refuses a bad annotation too"; pass=$((pass + 1))
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
