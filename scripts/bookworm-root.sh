#!/usr/bin/env bash
# A Debian bookworm minbase root as a tarball, for the podman checks
# (scripts/fresh-check.sh, scripts/pod/): no registry needed, only Debian's
# archive. Prints the tarball's path on stdout.
#
#   mmdebstrap --variant=minbase bookworm (+ -updates, -security), cached
#   under $KC_FRESH_CACHE keyed by date: a day's later runs reuse it, a new
#   day (or an empty cache) builds anew and removes the older ones.
#
# Environment:
#   KC_FRESH_CACHE    tarball cache (default /var/tmp/kube-coder-fresh)
#   KC_FRESH_MIRROR   Debian mirror (default http://deb.debian.org/debian)
set -euo pipefail
cache=${KC_FRESH_CACHE:-/var/tmp/kube-coder-fresh}
mirror=${KC_FRESH_MIRROR:-http://deb.debian.org/debian}
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

$sudo mkdir -p "$cache"
tarball=$cache/bookworm-minbase-$(date -u +%Y%m%d).tar
if [ ! -s "$tarball" ]; then
	echo "bookworm-root: building a bookworm minbase root (about 40 s)" >&2
	$sudo find "$cache" -maxdepth 1 -name "bookworm-minbase-*" -delete
	$sudo mmdebstrap --variant=minbase --format=tar --quiet bookworm "$tarball.part" \
		"deb $mirror bookworm main" \
		"deb $mirror bookworm-updates main" \
		"deb ${mirror%/debian}/debian-security bookworm-security main"
	$sudo mv "$tarball.part" "$tarball"
fi
echo "$tarball"
