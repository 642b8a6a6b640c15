#!/usr/bin/env bash
# The base image the Dockerfiles' FROM lines name, made here without a
# registry: scripts/bookworm-root.sh's minbase root, imported and tagged
# debian:bookworm and debian:bookworm-slim (the same root for both; slim
# only trims documentation). Kept until KC_POD_REFRESH_BASE=1: a new base
# invalidates every cached image layer above it.
set -euo pipefail
. "$(dirname "$0")/common.sh"

base=localhost/kube-coder-base:bookworm
tags=(docker.io/library/debian:bookworm docker.io/library/debian:bookworm-slim)
if [ "${KC_POD_REFRESH_BASE:-0}" = 1 ] || ! podman image exists "$base"; then
	tarball=$("$kc_root/scripts/bookworm-root.sh")
	kc_say "importing $tarball as $base"
	podman import --quiet \
		--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		--change 'CMD ["/bin/bash"]' \
		"$tarball" "$base" >/dev/null
fi
id=$(podman image inspect --format '{{.Id}}' "$base")
for t in "${tags[@]}"; do
	if [ "$(podman image inspect --format '{{.Id}}' "$t" 2>/dev/null || true)" != "$id" ]; then
		podman tag "$base" "$t"
	fi
done
