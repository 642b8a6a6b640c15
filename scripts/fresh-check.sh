#!/usr/bin/env bash
# Proves scripts/setup.sh complete: runs the README's quick start
# (scripts/fresh-check/run.sh: setup, then `make test`) in a brand-new
# Debian bookworm root, so a package that only the CI machine's history
# provides can never hide again.
#
#   root    scripts/bookworm-root.sh: mmdebstrap --variant=minbase bookworm,
#           cached as a tarball under $KC_FRESH_CACHE keyed by date
#   run     podman import, then podman run with a copy of this clone (its
#           tracked and untracked, not ignored, files) at /src; the caller's
#           tree is never written, bazel's output base lives in the container
#   podman  scripts/fresh-check/containers.conf through CONTAINERS_CONF
#
# Environment:
#   KC_FRESH_CACHE    tarball cache (default /var/tmp/kube-coder-fresh)
#   KC_EXTRA_CA_FILE  a PEM bundle npm inside the root trusts, for registries
#                     behind a TLS-inspecting proxy (default: the host's
#                     /etc/ssl/certs/ca-certificates.crt when present; set
#                     it empty to trust only Node's own roots)
#   KC_FRESH_MIRROR   Debian mirror (default http://deb.debian.org/debian)
#
# Installs what it needs on the host (podman, runc, mmdebstrap, uidmap,
# slirp4netns) from Debian's archive. Run as root or with sudo.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${KC_EXTRA_CA_FILE+set}" ] && [ -f /etc/ssl/certs/ca-certificates.crt ]; then
	KC_EXTRA_CA_FILE=/etc/ssl/certs/ca-certificates.crt
fi
ca=${KC_EXTRA_CA_FILE:-}
export CONTAINERS_CONF=$here/scripts/fresh-check/containers.conf

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo --preserve-env=CONTAINERS_CONF"
t0=$(date +%s)
say() { echo "fresh-check: $* ($(($(date +%s) - t0)) s)" >&2; }

host=(podman runc mmdebstrap uidmap slirp4netns)
missing=()
for p in "${host[@]}"; do
	[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" = "install ok installed" ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	say "installing ${missing[*]} on the host"
	$sudo apt-get update -q
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# The root: one tarball a day (scripts/bookworm-root.sh, shared with
# scripts/pod/).
tarball=$("$here/scripts/bookworm-root.sh")
image=localhost/kube-coder-fresh:$(basename "$tarball" .tar)
if ! $sudo podman image exists "$image"; then
	say "importing $tarball"
	$sudo podman import --quiet "$tarball" "$image" >/dev/null
	# Earlier days' images go, as their tarballs did.
	$sudo podman images --format '{{.Repository}}:{{.Tag}}' |
		grep '^localhost/kube-coder-fresh:' | grep -vxF "$image" |
		xargs -r $sudo podman rmi >/dev/null 2>&1 || true
fi

# A copy of the clone: what `git clone` plus the caller's uncommitted
# changes would give, without bazel-* links or anything ignored.
work=$(mktemp -d "${TMPDIR:-/var/tmp}/kc-fresh.XXXXXX")
name=kc-fresh-$$
cleanup() {
	$sudo podman rm -f "$name" >/dev/null 2>&1 || true
	$sudo rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir "$work/src"
(cd "$here" && git ls-files -z --cached --others --exclude-standard |
	tar --null --ignore-failed-read -T - -cf - 2>/dev/null) | tar -xf - -C "$work/src"

mounts=(-v "$work/src:/src:Z")
envs=()
if [ -n "$ca" ]; then
	mounts+=(-v "$ca:/etc/kube-coder/extra-ca.pem:ro")
	envs+=(-e KC_EXTRA_CA_FILE=/etc/kube-coder/extra-ca.pem)
fi
say "running the quick start in $image"
# The container gets its own network namespace (slirp4netns): the tests'
# loopback servers stay inside it.
$sudo podman run --name "$name" --rm \
	--network slirp4netns --hostname kc-fresh \
	"${mounts[@]}" "${envs[@]}" -w /src "$image" /src/scripts/fresh-check/run.sh
say "passed"
