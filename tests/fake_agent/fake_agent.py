#!/usr/bin/python3
"""A scripted stand-in for an interactive coding agent (Claude Code & co).

Run in a tmux pane by kc-server in the tests. It behaves like an
interactive agent: prints a banner, turns on bracketed paste, shows its
input prompt `> ` at the start of a line when it is ready, and answers
each line it reads. Lines are commands:

  exit           say "bye" and exit 0 (the session ends: task completed)
  quiet          print "going quiet" and then nothing, ignoring input
  ask            ask a question and show the prompt again (waits for input)
  flood N        print N numbered lines, then the prompt
  fail           exit 3
  anything else  "echo: <line>", then the prompt

Options: --delay-ms N (or A-B, uniformly random in [A, B]) waits before
the first prompt; --never-ready never shows it (for the ready timeout);
--session-id X is printed; --timing-log FILE appends one line per event with
CLOCK_MONOTONIC (system-wide, so comparable with other processes) and
CLOCK_REALTIME in nanoseconds: "ready <mono> <real>" right after the prompt marker is written, and
"line <mono> <real>" when a complete input line arrives (the prompt benchmark
measures delivery latency from these).
"""
import os
import random
import sys
import termios
import time

BRACKET_START = "\x1b[200~"
BRACKET_END = "\x1b[201~"


def out(text):
    sys.stdout.write(text)
    sys.stdout.flush()


timing = None


def stamp(what):
    if timing is not None:
        timing.write("%s %d %d\n" % (what, time.clock_gettime_ns(time.CLOCK_MONOTONIC), time.time_ns()))
        timing.flush()


def prompt():
    out("> ")


def main():
    args = sys.argv[1:]
    global timing
    delay_ms = 0
    never_ready = False
    session = ""
    i = 0
    while i < len(args):
        if args[i] == "--delay-ms":
            lo, _, hi = args[i + 1].partition("-")
            delay_ms = random.randint(int(lo), int(hi)) if hi else int(lo)
            i += 1
        elif args[i] == "--timing-log":
            timing = open(args[i + 1], "a")
            i += 1
        elif args[i] == "--never-ready":
            never_ready = True
        elif args[i] == "--session-id":
            session = args[i + 1]
            i += 1
        i += 1
    out("Fake agent starting (session %s, cwd %s)\n" % (session, os.getcwd()))
    if never_ready:
        while True:
            time.sleep(3600)
    if delay_ms:
        time.sleep(delay_ms / 1000.0)
    out("\x1b[?2004h")
    # Like a real TUI agent, draw the input ourselves: the terminal's own
    # echo would show the bracketed-paste markers as "^[[200~".
    if sys.stdin.isatty():
        attrs = termios.tcgetattr(sys.stdin)
        attrs[3] &= ~termios.ECHO
        termios.tcsetattr(sys.stdin, termios.TCSANOW, attrs)
    out("Fake agent ready\n")
    prompt()
    stamp("ready")
    while True:
        raw = sys.stdin.readline()
        if not raw:
            break
        stamp("line")
        line = raw.replace(BRACKET_START, "").replace(BRACKET_END, "").rstrip("\r\n")
        out(line + "\n")
        cmd = line.strip()
        if cmd == "":
            prompt()
            continue
        if cmd == "exit":
            out("bye\n")
            return 0
        if cmd == "fail":
            out("failing\n")
            return 3
        if cmd == "quiet":
            out("going quiet\n")
            while True:
                time.sleep(3600)
        if cmd == "ask":
            out("Do you want to proceed? [y/n]\n")
            prompt()
            continue
        if cmd.startswith("flood "):
            out("".join("line %d\n" % n for n in range(int(cmd.split()[1]))))
            prompt()
            continue
        out("echo: %s\n" % line)
        prompt()
    return 0


if __name__ == "__main__":
    sys.exit(main())
