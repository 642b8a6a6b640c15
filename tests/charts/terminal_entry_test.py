#!/usr/bin/env python3
"""The web terminal's entry script (charts/workspace/files/terminal-entry.sh)
against real tmux servers on private sockets.

An "inner" tmux server plays the control plane's (the agents' sessions); an
"outer" one plays ttyd, giving the script a terminal. We write the marker
the way prepare-terminal does and check that the script attaches to the
named session (a client appears on it), claims the marker, falls back to a
shell when the session is gone, the marker is missing or malformed, and
never attaches by prefix.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time

from testlib import Failed, source_root


SCRIPT = os.path.join(source_root(), "charts/workspace/files/terminal-entry.sh")
# Unix socket paths must stay under 108 bytes: Bazel's TEST_TMPDIR is long.
TMP = tempfile.mkdtemp(prefix="kc-term.", dir="/tmp")
# Fresh sockets for every case, so a server still shutting down from the last
# case never meets the next one.
INNER = OUTER = None
TASKS = os.path.join(TMP, "tasks")
MARKER = os.path.join(TASKS, ".terminal-session")
SHELL = os.path.join(TMP, "fake-shell")
SESSION = "claude-1700000000-abcdef12"


def tmux(sock, *args, check=True):
    env = {k: v for k, v in os.environ.items() if k != "TMUX"}
    p = subprocess.run(["tmux", "-S", sock, "-f", "/dev/null", *args], capture_output=True, text=True, env=env)
    if check and p.returncode != 0:
        raise Failed(f"tmux {' '.join(args)}: {p.stderr.strip()}")
    return p


def wait_for(pred, what, timeout=10.0):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return
        time.sleep(0.05)
    raise Failed(f"timed out waiting for {what}")


def clients(session):
    p = tmux(INNER, "list-clients", "-F", "#{session_name}", check=False)
    return [l for l in p.stdout.splitlines() if l == session]


def pane(name):
    return tmux(OUTER, "capture-pane", "-p", "-t", name, check=False).stdout


def open_terminal(name):
    """Starts the entry script the way ttyd does, in a pane of the outer server."""
    cmd = ("env -u TMUX KC_TMUX_SOCKET={i} KC_TERMINAL_MARKER={m} SHELL={s} HOME={h} /bin/sh {script}"
           .format(i=INNER, m=MARKER, s=SHELL, h=TMP, script=SCRIPT))
    tmux(OUTER, "new-session", "-d", "-x", "120", "-y", "30", "-s", name, cmd)


def write_marker(text):
    with open(MARKER, "w") as fh:
        fh.write(text)


def leftovers():
    return [f for f in os.listdir(TASKS) if f.startswith(".terminal-session")]


def start_inner(*sessions):
    for s in sessions:
        tmux(INNER, "new-session", "-d", "-s", s, "sleep 600")


def reset(n=0):
    global INNER, OUTER
    if INNER:
        tmux(OUTER, "kill-server", check=False)
        tmux(INNER, "kill-server", check=False)
    INNER = os.path.join(TMP, f"inner{n}")
    OUTER = os.path.join(TMP, f"outer{n}")
    for f in leftovers():
        os.remove(os.path.join(TASKS, f))


def t_attach_then_shell():
    start_inner(SESSION, "other-session")
    write_marker(SESSION + "\n")
    open_terminal("t")
    wait_for(lambda: clients(SESSION), "a client attached to " + SESSION)
    if clients("other-session"):
        raise Failed("attached to the wrong session")
    if leftovers():
        raise Failed(f"marker not claimed: {leftovers()}")
    # The agent ends: the person is left in a shell, told what happened.
    tmux(INNER, "kill-session", "-t", "=" + SESSION)
    wait_for(lambda: "FALLBACK-SHELL-READY" in pane("t"), "the shell after the session ended")
    if "left task session " + SESSION not in pane("t"):
        raise Failed("no message after leaving the session: " + pane("t"))


def t_crlf_marker():
    start_inner(SESSION)
    write_marker(SESSION + "\r\n")
    open_terminal("t")
    wait_for(lambda: clients(SESSION), "attach with a CRLF marker")


def t_no_marker():
    start_inner(SESSION)
    open_terminal("t")
    wait_for(lambda: "FALLBACK-SHELL-READY" in pane("t"), "the fallback shell")
    if clients(SESSION):
        raise Failed("attached without a marker")


def t_stale_marker():
    start_inner("claude-other")
    write_marker(SESSION)
    open_terminal("t")
    wait_for(lambda: "FALLBACK-SHELL-READY" in pane("t"), "the fallback shell")
    if "no longer running" not in pane("t"):
        raise Failed("no message for an ended session: " + pane("t"))
    if leftovers():
        raise Failed("stale marker left behind")


def t_no_tmux_server():
    write_marker(SESSION)
    open_terminal("t")
    wait_for(lambda: "FALLBACK-SHELL-READY" in pane("t"), "the fallback shell with no tmux server")


def t_malformed_marker():
    start_inner(SESSION, "-t")
    # Each round kills its terminal session; a keeper session stops the outer
    # server from exiting in between (it exits when empty), so the next
    # round's new-session never meets a server on its way out.
    tmux(OUTER, "new-session", "-d", "-s", "keeper", "sleep 600")
    for bad in ("-t", "x; touch " + os.path.join(TMP, "pwned"), "$(touch " + os.path.join(TMP, "pwned") + ")"):
        write_marker(bad)
        open_terminal("m")
        wait_for(lambda: "FALLBACK-SHELL-READY" in pane("m"), f"the fallback shell for {bad!r}")
        if "malformed" not in pane("m"):
            raise Failed(f"no message for malformed marker {bad!r}")
        if clients(SESSION) or clients("-t"):
            raise Failed(f"attached with malformed marker {bad!r}")
        tmux(OUTER, "kill-session", "-t", "=m")
    if os.path.exists(os.path.join(TMP, "pwned")):
        raise Failed("marker content was executed")


def t_no_prefix_match():
    start_inner("claude-17000000001-abcdef12")
    write_marker("claude-1700000000")
    open_terminal("t")
    wait_for(lambda: "FALLBACK-SHELL-READY" in pane("t"), "the fallback shell")
    if clients("claude-17000000001-abcdef12"):
        raise Failed("attached to a session by prefix")


TESTS = [
    ("attaches to the marked session, then leaves a shell", t_attach_then_shell),
    ("marker with CRLF still attaches", t_crlf_marker),
    ("no marker: a login shell", t_no_marker),
    ("marker names an ended session: shell and a message", t_stale_marker),
    ("no tmux server at all: shell", t_no_tmux_server),
    ("malformed marker is ignored, never executed", t_malformed_marker),
    ("session names match exactly, never by prefix", t_no_prefix_match),
]


def main():
    if not shutil.which("tmux"):
        print("terminal entry: 0 passed, 1 failed (tmux not installed)")
        return 1
    os.makedirs(TASKS)
    with open(SHELL, "w") as fh:
        fh.write("#!/bin/sh\necho FALLBACK-SHELL-READY \"$@\"\nexec sleep 600\n")
    os.chmod(SHELL, 0o755)
    passed = failed = 0
    try:
        for n, (name, fn) in enumerate(TESTS):
            reset(n)
            try:
                fn()
            except Failed as e:
                failed += 1
                print(f"FAIL {name}: {e}", flush=True)
            else:
                passed += 1
                print(f"ok   {name}", flush=True)
    finally:
        reset()
        shutil.rmtree(TMP, ignore_errors=True)
    print(f"terminal entry: {passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
