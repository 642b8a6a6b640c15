"""Chart assertions for where agents run (issue 13): the `agents` container
is the agent host (workspace image, tmux server on the shared socket, the
agents' environment), kc-server is only its tmux client and carries no
agent environment, and the agents' instructions (CLAUDE.md) say what the
release enables. Used by chart_tests.py on every rendered variant."""

import yaml

from testlib import Failed, check

SOCKET = "/tmp/kc-tmux/default"
# What agents need and kc-server must not have: an agent's secrets and
# settings, the person's extra environment, the workspace's tools.
AGENT_ENV = {"ANTHROPIC_API_KEY", "GH_TOKEN", "GITHUB_TOKEN", "DISPLAY", "DOCKER_HOST", "SHELL"}


def _pod(docs, vals):
    name = f"{vals['user']['name']}-workspace"
    deps = [d for d in docs if d.get("kind") == "Deployment" and d["metadata"]["name"] == name]
    check(len(deps) == 1, f"expected one Deployment {name}")
    return deps[0]["spec"]["template"]["spec"]


def _containers(spec):
    return {c["name"]: c for c in spec["containers"]}


def _mounts(c):
    return {m["name"]: m for m in c.get("volumeMounts", [])}


def _env(c):
    return {e["name"]: e for e in c.get("env", [])}


def _kc_yaml(docs, vals):
    cm = [d for d in docs if d.get("kind") == "ConfigMap"
          and d["metadata"]["name"] == f"{vals['user']['name']}-workspace-config"]
    check(len(cm) == 1, "no control-plane ConfigMap")
    return yaml.safe_load(cm[0]["data"]["kc.yaml"])


def _scripts(docs, spec):
    vol = [v for v in spec["volumes"] if v["name"] == "scripts"]
    check(vol, "no scripts volume")
    name = vol[0]["configMap"]["name"]
    cm = [d for d in docs if d.get("kind") == "ConfigMap" and d["metadata"]["name"] == name]
    check(len(cm) == 1, f"no ConfigMap {name}")
    return cm[0]["data"]


def assert_agent_host(docs, vals):
    spec = _pod(docs, vals)
    cs = _containers(spec)
    check("agents" in cs, "no agents container")
    a = cs["agents"]
    ide = cs["ide"]
    # The workspace image: the same toolchain, uid and files as the IDE.
    check(a["image"] == ide["image"], f"agents image {a['image']}, want the workspace image {ide['image']}")
    check(a["image"] == f"{vals['image']['repository']}:{vals['image']['tag']}", "agents image from image.*")
    check(a.get("imagePullPolicy") == vals["image"]["pullPolicy"], "agents pull policy")
    # Main process: the entry script (instructions, then the tmux server)
    # under tini, from the scripts ConfigMap.
    check(a["command"] == ["/usr/bin/tini", "--", "/opt/kube-coder/scripts/agents-entry.sh"],
          f"agents command {a['command']}")
    entry = _scripts(docs, spec).get("agents-entry.sh", "")
    check(entry.startswith("#!/bin/sh"), "agents-entry.sh missing from the scripts ConfigMap")
    check('exec tmux -S "$sock" -D' in entry, "the entry script does not become a foreground tmux server")
    m = _mounts(a)
    check(m.get("home", {}).get("mountPath") == "/home/coder", "agents: home not at /home/coder")
    check(m.get("tmux", {}).get("mountPath") == "/tmp/kc-tmux", "agents: tmux socket dir not at /tmp/kc-tmux")
    check(m.get("scripts", {}).get("mountPath") == "/opt/kube-coder/scripts" and m["scripts"].get("readOnly"),
          "agents: scripts not mounted read-only")
    # Not kc-server's socket, nor the gateway's identity listener: agents
    # use the bearer API like any client.
    check("kc-run" not in m and "oauth-sock" not in m and "config" not in m and "github-app" not in m,
          f"agents mount control-plane volumes: {sorted(m)}")
    # The same workspace mounts as the IDE (home, build wrappers, docker).
    ide_ws = {k for k in _mounts(ide) if k != "tmux"}
    check(ide_ws <= set(m), f"agents lack the IDE's mounts {sorted(ide_ws - set(m))}")
    env = _env(a)
    check(env.get("KC_TMUX_SOCKET", {}).get("value") == SOCKET, "agents: KC_TMUX_SOCKET")
    check(env.get("HOME", {}).get("value") == "/home/coder", "agents: HOME")
    for e in ide.get("env", []):
        if e["name"] != "KC_TMUX_SOCKET":
            check(env.get(e["name"]) == e, f"agents lack the workspace env {e['name']}")
    if vals["browser"]["enabled"]:
        check(env.get("DISPLAY", {}).get("value") == ":1", "agents: DISPLAY of the remote browser")
        bm = _mounts(cs["browser"])
        check(m.get("x11", {}).get("mountPath") == "/tmp/.X11-unix" and
              bm.get("x11", {}).get("mountPath") == "/tmp/.X11-unix", "X socket dir not shared with the browser")
        vol = [v for v in spec["volumes"] if v["name"] == "x11"]
        check(vol and "emptyDir" in vol[0], "x11 must be an emptyDir")
    else:
        check("DISPLAY" not in env and "x11" not in m, "DISPLAY without the browser")
    if vals["dind"]["enabled"]:
        check(env.get("DOCKER_HOST", {}).get("value") == "unix:///run/docker/docker.sock", "agents: DOCKER_HOST")
    sc = a.get("securityContext") or {}
    check(sc.get("runAsUser") == 1000 and sc.get("allowPrivilegeEscalation") is False, "agents security context")
    check(a["resources"] == vals["agentHost"]["resources"], "agents resources from agentHost.resources")
    probe = (a.get("livenessProbe") or {}).get("exec", {}).get("command", [])
    check(probe[:3] == ["tmux", "-S", SOCKET] and "list-sessions" in probe,
          f"agents liveness must ask the tmux server (list-sessions never starts one): {probe}")
    # kc-server is the pure client of that server.
    cfg = _kc_yaml(docs, vals)
    check(cfg["server"].get("tmux_server") == "external", "kc.yaml: server.tmux_server must be external")
    check(cfg["server"]["tmux_socket"] == SOCKET, "kc.yaml: tmux_socket is not the agents' socket")
    check(_mounts(cs["kc-server"]).get("tmux", {}).get("mountPath") == "/tmp/kc-tmux", "kc-server: tmux dir")


def assert_no_agent_env_on_server(docs, vals):
    spec = _pod(docs, vals)
    server = _containers(spec)["kc-server"]
    env = _env(server)
    check(set(env) == {"HOME", "USER"}, f"kc-server env {sorted(env)}, want HOME and USER only")
    check(not (set(env) & AGENT_ENV), f"agent env on kc-server: {sorted(set(env) & AGENT_ENV)}")
    for e in vals["user"].get("env") or []:
        check(e["name"] not in env or e["name"] in ("HOME", "USER"), f"user.env {e['name']} on kc-server")
    check(not server.get("envFrom"), "kc-server has envFrom")
    m = _mounts(server)
    for name in ("build-wrappers", "docker", "scripts", "x11"):
        check(name not in m, f"kc-server mounts the agents' {name}")
    check("tini" in server["command"][0] and server["command"][-1] == "/usr/local/bin/kc-server",
          "kc-server command")


def assert_agent_instructions(docs, vals):
    spec = _pod(docs, vals)
    data = _scripts(docs, spec)
    ins = vals["agentHost"]["instructions"]
    if not ins["enabled"]:
        check("agent-instructions.md" not in data, "instructions rendered while disabled")
        return
    text = data.get("agent-instructions.md")
    check(text, "no agent-instructions.md in the scripts ConfigMap")
    entry = data["agents-entry.sh"]
    check("/opt/kube-coder/scripts/agent-instructions.md" in entry and ".claude/CLAUDE.md" in entry,
          "the entry script does not install the instructions as ~/.claude/CLAUDE.md")
    check("{{" not in text and "}}" not in text, "unrendered template in the instructions")
    check(vals["user"]["host"] in text, "the instructions do not name the workspace's host")
    for tool in ("gcc", "make", "gh", "git", "Go", "Python", "Node.js"):
        check(tool in text, f"the instructions do not mention {tool}")
    check("http://127.0.0.1:6080/api/claude/tasks" in text and ".api-token" in text, "the task API")
    check(("DISPLAY=:1" in text) == bool(vals["browser"]["enabled"]), "remote browser iff enabled")
    check(("DOCKER_HOST=" in text) == bool(vals["dind"]["enabled"]), "Docker iff dind enabled")
    extra = ins.get("extra") or ""
    if extra:
        check(text.rstrip().endswith(extra), "instructions.extra not appended")
    if "kube-coder: written by the workspace chart" not in text:
        raise Failed("the instructions lack their marker comment")
