#!/usr/bin/env python3
"""Adapts what `helm template charts/workspace` renders to `podman kube play`
on one machine, and says on stderr every change it makes:

  kept        ConfigMap, Secret, PersistentVolumeClaim, Deployment
  dropped     every other kind (Service, Ingress, ServiceAccount, tests...):
              no cluster to give them meaning
  containers  --drop NAME removes a container whose program the local image
              lacks (the terminal: ttyd is left out of the local build);
              oauth2-proxy (no image here) is dropped, or with
              --oauth-standin FILE replaced by scripts/oauth-standin.py in the
              workspace image, on the same identity socket, loopback only
  probes      removed: podman turns them into systemd timers, which these
              machines do not run; written to --probes-out instead, where
              scripts/pod/probe.py runs them for `make pod` and tests/pod
  subPath     podman 4.3 mounts a ConfigMap volume whole even with subPath
              (kc.yaml became a directory): such a mount becomes a
              read-only hostPath file written under --files-dir
  ports       the gateway's http port and the gRPC port published on
              127.0.0.1 (--http-port, --grpc-port)
  --mount NAME=HOSTDIR:PATH  adds a read-only hostPath mount to the
              containers that run agents (tests/pod's fake agent)

    localize.py [options] < rendered.yaml > play.yaml
"""
import argparse
import json
import os
import sys

import yaml

KEEP = {"ConfigMap", "Secret", "PersistentVolumeClaim", "Deployment"}


def note(msg):
    print("localize: " + msg, file=sys.stderr)


def standin(pod, workspace_image, path, upstream):
    """oauth2-proxy's place, taken by the test's stand-in: same socket
    volume, the proxy's port on the pod's loopback."""
    sock_mount = next(m for m in pod_container(pod, "oauth2-proxy")["volumeMounts"] if m["name"] == "oauth-sock")
    pod["volumes"].append({"name": "oauth-standin", "hostPath": {"path": path, "type": "File"}})
    return {
        "name": "oauth-standin",
        "image": workspace_image,
        "command": ["/usr/bin/python3", "/opt/kube-coder/oauth-standin.py"],
        "args": ["--upstream", upstream, "--listen", "127.0.0.1:4180", "--user", "standin",
                 "--email", "standin@localhost", "--user-header", "X-Forwarded-User",
                 "--email-header", "X-Forwarded-Email"],
        "securityContext": pod_container(pod, "oauth2-proxy").get("securityContext", {}),
        "volumeMounts": [dict(sock_mount),
                         {"name": "oauth-standin", "mountPath": "/opt/kube-coder/oauth-standin.py", "readOnly": True}],
    }


def pod_container(pod, name):
    return next(c for c in pod["containers"] if c["name"] == name)


def subpath_to_file(pod, mount, args):
    vol = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    cm = vol.get("configMap")
    if not cm:
        sys.exit(f"localize: subPath of a {list(vol)} volume is not supported here")
    data = args.configmaps[cm["name"]][mount["subPath"]]
    os.makedirs(args.files_dir, exist_ok=True)
    path = os.path.join(args.files_dir, f"{cm['name']}-{mount['subPath']}")
    with open(path, "w") as fh:
        fh.write(data)
    name = f"{mount['name']}-{mount['subPath']}".replace(".", "-").replace("_", "-").lower()
    if not any(v["name"] == name for v in pod["volumes"]):
        pod["volumes"].append({"name": name, "hostPath": {"path": path, "type": "File"}})
    note(f"{mount['mountPath']}: subPath {mount['subPath']} of ConfigMap {cm['name']} mounted as the file {path}")
    mount["name"] = name
    del mount["subPath"]
    mount["readOnly"] = True


def localize_pod(pod, args):
    names = [c["name"] for c in pod["containers"]]
    # Where the agents run: the agents container (workspace image), or
    # kc-server's in a chart from before it existed.
    agent_host = "agents" if "agents" in names else "kc-server"
    workspace_image = next(c["image"] for c in pod["containers"] if c["name"] in ("ide", "terminal", "agents"))
    out = []
    for c in pod["containers"]:
        if c["name"] in args.drop:
            note(f"container {c['name']} dropped ({args.why.get(c['name'], 'not runnable here')})")
            continue
        if c["name"] == "oauth2-proxy":
            if args.oauth_standin:
                note("container oauth2-proxy replaced by scripts/oauth-standin.py (test only)")
                out.append(standin(pod, workspace_image, args.oauth_standin, args.oauth_listen))
            else:
                note("container oauth2-proxy dropped (no image here; the dashboard is reached with the API token)")
            continue
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            spec = c.pop(probe, None)
            if spec is not None:
                args.probes.append({"container": c["name"], "probe": probe, "spec": spec, "ports": c.get("ports", [])})
                note(f"{c['name']}: {probe} removed (podman would need systemd timers; scripts/pod/probe.py runs it)")
        for p in c.get("ports", []):
            host = {"http": args.http_port, "grpc": args.grpc_port}.get(p.get("name")) if c["name"] in ("kc-gateway", "kc-server") else None
            if host:
                p["hostPort"] = host
                p["hostIP"] = "127.0.0.1"
                note(f"{c['name']}: port {p['containerPort']} published on 127.0.0.1:{host}")
        for m in c.get("volumeMounts", []):
            if "subPath" in m:
                subpath_to_file(pod, m, args)
        if c["name"] == agent_host:
            for spec in args.mount:
                name, _, rest = spec.partition("=")
                host, _, path = rest.partition(":")
                c.setdefault("volumeMounts", []).append({"name": name, "mountPath": path, "readOnly": True})
                if not any(v["name"] == name for v in pod["volumes"]):
                    pod["volumes"].append({"name": name, "hostPath": {"path": host, "type": "Directory"}})
                note(f"{c['name']}: {host} mounted read-only at {path}")
        out.append(c)
    pod["containers"] = out
    if not out:
        sys.exit("localize: no container left")
    note("containers: " + ", ".join(c["name"] for c in out) + f" (of {', '.join(names)})")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--drop", action="append", default=[], help="NAME[=why]: a container to leave out")
    p.add_argument("--oauth-standin", help="path of scripts/oauth-standin.py (test only)")
    p.add_argument("--http-port", type=int, required=True)
    p.add_argument("--grpc-port", type=int, required=True)
    p.add_argument("--mount", action="append", default=[], help="NAME=HOSTDIR:PATH for the agents' container")
    p.add_argument("--files-dir", required=True, help="where ConfigMap keys mounted by subPath are written")
    p.add_argument("--probes-out", required=True, help="the removed probes, as JSON, for scripts/pod/probe.py")
    args = p.parse_args()
    args.why = {}
    args.probes = []
    drops = []
    for d in args.drop:
        name, _, why = d.partition("=")
        drops.append(name)
        if why:
            args.why[name] = why
    args.drop = set(drops)

    docs = [d for d in yaml.safe_load_all(sys.stdin) if d]
    # The gateway's identity listener, as the chart's kc.yaml names it.
    args.oauth_listen = next(yaml.safe_load(d["data"]["kc.yaml"])["gateway"]["oauth_listen"]
                             for d in docs if d.get("kind") == "ConfigMap" and "kc.yaml" in d.get("data", {}))
    args.configmaps = {d["metadata"]["name"]: d.get("data", {}) for d in docs if d.get("kind") == "ConfigMap"}
    kept = []
    for d in docs:
        if d.get("kind") not in KEEP:
            note(f"{d.get('kind')} {d['metadata']['name']} dropped (cluster object)")
            continue
        if d["kind"] == "Deployment":
            localize_pod(d["spec"]["template"]["spec"], args)
        kept.append(d)
    yaml.safe_dump_all(kept, sys.stdout, sort_keys=False)
    with open(args.probes_out, "w") as fh:
        json.dump(args.probes, fh, indent=1)


if __name__ == "__main__":
    main()
