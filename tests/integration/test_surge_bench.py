"""surge-bench against test servers with a known injected delay.

The load generator's figures must agree with reality: a server that
answers every request after D ms gives percentiles close to D, and in open
loop a server stall shows up in the percentiles of every request it held
up (no coordinated omission), while a closed-loop run hides most of it.
"""
import json
import os
import socket
import subprocess
import threading
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCH = os.environ.get("SURGE_BENCH", os.path.join(ROOT, "build", "surge-bench"))


class DelayServer:
    """Answers each complete RESP request with +OK after `delay` seconds,
    in order; `stall_at` (seconds after the first request) pauses all
    answers once for `stall` seconds."""

    def __init__(self, delay, stall_at=None, stall=0.0):
        self.delay, self.stall_at, self.stall = delay, stall_at, stall
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.first = None
        self.stalled = False
        self.lock = threading.Lock()
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def serve(self, c):
        buf = b""
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while True:
            try:
                data = c.recv(65536)
            except OSError:
                return
            if not data:
                return
            buf += data
            while True:
                n = self.request_len(buf)
                if not n:
                    break
                buf = buf[n:]
                now = time.monotonic()
                with self.lock:
                    if self.first is None:
                        self.first = now
                    stall = (self.stall_at is not None and not self.stalled
                             and now - self.first >= self.stall_at)
                    if stall:
                        self.stalled = True
                if stall:
                    time.sleep(self.stall)
                time.sleep(self.delay)
                try:
                    c.sendall(b"+OK\r\n")
                except OSError:
                    return

    @staticmethod
    def request_len(buf):
        if not buf.startswith(b"*"):
            i = buf.find(b"\n")
            return i + 1 if i >= 0 else 0
        i = buf.find(b"\r\n")
        if i < 0:
            return 0
        argc, pos = int(buf[1:i]), i + 2
        for _ in range(argc):
            j = buf.find(b"\r\n", pos)
            if j < 0:
                return 0
            ln = int(buf[pos + 1:j])
            pos = j + 2 + ln + 2
            if pos > len(buf):
                return 0
        return pos

    def close(self):
        self.sock.close()


def run_bench(*args):
    if not os.path.exists(BENCH):
        pytest.fail("surge-bench not built at %s" % BENCH)
    out = subprocess.run([BENCH, "--output", "json", *args], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_closed_loop_latency_matches_injected_delay():
    srv = DelayServer(0.020)
    try:
        r = run_bench("-p", str(srv.port), "-c", "1", "-P", "1", "-n", "40", "-t", "ping")
    finally:
        srv.close()
    assert r["requests"] == 40 and r["errors"] == 0
    lat = r["latency_us"]
    assert 19000 <= lat["p50"] <= 24000, lat
    assert lat["max"] < 60000, lat
    # one connection, one request at a time: about 50 requests per second
    assert 30 <= r["rps"] <= 55, r


def test_open_loop_rate_is_kept_and_latency_matches():
    srv = DelayServer(0.010)
    try:
        r = run_bench("-p", str(srv.port), "-c", "4", "-d", "2", "--rate", "100", "-t", "ping")
    finally:
        srv.close()
    assert r["mode"] == "open"
    assert 180 <= r["requests"] <= 210, r   # 100/s for 2 s
    assert 9000 <= r["latency_us"]["p50"] <= 14000, r


def test_open_loop_counts_a_stall_for_every_request_it_delayed():
    # 200 requests/s on one connection; the server stalls 500 ms once, 0.5 s in.
    # Requests due during the stall wait for it: ~100 of ~400 requests see
    # +100..+500 ms. Open loop must put p90 well above the 2 ms service time.
    srv = DelayServer(0.001, stall_at=0.5, stall=0.5)
    try:
        r = run_bench("-p", str(srv.port), "-c", "1", "-d", "2", "--rate", "200", "-t", "ping")
    finally:
        srv.close()
    lat = r["latency_us"]
    assert lat["max"] >= 450000, lat
    assert lat["p90"] >= 100000, lat


def test_closed_loop_hides_the_same_stall():
    # The same stall in closed loop delays exactly one request: the
    # percentiles below the maximum barely move (why open loop exists).
    srv = DelayServer(0.001, stall_at=0.5, stall=0.5)
    try:
        r = run_bench("-p", str(srv.port), "-c", "1", "-d", "2", "-t", "ping")
    finally:
        srv.close()
    lat = r["latency_us"]
    assert lat["max"] >= 450000, lat
    assert lat["p90"] < 20000, lat


def test_bad_arguments_are_refused():
    for args in (["-c", "0"], ["-t", "flushall"], ["-t", "get:0"], ["--dist", "pareto"]):
        out = subprocess.run([BENCH, *args], capture_output=True, text=True, timeout=10)
        assert out.returncode == 2, (args, out.stdout, out.stderr)
