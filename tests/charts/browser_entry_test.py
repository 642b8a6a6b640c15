#!/usr/bin/env python3
"""The remote browser's entry script (charts/workspace/files/browser-entry.sh)
with stand-in Xvfb, x11vnc, websockify and Firefox that record how they were
started: VNC only on loopback, noVNC on the chart's port, Firefox restarted
when closed, and the whole container exiting (so Kubernetes restarts it)
when a server dies, leaving no process behind.

    browser_entry_test.py    prints one line per check and "N passed, N failed"
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from testlib import Failed, check, source_root


SCRIPT = os.path.join(source_root(), "charts/workspace/files/browser-entry.sh")
TMP = tempfile.mkdtemp(prefix="kc-browser.", dir=os.environ.get("TEST_TMPDIR"))
BIN = os.path.join(TMP, "bin")
LOG = os.path.join(TMP, "log")
X11 = os.path.join(TMP, "x11")

FAKES = {
    # Xvfb makes its display socket, like the real one, then serves.
    "Xvfb": 'echo "Xvfb $*" >> "$LOG"; mkdir -p "$KC_X11_DIR"; : > "$KC_X11_DIR/X${1#:}"; '
            'echo $$ > "$TMPD/Xvfb.pid"; exec sleep 600',
    "x11vnc": 'echo "x11vnc $*" >> "$LOG"; echo $$ > "$TMPD/x11vnc.pid"; exec sleep 600',
    "websockify": 'echo "websockify $*" >> "$LOG"; echo $$ > "$TMPD/websockify.pid"; exec sleep 600',
    # Firefox "closed by the person" after a moment, every time.
    "firefox-esr": 'echo "firefox-esr $* DISPLAY=$DISPLAY" >> "$LOG"; sleep 0.2',
}


def log():
    return open(LOG).read().splitlines() if os.path.exists(LOG) else []


# Generous limits: the test is quick, but a loaded machine may stall any of
# these shell scripts for seconds (this test failed once under load).
def wait_for(pred, what, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return
        time.sleep(0.05)
    raise Failed("timed out waiting for " + what)


def read_pid(name):
    try:
        return int(open(os.path.join(TMP, name + ".pid")).read())
    except (OSError, ValueError):
        return None


def pid(name):
    """The fake's pid, once it has written it: a fake logs its start before
    it writes its pid file, so the file may still be missing or empty."""
    wait_for(lambda: read_pid(name) is not None, name + "'s pid file")
    return read_pid(name)


def alive(p):
    """Running, not a zombie waiting for its new parent to reap it."""
    try:
        with open(f"/proc/{p}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def main():
    os.makedirs(BIN)
    for name, body in FAKES.items():
        with open(os.path.join(BIN, name), "w") as fh:
            fh.write("#!/bin/sh\n" + body + "\n")
        os.chmod(os.path.join(BIN, name), 0o755)
    env = dict(os.environ, PATH=BIN + ":/usr/bin:/bin", LOG=LOG, TMPD=TMP, KC_X11_DIR=X11,
               HOME=TMP, KC_BROWSER_RESOLUTION="1280x720x24")
    proc = subprocess.Popen(["/bin/sh", SCRIPT], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    results = []

    def run(name, fn):
        try:
            fn()
        except Failed as e:
            results.append(False)
            print(f"FAIL {name}: {e}", flush=True)
        else:
            results.append(True)
            print(f"ok   {name}", flush=True)

    def started():
        # x11vnc and websockify start side by side: either may log first.
        for name in ("Xvfb", "x11vnc", "websockify"):
            wait_for(lambda: any(l.startswith(name + " ") for l in log()), name)
        lines = log()
        xvfb = [l for l in lines if l.startswith("Xvfb")][0].split()
        check(xvfb[1:] == [":1", "-screen", "0", "1280x720x24", "-nolisten", "tcp"], f"Xvfb {xvfb}")
        vnc = [l for l in lines if l.startswith("x11vnc")][0].split()
        check("-localhost" in vnc and vnc[vnc.index("-rfbport") + 1] == "5900", f"VNC not loopback-only: {vnc}")
        ws = [l for l in lines if l.startswith("websockify")][0].split()
        check(ws[1:] == ["--web", "/usr/share/novnc", "6081", "127.0.0.1:5900"], f"websockify {ws}")
        check(lines.index([l for l in lines if l.startswith("Xvfb")][0]) <
              lines.index([l for l in lines if l.startswith("x11vnc")][0]), "VNC started before the display")

    def firefox_restarts():
        wait_for(lambda: sum(l.startswith("firefox-esr") for l in log()) >= 2, "Firefox to be restarted")
        check(all("DISPLAY=:1" in l for l in log() if l.startswith("firefox-esr")), "Firefox not on the display")
        check(proc.poll() is None, "the container exited when Firefox closed")

    def exits_when_a_server_dies():
        others = [pid("Xvfb"), pid("x11vnc")]
        os.kill(pid("websockify"), signal.SIGKILL)
        try:
            rc = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            raise Failed("still running after websockify died")
        check(rc != 0, f"exit status {rc}, want non-zero so Kubernetes restarts it")
        wait_for(lambda: not any(alive(p) for p in others), "the other servers to be stopped")
        check("restarting the container" in proc.stderr.read(), "no message on exit")

    try:
        run("starts Xvfb, then VNC on loopback only, then noVNC on :6081", started)
        run("Firefox is restarted when closed; the container keeps running", firefox_restarts)
        run("a dead server ends the container (non-zero) and stops the rest", exits_when_a_server_dies)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        for name in ("Xvfb", "x11vnc", "websockify"):
            p = read_pid(name)
            if p is not None:
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass
        shutil.rmtree(TMP, ignore_errors=True)
    print(f"browser entry: {sum(results)} passed, {len(results) - sum(results)} failed")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
