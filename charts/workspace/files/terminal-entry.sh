#!/bin/sh
# kube-coder web terminal entry: ttyd runs this for every browser tab.
#
# When the dashboard's "attach" called prepare-terminal, kc-server wrote the
# task's tmux session name into the marker file. We take that marker (it is
# meant for the next terminal only), attach to the session on the tmux
# socket the agents container serves, and when the person
# detaches or the agent ends, leave them in a normal shell. Without a
# usable marker the terminal is just a login shell.
#
# Environment (defaults match the workspace chart's layout):
#   KC_TMUX_SOCKET       tmux server socket   /tmp/kc-tmux/default
#   KC_TERMINAL_MARKER   marker file          /home/coder/.claude-tasks/.terminal-session
#   SHELL                the fallback shell   /bin/bash
set -u

sock=${KC_TMUX_SOCKET:-/tmp/kc-tmux/default}
marker=${KC_TERMINAL_MARKER:-/home/coder/.claude-tasks/.terminal-session}
shell=${SHELL:-/bin/bash}

session=""
if [ -f "$marker" ]; then
	# Claim the marker atomically: of two tabs opened at once, one attaches.
	claimed="$marker.$$"
	if mv "$marker" "$claimed" 2>/dev/null; then
		session=$(head -n 1 "$claimed" | tr -d '\r\n')
		rm -f "$claimed"
	fi
fi

# A session name is [A-Za-z0-9._-], not starting with '-': the name reaches
# tmux as an argument and must never read as an option.
case "$session" in
'') ;;
-* | *[!A-Za-z0-9._-]*)
	echo "kube-coder: ignoring a malformed terminal marker" >&2
	session=""
	;;
esac

if [ -n "$session" ]; then
	# "=name" matches the name exactly; tmux would otherwise accept a prefix
	# and attach "claude-1" to "claude-17...".
	if tmux -S "$sock" has-session -t "=$session" 2>/dev/null; then
		tmux -S "$sock" attach-session -t "=$session"
		echo "kube-coder: left task session $session; this is a normal shell now"
	else
		echo "kube-coder: task session $session is no longer running; opening a shell" >&2
	fi
fi

cd "${HOME:-/home/coder}" 2>/dev/null || true
exec "$shell" -l
