#!/usr/bin/python3
"""A stand-in kube-coder workspace for libkcclient's and kc's tests.

One in-memory task store served over both of the client's transports:
  - gRPC (python3-grpcio) with the kc.v1 services, messages built at run
    time from the API's descriptor set (//proto:api_descriptor_set), so
    nothing here restates the protos;
  - REST/JSON (http.server) on the routes of the google.api.http
    annotations, with the JSON mapping of the REST contract (snake_case,
    lower-case enums without prefix, float seconds, {"error": ...}), and
    the watch as Server-Sent Events or NDJSON.

It exists until kc-server and kc-gateway land; the live tests use those.

Fake agents, chosen by the prompt:
  "...sleep..."  runs until killed, printing a line every 0.2 s
  "...fail..."   ends in status error ("agent never became ready")
  "...flaky..."  as the default, but its first watch ends early (and it
                 completes only after that)
  otherwise      prints three lines over ~0.6 s, then completes

Usage: mock_workspace.py DESCRIPTOR_SET PORTS_FILE TOKEN
Writes "REST_PORT GRPC_PORT\n" to PORTS_FILE once both listen.
"""
import json
import os
import secrets
import sys
import threading
import time
import uuid
from itertools import chain
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory

ENUM_PREFIXES = ("TASK_STATUS_", "TASK_ACTIVITY_", "ALERT_TYPE_", "SERVICE_STATE_", "HEALTH_STATUS_")


def load_messages(path):
    fds = descriptor_pb2.FileDescriptorSet()
    with open(path, "rb") as f:
        fds.ParseFromString(f.read())
    pool = descriptor_pool.DescriptorPool()
    for fd in fds.file:
        pool.Add(fd)
    factory = message_factory.MessageFactory(pool)
    return factory.GetMessages([fd.name for fd in fds.file])


class Store:
    def __init__(self, M):
        self.M = M
        self.lock = threading.Condition()
        self.tasks = {}  # id -> dict
        self.order = []

    def task_msg(self, t, recent=False):
        M = self.M
        m = M["kc.v1.Task"]()
        m.task_id = t["id"]
        m.session_id = t["session_id"]
        m.prompt = t["prompt"]
        m.workdir = t["workdir"]
        m.status = t["status"]
        m.created_at = t["created_at"]
        if t["finished_at"]:
            m.finished_at.value = t["finished_at"]
        if t["killed_at"]:
            m.killed_at.value = t["killed_at"]
        m.tmux_session = "claude-" + t["id"]
        if t["error"]:
            m.error.value = t["error"]
        for p, at in t["followups"]:
            f = m.followups.add()
            f.prompt = p
            f.sent_at = at
        if recent:
            m.recent_output = "\n".join(t["output"].splitlines()[-50:])
        m.status_detail = t["activity"] if t["status"] == 1 else 0
        m.agent = t["agent"]
        if t["delivered_at"]:
            m.prompt_delivered_at.value = t["delivered_at"]
        return m

    def create(self, prompt, workdir, agent):
        if not prompt.strip():
            raise ApiError(grpc.StatusCode.INVALID_ARGUMENT, 400, "prompt is required")
        now = time.time()
        tid = "%d-%s" % (int(now), secrets.token_hex(4))
        t = dict(id=tid, session_id=str(uuid.uuid4()), prompt=prompt, workdir=workdir or "/home/coder",
                 status=1, activity=1, created_at=now, finished_at=0, killed_at=0, error="",
                 followups=[], output="", agent=agent or "claude", delivered_at=0, version=0)
        with self.lock:
            self.tasks[tid] = t
            self.order.append(tid)
        threading.Thread(target=self.run_agent, args=(t,), daemon=True).start()
        return t

    def change(self, t, **kw):
        with self.lock:
            t.update(kw)
            t["version"] += 1
            self.lock.notify_all()

    def emit(self, t, text):
        with self.lock:
            t["output"] += text
            t["version"] += 1
            self.lock.notify_all()

    def run_agent(self, t):
        time.sleep(0.05)
        if "fail" in t["prompt"]:
            self.change(t, status=3, activity=0, error="agent never became ready", finished_at=time.time())
            return
        self.change(t, activity=2, delivered_at=time.time())
        n = 0
        while True:
            with self.lock:
                if t["status"] != 1:
                    return
            n += 1
            self.emit(t, "fake agent line %d\n" % n)
            if "sleep" not in t["prompt"] and n >= 3:
                break
            time.sleep(0.2)
        if "flaky" in t["prompt"]:
            # Runs on until its first watch was dropped (60 s at most): a
            # watcher that comes late on a loaded machine must still see
            # the drop while the task runs, not a task already completed.
            end = time.time() + 60
            with self.lock:
                while not t.get("dropped") and time.time() < end:
                    self.lock.wait(0.1)
        self.change(t, status=2, activity=0, finished_at=time.time())

    def get(self, tid):
        with self.lock:
            t = self.tasks.get(tid)
        if not t:
            raise ApiError(grpc.StatusCode.NOT_FOUND, 404, "Task not found")
        return t

    def kill(self, tid):
        t = self.get(tid)
        now = time.time()
        self.change(t, status=4, activity=0, killed_at=now, finished_at=t["finished_at"] or now)
        return t

    def send(self, tid, prompt):
        t = self.get(tid)
        if not prompt.strip():
            raise ApiError(grpc.StatusCode.INVALID_ARGUMENT, 400, "prompt is required")
        if t["status"] != 1:
            raise ApiError(grpc.StatusCode.FAILED_PRECONDITION, 409, "Session is no longer running")
        with self.lock:
            t["followups"].append((prompt, time.time()))
            t["version"] += 1
            self.lock.notify_all()
        self.emit(t, "> " + prompt + "\n")
        return t

    def list(self, page_size, page_token, status):
        with self.lock:
            ids = [i for i in reversed(self.order) if not status or self.tasks[i]["status"] == status]
        start = int(page_token or 0)
        end = start + page_size if page_size else len(ids)
        return ids[start:end], (str(end) if end < len(ids) else ""), len(ids)

    def watch(self, tid, include_output, alive):
        """Yields ("task", dict) and ("output", (text, offset)) events."""
        t = self.get(tid)
        sent_out = 0
        version = -1
        while alive():
            with self.lock:
                if t["version"] == version:
                    self.lock.wait(0.5)
                    continue
                version = t["version"]
                out = t["output"]
                snap = dict(t)
            if include_output and len(out) > sent_out:
                yield "output", (out[sent_out:], sent_out)
                sent_out = len(out)
            yield "task", snap
            if snap["status"] != 1:
                return


class ApiError(Exception):
    def __init__(self, grpc_code, http_status, message):
        super().__init__(message)
        self.grpc_code = grpc_code
        self.http_status = http_status
        self.message = message


def to_json(msg):
    d = json_format.MessageToDict(msg, preserving_proto_field_name=True, including_default_value_fields=True)

    def fix(v):
        if isinstance(v, dict):
            out = {}
            for k, x in v.items():
                if isinstance(x, str) and x.endswith("_UNSPECIFIED") and x.startswith(ENUM_PREFIXES):
                    continue
                out[k] = fix(x)
            return out
        if isinstance(v, list):
            return [fix(x) for x in v]
        if isinstance(v, str):
            for p in ENUM_PREFIXES:
                if v.startswith(p):
                    return v[len(p):].lower()
        return v

    d = fix(d)
    # int64 as a number, as kc-gateway writes offsets
    if "output" in d and "offset" in d["output"]:
        d["output"]["offset"] = int(d["output"]["offset"])
    return d


class Api:
    """The rpcs, over messages, shared by both transports."""

    def __init__(self, M, store, token):
        self.M, self.store, self.token = M, store, token

    def auth(self, bearer):
        if bearer != "Bearer " + self.token:
            raise ApiError(grpc.StatusCode.UNAUTHENTICATED, 401, "Unauthorized")

    def CreateTask(self, r):
        return self.store.task_msg(self.store.create(r.prompt, r.workdir, r.agent))

    def ListTasks(self, r):
        ids, nxt, total = self.store.list(r.page_size, r.page_token, r.status)
        resp = self.M["kc.v1.ListTasksResponse"]()
        for i in ids:
            t = self.store.tasks[i]
            s = resp.tasks.add()
            s.task_id, s.prompt, s.status, s.created_at = t["id"], t["prompt"][:120], t["status"], t["created_at"]
            s.status_detail = t["activity"] if t["status"] == 1 else 0
            if t["finished_at"]:
                s.finished_at.value = t["finished_at"]
        resp.next_page_token = nxt
        resp.total_size = total
        return resp

    def GetTask(self, r):
        return self.store.task_msg(self.store.get(r.task_id), recent=True)

    def GetTaskOutput(self, r):
        t = self.store.get(r.task_id)
        out = t["output"]
        if r.tail > 0:
            lines = out.splitlines(True)[-r.tail:]
            out = "".join(lines)
        hb = self.M["google.api.HttpBody"]()
        hb.content_type = "text/plain; charset=utf-8"
        hb.data = out.encode()
        return hb

    def SendMessage(self, r):
        return self.store.task_msg(self.store.send(r.task_id, r.prompt))

    def KillTask(self, r):
        t = self.store.kill(r.task_id)
        resp = self.M["kc.v1.KillTaskResponse"]()
        resp.task_id, resp.status, resp.killed_at = t["id"], 4, t["killed_at"]
        return resp

    def PrepareTerminal(self, r):
        t = self.store.get(r.task_id)
        resp = self.M["kc.v1.PrepareTerminalResponse"]()
        resp.ok, resp.session = True, "claude-" + t["id"]
        return resp

    def WatchTask(self, r, alive):
        t = self.store.get(r.task_id)
        # "flaky" tasks: each transport's first watch ends after one event
        # while the task still runs, as a dropped connection would.
        drop = "flaky" in t["prompt"] and not t.setdefault("dropped", False)
        for kind, v in self.store.watch(r.task_id, r.include_output, alive):
            if drop and kind == "task":
                t["dropped"] = True
                ev = self.M["kc.v1.TaskEvent"]()
                ev.task.CopyFrom(self.store.task_msg(v))
                yield ev
                return
            ev = self.M["kc.v1.TaskEvent"]()
            if kind == "task":
                ev.task.CopyFrom(self.store.task_msg(v))
            else:
                ev.output.text, ev.output.offset = v
            yield ev

    def GetMetrics(self, r):
        m = self.M["kc.v1.Metrics"]()
        m.cpu.usage_percent, m.cpu.cores = 12.5, 2
        m.memory.total_mb, m.memory.used_mb, m.memory.available_mb, m.memory.percent = 4096, 3900, 196, 95.2
        m.memory.container = True
        m.disk.total_gb, m.disk.used_gb, m.disk.available_gb, m.disk.percent = 50, 10, 40, 20
        m.disk.path = "/home/coder"
        a = m.alerts.add()
        a.type, a.resource, a.message, a.value, a.threshold = 2, "memory", "Memory usage is at 95.2%", 95.2, 95
        m.timestamp = time.time()
        return m

    def GetHealth(self, r):
        h = self.M["kc.v1.Health"]()
        h.status = 2
        for name, port, up in (("vscode", 8080, True), ("terminal", 7681, True), ("browser", 6081, False)):
            s = h.services[name]
            s.status, s.port, s.checked_at = (1 if up else 2), port, time.time()
            if up:
                s.latency_ms.value = 0.5
        h.timestamp = time.time()
        return h

    def GetGitHubStatus(self, r):
        g = self.M["kc.v1.GitHubStatus"]()
        g.ssh.configured, g.ssh.key_type, g.ssh.key_fingerprint = True, "ssh-ed25519", "SHA256:abc"
        g.gh_cli.installed = True
        g.git_config.user_name, g.git_config.user_email = "Coder", "coder@example.com"
        return g

    def GetApiToken(self, r):
        raise ApiError(grpc.StatusCode.PERMISSION_DENIED, 403, "The token is only given to an OAuth identity")


# The rpcs the mock serves. Their routes come from the descriptor set's
# google.api.http annotations (load_rpcs), as the gateway's and the
# client's do: no route is restated here.
SERVED = ("CreateTask", "ListTasks", "GetTask", "GetTaskOutput", "SendMessage", "KillTask", "PrepareTerminal",
          "WatchTask", "GetMetrics", "GetHealth", "GetGitHubStatus", "GetApiToken")
# name: (service, request type, response type, method, path, body, streaming)
RPCS = {}
# google.api.http's extension number on MethodOptions.
HTTP_RULE_FIELD = 72295728


def varint(b, i):
    v = shift = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if c < 0x80:
            return v, i


def http_rule_bytes(options):
    """The google.api.http option in serialized MethodOptions (an unknown
    field to this pool's options class), or None."""
    i = 0
    while i < len(options):
        key, i = varint(options, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            _, i = varint(options, i)
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        elif wire == 2:
            n, i = varint(options, i)
            if field == HTTP_RULE_FIELD:
                return options[i:i + n]
            i += n
        else:
            raise ValueError("unexpected wire type %d in MethodOptions" % wire)
    return None


def load_rpcs(path, M):
    fds = descriptor_pb2.FileDescriptorSet()
    with open(path, "rb") as f:
        fds.ParseFromString(f.read())
    rpcs = {}
    for fd in fds.file:
        for svc in fd.service:
            for m in svc.method:
                raw = http_rule_bytes(m.options.SerializeToString()) if m.name in SERVED else None
                if raw is None:
                    continue
                rule = M["google.api.HttpRule"].FromString(raw)
                kind = rule.WhichOneof("pattern")
                method, tmpl = ((rule.custom.kind, rule.custom.path) if kind == "custom"
                                else (kind.upper(), getattr(rule, kind)))
                rpcs[m.name] = (svc.name, m.input_type.lstrip("."), m.output_type.lstrip("."), method, tmpl,
                                bool(rule.body), m.server_streaming)
    missing = set(SERVED) - set(rpcs)
    if missing:
        raise SystemExit("mock_workspace: no google.api.http route for %s" % ", ".join(sorted(missing)))
    return rpcs


NO_AUTH = {"GetHealth"}


def grpc_server(M, api, port_holder, creds=None):
    handlers = {}
    for name, (svc, req_t, resp_t, _m, _p, _b, streaming) in RPCS.items():
        req_cls, resp_cls = M[req_t], M[resp_t]

        def make(name=name, streaming=streaming):
            def check(ctx):
                md = dict(ctx.invocation_metadata())
                if name not in NO_AUTH:
                    try:
                        api.auth(md.get("authorization", ""))
                    except ApiError as e:
                        ctx.abort(grpc.StatusCode.UNAUTHENTICATED, e.message)

            if streaming:
                def h(req, ctx):
                    check(ctx)
                    try:
                        yield from getattr(api, name)(req, ctx.is_active)
                    except ApiError as e:
                        ctx.abort(e.grpc_code, e.message)
                return grpc.unary_stream_rpc_method_handler(h, req_cls.FromString, resp_cls.SerializeToString)

            def h(req, ctx):
                check(ctx)
                try:
                    return getattr(api, name)(req)
                except ApiError as e:
                    ctx.abort(e.grpc_code, e.message)
            return grpc.unary_unary_rpc_method_handler(h, req_cls.FromString, resp_cls.SerializeToString)

        handlers.setdefault(svc, {})[name] = make()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    for svc, hs in handlers.items():
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("kc.v1." + svc, hs),))
    if creds:
        port_holder.append(server.add_secure_port("127.0.0.1:0", creds))
    else:
        port_holder.append(server.add_insecure_port("127.0.0.1:0"))
    server.start()
    return server



def match(path_tmpl, path):
    a, b = path_tmpl.strip("/").split("/"), path.strip("/").split("/")
    if len(a) != len(b):
        return None
    vars_ = {}
    for x, y in zip(a, b):
        if x.startswith("{"):
            vars_[x[1:-1]] = unquote(y)
        elif x != y:
            return None
    return vars_


def make_http_handler(M, api):
    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def send_json(self, status, obj):
            body = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def route(self, method):
            u = urlsplit(self.path)
            path = u.path
            if path.startswith("/oauth/"):
                path = path[6:]
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            for name, (_s, req_t, resp_t, m, tmpl, body, streaming) in RPCS.items():
                if m != method:
                    continue
                vars_ = match(tmpl, path)
                if vars_ is None:
                    continue
                try:
                    if name not in NO_AUTH:
                        api.auth(self.headers.get("Authorization", ""))
                    fields = {}
                    if body and raw:
                        try:
                            fields = json.loads(raw)
                        except ValueError:
                            raise ApiError(grpc.StatusCode.INVALID_ARGUMENT, 400, "Invalid JSON")
                        if not isinstance(fields, dict) or not isinstance(fields.get("prompt", ""), str):
                            raise ApiError(grpc.StatusCode.INVALID_ARGUMENT, 400, "prompt must be a string")
                    for k, v in parse_qs(u.query).items():
                        fd = M[req_t].DESCRIPTOR.fields_by_name.get(k)
                        val = v[0]
                        if fd is not None and fd.type == fd.TYPE_BOOL:
                            val = val == "true"
                        elif fd is not None and fd.enum_type is not None:
                            val = next((x.name for x in fd.enum_type.values
                                        if x.name.lower().endswith("_" + val.lower())), val)
                        elif fd is not None and fd.type in (fd.TYPE_INT32, fd.TYPE_INT64):
                            val = int(val)
                        fields[k] = val
                    fields.update(vars_)
                    req = M[req_t]()
                    json_format.ParseDict(fields, req, ignore_unknown_fields=True)
                    if streaming:
                        return self.stream(name, req)
                    resp = getattr(api, name)(req)
                except ApiError as e:
                    return self.send_json(e.http_status, {"error": e.message})
                except json_format.ParseError as e:
                    return self.send_json(400, {"error": str(e)})
                if resp_t == "google.api.HttpBody":
                    self.send_response(200)
                    self.send_header("Content-Type", resp.content_type)
                    self.send_header("Content-Length", str(len(resp.data)))
                    self.end_headers()
                    self.wfile.write(resp.data)
                    return
                return self.send_json(201 if name == "CreateTask" else 200, to_json(resp))
            self.send_json(404, {"error": "Not found"})

        def stream(self, name, req):
            sse = "text/event-stream" in (self.headers.get("Accept") or "")
            gen = getattr(api, name)(req, lambda: True)
            first = next(gen)  # raises ApiError (404) before any byte is sent
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream" if sse else "application/x-ndjson")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            try:
                self.wfile.write(b": hello\n\n" if sse else b"\n")
                for ev in chain([first], gen):
                    line = json.dumps(to_json(ev))
                    self.wfile.write(("data: %s\n\n" % line).encode() if sse else (line + "\n").encode())
                    self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass

        def do_GET(self):
            self.route("GET")

        def do_POST(self):
            self.route("POST")

        def do_DELETE(self):
            self.route("DELETE")

    return H


def main():
    desc, ports_file, token = sys.argv[1:4]
    # Optional TLS listeners too (https and grpcs) with this cert and key.
    cert, key = (sys.argv[4], sys.argv[5]) if len(sys.argv) > 5 else (None, None)
    M = load_messages(desc)
    RPCS.update(load_rpcs(desc, M))
    store = Store(M)
    api = Api(M, store, token)
    grpc_port = []
    gs = grpc_server(M, api, grpc_port)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_http_handler(M, api))
    httpd.daemon_threads = True
    ports = [httpd.server_address[1], grpc_port[0]]
    if cert:
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        httpsd = ThreadingHTTPServer(("127.0.0.1", 0), make_http_handler(M, api))
        httpsd.daemon_threads = True
        httpsd.socket = ctx.wrap_socket(httpsd.socket, server_side=True)
        threading.Thread(target=httpsd.serve_forever, daemon=True).start()
        creds = grpc.ssl_server_credentials([(open(key, "rb").read(), open(cert, "rb").read())])
        gs_tls = grpc_server(M, api, grpc_port, creds)
        ports += [httpsd.server_address[1], grpc_port[1]]
    tmp = ports_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(" ".join(str(p) for p in ports) + "\n")
    os.rename(tmp, ports_file)
    try:
        httpd.serve_forever()
    finally:
        gs.stop(0)


if __name__ == "__main__":
    main()
