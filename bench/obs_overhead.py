#!/usr/bin/python3
"""Cost of latency tracking and metrics: two Surge servers on the same core,
one with `latency-tracking yes` (the default) and one with `no`, driven
alternately by redis-benchmark from the other core, with a /metrics scrape
every second against the tracking one (as Prometheus would).

Prints throughput and server CPU per request for each, and the ratios
(tracking on / off). The observability issue asks for at most 3% of
throughput. Usage: bench/obs_overhead.py [rounds]   (env BENCH_N, SURGE_SERVER)
"""
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SURGE = os.environ.get("SURGE_SERVER", os.path.join(ROOT, "build", "surge-server"))
N = int(os.environ.get("BENCH_N", "200000"))
ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 3
TICK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def start(tracking, metrics_port):
    d = tempfile.mkdtemp(prefix="surge-obsbench-")
    port = free_port()
    p = subprocess.Popen(["taskset", "-c", "0", SURGE, "--port", str(port), "--bind", "127.0.0.1",
                          "--dir", d, "--latency-tracking", tracking, "--metrics-port",
                          str(metrics_port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return p, port
        except OSError:
            time.sleep(0.05)
    raise SystemExit("server did not start")


def bench(port, test, pipeline, pid):
    n = N * (5 if pipeline > 1 else 1)
    t0 = cpu_ticks(pid)
    out = subprocess.run(["taskset", "-c", "1", "redis-benchmark", "-p", str(port), "-t", test,
                          "-n", str(n), "-c", "50", "-P", str(pipeline), "-d", "16", "-r", "100000",
                          "--csv"], capture_output=True, text=True, timeout=300, check=True).stdout
    t1 = cpu_ticks(pid)
    rps = float(out.strip().splitlines()[1].split(",")[1].strip('"'))
    return rps, (t1 - t0) / TICK * 1e6 / n


def main():
    mport = free_port()
    on, on_port = start("yes", mport)
    off, off_port = start("no", 0)
    stop = threading.Event()

    def scraper():
        while not stop.is_set():
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{mport}/metrics", timeout=2).read()
            except OSError:
                pass
            stop.wait(1.0)

    th = threading.Thread(target=scraper, daemon=True)
    th.start()
    results = {}
    try:
        for r in range(ROUNDS):
            for test in ("set", "get"):
                for pl in (1, 16):
                    order = [(on, on_port, "on"), (off, off_port, "off")]
                    if r % 2:
                        order.reverse()
                    for proc, port, name in order:
                        rps, cpu = bench(port, test, pl, proc.pid)
                        results.setdefault((test, pl, name), []).append((rps, cpu))
    finally:
        stop.set()
        for p in (on, off):
            p.terminate()
            p.wait()
    print("| test | pipeline | rps on | rps off | rps on/off | µs CPU/req on | off | CPU on/off |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for test in ("set", "get"):
        for pl in (1, 16):
            a = results[(test, pl, "on")]
            b = results[(test, pl, "off")]
            ra = statistics.median(x[0] for x in a)
            rb = statistics.median(x[0] for x in b)
            ca = statistics.median(x[1] for x in a)
            cb = statistics.median(x[1] for x in b)
            print(f"| {test.upper()} | {pl} | {ra:.0f} | {rb:.0f} | {ra / rb:.3f} | {ca:.3f} | "
                  f"{cb:.3f} | {ca / cb:.3f} |")


if __name__ == "__main__":
    main()
