"""kc-server benchmark: start-up with 10,000 tasks on disk, one list page,
unary ListTasks rate at 64 concurrent calls, idle RSS. Prints each figure
beside its DESIGN §6 target. Loopback/unix sockets only; bounded in time."""
import json
import os
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.abspath(os.path.join(here, "..", ".."))
sys.path.insert(0, os.path.join(root, "tests", "server"))
from kcapi import Api  # noqa: E402

N_TASKS = int(os.environ.get("BENCH_TASKS", "10000"))
RATE_SECONDS = float(os.environ.get("BENCH_SECONDS", "5"))
CONCURRENCY = 64
BIN = os.path.join(root, "bazel-bin", "server", "kc-server")
DESC = os.path.join(root, "bazel-bin", "proto", "api_descriptor_set.pb")


def make_store(tasks_dir, n):
    os.makedirs(tasks_dir)
    base = 1700000000
    for i in range(n):
        tid = "%d-%08x" % (base + i, i)
        d = os.path.join(tasks_dir, tid)
        os.mkdir(d)
        t = {"task_id": tid, "session_id": "00000000-0000-4000-8000-%012x" % i,
             # Prompts of 75 bytes to 1.6 KB (0.8 KB on average): real
             # prompts are paragraphs, and the index holds every task.
             "prompt": ("Benchmark task %d: refactor the module and add tests for the edge cases" % i
                        + " Context: the service keeps its state in files; keep every write atomic."
                        * (i % 21)),
             "workdir": "/home/coder", "status": "completed", "created_at": base + i + 0.5,
             "finished_at": base + i + 60.0, "tmux_session": "claude-" + tid, "followups": []}
        with open(os.path.join(d, "task.json"), "w") as f:
            json.dump(t, f)
        with open(os.path.join(d, "prompt.txt"), "w") as f:
            f.write(t["prompt"])


def mem_kib(pid):
    """VmRSS, RssAnon (private heap/stacks) and Pss (shared library pages
    divided among the processes that map them), in KiB."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(("VmRSS:", "RssAnon:")):
                out[line.split(":")[0]] = int(line.split()[1])
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            if line.startswith("Pss:"):
                out["Pss"] = int(line.split()[1])
    return out


def pfns(pid):
    """Physical frames of every resident page of a process (pagemap; PFNs
    need root, else None)."""
    frames = set()
    with open("/proc/%d/maps" % pid) as maps, open("/proc/%d/pagemap" % pid, "rb") as pm:
        for line in maps:
            lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
            if "[vsyscall]" in line:
                continue
            pm.seek(lo // 4096 * 8)
            data = pm.read((hi - lo) // 4096 * 8)
            for (v,) in struct.iter_unpack("<Q", data):
                if v >> 63:
                    pfn = v & ((1 << 55) - 1)
                    if pfn == 0:
                        return None
                    frames.add(pfn)
    return frames


def uss_kib(pid):
    with open("/proc/%d/smaps_rollup" % pid) as f:
        return sum(int(line.split()[1]) for line in f if line.startswith(("Private_Clean:", "Private_Dirty:")))


def with_gateway(sock):
    """Idle kc-gateway in front of this kc-server: both processes' memory,
    and the pages they hold together counted once (what the pod pays for
    them: a shared library's page is one page however many map it)."""
    gw = os.path.join(root, "bazel-bin", "gateway", "kc-gateway")
    if not os.path.exists(gw):
        return None
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    proc = subprocess.Popen([gw, "--listen", "127.0.0.1:%d" % port, "--upstream", "unix:" + sock],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        time.sleep(2)
        return proc.pid, mem_kib(proc.pid), uss_kib(proc.pid), pfns(proc.pid), proc
    except Exception:
        proc.kill()
        proc.wait()
        raise


def start(tmp, home):
    sock = os.path.join(tmp, "kc.sock")
    cfg = os.path.join(tmp, "kc.yaml")
    with open(cfg, "w") as f:
        f.write("home: %s\nserver:\n  socket: %s\n  tmux_socket: %s\n  log_level: warn\n"
                % (home, sock, os.path.join(tmp, "tmux")))
    t0 = time.monotonic()
    proc = subprocess.Popen([BIN, "--config", cfg], stderr=subprocess.DEVNULL)
    api = None
    while True:
        if os.path.exists(sock) and os.path.exists(os.path.join(home, ".claude-tasks", ".api-token")):
            if api is None:
                api = Api("unix:" + sock, descriptor_set=DESC,
                          token=open(os.path.join(home, ".claude-tasks", ".api-token")).read().strip())
            try:
                api.call("grpc.health.v1.Health", "Check", timeout=2)
                break
            except Exception:
                pass
        if time.monotonic() - t0 > 60:
            raise SystemExit("kc-server did not start")
        time.sleep(0.002)
    return proc, api, time.monotonic() - t0


def rate(api, seconds):
    stop = time.monotonic() + seconds
    count = [0]
    lat = []
    lock = threading.Lock()
    fn = api.channel.unary_unary("/kc.v1.TaskService/ListTasks",
                                 request_serializer=lambda m: m.SerializeToString(),
                                 response_deserializer=lambda b: b)
    req = api.msg("kc.v1.ListTasksRequest", page_size=50)
    md = [("authorization", "Bearer " + api.token)]
    done = threading.Event()
    inflight = [0]

    def issue():
        with lock:
            if time.monotonic() >= stop:
                if inflight[0] == 0:
                    done.set()
                return
            inflight[0] += 1
        t = time.monotonic()
        fut = fn.future(req, metadata=md, timeout=30)

        def cb(f, t=t):
            with lock:
                inflight[0] -= 1
                if f.exception() is None:
                    count[0] += 1
                    lat.append(time.monotonic() - t)
            issue()
        fut.add_done_callback(cb)

    t0 = time.monotonic()
    for _ in range(CONCURRENCY):
        issue()
    done.wait(seconds + 30)
    elapsed = time.monotonic() - t0
    lat.sort()
    return count[0] / elapsed, lat[int(len(lat) * 0.99)] if lat else 0


def main():
    tmp = tempfile.mkdtemp(prefix="kcb-", dir="/tmp")
    try:
        home = os.path.join(tmp, "home")
        os.makedirs(home)
        # Idle RSS of an empty workspace first.
        proc, api, _ = start(tmp, home)
        time.sleep(2)
        rss_empty = mem_kib(proc.pid)
        uss_empty = uss_kib(proc.pid)
        gw = with_gateway(os.path.join(tmp, "kc.sock"))
        pair = None
        if gw:
            srv_frames = pfns(proc.pid)
            rss_empty = mem_kib(proc.pid)
            uss_empty = uss_kib(proc.pid)
            if srv_frames is not None and gw[3] is not None:
                pair = len(srv_frames | gw[3]) * 4
            gw[4].terminate()
            gw[4].wait()
        proc.terminate()
        proc.wait()
        api.close()
        shutil.rmtree(os.path.join(home, ".claude-tasks"))
        make_store(os.path.join(home, ".claude-tasks"), N_TASKS)
        os.sync()
        proc, api, startup = start(tmp, home)
        time.sleep(1)
        rss_loaded = mem_kib(proc.pid)
        page = []
        for _ in range(300):
            t = time.monotonic()
            r = api.task("ListTasks", page_size=50)
            page.append(time.monotonic() - t)
        assert r.total_size == N_TASKS, r.total_size
        full = []
        for _ in range(5):
            t = time.monotonic()
            r = api.task("ListTasks")
            full.append(time.monotonic() - t)
        assert len(r.tasks) == N_TASKS
        time.sleep(1)
        rss_10k = mem_kib(proc.pid)
        rps, p99 = rate(api, RATE_SECONDS)
        proc.terminate()
        proc.wait()
        api.close()
        med = statistics.median(page) * 1000
        print("kc-server benchmark (%d tasks on disk, %s)" % (N_TASKS, time.strftime("%Y-%m-%d %H:%M")))
        print("%-52s %14s %16s %8s" % ("figure", "measured", "target", "ratio"))
        rows = [
            ("start-up with %d tasks (exec to first answer)" % N_TASKS, "%.0f ms" % (startup * 1000),
             "<= 1000 ms", startup * 1000 / 1000),
            ("ListTasks one page of 50 (median, client-side)", "%.2f ms" % med, "<= 10 ms", med / 10),
            ("ListTasks all %d tasks (median)" % N_TASKS, "%.1f ms" % (statistics.median(full) * 1000),
             "-", None),
            ("ListTasks page rate, %d concurrent (python client)" % CONCURRENCY, "%.0f req/s" % rps, "-", None),
            ("  p99 latency at that rate", "%.1f ms" % (p99 * 1000), "-", None),
            ("idle VmRSS, empty store", "%.1f MiB" % (rss_empty["VmRSS"] / 1024), "<= 10 MiB (+gw)",
             rss_empty["VmRSS"] / 1024 / 10),
            ("  of which private (RssAnon)", "%.1f MiB" % (rss_empty["RssAnon"] / 1024), "", None),
            ("  USS (pages no other process maps)", "%.1f MiB" % (uss_empty / 1024), "", None),
            ("  PSS (shared pages split among their users)", "%.1f MiB" % (rss_empty["Pss"] / 1024), "", None),
            ("idle VmRSS, %d tasks loaded" % N_TASKS, "%.1f MiB" % (rss_loaded["VmRSS"] / 1024), "-", None),
            ("  of which private (RssAnon)", "%.1f MiB" % (rss_loaded["RssAnon"] / 1024), "", None),
            ("  VmRSS after the ListTasks runs above", "%.1f MiB" % (rss_10k["VmRSS"] / 1024), "-", None),
            ("  of which private (RssAnon)", "%.1f MiB" % (rss_10k["RssAnon"] / 1024), "", None),
        ]
        if gw:
            g = gw[1]
            rows += [
                ("idle kc-gateway in front of it: VmRSS", "%.1f MiB" % (g["VmRSS"] / 1024), "", None),
                ("  USS / PSS", "%.1f / %.1f MiB" % (gw[2] / 1024, g["Pss"] / 1024), "", None),
                ("server + gateway, sum of VmRSS", "%.1f MiB" % ((g["VmRSS"] + rss_empty["VmRSS"]) / 1024),
                 "<= 10 MiB", (g["VmRSS"] + rss_empty["VmRSS"]) / 1024 / 10),
                ("server + gateway, sum of PSS", "%.1f MiB" % ((g["Pss"] + rss_empty["Pss"]) / 1024),
                 "<= 10 MiB", (g["Pss"] + rss_empty["Pss"]) / 1024 / 10),
            ]
            if pair is not None:
                rows.append(("server + gateway, their pages counted once", "%.1f MiB" % (pair / 1024),
                             "<= 10 MiB", pair / 1024 / 10))
        else:
            rows.append(("(kc-gateway not built: no server + gateway figure)", "", "", None))
        for name, got, target, ratio in rows:
            print("%-52s %14s %16s %8s" % (name, got, target, "%.2f" % ratio if ratio is not None else ""))
    finally:
        subprocess.call(["tmux", "-S", os.path.join(tmp, "tmux"), "kill-server"], stderr=subprocess.DEVNULL)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
