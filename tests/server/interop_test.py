"""Interop: Debian's python3-grpcio (an independent gRPC implementation)
calls every rpc of kc-server, including grpc.health.v1 and the streams."""
import os
import stat
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import grpc  # noqa: E402
from kcapi import Server, wait_for  # noqa: E402

WS = "kc.v1.WorkspaceService"
OAUTH = [("x-kc-oauth-user", "alice"), ("x-kc-oauth-email", "alice@example.com")]


class Interop(unittest.TestCase):
    def setUp(self):
        self.srv = Server()
        try:
            self.srv.start()
        except BaseException:
            self.srv.cleanup()
            raise
        self.api = self.srv.api

    def tearDown(self):
        self.srv.cleanup()

    def test_every_rpc(self):
        api = self.api
        called = set()

        def call(svc, m, /, **kw):
            called.add("%s/%s" % (svc, m))
            return api.call(svc, m, **kw)

        # grpc.health.v1
        self.assertEqual(call("grpc.health.v1.Health", "Check", token="").status, 1)
        self.assertEqual(call("grpc.health.v1.Health", "Check", service="kc.v1.TaskService").status, 1)
        try:
            call("grpc.health.v1.Health", "Check", service="nope")
            self.fail("unknown service answered")
        except grpc.RpcError as e:
            self.assertEqual(e.code(), grpc.StatusCode.NOT_FOUND)
        hw = api.stream("grpc.health.v1.Health", "Watch", token="")
        called.add("grpc.health.v1.Health/Watch")
        self.assertEqual(next(hw).status, 1)
        hw.cancel()

        # TaskService
        t = call("kc.v1.TaskService", "CreateTask", prompt="interop")
        tid = t.task_id
        wait_for(lambda: call("kc.v1.TaskService", "GetTask", task_id=tid).HasField("prompt_delivered_at"), 30)
        self.assertEqual(call("kc.v1.TaskService", "ListTasks").tasks[0].task_id, tid)
        # Delivered means pasted; the agent's echo reaches the pane a moment later.
        wait_for(lambda: b"interop" in call("kc.v1.TaskService", "GetTaskOutput", task_id=tid).data, 30)
        self.assertEqual(len(call("kc.v1.TaskService", "SendMessage", task_id=tid, prompt="again").followups), 1)
        self.assertTrue(call("kc.v1.TaskService", "PrepareTerminal", task_id=tid).ok)
        ws = api.stream("kc.v1.TaskService", "WatchTask", task_id=tid, include_output=True)
        called.add("kc.v1.TaskService/WatchTask")
        self.assertEqual(next(ws).task.task_id, tid)
        self.assertEqual(call("kc.v1.TaskService", "KillTask", task_id=tid).status, 4)
        events = list(ws)
        self.assertEqual(events[-1].task.status, 4)

        # MetricsService
        m = call("kc.v1.MetricsService", "GetMetrics")
        self.assertGreater(m.memory.total_mb, 0)
        self.assertGreaterEqual(m.cpu.cores, 1)
        self.assertEqual(m.disk.path, self.srv.home)
        wm = api.stream("kc.v1.MetricsService", "WatchMetrics", interval_ms=100)
        called.add("kc.v1.MetricsService/WatchMetrics")
        a, b = next(wm), next(wm)
        self.assertGreater(b.timestamp, a.timestamp)
        wm.cancel()

        # WorkspaceService
        h = call(WS, "GetHealth", token="")
        self.assertEqual(set(h.services.keys()), {"vscode", "terminal"})
        self.assertEqual(h.status, 2)  # nothing listens on ports 1 and 2: degraded
        self.assertEqual(call(WS, "GetServiceHealth", token="", service="vscode").status, 2)
        try:
            call(WS, "GetServiceHealth", token="", service="nope")
            self.fail("unknown service answered")
        except grpc.RpcError as e:
            self.assertEqual(e.code(), grpc.StatusCode.NOT_FOUND)
        g = call(WS, "SetGitConfig", name="Alice Example", email="alice@example.com")
        self.assertEqual((g.user_name, g.user_email), ("Alice Example", "alice@example.com"))
        self.assertEqual(call(WS, "GetGitConfig").user_name, "Alice Example")
        self.assertTrue(os.path.exists(os.path.join(self.srv.home, ".gitconfig")))
        try:
            call(WS, "SetGitConfig", name="x\ny", email="a@b.c")
            self.fail("two-line name accepted")
        except grpc.RpcError as e:
            self.assertEqual(e.code(), grpc.StatusCode.INVALID_ARGUMENT)
        k = call(WS, "GenerateSshKey", email="alice@example.com")
        self.assertTrue(k.configured)
        self.assertEqual(k.key_type, "ssh-ed25519")
        self.assertTrue(k.key_fingerprint.startswith("SHA256:"))
        k2 = call(WS, "GenerateSshKey", email="alice@example.com")
        self.assertEqual(k2.public_key, k.public_key)  # never regenerated
        sshcfg = open(os.path.join(self.srv.home, ".ssh", "config")).read()
        self.assertEqual(sshcfg.count("Host github.com"), 1)
        s = call(WS, "GetGitHubStatus")
        self.assertTrue(s.ssh.configured)
        self.assertEqual(s.git_config.user_email, "alice@example.com")
        self.assertFalse(s.github_app.configured)
        self.assertIn("gh auth login", call(WS, "GetGhLoginInstructions").command)
        call(WS, "CompleteGhAuth")
        tok = call(WS, "GetApiToken", token="", metadata=OAUTH).token
        new = call(WS, "RegenerateApiToken", token="", metadata=OAUTH).token
        self.assertNotEqual(tok, new)
        self.assertEqual(stat.S_IMODE(os.stat(self.srv.token_path()).st_mode), 0o600)

        # Every method of every service was called.
        want = set()
        for svc in ("kc.v1.TaskService", "kc.v1.MetricsService", WS, "grpc.health.v1.Health"):
            for meth in api.pool.FindServiceByName(svc).methods:
                want.add("%s/%s" % (svc, meth.name))
        self.assertEqual(want - called, set())


if __name__ == "__main__":
    unittest.main(verbosity=2, warnings="ignore")
