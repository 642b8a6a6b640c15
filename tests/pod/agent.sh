#!/bin/sh
# tests/pod's agent: says what it finds where kc-server started it (the
# workspace's toolchain, or its absence), then becomes the scripted fake
# agent (tests/fake_agent). Mounted read-only into the pod at
# /opt/kc-tests (scripts/pod/localize.py --mount).
echo "kc-pod-agent: uid $(id -u) home $HOME"
go version 2>&1 || echo "kc-pod-agent: no go here"
gcc --version 2>&1 | head -n 1 || echo "kc-pod-agent: no gcc here"
exec python3 /opt/kc-tests/fake_agent/fake_agent.py "$@"
