#!/usr/bin/env bash
# `make pod-down`: stops and removes the local workspace pod. The home
# volume (tasks, the API token, the user's files) stays for the next
# `make pod` unless POD_DOWN_VOLUMES=1.
set -euo pipefail
. "$(dirname "$0")/common.sh"
play=$KC_POD_DIR/play.yaml
if [ -f "$play" ]; then
	podman kube down "$play" >/dev/null 2>&1 || true
fi
# Whatever the file no longer describes.
while pod=$(kc_pod) && [ -n "$pod" ]; do
	podman pod rm -f "$pod" >/dev/null
done
if [ "${POD_DOWN_VOLUMES:-0}" = 1 ]; then
	podman volume rm -f "$KC_POD_NAME-home" >/dev/null 2>&1 || true
	kc_say "pod $KC_POD_NAME removed with its home volume"
else
	kc_say "pod $KC_POD_NAME removed; home volume $KC_POD_NAME-home kept (POD_DOWN_VOLUMES=1 removes it)"
fi
