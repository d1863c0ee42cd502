#!/usr/bin/python3
"""Surge benchmark suite: one command, Surge vs Debian's redis-server.

    bench/suite.py [--quick] [--rounds N] [--only SECTIONS] [--target-rows] [--scale X]

Sections (all by default, in this order):
  throughput  redis-benchmark: GET SET INCR MSET LPUSH LRANGE_100 HSET SADD
              ZADD at pipeline 1/16/64, 50 connections, 16-byte values;
              GET/SET also at 1,000 connections and with 1 KB / 16 KB values.
              Server CPU per request (user and sys apart) from /proc/PID/stat.
  latency     surge-bench: closed loop against Redis finds its maximum
              throughput, then open-loop 90/10 GET/SET zipfian runs at 50% and
              80% of it against both servers (p50/p90/p99/p99.9/max).
  growth      surge-bench open loop: SETs of new keys at 50,000/s from an empty
              server to 10,000,000 keys (quick: 500,000); latency percentiles
              while the tables grow (target: Surge's p99.9 <= 10 ms).
  memory      RSS bytes per key/element (fresh server per row, RESP loaded
              with redis-cli --pipe); memcached for strings as a reference.
  startup     time to load a 1 GB dataset at start-up; skipped with a note
              when Surge has no persistence (CONFIG GET appendonly is empty).

Servers are pinned to one CPU, clients (redis-benchmark, surge-bench,
redis-cli, the loaders) to the other; Surge and Redis alternate run by run in
ABBA order. Writes bench/results/suite-DATE.md plus PNG charts (gnuplot) in
bench/results/suite-DATE/, and prints the report. Standard library only.
See bench/README.md ("Suite") for how to read it.

Environment: SURGE_SERVER, SURGE_EXTRA_ARGS, REDIS_SERVER, MEMCACHED,
SURGE_BENCH, BENCH_SERVER_CPU (0), BENCH_CLIENT_CPU (1), BENCH_OUT_DIR,
BENCH_KEEP_TMP.
"""
import argparse
import datetime
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH_DIR)
sys.path.insert(0, os.path.join(BENCH_DIR, "lib"))
import benchlib  # noqa: E402  (median, safe_div, fmt_ratio)

median = benchlib.median
safe_div = benchlib.safe_div
CLK_TCK = os.sysconf("SC_CLK_TCK")
SERVERS = ("redis", "surge")

SURGE = os.environ.get("SURGE_SERVER", os.path.join(ROOT, "build", "surge-server"))
SURGE_EXTRA = shlex.split(os.environ.get("SURGE_EXTRA_ARGS", ""))
REDIS = os.environ.get("REDIS_SERVER", "/usr/bin/redis-server")
MEMCACHED = os.environ.get("MEMCACHED", shutil.which("memcached") or "/usr/bin/memcached")
SURGE_BENCH = os.environ.get("SURGE_BENCH", os.path.join(ROOT, "build", "surge-bench"))
SCPU = os.environ.get("BENCH_SERVER_CPU", "0")
CCPU = os.environ.get("BENCH_CLIENT_CPU", "1")
OUT_DIR = os.environ.get("BENCH_OUT_DIR", os.path.join(BENCH_DIR, "results"))

ALL_TESTS = ["SET", "GET", "INCR", "MSET", "LPUSH", "LRANGE_100", "HSET", "SADD", "ZADD"]
USER_TARGET_TESTS = ["GET", "SET", "INCR", "LPUSH", "HSET"]


def log(msg):
    sys.stderr.write("suite: %s\n" % msg)
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


class RespError(Exception):
    pass


class Conn:
    def __init__(self, port, timeout=60):
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
            return RespError(rest.decode())
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

    def pipeline(self, cmds, batch=1000):
        """Send encoded commands in batches; raise on any error reply."""
        buf = []
        for c in cmds:
            buf.append(c)
            if len(buf) >= batch:
                self._flush(buf)
                buf = []
        if buf:
            self._flush(buf)

    def _flush(self, buf):
        self.s.sendall(b"".join(buf))
        for _ in buf:
            r = self.read()
            if isinstance(r, RespError):
                raise Fail("error reply while loading: %s" % r)


def call(port, *args):
    c = Conn(port, 30)
    try:
        return c.call(*args)
    finally:
        c.close()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------- servers --
class Server:
    def __init__(self, name, work, extra=()):
        self.name, self.work, self.extra = name, work, list(extra)
        self.proc = None
        self.port = None
        self.dir = None

    def argv(self):
        if self.name == "surge":
            # No automatic snapshots during runs, as for Redis below.
            a = [SURGE, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
                 "--save", "", "--appendonly", "no"]
            return a + SURGE_EXTRA + self.extra
        if self.name == "redis":
            return [REDIS, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
                    "--save", "", "--appendonly", "no"] + self.extra
        return [MEMCACHED, "-p", str(self.port), "-l", "127.0.0.1", "-U", "0", "-m", "4096",
                "-t", "1", "-u", "root" if os.getuid() == 0 else os.environ.get("USER", "nobody")]

    def start(self, keep_dir=False, wait=True):
        if self.port is None:
            self.port = free_port()
        if not keep_dir or self.dir is None:
            self.dir = tempfile.mkdtemp(prefix=self.name + "-data.", dir=self.work)
        logf = open(os.path.join(self.work, self.name + ".log"), "ab")
        # taskset execs the server, so the Popen pid is the server's pid.
        self.proc = subprocess.Popen(["taskset", "-c", SCPU] + self.argv(), stdout=logf,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        logf.close()
        t0 = time.monotonic()
        if wait:
            self.wait_ready(30)
        return t0

    def wait_ready(self, limit):
        """Poll until the server answers PING with PONG (Redis answers
        -LOADING while it loads a dataset)."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            self.require_alive()
            try:
                if self.name == "memcached":
                    c = socket.create_connection(("127.0.0.1", self.port), 1)
                    c.sendall(b"version\r\n")
                    ok = c.recv(100).startswith(b"VERSION")
                    c.close()
                else:
                    ok = call(self.port, "PING") == "PONG"
                if ok:
                    return
            except (OSError, Fail):
                pass
            time.sleep(0.01)
        raise Fail("%s did not become ready within %ds" % (self.name, limit))

    def require_alive(self):
        if self.proc.poll() is not None:
            tail = ""
            try:
                with open(os.path.join(self.work, self.name + ".log"), "rb") as f:
                    tail = f.read()[-2000:].decode(errors="replace")
            except OSError:
                pass
            raise Fail("%s exited with status %s; log tail:\n%s"
                       % (self.name, self.proc.returncode, tail))

    def stop(self):
        if self.proc is None:
            return
        p, self.proc = self.proc, None
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                log("%s ignored SIGTERM for 10 s, killing" % self.name)
                p.kill()
                p.wait()

    def restart(self):
        self.stop()
        self.start()

    def ticks(self):
        self.require_alive()
        with open("/proc/%d/stat" % self.proc.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]), int(fields[12])

    def run_ns(self):
        """CPU time in ns from /proc/PID/schedstat: exact, not tick-sampled."""
        with open("/proc/%d/schedstat" % self.proc.pid) as f:
            return int(f.read().split()[0])

    def rss_kb(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise Fail("no VmRSS")

    def flushall(self):
        r = call(self.port, "FLUSHALL")
        if r != "OK":
            raise Fail("FLUSHALL on %s: %r" % (self.name, r))


def run(argv, timeout, client=True):
    if client:
        argv = ["taskset", "-c", CCPU] + argv
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise Fail("timed out after %ds: %s" % (timeout, " ".join(argv)))
    if p.returncode != 0:
        raise Fail("%s exited %d:\n%s%s" % (" ".join(argv), p.returncode,
                                           p.stdout[-1500:], p.stderr[-1500:]))
    return p.stdout


def abba(i):
    return SERVERS if i % 2 == 0 else SERVERS[::-1]


def preload_strings(srv, keyspace, size):
    """SET key:%012d (redis-benchmark's key names) to size-byte values."""
    val = b"x" * size
    c = Conn(srv.port)
    try:
        c.pipeline(resp("SET", b"key:%012d" % i, val) for i in range(keyspace))
        c.pipeline([resp("DEL", "mylist")] +
                   [resp("RPUSH", "mylist", val) for _ in range(100)])
    finally:
        c.close()


# ------------------------------------------------------------ throughput --
def throughput_configs(quick, target_rows=False, scale=1.0):
    n1 = int((5000 if quick else 200000) * scale)
    cfg = []
    # P1 runs are the shortest in CPU: 3x the requests, so a server's user
    # time is about 75 ticks, not 25, and its ratio moves less than ±0.05.
    mult = {1: 3, 16: 5, 64: 8}
    tfac = {"LRANGE_100": 0.2, "MSET": 0.4}
    sfac = {16: 1.0, 1024: 0.7, 16384: 0.15}
    for size in (16, 1024, 16384):
        for conns in (50, 1000):
            tests = ALL_TESTS if (size, conns) == (16, 50) else ["SET", "GET"]
            if size != 16 and conns != 50:
                continue
            if target_rows and (size, conns) != (16, 50):
                continue
            for p in (1, 16, 64):
                for t in tests:
                    n = int(n1 * mult[p] * tfac.get(t, 1.0) * sfac[size])
                    if conns == 1000:
                        n = max(n, 20000)
                    cfg.append((t, p, conns, size, n))
    return cfg


def bench_one(srv, test, p, conns, size, n, keyspace, work, tag):
    args = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(srv.port), "-n", str(n),
            "-c", str(conns), "-d", str(size), "-r", str(keyspace), "-P", str(p), "--csv"]
    if test == "LRANGE_100":
        # The built-in lrange_100 test first runs an LPUSH of -n elements
        # into the same process, which would pollute the CPU reading.
        args += ["LRANGE", "mylist", "0", "99"]
    else:
        args += ["-t", test.lower()]
    u0, s0 = srv.ticks()
    ns0 = srv.run_ns()
    out = run(args, 600)
    u1, s1 = srv.ticks()
    ns1 = srv.run_ns()
    with open(os.path.join(work, tag + ".csv"), "w") as f:
        f.write(out)
    rows = [ln.split('","') for ln in out.strip().splitlines()[1:] if ln.startswith('"')]
    if not rows:
        raise Fail("no CSV row from redis-benchmark for %s:\n%s" % (tag, out))
    rps = float(rows[-1][1].strip('"'))
    if not rps > 0:
        raise Fail("bad rps in %s" % tag)
    return {"rps": rps, "ut": u1 - u0, "st": s1 - s0, "ns": ns1 - ns0, "n": n}


def section_throughput(srvs, rounds, quick, work, raw, target_rows=False, scale=1.0):
    cfgs = throughput_configs(quick, target_rows, scale)
    res = {}   # cfg[:4] -> server -> [per-round dict]
    for srv in srvs.values():   # untimed warm-up
        run(["redis-benchmark", "-p", str(srv.port), "-n", "20000", "-c", "50",
             "-t", "set,get", "-q"], 120)
    idx = 0
    total = len(cfgs) * rounds * 2
    done = 0
    for rnd in range(1, rounds + 1):
        cur_size = None
        for (test, p, conns, size, n) in cfgs:
            keyspace = 10000 if size >= 16384 else 100000
            if size != cur_size:
                cur_size = size
                for srv in srvs.values():
                    srv.flushall()
                    preload_strings(srv, keyspace, size)
            for name in abba(idx + rnd):
                tag = "r%d-%s-P%d-c%d-d%d-%s" % (rnd, test, p, conns, size, name)
                r = bench_one(srvs[name], test, p, conns, size, n, keyspace, work, tag)
                r["round"] = rnd
                res.setdefault((test, p, conns, size), {}).setdefault(name, []).append(r)
                done += 1
                raw.append("%s\t%d\t%.0f\t%d\t%d\t%d" % (tag, n, r["rps"], r["ut"], r["st"],
                                                        r["ns"]))
                log("[%d/%d] %-10s P%-2d c%-4d %5dB %-5s %10.0f rps %4d+%-4d ticks" % (
                    done, total, test, p, conns, size, name, r["rps"], r["ut"], r["st"]))
            idx += 1
    for srv in srvs.values():
        srv.flushall()
    # Summaries.
    out = []
    for (test, p, conns, size, n) in cfgs:
        runs = res[(test, p, conns, size)]
        m = {}
        for name in SERVERS:
            pr = [per_req(r) for r in runs[name]]
            m[name] = {k: median([x[k] for x in pr]) for k in ("rps", "user", "sys", "cpu")}
            m[name]["minticks"] = min(r["ut"] + r["st"] for r in runs[name])
        pairs = list(zip(sorted(runs["redis"], key=lambda r: r["round"]),
                         sorted(runs["surge"], key=lambda r: r["round"])))
        ratio = {}
        for k in ("rps", "user", "cpu"):
            ratio[k] = median([safe_div(per_req(s)[k], per_req(r)[k]) for r, s in pairs])
        ratio["spread"] = [safe_div(per_req(s)["cpu"], per_req(r)["cpu"]) for r, s in pairs]
        out.append({"test": test, "p": p, "conns": conns, "size": size, "n": n,
                    "m": m, "ratio": ratio})
    return out


def per_req(r):
    """User and system time come from /proc/PID/stat, whose split is sampled
    per tick (a run of 75 user ticks is good to about ±12%); the total comes
    from /proc/PID/schedstat, which the scheduler keeps in nanoseconds."""
    us = 1e6 / CLK_TCK / r["n"]
    cpu = r["ns"] / 1e3 / r["n"] if r.get("ns") else (r["ut"] + r["st"]) * us
    return {"rps": r["rps"], "user": r["ut"] * us, "sys": r["st"] * us, "cpu": cpu}


# --------------------------------------------------------------- latency --
def surge_bench(port, extra, secs):
    args = [SURGE_BENCH, "-h", "127.0.0.1", "-p", str(port), "-c", "50", "-P", "1",
            "-d", str(secs), "-t", "get:90,set:10", "--dist", "zipf", "-r", "100000",
            "-s", "16", "--output", "json"] + extra
    out = run(args, secs + 120)
    j = json.loads(out.strip().splitlines()[-1])
    if j.get("errors"):
        raise Fail("surge-bench reported %s errors: %s" % (j["errors"], out))
    return j


def section_latency(srvs, rounds, quick, raw):
    secs = 3 if quick else 10
    for srv in srvs.values():
        srv.flushall()
        preload_strings(srv, 100000, 16)
    log("latency: closed loop against redis (%ds) to find its max throughput" % secs)
    closed = {name: surge_bench(srvs[name].port, [], secs) for name in SERVERS}
    rmax = closed["redis"]["rps"]
    raw.append("closed-loop: redis %.0f rps, surge %.0f rps"
               % (rmax, closed["surge"]["rps"]))
    res = {}
    idx = 0
    for rnd in range(rounds):
        for frac in (0.5, 0.8):
            rate = int(rmax * frac)
            for name in abba(idx + rnd):
                j = surge_bench(srvs[name].port, ["--rate", str(rate)], secs)
                res.setdefault((frac, name), []).append(j)
                lat = j["latency_us"]
                raw.append("open %.0f%% rate %d %s: rps %.0f p50 %s p99 %s p99.9 %s max %s"
                           % (frac * 100, rate, name, j["rps"], lat["p50"], lat["p99"],
                              lat["p99.9"], lat["max"]))
                log("open loop %.0f%% (%d/s) %-5s: %.0f rps, p50 %s p99 %s p99.9 %s max %s us"
                    % (frac * 100, rate, name, j["rps"], lat["p50"], lat["p99"],
                       lat["p99.9"], lat["max"]))
            idx += 1
    for srv in srvs.values():
        srv.flushall()
    summ = {}
    for (frac, name), js in res.items():
        d = {k: median([j["latency_us"][k] for j in js])
             for k in ("p50", "p90", "p99", "p99.9", "max")}
        d["rps"] = median([j["rps"] for j in js])
        d["rate"] = js[0]["rate"]
        summ[(frac, name)] = d
    return {"closed": closed, "rmax": rmax, "secs": secs, "open": summ}


# ---------------------------------------------------------------- growth --
GROWTH_RATE = 50000  # SETs per second while the keyspace grows


def section_growth(srvs, quick, raw):
    """Open-loop SETs of new keys (surge-bench --dist seq) at a fixed rate
    while the keyspace grows from 0 to N keys: table growth must not show
    up as latency spikes."""
    n = 500000 if quick else 10000000
    res = {}
    for name in SERVERS:
        srv = srvs[name]
        srv.flushall()
        args = [SURGE_BENCH, "-h", "127.0.0.1", "-p", str(srv.port), "-c", "50", "-P", "1",
                "-n", str(n), "--rate", str(GROWTH_RATE), "-t", "set", "--dist", "seq",
                "-r", str(n), "-s", "16", "--output", "json"]
        log("growth: %s, 0 -> %d keys at %d SET/s" % (name, n, GROWTH_RATE))
        out = run(args, n // GROWTH_RATE + 600)
        j = json.loads(out.strip().splitlines()[-1])
        if j.get("errors"):
            raise Fail("surge-bench reported %s errors: %s" % (j["errors"], out))
        keys = call(srv.port, "DBSIZE")
        if keys != n:
            raise Fail("growth: %s has %r keys after the run, expected %d" % (name, keys, n))
        lat = j["latency_us"]
        raw.append("growth %s: %d keys, rps %.0f p50 %s p99 %s p99.9 %s max %s"
                   % (name, n, j["rps"], lat["p50"], lat["p99"], lat["p99.9"], lat["max"]))
        log("growth %-5s: %.0f rps, p50 %s p99 %s p99.9 %s max %s us"
            % (name, j["rps"], lat["p50"], lat["p99"], lat["p99.9"], lat["max"]))
        res[name] = j
        srv.flushall()
    return {"keys": n, "rate": GROWTH_RATE, "res": res}


# ---------------------------------------------------------------- memory --
def memory_rows(quick):
    k = 100000 if quick else 1000000
    big = min(k, 100000)
    v16 = b"v" * 16
    v100 = b"v" * 100

    def strings(val, ttl):
        def gen():
            for i in range(k):
                if ttl:
                    yield resp("SET", b"key:%012d" % i, val, "EX", "86400")
                else:
                    yield resp("SET", b"key:%012d" % i, val)
        return gen

    def coll(cmd, per_key, kind):
        def gen():
            nkeys = k // per_key
            chunk = min(per_key, 1000)
            for key in range(nkeys):
                kn = b"%s:%010d" % (kind.encode(), key)
                for start in range(0, per_key, chunk):
                    a = [cmd, kn]
                    for e in range(start, start + chunk):
                        if cmd == "HSET":
                            a += [b"f:%06d" % e, v16]          # 8-byte field, 16-byte value
                        elif cmd == "SADD":
                            a.append(b"m:%014d" % e)           # 16-byte member
                        else:
                            a += [b"%d" % e, b"m:%014d" % e]   # score, 16-byte member
                    yield resp(*a)
        return gen

    rows = [
        # label, generator, items, target, memcached value (or None)
        ("strings, 16-byte values", strings(v16, False), k, 0.5, v16),
        ("strings, 16-byte values, TTL", strings(v16, True), k, 1.0, None),
        ("strings, 100-byte values", strings(v100, False), k, 1.0, v100),
        ("strings, 100-byte values, TTL", strings(v100, True), k, 1.0, None),
        ("hash, small (10 fields/key)", coll("HSET", 10, "hs"), k, 1.0, None),
        ("hash, large (%d fields/key)" % big, coll("HSET", big, "hl"), k, 1.0, None),
        ("set, small (10 members/key)", coll("SADD", 10, "ss"), k, 1.0, None),
        ("set, large (%d members/key)" % big, coll("SADD", big, "sl"), k, 1.0, None),
        ("zset, small (10 members/key)", coll("ZADD", 10, "zs"), k, 1.0, None),
        ("zset, large (%d members/key)" % big, coll("ZADD", big, "zl"), k, 1.0, None),
    ]
    return rows


def load_pipe(srv, path, ncmds):
    with open(path, "rb") as f:
        try:
            p = subprocess.run(["taskset", "-c", CCPU, "redis-cli", "-h", "127.0.0.1", "-p",
                                str(srv.port), "--pipe"], stdin=f, capture_output=True,
                               text=True, timeout=600)
        except subprocess.TimeoutExpired:
            raise Fail("redis-cli --pipe into %s timed out" % srv.name)
    out = p.stdout + p.stderr
    if p.returncode != 0 or ("errors: 0, replies: %d" % ncmds) not in out:
        raise Fail("redis-cli --pipe into %s: %s" % (srv.name, out[-1000:]))


def memcached_load(srv, k, val):
    c = socket.create_connection(("127.0.0.1", srv.port), 60)
    try:
        chunk = 20000
        for start in range(0, k, chunk):
            c.sendall(b"".join(b"set key:%012d 0 0 %d noreply\r\n%s\r\n" % (i, len(val), val)
                               for i in range(start, min(k, start + chunk))))
        c.sendall(b"stats\r\n")
        buf = b""
        while not buf.endswith(b"END\r\n"):
            d = c.recv(65536)
            if not d:
                raise Fail("memcached closed the connection")
            buf += d
    finally:
        c.close()
    items = None
    for line in buf.decode().splitlines():
        p = line.split()
        if len(p) == 3 and p[1] == "curr_items":
            items = int(p[2])
    if items != k:
        raise Fail("memcached has %s items after loading %d" % (items, k))


def measure(srv, loader):
    srv.restart()
    time.sleep(1)
    rss0 = srv.rss_kb()
    loader()
    time.sleep(1)
    srv.require_alive()
    rss1 = srv.rss_kb()
    return rss0, rss1


def section_memory(srvs, quick, work, raw):
    mc = None
    if os.access(MEMCACHED, os.X_OK):
        mc = Server("memcached", work)
    else:
        log("memcached not found (%s): skipping its rows" % MEMCACHED)
    rows = []
    try:
        for label, gen, items, target, mcval in memory_rows(quick):
            path = os.path.join(work, "mem.resp")
            ncmds = 0
            with open(path, "wb", buffering=1 << 20) as f:
                for c in gen():
                    f.write(c)
                    ncmds += 1
            r = {"label": label, "items": items, "target": target}
            for name in SERVERS:
                srv = srvs[name]
                rss0, rss1 = measure(srv, lambda: load_pipe(srv, path, ncmds))
                dbs = call(srv.port, "DBSIZE")
                r[name] = (rss1 - rss0) * 1024.0 / items
                raw.append("mem %s %s: rss %d -> %d kB, dbsize %s"
                           % (label, name, rss0, rss1, dbs))
                log("memory %-34s %-5s %7.1f B/item (RSS %d -> %d kB, dbsize %s)"
                    % (label, name, r[name], rss0, rss1, dbs))
            if mc is not None and mcval is not None:
                rss0, rss1 = measure(mc, lambda: memcached_load(mc, items, mcval))
                r["memcached"] = (rss1 - rss0) * 1024.0 / items
                raw.append("mem %s memcached: rss %d -> %d kB" % (label, rss0, rss1))
                log("memory %-34s memcached %7.1f B/item" % (label, r["memcached"]))
            os.unlink(path)
            rows.append(r)
    finally:
        if mc is not None:
            mc.stop()
    # Leave fresh, empty servers behind.
    for srv in srvs.values():
        srv.restart()
    return rows


# --------------------------------------------------------------- startup --
def section_startup(srvs, quick, work, raw):
    try:
        r = call(srvs["surge"].port, "CONFIG", "GET", "appendonly")
    except (OSError, Fail) as e:
        r = e
    if not isinstance(r, list) or len(r) < 2:
        return {"skipped": "Surge has no persistence yet (`CONFIG GET appendonly` returned "
                           "%r), so there is no dataset to load at start-up." % (r,)}
    # 1 GB of 1 KB values (quick: 64 MB).
    k = 65536 if quick else 1 << 20
    val = b"d" * 1000
    path = os.path.join(work, "startup.resp")
    with open(path, "wb", buffering=1 << 20) as f:
        for i in range(k):
            f.write(resp("SET", b"key:%012d" % i, val))
    res = {"keys": k, "bytes": k * 1000}
    for name in SERVERS:
        base = srvs[name]
        base.stop()
        # Both persist with SAVE (Redis: RDB; Surge: its snapshot format).
        srv = Server(name, work, [])
        srv.port = base.port
        srv.start()
        load_pipe(srv, path, k)
        how = "SAVE"
        sv = call(srv.port, "SAVE")
        if isinstance(sv, RespError):
            raise Fail("SAVE on %s: %s" % (name, sv))
        srv.stop()
        t0 = srv.start(keep_dir=True, wait=False)
        srv.wait_ready(600)
        # Ready = PONG and the whole dataset visible (a server that loads in
        # the background must not look fast); Redis answers -LOADING.
        deadline = time.monotonic() + 600
        while True:
            dbs = call(srv.port, "DBSIZE")
            if dbs == k or time.monotonic() > deadline:
                break
            time.sleep(0.01)
        secs = time.monotonic() - t0
        srv.stop()
        if dbs != k:
            raise Fail("%s has %s keys after restart, expected %d" % (name, dbs, k))
        res[name] = {"secs": secs, "how": how}
        raw.append("startup %s: %.2f s (%s), dbsize %s" % (name, secs, how, dbs))
        log("startup %s: %.2f s to load %d keys (%s)" % (name, secs, k, how))
        shutil.rmtree(srv.dir, ignore_errors=True)
        base.start()
    os.unlink(path)
    return res


# ---------------------------------------------------------------- report --
def met(ok):
    if ok is None:
        return "n/a (no reading)"
    return "**met**" if ok else "**not met**"


def sizestr(s):
    return {16: "16 B", 1024: "1 KB", 16384: "16 KB"}.get(s, "%d B" % s)


def gnuplot(script, cwd):
    try:
        p = subprocess.run(["gnuplot"], input=script, capture_output=True, text=True,
                           cwd=cwd, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as e:
        return str(e)
    return None if p.returncode == 0 else p.stderr[-500:]


def charts(tp, lat, chart_dir):
    """Write PNG charts; returns list of (title, filename) or an error note."""
    if not shutil.which("gnuplot"):
        return [], "gnuplot not found (Debian package gnuplot-nox): no charts."
    if not tp and not lat:
        return [], None
    os.makedirs(chart_dir, exist_ok=True)
    made = []
    errs = []
    # clamp(): keeps zero readings (quick mode) visible on log scales.
    term = ("set terminal pngcairo noenhanced size 1100,500 font 'DejaVu Sans,9'\n"
            "clamp(x) = x > 0.01 ? x : 0.01\n")
    if tp:
        base = [r for r in tp if r["conns"] == 50 and r["size"] == 16]
        with open(os.path.join(chart_dir, "base.dat"), "w") as f:
            f.write("test P1 P16 P64\n")
            for t in ALL_TESTS:
                rr = {r["p"]: r for r in base if r["test"] == t}
                f.write("%s %s\n" % (t, " ".join("%.4f" % (rr[p]["ratio"]["rps"] or 0)
                                               for p in (1, 16, 64))))
        with open(os.path.join(chart_dir, "cpu.dat"), "w") as f:
            for r in tp:
                lab = "%s/P%d" % (r["test"], r["p"])
                if r["conns"] != 50:
                    lab += "/c%d" % r["conns"]
                if r["size"] != 16:
                    lab += "/%s" % sizestr(r["size"]).replace(" ", "")
                m = r["m"]
                f.write("%s %.4f %.4f %.4f %.4f %.4f %.4f\n" % (
                    lab, m["redis"]["user"], m["redis"]["sys"], m["surge"]["user"],
                    m["surge"]["sys"], r["ratio"]["cpu"] or 0, r["ratio"]["user"] or 0))
        e = gnuplot(term + """
set output 'throughput_ratio.png'
set title 'Throughput ratio surge/redis (50 connections, 16-byte values; >1: Surge faster)'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set key top left
set yrange [0:*]
set grid ytics
plot 'base.dat' using 2:xtic(1) title columnheader, '' using 3 title columnheader, \
     '' using 4 title columnheader, 1 with lines lc rgb 'black' dt 2 notitle
""", chart_dir)
        (errs.append(e) if e else made.append(("Throughput ratio", "throughput_ratio.png")))
        e = gnuplot(term.replace("1100,500", "1400,600") + """
set output 'cpu_per_request.png'
set title 'Server CPU µs per request (user+sys; lower is better)'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set xtics rotate by -60 font ',7'
set logscale y
set ylabel 'µs CPU / request'
set grid ytics
set key top left
plot 'cpu.dat' using (clamp($2+$3)):xtic(1) title 'redis' lc rgb '#c0392b', \
     '' using (clamp($4+$5)) title 'surge' lc rgb '#1f618d'
""", chart_dir)
        (errs.append(e) if e else made.append(("CPU per request", "cpu_per_request.png")))
        e = gnuplot(term.replace("1100,500", "1400,600") + """
set output 'cpu_ratio.png'
set title 'Server CPU per request, ratio surge/redis (<1: Surge cheaper)'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set xtics rotate by -60 font ',7'
set yrange [0:*]
set grid ytics
set key top left
plot 'cpu.dat' using 6:xtic(1) title 'total CPU ratio', '' using 7 title 'user CPU ratio', \
     0.6 with lines lc rgb 'black' dt 2 title 'user target 0.6', \
     1 with lines lc rgb 'gray' notitle
""", chart_dir)
        (errs.append(e) if e else made.append(("CPU per request ratio", "cpu_ratio.png")))
    if lat:
        pcts = ("p50", "p90", "p99", "p99.9", "max")
        with open(os.path.join(chart_dir, "latency.dat"), "w") as f:
            for p in pcts:
                f.write("%s %s\n" % (p, " ".join(
                    str(max(lat["open"][(fr, n)][p], 1)) for fr in (0.5, 0.8)
                    for n in SERVERS)))
        e = gnuplot(term + """
set output 'latency.png'
set title 'Open-loop latency, 90/10 GET/SET zipfian, at 50%% and 80%% of Redis max throughput'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set logscale y
set ylabel 'µs'
set grid ytics
set key top left
plot 'latency.dat' using 2:xtic(1) title 'redis 50%%' lc rgb '#f1948a', \
     '' using 3 title 'surge 50%%' lc rgb '#85c1e9', \
     '' using 4 title 'redis 80%%' lc rgb '#c0392b', \
     '' using 5 title 'surge 80%%' lc rgb '#1f618d'
""".replace("%%", "%"), chart_dir)
        (errs.append(e) if e else made.append(("Latency percentiles", "latency.png")))
    return made, ("; ".join(errs) if errs else None)


def report(meta, tp, lat, mem, st, raw, chart_rel, chart_dir, quick, growth=None):
    out = []
    w = out.append
    targets = []   # (section, row, value, target, ok)
    w("# Surge vs Redis benchmark suite (%s)%s" % (meta["date"], " — QUICK (smoke test)"
                                                   if quick else ""))
    w("")
    for k, v in meta.items():
        w("- %s: `%s`" % (k, v))
    w("")
    if quick:
        w("**Quick mode: request counts are tiny, CPU readings are a few ticks; "
          "the numbers only show that the pipeline works.**")
        w("")
    if tp is not None:
        w("## Throughput and server CPU per request")
        w("")
        w("redis-benchmark on CPU %s, servers on CPU %s. rps ratio = surge/redis "
          "(>1: Surge faster); CPU ratio = surge/redis server CPU time per request "
          "(<1: Surge cheaper): the total from /proc/PID/schedstat (exact), the "
          "user/sys split from utime/stime in /proc/PID/stat (sampled per tick, "
          "CLK_TCK=%d, so the user column of a short run moves by about 1/sqrt(ticks)). "
          "Cells are medians over rounds; ratios are medians of the per-round paired "
          "ratios." % (CCPU, SCPU, CLK_TCK))
        w("")
        w("| test | P | conns | value | requests | redis rps | surge rps | rps ratio "
          "| redis µs/req user/sys | surge µs/req user/sys | user ratio | CPU ratio |")
        w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        low = 0
        for r in tp:
            m = r["m"]
            rr = r["ratio"]
            sp = [x for x in rr["spread"] if x]
            noisy = len(sp) > 1 and max(sp) / min(sp) > 1.10
            low += sum(1 for s in SERVERS if m[s]["minticks"] < 100)
            w("| %s | %d | %d | %s | %d | %.0f | %.0f | %s | %.2f (%.2f/%.2f) "
              "| %.2f (%.2f/%.2f) | %s | %s%s |" % (
                  r["test"], r["p"], r["conns"], sizestr(r["size"]), r["n"],
                  m["redis"]["rps"], m["surge"]["rps"], benchlib.fmt_ratio(rr["rps"]),
                  m["redis"]["cpu"], m["redis"]["user"], m["redis"]["sys"],
                  m["surge"]["cpu"], m["surge"]["user"], m["surge"]["sys"],
                  benchlib.fmt_ratio(rr["user"]), benchlib.fmt_ratio(rr["cpu"]),
                  " (noisy)" if noisy else ""))
            if r["conns"] == 50 and r["size"] == 16:
                # A ratio is n/a when Redis used 0 ticks (too few requests).
                if r["test"] in USER_TARGET_TESTS:
                    targets.append(("user CPU/req", "%s P%d" % (r["test"], r["p"]),
                                    rr["user"], "<= 0.6",
                                    None if rr["user"] is None else rr["user"] <= 0.6))
                if r["p"] in (1, 16):
                    lim = 0.9 if r["p"] == 1 else 0.75
                    targets.append(("total CPU/req", "%s P%d" % (r["test"], r["p"]),
                                    rr["cpu"], "<= %.2f" % lim,
                                    None if rr["cpu"] is None else rr["cpu"] <= lim))
        w("")
        if low:
            w("Warning: %d server/config cells had a run with fewer than 100 CPU ticks; "
              "their CPU numbers are coarse (±1 tick per reading)." % low)
            w("")
        w("(noisy): the per-round CPU ratios differ by more than 10%.")
        w("")
    if lat is not None:
        w("## Latency under open-loop load")
        w("")
        c = lat["closed"]
        w("surge-bench, 50 connections, pipeline 1, 90%% GET / 10%% SET, zipfian keys "
          "over 100,000 preloaded 16-byte values, %d s per run. Closed loop (max "
          "throughput): redis %.0f rps, surge %.0f rps. Open-loop rates are 50%% and "
          "80%% of Redis's; latency counts from when each request was due (µs)."
          % (lat["secs"], c["redis"]["rps"], c["surge"]["rps"]))
        w("")
        w("| load | rate/s | server | achieved rps | p50 | p90 | p99 | p99.9 | max |")
        w("|---|---:|---|---:|---:|---:|---:|---:|---:|")
        for fr in (0.5, 0.8):
            for n in SERVERS:
                d = lat["open"][(fr, n)]
                w("| %d%% | %d | %s | %.0f | %s | %s | %s | %s | %s |" % (
                    fr * 100, d["rate"], n, d["rps"], d["p50"], d["p90"], d["p99"],
                    d["p99.9"], d["max"]))
        w("")
        for p in ("p99", "p99.9"):
            s, r = lat["open"][(0.8, "surge")][p], lat["open"][(0.8, "redis")][p]
            targets.append(("latency @80%", p, safe_div(s, r), "<= 1 (surge <= redis)",
                            s <= r))
    if growth is not None:
        w("## Latency while the keyspace grows")
        w("")
        w("surge-bench open loop, 50 connections, pipeline 1, SET of new 16-byte values "
          "`key:000000000000`, `key:000000000001`, ... (`--dist seq`) at %d/s from an "
          "empty server to %d keys; latency from when each request was due (µs)."
          % (growth["rate"], growth["keys"]))
        w("")
        w("| server | achieved rps | p50 | p90 | p99 | p99.9 | max |")
        w("|---|---:|---:|---:|---:|---:|---:|")
        for n in SERVERS:
            j = growth["res"][n]
            lt = j["latency_us"]
            w("| %s | %.0f | %s | %s | %s | %s | %s |" % (
                n, j["rps"], lt["p50"], lt["p90"], lt["p99"], lt["p99.9"], lt["max"]))
        w("")
        p999 = growth["res"]["surge"]["latency_us"]["p99.9"]
        targets.append(("growth to %dM keys" % (growth["keys"] // 1000000) if growth["keys"]
                        >= 1000000 else "growth to %d keys" % growth["keys"],
                        "surge p99.9 (µs)", p999 / 10000.0, "<= 1 (10 ms)", p999 <= 10000))
    if mem is not None:
        w("## Memory per key / element")
        w("")
        w("Each row: fresh server, RSS baseline after 1 s, load with `redis-cli --pipe` "
          "(memcached: pipelined text protocol, same keys/values), RSS after 1 s; "
          "bytes/item = (after − baseline) / items. Keys `key:%012d` (16 bytes); hash "
          "fields 8 bytes with 16-byte values; set/zset members 16 bytes.")
        w("")
        w("| data | items | redis B/item | surge B/item | memcached B/item | ratio surge/redis "
          "| target |")
        w("|---|---:|---:|---:|---:|---:|---|")
        for r in mem:
            ratio = safe_div(r["surge"], r["redis"])
            w("| %s | %d | %.1f | %.1f | %s | %s | <= %.1f |" % (
                r["label"], r["items"], r["redis"], r["surge"],
                "%.1f" % r["memcached"] if "memcached" in r else "",
                benchlib.fmt_ratio(ratio), r["target"]))
            if ratio is not None:
                targets.append(("RSS/item", r["label"], ratio, "<= %.1f" % r["target"],
                                ratio <= r["target"]))
        w("")
    if st is not None:
        w("## Start-up time")
        w("")
        if "skipped" in st:
            w("Skipped: %s" % st["skipped"])
        else:
            w("%d keys, %d MB of values, saved then loaded at restart; time from exec "
              "until the server answers PING and DBSIZE shows every key."
              % (st["keys"], st["bytes"] // 1000000))
            w("")
            w("| server | persistence | seconds |")
            w("|---|---|---:|")
            for n in SERVERS:
                w("| %s | %s | %.2f |" % (n, st[n]["how"], st[n]["secs"]))
        w("")
    w("## Targets")
    w("")
    if targets:
        nmet = sum(1 for t in targets if t[4])
        nna = sum(1 for t in targets if t[4] is None)
        w("%d of %d met%s. Ratios are surge/redis from this run." % (
            nmet, len(targets), ", %d without a reading" % nna if nna else ""))
        w("")
        w("| target | row | ratio | limit | result |")
        w("|---|---|---:|---|---|")
        for sec, row, val, lim, ok in targets:
            w("| %s | %s | %s | %s | %s |" % (sec, row, benchlib.fmt_ratio(val), lim, met(ok)))
    else:
        w("(no section with targets was run)")
    w("")
    made, note = chart_rel
    if made or note:
        w("## Charts")
        w("")
        for title, fn in made:
            w("![%s](%s/%s)" % (title, chart_dir, fn))
            w("")
        if note:
            w("Chart problems: %s" % note)
            w("")
    w("## Raw runs")
    w("")
    w("```")
    out.extend(raw)
    w("```")
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------ main --
def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke test, about 2 minutes")
    ap.add_argument("--rounds", type=int, default=None, help="default 2 (quick: 1)")
    ap.add_argument("--only", default="throughput,latency,growth,memory,startup",
                    help="comma-separated subset of sections")
    ap.add_argument("--target-rows", action="store_true",
                    help="throughput: only the rows with targets (16-byte values, 50 "
                         "connections)")
    ap.add_argument("--scale", type=float, default=1.0,
                    help="throughput: multiply request counts (finer CPU readings)")
    a = ap.parse_args()
    sections = set(a.only.split(","))
    rounds = a.rounds or (1 if a.quick else 2)
    for tool in ("redis-benchmark", "redis-cli", "taskset"):
        if not shutil.which(tool):
            sys.exit("suite: '%s' not found" % tool)
    for path, what in ((SURGE, "SURGE_SERVER"), (REDIS, "REDIS_SERVER")):
        if not os.access(path, os.X_OK):
            sys.exit("suite: %s '%s' not executable (build first, or set it)" % (what, path))
    if sections & {"latency", "growth"} and not os.access(SURGE_BENCH, os.X_OK):
        sys.exit("suite: surge-bench '%s' not found (build first, or set SURGE_BENCH)"
                 % SURGE_BENCH)
    t_start = time.monotonic()
    work = tempfile.mkdtemp(prefix="surge-suite.")
    date = datetime.datetime.now().strftime("%Y-%m-%d_%H%M%S")
    srvs = {n: Server(n, work) for n in SERVERS}
    raw = []
    tp = lat = mem = st = growth = None
    ok = False
    try:
        for s in srvs.values():
            s.start()
        rev = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"],
                             capture_output=True, text=True).stdout.strip() or "?"
        with open("/proc/cpuinfo") as f:
            model = next((ln.split(":", 1)[1].strip() for ln in f
                          if ln.startswith("model name")), "?")
        meta = {
            "date": date,
            "host": "%s, %d CPUs, %s" % (os.uname().release, os.cpu_count(), model),
            "surge": " ".join(shlex.quote(x) for x in srvs["surge"].argv()),
            "redis": subprocess.run([REDIS, "--version"], capture_output=True,
                                    text=True).stdout.strip(),
            "repo": rev,
            "pinning": "servers on CPU %s, clients on CPU %s" % (SCPU, CCPU),
            "rounds": "%d (ABBA order)" % rounds,
        }
        if "throughput" in sections:
            tp = section_throughput(srvs, rounds, a.quick, work, raw, a.target_rows, a.scale)
        if "latency" in sections:
            lat = section_latency(srvs, rounds, a.quick, raw)
        if "growth" in sections:
            growth = section_growth(srvs, a.quick, raw)
        if "memory" in sections:
            mem = section_memory(srvs, a.quick, work, raw)
        if "startup" in sections:
            st = section_startup(srvs, a.quick, work, raw)
        ok = True
    except Fail as e:
        log("error: %s" % e)
    except KeyboardInterrupt:
        log("interrupted")
    finally:
        for s in srvs.values():
            s.stop()
        if ok and os.environ.get("BENCH_KEEP_TMP") != "1":
            shutil.rmtree(work, ignore_errors=True)
        else:
            log("temporary files (server logs, raw CSV) kept in %s" % work)
    if not ok:
        return 1
    meta["duration"] = "%.0f s" % (time.monotonic() - t_start)
    os.makedirs(OUT_DIR, exist_ok=True)
    chart_name = "suite-%s" % date
    made = charts(tp, lat, os.path.join(OUT_DIR, chart_name))
    text = report(meta, tp, lat, mem, st, raw, made, chart_name, a.quick, growth)
    path = os.path.join(OUT_DIR, "suite-%s.md" % date)
    with open(path, "w") as f:
        f.write(text)
    sys.stdout.write(text)
    log("report written to %s (charts in %s/)" % (path, os.path.join(OUT_DIR, chart_name)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
