#!/bin/sh
# Runs a Python test script from the runfiles tree with Debian's python3
# (python3-yaml), so the chart tests need no Bazel Python toolchain.
#   run_python.sh tests/charts/SCRIPT.py [ARGS...]
set -eu
root="${TEST_SRCDIR:?run under bazel test}/${TEST_WORKSPACE:-kube_coder}"
script=$1
shift
exec /usr/bin/python3 "$root/$script" "$@"
