#!/usr/bin/env python3
"""The agents container's entry script (charts/workspace/files/agents-entry.sh)
with real tmux: it installs the agents' instructions as ~/.claude/CLAUDE.md
(written when absent or still the chart's own, kept once the person edits
it), then becomes the foreground tmux server on the shared socket (the
same process: tini's child), whose environment the sessions get; after a
SIGKILL left a stale socket behind, a restart serves it again."""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from testlib import Failed, check, source_root

SCRIPT = os.path.join(source_root(), "charts/workspace/files/agents-entry.sh")
TMP = tempfile.mkdtemp(prefix="kc-agents.", dir="/tmp")
HOME = os.path.join(TMP, "home")
SOCK = os.path.join(TMP, "tmux", "default")
SRC = os.path.join(TMP, "agent-instructions.md")
DST = os.path.join(HOME, ".claude", "CLAUDE.md")


def tmux(*args, check_rc=True):
    env = {k: v for k, v in os.environ.items() if k != "TMUX"}
    p = subprocess.run(["tmux", "-S", SOCK, *args], capture_output=True, text=True, env=env)
    if check_rc and p.returncode != 0:
        raise Failed(f"tmux {' '.join(args)}: {p.stderr.strip()}")
    return p


def wait_for(pred, what, timeout=20.0):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return
        time.sleep(0.05)
    raise Failed(f"timed out waiting for {what}")


class Host:
    """The script as the container runs it, with its own environment."""

    def __init__(self, text, extra_env=None):
        with open(SRC, "w") as fh:
            fh.write(text)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": HOME, "KC_TMUX_SOCKET": SOCK,
               "KC_AGENT_INSTRUCTIONS": SRC, "LANG": "C.UTF-8"}
        env.update(extra_env or {})
        self.p = subprocess.Popen(["/bin/sh", SCRIPT], env=env, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        wait_for(lambda: tmux("list-sessions", "-F", "x", check_rc=False).returncode == 0, "the tmux server")

    def stop(self, sig=signal.SIGTERM):
        self.p.send_signal(sig)
        try:
            _, err = self.p.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            self.p.kill()
            raise Failed("the host did not stop")
        return err.decode()


def read(path):
    with open(path) as fh:
        return fh.read()


def test_fresh_home_written_and_server_is_the_process():
    h = Host("v1 instructions\n", {"HOST_ONLY": "from-the-host"})
    try:
        check(read(DST) == "v1 instructions\n", "CLAUDE.md not written into an empty home")
        pid = tmux("display-message", "-p", "#{pid}").stdout.strip()
        check(pid == str(h.p.pid), f"the tmux server is pid {pid}, not the entry script's {h.p.pid} (exec)")
        out = os.path.join(TMP, "env.txt")
        tmux("new-session", "-d", "-s", "probe", "--", "sh", "-c", f'echo "$HOST_ONLY" > {out}')
        wait_for(lambda: os.path.exists(out) and read(out).strip(), "the session's output")
        check(read(out).strip() == "from-the-host", "the session lacks the host's environment")
    finally:
        err = h.stop()
    check(h.p.returncode is not None, "host still running")
    check("wrote" in err, f"no log line for the write: {err!r}")


def test_unchanged_file_follows_the_chart():
    h = Host("v2 instructions\n")
    h.stop()
    check(read(DST) == "v2 instructions\n", "an unedited CLAUDE.md did not follow the chart")


def test_edited_file_is_kept():
    with open(DST, "a") as fh:
        fh.write("my own rule\n")
    h = Host("v3 instructions\n")
    err = h.stop()
    check(read(DST) == "v2 instructions\nmy own rule\n", "the person's edit was overwritten")
    check("edited" in err, f"no log line for the kept file: {err!r}")
    os.unlink(DST)
    h = Host("v3 instructions\n")
    h.stop()
    check(read(DST) == "v3 instructions\n", "a deleted CLAUDE.md did not come back")


def test_symlink_is_left_alone():
    mine = os.path.join(TMP, "mine.md")
    with open(mine, "w") as fh:
        fh.write("linked\n")
    os.unlink(DST)
    os.symlink(mine, DST)
    h = Host("v4 instructions\n")
    h.stop()
    check(os.path.islink(DST) and read(mine) == "linked\n", "the symlink or its target was replaced")
    os.unlink(DST)


def test_restart_after_kill_serves_the_stale_socket():
    h = Host("v5\n")
    h.stop(signal.SIGKILL)
    check(os.path.exists(SOCK), "expected the stale socket a SIGKILL leaves")
    check(tmux("list-sessions", check_rc=False).returncode != 0, "a killed server still answers")
    h = Host("v5\n")
    try:
        tmux("new-session", "-d", "-s", "after", "--", "sleep", "30")
        check(tmux("has-session", "-t", "=after", check_rc=False).returncode == 0, "no session after restart")
    finally:
        h.stop()


def main():
    passed = failed = 0
    os.makedirs(HOME)
    tests = [(n, f) for n, f in sorted(globals().items()) if n.startswith("test_")]
    # In the order written: each case builds on the last one's home.
    tests.sort(key=lambda nf: nf[1].__code__.co_firstlineno)
    try:
        for name, fn in tests:
            try:
                fn()
            except Failed as e:
                failed += 1
                print(f"FAIL {name}: {e}", flush=True)
            else:
                passed += 1
                print(f"ok   {name}", flush=True)
    finally:
        tmux("kill-server", check_rc=False)
        shutil.rmtree(TMP, ignore_errors=True)
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
