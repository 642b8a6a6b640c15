#!/bin/sh
# kube-coder agent host: the `agents` container's main process (under tini).
#
# Installs the agent's instructions (Claude Code's ~/.claude/CLAUDE.md: where
# it runs, what it may use), then becomes a foreground tmux server on the
# socket shared with kc-server, the terminal and the IDE. kc-server creates
# the agents' sessions in it as a client; the agents get this container's
# environment (ANTHROPIC_API_KEY, DISPLAY ...), the workspace's toolchain and
# $HOME. If tmux exits, so does the container, and the kubelet restarts it.
#
# The instructions are the chart's until the person edits them: the file is
# written when absent, or when it is still byte-for-byte what this script
# wrote last time (its SHA-256 is kept next to it); an edited file, or a
# symlink, is left alone.
#
# Environment (defaults match the workspace chart's layout):
#   KC_TMUX_SOCKET             tmux server socket  /tmp/kc-tmux/default
#   KC_AGENT_INSTRUCTIONS      the chart's text    /opt/kube-coder/scripts/agent-instructions.md
#   KC_AGENT_INSTRUCTIONS_DEST where agents read it $HOME/.claude/CLAUDE.md
set -u

sock=${KC_TMUX_SOCKET:-/tmp/kc-tmux/default}
src=${KC_AGENT_INSTRUCTIONS:-/opt/kube-coder/scripts/agent-instructions.md}
dst=${KC_AGENT_INSTRUCTIONS_DEST:-${HOME:-/home/coder}/.claude/CLAUDE.md}
stamp=$dst.kube-coder.sha256

sum() { sha256sum <"$1" | cut -d' ' -f1; }

install_instructions() {
	[ -r "$src" ] || return 0
	if [ -L "$dst" ]; then
		echo "kube-coder: $dst is a symlink: left alone" >&2
		return 0
	fi
	if [ -e "$dst" ]; then
		if ! [ -f "$stamp" ] || [ "$(sum "$dst")" != "$(cat "$stamp")" ]; then
			echo "kube-coder: $dst was edited: kept" >&2
			return 0
		fi
		[ "$(sum "$dst")" = "$(sum "$src")" ] && return 0
	fi
	mkdir -p "$(dirname "$dst")" &&
		cp "$src" "$dst.tmp.$$" && mv -f "$dst.tmp.$$" "$dst" &&
		sum "$dst" >"$stamp" &&
		echo "kube-coder: wrote $dst" >&2
}

install_instructions
mkdir -p "$(dirname "$sock")"
exec tmux -S "$sock" -D
