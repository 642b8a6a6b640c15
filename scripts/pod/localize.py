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
  ConfigMaps  podman 4.3 mounts a ConfigMap volume without its defaultMode
              (the entry scripts lost their execute bit) and whole even
              with subPath (kc.yaml became a directory): each ConfigMap
              volume becomes a hostPath directory written under --files-dir
              with the volume's modes, a subPath mount a hostPath file
  volumes     a PVC whose podman volume already exists (--existing-volume:
              the home kept by `make pod-down`) is left out, so kube play
              mounts the volume instead of refusing to create it again
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


def configmaps_to_files(pod, args):
    """Every ConfigMap volume becomes a hostPath directory of its keys,
    written under --files-dir with the volume's defaultMode; a subPath
    mount becomes a hostPath file."""
    by_name = {}
    for v in list(pod["volumes"]):
        cm = v.get("configMap")
        if not cm:
            continue
        data = args.configmaps.get(cm["name"])
        if data is None:
            if not cm.get("optional"):
                sys.exit(f"localize: ConfigMap {cm['name']} is not in the chart's output")
            pod["volumes"].remove(v)
            note(f"volume {v['name']}: optional ConfigMap {cm['name']} absent, left out")
            continue
        d = os.path.join(args.files_dir, cm["name"])
        os.makedirs(d, exist_ok=True)
        items = cm.get("items") or [{"key": k, "path": k} for k in data]
        for it in items:
            path = os.path.join(d, it["path"])
            with open(path, "w") as fh:
                fh.write(data[it["key"]])
            os.chmod(path, it.get("mode", cm.get("defaultMode", 0o644)))
        v.pop("configMap")
        v["hostPath"] = {"path": d, "type": "Directory"}
        by_name[v["name"]] = d
        note(f"volume {v['name']}: ConfigMap {cm['name']} written to {d} (mode {oct(cm.get('defaultMode', 0o644))})")
    for c in pod["containers"]:
        mounts = []
        for m in c.get("volumeMounts", []):
            if m["name"] not in by_name and not any(v["name"] == m["name"] for v in pod["volumes"]):
                continue  # its optional volume was left out
            if "subPath" in m and m["name"] in by_name:
                name = f"{m['name']}-{m['subPath']}".replace(".", "-").replace("_", "-").lower()
                if not any(v["name"] == name for v in pod["volumes"]):
                    pod["volumes"].append({"name": name, "hostPath": {
                        "path": os.path.join(by_name[m["name"]], m["subPath"]), "type": "File"}})
                note(f"{c['name']}: {m['mountPath']} (subPath {m['subPath']}) mounted as a file")
                m = {"name": name, "mountPath": m["mountPath"], "readOnly": True}
            mounts.append(m)
        c["volumeMounts"] = mounts


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
    configmaps_to_files(pod, args)
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
    p.add_argument("--existing-volume", action="append", default=[],
                   help="a PVC whose podman volume exists (kube play refuses to create it again)")
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
        if d["kind"] == "PersistentVolumeClaim" and d["metadata"]["name"] in args.existing_volume:
            note(f"PersistentVolumeClaim {d['metadata']['name']}: the podman volume exists, used as it is")
            continue
        if d["kind"] == "Deployment":
            localize_pod(d["spec"]["template"]["spec"], args)
        kept.append(d)
    yaml.safe_dump_all(kept, sys.stdout, sort_keys=False)
    with open(args.probes_out, "w") as fh:
        json.dump(args.probes, fh, indent=1)


if __name__ == "__main__":
    main()
