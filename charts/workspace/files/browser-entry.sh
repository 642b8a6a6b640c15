#!/bin/sh
# kube-coder remote browser: Firefox on a virtual X display, served to the
# person's browser through noVNC (websockify on :6081 behind OAuth2).
#
# The VNC server listens on 127.0.0.1:5900 only, without a password: only
# containers of this pod reach it, and the pod's NetworkPolicy and the
# OAuth2 ingress guard the noVNC port. If any part dies the script exits,
# so Kubernetes restarts the container (Firefox alone is restarted in place:
# closing its last window must not end the browser).
set -u

display=${KC_DISPLAY:-:1}
resolution=${KC_BROWSER_RESOLUTION:-1600x900x24}
novnc=${KC_NOVNC_DIR:-/usr/share/novnc}
port=${KC_BROWSER_PORT:-6081}
x11_dir=${KC_X11_DIR:-/tmp/.X11-unix}

export DISPLAY="$display"
mkdir -p "${HOME:-/home/coder}/Downloads" 2>/dev/null || true

Xvfb "$display" -screen 0 "$resolution" -nolisten tcp &
xvfb=$!
# Wait for the display before the clients connect.
i=0
while [ ! -e "$x11_dir/X${display#:}" ] && [ $i -lt 50 ]; do
	sleep 0.1
	i=$((i + 1))
done

x11vnc -display "$display" -localhost -rfbport 5900 -forever -shared -nopw -quiet &
vnc=$!
websockify --web "$novnc" "$port" 127.0.0.1:5900 &
ws=$!
(while kill -0 "$xvfb" 2>/dev/null; do firefox-esr --no-remote; sleep 1; done) &

# POSIX sh has no `wait -n`: poll the three servers.
while kill -0 "$xvfb" 2>/dev/null && kill -0 "$vnc" 2>/dev/null && kill -0 "$ws" 2>/dev/null; do
	sleep 2
done
echo "kube-coder: a browser component exited; restarting the container" >&2
kill "$xvfb" "$vnc" "$ws" 2>/dev/null
exit 1
