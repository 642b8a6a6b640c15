#!/usr/bin/env bash
# Builds the images the local pod runs, with podman, from the same
# Dockerfiles a Docker user builds (images/*/Dockerfile), on the local base
# image (scripts/pod/base-image.sh) and without pulling anything
# (--pull=never). Layers stay in podman's store: a second run only rebuilds
# what changed.
#
#   kube-coder/control-plane:<appVersion>   images/control-plane (default stage)
#   kube-coder/workspace:<appVersion>       images/workspace with KC_SOURCES=debian
#
# The workspace image's vendor downloads (nodejs.org, go.dev, the Docker,
# Kubernetes and GitHub apt repositories, GitHub releases) are unreachable
# here, so it is built with KC_SOURCES=debian: the same tools from Debian's
# archive and npm. ttyd exists in neither: that layer is left out, and the
# terminal container cannot run (scripts/pod/localize.py drops it).
#
# Environment:
#   KC_EXTRA_CA_FILE  PEM bundle npm trusts inside the builds, for registries
#                     behind a TLS-inspecting proxy (build secret extra_ca;
#                     default: the host's /etc/ssl/certs/ca-certificates.crt
#                     when present; set it empty for none)
#   KC_POD_IMAGES     which to build (default "control-plane workspace")
set -euo pipefail
. "$(dirname "$0")/common.sh"

if [ -z "${KC_EXTRA_CA_FILE+set}" ] && [ -f /etc/ssl/certs/ca-certificates.crt ]; then
	KC_EXTRA_CA_FILE=/etc/ssl/certs/ca-certificates.crt
fi
secret=()
[ -z "${KC_EXTRA_CA_FILE:-}" ] || secret=(--secret "id=extra_ca,src=$KC_EXTRA_CA_FILE")

"$kc_root/scripts/pod/base-image.sh"

build() { # name dockerfile context [args...]
	local name=$1 file=$2 ctx=$3
	shift 3
	kc_say "building kube-coder/$name:$KC_IMAGE_TAG"
	local ignore=()
	[ ! -f "$file.dockerignore" ] || ignore=(--ignorefile "$file.dockerignore")
	podman build --pull=never --layers "${ignore[@]}" "${secret[@]}" \
		-f "$file" -t "kube-coder/$name:$KC_IMAGE_TAG" "$@" "$ctx"
	kc_say "built kube-coder/$name:$KC_IMAGE_TAG"
}

for img in ${KC_POD_IMAGES:-control-plane workspace}; do
	case $img in
	control-plane)
		build control-plane "$kc_root/images/control-plane/Dockerfile" "$kc_root" ;;
	workspace)
		echo "build-images.sh: notice: workspace image built with KC_SOURCES=debian:" \
			"Python, Go, Node.js and gh from Debian, Yarn from npm;" \
			"left out: ttyd (web terminal), code-server (IDE), Docker CLI, kubectl, Claude Code (vendor releases only)" >&2
		build workspace "$kc_root/images/workspace/Dockerfile" "$kc_root/images/workspace" \
			--build-arg KC_SOURCES=debian --build-arg BASE_IMAGE=debian:bookworm ;;
	*) kc_die "unknown image $img" ;;
	esac
done
