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

Options: --delay-ms N waits N ms before the first prompt; --never-ready
never shows it (for the ready timeout); --session-id X is printed.
"""
import os
import sys
import time

BRACKET_START = "\x1b[200~"
BRACKET_END = "\x1b[201~"


def out(text):
    sys.stdout.write(text)
    sys.stdout.flush()


def prompt():
    out("> ")


def main():
    args = sys.argv[1:]
    delay_ms = 0
    never_ready = False
    session = ""
    i = 0
    while i < len(args):
        if args[i] == "--delay-ms":
            delay_ms = int(args[i + 1])
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
    out("Fake agent ready\n")
    prompt()
    for raw in sys.stdin:
        line = raw.replace(BRACKET_START, "").replace(BRACKET_END, "").rstrip("\r\n")
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
            for n in range(int(cmd.split()[1])):
                out("line %d\n" % n)
            prompt()
            continue
        out("echo: %s\n" % line)
        prompt()
    return 0


if __name__ == "__main__":
    sys.exit(main())
