#!/usr/bin/env bash
# Installs libkcclient and kc from a Bazel build:
#
#   bazel build //client:dist && client/install.sh PREFIX=/usr/local
#
# PREFIX (default /usr/local) and DESTDIR (staging root, default none) may
# be given as NAME=value arguments or in the environment. Installs:
#   $PREFIX/lib/libkcclient.so.0 (+ libkcclient.so link), libkcclient.a
#   $PREFIX/lib/pkgconfig/kcclient.pc
#   $PREFIX/include/kc/client.h, kc/error.h
#   $PREFIX/bin/kc
#   $PREFIX/share/man/man1/kc.1
# BAZEL_BIN says where the built files are (default: bazel-bin next to
# this script's repository).
set -euo pipefail
for arg in "$@"; do
	case $arg in
	PREFIX=* | DESTDIR=* | BAZEL_BIN=*) export "${arg?}" ;;
	*)
		echo "usage: $0 [PREFIX=/usr/local] [DESTDIR=/stage] [BAZEL_BIN=dir]" >&2
		exit 1
		;;
	esac
done
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
PREFIX=${PREFIX:-/usr/local}
DESTDIR=${DESTDIR:-}
bin=${BAZEL_BIN:-$repo/bazel-bin}/client
version=$(sed -n 's/^#define KC_CLIENT_VERSION "\(.*\)"$/\1/p' "$here/include/kc/client.h")

for f in libkcclient.so libkcclient.a kc include/kc/error.h; do
	if [ ! -f "$bin/$f" ]; then
		echo "install.sh: $bin/$f is missing: run 'bazel build //client:dist' first" >&2
		exit 1
	fi
done

root=$DESTDIR$PREFIX
install -d "$root/lib/pkgconfig" "$root/include/kc" "$root/bin" "$root/share/man/man1"
install -m 0755 "$bin/libkcclient.so" "$root/lib/libkcclient.so.$version"
ln -sfn "libkcclient.so.$version" "$root/lib/libkcclient.so.0"
ln -sfn "libkcclient.so.0" "$root/lib/libkcclient.so"
install -m 0644 "$bin/libkcclient.a" "$root/lib/libkcclient.a"
install -m 0644 "$here/include/kc/client.h" "$root/include/kc/client.h"
install -m 0644 "$bin/include/kc/error.h" "$root/include/kc/error.h"
install -m 0755 "$bin/kc" "$root/bin/kc"
install -m 0644 "$here/kc.1" "$root/share/man/man1/kc.1"
sed -e "s|@PREFIX@|$PREFIX|" -e "s|@VERSION@|$version|" "$here/kcclient.pc.in" >"$root/lib/pkgconfig/kcclient.pc"
chmod 0644 "$root/lib/pkgconfig/kcclient.pc"
echo "installed libkcclient $version and kc under $root"
