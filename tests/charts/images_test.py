#!/usr/bin/env python3
"""The images cannot be built here (no container engine), so this test reads
them: it parses both Dockerfiles and checks them against each other and
against the workspace chart, so the chart never runs a program an image
lacks and the images keep their promises (non-root uid 1000, pinned bases,
checksummed downloads, the seed's stack).

    images_test.py      prints one line per check and "N passed, N failed"
"""

import os
import re
import subprocess
import sys
import tempfile
import shutil

import yaml

from testlib import Failed, HELM, check, source_root


ROOT = source_root()


def parse_dockerfile(path):
    """[(stage name, [(INSTRUCTION, text), ...]), ...] with continuation
    lines joined and comments dropped."""
    lines, cur = [], ""
    for raw in open(path):
        line = raw.rstrip("\n")
        if not cur and line.lstrip().startswith("#"):
            continue
        if line.lstrip().startswith("#"):
            continue
        if line.endswith("\\"):
            cur += line[:-1] + " "
            continue
        cur += line
        if cur.strip():
            lines.append(cur.strip())
        cur = ""
    stages = []
    for l in lines:
        ins, _, rest = l.partition(" ")
        ins = ins.upper()
        if ins == "FROM":
            m = re.match(r"(\S+)(?:\s+AS\s+(\S+))?", rest, re.I)
            stages.append({"from": m.group(1), "name": m.group(2) or str(len(stages)), "ins": []})
        elif stages:
            stages[-1]["ins"].append((ins, rest))
        else:
            stages.append({"from": None, "name": "preamble", "ins": [(ins, rest)]})
    return [s for s in stages if s["from"]], lines


def apt_packages(stage):
    pkgs = set()
    for ins, text in stage["ins"]:
        if ins != "RUN":
            continue
        for m in re.finditer(r"apt-get install ([^&;]*)", text):
            pkgs |= {w for w in m.group(1).split() if not w.startswith("-") and not w.startswith("$(") and "/" not in w}
    return pkgs


def runs(stage):
    return " ".join(t for i, t in stage["ins"] if i == "RUN")


def last_user(stages, name):
    """The USER in force at the end of stage `name`, following FROM <stage>."""
    by = {s["name"]: s for s in stages}
    s = by[name]
    users = [t for i, t in s["ins"] if i == "USER"]
    if users:
        return users[-1]
    if s["from"] in by:
        return last_user(stages, s["from"])
    return None


def rendered_workspace():
    tmp = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))
    chart = os.path.join(tmp, "workspace")
    shutil.copytree(os.path.join(ROOT, "charts/workspace"), chart)
    env = dict(os.environ, HOME=tmp, HELM_CACHE_HOME=tmp + "/c", HELM_CONFIG_HOME=tmp + "/f", HELM_DATA_HOME=tmp + "/d")
    p = subprocess.run([HELM, "template", "t", chart, "--set", "user.name=jane", "--set", "user.host=jane.example.com",
                        "--set", "oauth2.githubUsers=jane", "--set", "dind.enabled=true",
                        "--set", "controlPlane.grpc.enabled=true"], capture_output=True, text=True, env=env)
    check(p.returncode == 0, p.stderr)
    return [d for d in yaml.safe_load_all(p.stdout) if d]


CP, CP_LINES = parse_dockerfile(os.path.join(ROOT, "images/control-plane/Dockerfile"))
WS, WS_LINES = parse_dockerfile(os.path.join(ROOT, "images/workspace/Dockerfile"))
CP_BY = {s["name"]: s for s in CP}

# What each program the chart starts needs from its image: a Debian package
# or a path some instruction creates.
PROVIDES_WS = {
    "/usr/bin/tini": "tini", "code-server": "code-server", "ttyd": "/usr/local/bin/ttyd",
    "tmux": "tmux", "curl": "curl", "Xvfb": "xvfb", "x11vnc": "x11vnc", "websockify": "websockify",
    "firefox-esr": "firefox-esr", "/usr/share/novnc": "novnc", "/bin/sh": None, "/usr/bin/test": None,
}


def ws_has(what):
    need = PROVIDES_WS.get(what, what)
    if need is None:
        return True  # in every Debian base
    text = " ".join(WS_LINES)
    if need.startswith("/"):
        return need in text
    return need in apt_packages(WS[-1]) or re.search(rf"\b{re.escape(need)}_\$\{{", text) is not None


def from_default(stages, lines, stage):
    """A stage's base with `FROM ${ARG}` resolved to the ARG's default
    (declared before the first FROM, as Dockerfiles require)."""
    m = re.fullmatch(r"\$\{(\w+)\}", stage["from"])
    if not m:
        return stage["from"]
    first = next(i for i, l in enumerate(lines) if l.upper().startswith("FROM "))
    for l in lines[:first]:
        a = re.match(rf"ARG {m.group(1)}=(\S+)$", l)
        if a:
            return a.group(1)
    return None


def setup_dev_packages():
    """The -dev packages scripts/setup.sh installs for the build: the
    libraries the binaries link (several from their static archives)."""
    text = open(os.path.join(ROOT, "scripts", "setup.sh")).read()
    body = text[text.index("packages=("):]
    body = body[:body.index("# run:")]
    words = " ".join(l.split("#")[0] for l in body.splitlines()[1:]).split()
    return [w for w in words if w.endswith("-dev") and not w.startswith("libclang")]


def t_cp_stages():
    names = [s["name"] for s in CP]
    # No agents stage: agents run in the workspace image (the chart's agents container).
    check(names == ["build", "runtime"], f"stages {names}")
    check(CP[0]["from"].startswith("debian:bookworm"), "build stage is not Debian bookworm")
    check("bazel" in runs(CP_BY["build"]) and "//server:kc-server" in runs(CP_BY["build"])
          and "//gateway:kc-gateway" in runs(CP_BY["build"]), "build stage does not bazel build both binaries")
    build_pkgs = apt_packages(CP_BY["build"])
    for p in ("bazel-bootstrap", "bazel-platforms", "libgrpc-dev", "libprotobuf-c-dev", "protobuf-c-compiler",
              "libnghttp2-dev", "libssl-dev", "libcurl4-openssl-dev", "libyaml-dev"):
        check(p in build_pkgs, f"build stage lacks {p}")
    dev = setup_dev_packages()
    check(len(dev) >= 10, f"could not read the build packages of scripts/setup.sh: {dev}")
    for p in dev:
        check(p in build_pkgs, f"build stage lacks {p}, which scripts/setup.sh installs for the build")


def t_cp_runtime():
    rt = CP_BY["runtime"]
    pkgs = apt_packages(rt)
    for p in ("tmux", "git", "openssh-client", "ca-certificates", "tini"):
        check(p in pkgs, f"runtime lacks {p}")
    check("runtime-packages.txt" in runs(rt), "runtime does not install the binaries' library packages")
    copies = " ".join(t for i, t in rt["ins"] if i == "COPY")
    for path in ("/usr/local/bin/", "/usr/share/kube-coder/", "/etc/kube-coder/"):
        check(path in copies, f"runtime does not copy {path}")
    check("gateway/web /out/usr/share/kube-coder/web" in runs(CP_BY["build"]), "dashboard files not at /usr/share/kube-coder/web")
    check("apt-get install" not in runs(rt) or "build-essential" not in pkgs, "compilers in the runtime image")


def t_non_root():
    for stage in ("runtime",):
        check(last_user(CP, stage) == "1000:1000", f"control-plane {stage} runs as {last_user(CP, stage)}")
    check(CP[-1]["name"] == "runtime", "the default (last) control-plane stage is not runtime")
    check(last_user(WS, WS[-1]["name"]) == "1000:1000", "workspace image does not end as uid 1000")
    check(re.search(r"useradd --uid 1000 --gid 1000", runs(WS[-1])), "workspace user is not uid 1000")
    check(re.search(r"useradd --uid 1000 --gid 1000", runs(CP_BY["runtime"])), "control-plane user is not uid 1000")


def t_pinned():
    for name, stages, lines in (("control-plane", CP, CP_LINES), ("workspace", WS, WS_LINES)):
        for s in stages:
            base = s["from"]
            if base in {x["name"] for x in stages}:
                continue
            if base.startswith("${"):
                base = from_default(stages, lines, s)
                check(base is not None and not base.startswith("${"), f"{name}: {s['from']} has no default")
            check(":" in base and not base.endswith(":latest"), f"{name}: unpinned base {base}")
        args = {m.group(1): m.group(2) for l in lines for m in [re.match(r"ARG (\w+)=(\S*)", l)] if m}
        if "DEBIAN_IMAGE" in args:
            check(":" in args["DEBIAN_IMAGE"] and "latest" not in args["DEBIAN_IMAGE"], "unpinned DEBIAN_IMAGE")
        for l in lines:
            check("@latest" not in l, f"{name}: unpinned npm package in {l[:80]}")


def t_downloads_checked():
    for l in WS_LINES:
        if not l.startswith("RUN"):
            continue
        for m in re.finditer(r"curl -fsSLO \"([^\"]+)\"", l):
            url = m.group(1)
            check("sha256sum -c" in l, f"download without a checksum: {url}")
        check("curl" not in l or not re.search(r"\|\s*(sudo\s+)?(sh|bash)\b", l), f"pipes a download into a shell: {l[:80]}")


def t_seed_stack():
    text = " ".join(WS_LINES)
    args = {m.group(1): m.group(2) for l in WS_LINES for m in [re.match(r"ARG (\w+)=(\S*)", l)] if m}
    check(args.get("NODE_VERSION") == "20.19.4", "Node.js 20.19.4")
    check(args.get("YARN_VERSION") == "1.22.22", "Yarn 1.22.22")
    check(args.get("GO_VERSION", "").startswith("1.22."), "Go 1.22")
    check(from_default(WS, WS_LINES, WS[-1]).startswith("python:3.12"), "Python 3.12")
    # Real builds take the vendors' layers; KC_SOURCES=debian (scripts/pod)
    # is the local build's choice only.
    check(args.get("KC_SOURCES") == "vendor", f"KC_SOURCES defaults to {args.get('KC_SOURCES')}, not vendor")
    pkgs = apt_packages(WS[-1])
    for p in ("docker-ce-cli", "docker-compose-plugin", "make", "gcc", "kubectl", "gh", "curl", "jq", "tmux", "vim", "nano"):
        check(p in pkgs, f"workspace lacks {p}")
    check("@anthropic-ai/claude-code@${CLAUDE_CODE_VERSION}" in text, "Claude Code CLI")
    check(args.get("CLAUDE_CODE_VERSION"), "Claude Code unpinned")
    check(CLAUDE_CP() is None and "claude-code" not in " ".join(CP_LINES), "the control-plane image still installs an agent")
    copies = " ".join(t for i, t in WS[-1]["ins"] if i == "COPY")
    for src, dst in (("kc-git-credential", "/usr/local/bin/kc-git-credential"), ("gh-wrapper", "/usr/local/bin/gh"),
                     ("gitconfig", "/etc/gitconfig")):
        check(f"{src} {dst}" in copies, f"workspace image does not install {src} as {dst}")


def CLAUDE_CP():
    for l in CP_LINES:
        m = re.match(r"ARG CLAUDE_CODE_VERSION=(\S+)", l)
        if m:
            return m.group(1)
    return None


def t_chart_matches_images():
    docs = rendered_workspace()
    dep = [d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "jane-workspace"][0]
    cp_text = " ".join(CP_LINES)
    cp_pkgs = apt_packages(CP_BY["runtime"])
    for c in dep["spec"]["template"]["spec"]["containers"]:
        if c["name"] in ("dind", "oauth2-proxy"):
            continue  # third-party images, run by their own entrypoint
        progs = [c["command"][0]] + ([c["command"][2]] if c["command"][:2] == ["/usr/bin/tini", "--"] else [])
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            ex = (c.get(probe) or {}).get("exec")
            if ex:
                progs.append(ex["command"][0])
        for prog in progs:
            if prog.startswith("/opt/kube-coder/scripts/"):
                continue  # from the chart's ConfigMap
            if c["image"].startswith("kube-coder/control-plane"):
                ok = (prog == "/usr/bin/tini" and "tini" in cp_pkgs) or prog == "/usr/bin/test" or \
                     (prog.startswith("/usr/local/bin/") and f"/out{prog}" in cp_text)
            else:
                ok = ws_has(prog)
            check(ok, f"container {c['name']} runs {prog}, which its image ({c['image']}) lacks")
    # Programs the entry scripts call.
    for script, progs in (("browser-entry.sh", ["Xvfb", "x11vnc", "websockify", "firefox-esr", "/usr/share/novnc"]),
                          ("terminal-entry.sh", ["tmux"])):
        body = open(os.path.join(ROOT, "charts/workspace/files", script)).read()
        for p in progs:
            check(p in body, f"{script} no longer calls {p}: update this test")
            check(ws_has(p), f"{script} calls {p}, which the workspace image lacks")
    test_pod = [d for d in docs if d["kind"] == "Pod"][0]
    check("curl" in test_pod["spec"]["containers"][0]["args"][0] and ws_has("curl"), "helm test pod needs curl")


def t_git_identity():
    """The profile script sets git's identity once, never over the person's."""
    script = os.path.join(ROOT, "images/workspace/git-identity.sh")
    check(re.search(r"COPY git-identity.sh /etc/profile.d/\S+\.sh", " ".join(WS_LINES)), "not installed in profile.d")
    home = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))
    env = {"HOME": home, "PATH": "/usr/bin:/bin", "GIT_USER_NAME": "Zoë O'Hara", "GIT_USER_EMAIL": "zoe@example.com"}

    def git_get(key):
        return subprocess.run(["git", "config", "--global", key], env=env, capture_output=True, text=True).stdout.strip()
    subprocess.run(["/bin/sh", "-c", f". {script}"], env=env, check=True)
    check(git_get("user.name") == "Zoë O'Hara" and git_get("user.email") == "zoe@example.com", "identity not set")
    subprocess.run(["git", "config", "--global", "user.name", "Changed Later"], env=env, check=True)
    subprocess.run(["/bin/sh", "-c", f". {script}"], env=env, check=True)
    check(git_get("user.name") == "Changed Later", "profile script overrode the person's git config")


TESTS = [
    ("workspace git identity from values, set once", t_git_identity),
    ("control-plane: build stage builds both binaries with Bazel on bookworm", t_cp_stages),
    ("control-plane: slim runtime has tmux, git, ssh, tini, binaries, dashboard", t_cp_runtime),
    ("both images end as uid 1000", t_non_root),
    ("base images and packages are pinned", t_pinned),
    ("workspace downloads are checksummed, never piped to a shell", t_downloads_checked),
    ("workspace image has the seed's stack", t_seed_stack),
    ("every program the chart runs is in its image", t_chart_matches_images),
]


def main():
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
    print(f"images: {passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
