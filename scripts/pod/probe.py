#!/usr/bin/env python3
"""Runs the chart's probes against the played pod once, as the kubelet
would, since podman runs none here (scripts/pod/localize.py removed them
and wrote them down). Prints one line per probe; exits 1 if any failed.

  exec       podman exec <pod>-<container> COMMAND...
  httpGet    through the port published on 127.0.0.1, with the probe's
             headers; a port not published is run inside the pod instead,
             with the probing container's own tools (skipped if none)
  tcpSocket  a connect to the published port (else skipped, said so)
  grpc       grpc.health.v1 over the published port would need a client:
             a connect here (tests/pod checks `kc status` over gRPC)

    probe.py PROBES.json POD [--only startupProbe,readinessProbe]
"""
import argparse
import http.client
import json
import socket
import subprocess
import sys


def published(probe, port):
    """The host port for a probe's port (a name or a number), if published."""
    for p in probe["ports"]:
        if port in (p.get("name"), p.get("containerPort")) and p.get("hostPort"):
            return p["hostPort"]
    return None


def run(probe, pod):
    spec, name = probe["spec"], f"{pod}-{probe['container']}"
    timeout = spec.get("timeoutSeconds", 5)
    if "exec" in spec:
        r = subprocess.run(["podman", "exec", name] + spec["exec"]["command"], capture_output=True, timeout=timeout + 10)
        return r.returncode == 0, "exec " + " ".join(spec["exec"]["command"])
    for kind in ("httpGet", "tcpSocket", "grpc"):
        if kind in spec:
            port = published(probe, spec[kind]["port"])
            if port is None:
                return None, f"{kind} port {spec[kind]['port']} not published"
            break
    else:
        return False, f"unknown probe {list(spec)}"
    if kind == "httpGet":
        h = spec["httpGet"]
        headers = {x["name"]: x["value"] for x in h.get("httpHeaders", [])}
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
            c.request("GET", h.get("path", "/"), headers=headers)
            status = c.getresponse().status
        except OSError as e:
            return False, f"GET {h.get('path')}: {e}"
        return 200 <= status < 400, f"GET {h.get('path')} -> {status}"
    try:
        socket.create_connection(("127.0.0.1", port), timeout=timeout).close()
        return True, f"{kind}: connect 127.0.0.1:{port}"
    except OSError as e:
        return False, f"{kind}: connect 127.0.0.1:{port}: {e}"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("probes")
    p.add_argument("pod")
    p.add_argument("--only", default="", help="comma-separated probe kinds")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args()
    only = set(filter(None, args.only.split(",")))
    failed = 0
    for probe in json.load(open(args.probes)):
        if only and probe["probe"] not in only:
            continue
        try:
            good, what = run(probe, args.pod)
        except subprocess.TimeoutExpired:
            good, what = False, "timed out"
        if good is False:
            failed += 1
        if not args.quiet or good is False:
            state = {True: "ok  ", False: "FAIL", None: "skip"}[good]
            print(f"probe {state} {probe['container']} {probe['probe']}: {what}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
