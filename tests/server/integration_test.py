"""kc-server through gRPC with real tmux and the fake agent: the whole task
lifecycle, follow-ups, kill, output after exit, restart re-adoption, paging,
limits, streams, auth and every error code."""
import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import grpc  # noqa: E402
from kcapi import Server, free_port, wait_for  # noqa: E402

RUNNING, COMPLETED, ERROR, KILLED = 1, 2, 3, 4
STARTING, WORKING, WAITING = 1, 2, 3
TS = "kc.v1.TaskService"


def code_of(fn):
    try:
        fn()
    except grpc.RpcError as e:
        return e.code(), e.details()
    return grpc.StatusCode.OK, ""


class Base(unittest.TestCase):
    server_kw = {}

    def setUp(self):
        self.srv = Server(**self.server_kw)
        try:
            self.srv.start()
        except BaseException:
            self.srv.cleanup()
            raise
        self.api = self.srv.api

    def tearDown(self):
        try:
            if self._outcome.errors and any(e for _, e in self._outcome.errors):
                sys.stderr.write("---- server log ----\n" + self.srv.log()[-6000:] + "\n")
        except Exception:
            pass
        self.srv.cleanup()

    def create(self, prompt="hello", **kw):
        return self.api.task("CreateTask", prompt=prompt, **kw)

    def get(self, tid):
        return self.api.task("GetTask", task_id=tid)

    def wait_delivered(self, tid, timeout=30):
        return wait_for(lambda: (lambda t: t if t.HasField("prompt_delivered_at") else None)(self.get(tid)),
                        timeout, what="prompt delivery")

    def wait_status(self, tid, status, timeout=30):
        return wait_for(lambda: (lambda t: t if t.status == status else None)(self.get(tid)), timeout,
                        what="status %d" % status)

    def tmux_sessions(self):
        r = subprocess.run(["tmux", "-S", self.srv.tmux_socket, "list-sessions", "-F", "#{session_name}"],
                           capture_output=True, text=True)
        return r.stdout.split()


class Lifecycle(Base):
    def test_lifecycle_followups_output(self):
        t = self.create("hello agent")
        self.assertRegex(t.task_id, r"^[0-9]+-[0-9a-f]{8}$")
        self.assertEqual(t.status, RUNNING)
        self.assertEqual(t.tmux_session, "claude-" + t.task_id)
        self.assertEqual(t.workdir, os.path.realpath(self.srv.home))
        self.assertEqual(t.agent, "fake")
        self.assertRegex(t.session_id, r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
        self.assertIn("claude-" + t.task_id, self.tmux_sessions())
        tid = t.task_id

        # Store layout and content.
        d = os.path.join(self.srv.tasks_dir, tid)
        self.assertEqual(open(os.path.join(d, "prompt.txt")).read(), "hello agent")
        j = json.load(open(os.path.join(d, "task.json")))
        self.assertEqual(j["task_id"], tid)
        self.assertEqual(j["status"], "running")
        self.assertEqual(j["tmux_session"], "claude-" + tid)

        self.wait_delivered(tid)
        g = wait_for(lambda: (lambda x: x if "echo: hello agent" in x.recent_output else None)(self.get(tid)),
                     20, what="echo of the prompt")
        self.assertEqual(g.status, RUNNING)
        # Quiet pane showing the prompt: waiting for input.
        wait_for(lambda: self.get(tid).status_detail == WAITING, 20, what="waiting_for_input")

        r = self.api.task("SendMessage", task_id=tid, prompt="second message")
        self.assertEqual(len(r.followups), 1)
        self.assertEqual(r.followups[0].prompt, "second message")
        self.assertGreater(r.followups[0].sent_at, 0)
        wait_for(lambda: b"echo: second message" in self.api.task("GetTaskOutput", task_id=tid).data, 20,
                 what="follow-up echo")
        out = self.api.task("GetTaskOutput", task_id=tid, tail=1)
        self.assertEqual(out.content_type, "text/plain; charset=utf-8")
        self.assertLessEqual(out.data.count(b"\n"), 1)

        self.api.task("SendMessage", task_id=tid, prompt="exit")
        t = self.wait_status(tid, COMPLETED)
        self.assertTrue(t.HasField("finished_at"))
        self.assertFalse(t.HasField("killed_at"))
        self.assertEqual(t.recent_output, "")
        # The saved log has everything from the first byte.
        data = self.api.task("GetTaskOutput", task_id=tid).data
        self.assertTrue(data.startswith(b"Fake agent starting"), data[:80])
        self.assertIn(b"bye", data)
        # Saved right after the change is visible in memory.
        saved = wait_for(lambda: (lambda j: j if j["status"] == "completed" else None)(
            json.load(open(os.path.join(d, "task.json")))), 20, what="completed in task.json")
        self.assertEqual(len(saved["followups"]), 2)

        c, msg = code_of(lambda: self.api.task("SendMessage", task_id=tid, prompt="more"))
        self.assertEqual(c, grpc.StatusCode.FAILED_PRECONDITION)
        self.assertEqual(msg, "Session is no longer running")

    def test_kill_and_prepare_terminal(self):
        tid = self.create("x").task_id
        # A second task keeps the supervisor reconciling after the kill
        # (with nothing running it does not reconcile at all).
        witness = self.create("witness").task_id
        self.wait_delivered(tid)
        self.wait_delivered(witness)
        r = self.api.task("KillTask", task_id=tid)
        self.assertEqual(r.task_id, tid)
        self.assertEqual(r.status, KILLED)
        self.assertGreater(r.killed_at, 0)
        self.assertNotIn("claude-" + tid, self.tmux_sessions())
        t = self.get(tid)
        self.assertEqual(t.status, KILLED)
        self.assertTrue(t.HasField("killed_at"))
        # It stays killed after the supervisor's next reconciliation. Only
        # a reconciliation completes a task whose session vanished, so the
        # witness's completion proves one ran after the kill.
        subprocess.run(["tmux", "-S", self.srv.tmux_socket, "kill-session", "-t", "=claude-" + witness],
                       check=True)
        self.wait_status(witness, COMPLETED, 20)
        t = self.get(tid)
        self.assertEqual(t.status, KILLED)
        self.assertEqual(t.killed_at.value, r.killed_at)
        saved = json.load(open(os.path.join(self.srv.tasks_dir, tid, "task.json")))
        self.assertEqual(saved["status"], "killed")
        p = self.api.task("PrepareTerminal", task_id=tid)
        self.assertTrue(p.ok)
        self.assertEqual(p.session, "claude-" + tid)
        marker = os.path.join(self.srv.tasks_dir, ".terminal-session")
        self.assertEqual(open(marker).read().strip(), "claude-" + tid)

    def test_ready_timeout_is_error(self):
        tid = self.create("never ready", agent="never").task_id
        t = self.wait_status(tid, ERROR, 30)
        self.assertIn("did not become ready", t.error.value)
        self.assertNotIn("claude-" + tid, self.tmux_sessions())

    def test_messages_before_delivery_are_queued(self):
        t = self.create("the prompt", agent="slow")
        tid = t.task_id
        self.assertFalse(t.HasField("prompt_delivered_at"))
        r1 = self.api.task("SendMessage", task_id=tid, prompt="first follow-up")
        r2 = self.api.task("SendMessage", task_id=tid, prompt="second follow-up")
        # Accepted and queued (sent_at 0 until pasted), in order.
        self.assertEqual([f.prompt for f in r2.followups], ["first follow-up", "second follow-up"])
        self.assertEqual([f.sent_at for f in r2.followups], [0, 0])
        self.assertEqual(len(r1.followups), 1)
        # Persisted, so a restart does not lose them.
        j = json.load(open(os.path.join(self.srv.tasks_dir, tid, "task.json")))
        self.assertEqual([f["prompt"] for f in j["followups"]], ["first follow-up", "second follow-up"])
        # The agent gets the prompt first, then the messages in order.
        want = [b"echo: the prompt", b"echo: first follow-up", b"echo: second follow-up"]
        data = wait_for(lambda: (lambda d: d if all(w in d for w in want) else None)(
            self.api.task("GetTaskOutput", task_id=tid).data), 30, what="prompt and queued messages")
        pos = [data.index(w) for w in want]
        self.assertEqual(pos, sorted(pos), data)
        g = wait_for(lambda: (lambda x: x if all(f.sent_at > 0 for f in x.followups) else None)(self.get(tid)),
                     20, what="sent_at of queued messages")
        self.assertGreaterEqual(g.followups[0].sent_at, g.prompt_delivered_at.value)
        self.assertGreaterEqual(g.followups[1].sent_at, g.followups[0].sent_at)
        # Once everything is out, a message is pasted at once again.
        r3 = self.api.task("SendMessage", task_id=tid, prompt="third")
        self.assertGreater(r3.followups[2].sent_at, 0)
        wait_for(lambda: b"echo: third" in self.api.task("GetTaskOutput", task_id=tid).data, 20,
                 what="third message")

    def test_queue_is_bounded(self):
        tid = self.create("p", agent="waiting").task_id
        for i in range(32):
            self.api.task("SendMessage", task_id=tid, prompt="m%d" % i)
        c, msg = code_of(lambda: self.api.task("SendMessage", task_id=tid, prompt="one too many"))
        self.assertEqual(c, grpc.StatusCode.RESOURCE_EXHAUSTED)
        self.assertIn("limit", msg)
        self.api.task("KillTask", task_id=tid)
        c, msg = code_of(lambda: self.api.task("SendMessage", task_id=tid, prompt="late"))
        self.assertEqual((c, msg), (grpc.StatusCode.FAILED_PRECONDITION, "Session is no longer running"))
        # Never delivered: still there, still marked unsent.
        self.assertTrue(all(f.sent_at == 0 for f in self.get(tid).followups))

    def test_agents_start_with_default_signals(self):
        # kc-server blocks SIGINT/SIGTERM and ignores SIGPIPE for itself;
        # none of that may leak into tmux (kill-server is a SIGTERM to
        # itself) or into agents (Ctrl-C must reach them).
        tid = self.create("signals", agent="sleeper").task_id
        pid = wait_for(lambda: subprocess.run(
            ["tmux", "-S", self.srv.tmux_socket, "list-panes", "-t", "=claude-" + tid, "-F", "#{pane_pid}"],
            capture_output=True, text=True).stdout.strip(), 20, what="pane pid")
        wait_for(lambda: "sleep" in open("/proc/%s/cmdline" % pid).read(), 20, what="the agent replaces the placeholder")
        fields = dict(line.split(":", 1) for line in open("/proc/%s/status" % pid).read().splitlines() if ":" in line)
        self.assertEqual(int(fields["SigBlk"], 16), 0)
        ignored = int(fields["SigIgn"], 16)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGPIPE):
            self.assertFalse(ignored & (1 << (sig - 1)), sig)
        # And so tmux's kill-server really ends the server and its agents.
        subprocess.call(["tmux", "-S", self.srv.tmux_socket, "kill-server"])
        wait_for(lambda: not os.path.exists("/proc/%s" % pid), 20, what="the agent to end with its tmux server")

    def test_workdir_relative_and_agent_exit(self):
        os.makedirs(os.path.join(self.srv.home, "proj"))
        t = self.create("fail", workdir="proj")
        self.assertEqual(t.workdir, os.path.realpath(os.path.join(self.srv.home, "proj")))
        self.wait_status(t.task_id, COMPLETED)

    def test_watch_task_stream(self):
        tid = self.create("watch me").task_id
        self.wait_delivered(tid)
        stream = self.api.stream(TS, "WatchTask", task_id=tid, include_output=True, timeout=60)
        first = next(stream)
        self.assertEqual(first.WhichOneof("event"), "task")
        self.assertEqual(first.task.task_id, tid)
        self.api.task("SendMessage", task_id=tid, prompt="exit")
        text = ""
        last = None
        for ev in stream:
            if ev.WhichOneof("event") == "output":
                text += ev.output.text
            else:
                last = ev.task
        self.assertIn("bye", text)
        self.assertIn("Fake agent starting", text)
        self.assertIsNotNone(last)
        self.assertEqual(last.status, COMPLETED)

    def test_watch_streams_whole_log_without_gaps(self):
        # More than the old 4 MiB end-of-task drain, read slowly at first:
        # every byte arrives, chunk offsets are contiguous, and the one
        # task event of an ended task comes after the last byte.
        tid = self.create("big").task_id
        self.wait_delivered(tid)
        self.api.task("SendMessage", task_id=tid, prompt="flood 400000")
        log = os.path.join(self.srv.tasks_dir, tid, "output.log")
        wait_for(lambda: os.path.getsize(log) > 5000000, 60, what="5 MB of output")
        self.api.task("SendMessage", task_id=tid, prompt="exit")
        self.wait_status(tid, COMPLETED, 60)
        size = os.path.getsize(log)
        events = []
        for i, ev in enumerate(self.api.stream(TS, "WatchTask", task_id=tid, include_output=True, timeout=120)):
            events.append(ev)
            if i < 40:
                time.sleep(0.02)
        self.assertEqual(events[-1].WhichOneof("event"), "task")
        self.assertEqual(events[-1].task.status, COMPLETED)
        offset = 0
        for ev in events[:-1]:
            self.assertEqual(ev.WhichOneof("event"), "output")
            self.assertEqual(ev.output.offset, offset)
            offset += len(ev.output.text.encode())
        self.assertEqual(offset, size)
        self.assertEqual(os.path.getsize(log), size)

    def test_watch_cancel_does_not_block(self):
        tid = self.create("w").task_id
        streams = [self.api.stream(TS, "WatchTask", task_id=tid) for _ in range(8)]
        for s in streams:
            next(s)
        # Unary calls still answer while eight streams are open.
        self.assertEqual(self.api.task("ListTasks").total_size, 1)
        for s in streams:
            s.cancel()
        self.assertEqual(self.get(tid).task_id, tid)
        # A deadline ends a stream with DEADLINE_EXCEEDED.
        s = self.api.stream(TS, "WatchTask", task_id=tid, timeout=1)
        c, _ = code_of(lambda: list(s))
        self.assertEqual(c, grpc.StatusCode.DEADLINE_EXCEEDED)


class Errors(Base):
    server_kw = {"max_running": 2}

    def test_error_codes(self):
        C = grpc.StatusCode
        self.assertEqual(code_of(lambda: self.create("   \n\t")), (C.INVALID_ARGUMENT, "prompt is required"))
        self.assertEqual(code_of(lambda: self.create(""))[0], C.INVALID_ARGUMENT)
        self.assertEqual(code_of(lambda: self.create("x" * 70000))[0], C.RESOURCE_EXHAUSTED)
        self.assertEqual(code_of(lambda: self.create("x", agent="nope"))[0], C.INVALID_ARGUMENT)
        self.assertEqual(code_of(lambda: self.create("x", workdir="/does/not/exist"))[0], C.INVALID_ARGUMENT)
        # Invalid UTF-8 in a string field (protobuf-c does not check it):
        # refused, since every other client would choke on the task later.
        raw = self.api.channel.unary_unary("/kc.v1.TaskService/CreateTask")
        md = [("authorization", "Bearer " + self.srv.token())]
        self.assertEqual(code_of(lambda: raw(b"\x0a\x03a\xffb", metadata=md, timeout=10)),
                         (C.INVALID_ARGUMENT, "prompt is not valid UTF-8"))
        self.assertEqual(self.api.task("ListTasks").total_size, 0)
        # A malformed id is a task that does not exist (issue 11): NOT_FOUND
        # like an unknown one, and never a path.
        for bad in ("../x", "", "1-abc", "1-ABCDEF12", "1-abcdef12/../..", "../../etc/passwd"):
            for m in ("GetTask", "KillTask", "PrepareTerminal", "GetTaskOutput"):
                self.assertEqual(code_of(lambda: self.api.task(m, task_id=bad)),
                                 (C.NOT_FOUND, "task not found"), (m, bad))
        self.assertEqual(code_of(lambda: self.get("1700000000-deadbeef")), (C.NOT_FOUND, "task not found"))
        self.assertEqual(code_of(lambda: self.api.task("SendMessage", task_id="1700000000-deadbeef", prompt="x")),
                         (C.NOT_FOUND, "task not found"))
        self.assertEqual(code_of(lambda: self.api.task("ListTasks", page_token="garbage"))[0], C.INVALID_ARGUMENT)
        self.assertEqual(code_of(lambda: self.api.task("ListTasks", page_size=-1))[0], C.INVALID_ARGUMENT)
        self.assertEqual(code_of(lambda: self.api.channel.unary_unary("/kc.v1.TaskService/Nope")(b"", timeout=5))[0],
                         C.UNIMPLEMENTED)
        # Limit of running tasks.
        a = self.create("one").task_id
        self.create("two")
        c, msg = code_of(lambda: self.create("three"))
        self.assertEqual(c, C.RESOURCE_EXHAUSTED)
        self.assertIn("limit", msg)
        self.api.task("KillTask", task_id=a)
        self.create("three again")

    def test_auth(self):
        C = grpc.StatusCode
        api = self.api
        self.assertEqual(code_of(lambda: api.task("ListTasks", token=""))[0], C.UNAUTHENTICATED)
        self.assertEqual(code_of(lambda: api.task("ListTasks", token="wrong"))[0], C.UNAUTHENTICATED)
        self.assertEqual(code_of(lambda: api.call("kc.v1.MetricsService", "GetMetrics", token=""))[0],
                         C.UNAUTHENTICATED)
        # Health needs nothing.
        api.call("kc.v1.WorkspaceService", "GetHealth", token="")
        api.call("grpc.health.v1.Health", "Check", token="")
        # OAuth identity from the gateway over the unix socket.
        oauth = [("x-kc-oauth-user", "alice"), ("x-kc-oauth-email", "alice@example.com")]
        api.task("ListTasks", token="", metadata=oauth)
        # The token: OAuth only, never with a bearer.
        self.assertEqual(code_of(lambda: api.call("kc.v1.WorkspaceService", "GetApiToken"))[0],
                         C.PERMISSION_DENIED)
        self.assertEqual(code_of(lambda: api.call("kc.v1.WorkspaceService", "GetApiToken", token=""))[0],
                         C.UNAUTHENTICATED)
        tok = api.call("kc.v1.WorkspaceService", "GetApiToken", token="", metadata=oauth).token
        self.assertEqual(tok, self.srv.token())
        self.assertGreaterEqual(len(tok), 48)
        self.assertRegex(tok, r"^[A-Za-z0-9_-]+$")
        self.assertEqual(stat.S_IMODE(os.stat(self.srv.token_path()).st_mode), 0o600)
        new = api.call("kc.v1.WorkspaceService", "RegenerateApiToken", token="", metadata=oauth).token
        self.assertNotEqual(new, tok)
        self.assertEqual(code_of(lambda: api.task("ListTasks", token=tok))[0], C.UNAUTHENTICATED)
        api.task("ListTasks", token=new)
        self.assertEqual(self.srv.token(), new)


class TcpListener(Base):
    port = free_port()
    server_kw = {"grpc_port": port}

    def test_oauth_metadata_ignored_over_tcp(self):
        from kcapi import Api
        api = Api("127.0.0.1:%d" % self.port, token=self.srv.token())
        try:
            api.task("ListTasks")
            oauth = [("x-kc-oauth-user", "mallory")]
            c, _ = code_of(lambda: api.task("ListTasks", token="", metadata=oauth))
            self.assertEqual(c, grpc.StatusCode.UNAUTHENTICATED)
            c, _ = code_of(lambda: api.call("kc.v1.WorkspaceService", "GetApiToken", token="", metadata=oauth))
            self.assertEqual(c, grpc.StatusCode.UNAUTHENTICATED)
            api.call("grpc.health.v1.Health", "Check", token="")
        finally:
            api.close()


class Paging(Base):
    server_kw = {"max_running": 50}

    def test_paging_and_filter(self):
        ids = []
        for i in range(7):
            ids.append(self.create("task %d " % i + "y" * 200).task_id)
        for tid in ids[:3]:
            self.api.task("KillTask", task_id=tid)
        everything = self.api.task("ListTasks")
        self.assertEqual(everything.total_size, 7)
        self.assertEqual([t.task_id for t in everything.tasks], list(reversed(ids)))
        self.assertEqual(everything.next_page_token, "")
        self.assertEqual(len(everything.tasks[0].prompt), 120)
        got, token = [], ""
        while True:
            page = self.api.task("ListTasks", page_size=3, page_token=token)
            self.assertLessEqual(len(page.tasks), 3)
            self.assertEqual(page.total_size, 7)
            got += [t.task_id for t in page.tasks]
            token = page.next_page_token
            if not token:
                break
        self.assertEqual(got, list(reversed(ids)))
        killed = self.api.task("ListTasks", status=KILLED, page_size=2)
        self.assertEqual(killed.total_size, 3)
        self.assertEqual([t.task_id for t in killed.tasks], [ids[2], ids[1]])
        rest = self.api.task("ListTasks", status=KILLED, page_size=2, page_token=killed.next_page_token)
        self.assertEqual([t.task_id for t in rest.tasks], [ids[0]])
        self.assertEqual(rest.next_page_token, "")
        for tid in ids[3:]:
            self.api.task("KillTask", task_id=tid)


class Restart(Base):
    def test_readopt_and_mark_finished(self):
        alive = self.create("survivor").task_id
        doomed = self.create("doomed").task_id
        self.wait_delivered(alive)
        self.wait_delivered(doomed)
        self.assertEqual(self.srv.stop(), 0)
        # While the server is down, one session ends.
        subprocess.call(["tmux", "-S", self.srv.tmux_socket, "kill-session", "-t", "=claude-" + doomed])
        self.srv.start()
        self.api = self.srv.api
        self.assertEqual(self.get(alive).status, RUNNING)
        self.assertEqual(self.get(doomed).status, COMPLETED)
        self.api.task("SendMessage", task_id=alive, prompt="still here")
        wait_for(lambda: b"echo: still here" in self.api.task("GetTaskOutput", task_id=alive).data, 20,
                 what="echo after restart")
        self.assertEqual(self.api.task("ListTasks").total_size, 2)

    def test_queued_message_survives_restart(self):
        tid = self.create("before restart", agent="slow").task_id
        self.api.task("SendMessage", task_id=tid, prompt="queued across restart")
        self.assertEqual(self.srv.stop(), 0)
        self.srv.start()
        self.api = self.srv.api
        want = [b"echo: before restart", b"echo: queued across restart"]
        data = wait_for(lambda: (lambda d: d if all(w in d for w in want) else None)(
            self.api.task("GetTaskOutput", task_id=tid).data), 30, what="delivery after restart")
        self.assertLess(data.index(want[0]), data.index(want[1]))
        self.assertEqual(data.count(want[0]), 1, data)

    def test_long_prompts_whole_everywhere_but_lists(self):
        # The index keeps 120 code points of a prompt; every whole-task
        # answer and every save must still carry all of it.
        prompt = "Ünïcödé ✓ 🚀 " + "".join("line %d of a long prompt\n" % i for i in range(300))
        t = self.create(prompt, agent="waiting")
        tid = t.task_id
        self.assertEqual(t.prompt, prompt)
        self.assertEqual(self.get(tid).prompt, prompt)
        w = self.api.stream(TS, "WatchTask", task_id=tid, timeout=60)
        self.assertEqual(next(w).task.prompt, prompt)
        w.cancel()
        self.assertEqual(self.api.task("ListTasks").tasks[0].prompt, prompt[:120])
        r = self.api.task("SendMessage", task_id=tid, prompt="queued")
        self.assertEqual(r.prompt, prompt)
        self.api.task("KillTask", task_id=tid)  # saves task.json again
        path = os.path.join(self.srv.tasks_dir, tid, "task.json")
        self.assertEqual(json.load(open(path, encoding="utf-8"))["prompt"], prompt)
        self.assertEqual(self.srv.stop(), 0)
        self.srv.start()
        self.api = self.srv.api
        g = self.get(tid)
        self.assertEqual(g.prompt, prompt)
        self.assertEqual(g.status, KILLED)
        self.assertEqual(self.api.task("ListTasks").tasks[0].prompt, prompt[:120])
        self.assertEqual(json.load(open(path, encoding="utf-8"))["prompt"], prompt)

    def test_graceful_drain_ends_streams(self):
        s = self.api.stream("kc.v1.MetricsService", "WatchMetrics")
        next(s)
        tid = self.create("w").task_id
        w = self.api.stream(TS, "WatchTask", task_id=tid)
        next(w)
        result = {}

        def drain(name, st):
            result[name] = code_of(lambda: list(st))[0]
        threads = [threading.Thread(target=drain, args=("m", s)), threading.Thread(target=drain, args=("t", w))]
        for t in threads:
            t.start()
        time.sleep(0.2)
        self.assertEqual(self.srv.stop(signal.SIGTERM), 0)
        for t in threads:
            t.join(30)
        self.assertEqual(result.get("m"), grpc.StatusCode.UNAVAILABLE)
        self.assertEqual(result.get("t"), grpc.StatusCode.UNAVAILABLE)


if __name__ == "__main__":
    unittest.main(verbosity=2, warnings="ignore")
