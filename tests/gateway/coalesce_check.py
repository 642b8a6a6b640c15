#!/usr/bin/python3
"""Identical reads sharing one upstream call, checked through real sockets.

Run by coalesce_test.sh against a live stack (kc-server, real tmux, the fake
agent, kc-gateway). Pipelined HTTP/1.1 requests written in one send reach the
gateway in one read, so the gateway parses them before any call leaves for
kc-server: that makes sharing deterministic here. Prints one "ok"/"FAIL" line
per check; exits 1 on any failure.

    coalesce_check.py PORT TOKEN OAUTH_SOCKET

OAUTH_SOCKET is the gateway's identity listener (gateway.oauth_listen), the
only place the auth proxy's identity headers count.
"""
import json
import socket
import sys
import threading
import time
import http.client

PORT = int(sys.argv[1])
TOKEN = sys.argv[2]
OAUTH_SOCKET = sys.argv[3]
failed = 0


def check(name, cond, detail=""):
    global failed
    if cond:
        print("ok   " + name)
    else:
        failed += 1
        print("FAIL " + name + (": " + detail if detail else ""))


def request_bytes(method, path, headers=(), body=b""):
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: 127.0.0.1"]
    lines += ["%s: %s" % h for h in headers]
    if body:
        lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def read_answers(sock, n):
    """n HTTP/1.1 answers (Content-Length bodies) from one connection."""
    f = sock.makefile("rb")
    out = []
    for _ in range(n):
        status = int(f.readline().split()[1])
        headers = {}
        while True:
            line = f.readline().decode()
            if line in ("\r\n", ""):
                break
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
        body = f.read(int(headers.get("content-length", "0")))
        out.append((status, headers, body))
    return out


def pipelined(reqs, timeout=10, unix=None):
    if unix:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(unix)
    else:
        s = socket.create_connection(("127.0.0.1", PORT), timeout=timeout)
    try:
        s.sendall(b"".join(reqs))
        return read_answers(s, len(reqs))
    finally:
        s.close()


def shared_total():
    c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)
    c.request("GET", "/metrics/prometheus")
    text = c.getresponse().read().decode()
    c.close()
    for line in text.splitlines():
        if line.startswith("kc_gateway_shared_answers_total "):
            return int(line.split()[1])
    raise AssertionError("no kc_gateway_shared_answers_total in the metrics")


AUTH = ("Authorization", "Bearer " + TOKEN)
LIST = request_bytes("GET", "/api/claude/tasks", [AUTH])

# ---- ten identical reads in one send: one call, ten identical answers ----
before = shared_total()
answers = pipelined([LIST] * 10)
after = shared_total()
check("ten pipelined identical GETs all answer 200", all(a[0] == 200 for a in answers),
      str([a[0] for a in answers]))
check("their bodies are byte-for-byte the same", len({a[2] for a in answers}) == 1)
check("the body is the task list", "tasks" in json.loads(answers[0][2]))
check("nine of them were answered from the first one's call", after - before == 9,
      "shared %d" % (after - before))
ids = [a[1].get("x-request-id") for a in answers]
check("each answer keeps its own request id", len(set(ids)) == 10 and None not in ids, str(ids))

# ---- different credentials or query never share ----
before = shared_total()
answers = pipelined([
    LIST,
    request_bytes("GET", "/api/claude/tasks", [("Authorization", "Bearer wrong")]),
    LIST,
    request_bytes("GET", "/api/claude/tasks"),
    request_bytes("GET", "/api/claude/tasks?status=running", [AUTH]),
    request_bytes("GET", "/api/claude/tasks?status=nope", [AUTH]),
])
after = shared_total()
check("a wrong bearer between two good ones is still 401",
      [a[0] for a in answers[:4]] == [200, 401, 200, 401], str([a[0] for a in answers]))
check("another query gets its own answer (200, then 400 for a bad filter)",
      answers[4][0] == 200 and answers[5][0] == 400, str([a[0] for a in answers[4:]]))
check("only the two identical good reads shared a call", after - before == 1, "shared %d" % (after - before))

# ---- identity headers on the public port are nobody's ----
answers = pipelined([
    request_bytes("GET", "/oauth/api/claude/tasks", [("X-Auth-Request-User", "alice")]),
    request_bytes("GET", "/oauth/api/claude/tasks", [("X-Auth-Request-User", "mallory"), AUTH]),
])
check("on the public port an identity alone is 401, with a bearer 200",
      [a[0] for a in answers] == [401, 200], str([a[0] for a in answers]))

# ---- on the identity listener an OAuth identity gets its own answer ----
before = shared_total()
answers = pipelined([
    request_bytes("GET", "/oauth/api/claude/tasks", [AUTH]),
    request_bytes("GET", "/oauth/api/claude/tasks", [("X-Auth-Request-User", "alice")]),
    request_bytes("GET", "/oauth/api/claude/tasks", [("X-Auth-Request-User", "mallory"), AUTH]),
    request_bytes("GET", "/oauth/api/claude/tasks", [AUTH]),
], unix=OAUTH_SOCKET)
after = shared_total()
check("an OAuth identity gets its own answer", all(a[0] == 200 for a in answers), str([a[0] for a in answers]))
check("only the two bearer-only reads shared a call", after - before == 1, "shared %d" % (after - before))

# ---- writes are never shared; a read after a write sees it, under load ----
stop = threading.Event()
load_errors = []
load_count = [0]


def load():
    c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)
    try:
        while not stop.is_set():
            c.request("GET", "/api/claude/tasks", headers={"Authorization": "Bearer " + TOKEN})
            r = c.getresponse()
            r.read()
            if r.status != 200:
                load_errors.append(r.status)
            load_count[0] += 1
    except Exception as e:  # noqa: BLE001 - any failure is reported below
        load_errors.append(repr(e))
    finally:
        c.close()


threads = [threading.Thread(target=load) for _ in range(16)]
for t in threads:
    t.start()
before = shared_total()
stale = []
writer = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)
reader = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)
hdr = {"Authorization": "Bearer " + TOKEN, "Content-Type": "application/json"}


def listed():
    reader.request("GET", "/api/claude/tasks", headers=hdr)
    r = reader.getresponse()
    return {t["task_id"]: t["status"] for t in json.loads(r.read())["tasks"]}


for i in range(12):
    writer.request("POST", "/api/claude/tasks", body=json.dumps({"prompt": "rw %d" % i}), headers=hdr)
    r = writer.getresponse()
    body = json.loads(r.read())
    if r.status != 201:
        stale.append("create %d: %d %s" % (i, r.status, body))
        continue
    tid = body["task_id"]
    if tid not in listed():
        stale.append("created %s not listed" % tid)
    writer.request("DELETE", "/api/claude/tasks/" + tid, headers=hdr)
    r = writer.getresponse()
    r.read()
    if listed().get(tid) != "killed":
        stale.append("killed %s listed as %s" % (tid, listed().get(tid)))
stop.set()
for t in threads:
    t.join()
after = shared_total()
writer.close()
reader.close()
check("every read after a completed write saw it (12 creates, 12 kills)", not stale, "; ".join(stale[:3]))
check("the concurrent readers all got 200", not load_errors and load_count[0] > 0, str(load_errors[:3]))
print("# %d concurrent reads, %d answered from another's call" % (load_count[0], after - before))

# ---- clients that leave before their shared answer ----
s = socket.create_connection(("127.0.0.1", PORT), timeout=10)
s.sendall(LIST * 8)
s.close()
time.sleep(0.2)
answers = pipelined([LIST] * 3)
check("after clients left mid-call the gateway still answers", [a[0] for a in answers] == [200] * 3)

sys.exit(1 if failed else 0)
