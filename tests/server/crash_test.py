"""Crash safety: kill -9 kc-server repeatedly while a client creates tasks;
after each restart every acknowledged task is listed and every task.json on
disk parses."""
import json
import os
import random
import signal
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import grpc  # noqa: E402
from kcapi import Api, Server  # noqa: E402

ROUNDS = 5


class CrashSafety(unittest.TestCase):
    def test_kill9_during_create_loop(self):
        agents = """
agents:
  default: quick
  list:
    - name: quick
      command: ["/bin/sh", "-c", "echo started; sleep 0.2"]
      ready_pattern: "^started"
      ready_timeout_ms: 5000
"""
        srv = Server(agents_yaml=agents, max_running=100000)
        acked = []
        rng = random.Random(1234)
        try:
            for rnd in range(ROUNDS):
                srv.start()
                api = Api("unix:" + srv.socket, token=srv.token())
                stop = threading.Event()

                def loop():
                    n = 0
                    while not stop.is_set():
                        try:
                            t = api.task("CreateTask", prompt="round %d task %d" % (rnd, n), timeout=10)
                            acked.append(t.task_id)
                            n += 1
                        except grpc.RpcError:
                            return
                th = threading.Thread(target=loop)
                before = len(acked)
                th.start()
                # Each round kills while creates are in flight, after at
                # least two were acknowledged: a fixed sleep alone let a
                # loaded machine reach the kill with none.
                deadline = time.monotonic() + 60
                while len(acked) < before + 2 and th.is_alive() and time.monotonic() < deadline:
                    time.sleep(0.02)
                time.sleep(rng.random() * 0.5)
                srv.proc.send_signal(signal.SIGKILL)
                srv.proc.wait()
                stop.set()
                th.join(30)
                api.close()
                srv.stop()
            self.assertGreater(len(acked), ROUNDS)
            srv.start()
            listed = {t.task_id for t in srv.api.task("ListTasks").tasks}
            missing = [t for t in acked if t not in listed]
            self.assertEqual(missing, [], "acknowledged tasks lost")
            for name in os.listdir(srv.tasks_dir):
                d = os.path.join(srv.tasks_dir, name)
                if not os.path.isdir(d):
                    continue
                path = os.path.join(d, "task.json")
                if not os.path.exists(path):
                    # Created but never acknowledged: the crash came first.
                    self.assertNotIn(name, acked)
                    continue
                with open(path) as f:
                    j = json.load(f)
                self.assertEqual(j["task_id"], name)
                self.assertIn(j["status"], ("running", "completed", "error", "killed"))
            sys.stderr.write("crash test: %d acknowledged tasks over %d kill -9 rounds, all present\n"
                             % (len(acked), ROUNDS))
        finally:
            srv.cleanup()


if __name__ == "__main__":
    unittest.main(verbosity=2, warnings="ignore")
