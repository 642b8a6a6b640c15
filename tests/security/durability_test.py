"""kc-server's durability, exclusivity and resource bounds (issue 11), on a
real kc-server with a private tmux server and the fake agent, over its unix
socket and a loopback TCP port.

Tries:
  - one server per home and per socket: a second kc-server on the same home
    (another socket) and on the same socket (another home) refuses to start,
    naming the holder; the first keeps serving, its socket in place, its
    tasks unchanged byte for byte; a restart after the first exits works;
  - crash leftovers: temp files and task directories without task.json are
    gone after a restart, real tasks and foreign files stay;
  - kill -9 before the agent was ready: the task ends in `error`, never
    `completed` — with the tmux server gone too (a pod restart) and with
    the session still there (re-adopted, then its ready timeout);
  - the token file chmod'ed 0644 is 0600 after a restart;
  - Health/Watch over TCP: past limits.max_health_watches streams without
    credentials, RESOURCE_EXHAUSTED; a bearer's watch is not counted; a
    closed stream frees its place;
  - limits.grpc_max_streams calls per TCP connection: one more waits, other
    connections and the unix socket do not;
  - identity metadata (x-kc-oauth-user / -email) over TCP counts for
    nothing: GetApiToken and RegenerateApiToken never answer a token there,
    in several spellings; over the unix socket it works (the control);
  - `gh api user` never holds an rpc worker: with a gh that takes seconds,
    more CompleteGhAuth calls than workers wait while other calls answer at
    once, GetGitHubStatus answers from its cache, and a drain does not wait
    for gh.
"""
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "server"))
import grpc  # noqa: E402
from kcapi import Api, Server, free_port, wait_for  # noqa: E402

HEALTH_CAP = 4
TCP_STREAMS = 6


def with_limits(srv, lines):
    """Adds lines under the config's `limits:` (kcapi writes that block)."""
    text = open(srv.config).read()
    text = text.replace("limits:\n", "limits:\n" + "".join("  %s\n" % l for l in lines), 1)
    with open(srv.config, "w") as f:
        f.write(text)


def snapshot(tasks_dir):
    """Every task's task.json bytes, by id."""
    out = {}
    for name in sorted(os.listdir(tasks_dir)):
        p = os.path.join(tasks_dir, name, "task.json")
        if os.path.isfile(p):
            out[name] = open(p, "rb").read()
    return out


def run_second(binary, config, env, timeout=30):
    p = subprocess.run([binary, "--config", config], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       env=env, timeout=timeout)
    return p.returncode, p.stdout.decode(errors="replace")


def status_name(api, value):
    return api.pool.FindEnumTypeByName("kc.v1.TaskStatus").values_by_number[value].name


class OneServer(unittest.TestCase):
    def test_second_server_on_same_home_or_socket_refuses(self):
        srv = Server()
        try:
            srv.start()
            api = srv.api
            t1 = api.task("CreateTask", prompt="first", agent="fake")
            wait_for(lambda: api.task("GetTask", task_id=t1.task_id).prompt_delivered_at, 30, what="delivery")
            t2 = api.task("CreateTask", prompt="to be killed", agent="waiting")
            api.task("KillTask", task_id=t2.task_id)
            # The first server's own writes settle (delivery, activity).
            def settled():
                a = snapshot(srv.tasks_dir)
                time.sleep(1.0)
                return a if a == snapshot(srv.tasks_dir) else None
            before = wait_for(settled, 30, what="task files to settle")
            sock_ino = os.stat(srv.socket).st_ino

            # Same home, another socket.
            cfg = os.path.join(srv.root, "same-home.yaml")
            other_sock = os.path.join(srv.sockdir, "other", "kc.sock")
            with open(cfg, "w") as f:
                f.write(open(srv.config).read().replace(srv.socket, other_sock))
            rc, out = run_second(srv.binary, cfg, srv.env)
            self.assertEqual(rc, 1, out)
            self.assertIn("another kc-server (pid %d) holds" % srv.proc.pid, out)
            self.assertIn(".kc-server.lock", out)
            self.assertFalse(os.path.exists(other_sock), "the refused server must not listen")

            # Same socket, another home: every spelling of the same path.
            other_home = os.path.join(srv.root, "home2")
            os.makedirs(other_home)
            for i, sock in enumerate([srv.socket, srv.socket.replace("/run/", "/run/./"),
                                      srv.socket.replace("/run/", "/run//")]):
                cfg = os.path.join(srv.root, "same-socket-%d.yaml" % i)
                text = open(srv.config).read().replace("home: %s" % srv.home, "home: %s" % other_home)
                text = text.replace("socket: %s\n" % srv.socket, "socket: %s\n" % sock)
                with open(cfg, "w") as f:
                    f.write(text)
                rc, out = run_second(srv.binary, cfg, srv.env)
                self.assertEqual(rc, 1, out)
                self.assertIn("another kc-server (pid %d) holds" % srv.proc.pid, out)
                self.assertIn("kc.sock.lock", out)

            # The first one is untouched and serving.
            self.assertTrue(stat.S_ISSOCK(os.stat(srv.socket).st_mode))
            self.assertEqual(os.stat(srv.socket).st_ino, sock_ino)
            api.call("grpc.health.v1.Health", "Check", timeout=10)
            self.assertEqual(snapshot(srv.tasks_dir), before)
            got = {t.task_id: status_name(api, t.status) for t in api.task("ListTasks").tasks}
            self.assertEqual(got[t2.task_id], "TASK_STATUS_KILLED")
            self.assertIsNone(srv.proc.poll())

            # A restart once the first has exited gets both locks.
            self.assertEqual(srv.stop(), 0)
            srv.start()
            got = {t.task_id: status_name(srv.api, t.status) for t in srv.api.task("ListTasks").tasks}
            self.assertEqual(got[t2.task_id], "TASK_STATUS_KILLED")
            # ...and a kill -9 leaves nothing that blocks the next start.
            srv.proc.send_signal(signal.SIGKILL)
            srv.proc.wait()
            srv.stop()
            srv.start()
            srv.api.call("grpc.health.v1.Health", "Check", timeout=10)
        finally:
            srv.cleanup()


class CrashLeftovers(unittest.TestCase):
    def test_stale_files_swept_real_tasks_kept(self):
        srv = Server()
        try:
            srv.start()
            t = srv.api.task("CreateTask", prompt="keep me", agent="fake")
            wait_for(lambda: srv.api.task("GetTask", task_id=t.task_id).prompt_delivered_at, 30,
                     what="delivery")
            srv.stop()
            td = srv.tasks_dir
            real = os.path.join(td, t.task_id)

            def put(rel, text=""):
                with open(os.path.join(td, rel), "w") as f:
                    f.write(text)

            # What kill -9 leaves: temp files of atomic writes...
            put(os.path.join(t.task_id, "task.json.tmp.12345"), "{\"task_id\": \"tor")
            put(os.path.join(t.task_id, "prompt.txt.tmp.777"), "half")
            put(".api-token.tmp.4321", "half a token")
            put(".terminal-session.tmp.99", "claude-")
            # ...and task directories that never got their task.json.
            stale = ["1700000000-0000000a", "1700000001-0000000b", "1700000002-0000000c",
                     "1700000003-0000000d", "1700000004-0000000e", "1700000005-0000000f"]
            for i, sid in enumerate(stale):
                os.mkdir(os.path.join(td, sid), 0o700)
                if i % 2 == 0:
                    put(os.path.join(sid, "prompt.txt"), "never acknowledged")
                if i % 3 == 0:
                    put(os.path.join(sid, "task.json.tmp.%d" % (100 + i)), "{")
                    put(os.path.join(sid, "output.log"), "")
            # Not ours: left alone.
            foreign = "1700000009-00000009"
            os.mkdir(os.path.join(td, foreign))
            put(os.path.join(foreign, "notes.md"), "mine")
            put("backup.tmp.1", "not our name")
            put(os.path.join(t.task_id, "output.log.tmp.5"), "not a file we write atomically")
            os.mkdir(os.path.join(td, "not-a-task-id"))

            srv.start()
            for sid in stale:
                self.assertFalse(os.path.exists(os.path.join(td, sid)), sid)
            for rel in (os.path.join(t.task_id, "task.json.tmp.12345"), os.path.join(t.task_id, "prompt.txt.tmp.777"),
                        ".api-token.tmp.4321", ".terminal-session.tmp.99"):
                self.assertFalse(os.path.exists(os.path.join(td, rel)), rel)
            for rel in (os.path.join(foreign, "notes.md"), "backup.tmp.1", "not-a-task-id",
                        os.path.join(t.task_id, "output.log.tmp.5")):
                self.assertTrue(os.path.exists(os.path.join(td, rel)), rel)
            self.assertTrue(os.path.isfile(os.path.join(real, "task.json")))
            got = srv.api.task("GetTask", task_id=t.task_id)
            self.assertEqual(got.prompt, "keep me")
            self.assertEqual([x.task_id for x in srv.api.task("ListTasks").tasks], [t.task_id])
            log = srv.log()
            for sid in stale:
                self.assertIn(sid, log, "each removal is logged")
            self.assertIn("task.json.tmp.12345", log)
        finally:
            srv.cleanup()

    def test_token_mode_fixed_on_restart(self):
        srv = Server()
        try:
            srv.start()
            token = srv.token()
            self.assertEqual(stat.S_IMODE(os.stat(srv.token_path()).st_mode), 0o600)
            self.assertEqual(stat.S_IMODE(os.stat(srv.tasks_dir).st_mode) & 0o077, 0)
            srv.stop()
            os.chmod(srv.token_path(), 0o644)
            srv.start()
            self.assertEqual(stat.S_IMODE(os.stat(srv.token_path()).st_mode), 0o600)
            self.assertEqual(srv.token(), token, "the token itself is kept")
            self.assertIn("mode was wrong", srv.log())
        finally:
            srv.cleanup()


class KilledBeforeReady(unittest.TestCase):
    def test_kill9_then_tmux_gone_is_error(self):
        srv = Server()
        try:
            srv.start()
            t = srv.api.task("CreateTask", prompt="never delivered", agent="waiting")
            srv.proc.send_signal(signal.SIGKILL)
            srv.proc.wait()
            srv.stop()
            srv.kill_tmux()  # a pod restart takes tmux along
            srv.start()
            got = srv.api.task("GetTask", task_id=t.task_id)
            self.assertEqual(status_name(srv.api, got.status), "TASK_STATUS_ERROR")
            self.assertEqual(got.error.value, "kc-server stopped before the agent was ready")
            on_disk = json.load(open(os.path.join(srv.tasks_dir, t.task_id, "task.json")))
            self.assertEqual(on_disk["status"], "error")
        finally:
            srv.cleanup()

    def test_kill9_session_alive_ends_in_error_not_completed(self):
        srv = Server()
        try:
            srv.start()
            t = srv.api.task("CreateTask", prompt="never delivered", agent="never")
            srv.proc.send_signal(signal.SIGKILL)
            srv.proc.wait()
            srv.stop()
            srv.start()
            got = wait_for(lambda: (lambda x: x if x.status != srv.api.enum("kc.v1.TaskStatus",
                                                                                "TASK_STATUS_RUNNING") else None)(
                srv.api.task("GetTask", task_id=t.task_id)), 30, what="the task to end")
            self.assertEqual(status_name(srv.api, got.status), "TASK_STATUS_ERROR")
            self.assertIn("ready", got.error.value)
        finally:
            srv.cleanup()


class TcpPort(unittest.TestCase):
    def setUp(self):
        self.port = free_port()
        self.srv = Server(grpc_port=self.port)
        with_limits(self.srv, ["max_health_watches: %d" % HEALTH_CAP, "grpc_max_streams: %d" % TCP_STREAMS])
        self.srv.start()
        self.tcp = Api("127.0.0.1:%d" % self.port)

    def tearDown(self):
        self.tcp.close()
        self.srv.cleanup()

    def test_health_watch_cap(self):
        streams = []
        try:
            for _ in range(HEALTH_CAP):
                st = self.tcp.stream("grpc.health.v1.Health", "Watch", service="")
                first = next(st)
                self.assertEqual(first.status, 1)  # SERVING
                streams.append(st)
            # Past the cap, in several ways: another stream on the same
            # channel, on a new channel, for another service name.
            for target_api, service in ((self.tcp, ""), (None, "kc.v1.TaskService"), (None, "nope")):
                other = target_api or Api("127.0.0.1:%d" % self.port)
                try:
                    st = other.stream("grpc.health.v1.Health", "Watch", service=service)
                    with self.assertRaises(grpc.RpcError) as cm:
                        next(st)
                    self.assertEqual(cm.exception.code(), grpc.StatusCode.RESOURCE_EXHAUSTED)
                finally:
                    if other is not self.tcp:
                        other.close()
            # A caller with the bearer token is not counted.
            st = self.tcp.stream("grpc.health.v1.Health", "Watch", token=self.srv.token(), service="")
            self.assertEqual(next(st).status, 1)
            streams.append(st)
            # Check (unary) still answers.
            self.tcp.call("grpc.health.v1.Health", "Check", timeout=10)
            # A closed stream frees its place.
            streams.pop(0).cancel()

            def one_more():
                st2 = self.tcp.stream("grpc.health.v1.Health", "Watch", service="")
                try:
                    next(st2)
                except grpc.RpcError:
                    return None
                streams.append(st2)
                return True
            wait_for(one_more, 20, interval=0.2, what="a freed health watch place")
        finally:
            for st in streams:
                st.cancel()

    def test_streams_per_connection_capped(self):
        token = self.srv.token()
        streams = []
        try:
            for _ in range(TCP_STREAMS):
                st = self.tcp.stream("kc.v1.MetricsService", "WatchMetrics", token=token, interval_ms=60000)
                next(st)
                streams.append(st)
            # The connection has no stream left: a call on it waits for one
            # (the client holds it back) and runs out of time.
            with self.assertRaises(grpc.RpcError) as cm:
                self.tcp.call("grpc.health.v1.Health", "Check", timeout=2)
            self.assertEqual(cm.exception.code(), grpc.StatusCode.DEADLINE_EXCEEDED)
            # Another connection is not affected, nor is the unix socket.
            # (grpcio shares one connection between channels to the same
            # target unless asked not to.)
            other = Api("127.0.0.1:%d" % self.port)
            other.channel.close()
            other.channel = grpc.insecure_channel("127.0.0.1:%d" % self.port,
                                                  options=[("grpc.use_local_subchannel_pool", 1)])
            try:
                other.call("grpc.health.v1.Health", "Check", timeout=10)
            finally:
                other.close()
            self.srv.api.call("grpc.health.v1.Health", "Check", timeout=10)
            # A stream that ends gives its place back.
            streams.pop().cancel()
            wait_for(lambda: self.tcp.call("grpc.health.v1.Health", "Check", timeout=2), 20,
                     what="a freed stream")
        finally:
            for st in streams:
                st.cancel()

    def test_identity_metadata_ignored_over_tcp(self):
        token_before = self.srv.token()
        idents = [
            [("x-kc-oauth-user", "alice")],
            [("x-kc-oauth-user", "alice"), ("x-kc-oauth-email", "alice@example.com")],
            [("x-kc-oauth-email", "alice@example.com"), ("x-kc-oauth-user", "alice")],
            [("x-kc-oauth-user", "")],
            [("x-kc-oauth-user", "alice"), ("x-kc-oauth-user", "bob")],
        ]
        for method in ("GetApiToken", "RegenerateApiToken"):
            for md in idents:
                # No bearer: UNAUTHENTICATED; a bearer: PERMISSION_DENIED;
                # never a token.
                with self.assertRaises(grpc.RpcError) as cm:
                    self.tcp.call("kc.v1.WorkspaceService", method, metadata=md, timeout=10)
                self.assertEqual(cm.exception.code(), grpc.StatusCode.UNAUTHENTICATED, (method, md))
                with self.assertRaises(grpc.RpcError) as cm:
                    self.tcp.call("kc.v1.WorkspaceService", method, token=token_before, metadata=md, timeout=10)
                self.assertEqual(cm.exception.code(), grpc.StatusCode.PERMISSION_DENIED, (method, md))
            # Nor does it stand in for the bearer on the other rpcs.
            with self.assertRaises(grpc.RpcError) as cm:
                self.tcp.task("ListTasks", metadata=idents[1], timeout=10)
            self.assertEqual(cm.exception.code(), grpc.StatusCode.UNAUTHENTICATED)
        self.assertEqual(self.srv.token(), token_before, "the token was not regenerated")
        # The control: the same metadata over the unix socket is an identity.
        unix = Api("unix:" + self.srv.socket)
        try:
            got = unix.call("kc.v1.WorkspaceService", "GetApiToken", metadata=idents[0], timeout=10)
            self.assertEqual(got.token, token_before)
        finally:
            unix.close()


FAKE_GH = """#!/usr/bin/python3
import sys, time
time.sleep(float(open(%(delay)r).read().strip() or "0"))
if sys.argv[1:3] == ["api", "user"]:
    print("octocat")
    sys.exit(0)
sys.exit(1)
"""


class GhOffWorkers(unittest.TestCase):
    def test_slow_gh_never_holds_workers(self):
        bindir = tempfile.mkdtemp(prefix="kc-gh-", dir=os.environ.get("TEST_TMPDIR"))
        delay = os.path.join(bindir, "delay")
        with open(delay, "w") as f:
            f.write("3")
        gh = os.path.join(bindir, "gh")
        with open(gh, "w") as f:
            f.write(FAKE_GH % {"delay": delay})
        os.chmod(gh, 0o755)
        srv = Server(env={"PATH": bindir + ":" + os.environ.get("PATH", "/usr/bin:/bin")})
        try:
            srv.start()
            api = srv.api
            # The status answers at once, from the cache (maybe still empty).
            t0 = time.monotonic()
            st = api.call("kc.v1.WorkspaceService", "GetGitHubStatus", timeout=10)
            self.assertLess(time.monotonic() - t0, 2.0)
            self.assertTrue(st.gh_cli.installed)

            # More CompleteGhAuth calls than rpc workers (4), all waiting
            # for a 3 s gh at once.
            results, errors = [], []

            def complete():
                try:
                    results.append(api.call("kc.v1.WorkspaceService", "CompleteGhAuth", timeout=30))
                except grpc.RpcError as e:
                    errors.append(e)
            threads = [threading.Thread(target=complete) for _ in range(8)]
            for th in threads:
                th.start()
            time.sleep(0.5)
            # Meanwhile other calls answer at once.
            for _ in range(5):
                t0 = time.monotonic()
                api.task("ListTasks", timeout=10)
                api.call("grpc.health.v1.Health", "Check", timeout=10)
                api.call("kc.v1.WorkspaceService", "GetGitHubStatus", timeout=10)
                self.assertLess(time.monotonic() - t0, 1.5, "a call waited behind gh")
            for th in threads:
                th.join(40)
            self.assertEqual(errors, [])
            self.assertEqual(len(results), 8)
            for r in results:
                self.assertTrue(r.authenticated)
                self.assertEqual(r.username, "octocat")
                self.assertGreater(r.checked_at, 0)
            st = api.call("kc.v1.WorkspaceService", "GetGitHubStatus", timeout=10)
            self.assertTrue(st.gh_cli.authenticated)
            self.assertGreater(st.gh_cli.checked_at, time.time() - 120)

            # A client that gives up is withdrawn; a drain does not wait
            # for a gh that takes a minute.
            with open(delay, "w") as f:
                f.write("60")
            with self.assertRaises(grpc.RpcError) as cm:
                api.call("kc.v1.WorkspaceService", "CompleteGhAuth", timeout=1)
            self.assertEqual(cm.exception.code(), grpc.StatusCode.DEADLINE_EXCEEDED)
            pending = []
            # Its own channel: stop() closes srv.api's.
            api2 = Api("unix:" + srv.socket, token=srv.token())
            th = threading.Thread(target=lambda: pending.append(self._catch(api2)))
            th.start()
            time.sleep(0.5)
            t0 = time.monotonic()
            self.assertEqual(srv.stop(timeout=30), 0)
            self.assertLess(time.monotonic() - t0, 12.0, "the drain waited for gh")
            th.join(30)
            api2.close()
            self.assertEqual(len(pending), 1)
            self.assertEqual(pending[0], grpc.StatusCode.UNAVAILABLE)
        finally:
            srv.cleanup()

    @staticmethod
    def _catch(api):
        try:
            api.call("kc.v1.WorkspaceService", "CompleteGhAuth", timeout=60)
            return None
        except grpc.RpcError as e:
            return e.code()


if __name__ == "__main__":
    unittest.main(verbosity=2, warnings="ignore")
