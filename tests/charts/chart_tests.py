#!/usr/bin/env python3
"""Chart tests: helm lint, helm template of every values file, and
assertions on the rendered objects (parsed YAML, never grep).

    chart_tests.py lint | deployments | variants | schema | provision | wrappers

Each suite prints one line per check and a closing "N passed, N failed".
Helm is ${KC_TOOLS_DIR:-/opt/kube-coder-tools}/bin/helm (tools/npm/install.sh).
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

from agent_host_checks import assert_agent_host, assert_agent_instructions, assert_no_agent_env_on_server
from testlib import Failed, HELM, check, source_root


# Containers whose root filesystem is read-only: they write only to mounted
# volumes. The IDE, terminal and browser are a person's tools and keep a
# writable root (charts/README.md says why).
READ_ONLY_ROOT = {"kc-server", "kc-gateway", "oauth2-proxy", "check"}
STD_LABELS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/managed-by",
    "app.kubernetes.io/part-of",
    "helm.sh/chart",
)


class Suite:
    def __init__(self, name):
        self.name = name
        self.passed = 0
        self.failed = 0

    def run(self, label, fn, *args):
        try:
            fn(*args)
        except Failed as e:
            self.failed += 1
            print(f"FAIL {label}: {e}", flush=True)
        except Exception as e:  # a crash in a check is a failure, not an abort
            self.failed += 1
            print(f"FAIL {label}: {type(e).__name__}: {e}", flush=True)
        else:
            self.passed += 1
            print(f"ok   {label}", flush=True)

    def finish(self):
        print(f"{self.name}: {self.passed} passed, {self.failed} failed", flush=True)
        return 0 if self.failed == 0 and self.passed > 0 else 1


# --- workspace tree and helm -------------------------------------------------


def make_tree():
    """Copies what the tests need out of Bazel's runfiles (symlinks) into a
    plain directory, laid out like the repository."""
    base = os.environ.get("TEST_TMPDIR") or tempfile.mkdtemp()
    tree = tempfile.mkdtemp(prefix="tree.", dir=base)
    src = source_root()
    for d in ("charts", "deployments", "templates"):
        shutil.copytree(os.path.join(src, d), os.path.join(tree, d),
                        ignore=shutil.ignore_patterns("BUILD", "BUILD.bazel"))
    os.makedirs(os.path.join(tree, "scripts"))
    for f in ("scripts/provision-user.sh", "config/kc.example.yaml"):
        os.makedirs(os.path.dirname(os.path.join(tree, f)), exist_ok=True)
        shutil.copy(os.path.join(src, f), os.path.join(tree, f))
    os.chmod(os.path.join(tree, "scripts/provision-user.sh"), 0o755)
    home = tempfile.mkdtemp(prefix="home.", dir=base)
    env = dict(os.environ, HOME=home,
               HELM_CACHE_HOME=os.path.join(home, "cache"),
               HELM_CONFIG_HOME=os.path.join(home, "config"),
               HELM_DATA_HOME=os.path.join(home, "data"))
    return tree, env


TREE, ENV = None, None


def helm(*args, ok=True):
    p = subprocess.run([HELM, *args], cwd=TREE, env=ENV, capture_output=True, text=True)
    if ok and p.returncode != 0:
        raise Failed(f"helm {' '.join(args)} exited {p.returncode}: {p.stderr.strip()}")
    return p


def render(chart, *value_files, sets=(), release="t", namespace="coder"):
    args = ["template", release, f"charts/{chart}", "-n", namespace]
    for f in value_files:
        args += ["-f", f]
    for s in sets:
        args += ["--set", s]
    out = helm(*args).stdout
    docs = [d for d in yaml.safe_load_all(out) if d]
    check(docs, f"{chart}: helm template rendered nothing")
    return docs


def values_of(*files, sets=()):
    """The effective values, for the assertions: chart defaults, then files,
    then --set (simple dotted keys only)."""
    def merge(a, b):
        for k, v in b.items():
            if isinstance(v, dict) and isinstance(a.get(k), dict):
                merge(a[k], v)
            else:
                a[k] = v
        return a
    vals = yaml.safe_load(open(os.path.join(TREE, "charts/workspace/values.yaml")))
    for f in files:
        merge(vals, yaml.safe_load(open(os.path.join(TREE, f))) or {})
    for s in sets:
        key, _, raw = s.partition("=")
        node = vals
        parts = key.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = yaml.safe_load(raw) if raw not in ("",) else ""
    return vals


def by_kind(docs, kind):
    return [d for d in docs if d.get("kind") == kind]


def one(docs, kind, name):
    found = [d for d in docs if d.get("kind") == kind and d["metadata"]["name"] == name]
    check(len(found) == 1, f"expected one {kind} {name}, found {len(found)}")
    return found[0]


def pod_specs(docs):
    """(owner name, pod spec) for every workload and bare pod."""
    out = []
    for d in docs:
        if d["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
            out.append((d["metadata"]["name"], d["spec"]["template"]["spec"]))
        elif d["kind"] == "Pod":
            out.append((d["metadata"]["name"], d["spec"]))
    return out


# --- assertions on one rendered workspace release ----------------------------


def assert_labels_and_namespace(docs, ns):
    for d in docs:
        md = d["metadata"]
        labels = md.get("labels") or {}
        for l in STD_LABELS:
            check(l in labels, f"{d['kind']} {md['name']} lacks label {l}")
        check(labels.get("app.kubernetes.io/managed-by") == "Helm", f"{md['name']}: managed-by")
        check(md.get("namespace") == ns, f"{d['kind']} {md['name']} in namespace {md.get('namespace')}, want {ns}")


def assert_security(docs, vals):
    specs = pod_specs(docs)
    check(specs, "no pod specs rendered")
    seen_dind = False
    for owner, spec in specs:
        psc = spec.get("securityContext") or {}
        check(psc.get("runAsNonRoot") is True, f"{owner}: pod runAsNonRoot")
        check(psc.get("runAsUser") == 1000, f"{owner}: pod runAsUser {psc.get('runAsUser')}")
        check((psc.get("seccompProfile") or {}).get("type") == "RuntimeDefault", f"{owner}: pod seccomp")
        check(spec.get("automountServiceAccountToken") is False or vals["serviceAccount"]["automountToken"],
              f"{owner}: service-account token mounted")
        for c in spec.get("initContainers", []) + spec["containers"]:
            where = f"{owner}/{c['name']}"
            sc = c.get("securityContext") or {}
            check(sc.get("runAsUser") == 1000, f"{where}: runAsUser {sc.get('runAsUser')}, want 1000")
            check(sc.get("runAsNonRoot") is True, f"{where}: runAsNonRoot")
            check("resources" in c and c["resources"].get("limits"), f"{where}: no resource limits")
            if c["name"] == "dind":
                # The documented exception: privileged dockerd, only when asked.
                check(vals["dind"]["enabled"], f"{where}: Docker-in-Docker rendered while dind.enabled is false")
                seen_dind = True
                continue
            check(sc.get("runAsGroup") == 1000, f"{where}: runAsGroup")
            check(sc.get("allowPrivilegeEscalation") is False, f"{where}: allowPrivilegeEscalation not false")
            check(not sc.get("privileged"), f"{where}: privileged")
            caps = sc.get("capabilities") or {}
            check(caps.get("drop") == ["ALL"], f"{where}: capabilities drop {caps.get('drop')}, want [ALL]")
            check(not caps.get("add"), f"{where}: adds capabilities {caps.get('add')}")
            check((sc.get("seccompProfile") or {}).get("type") == "RuntimeDefault", f"{where}: seccomp")
            if c["name"] in READ_ONLY_ROOT:
                check(sc.get("readOnlyRootFilesystem") is True, f"{where}: root filesystem not read-only")
    check(seen_dind == bool(vals["dind"]["enabled"]), f"dind container present={seen_dind}, enabled={vals['dind']['enabled']}")


def port_number(container, port):
    if isinstance(port, int):
        return port
    for p in container.get("ports", []):
        if p["name"] == port:
            return p["containerPort"]
    raise Failed(f"{container['name']}: probe names unknown port {port}")


def assert_workspace_pod(docs, vals):
    name = f"{vals['user']['name']}-workspace"
    dep = one(docs, "Deployment", name)
    spec = dep["spec"]["template"]["spec"]
    check(dep["spec"]["strategy"]["type"] == "Recreate", "workspace strategy must be Recreate (RWO home)")
    cs = {c["name"]: c for c in spec["containers"]}
    want = {"ide", "terminal", "agents", "kc-server", "kc-gateway", "oauth2-proxy"}
    if vals["browser"]["enabled"]:
        want.add("browser")
    if vals["dind"]["enabled"]:
        want.add("dind")
    check(set(cs) == want, f"containers {sorted(cs)}, want {sorted(want)}")

    gw = cs["kc-gateway"]
    for kind in ("livenessProbe", "readinessProbe"):
        pr = gw.get(kind) or {}
        hg = pr.get("httpGet") or {}
        check(hg.get("path") == "/healthz", f"kc-gateway {kind} path {hg.get('path')}, want /healthz")
        check(port_number(gw, hg.get("port")) == 6080, f"kc-gateway {kind} port")
    # The kubelet would send Host: <pod IP>, which the allow-list refuses.
    for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
        hdrs = {h["name"].lower(): h["value"] for h in ((gw.get(kind) or {}).get("httpGet") or {}).get("httpHeaders", [])}
        check(hdrs.get("host") == "localhost", f"kc-gateway {kind} must send Host: localhost, sends {hdrs}")
    check([p["containerPort"] for p in gw.get("ports", [])] == [6080], "kc-gateway exposes a port besides 6080")
    for c in spec["containers"]:
        for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
            hg = (c.get(kind) or {}).get("httpGet")
            if hg:
                check(hg["path"] in (("/ping",) if c["name"] == "oauth2-proxy" else ("/healthz",)), f"{c['name']} {kind} on {hg['path']}")
        if c["name"] != "dind":
            check(c.get("livenessProbe"), f"{c['name']}: no liveness probe")

    mounts = {c["name"]: {m["name"]: m for m in c.get("volumeMounts", [])} for c in spec["containers"]}
    vols = {v["name"]: v for v in spec["volumes"]}
    # The agents' tmux socket directory: the agents container serves it,
    # kc-server drives it, the terminal and IDE attach there.
    for c in ("agents", "kc-server", "terminal", "ide"):
        check(mounts[c].get("tmux", {}).get("mountPath") == "/tmp/kc-tmux", f"{c}: tmux socket dir not at /tmp/kc-tmux")
    check("emptyDir" in vols["tmux"], "tmux volume must be an emptyDir")
    # The identity listener's socket: an emptyDir only kc-gateway and
    # oauth2-proxy mount, so no other container (agents, IDE, terminal) can
    # speak to it, and no port to expose.
    check("emptyDir" in vols["oauth-sock"], "oauth-sock must be an emptyDir")
    users = sorted(c for c, ms in mounts.items() if "oauth-sock" in ms)
    check(users == ["kc-gateway", "oauth2-proxy"], f"oauth-sock mounted by {users}")
    sock_dir = mounts["kc-gateway"]["oauth-sock"]["mountPath"]
    check(mounts["oauth2-proxy"]["oauth-sock"]["mountPath"] == sock_dir, "oauth-sock at different paths")
    cm = one(docs, "ConfigMap", f"{name}-config")
    gcfg = yaml.safe_load(cm["data"]["kc.yaml"])["gateway"]
    check(gcfg["oauth_listen"] == f"unix:{sock_dir}/gateway.sock", f"oauth_listen {gcfg['oauth_listen']}")
    pargs = cs["oauth2-proxy"]["args"]
    ups = [a for a in pargs if a.startswith("--upstream=")]
    check(ups == [f"--upstream=unix://{sock_dir}/gateway.sock"], f"oauth2-proxy upstreams {ups}")
    check("--pass-user-headers=true" in pargs and "--pass-host-header=true" in pargs, "oauth2-proxy header passing")
    check(gcfg["oauth_user_header"] == "x-forwarded-user" and gcfg["oauth_email_header"] == "x-forwarded-email",
          "the gateway must read the headers oauth2-proxy sets (and strips): X-Forwarded-User/-Email")
    check("--cookie-samesite=lax" in pargs, "cookie SameSite (Strict breaks the GitHub callback in 7.6)")
    for c in ("kc-server", "kc-gateway"):
        check(mounts[c].get("kc-run", {}).get("mountPath") == "/run/kc", f"{c}: /run/kc not shared")
        cfg = mounts[c].get("config", {})
        check(cfg.get("mountPath") == "/etc/kube-coder/kc.yaml" and cfg.get("readOnly"), f"{c}: config mount")
        check(cs[c]["args"] == ["--config", "/etc/kube-coder/kc.yaml"], f"{c}: args {cs[c]['args']}")
    for c in ("ide", "terminal", "agents", "kc-server"):
        check(mounts[c].get("home", {}).get("mountPath") == "/home/coder", f"{c}: home not mounted")
    pvc_name = vols["home"]["persistentVolumeClaim"]["claimName"]
    pvc = one(docs, "PersistentVolumeClaim", pvc_name)
    check(pvc["spec"]["accessModes"] == ["ReadWriteOnce"], "PVC access mode")
    check(pvc["spec"]["resources"]["requests"]["storage"] == vals["user"]["pvcSize"], "PVC size")
    check(pvc["metadata"].get("annotations", {}).get("helm.sh/resource-policy") == "keep", "PVC must survive uninstall")

    # The terminal runs the entry script from the scripts ConfigMap.
    term = cs["terminal"]
    check(term["args"][-1] == "/opt/kube-coder/scripts/terminal-entry.sh", "terminal entry script")
    check("--base-path=/oauth/terminal" in term["args"], "ttyd base path")
    env = {e["name"]: e for e in term.get("env", [])}
    check(env["KC_TMUX_SOCKET"]["value"] == "/tmp/kc-tmux/default", "terminal tmux socket env")
    scripts = one(docs, "ConfigMap", vols["scripts"]["configMap"]["name"])
    check(scripts["data"]["terminal-entry.sh"].startswith("#!/bin/sh"), "terminal entry script content")

    # ANTHROPIC_API_KEY reaches the agents' container only, from a Secret.
    aenv = {e["name"]: e for e in cs["agents"].get("env", [])}
    has_key = bool(vals["claude"]["apiKey"] or vals["claude"]["existingSecret"])
    check(("ANTHROPIC_API_KEY" in aenv) == has_key, "ANTHROPIC_API_KEY env present iff a key is given")
    if has_key:
        check("secretKeyRef" in aenv["ANTHROPIC_API_KEY"]["valueFrom"], "ANTHROPIC_API_KEY not from a Secret")
    for c in spec["containers"]:
        for e in c.get("env", []):
            check(e["name"] != "ANTHROPIC_API_KEY" or c["name"] == "agents", f"{c['name']} gets the API key")

    # Services select the pod and name ports the containers have.
    labels = dep["spec"]["template"]["metadata"]["labels"]
    for svc in by_kind(docs, "Service"):
        sel = svc["spec"]["selector"]
        targets = [d for _, d in [(None, x) for x in by_kind(docs, "Deployment")]
                   if all(d["spec"]["template"]["metadata"]["labels"].get(k) == v for k, v in sel.items())]
        check(len(targets) == 1, f"Service {svc['metadata']['name']} selects {len(targets)} deployments")
        cports = {p["name"] for c in targets[0]["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])}
        for p in svc["spec"]["ports"]:
            check(p["targetPort"] in cports, f"Service {svc['metadata']['name']} port {p['name']} targets {p['targetPort']}")
    check(dep["spec"]["selector"]["matchLabels"].items() <= labels.items(), "deployment selector matches its pods")


def flat_keys(node, prefix=""):
    keys = set()
    if isinstance(node, dict):
        for k, v in node.items():
            keys.add(prefix + k)
            if k != "list":  # agents.list entries are checked separately
                keys |= flat_keys(v, prefix + k + ".")
    return keys


def assert_config(docs, vals):
    cm = one(docs, "ConfigMap", f"{vals['user']['name']}-workspace-config")
    cfg = yaml.safe_load(cm["data"]["kc.yaml"])
    example = yaml.safe_load(open(os.path.join(TREE, "config/kc.example.yaml")))
    extra = flat_keys(cfg) - flat_keys(example)
    check(not extra, f"kc.yaml has keys the config schema lacks: {sorted(extra)}")
    agent_keys = set().union(*(a.keys() for a in example["agents"]["list"]))
    for a in cfg["agents"]["list"]:
        check(set(a) <= agent_keys, f"agent keys {sorted(set(a) - agent_keys)} not in schema")
        check(isinstance(a["command"], list), "agent command must be an argv list")
    check(cfg["home"] == "/home/coder" and cfg["tasks_dir"] == "/home/coder/.claude-tasks", "home/tasks_dir")
    check(cfg["server"]["socket"] == "/run/kc/kc-server.sock", "server socket")
    check(cfg["gateway"]["upstream"] == "unix:" + cfg["server"]["socket"], "gateway upstream is the server socket")
    check(cfg["server"]["tmux_socket"].startswith("/tmp/kc-tmux/"), "tmux socket in the shared dir")
    check(cfg["server"]["terminal_marker"].startswith(cfg["tasks_dir"] + "/"), "terminal marker in tasks dir")
    check(cfg["gateway"]["listen"].endswith(":6080"), "gateway port")
    hosts = cfg["gateway"]["allowed_hosts"]
    name = f"{vals['user']['name']}-workspace"
    for h in ["localhost", "127.0.0.1", "::1", name, vals["user"]["host"]] + \
            list(vals["controlPlane"]["gateway"].get("allowedHosts") or []):
        check(h in hosts, f"allowed_hosts {hosts} lacks {h}")
    check(any(h.startswith(name + ".") and h.endswith(".svc") for h in hosts), "allowed_hosts lacks the Service's name")
    check(len(hosts) <= 16, "more allowed_hosts than kc-gateway takes")
    check(cfg["github_app"]["token_file"].startswith("/home/coder/"), "token file in home")
    grpc = vals["controlPlane"]["grpc"]
    check((cfg["server"]["grpc_listen"] != "") == bool(grpc["enabled"]), "grpc_listen iff grpc enabled")
    dep = one(docs, "Deployment", f"{vals['user']['name']}-workspace")
    server = [c for c in dep["spec"]["template"]["spec"]["containers"] if c["name"] == "kc-server"][0]
    keyfile = cfg["github_app"]["private_key_file"]
    if keyfile:
        m = [m for m in server["volumeMounts"] if keyfile.startswith(m["mountPath"] + "/")]
        check(m and m[0]["name"] == "github-app" and m[0].get("readOnly"), "GitHub App key not mounted read-only")
        vol = [v for v in dep["spec"]["template"]["spec"]["volumes"] if v["name"] == "github-app"][0]
        check("secret" in vol, "GitHub App key volume is not a Secret")
    else:
        check(all(m["name"] != "github-app" for m in server["volumeMounts"]), "GitHub App mount without config")


def annotations(ing):
    return ing["metadata"].get("annotations") or {}


def ns_of(obj):
    return obj["metadata"]["namespace"]


def assert_ingresses(docs, vals):
    name = f"{vals['user']['name']}-workspace"
    host = vals["user"]["host"]
    ings = {i["metadata"]["name"]: i for i in by_kind(docs, "Ingress")}
    services = {s["metadata"]["name"]: s for s in by_kind(docs, "Service")}
    routes = {}
    for iname, ing in ings.items():
        check(ing["spec"].get("ingressClassName") == vals["ingress"]["className"], f"{iname}: class")
        for k, v in (vals["ingress"].get("annotations") or {}).items():
            check(annotations(ing).get(k) == v, f"{iname}: extra annotation {k} missing")
        if vals["ingress"]["tls"]["enabled"]:
            check(ing["spec"].get("tls"), f"{iname}: no TLS")
        for rule in ing["spec"]["rules"]:
            for p in rule["http"]["paths"]:
                b = p["backend"]["service"]
                svc = services.get(b["name"])
                check(svc, f"{iname}: backend service {b['name']} missing")
                check(b["port"].get("name") in {sp["name"] for sp in svc["spec"]["ports"]},
                      f"{iname}: backend port {b['port']}")
                routes[p["path"]] = (iname, rule["host"], b)

    # TLS: one Secret for all, one Ingress (the main one) asks cert-manager
    # for it, naming every host any Ingress serves.
    if vals["ingress"]["tls"]["enabled"]:
        secret_names = {t["secretName"] for i in ings.values() for t in i["spec"]["tls"]}
        check(len(secret_names) == 1, f"TLS secrets {secret_names}")
        issuers = [n for n, i in ings.items() if "cert-manager.io/cluster-issuer" in annotations(i)]
        if vals["ingress"]["tls"]["clusterIssuer"]:
            check(issuers == [name], f"cert-manager annotation on {issuers}, want only {name}")
            all_hosts = {r["host"] for i in ings.values() for r in i["spec"]["rules"]}
            main_tls = set(ings[name]["spec"]["tls"][0]["hosts"])
            check(all_hosts <= main_tls, f"certificate hosts {main_tls} miss {all_hosts - main_tls}")
        for n, i in ings.items():
            hosts = {r["host"] for r in i["spec"]["rules"]}
            check(hosts <= set(i["spec"]["tls"][0]["hosts"]), f"{n}: hosts without TLS")
    else:
        check(all(not i["spec"].get("tls") for i in ings.values()), "TLS while disabled")

    # OAuth2. The dashboard and its API (/oauth) go to the oauth2-proxy
    # container's port; the proxy authenticates every request and forwards
    # to kc-gateway's identity listener. The other browser paths are behind
    # auth_request to that proxy.
    dep = one(docs, "Deployment", name)
    ccs = {c["name"]: c for c in dep["spec"]["template"]["spec"]["containers"]}
    svc = services[name]

    def target(b):
        """The container a backend reaches, through the Service's port."""
        sp = [p for p in svc["spec"]["ports"] if p["name"] == b["port"].get("name")][0]
        for cname, c in ccs.items():
            if any(p["name"] == sp["targetPort"] or p["containerPort"] == sp["targetPort"] for p in c.get("ports", [])):
                return cname, sp["targetPort"]
        raise Failed(f"service port {sp} reaches no container")

    for path in ("/oauth", "/oauth2", "/oauth/terminal", "/oauth/ide(/|$)(.*)"):
        check(path in routes, f"no ingress path {path}")
    if vals["browser"]["enabled"]:
        check("/oauth/browser(/|$)(.*)" in routes, "no browser path")
    check(target(routes["/oauth"][2])[0] == "oauth2-proxy", "/oauth must go to oauth2-proxy")
    check(target(routes["/oauth2"][2])[0] == "oauth2-proxy", "/oauth2 must go to oauth2-proxy")
    check("nginx.ingress.kubernetes.io/auth-url" not in annotations(ings[routes["/oauth2"][0]]),
          "/oauth2 itself must not require auth")
    for path, (iname, rhost, b) in routes.items():
        a = annotations(ings[iname])
        cname, _ = target(b)
        # kc-gateway is reached from outside only on its public port, for
        # the bearer API; browser paths reach it only through the proxy.
        if cname == "kc-gateway":
            check(path == "/api/claude", f"{path} ({iname}) reaches kc-gateway directly")
        if path.startswith("/oauth/") or path == "/oauth":
            check(rhost == host, f"{path} on host {rhost}")
            if cname != "oauth2-proxy":
                check(a.get("nginx.ingress.kubernetes.io/auth-url", "") ==
                      f"http://{name}.{ns_of(svc)}.svc.cluster.local:4180/oauth2/auth",
                      f"{path} ({iname}) is not behind OAuth2")
        check("auth-response-headers" not in " ".join(a), f"{path}: identity headers copied from auth_request")
    dash = annotations(ings[routes["/oauth"][0]])
    check(dash.get("nginx.ingress.kubernetes.io/proxy-buffering") == "off", "dashboard SSE would be buffered")
    check(not any("auth-url" in k for k in dash), "the dashboard ingress has its own auth_request")

    # Nothing exposes the identity listener: no Service port reaches a
    # kc-gateway port but 6080 (and the socket has no port at all).
    for s_ in by_kind(docs, "Service"):
        for p in s_["spec"]["ports"]:
            sel = s_["spec"]["selector"]
            if all(dep["spec"]["template"]["metadata"]["labels"].get(k) == v for k, v in sel.items()):
                cname, tp = target({"port": {"name": p["name"]}}) if s_ is svc else (None, None)
                if cname == "kc-gateway":
                    check(port_number(ccs["kc-gateway"], tp) == 6080, f"Service port {p['name']} reaches kc-gateway:{tp}")

    args = ccs["oauth2-proxy"]["args"]
    users = vals["oauth2"]["githubUsers"].replace(" ", "")
    check(f"--github-user={users}" in args, f"oauth2-proxy users: {args}")
    check("--provider=github" in args and "--set-xauthrequest=true" in args, "oauth2-proxy provider/xauthrequest")

    # The bearer-only API: no OAuth2, long timeouts, no buffering, identity
    # headers cleared.
    api = ings.get(f"{name}-api")
    if vals["ingress"]["api"]["enabled"]:
        check(api, "no bearer API ingress")
        a = annotations(api)
        for k in a:
            check(not re.search(r"auth-(url|signin|response-headers|snippet|method)", k), f"API ingress has {k}")
        paths = [p["path"] for r in api["spec"]["rules"] for p in r["http"]["paths"]]
        check(paths == ["/api/claude"], f"API ingress paths {paths}")
        check(int(a["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600, "API read timeout")
        check(int(a["nginx.ingress.kubernetes.io/proxy-send-timeout"]) >= 3600, "API send timeout")
        check(a.get("nginx.ingress.kubernetes.io/proxy-buffering") == "off", "API response buffering")
        check(a.get("nginx.ingress.kubernetes.io/proxy-request-buffering") == "off", "API request buffering")
        if vals["ingress"]["api"]["clearIdentityHeaders"]:
            snip = a.get("nginx.ingress.kubernetes.io/configuration-snippet", "")
            m = re.search(r"more_clear_input_headers\s+([^;]*);", snip)
            check(m, "API ingress does not clear input headers")
            cleared = re.findall(r'"([^"]+)"', m.group(1))
            for h in ("X-Auth-Request-User", "X-Auth-Request-Email", "X-Forwarded-User", "X-Forwarded-Email"):
                check(h in cleared, f"API ingress does not clear {h}")
    else:
        check(api is None, "API ingress rendered while disabled")

    grpc = ings.get(f"{name}-grpc")
    check(bool(grpc) == bool(vals["ingress"]["grpc"]["enabled"]), "gRPC ingress iff enabled")
    if grpc:
        a = annotations(grpc)
        check(a.get("nginx.ingress.kubernetes.io/backend-protocol") == "GRPC", "gRPC backend protocol")
        check(not any("auth-url" in k for k in a), "gRPC ingress behind OAuth2 (bearer only)")
        check(grpc["spec"]["rules"][0]["host"] == (vals["ingress"]["grpc"]["host"] or host), "gRPC host")


def assert_network_policy(docs, vals):
    pols = by_kind(docs, "NetworkPolicy")
    if not vals["networkPolicy"]["enabled"]:
        check(not pols, "NetworkPolicy rendered while disabled")
        return
    for dep in by_kind(docs, "Deployment"):
        labels = dep["spec"]["template"]["metadata"]["labels"]
        mine = [p for p in pols if p["spec"]["podSelector"]["matchLabels"].items() <= labels.items()]
        check(mine, f"no NetworkPolicy selects {dep['metadata']['name']}")
        for p in mine:
            check("Ingress" in p["spec"]["policyTypes"], "policy does not restrict ingress")
            sources = [f for rule in p["spec"]["ingress"] for f in rule["from"]]
            check(sources, "policy allows every source")
            for f in sources:
                # Either the ingress controller (namespace + pod selector) or
                # this release's own test pod.
                if "namespaceSelector" in f:
                    check(f.get("podSelector") == vals["networkPolicy"]["ingressController"]["podSelector"],
                          "namespace rule must also select the controller's pods")
                else:
                    check(f["podSelector"]["matchLabels"].get("app.kubernetes.io/component") == "test",
                          f"unexpected source {f}")


def assert_secrets(docs, vals):
    secrets = {s["metadata"]["name"]: s for s in by_kind(docs, "Secret")}
    name = f"{vals['user']['name']}-workspace"
    want = set()
    if vals["claude"]["apiKey"] and not vals["claude"]["existingSecret"]:
        want.add(f"{name}-claude")
    app = vals["github"]["app"]
    if app["privateKey"] and not app["existingSecret"]:
        want.add(f"{name}-github-app")
    o = vals["oauth2"]
    if o["clientID"] and o["clientSecret"] and o["cookieSecret"] and not o["existingSecret"]:
        want.add(f"{name}-oauth2")
    check(set(secrets) == want, f"Secrets {sorted(secrets)}, want {sorted(want)}")
    if f"{name}-claude" in secrets:
        check(secrets[f"{name}-claude"]["stringData"]["ANTHROPIC_API_KEY"] == vals["claude"]["apiKey"], "claude key")
    if f"{name}-github-app" in secrets:
        check("BEGIN" in secrets[f"{name}-github-app"]["stringData"]["private-key.pem"], "GitHub App key content")


def workspace_checks(suite, label, docs, vals, ns="coder"):
    suite.run(f"{label}: labels and namespace", assert_labels_and_namespace, docs, ns)
    suite.run(f"{label}: security contexts", assert_security, docs, vals)
    suite.run(f"{label}: workspace pod, probes, volumes, PVC", assert_workspace_pod, docs, vals)
    suite.run(f"{label}: control-plane config", assert_config, docs, vals)
    suite.run(f"{label}: agent host (agents container, image, mounts, env)", assert_agent_host, docs, vals)
    suite.run(f"{label}: no agent environment on kc-server", assert_no_agent_env_on_server, docs, vals)
    suite.run(f"{label}: agents' instructions (CLAUDE.md)", assert_agent_instructions, docs, vals)
    suite.run(f"{label}: ingresses (OAuth2, bearer API, gRPC)", assert_ingresses, docs, vals)
    suite.run(f"{label}: NetworkPolicy", assert_network_policy, docs, vals)
    suite.run(f"{label}: Secrets only when given", assert_secrets, docs, vals)


def deployment_files():
    d = os.path.join(TREE, "deployments")
    files = sorted(f"deployments/{u}/values.yaml" for u in os.listdir(d)
                   if os.path.isfile(os.path.join(d, u, "values.yaml")))
    check(len(files) >= 2, f"expected at least two example users, found {files}")
    return files


# --- suites ------------------------------------------------------------------


def suite_lint(s):
    s.run("helm lint --strict base-infrastructure", lambda: helm("lint", "--strict", "charts/base-infrastructure"))
    for f in deployment_files():
        s.run(f"helm lint --strict workspace -f {f}", lambda f=f: helm("lint", "--strict", "charts/workspace", "-f", f))


def suite_deployments(s):
    for f in deployment_files():
        vals = values_of(f)
        docs = []

        def rend(f=f):
            docs.extend(render("workspace", f, release=f"{vals['user']['name']}-workspace", namespace="other"))
        s.run(f"helm template workspace -f {f}", rend)
        if docs:
            workspace_checks(s, f, docs, vals, ns=vals.get("namespace") or "other")

    def base():
        docs = render("base-infrastructure", release="kube-coder-base")
        assert_labels_and_namespace(docs, "coder")
        cm = one(docs, "ConfigMap", "kube-coder-build-wrappers")
        for k in ("kaniko-build", "container-build"):
            check(cm["data"][k].startswith("#!/bin/sh"), f"wrapper {k}")
        role = one(docs, "Role", "kube-coder-kaniko-builder")
        res = {r for rule in role["rules"] for r in rule["resources"]}
        check(res <= {"pods", "pods/attach", "pods/log"}, f"kaniko Role grants {res}")
    s.run("base-infrastructure: wrappers ConfigMap and kaniko Role", base)


KEY = "-----BEGIN RSA PRIVATE KEY-----\nMIIfake\n-----END RSA PRIVATE KEY-----\n"


def suite_variants(s):
    base = ["user.name=jane", "user.host=jane.dev.example.com", "oauth2.githubUsers=jane\\,jdoe"]
    tmp = os.environ.get("TEST_TMPDIR") or tempfile.mkdtemp()

    def variant(label, extra_sets=(), files=(), expect_fail=None):
        sets = base + list(extra_sets)
        if expect_fail:
            def run():
                p = helm("template", "t", "charts/workspace", "-n", "coder",
                         *sum((["-f", f] for f in files), []), *sum((["--set", x] for x in sets), []), ok=False)
                check(p.returncode != 0, "helm template succeeded")
                check(expect_fail in p.stderr, f"error lacks '{expect_fail}': {p.stderr.strip()}")
            s.run(f"{label}: refused", run)
            return
        docs = []
        s.run(f"{label}: renders", lambda: docs.extend(render("workspace", *files, sets=sets)))
        if docs:
            vals = values_of(*files, sets=[x.replace("\\,", ",") for x in sets])
            workspace_checks(s, label, docs, vals)
        return docs

    variant("defaults, no secrets")
    # Secrets come from files like secrets/<user>/*.yaml.
    claude = os.path.join(tmp, "claude.yaml")
    with open(claude, "w") as fh:
        yaml.safe_dump({"claude": {"apiKey": "sk-ant-test"}}, fh)
    app = os.path.join(tmp, "github-app.yaml")
    with open(app, "w") as fh:
        yaml.safe_dump({"github": {"app": {"appId": "1234567", "installationId": "7654321", "privateKey": KEY}}}, fh)
    oauth = os.path.join(tmp, "oauth2.yaml")
    with open(oauth, "w") as fh:
        yaml.safe_dump({"oauth2": {"clientID": "id", "clientSecret": "secret", "cookieSecret": "0123456789abcdef0123456789abcdef"}}, fh)
    docs = variant("all secrets given", files=(claude, app, oauth))
    if docs:
        def cfg_ids():
            cm = one(docs, "ConfigMap", "jane-workspace-config")
            cfg = yaml.safe_load(cm["data"]["kc.yaml"])
            check(cfg["github_app"]["app_id"] == "1234567", "app_id in config")
            check(cfg["github_app"]["private_key_file"] == "/etc/kube-coder/github-app/private-key.pem", "key path")
        s.run("all secrets given: GitHub App ids in config", cfg_ids)
    extra = os.path.join(tmp, "annotations.yaml")
    with open(extra, "w") as fh:
        yaml.safe_dump({"ingress": {"annotations": {"example.com/team": "platform"}, "className": "nginx-internal"}}, fh)
    variant("extra ingress annotations and class", files=(extra,))
    variant("existing Secrets referenced", extra_sets=["claude.existingSecret=team-claude",
                                                       "oauth2.existingSecret=team-oauth2"])
    variant("dind enabled (documented exception)", extra_sets=["dind.enabled=true"])
    variant("agents' instructions off", extra_sets=["agentHost.instructions.enabled=false"])
    variant("agents' instructions with extra text",
            extra_sets=["agentHost.instructions.extra=Run make test before every commit."])

    def pull_secrets():
        docs = render("workspace", sets=base + ["imagePullSecrets[0].name=regcred"])
        for owner, spec in pod_specs(docs):
            check(spec.get("imagePullSecrets") == [{"name": "regcred"}], f"{owner}: no imagePullSecrets")
    s.run("imagePullSecrets reach every pod", pull_secrets)
    variant("browser off, network policy off, API ingress off",
            extra_sets=["browser.enabled=false", "networkPolicy.enabled=false", "ingress.api.enabled=false"])
    variant("gRPC on", extra_sets=["controlPlane.grpc.enabled=true", "ingress.grpc.enabled=true"])
    variant("no TLS, no header snippet", extra_sets=["ingress.tls.enabled=false", "ingress.api.clearIdentityHeaders=false"])
    variant("gRPC ingress without gRPC", extra_sets=["ingress.grpc.enabled=true"],
            expect_fail="ingress.grpc.enabled needs controlPlane.grpc.enabled")
    variant("GitHub App key without ids", extra_sets=["github.app.privateKey=x"],
            expect_fail="github.app.appId and github.app.installationId")
    variant("kaniko RBAC without a token", extra_sets=["buildWrappers.kanikoRBAC=true"],
            expect_fail="serviceAccount.automountToken")

    def kaniko_rbac():
        docs = render("workspace", sets=base + ["buildWrappers.kanikoRBAC=true", "serviceAccount.automountToken=true"])
        rb = one(docs, "RoleBinding", "jane-workspace-kaniko")
        check(rb["roleRef"]["name"] == "kube-coder-kaniko-builder", "role")
        check(rb["subjects"][0]["name"] == "jane-workspace", "subject")
    s.run("kaniko RBAC binding", kaniko_rbac)

    def notes():
        p = helm("install", "t", "charts/workspace", "-n", "coder", "--dry-run=client", *sum((["--set", x] for x in base), []))
        for want in ("https://jane.dev.example.com/oauth", "/oauth/ide/", "/oauth/terminal",
                     "/oauth/api/claude/auth/token", "cat /home/coder/.claude-tasks/.api-token"):
            check(want in p.stdout, f"NOTES lack {want}")
    s.run("NOTES.txt gives URLs and token instructions", notes)


BAD_NAMES = ["Bad_Name", "UPPER", "-lead", "trail-", "1digit", "a.b", "x" * 41, ""]


def suite_schema(s):
    ok_sets = {"user.host": "jane.dev.example.com", "oauth2.githubUsers": "jane", "user.name": "jane"}

    def tmpl(**over):
        sets = dict(ok_sets, **over)
        return helm("template", "t", "charts/workspace", *sum((["--set-string", f"{k}={v}"] for k, v in sets.items()), []),
                    ok=False)

    def good():
        p = tmpl()
        check(p.returncode == 0, p.stderr)
    s.run("schema accepts a good user", good)

    def longest():
        name = "a" + "-b" * 19 + "c"  # 40 characters, the schema's limit
        docs = render("workspace", sets=[f"user.name={name}", "user.host=x.example.com", "oauth2.githubUsers=x",
                                         "claude.apiKey=k", "github.app.appId=1", "github.app.installationId=2",
                                         "github.app.privateKey=k", "oauth2.clientID=i", "oauth2.clientSecret=s",
                                         "oauth2.cookieSecret=0123456789abcdef", "controlPlane.grpc.enabled=true",
                                         "ingress.grpc.enabled=true", "buildWrappers.kanikoRBAC=true",
                                         "serviceAccount.automountToken=true"])
        for d in docs:
            n = d["metadata"]["name"]
            check(len(n) <= 63 and re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", n), f"bad object name {n}")
    s.run("a 40-character user name keeps every object name a valid DNS label", longest)
    for bad in BAD_NAMES:
        def run(bad=bad):
            p = tmpl(**{"user.name": bad})
            check(p.returncode != 0, f"user.name={bad!r} accepted")
            check("/user/name" in p.stderr and "schema" in p.stderr, f"unclear message: {p.stderr.strip()}")
        s.run(f"schema rejects user.name={bad!r}", run)
    for key, bad in (("user.host", "Not_A_Host"), ("user.host", "nodots"), ("oauth2.githubUsers", "jane;rm"),
                     ("user.pvcSize", "lots"), ("controlPlane.logLevel", "chatty")):
        def run(key=key, bad=bad):
            p = tmpl(**{key: bad})
            check(p.returncode != 0, f"{key}={bad!r} accepted")
            check("/" + key.replace(".", "/") in p.stderr, f"message does not name {key}: {p.stderr.strip()}")
        s.run(f"schema rejects {key}={bad!r}", run)

    for key, bad in (("oauth2.githubUser", "githubUser"), ("user.hostname", "hostname"),
                     ("claude.apikey", "apikey"), ("imagee.tag", "imagee")):
        def run(key=key, bad=bad):
            p = tmpl(**{key: "x"})
            check(p.returncode != 0, f"unknown key {key} accepted")
            check("additional properties" in p.stderr and f"'{bad}'" in p.stderr,
                  f"message does not name {key}: {p.stderr.strip()}")
        s.run(f"schema rejects the misspelt key {key}", run)

    def missing():
        p = helm("template", "t", "charts/workspace", ok=False)
        check(p.returncode != 0 and "/user/name" in p.stderr, "empty values accepted")
    s.run("schema rejects a values file without a user", missing)


def suite_provision(s):
    script = os.path.join(TREE, "scripts/provision-user.sh")
    out = tempfile.mkdtemp(prefix="prov.", dir=os.environ.get("TEST_TMPDIR"))

    def prov(*args):
        return subprocess.run([script, "--dir", out, "--", *args], capture_output=True, text=True, env=ENV)

    full = 'Zoë "Z" O\'Hara & Co \\ Ltd'

    def good():
        p = prov("zoe", "zoe-oh,zoe_acme", full, "zoe.ohara+dev@example.co.uk", "dev.example.com")
        check(p.returncode == 0, f"exit {p.returncode}: {p.stderr}")
        f = os.path.join(out, "zoe/values.yaml")
        vals = yaml.safe_load(open(f))
        check(vals["user"]["name"] == "zoe" and vals["user"]["host"] == "zoe.dev.example.com", "user/host")
        env = {e["name"]: e["value"] for e in vals["user"]["env"]}
        check(env["GIT_USER_NAME"] == full, f"full name round trip: {env['GIT_USER_NAME']!r}")
        check(env["GIT_USER_EMAIL"] == "zoe.ohara+dev@example.co.uk", "email")
        check(vals["oauth2"]["githubUsers"] == "zoe-oh,zoe_acme", "github users")
        docs = render("workspace", f, release="zoe-workspace")
        workspace_checks(s, "provisioned zoe", docs, merged_values(f))
        l = helm("lint", "--strict", "charts/workspace", "-f", f)
        check(l.returncode == 0, "lint")
    s.run("provision a good user; output passes helm template", good)

    def again():
        p = prov("zoe", "zoe", "Zoe", "zoe@example.com", "dev.example.com")
        check(p.returncode == 1 and "already exists" in p.stderr, f"overwrote: {p.returncode} {p.stderr}")
        p = subprocess.run([script, "--force", "--dir", out, "zoe", "zoe", "Zoe", "zoe@example.com", "dev.example.com"],
                           capture_output=True, text=True)
        check(p.returncode == 0, "--force")
    s.run("refuses to overwrite without --force", again)

    bad = [
        (("Bad_Name", "g", "N", "a@example.com", "example.com"), "invalid NAME"),
        (("-x", "g", "N", "a@example.com", "example.com"), "invalid NAME"),
        (("x" * 41, "g", "N", "a@example.com", "example.com"), "invalid NAME"),
        (("ok", "g", "N", "not-an-email", "example.com"), "invalid EMAIL"),
        (("ok", "g", "N", "a@b", "example.com"), "invalid EMAIL"),
        (("ok", "g", "N", "a b@example.com", "example.com"), "invalid EMAIL"),
        (("ok", "g", "N", "a..b@example.com", "example.com"), "invalid EMAIL"),
        (("ok", "g", "N", "a@example.com", "Example.COM"), "invalid DOMAIN"),
        (("ok", "g", "N", "a@example.com", "nodots"), "invalid DOMAIN"),
        (("ok", "bad login!", "N", "a@example.com", "example.com"), "invalid GITHUB_USER"),
        (("ok", "a,,b", "N", "a@example.com", "example.com"), "invalid GITHUB_USER"),
        (("ok", "a,", "N", "a@example.com", "example.com"), "invalid GITHUB_USER"),
        (("ok", "", "N", "a@example.com", "example.com"), "invalid GITHUB_USER"),
        (("ok", "g", "two\nlines", "a@example.com", "example.com"), "invalid FULL NAME"),
        (("ok", "g", "  ", "a@example.com", "example.com"), "invalid FULL NAME"),
    ]
    for args, msg in bad:
        def run(args=args, msg=msg):
            p = prov(*args)
            check(p.returncode == 2, f"exit {p.returncode}, want 2")
            check(msg in p.stderr, f"message {p.stderr.strip()!r} lacks {msg!r}")
            check(not os.path.exists(os.path.join(out, args[0], "values.yaml")), "wrote a file anyway")
        s.run(f"refuses {args[:5]!r} ({msg})".replace("\n", "\\n"), run)

    def wrong_count():
        p = prov("only", "three", "args")
        check(p.returncode == 2 and "expected 5 arguments" in p.stderr, p.stderr)
    s.run("refuses a wrong argument count", wrong_count)


def merged_values(path):
    vals = values_of()
    def merge(a, b):
        for k, v in b.items():
            if isinstance(v, dict) and isinstance(a.get(k), dict):
                merge(a[k], v)
            else:
                a[k] = v
    merge(vals, yaml.safe_load(open(path)))
    return vals


def suite_wrappers(s):
    """container-build and kaniko-build against stand-in docker/kubectl."""
    wrappers = os.path.join(TREE, "charts/base-infrastructure/files")
    tmp = tempfile.mkdtemp(prefix="wrap.", dir=os.environ.get("TEST_TMPDIR"))
    bin_dir = os.path.join(tmp, "bin")
    os.makedirs(bin_dir)
    log = os.path.join(tmp, "calls")
    for tool in ("docker", "kubectl"):
        with open(os.path.join(bin_dir, tool), "w") as fh:
            fh.write('#!/bin/sh\n'
                     f'if [ "$1" = info ]; then [ -n "$FAKE_DOCKER_UP" ]; exit; fi\n'
                     f'printf "%s\\n" "{tool} $*" >> "{log}"\n'
                     'if [ "{tool}" = kubectl ]; then cat > "$FAKE_STDIN"; fi\n'.replace("{tool}", tool))
        os.chmod(os.path.join(bin_dir, tool), 0o755)
    ctx = os.path.join(tmp, "ctx")
    os.makedirs(ctx)
    open(os.path.join(ctx, "Dockerfile"), "w").write("FROM scratch\n")
    env = dict(os.environ, PATH=bin_dir + ":/usr/bin:/bin", FAKE_STDIN=os.path.join(tmp, "stdin.tgz"),
               KC_KANIKO_ENV=os.path.join(tmp, "none.env"))

    def run(*args, docker_up=False):
        if os.path.exists(log):
            os.remove(log)
        e = dict(env, FAKE_DOCKER_UP="1" if docker_up else "")
        p = subprocess.run([os.path.join(wrappers, "container-build"), *args], capture_output=True, text=True, env=e)
        calls = open(log).read().splitlines() if os.path.exists(log) else []
        return p, calls

    def docker_path():
        p, calls = run("-t", "r.example.com/me/app:1", "--push", ctx, docker_up=True)
        check(p.returncode == 0, p.stderr)
        check(calls == [f"docker build -t r.example.com/me/app:1 {ctx}", "docker push r.example.com/me/app:1"], calls)
    s.run("container-build uses Docker when a daemon answers", docker_path)

    def kaniko_path():
        p, calls = run("-t", "r.example.com/me/app:1", ctx)
        check(p.returncode == 0, p.stderr)
        check(len(calls) == 1 and calls[0].startswith("kubectl run kaniko-"), calls)
        check("--stdin" in calls[0] and "--restart=Never" in calls[0], calls)
        ov = calls[0].split("--overrides=", 1)[1]
        import json
        spec = json.loads(ov)["spec"]
        c = spec["containers"][0]
        check("--no-push" in c["args"] and "--destination=r.example.com/me/app:1" in c["args"], c["args"])
        check(c["securityContext"]["allowPrivilegeEscalation"] is False, "kaniko escalation")
        check(c["securityContext"]["capabilities"]["drop"] == ["ALL"], "kaniko caps")
        check(spec["automountServiceAccountToken"] is False, "kaniko token")
        with open(os.path.join(tmp, "stdin.tgz"), "rb") as fh:
            check(fh.read(2) == b"\x1f\x8b", "context not streamed as gzip tar")
    s.run("container-build falls back to kaniko, streaming the context", kaniko_path)

    def injection():
        p, calls = run("-t", 'x", "--evil', ctx)
        check(p.returncode == 2 and not calls, f"{p.returncode} {calls}")
    s.run("kaniko-build refuses quotes in values", injection)


SUITES = {
    "lint": suite_lint,
    "deployments": suite_deployments,
    "variants": suite_variants,
    "schema": suite_schema,
    "provision": suite_provision,
    "wrappers": suite_wrappers,
}


def main():
    global TREE, ENV
    if len(sys.argv) != 2 or sys.argv[1] not in SUITES:
        print(f"usage: {sys.argv[0]} {'|'.join(SUITES)}", file=sys.stderr)
        return 2
    if not os.access(HELM, os.X_OK):
        print(f"{sys.argv[1]}: 0 passed, 1 failed (no helm at {HELM}: run scripts/setup.sh)")
        return 1
    TREE, ENV = make_tree()
    s = Suite(f"charts {sys.argv[1]}")
    SUITES[sys.argv[1]](s)
    return s.finish()


if __name__ == "__main__":
    sys.exit(main())
