#!/usr/bin/env python3
"""The deploy targets of the Makefile (mk/deploy.mk), run for real in a copy
of the tree with stand-in helm and kubectl that record their arguments:
secrets files are picked up only when present, unknown users are refused,
`make help` lists every target, lint/template run the real Helm 3 and
Helm 4, and each Helm's own flag parser accepts what the targets pass it.

    make_targets_test.py    prints one line per check and "N passed, N failed"
"""

import os
import shutil
import subprocess
import sys
import tempfile

from testlib import Failed, HELM, HELM3, check, source_root


BASE = os.environ.get("TEST_TMPDIR") or tempfile.mkdtemp()
TREE = tempfile.mkdtemp(prefix="make.", dir=BASE)
LOG = os.path.join(TREE, ".calls")
FAKE = os.path.join(BASE, "fakebin")
# A cluster that refuses every connection (a closed loopback port): real
# helm parses its flags, then fails to reach it. Nothing leaves the machine.
KUBECONFIG = os.path.join(BASE, "kubeconfig")
KUBECONFIG_TEXT = """apiVersion: v1
kind: Config
clusters: [{name: none, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: none, user: {token: none}}]
contexts: [{name: none, context: {cluster: none, user: none}}]
current-context: none
"""


def setup():
    with open(KUBECONFIG, "w") as fh:
        fh.write(KUBECONFIG_TEXT)
    src = source_root()
    for d in ("charts", "deployments", "templates", "mk"):
        shutil.copytree(os.path.join(src, d), os.path.join(TREE, d),
                        ignore=shutil.ignore_patterns("BUILD"))
    os.makedirs(os.path.join(TREE, "scripts"))
    shutil.copy(os.path.join(src, "Makefile"), TREE)
    shutil.copy(os.path.join(src, "scripts/provision-user.sh"), os.path.join(TREE, "scripts"))
    os.chmod(os.path.join(TREE, "scripts/provision-user.sh"), 0o755)
    os.makedirs(FAKE, exist_ok=True)
    for tool in ("helm", "kubectl", "engine"):
        with open(os.path.join(FAKE, tool), "w") as fh:
            # `helm version` answers FAKE_HELM_VERSION (default a Helm 4)
            # and is not recorded: the targets ask it before they deploy.
            fh.write("#!/bin/sh\n")
            if tool == "helm":
                fh.write('[ "$1" = version ] && { echo "${FAKE_HELM_VERSION:-v4.1.4}"; exit 0; }\n')
            fh.write(f'printf "%s\\n" "{tool} $*" >> "{LOG}"\n')
        os.chmod(os.path.join(FAKE, tool), 0o755)


def make(*args, fake=True, helm_version=None):
    if os.path.exists(LOG):
        os.remove(LOG)
    extra = [f"HELM={FAKE}/helm", f"KUBECTL={FAKE}/kubectl", f"ENGINE={FAKE}/engine"] if fake else []
    env = dict(os.environ, HOME=BASE, HELM_CACHE_HOME=BASE + "/hc", HELM_CONFIG_HOME=BASE + "/hf",
               HELM_DATA_HOME=BASE + "/hd", KUBECONFIG=KUBECONFIG)
    if helm_version:
        env["FAKE_HELM_VERSION"] = helm_version
    p = subprocess.run(["make", "--no-print-directory", "-C", TREE, *extra, *args],
                       capture_output=True, text=True, env=env)
    calls = open(LOG).read().splitlines() if os.path.exists(LOG) else []
    return p, calls


def users():
    return sorted(d for d in os.listdir(os.path.join(TREE, "deployments"))
                  if os.path.isfile(os.path.join(TREE, "deployments", d, "values.yaml")))


def t_help():
    p, _ = make("help")
    check(p.returncode == 0, p.stderr)
    listed = {l.split()[0] for l in p.stdout.splitlines() if l.strip()}
    for t in ("help", "deploy-base", "deploy-all", "deploy-%", "status", "test-%", "shell-%", "logs-%",
              "rollback-%", "version", "lint", "template", "provision", "images", "push", "test-all"):
        check(t in listed, f"make help does not list {t}")


def t_deploy_without_secrets():
    p, calls = make("deploy-imran")
    check(p.returncode == 0, p.stderr)
    check(len(calls) == 1, calls)
    argv = calls[0].split()
    check(argv[:5] == ["helm", "upgrade", "--install", "imran-workspace", "charts/workspace"], argv)
    check("-f deployments/imran/values.yaml" in calls[0], calls[0])
    check("secrets/" not in calls[0], f"secrets passed without files: {calls[0]}")
    check("-n coder" in calls[0], "namespace from the values file")
    check("--rollback-on-failure" in calls[0], "no rollback on failure")
    check("oauth2.yaml" in p.stdout, "no hint about the missing OAuth2 secret")


def t_deploy_with_secrets():
    d = os.path.join(TREE, "secrets", "imran")
    os.makedirs(d)
    for f in ("claude.yaml", "oauth2.yaml"):
        open(os.path.join(d, f), "w").write("{}\n")
    try:
        p, calls = make("deploy-imran")
        check(p.returncode == 0, p.stderr)
        check("-f secrets/imran/claude.yaml" in calls[0] and "-f secrets/imran/oauth2.yaml" in calls[0], calls[0])
        check("github-app" not in calls[0], "github-app.yaml passed though absent")
        # Values first, secrets after: secrets override.
        check(calls[0].index("deployments/imran") < calls[0].index("secrets/imran"), "order of -f files")
        p, calls = make("deploy-gerard")
        check("secrets/" not in calls[0], "another user's secrets leaked in")
    finally:
        shutil.rmtree(os.path.join(TREE, "secrets"))


def t_unknown_user():
    p, calls = make("deploy-nobody")
    check(p.returncode != 0, "deploy of an unknown user succeeded")
    check(not calls, f"ran {calls}")
    check("no deployments/nobody/values.yaml" in p.stderr and "imran" in p.stderr, p.stderr)
    for t in ("test-nobody", "shell-nobody", "logs-nobody", "rollback-nobody"):
        p, calls = make(t)
        check(p.returncode != 0 and not calls, f"{t} ran {calls}")


def t_deploy_all():
    p, calls = make("deploy-all")
    check(p.returncode == 0, p.stderr)
    check(calls and "kube-coder-base charts/base-infrastructure" in calls[0], f"base first: {calls[:1]}")
    deployed = sorted(c.split()[3] for c in calls[1:])
    check(deployed == [f"{u}-workspace" for u in users()], deployed)


def t_operate():
    p, calls = make("status")
    check(p.returncode == 0 and calls[0].startswith("helm list -n coder"), calls)
    check("-l app.kubernetes.io/part-of=kube-coder" in calls[1], calls)
    p, calls = make("test-imran")
    check(p.returncode == 0, p.stderr)
    check(any(c.startswith("helm test imran-workspace -n coder") for c in calls), calls)
    check(any("rollout status deployment/imran-workspace" in c for c in calls), calls)
    p, calls = make("shell-imran", "CONTAINER=kc-server")
    check(calls == ["kubectl -n coder exec -it deployment/imran-workspace -c kc-server -- bash -l"], calls)
    p, calls = make("logs-imran", "FOLLOW=1", "TAIL=50")
    check(calls == ["kubectl -n coder logs deployment/imran-workspace --all-containers --prefix --tail=50 -f"], calls)
    p, calls = make("rollback-imran", "REVISION=3")
    check(any(c.startswith("helm rollback imran-workspace 3 -n coder") for c in calls), calls)
    p, calls = make("rollback-imran")
    check(any(c.startswith("helm rollback imran-workspace  -n coder") or
              c.startswith("helm rollback imran-workspace -n coder") for c in calls), calls)


def t_test_all_and_push():
    p, calls = make("test-all")
    check(p.returncode == 0, p.stderr)
    tested = sorted({c.split()[2] for c in calls if c.startswith("helm test ")})
    check(tested == [f"{u}-workspace" for u in users()], f"test-all tested {tested}")
    p, calls = make("push", "IMAGE_PREFIX=registry.example/kc-", "IMAGE_TAG=9.9")
    check(p.returncode == 0, p.stderr)
    check(calls[-2:] == ["engine push registry.example/kc-control-plane:9.9",
                         "engine push registry.example/kc-workspace:9.9"], calls)
    check(sum(c.startswith("engine build ") for c in calls[:-2]) == 2, f"push did not build first: {calls}")


def t_version():
    p, _ = make("version")
    check(p.returncode == 0, p.stderr)
    check("chart       workspace 0.1.0" in p.stdout and "users" in p.stdout, p.stdout)


def t_lint_template_real_helm():
    for helm in (HELM, HELM3):
        shutil.rmtree(os.path.join(TREE, ".run"), ignore_errors=True)
        p, _ = make(f"HELM={helm}", "lint", fake=False)
        check(p.returncode == 0, f"{helm}: " + p.stdout + p.stderr)
        p, _ = make(f"HELM={helm}", "template", fake=False)
        check(p.returncode == 0, f"{helm}: " + p.stdout + p.stderr)
        for u in users():
            check(os.path.getsize(os.path.join(TREE, ".run/rendered", f"{u}.yaml")) > 1000, f"{helm}: {u} not rendered")


def t_flags_by_helm_version():
    spelling = {"3": {"wait": "--wait", "rollback": "--atomic"},
                "4": {"wait": "--wait=watcher", "rollback": "--rollback-on-failure"}}
    for version in ("v3.8.0", "v3.18.0", "v4.1.4"):
        want, other = spelling[version[1]], spelling["4" if version[1] == "3" else "3"]
        p, calls = make("deploy-all", helm_version=version)
        check(p.returncode == 0, p.stderr)
        base, users_ = calls[0].split(), [c.split() for c in calls[1:]]
        check(want["wait"] in base, f"Helm {version} base: {calls[0]}")
        check(users_ and all(want["rollback"] in u for u in users_), f"Helm {version}: {calls[1:]}")
        for c in calls:
            check(not set(other.values()) & set(c.split()) - set(want.values()), f"Helm {version}: {c}")
        p, calls = make("rollback-imran", helm_version=version)
        check(any(want["wait"] in c.split() for c in calls), f"Helm {version}: {calls}")
    for old in ("v3.7.2", "v2.17.0"):
        p, calls = make("deploy-imran", helm_version=old)
        check(p.returncode != 0 and not calls, f"Helm {old} was not refused: {calls}")
        check("needs Helm 3.8 or later" in p.stderr, p.stderr)


def t_real_helm_accepts_the_flags():
    # No cluster answers, so each run fails; what matters is how: a flag
    # the Helm does not know fails before it dials, with "unknown flag".
    for helm, major in ((HELM, "4"), (HELM3, "3")):
        v = subprocess.run([helm, "version", "--template", "{{.Version}}"], capture_output=True, text=True)
        check(v.stdout.startswith(f"v{major}."), f"{helm} is {v.stdout!r}, not Helm {major}")
        for target in ("deploy-base", "deploy-imran", "rollback-imran"):
            p, _ = make(f"HELM={helm}", f"KUBECTL={FAKE}/kubectl", "HELM_TIMEOUT=5s", target, fake=False)
            out = p.stdout + p.stderr
            check("unknown flag" not in out and "unknown shorthand" not in out, f"{helm} {target}: {out}")
            check(p.returncode != 0 and ("127.0.0.1:1" in out or "unreachable" in out),
                  f"{helm} {target} did not get as far as the cluster: {out}")


def t_provision():
    p, _ = make("provision", "NAME=kim", "GITHUB=kim-k", "FULLNAME=Kim K", "EMAIL=kim@example.com",
                "DOMAIN=dev.example.com")
    check(p.returncode == 0, p.stderr)
    check(os.path.exists(os.path.join(TREE, "deployments/kim/values.yaml")), "no values file")
    p, calls = make("deploy-kim")
    check(p.returncode == 0 and "kim-workspace" in calls[0], calls)
    p, _ = make("provision", "NAME=Bad", "GITHUB=x", "FULLNAME=x", "EMAIL=x@example.com", "DOMAIN=example.com")
    check(p.returncode != 0 and "invalid NAME" in p.stderr, p.stderr)


TESTS = [
    ("make help lists every deploy target", t_help),
    ("deploy-<user> without secrets files", t_deploy_without_secrets),
    ("deploy-<user> adds the secrets files present, after the values", t_deploy_with_secrets),
    ("unknown users are refused before helm runs", t_unknown_user),
    ("deploy-all: base first, then every user", t_deploy_all),
    ("status, test-, shell-, logs-, rollback-<user>", t_operate),
    ("test-all tests every user; push builds then pushes both images", t_test_all_and_push),
    ("version", t_version),
    ("lint and template with the real Helm 4 and Helm 3", t_lint_template_real_helm),
    ("deploy flags follow the Helm version; Helm < 3.8 refused", t_flags_by_helm_version),
    ("the real Helm 4 and Helm 3 accept the flags they are given", t_real_helm_accepts_the_flags),
    ("provision writes a user deploy-<user> can use", t_provision),
]


def main():
    if not shutil.which("make"):
        print("make targets: 0 passed, 1 failed (make not installed)")
        return 1
    setup()
    passed = failed = 0
    for name, fn in TESTS:
        try:
            fn()
        except Failed as e:
            failed += 1
            print(f"FAIL {name}: {e}", flush=True)
        else:
            passed += 1
            print(f"ok   {name}", flush=True)
    print(f"make targets: {passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
