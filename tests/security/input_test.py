"""Issue 11, kc-server's input classes, on a live stack: kc-server with a
private tmux server and the fake agent, kc-gateway in front of it, all on
loopback. Each class is tried in several spellings over REST (through the
gateway) and over gRPC (the unix socket the gateway uses, and the loopback
TCP port), and each test asserts the answer and that nothing ran or was kept.

  tmux format expansion  workdirs holding #(...), #{...}, #[...], %Y, quotes,
                         $(...), spaces: accepted, run in exactly that
                         directory, and no command ran; a trailing ';', '\\;',
                         ';' alone and control bytes: refused (400 /
                         INVALID_ARGUMENT) with no task and no session; the
                         same through JSON \\u escapes and a percent-encoded
                         query; a tasks_dir with #(...), %, quotes (pipe-pane's
                         command) records output and runs nothing.
  control bytes          prompts and follow-ups with ESC [201~, Ctrl-U,
                         Ctrl-C, other C0, DEL: refused naming byte and offset;
                         tabs, newlines, CR and Unicode still go through.
  whole strings          a NUL in a gRPC string field (prompt, workdir, a
                         follow-up, task_id) is refused naming the field, as
                         REST refuses \\u0000.
  malformed task ids     "..", "../x", "%2e%2e", too long, bad charset: 404 /
                         NOT_FOUND "task not found" on every task route, and
                         no file touched.

"Nothing ran": every #(...) and $(...) in the inputs writes a marker file
into $KC_MARK_DIR (a directory given to kc-server's environment, hence to
the tmux server's and its jobs'), spelled without a '/' so it fits in a
directory name (`#(cd $KC_MARK_DIR;touch NAME)`). A control test first shows
that tmux really runs such a job and the marker appears; after each test
(and a pause: tmux runs #() asynchronously) the directory must be empty.
tmux kills a format's job when the client that asked for it leaves, which
kc-server's short-lived tmux clients do at once, so a missing marker alone
is weak evidence; the deterministic one is that every accepted workdir is
the pane's working directory, byte for byte, and that the weird tasks_dir
gets its output.log at its literal path (an expanded #(...) would vanish
from the path). Sanitizer reports in either log fail the suite.
"""
import glob
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "server"))
import grpc  # noqa: E402
from kcapi import Api, Server, find_runfile, free_port, wait_for  # noqa: E402

TS = "kc.v1.TaskService"
C = grpc.StatusCode
MARK = "cd $KC_MARK_DIR;touch "
# Room for tmux to run a job it was (wrongly) given before we look.
JOB_GRACE_S = 0.6


def mark(name):
    """A shell command that leaves `name` in $KC_MARK_DIR; no '/' in it."""
    return MARK + name


def field(number, data):
    """A length-delimited protobuf field."""
    key, n, size = bytes([number << 3 | 2]), len(data), b""
    while True:
        size += bytes([(n & 0x7f) | (0x80 if n > 0x7f else 0)])
        n >>= 7
        if not n:
            return key + size + data


def code_of(fn):
    try:
        fn()
    except grpc.RpcError as e:
        return e.code(), e.details()
    return C.OK, ""


class Stack:
    """kc-server (gRPC on its unix socket and a loopback port) + kc-gateway."""

    def __init__(self, root=None, gateway=True):
        tmp = os.environ.get("TEST_TMPDIR")
        self.markdir = tempfile.mkdtemp(prefix="kc-mark-", dir=tmp)
        self.grpc_port = free_port()
        fake = find_runfile("tests/fake_agent/fake_agent.py")
        agents = """
agents:
  default: fake
  list:
    - name: fake
      command: ["/usr/bin/python3", "%(fake)s", "--session-id", "{session_id}"]
      ready_pattern: "^>"
      ready_timeout_ms: 20000
    - name: shellwd
      command: ["/usr/bin/python3 %(fake)s --session-id {workdir}"]
      ready_pattern: "^>"
      ready_timeout_ms: 20000
""" % {"fake": fake}
        self.srv = Server(root=root, agents_yaml=agents, grpc_port=self.grpc_port,
                          env={"KC_MARK_DIR": self.markdir})
        self.gw = None
        self.port = None
        if gateway:
            self.web = tempfile.mkdtemp(prefix="kc-web-", dir=tmp)
            with open(self.srv.config, "a") as f:
                f.write("gateway:\n  listen: 127.0.0.1:0\n  upstream: unix:%s\n  web_root: %s\n"
                        % (self.srv.socket, self.web))

    def start(self):
        self.srv.start()
        self.api = self.srv.api
        self.tcp = Api("127.0.0.1:%d" % self.grpc_port, token=self.srv.token())
        if self.srv.config and self.web_configured():
            self.gw_log = os.path.join(self.srv.root, "gateway.log")
            env = dict(os.environ)
            env.pop("KC_PORT", None)
            self.gw = subprocess.Popen([find_runfile("gateway/kc-gateway"), "--config", self.srv.config],
                                       stdout=open(self.gw_log, "ab"), stderr=subprocess.STDOUT, env=env)

            def listening():
                if self.gw.poll() is not None:
                    raise AssertionError("kc-gateway exited:\n" + open(self.gw_log).read()[-3000:])
                for line in open(self.gw_log, errors="replace"):
                    if '"listening"' in line:
                        return json.loads(line).get("port")
                return None
            self.port = int(wait_for(listening, 30, what="kc-gateway listening"))
            wait_for(lambda: self.rest("GET", "/health")[0] == 200, 30, what="gateway health")
        return self

    def web_configured(self):
        return hasattr(self, "web")

    def stop(self):
        """Stops both (gracefully: under --config=asan leaks are reported
        at exit) and returns any sanitizer report from their logs."""
        if self.gw and self.gw.poll() is None:
            self.gw.terminate()
            try:
                self.gw.wait(15)
            except subprocess.TimeoutExpired:
                self.gw.kill()
        if getattr(self, "tcp", None):
            self.tcp.close()
        self.srv.stop()
        report = ""
        for log in (self.srv.log_path, getattr(self, "gw_log", None)):
            text = open(log, errors="replace").read() if log and os.path.exists(log) else ""
            if "Sanitizer" in text:
                report += text[max(0, text.index("Sanitizer") - 200):][:4000]
        self.srv.cleanup()
        shutil.rmtree(self.markdir, ignore_errors=True)
        if getattr(self, "web", None):
            shutil.rmtree(self.web, ignore_errors=True)
        return report

    # ---- REST ----
    def rest(self, method, path, body=None, raw=None, headers=None):
        h = {"Authorization": "Bearer " + self.srv.token(), "Host": "127.0.0.1:%d" % self.port}
        data = None
        if raw is not None:
            data = raw if isinstance(raw, bytes) else raw.encode()
        elif body is not None:
            data = json.dumps(body).encode()
        if data is not None:
            h["Content-Type"] = "application/json"
        h.update(headers or {})
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for k, v in h.items():
                conn.putheader(k, v)
            if data is not None:
                conn.putheader("Content-Length", str(len(data)))
            conn.endheaders(data)
            r = conn.getresponse()
            # A stream (watch) that was wrongly opened: read what came, not forever.
            if r.getheader("Content-Type", "").startswith("text/event-stream"):
                conn.sock.settimeout(2)
                try:
                    out = r.read1(65536)
                except (socket.timeout, OSError):
                    out = b""
            else:
                out = r.read()
            return r.status, out
        finally:
            conn.close()

    def rest_error(self, out):
        try:
            return json.loads(out).get("error")
        except ValueError:
            return None

    # ---- state ----
    def sessions(self):
        r = subprocess.run(["tmux", "-S", self.srv.tmux_socket, "list-sessions", "-F", "#{session_name}"],
                           capture_output=True, text=True)
        return sorted(r.stdout.split())

    def task_dirs(self):
        try:
            return sorted(d for d in os.listdir(self.srv.tasks_dir) if not d.startswith("."))
        except FileNotFoundError:
            return []

    def snapshot(self):
        return (self.api.task("ListTasks").total_size, self.task_dirs(), self.sessions())

    def marks(self):
        found = sorted(os.listdir(self.markdir))
        # A job that ran without the cd lands in its working directory:
        # look where that could be, too.
        for d in (self.srv.root, self.srv.home, os.getcwd(), "/tmp"):
            found += [p for p in glob.glob(os.path.join(glob.escape(d), "**", "kcmark*"), recursive=True)]
        return found

    def pane_cwd(self, task_id):
        r = subprocess.run(["tmux", "-S", self.srv.tmux_socket, "list-panes", "-t", "=claude-%s:" % task_id,
                            "-F", "#{pane_pid}"], capture_output=True, text=True)
        return os.readlink("/proc/%s/cwd" % r.stdout.split()[0])

    def wait_delivered(self, tid, timeout=30):
        return wait_for(lambda: (lambda t: t if t.HasField("prompt_delivered_at") else None)(
            self.api.task("GetTask", task_id=tid)), timeout, what="prompt delivery")

    def output(self, tid):
        return self.api.task("GetTaskOutput", task_id=tid).data.decode("utf-8", "replace")


STACK = None


def setUpModule():
    global STACK
    STACK = Stack()
    try:
        STACK.start()
    except BaseException:
        STACK.stop()
        raise


def tearDownModule():
    if STACK:
        report = STACK.stop()
        if report:
            raise AssertionError("sanitizer report:\n" + report)


class Base(unittest.TestCase):
    def setUp(self):
        self.s = STACK
        self.before = self.s.snapshot()

    def tearDown(self):
        time.sleep(JOB_GRACE_S)
        marks = self.s.marks()
        # Cleaned so one failure does not fail every later test too.
        for name in os.listdir(self.s.markdir):
            os.unlink(os.path.join(self.s.markdir, name))
        self.assertEqual(marks, [], "a command from the input ran")

    def assert_nothing_kept(self):
        self.assertEqual(self.s.snapshot(), self.before, "a refused request left a task or a session")

    def mkdir(self, name):
        path = os.path.join(self.s.srv.home, name)
        os.makedirs(path, exist_ok=True)
        return os.path.realpath(path)

    def grpc_apis(self):
        return (("unix", self.s.api), ("tcp", self.s.tcp))

    def kill(self, tid):
        self.s.api.task("KillTask", task_id=tid)


class A0_Control(Base):
    """The detector works: tmux does run #(...) in a format, and the marker
    lands in $KC_MARK_DIR, so an empty directory later means nothing ran."""

    def test_tmux_runs_a_format_job_and_we_see_it(self):
        tid = self.s.api.task("CreateTask", prompt="hello").task_id
        self.s.wait_delivered(tid)
        # What kc-server used to do with a workdir: new-session -c. tmux
        # ties a format's job to the client that asked, and kills it when
        # that client leaves, which a command client does at once: keep it
        # a moment (run-shell waits) so the job surely gets to run.
        r = subprocess.run(["tmux", "-S", self.s.srv.tmux_socket, "new-session", "-d", "-s", "kc-probe", "-c",
                            "#(%s)" % mark("probe"), "--", "sleep", "5", ";", "run-shell", "sleep 1"],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        wait_for(lambda: os.path.exists(os.path.join(self.s.markdir, "probe")), 10, what="the probe job")
        os.unlink(os.path.join(self.s.markdir, "probe"))
        subprocess.run(["tmux", "-S", self.s.srv.tmux_socket, "kill-session", "-t", "=kc-probe"])
        self.kill(tid)


class A1_Workdir(Base):
    # Directory names that would run or expand something if the workdir
    # reached a format-expanded argument or a shell: all safe to accept.
    TRICKY = [
        "w#(%s)" % mark("kcmark-a1"),
        "#(%s)x" % mark("kcmark-a2"),
        "w#{session_name}#{pane_pid}",
        "w#[fg=red]#[default]",
        "w##(%s)" % mark("kcmark-a3"),
        "w#[#(%s)]" % mark("kcmark-a4"),
        "sp ace %Y %% #S #H",
        "q'uo\"te $(%s) `%s`" % (mark("kcmark-a5"), mark("kcmark-a6")),
        "semi;colon in the middle",
        "ünïcödé ✓",
    ]

    def test_tricky_workdirs_run_literally_over_grpc(self):
        for i, name in enumerate(self.TRICKY):
            path = self.mkdir(name)
            api = self.s.api if i % 2 == 0 else self.s.tcp
            t = api.task("CreateTask", prompt="hello", workdir=path)
            self.assertEqual(t.workdir, path)
            self.s.wait_delivered(t.task_id)
            self.assertEqual(self.s.pane_cwd(t.task_id), path, name)
            self.assertIn("cwd %s" % path, wait_for(lambda: (lambda o: o if "cwd " in o else None)(
                self.s.output(t.task_id)), 10, what="agent banner"))
            self.kill(t.task_id)

    def test_tricky_workdirs_over_rest_and_relative(self):
        for name in self.TRICKY[:4] + self.TRICKY[7:8]:
            path = self.mkdir(name)
            # Relative to the home, as the REST contract allows.
            st, out = self.s.rest("POST", "/api/claude/tasks", {"prompt": "hi", "workdir": name})
            self.assertEqual(st, 201, out)
            t = json.loads(out)
            self.assertEqual(t["workdir"], path)
            self.s.wait_delivered(t["task_id"])
            self.assertEqual(self.s.pane_cwd(t["task_id"]), path)
            self.kill(t["task_id"])

    def test_one_element_agent_command_gets_the_workdir_quoted(self):
        # tmux runs a one-element command through sh -c: {workdir} must be
        # one shell word however it is spelled.
        for name in ("q'uo\"te $(%s) `%s`" % (mark("kcmark-s1"), mark("kcmark-s2")),
                     "it's; %s #(%s)" % (mark("kcmark-s3"), mark("kcmark-s4"))):
            path = self.mkdir(name)
            t = self.s.api.task("CreateTask", prompt="hello", workdir=path, agent="shellwd")
            self.s.wait_delivered(t.task_id)
            self.assertIn("(session %s, cwd %s)" % (path, path), self.s.output(t.task_id))
            self.kill(t.task_id)

    def test_refused_workdirs(self):
        refused = {
            "ends;": "workdir: must not end in ';'",
            "ends\\;": "workdir: must not end in ';'",
            "w#(%s);" % mark("kcmark-r1"): "workdir: must not end in ';'",
            "tab\there": "workdir: control byte 0x09 at offset 3",
            "nl\nx": "workdir: control byte 0x0a at offset 2",
            "esc\x1b[201~": "workdir: control byte 0x1b at offset 3",
            "del\x7f": "workdir: control byte 0x7f at offset 3",
            "cr\rx": "workdir: control byte 0x0d at offset 2",
        }
        for name, why in refused.items():
            path = self.mkdir(name)  # it exists: refused for its name alone
            for label, api in self.grpc_apis():
                for wd in (path, name):
                    c, msg = code_of(lambda: api.task("CreateTask", prompt="hi", workdir=wd))
                    self.assertEqual(c, C.INVALID_ARGUMENT, (label, wd))
                    if wd == name:
                        self.assertEqual(msg, why, (label, wd))
                    else:
                        self.assertTrue(msg.startswith("workdir: "), msg)
            st, out = self.s.rest("POST", "/api/claude/tasks", {"prompt": "hi", "workdir": name})
            self.assertEqual((st, self.s.rest_error(out)), (400, why), repr(name))
        c, _ = code_of(lambda: self.s.api.task("CreateTask", prompt="hi", workdir=";"))
        self.assertEqual(c, C.INVALID_ARGUMENT)
        # A symlink to such a directory: refused as resolved.
        os.symlink(self.mkdir("ends;"), os.path.join(self.s.srv.home, "innocent"))
        c, msg = code_of(lambda: self.s.api.task("CreateTask", prompt="hi", workdir="innocent"))
        self.assertEqual(c, C.INVALID_ARGUMENT)
        self.assertIn("resolves", msg)
        self.assert_nothing_kept()

    def test_rest_spellings(self):
        # JSON escapes are the same characters: the same answers.
        self.mkdir("ends;")
        path = self.mkdir("w#(%s)" % mark("kcmark-j1"))
        raw = '{"prompt":"hi","workdir":"ends\\u003b"}'
        st, out = self.s.rest("POST", "/api/claude/tasks", raw=raw)
        self.assertEqual((st, self.s.rest_error(out)), (400, "workdir: must not end in ';'"))
        for ctl in ("\\u0000", "\\u001b", "\\u000a", "\\u007f", "\\u0009"):
            st, out = self.s.rest("POST", "/api/claude/tasks", raw='{"prompt":"hi","workdir":"x%sy"}' % ctl)
            self.assertEqual(st, 400, (ctl, out))
        # Percent-encoding is not decoded inside JSON: a literal name.
        st, out = self.s.rest("POST", "/api/claude/tasks",
                              raw='{"prompt":"hi","workdir":"w%%23(%s)"}' % mark("kcmark-j2"))
        self.assertEqual((st, self.s.rest_error(out)), (400, "workdir does not exist or is not a directory"))
        # In a query string, percent-encoded: refused, or at most the
        # literal directory -- never a split command or a job.
        for q in ("workdir=" + urllib.parse.quote(path + ";", safe=""),
                  "workdir=" + urllib.parse.quote(path, safe="") + "%3B",
                  "workdir=" + urllib.parse.quote("x\x1by", safe="")):
            st, out = self.s.rest("POST", "/api/claude/tasks?" + q, {"prompt": "hi"})
            self.assertNotEqual(st, 201, (q, out))
            self.assertGreaterEqual(st, 400)
        st, out = self.s.rest("POST", "/api/claude/tasks",
                              raw=('{"prompt":"hi","workdir":"w\\u0023(%s)"}' % mark("kcmark-j1")))
        self.assertEqual(st, 201, out)
        t = json.loads(out)
        self.assertEqual(t["workdir"], path)
        self.s.wait_delivered(t["task_id"])
        self.assertEqual(self.s.pane_cwd(t["task_id"]), path)
        self.kill(t["task_id"])


class A2_TasksDir(unittest.TestCase):
    """pipe-pane's command is built from the configured tasks_dir: a home
    whose path holds #(...), % and quotes still records every task's output,
    at that very path, and runs nothing."""

    def test_weird_tasks_dir(self):
        tmp = os.environ.get("TEST_TMPDIR") or tempfile.gettempdir()
        # (No " #" in it: YAML would read the rest of the home's line as a
        # comment.)
        root = os.path.join(tmp, "h#(%s) %%Y%%%%#S 'q' $(%s)" % (mark("kcmark-t1"), mark("kcmark-t2")))
        os.makedirs(root, exist_ok=True)
        st = Stack(root=root, gateway=False)
        try:
            st.start()
            t = st.api.task("CreateTask", prompt="hello from a weird home")
            st.wait_delivered(t.task_id)
            log = os.path.join(st.srv.tasks_dir, t.task_id, "output.log")
            wait_for(lambda: os.path.exists(log) and b"echo: hello from a weird home" in open(log, "rb").read(),
                     20, what="output.log at the literal path")
            st.api.task("KillTask", task_id=t.task_id)
            time.sleep(JOB_GRACE_S)
            self.assertEqual(st.marks(), [])
            # Nothing appeared beside the literal directory either (a
            # strftime'd or expanded twin of it).
            self.assertEqual(sorted(os.listdir(tmp)).count(os.path.basename(root)), 1)
            self.assertEqual([d for d in os.listdir(tmp) if d.startswith("h") and d != os.path.basename(root)], [])
        finally:
            report = st.stop()
            shutil.rmtree(root, ignore_errors=True)
        self.assertEqual(report, "", "sanitizer report")


BAD_TEXT = [
    ("paste end \x1b[201~ then keys", 0x1b, 10),
    ("\x15kill the line", 0x15, 0),
    ("interrupt\x03", 0x03, 9),
    ("esc\x1b", 0x1b, 3),
    ("bell\x07", 0x07, 4),
    ("back\x08space", 0x08, 4),
    ("vt\x0bff", 0x0b, 2),
    ("ff\x0c", 0x0c, 2),
    ("us\x1f", 0x1f, 2),
    ("soh\x01", 0x01, 3),
    ("del\x7f", 0x7f, 3),
    ("ünï\x1b[201~!", 0x1b, 5),  # the offset counts bytes
]
GOOD_TEXT = "tabs\there\tand\tthere\nsecond line ünïcödé ✓ 日本\r\nthird # #(x) $(y) ; \\; '\""


class B_ControlBytes(Base):
    def test_prompts_refused_everywhere(self):
        for text, byte, off in BAD_TEXT:
            why = "prompt: control byte 0x%02x at offset %d" % (byte, off)
            for label, api in self.grpc_apis():
                self.assertEqual(code_of(lambda: api.task("CreateTask", prompt=text)), (C.INVALID_ARGUMENT, why),
                                 (label, text))
            st, out = self.s.rest("POST", "/api/claude/tasks", {"prompt": text})
            self.assertEqual((st, self.s.rest_error(out)), (400, why), repr(text))
        # JSON's \u spellings are the same bytes.
        st, out = self.s.rest("POST", "/api/claude/tasks", raw='{"prompt":"a\\u001b[201~b"}')
        self.assertEqual((st, self.s.rest_error(out)), (400, "prompt: control byte 0x1b at offset 1"))
        st, out = self.s.rest("POST", "/api/claude/tasks", raw='{"prompt":"a\\u007F"}')
        self.assertEqual((st, self.s.rest_error(out)), (400, "prompt: control byte 0x7f at offset 1"))
        self.assert_nothing_kept()

    def test_followups_refused_everywhere(self):
        tid = self.s.api.task("CreateTask", prompt="hello").task_id
        self.s.wait_delivered(tid)
        for text, byte, off in BAD_TEXT:
            why = "prompt: control byte 0x%02x at offset %d" % (byte, off)
            for label, api in self.grpc_apis():
                self.assertEqual(code_of(lambda: api.task("SendMessage", task_id=tid, prompt=text)),
                                 (C.INVALID_ARGUMENT, why), (label, text))
            st, out = self.s.rest("POST", "/api/claude/tasks/%s/message" % tid, {"prompt": text})
            self.assertEqual((st, self.s.rest_error(out)), (400, why), repr(text))
        st, out = self.s.rest("POST", "/api/claude/tasks/%s/message" % tid, raw='{"prompt":"x\\u0015y"}')
        self.assertEqual((st, self.s.rest_error(out)), (400, "prompt: control byte 0x15 at offset 1"))
        t = self.s.api.task("GetTask", task_id=tid)
        self.assertEqual(len(t.followups), 0)
        self.assertNotIn("then keys", self.s.output(tid))
        # Still a working session: a clean follow-up arrives.
        self.s.api.task("SendMessage", task_id=tid, prompt="still fine")
        wait_for(lambda: "echo: still fine" in self.s.output(tid), 20, what="clean follow-up")
        self.kill(tid)

    def test_queued_followups_refused_too(self):
        # Before the prompt is delivered a message is queued, not pasted:
        # it is checked all the same.
        t = self.s.api.task("CreateTask", prompt="hello")
        c, msg = code_of(lambda: self.s.api.task("SendMessage", task_id=t.task_id, prompt="\x1b[201~\x15"))
        self.assertEqual((c, msg), (C.INVALID_ARGUMENT, "prompt: control byte 0x1b at offset 0"))
        self.s.wait_delivered(t.task_id)
        self.assertEqual(len(self.s.api.task("GetTask", task_id=t.task_id).followups), 0)
        self.kill(t.task_id)

    def test_tabs_newlines_unicode_go_through(self):
        for via in ("grpc", "rest"):
            if via == "grpc":
                tid = self.s.tcp.task("CreateTask", prompt=GOOD_TEXT).task_id
            else:
                st, out = self.s.rest("POST", "/api/claude/tasks", {"prompt": GOOD_TEXT})
                self.assertEqual(st, 201, out)
                tid = json.loads(out)["task_id"]
            t = self.s.wait_delivered(tid)
            self.assertEqual(t.prompt, GOOD_TEXT)
            wait_for(lambda: "echo: second line ünïcödé ✓ 日本" in self.s.output(tid), 20, what="prompt lines")
            self.s.api.task("SendMessage", task_id=tid, prompt="follow\tup ✓\nline two")
            wait_for(lambda: "echo: line two" in self.s.output(tid), 20, what="follow-up lines")
            t = self.s.api.task("GetTask", task_id=tid)
            self.assertEqual(t.followups[-1].prompt, "follow\tup ✓\nline two")
            self.kill(tid)


class C_WholeStrings(Base):
    def raw(self, api, method, body):
        fn = api.channel.unary_unary("/%s/%s" % (TS, method))
        md = [("authorization", "Bearer " + self.s.srv.token())]
        return code_of(lambda: fn(body, metadata=md, timeout=10))

    def test_nul_in_grpc_strings(self):
        tid = self.s.api.task("CreateTask", prompt="hello").task_id
        self.s.wait_delivered(tid)
        before = self.s.snapshot()
        for label, api in self.grpc_apis():
            # CreateTask.prompt (1) "a\0b": stored as "a" before.
            self.assertEqual(self.raw(api, "CreateTask", b"\x0a\x03a\x00b"),
                             (C.INVALID_ARGUMENT, "prompt: NUL byte at offset 1"), label)
            self.assertEqual(self.raw(api, "CreateTask", b"\x0a\x04\x00abc"),
                             (C.INVALID_ARGUMENT, "prompt: NUL byte at offset 0"), label)
            # workdir (2): "<home>\0/../etc" would have been the home.
            wd = self.s.srv.home.encode() + b"\x00/etc"
            self.assertEqual(self.raw(api, "CreateTask", field(1, b"hi") + field(2, wd)),
                             (C.INVALID_ARGUMENT, "workdir: NUL byte at offset %d" % len(self.s.srv.home)), label)
            # agent (3)
            self.assertEqual(self.raw(api, "CreateTask", b"\x0a\x02hi\x1a\x05fake\x00"),
                             (C.INVALID_ARGUMENT, "agent: NUL byte at offset 4"), label)
            # SendMessage: task_id (1), prompt (2).
            tb = tid.encode()
            self.assertEqual(self.raw(api, "SendMessage", field(1, tb) + field(2, b"ok\x00!")),
                             (C.INVALID_ARGUMENT, "prompt: NUL byte at offset 2"), label)
            # "<id>\0x" would have been <id>: refused, never the task.
            self.assertEqual(self.raw(api, "SendMessage", field(1, tb + b"\x00x") + field(2, b"ok")),
                             (C.INVALID_ARGUMENT, "task_id: NUL byte at offset %d" % len(tb)), label)
            for m in ("GetTask", "KillTask", "GetTaskOutput", "PrepareTerminal"):
                self.assertEqual(self.raw(api, m, field(1, tb + b"\x00")),
                                 (C.INVALID_ARGUMENT, "task_id: NUL byte at offset %d" % len(tb)), (label, m))
        # REST's JSON: \u0000 refused by the gateway, as always.
        st, out = self.s.rest("POST", "/api/claude/tasks", raw='{"prompt":"a\\u0000b"}')
        self.assertEqual(st, 400, out)
        st, out = self.s.rest("POST", "/api/claude/tasks/%s/message" % tid, raw='{"prompt":"a\\u0000b"}')
        self.assertEqual(st, 400, out)
        self.assertEqual(self.s.snapshot(), before)
        t = self.s.api.task("GetTask", task_id=tid)
        self.assertEqual((t.status, len(t.followups)), (1, 0))  # still running, nothing sent
        self.kill(tid)


BAD_IDS_GRPC = ["..", "../x", "../../etc/passwd", "%2e%2e", "", "1-abc", "1-ABCDEF12", "1-abcdefgh",
                "1" * 300 + "-deadbeef", "é-deadbeef", "1700000000-deadbeef/..", " 1700000000-deadbeef",
                "1700000000-deadbeef\n", "-deadbeef", "1700000000_deadbeef"]
BAD_IDS_REST = ["..", "%2e%2e", "%2E%2E", ".%2e", "..%2Fx", "%2e%2e%2fx", "..%2F..%2Fetc", "not-an-id",
                "1-ABCDEF12", "1-abcdefgh", "1" * 300 + "-deadbeef", "%C3%A9-deadbeef", "1700000000-deadbeef%00",
                "1700000000-deadbeef%0a", "1700000000-deadbee%20"]


class D_MalformedIds(Base):
    def test_grpc_not_found(self):
        marker = self.s.srv.home + "/.claude-tasks/.terminal-session"
        had = os.path.exists(marker)
        for bad in BAD_IDS_GRPC:
            for label, api in self.grpc_apis():
                for m, extra in (("GetTask", {}), ("GetTaskOutput", {}), ("KillTask", {}), ("PrepareTerminal", {}),
                                 ("SendMessage", {"prompt": "hi"})):
                    self.assertEqual(code_of(lambda: api.task(m, task_id=bad, **extra)),
                                     (C.NOT_FOUND, "task not found"), (label, m, bad))
                s = api.stream(TS, "WatchTask", task_id=bad, timeout=10)
                self.assertEqual(code_of(lambda: list(s)), (C.NOT_FOUND, "task not found"), (label, bad))
        self.assertEqual(os.path.exists(marker), had, "PrepareTerminal wrote the marker for a bad id")
        self.assert_nothing_kept()

    def test_rest_not_found(self):
        routes = [("GET", ""), ("GET", "/output"), ("GET", "/output?tail=5"), ("DELETE", ""),
                  ("POST", "/message"), ("POST", "/prepare-terminal"), ("GET", "/watch")]
        for bad in BAD_IDS_REST + ["../x", "../../x"]:
            for method, suffix in routes:
                body = {"prompt": "hi"} if suffix == "/message" else None
                st, out = self.s.rest(method, "/api/claude/tasks/" + bad + suffix, body)
                self.assertEqual(st, 404, (method, bad, suffix, out))
                # Whether the router bound the id (kc-server's answer) or
                # could not (a dot segment, '/', a control byte: the
                # gateway's), a task that cannot exist is "task not found".
                self.assertEqual(self.s.rest_error(out), "task not found", (method, bad, suffix, out))
        self.assert_nothing_kept()


if __name__ == "__main__":
    unittest.main(verbosity=2)
