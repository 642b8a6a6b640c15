#!/usr/bin/env bash
# Installs everything kube-coder's build, tests and local run need on a
# Debian bookworm machine, from Debian's packages and npm only. Idempotent:
# a second run with everything present installs nothing and asks no
# registry. Run as root or with sudo available.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)

packages=(
	# build (make runs the quick start; a minimal root has none)
	make bazel-bootstrap bazel-platforms build-essential clang libclang-rt-14-dev
	# `make format` and CI's format check
	clang-format
	# protoc's well-known types (google/protobuf/*.proto) are in
	# libprotobuf-dev, not in protobuf-compiler
	protobuf-compiler libprotobuf-dev protobuf-c-compiler libprotobuf-c-dev
	libgrpc-dev libnghttp2-dev libssl-dev libcurl4-openssl-dev libyaml-dev
	libjansson-dev libevent-dev libhttp-parser-dev
	# kc-server links gRPC core's dependencies from these packages' static
	# archives (third_party/system/BUILD); libgrpc-dev depends on them anyway
	libabsl-dev libre2-dev libc-ares-dev zlib1g-dev
	# run: agents live in tmux; workspace helpers spawn git and ssh-keygen
	tmux git openssh-client ca-certificates curl
	# tests: an independent gRPC client, HTTP/2 tools, JSON on the shell,
	# pkg-config (libkcclient's install test builds its example with it),
	# a headless browser, unzip for helm, pgrep (procps); zip and file for
	# bazel's test runner, which zips each test's outputs (the screenshots)
	libcmocka-dev python3 python3-grpcio python3-protobuf python3-yaml python3-cryptography nghttp2-client jq pkg-config
	chromium unzip procps zip file
	# the workspace pod (make pod, make test-pod) and scripts/fresh-check.sh:
	# podman with runc (crun refuses these machines' cgroup layout),
	# catatonit for the pod's infra container, mmdebstrap for the base
	# image (no registry), uidmap and slirp4netns for podman's networking
	podman runc catatonit mmdebstrap uidmap slirp4netns
)

# Node.js and npm for playwright-core and helm's npm package: Debian's
# unless the machine already has a Node.js that brings its own npm (such as
# NodeSource's, which conflicts with Debian's npm package). Bookworm's
# nodejs is 18, so tools/npm pins playwright-core 1.61, the last release
# whose engines allow Node 18 (1.62 and later want 20): one Node from Debian's
# archive, with Debian's security updates, rather than a second runtime
# from npm; playwright-core only speaks CDP to Debian's chromium, which
# older clients drive as well as new ones.
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

major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$major" -lt 18 ]; then
	echo "setup: Node.js $(node --version 2>/dev/null || echo missing) is too old: playwright-core needs 18 or later" >&2
	exit 1
fi

# Behind a TLS-inspecting proxy npm needs the proxy's CA: KC_EXTRA_CA_FILE
# names a PEM bundle to trust besides Node's own roots (none by default).
if [ -n "${KC_EXTRA_CA_FILE:-}" ]; then
	export NODE_EXTRA_CA_CERTS=$KC_EXTRA_CA_FILE npm_config_cafile=$KC_EXTRA_CA_FILE
fi

# npm tools pinned by tools/npm/package-lock.json: helm (inside the kubectl
# layer package) and playwright-core. `npm ci` only when the lock changed.
if [ -f "$here/tools/npm/package.json" ]; then
	"$here/tools/npm/install.sh"
fi
