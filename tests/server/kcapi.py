"""A generic gRPC client for kc-server built on Debian's python3-grpcio.

Message classes come from the API's FileDescriptorSet (//proto:api_descriptor_set)
through google.protobuf's message factory, so no generated code is needed:
`api.call("kc.v1.TaskService", "CreateTask", prompt="hi")` packs a request of
the method's input type, calls `/kc.v1.TaskService/CreateTask`, and returns
the reply message. Also starts kc-server with a private tmux socket per test.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings

warnings.simplefilter("ignore", ResourceWarning)

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory


def find_runfile(rel):
    for base in (os.environ.get("TEST_SRCDIR", ""), os.environ.get("RUNFILES_DIR", "")):
        if base:
            for ws in (os.environ.get("TEST_WORKSPACE", "kube_coder"), "__main__", ""):
                p = os.path.join(base, ws, rel)
                if os.path.exists(p):
                    return p
    here = os.path.dirname(os.path.abspath(__file__))
    for p in (os.path.join(here, "..", "..", rel), os.path.join(here, "..", "..", "bazel-bin", rel)):
        if os.path.exists(p):
            return os.path.abspath(p)
    raise FileNotFoundError(rel)


class Api:
    def __init__(self, target, token=None, metadata=(), descriptor_set=None):
        path = descriptor_set or find_runfile("proto/api_descriptor_set.pb")
        fds = descriptor_pb2.FileDescriptorSet.FromString(open(path, "rb").read())
        self.pool = descriptor_pool.DescriptorPool()
        for f in fds.file:
            self.pool.Add(f)
        self.factory = message_factory.MessageFactory(self.pool)
        self.channel = grpc.insecure_channel(target)
        self.token = token
        self.metadata = list(metadata)

    def close(self):
        self.channel.close()

    def msg(self, full_name, **fields):
        cls = self.factory.GetPrototype(self.pool.FindMessageTypeByName(full_name))
        return cls(**fields)

    def enum(self, full_name, value_name):
        return self.pool.FindEnumTypeByName(full_name).values_by_name[value_name].number

    def _method(self, service, method):
        m = self.pool.FindServiceByName(service).methods_by_name[method]
        req = self.factory.GetPrototype(m.input_type)
        resp = self.factory.GetPrototype(m.output_type)
        return "/%s/%s" % (service, method), req, resp

    def _md(self, token, metadata):
        md = list(self.metadata) + list(metadata or ())
        tok = self.token if token is None else token
        if tok:
            md.append(("authorization", "Bearer " + tok))
        return md

    def call(self, _service, _method, /, token=None, metadata=None, timeout=30, request=None, **fields):
        path, req, resp = self._method(_service, _method)
        fn = self.channel.unary_unary(path, request_serializer=lambda m: m.SerializeToString(),
                                      response_deserializer=resp.FromString)
        return fn(request if request is not None else req(**fields), metadata=self._md(token, metadata),
                  timeout=timeout)

    def stream(self, _service, _method, /, token=None, metadata=None, timeout=None, **fields):
        path, req, resp = self._method(_service, _method)
        fn = self.channel.unary_stream(path, request_serializer=lambda m: m.SerializeToString(),
                                       response_deserializer=resp.FromString)
        return fn(req(**fields), metadata=self._md(token, metadata), timeout=timeout)

    def task(self, _method, /, **fields):
        return self.call("kc.v1.TaskService", _method, **fields)


def free_port():
    """A loopback TCP port nothing listens on now (the caller binds it next)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(pred, timeout=30.0, interval=0.05, what="condition"):
    """Polls pred() until it returns a truthy value; fails after timeout."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = pred()
            if last:
                return last
        except grpc.RpcError as e:  # transient while a server starts
            last = e
        time.sleep(interval)
    raise AssertionError("timed out waiting for %s (last: %r)" % (what, last))


class Server:
    """kc-server in a private directory with a private tmux socket.

    Every tmux server it may have started is killed in stop(), which the
    tests call from finally blocks (and atexit) so nothing outlives a test.
    """

    def __init__(self, root=None, extra_yaml="", agents_yaml=None, max_running=8, grpc_port=None, env=None):
        self.root = root or tempfile.mkdtemp(prefix="kcs-", dir=os.environ.get("TEST_TMPDIR"))
        self.home = os.path.join(self.root, "home")
        os.makedirs(self.home, exist_ok=True)
        self.tasks_dir = os.path.join(self.home, ".claude-tasks")
        # Unix socket paths are limited to 107 bytes and Bazel's test
        # directories are deep: the sockets live in a short private
        # directory under /tmp, removed by cleanup().
        self.sockdir = tempfile.mkdtemp(prefix="kc-", dir="/tmp")
        self.socket = os.path.join(self.sockdir, "run", "kc.sock")
        self.tmux_socket = os.path.join(self.sockdir, "tmux", "sock")
        self.binary = find_runfile("server/kc-server")
        self.fake = find_runfile("tests/fake_agent/fake_agent.py")
        self.grpc_port = grpc_port
        self.proc = None
        self.log_path = os.path.join(self.root, "server.log")
        if agents_yaml is None:
            agents_yaml = """
agents:
  default: fake
  list:
    - name: fake
      command: ["/usr/bin/python3", "%(fake)s", "--session-id", "{session_id}"]
      ready_pattern: "^>"
      ready_timeout_ms: 20000
    - name: never
      command: ["/usr/bin/python3", "%(fake)s", "--never-ready"]
      ready_pattern: "^>"
      ready_timeout_ms: 1500
    - name: slow
      command: ["/usr/bin/python3", "%(fake)s", "--delay-ms", "1500"]
      ready_pattern: "^>"
      ready_timeout_ms: 30000
    - name: sleeper
      command: ["/bin/sleep", "600"]
      ready_pattern: "^never$"
      ready_timeout_ms: 600000
    - name: waiting
      command: ["/usr/bin/python3", "%(fake)s", "--never-ready"]
      ready_pattern: "^>"
      ready_timeout_ms: 600000
""" % {"fake": self.fake}
        listen = '"127.0.0.1:%d"' % grpc_port if grpc_port else '""'
        self.config = os.path.join(self.root, "kc.yaml")
        with open(self.config, "w") as f:
            f.write("""home: %s
server:
  socket: %s
  grpc_listen: %s
  tmux_socket: %s
  log_level: debug
limits:
  max_running_tasks: %d
  max_prompt_bytes: 65536
metrics:
  interval_ms: 200
probes:
  vscode: 1
  terminal: 2
%s
%s
""" % (self.home, self.socket, listen, self.tmux_socket, max_running, agents_yaml, extra_yaml))
        self.env = dict(os.environ)
        for k in ("KC_HOME", "KC_GRPC_PORT", "KC_AGENT"):
            self.env.pop(k, None)
        self.env.update(env or {})

    def start(self):
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen([self.binary, "--config", self.config], stdout=self.logf,
                                     stderr=subprocess.STDOUT, env=self.env)
        def up():
            if self.proc.poll() is not None:
                raise AssertionError("kc-server exited with %s:\n%s" % (self.proc.returncode, self.log()[-4000:]))
            return os.path.exists(self.socket) and os.path.exists(self.token_path())
        wait_for(up, 30, what="kc-server socket")
        self.api = Api("unix:" + self.socket, token=self.token())
        wait_for(lambda: self.api.call("grpc.health.v1.Health", "Check", timeout=5), 30, what="health")
        return self

    def token_path(self):
        return os.path.join(self.tasks_dir, ".api-token")

    def token(self):
        return open(self.token_path()).read().strip()

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode if self.proc else None
        if getattr(self, "api", None):
            self.api.close()
            self.api = None
        return rc

    def kill_tmux(self):
        subprocess.call(["tmux", "-S", self.tmux_socket, "kill-server"], stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL)

    def cleanup(self):
        try:
            self.stop(signal.SIGKILL)
        finally:
            self.kill_tmux()
            shutil.rmtree(self.sockdir, ignore_errors=True)

    def log(self):
        try:
            return open(self.log_path, errors="replace").read()
        except OSError:
            return ""
