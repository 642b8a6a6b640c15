#!/usr/bin/env bash
# `make run`: the control plane on this machine. Until kc-server and
# kc-gateway exist this only reports what was built.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "run-local: the API was built (bazel-bin/proto); kc-server and kc-gateway are not built yet." >&2
