#!/usr/bin/python3
"""Snapshot benchmark: Surge's forkless BGSAVE against Debian's redis-server.

    bench/snapshot.py                 # 1 GB dataset, a few minutes
    bench/snapshot.py --size-gb 2     # larger dataset
    bench/snapshot.py --quick         # ~50 MB smoke run; numbers are meaningless

For each server in turn (Redis, then Surge), in one run, on the same data:

1. Start it pinned to CPU 0 (taskset) in a fresh temp dir with
   `--save "" --appendonly no` (no automatic saves, no AOF).
2. Fill it with redis-cli --pipe (on CPU 1) from one generated RESP file,
   identical for both: string keys `key:%012d` with 32-224-byte values
   (128 on average), plus hashes (10 fields), lists (20 elements) and sorted
   sets (20 members). Values are slices of a text of random words, so they
   compress a little, as real data does. --size-gb 1 gives about 1.2 GB of
   used_memory on Redis and 1.0+ GB on Surge; the report shows both.
3. Continuous writes: surge-bench on CPU 1, open loop at --rate SETs per
   second (default 20,000), uniform over the existing string keys, 128-byte
   values, run as back-to-back 1-second segments so each second's latency
   percentiles are known. Steady RSS: median over 3 s of writes before the
   save.
4. BGSAVE under those writes. A sampler thread reads every 20 ms, for the
   server and its children (Redis's fork; Surge has none): VmRSS
   (/proc/PID/status), wchar (/proc/PID/io: bytes written so far), CPU
   time and the process state (/proc/PID/stat), run-queue wait
   (/proc/PID/schedstat); a second thread reads Pss (/proc/PID/smaps_rollup,
   which walks the page tables and so is slower). The main thread polls
   INFO persistence until rdb_bgsave_in_progress:0. The server's VmHWM is
   reset (clear_refs 5) just before BGSAVE, so its peak RSS is exact.
   - "RSS sum" = parent VmRSS + child VmRSS. It counts pages the parent
     and child share twice, so for a fork it is about 2x even with no
     copy-on-write at all; it is the upper bound.
   - "PSS sum" = parent Pss + child Pss: each shared page counted once, so
     this is the physical memory the two processes hold, copy-on-write
     copies included. This is the fair figure for Redis.
   For Surge (one process) both equal its own VmRSS/Pss.
   Write throughput = file size / save time and used_memory / save time,
   where save time runs from the BGSAVE reply to the first poll that reads
   rdb_bgsave_in_progress:0 (Redis notices its child's exit in serverCron,
   so its figure can be up to ~100 ms long). The client's latency per
   1-second segment shows what the writes saw meanwhile.
5. The writer stops; a foreground SAVE is timed: serialisation speed with
   no writes.
6. Load, 3 times: stop the server (no save on shutdown), restart it on the
   file and time from exec until PING answers PONG and DBSIZE matches
   (median reported, each run listed); the server's own "DB loaded from
   disk: X seconds" log line is reported too. Load throughput = file size /
   load time and used_memory after the load / load time. The file was just
   written, so it is read from the page cache (for both).

Writes bench/results/snapshot-DATE.md and prints it; progress goes to
stderr. Standard library only. Environment: SURGE_SERVER, REDIS_SERVER,
SURGE_BENCH, BENCH_SERVER_CPU (0), BENCH_CLIENT_CPU (1), BENCH_OUT_DIR,
BENCH_KEEP_TMP.
"""
import argparse
import datetime
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH_DIR)
SURGE = os.environ.get("SURGE_SERVER", os.path.join(ROOT, "build", "surge-server"))
REDIS = os.environ.get("REDIS_SERVER", "/usr/bin/redis-server")
SURGE_BENCH = os.environ.get("SURGE_BENCH", os.path.join(ROOT, "build", "surge-bench"))
SCPU = os.environ.get("BENCH_SERVER_CPU", "0")
CCPU = os.environ.get("BENCH_CLIENT_CPU", "1")
OUT_DIR = os.environ.get("BENCH_OUT_DIR", os.path.join(BENCH_DIR, "results"))
SERVERS = ("redis", "surge")
MB = 1e6
SAMPLE_S = 0.02
CLK_TCK = os.sysconf("SC_CLK_TCK")
STEADY_S = 3.0
LOAD_RUNS = 3
VSIZE = 128  # mean string value size, and surge-bench's -s


def log(msg):
    sys.stderr.write("snapshot: %s\n" % msg)
    sys.stderr.flush()


class Fail(Exception):
    pass


# ------------------------------------------------------------------ RESP --
def resp(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if not isinstance(a, bytes):
            a = str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Conn:
    def __init__(self, port, timeout=30):
        self.s = socket.create_connection(("127.0.0.1", port), timeout)
        self.f = self.s.makefile("rb")

    def close(self):
        self.f.close()
        self.s.close()

    def read(self):
        line = self.f.readline()
        if not line:
            raise Fail("connection closed by server")
        t, rest = line[:1], line[1:-2]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            return Fail(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            return None if n < 0 else self.f.read(n + 2)[:-2]
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise Fail("bad reply %r" % line)

    def call(self, *args):
        self.s.sendall(resp(*args))
        return self.read()


def info(conn, section):
    r = conn.call("INFO", section)
    if not isinstance(r, bytes):
        raise Fail("INFO %s: %r" % (section, r))
    out = {}
    for ln in r.decode().splitlines():
        if ":" in ln and not ln.startswith("#"):
            k, v = ln.split(":", 1)
            out[k] = v
    return out


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- /proc --
def proc_kb(pid, path, field):
    try:
        with open("/proc/%d/%s" % (pid, path)) as f:
            for ln in f:
                if ln.startswith(field):
                    return int(ln.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def children(pid):
    out = []
    try:
        for t in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, t)) as f:
                out += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return out


def io_cpu(pid, waited=False):
    """(bytes written with write(2) etc., CPU ticks, ns spent waiting for a
    CPU (main thread), state letter) of one process; with waited, the CPU of
    its reaped children (Redis's BGSAVE child) too."""
    wchar = ticks = wait = 0
    state = "?"
    try:
        with open("/proc/%d/schedstat" % pid) as f:
            wait = int(f.read().split()[1])
        with open("/proc/%d/io" % pid) as f:
            for ln in f:
                if ln.startswith("wchar:"):
                    wchar = int(ln.split()[1])
        with open("/proc/%d/stat" % pid) as f:
            fl = f.read().rsplit(")", 1)[1].split()
        ticks = int(fl[11]) + int(fl[12]) + (int(fl[13]) + int(fl[14]) if waited else 0)
        state = fl[0]
    except (OSError, ValueError, IndexError):
        pass
    return wchar, ticks, wait, state


def rss_sample(pid):
    """(rss_kb, child_rss_kb, nchildren, wchar of the server and its
    children, CPU ticks of the server and its children): cheap, read every
    SAMPLE_S."""
    kids = children(pid)
    w, t, q, st = io_cpu(pid, True)
    for k in kids:
        kw, kt, kq, kst = io_cpu(k)
        w, t, q, st = w + kw, t + kt, q + kq, kst  # the child's state when it runs
    return (proc_kb(pid, "status", "VmRSS:"),
            sum(proc_kb(k, "status", "VmRSS:") for k in kids), len(kids), w, t, q, st)


def pss_sample(pid):
    """(pss_kb, child_pss_kb): smaps_rollup walks the page tables, which
    takes a few ms per GB, so it has its own thread."""
    return (proc_kb(pid, "smaps_rollup", "Pss:"),
            sum(proc_kb(k, "smaps_rollup", "Pss:") for k in children(pid)))


class Sampler(threading.Thread):
    """Calls fn(pid) every SAMPLE_S (or back to back if slower) and keeps
    (monotonic time, *result)."""

    def __init__(self, fn, pid):
        super().__init__(daemon=True)
        self.fn, self.pid = fn, pid
        self.out = []
        self.stop_ev = threading.Event()

    def run(self):
        while not self.stop_ev.is_set():
            t = time.monotonic()
            self.out.append((t,) + self.fn(self.pid))
            self.stop_ev.wait(max(0.0, SAMPLE_S - (time.monotonic() - t)))

    def finish(self):
        self.stop_ev.set()
        self.join(10)

    def between(self, a, b):
        return [x for x in self.out if a <= x[0] <= b]


def median_of(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2] if xs else 0


# --------------------------------------------------------------- dataset --
def dataset_counts(size_gb):
    s = size_gb
    return {"strings": int(4_000_000 * s), "hashes": int(200_000 * s),
            "lists": int(100_000 * s), "zsets": int(100_000 * s)}


def gen_dataset(path, counts):
    """Write the RESP file; returns the number of commands."""
    rng = random.Random(20261128)
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = ["".join(rng.choice(letters) for _ in range(rng.randint(2, 9)))
             for _ in range(4000)]
    parts, n = [], 0
    while n < (8 << 20):
        w = rng.choice(words)
        parts.append(w)
        n += len(w) + 1
    blob = " ".join(parts).encode()
    span = len(blob) - 1024

    def val(i, lo, hi):
        h = (i * 2654435761) & 0xFFFFFFFF
        ln = lo + h % (hi - lo + 1)
        off = (h * 40503) % span
        return blob[off:off + ln]

    cmds = 0
    with open(path, "wb", buffering=1 << 22) as f:
        w = f.write
        for i in range(counts["strings"]):
            v = val(i, 32, 224)
            w(b"*3\r\n$3\r\nSET\r\n$16\r\nkey:%012d\r\n$%d\r\n%s\r\n" % (i, len(v), v))
        cmds += counts["strings"]
        for i in range(counts["hashes"]):
            a = [b"HSET", b"hash:%09d" % i]
            for j in range(10):
                a += [b"field:%d" % j, val(i * 10 + j + 7, 24, 56)]
            w(resp(*a))
        cmds += counts["hashes"]
        for i in range(counts["lists"]):
            w(resp(b"RPUSH", b"list:%09d" % i,
                   *[val(i * 20 + j + 11, 16, 48) for j in range(20)]))
        cmds += counts["lists"]
        for i in range(counts["zsets"]):
            a = [b"ZADD", b"zset:%09d" % i]
            for j in range(20):
                a += [b"%d.%d" % ((i * 31 + j * 17) % 100000, j), b"member:%d:%d" % (j, i % 997)]
            w(resp(*a))
        cmds += counts["zsets"]
    return cmds


# --------------------------------------------------------------- servers --
class Server:
    def __init__(self, name, work):
        self.name, self.work = name, work
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix=name + "-data.", dir=work)
        self.logpath = os.path.join(work, name + ".log")
        self.proc = None

    def argv(self):
        exe = SURGE if self.name == "surge" else REDIS
        a = [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
             "--save", "", "--appendonly", "no"]
        if self.name == "surge" and not os.path.basename(exe).startswith("redis"):
            a += ["--metrics-port", "0"]  # no HTTP metrics listener (port clashes)
        return a

    def start(self):
        self.logpos = os.path.getsize(self.logpath) if os.path.exists(self.logpath) else 0
        logf = open(self.logpath, "ab")
        t0 = time.monotonic()
        # taskset execs the server, so the Popen pid is the server's pid.
        self.proc = subprocess.Popen(["taskset", "-c", SCPU] + self.argv(), stdout=logf,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        logf.close()
        return t0

    def wait_ready(self, limit):
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise Fail("%s exited with status %s; log tail:\n%s"
                           % (self.name, self.proc.returncode, self.log_tail()))
            try:
                c = Conn(self.port, 5)
                try:
                    if c.call("PING") == "PONG":
                        return
                finally:
                    c.close()
            except (OSError, Fail):
                pass
            time.sleep(0.01)
        raise Fail("%s did not answer PING within %ds" % (self.name, limit))

    def log_tail(self, n=2000):
        try:
            with open(self.logpath, "rb") as f:
                return f.read()[-n:].decode(errors="replace")
        except OSError:
            return ""

    def log_since_start(self):
        with open(self.logpath, "rb") as f:
            f.seek(self.logpos)
            return f.read().decode(errors="replace")

    def stop(self):
        if self.proc is None:
            return
        p, self.proc = self.proc, None
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(60)
            except subprocess.TimeoutExpired:
                log("%s ignored SIGTERM for 60 s, killing" % self.name)
                p.kill()
                p.wait()


def client_run(argv, timeout, stdin=None):
    try:
        p = subprocess.run(["taskset", "-c", CCPU] + argv, capture_output=True, text=True,
                           timeout=timeout, stdin=stdin)
    except subprocess.TimeoutExpired:
        raise Fail("timed out after %ds: %s" % (timeout, " ".join(argv)))
    if p.returncode != 0:
        raise Fail("%s exited %d:\n%s%s" % (" ".join(argv), p.returncode,
                                           p.stdout[-1500:], p.stderr[-1500:]))
    return p.stdout


def fill(srv, path, ncmds):
    t0 = time.monotonic()
    with open(path, "rb") as f:
        out = client_run(["redis-cli", "-p", str(srv.port), "--pipe"], 1800, stdin=f)
    m = re.search(r"errors: (\d+), replies: (\d+)", out)
    if not m or m.group(1) != "0" or int(m.group(2)) != ncmds:
        raise Fail("redis-cli --pipe into %s: %s" % (srv.name, out[-500:]))
    return time.monotonic() - t0


# ---------------------------------------------------------------- writer --
class Writer(threading.Thread):
    """Back-to-back 1-second open-loop surge-bench SET runs."""

    def __init__(self, port, rate, keyspace):
        super().__init__(daemon=True)
        self.argv = ["taskset", "-c", CCPU, SURGE_BENCH, "-h", "127.0.0.1", "-p", str(port),
                     "-c", "8", "-P", "1", "--rate", str(rate), "-t", "set:100",
                     "-r", str(keyspace), "--dist", "uniform", "-s", str(VSIZE), "-d", "1",
                     "-q", "--output", "json"]
        self.stop_ev = threading.Event()
        self.segments = []  # (t_start, t_end, json)
        self.error = None

    def run(self):
        try:
            while not self.stop_ev.is_set():
                t0 = time.monotonic()
                p = subprocess.run(self.argv, capture_output=True, text=True, timeout=120)
                t1 = time.monotonic()
                if p.returncode != 0:
                    raise Fail("surge-bench exited %d: %s" % (p.returncode, p.stderr[-500:]))
                j = json.loads(p.stdout.strip().splitlines()[-1])
                if j.get("errors"):
                    raise Fail("surge-bench reported %s errors" % j["errors"])
                self.segments.append((t0, t1, j))
        except Exception as e:  # reported by the main thread
            self.error = e

    def finish(self):
        self.stop_ev.set()
        self.join(180)
        if self.error:
            raise Fail("writer: %s" % self.error)

    def window(self, a, b, overlap=False):
        """Segments inside [a, b] (or overlapping it): rps, worst p99 / max."""
        segs = [j for (t0, t1, j) in self.segments
                if (t1 > a and t0 < b if overlap else t0 >= a and t1 <= b)]
        if not segs:
            return None
        return {"n": len(segs), "rps": sum(j["rps"] for j in segs) / len(segs),
                "p99": max(j["latency_us"]["p99"] for j in segs),
                "p999": max(j["latency_us"]["p99.9"] for j in segs),
                "max": max(j["latency_us"]["max"] for j in segs)}


# ------------------------------------------------------------- one server --
def measure(name, work, path, ncmds, counts, rate):
    res = {"name": name}
    srv = Server(name, work)
    try:
        srv.start()
        srv.wait_ready(30)
        c = Conn(srv.port, 120)
        res["version"] = info(c, "server").get("redis_version", "?")
        log("%s: filling from %s" % (name, os.path.basename(path)))
        res["fill_s"] = fill(srv, path, ncmds)
        res["dbsize"] = c.call("DBSIZE")
        expect = sum(counts.values())
        if res["dbsize"] != expect:
            raise Fail("%s: DBSIZE %r after fill, expected %d" % (name, res["dbsize"], expect))
        time.sleep(1)
        res["used_memory"] = int(info(c, "memory")["used_memory"])
        res["rss_idle_kb"] = proc_kb(srv.proc.pid, "status", "VmRSS:")
        log("%s: filled in %.1f s, used_memory %.0f MB, RSS %.0f MB" % (
            name, res["fill_s"], res["used_memory"] / MB, res["rss_idle_kb"] * 1024 / MB))

        w = Writer(srv.port, rate, counts["strings"])
        w.start()
        time.sleep(1.5)  # let the writer settle
        pid = srv.proc.pid
        fast, slow = Sampler(rss_sample, pid), Sampler(pss_sample, pid)
        fast.start()
        slow.start()
        t_pre = time.monotonic()
        time.sleep(STEADY_S)
        pre_end = time.monotonic()
        pre_rss = fast.between(t_pre, pre_end)
        res["steady_rss_kb"] = median_of(s[1] for s in pre_rss)
        res["steady_pss_kb"] = median_of(s[1] for s in slow.between(t_pre, pre_end))
        res["pre_max_rss_kb"] = max(s[1] for s in pre_rss)
        # Reset the server's VmHWM (peak RSS) so it reads the peak of the
        # save exactly, whatever the sampling misses (Linux >= 4.0).
        try:
            with open("/proc/%d/clear_refs" % pid, "w") as f:
                f.write("5")
            hwm_ok = True
        except OSError:
            hwm_ok = False

        cmds0 = int(info(c, "stats")["total_commands_processed"])
        t_bg = time.monotonic()
        r = c.call("BGSAVE")
        if isinstance(r, Fail):
            raise Fail("%s: BGSAVE: %s" % (name, r))
        t_rep = time.monotonic()
        cow_max, polls = 0, 0
        while True:
            p = info(c, "persistence")
            polls += 1
            cow_max = max(cow_max, int(p.get("current_cow_size", "0") or 0))
            if p.get("rdb_bgsave_in_progress") == "0":
                break
            if time.monotonic() - t_bg > 1800:
                raise Fail("%s: BGSAVE still running after 30 min" % name)
            time.sleep(SAMPLE_S)
        t_done = time.monotonic()
        cmds1 = int(info(c, "stats")["total_commands_processed"])
        hwm = proc_kb(pid, "status", "VmHWM:") if hwm_ok else 0
        time.sleep(1.0)
        fast.finish()
        slow.finish()
        w.finish()
        # A foreground SAVE without writes: the serialisation speed alone.
        time.sleep(0.5)
        t_sv = time.monotonic()
        r = c.call("SAVE")
        res["fg_save_s"] = time.monotonic() - t_sv
        if r != "OK":
            raise Fail("%s: SAVE: %r" % (name, r))
        res["fg_file_bytes"] = os.path.getsize(os.path.join(srv.dir, "dump.rdb"))
        p = info(c, "persistence")
        if p.get("rdb_last_bgsave_status") != "ok":
            raise Fail("%s: rdb_last_bgsave_status %s" % (name, p.get("rdb_last_bgsave_status")))
        res["last_cow_size"] = int(p.get("rdb_last_cow_size", "0") or 0)
        res["cow_max"] = cow_max
        res["save_s"] = t_done - t_rep
        res["save_writes_rps"] = (cmds1 - cmds0 - polls) / (t_done - t_bg)
        res["file_bytes"] = os.path.getsize(os.path.join(srv.dir, "dump.rdb"))
        during = fast.between(t_bg, t_done)
        during_p = slow.between(t_bg, t_done)
        res["hwm_kb"] = hwm
        res["peak_rss_kb"] = max([s[1] for s in during] + [hwm])
        res["peak_pss_kb"] = max(s[1] for s in during_p)
        res["peak_rss_sum_kb"] = max(s[1] + s[2] for s in during)
        res["peak_pss_sum_kb"] = max(s[1] + s[2] for s in during_p)
        res["after_rss_kb"] = fast.out[-1][1]
        res["nsamples"] = (len(during), len(during_p), polls)
        res["children"] = max(s[3] for s in during)
        res["writes_pre"] = w.window(t_pre - 1.5, t_bg)
        res["writes_save"] = w.window(t_bg, t_done, overlap=True)
        res["segments"] = [(t0 - t_bg, t1 - t_bg, j) for (t0, t1, j) in w.segments]
        # Trace: time from BGSAVE, rss, child rss, pss sum (latest pss sample).
        # (t from BGSAVE, rss, child rss, pss sum, MB written, CPU s).
        res["samples"] = []
        b4 = [x for x in fast.out if x[0] < t_bg]
        w0, c0 = (b4[-1][4], b4[-1][5]) if b4 else (during[0][4], during[0][5])
        for s in during:
            ps = [x for x in during_p if x[0] <= s[0]]
            res["samples"].append((s[0] - t_bg, s[1], s[2],
                                   ps[-1][1] + ps[-1][2] if ps else None,
                                   max(0, s[4] - w0) / MB, (s[5] - c0) / CLK_TCK))
        last = [x for x in fast.out if x[0] <= t_done][-1]
        res["save_cpu_s"] = (last[5] - c0) / CLK_TCK
        q0 = b4[-1][6] if b4 else during[0][6]
        res["save_wait_s"] = (last[6] - q0) / 1e9
        sts = [x[7] for x in during]
        res["states"] = ", ".join("%s %.0f%%" % (k, 100.0 * sts.count(k) / len(sts))
                                  for k in sorted(set(sts)))
        m = re.findall(r"Background saving terminated with success[^\n]*",
                       srv.log_since_start())
        res["save_log"] = m[-1] if m else ""
        log("%s: BGSAVE %.2f s, file %.0f MB, RSS steady %.0f MB peak %.0f MB "
            "(+child: RSS sum %.0f MB, PSS sum %.0f MB)" % (
                name, res["save_s"], res["file_bytes"] / MB, res["steady_rss_kb"] * 1024 / MB,
                res["peak_rss_kb"] * 1024 / MB, res["peak_rss_sum_kb"] * 1024 / MB,
                res["peak_pss_sum_kb"] * 1024 / MB))
        c.close()

        # Load, LOAD_RUNS times (the median is reported).
        runs, logs = [], []
        for _ in range(LOAD_RUNS):
            srv.stop()
            t0 = srv.start()
            srv.wait_ready(1800)
            c = Conn(srv.port, 120)
            dbs = c.call("DBSIZE")
            runs.append(time.monotonic() - t0)
            if dbs != expect:
                raise Fail("%s: DBSIZE %r after load, expected %d" % (name, dbs, expect))
            m = re.search(r"DB loaded from disk: ([0-9.]+) seconds", srv.log_since_start())
            if m:
                logs.append(float(m.group(1)))
            res["load_used_memory"] = int(info(c, "memory")["used_memory"])
            res["load_rss_kb"] = proc_kb(srv.proc.pid, "status", "VmRSS:")
            c.close()
            log("%s: loaded in %.2f s (log: %s s)" % (name, runs[-1], logs[-1] if m else "?"))
        res["load_runs"] = runs
        res["load_s"] = median_of(runs)
        res["load_log_s"] = median_of(logs) if len(logs) == len(runs) else None
    finally:
        srv.stop()
    shutil.rmtree(srv.dir, ignore_errors=True)
    return res


# ---------------------------------------------------------------- report --
def mb(kb):
    return "%.0f" % (kb * 1024 / MB)


def report(meta, counts, ncmds, res, rate):
    R, S = res["redis"], res["surge"]
    L = ["# Snapshot benchmark: forkless BGSAVE vs Redis fork", ""]
    for k, v in meta.items():
        L.append("- %s: %s" % (k, v))
    L += ["- dataset: %s string keys (32-224-byte values), %s hashes x 10 fields, "
          "%s lists x 20, %s sorted sets x 20 (%s commands, identical for both)"
          % tuple("{:,}".format(x) for x in (counts["strings"], counts["hashes"],
                                             counts["lists"], counts["zsets"], ncmds)),
          "- writes during the test: surge-bench open loop, %s SET/s, 8 connections, "
          "uniform over the string keys, %d-byte values" % ("{:,}".format(rate), VSIZE),
          "- servers on CPU %s (Redis's BGSAVE child inherits it), clients on CPU %s"
          % (SCPU, CCPU), ""]

    def row(label, f):
        return "| %s | %s | %s |" % (label, f(R), f(S))

    surge_ratio = S["peak_rss_kb"] / S["steady_rss_kb"]
    L += ["## Memory during BGSAVE under writes", "",
          "| | Redis %s | Surge |" % R["version"], "|---|---:|---:|",
          row("used_memory after fill, MB", lambda r: "%.0f" % (r["used_memory"] / MB)),
          row("steady RSS (median, 3 s of writes), MB", lambda r: mb(r["steady_rss_kb"])),
          row("peak RSS of the server process, MB", lambda r: mb(r["peak_rss_kb"])),
          row("VmHWM of the server process (reset before BGSAVE), MB",
              lambda r: mb(r["hwm_kb"]) if r["hwm_kb"] else "n/a"),
          row("peak RSS server + child (VmRSS sum), MB", lambda r: mb(r["peak_rss_sum_kb"])),
          row("peak PSS server + child, MB", lambda r: mb(r["peak_pss_sum_kb"])),
          row("**peak RSS sum / steady RSS**",
              lambda r: "**%.3f**" % (r["peak_rss_sum_kb"] / r["steady_rss_kb"])),
          row("**peak PSS sum / steady PSS**",
              lambda r: "**%.3f**" % (r["peak_pss_sum_kb"] / r["steady_pss_kb"])),
          row("copy-on-write (INFO rdb_last_cow_size), MB",
              lambda r: "%.0f" % (r["last_cow_size"] / MB)),
          row("child processes seen", lambda r: str(r["children"])),
          row("RSS 1 s after the save, MB", lambda r: mb(r["after_rss_kb"])),
          row("samples during the save: RSS / PSS / INFO",
              lambda r: "%d / %d / %d" % r["nsamples"]), "",
          "Target (issue 4): Surge's peak RSS during BGSAVE within 1.1x of its steady "
          "RSS: **%.3f, %s**." % (surge_ratio, "met" if surge_ratio <= 1.1 else "not met"),
          "",
          "The VmRSS sum counts the pages Redis's parent and child share twice, so it "
          "is an upper bound (about 2x even with no copy-on-write). The PSS sum counts "
          "each page once: the physical memory the save really holds.", ""]

    def thr(r, key_bytes, secs):
        return "%.0f" % (r[key_bytes] / MB / r[secs])

    def wr(r, key, f):
        x = r[key]
        return f(x) if x else "n/a"

    L += ["## Throughput", "", "| | Redis | Surge |", "|---|---:|---:|",
          row("snapshot file, MB", lambda r: "%.0f" % (r["file_bytes"] / MB)),
          row("BGSAVE time under writes, s", lambda r: "%.2f" % r["save_s"]),
          row("write: file MB/s", lambda r: thr(r, "file_bytes", "save_s")),
          row("write: used_memory MB/s", lambda r: thr(r, "used_memory", "save_s")),
          row("CPU of server + child during the save (writes included), s",
              lambda r: "%.1f" % r["save_cpu_s"]),
          row("waiting for CPU 0 meanwhile (run queue, main threads), s",
              lambda r: "%.1f" % r["save_wait_s"]),
          row("state of the saving process (Redis: child) in samples",
              lambda r: r["states"]),
          row("foreground SAVE without writes, s", lambda r: "%.2f" % r["fg_save_s"]),
          row("SAVE: file MB/s", lambda r: thr(r, "fg_file_bytes", "fg_save_s")),
          row("SAVE: used_memory MB/s", lambda r: thr(r, "used_memory", "fg_save_s")),
          row("load: exec to PING + DBSIZE ok, s (median of %d)" % LOAD_RUNS,
              lambda r: "%.2f" % r["load_s"]),
          row("load: each run, s", lambda r: ", ".join("%.2f" % x for x in r["load_runs"])),
          row("load: server log \"DB loaded from disk\", s (median)",
              lambda r: "%.2f" % r["load_log_s"] if r["load_log_s"] is not None else "n/a"),
          row("load: file MB/s", lambda r: thr(r, "file_bytes", "load_s")),
          row("load: used_memory MB/s", lambda r: thr(r, "load_used_memory", "load_s")),
          row("used_memory after load, MB", lambda r: "%.0f" % (r["load_used_memory"] / MB)),
          row("RSS after load, MB", lambda r: mb(r["load_rss_kb"])),
          row("fill with redis-cli --pipe, s", lambda r: "%.1f" % r["fill_s"]), "",
          "## Writes seen by the client", "",
          "Per 1-second surge-bench segment (open loop: latency counts from when each "
          "request was due); worst segment in each window.", "",
          "| | Redis | Surge |", "|---|---:|---:|",
          row("before the save: rps", lambda r: wr(r, "writes_pre", lambda x: "%.0f" % x["rps"])),
          row("before the save: worst p99 / max, ms", lambda r: wr(
              r, "writes_pre", lambda x: "%.2f / %.2f" % (x["p99"] / 1e3, x["max"] / 1e3))),
          row("during the save: server-side commands/s",
              lambda r: "%.0f" % r["save_writes_rps"]),
          row("during the save: worst p99 / p99.9 / max, ms", lambda r: wr(
              r, "writes_save", lambda x: "%.2f / %.2f / %.2f" % (
                  x["p99"] / 1e3, x["p999"] / 1e3, x["max"] / 1e3))), "",
          "Server log: Redis `%s`; Surge `%s`." % (R["save_log"], S["save_log"]), "",
          "## RSS trace during BGSAVE (MB; time from BGSAVE in s)", "",
          "| t | Redis parent RSS | child RSS | PSS sum | written | CPU s "
          "| Surge RSS | written | CPU s |",
          "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    tmax = max(R["samples"][-1][0], S["samples"][-1][0])
    for k in range(21):
        t = tmax * k / 20

        def at(r):  # the last sample at or before t; None after the save ended
            if t > r["samples"][-1][0] + 1e-9:
                return None
            best = r["samples"][0]
            for smp in r["samples"]:
                if smp[0] <= t + 1e-9:
                    best = smp
            return best
        a, b = at(R), at(S)
        L.append("| %.2f | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            t, mb(a[1]) if a else "", mb(a[2]) if a else "",
            mb(a[3]) if a and a[3] is not None else "",
            "%.0f" % a[4] if a else "", "%.1f" % a[5] if a else "",
            mb(b[1]) if b else "", "%.0f" % b[4] if b else "", "%.1f" % b[5] if b else ""))
    L += ["", "RSS is sampled every %d ms, PSS as fast as smaps_rollup allows (see the "
          "sample counts above); a blank cell means that save had finished. \"written\": "
          "MB written by the server and its children since BGSAVE (/proc/PID/io wchar, "
          "replies included); \"CPU s\": their user + system CPU since BGSAVE." %
          (SAMPLE_S * 1e3), ""]
    L += ["## Write segments around the save", "",
          "Each 1-second surge-bench segment that overlaps the save (times in s from "
          "BGSAVE; latency in ms).", "",
          "| server | start | end | rps | p50 | p99 | max |", "|---|---:|---:|---:|---:|---:|---:|"]
    for nm, r in (("Redis", R), ("Surge", S)):
        for (t0, t1, j) in r["segments"]:
            if t1 > -1.0 and t0 < r["save_s"] + 1.0:
                lat = j["latency_us"]
                L.append("| %s | %.2f | %.2f | %.0f | %.2f | %.2f | %.2f |" % (
                    nm, t0, t1, j["rps"], lat["p50"] / 1e3, lat["p99"] / 1e3,
                    lat["max"] / 1e3))
    return "\n".join(L) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size-gb", type=float, default=1.0, help="dataset scale (default 1)")
    ap.add_argument("--quick", action="store_true", help="small dataset (smoke run)")
    ap.add_argument("--rate", type=int, default=20000, help="SETs per second during the test")
    a = ap.parse_args()
    size = 0.05 if a.quick else a.size_gb
    for exe in (SURGE, REDIS, SURGE_BENCH):
        if not os.access(exe, os.X_OK):
            raise SystemExit("snapshot: %s is missing or not executable" % exe)
    try:
        os.sched_setaffinity(0, {int(CCPU)})
    except (OSError, ValueError):
        pass
    work = tempfile.mkdtemp(prefix="snapshot-bench.")
    ok = False
    try:
        counts = dataset_counts(size)
        path = os.path.join(work, "dataset.resp")
        t0 = time.monotonic()
        ncmds = gen_dataset(path, counts)
        log("dataset: %d commands, %.0f MB of RESP, generated in %.1f s" % (
            ncmds, os.path.getsize(path) / MB, time.monotonic() - t0))
        res = {}
        for name in SERVERS:
            res[name] = measure(name, work, path, ncmds, counts, a.rate)
        date = datetime.datetime.now().strftime("%Y-%m-%d_%H%M%S")
        try:
            rev = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"],
                                 capture_output=True, text=True).stdout.strip()
        except OSError:
            rev = "?"
        with open("/proc/loadavg") as f:
            load = " ".join(f.read().split()[:3])
        meta = {"date": date, "surge": "%s (%s)" % (SURGE, rev or "?"), "redis": REDIS,
                "host": "%s, %d CPUs, load average at the end %s" % (
                    os.uname().release, os.cpu_count(), load),
                "mode": "quick (numbers are meaningless)" if a.quick else "--size-gb %g" % size}
        text = report(meta, counts, ncmds, res, a.rate)
        os.makedirs(OUT_DIR, exist_ok=True)
        out = os.path.join(OUT_DIR, "snapshot-%s.md" % date)
        with open(out, "w") as f:
            f.write(text)
        sys.stdout.write(text)
        log("report: %s" % out)
        ok = True
    except Fail as e:
        log("FAILED: %s" % e)
        return 1
    finally:
        if ok and os.environ.get("BENCH_KEEP_TMP") != "1":
            shutil.rmtree(work, ignore_errors=True)
        else:
            # Drop the big files, keep the logs.
            for root, _, files in os.walk(work):
                for fn in files:
                    if fn.endswith((".resp", ".rdb")):
                        os.unlink(os.path.join(root, fn))
            log("kept %s" % work)
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    sys.exit(main())
