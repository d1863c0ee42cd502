#!/usr/bin/python3
"""A/B CPU per request: two Surge binaries and Redis, alternating, one core.

    bench/ab.py [--rounds N] [--a BIN] [--b BIN] [--a-args ARGS] [--b-args ARGS]
                [--no-redis] TEST:N:P[:D] ...

TEST is a redis-benchmark test name (set, get, incr, hset, lpush, zadd ...)
or `lrange` (LRANGE mylist 0 99), N the requests per run, P the pipeline,
D the value size (default 16 bytes). --a-args/--b-args add server
arguments, e.g. the same binary both sides with `--a-args "--io-uring no"`.
Example, the binary built before a change against the one after it:

    bench/ab.py --a /tmp/before/surge-server --rounds 5 set:300000:1 zadd:1000000:16

Every server runs pinned to CPU 0 and redis-benchmark (50 connections,
16-byte values, keys over 100,000) to CPU 1; the servers take turns, in
reversed order every other round, so drift on a shared machine spreads over
all of them. Per run and server it reads, around the benchmark:
user and system CPU from /proc/PID/stat (10 ms ticks), the total from
/proc/PID/schedstat (nanoseconds, so finer than the ticks), and voluntary
context switches from /proc/PID/status (how often the server slept in
epoll_wait). It prints the medians per server and the medians of the
per-round ratios to Redis. This is the tool behind the "what each change
bought" figures in docs/performance.md; bench/suite.py is the report of
record.
"""
import argparse
import os
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, secs=20):
    end = time.monotonic() + secs
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit("ab: no server on port %d" % port)


def cpu(pid):
    with open("/proc/%d/stat" % pid) as f:
        x = f.read().rsplit(")", 1)[1].split()
    with open("/proc/%d/schedstat" % pid) as f:
        total = int(f.read().split()[0])
    with open("/proc/%d/status" % pid) as f:
        vcs = int(next(ln for ln in f if ln.startswith("voluntary")).split()[1])
    return int(x[11]), int(x[12]), total, vcs


def bench(port, test, n, p, d=16):
    args = ["LRANGE", "mylist", "0", "99"] if test == "lrange" else ["-t", test]
    subprocess.run(["taskset", "-c", "1", "redis-benchmark", "-p", str(port), "-n", str(n),
                    "-c", "50", "-r", "100000", "-d", str(d), "-P", str(p), "-q"] + args,
                   stdout=subprocess.DEVNULL, check=True, timeout=900)


def preload(port):
    subprocess.run(["taskset", "-c", "1", "redis-benchmark", "-p", str(port), "-n", "200000",
                    "-c", "50", "-r", "100000", "-d", "16", "-P", "16", "-q",
                    "-t", "set,hset,sadd,zadd"], stdout=subprocess.DEVNULL, check=True)
    cmds = "DEL mylist\n" + "RPUSH mylist xxxxxxxxxxxxxxxx\n" * 100
    subprocess.run(["redis-cli", "-p", str(port)], input=cmds.encode(),
                   stdout=subprocess.DEVNULL, check=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--a", help="first Surge binary (e.g. the build before a change)")
    ap.add_argument("--b", default=os.path.join(ROOT, "build", "surge-server"),
                    help="second Surge binary (default: build/surge-server)")
    ap.add_argument("--a-args", default="", help="extra server arguments for a, e.g. '--io-uring no'")
    ap.add_argument("--b-args", default="", help="extra server arguments for b")
    ap.add_argument("--no-redis", action="store_true")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("specs", nargs="+", metavar="TEST:N:P[:D]")
    a = ap.parse_args()
    specs = []
    for s in a.specs:
        try:
            t, n, p, *d = s.split(":")
            specs.append((s, t, int(n), int(p), int(d[0]) if d else 16))
        except (ValueError, IndexError):
            sys.exit("ab: bad spec %r (want TEST:N:P or TEST:N:P:VALUE_BYTES)" % s)
    for tool in ("redis-benchmark", "redis-cli", "taskset"):
        if not shutil.which(tool):
            sys.exit("ab: '%s' not found" % tool)
    servers = {}
    if a.a:
        servers["a"] = [a.a, "--save", ""] + shlex.split(a.a_args)
    servers["b"] = [a.b, "--save", ""] + shlex.split(a.b_args)
    if not a.no_redis:
        servers["redis"] = ["redis-server", "--save", "", "--appendonly", "no"]
    procs, ports = {}, {}
    work = tempfile.mkdtemp(prefix="surge-ab.")
    try:
        for name, argv in servers.items():
            d = os.path.join(work, name)
            os.mkdir(d)
            port = free_port()
            procs[name] = subprocess.Popen(
                ["taskset", "-c", "0"] + argv + ["--port", str(port), "--dir", d],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            ports[name] = port
        for name, port in ports.items():
            wait_port(port)
            preload(port)
        names = list(servers)
        res = {}
        for r in range(a.rounds):
            for spec, t, n, p, d in specs:
                for name in (names if r % 2 == 0 else names[::-1]):
                    pid = procs[name].pid
                    x = cpu(pid)
                    bench(ports[name], t, n, p, d)
                    y = cpu(pid)
                    res.setdefault((spec, name), []).append((
                        (y[0] - x[0]) * 1e6 / CLK_TCK / n,
                        (y[1] - x[1]) * 1e6 / CLK_TCK / n,
                        (y[2] - x[2]) / 1e3 / n, (y[3] - x[3]) / n))
        print("µs per request (user/sys from ticks, total from schedstat), "
              "sleeps per request; %d rounds" % a.rounds)
        for spec, *_ in specs:
            line = "%-16s" % spec
            for name in names:
                v = res[(spec, name)]
                m = [statistics.median(x[i] for x in v) for i in range(4)]
                line += " | %s u%.3f s%.3f t%.3f v%.3f" % (name, *m)
            if "redis" in names:
                rv = res[(spec, "redis")]
                for name in names:
                    if name == "redis":
                        continue
                    v = res[(spec, name)]
                    ru = statistics.median(v[i][0] / rv[i][0] if rv[i][0] else 0
                                           for i in range(a.rounds))
                    rt = statistics.median(v[i][2] / rv[i][2] for i in range(a.rounds))
                    line += " | %s/redis user %.3f total %.3f" % (name, ru, rt)
            print(line, flush=True)
    finally:
        for pr in procs.values():
            pr.terminate()
        for pr in procs.values():
            try:
                pr.wait(10)
            except subprocess.TimeoutExpired:
                pr.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
