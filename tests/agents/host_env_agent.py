#!/usr/bin/python3
"""The fake agent (tests/fake_agent) behind a line that shows what the agent
host gave it: the variables the two-host test checks, one per line, then the
fake agent itself in the same process (exec), with the same arguments."""
import os
import sys

for name in ("HOST_ONLY", "ANTHROPIC_API_KEY", "DISPLAY", "KC_TASK_ID"):
    sys.stdout.write("env %s=%s\n" % (name, os.environ.get(name, "<unset>")))
sys.stdout.flush()
fake = os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", "fake_agent", "fake_agent.py")
os.execv("/usr/bin/python3", ["/usr/bin/python3", fake] + sys.argv[1:])
