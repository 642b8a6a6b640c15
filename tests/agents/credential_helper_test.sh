#!/usr/bin/env bash
# The workspace image's GitHub credentials (images/workspace): real git
# reads the image's /etc/gitconfig (GIT_CONFIG_SYSTEM) and asks
# kc-git-credential, which reads the token file kc-server refreshes; the
# file is rotated mid-test the way kc-server writes it (a new file renamed
# over the old) and the next call gets the new token without restarting
# anything. The gh wrapper hands gh the same token as GH_TOKEN.
set -uo pipefail
source "$(pwd)/tests/lib/check.sh"
img=$(pwd)/images/workspace
check_tmpdir tmp kc-cred
export HOME=$tmp/home
mkdir -p "$HOME/.config/kube-coder"
token_file=$HOME/.config/kube-coder/github-token
# The image's system config, with the helper where this checkout has it.
sed "s#/usr/local/bin/kc-git-credential#$img/kc-git-credential#" "$img/gitconfig" >"$tmp/gitconfig"
check "the image's gitconfig names the helper for https://github.com" \
	grep -qx $'\thelper = /usr/local/bin/kc-git-credential' "$img/gitconfig"
export GIT_CONFIG_SYSTEM=$tmp/gitconfig GIT_CONFIG_GLOBAL=$tmp/global GIT_TERMINAL_PROMPT=0
: >"$GIT_CONFIG_GLOBAL"

# rotate TOKEN: how kc-server writes it (kc_write_file_atomic: temp + rename, 0600, no newline)
rotate() {
	printf '%s' "$1" >"$token_file.tmp" && chmod 600 "$token_file.tmp" && mv -f "$token_file.tmp" "$token_file"
}
fill() { printf 'protocol=%s\nhost=%s\npath=o/r.git\n\n' "$1" "$2" | git credential fill 2>/dev/null; }

rotate ghs_first
fill https github.com >"$tmp/out1"
check "git gets the installation token for https://github.com" grep -qx 'password=ghs_first' "$tmp/out1"
check "... as x-access-token" grep -qx 'username=x-access-token' "$tmp/out1"
rotate ghs_second
fill https github.com >"$tmp/out2"
check "a rotated token is used at once" grep -qx 'password=ghs_second' "$tmp/out2"
check "... and the old one no more" bash -c "! grep -q ghs_first '$tmp/out2'"
fill https example.com >"$tmp/out3"
check "another host gets no token" bash -c "! grep -q ghs_ '$tmp/out3'"
fill http github.com >"$tmp/out4"
check "plain http gets no token" bash -c "! grep -q ghs_ '$tmp/out4'"
# The helper itself refuses other hosts too, whatever a config says.
check "the helper alone refuses another host" \
	test -z "$(printf 'protocol=https\nhost=evil.example\n\n' | "$img/kc-git-credential" get)"
check "store and erase are ignored" \
	bash -c "printf 'protocol=https\nhost=github.com\nusername=u\npassword=p\n\n' | '$img/kc-git-credential' store && test \"\$(cat '$token_file')\" = ghs_second"
rm -f "$token_file"
fill https github.com >"$tmp/out5"
check "no token file: no answer (git goes on to the next helper or fails)" bash -c "! grep -q password= '$tmp/out5'"
printf '[credential "https://github.com"]\n\thelper = "!f() { echo username=me; echo password=own; }; f"\n' >"$GIT_CONFIG_GLOBAL"
fill https github.com >"$tmp/out6"
check "without a token a person's own helper answers" grep -qx 'password=own' "$tmp/out6"
rotate ghs_third
fill https github.com >"$tmp/out7"
check "with a token the image's helper answers first" grep -qx 'password=ghs_third' "$tmp/out7"

# ---- gh: GH_TOKEN from the same file ----
printf '#!/bin/sh\necho "GH_TOKEN=${GH_TOKEN:-<unset>} args=$*"\n' >"$tmp/real-gh"
chmod +x "$tmp/real-gh"
export KC_REAL_GH=$tmp/real-gh
check "gh gets the token as GH_TOKEN" test "$("$img/gh-wrapper" pr list)" = "GH_TOKEN=ghs_third args=pr list"
rotate ghs_fourth
check "gh gets a rotated token at once" test "$("$img/gh-wrapper" api user)" = "GH_TOKEN=ghs_fourth args=api user"
check "a GH_TOKEN already set wins" test "$(GH_TOKEN=mine "$img/gh-wrapper" x)" = "GH_TOKEN=mine args=x"
rm -f "$token_file"
check "no token file: gh's own login" test "$("$img/gh-wrapper" x)" = "GH_TOKEN=<unset> args=x"
# ---- ssh: GitHub's host key accepted on first use, checked after ----
if command -v ssh >/dev/null; then
	check "ssh to github.com accepts a new host key without a prompt" \
		bash -c "ssh -G -F '$img/ssh_config' github.com | grep -qx 'stricthostkeychecking accept-new'"
	check "... and only for github.com" \
		bash -c "! ssh -G -F '$img/ssh_config' example.com | grep -qx 'stricthostkeychecking accept-new'"
fi
check "the image installs the ssh setting" grep -q 'COPY ssh_config /etc/ssh/ssh_config.d/kube-coder.conf' "$img/Dockerfile"
check_summary
