"""Network hot path: io_uring receives, edge-triggered sockets, early replies, the clock.

Plain-TCP clients are read through the loop's io_uring where the kernel
allows it (multishot receives into a shared ring of buffers, see
src/net/ev.c), else from edge-triggered epoll registrations, where a read
that fills the space it asked for switches the socket to level triggering
until a short read (read_handler in src/server/networking.c).  A mistake in
either strands input: the client waits for replies that never come.  Every
socket here has a timeout, so such a hang fails the test instead of blocking
it.  The tests taking ``surge_server`` run once per backend (``--io-uring
yes`` and ``no``, and io_uring with waits batched for up to 1 ms); the
io_uring runs are skipped where the kernel refuses it.

Replies are written right after each client's commands run unless the
append-only log holds them (aof_holds_replies); the clock is the TSC when
the CPU has an invariant one (INFO server's monotonic_clock).
"""
import os
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time

import pytest

from resp_client import RespClient, RespError, encode_command

TIMEOUT = 20.0
READ_SIZE = 16 * 1024  # CLIENT_READ_SIZE in src/server/server.h


def _cmd(*args):
    return encode_command(*args)


def _backend(srv):
    c = srv.resp(timeout=TIMEOUT)
    try:
        return _info_field(c, "server", "multiplexing_api")
    finally:
        c.close()


BACKENDS = {
    "io_uring": ("--io-uring", "yes"),
    "epoll": ("--io-uring", "no"),
    # waits held out for several clients' input, at the longest allowed
    "io_uring_batch": ("--io-uring", "yes", "--io-uring-wait-batch-us", "1000"),
}


@pytest.fixture(params=list(BACKENDS))
def surge_server(request, start_surge):
    """Overrides conftest's: a server per test, for each way of reading clients."""
    srv = start_surge(*BACKENDS[request.param])
    got = _backend(srv)
    want = "epoll" if request.param == "epoll" else "io_uring"
    if want == "io_uring" and got != "io_uring":
        pytest.skip("the kernel refuses io_uring here (the server fell back to epoll)")
    assert got == want
    return srv


def _set_frame_len(key, vlen):
    return len(_cmd(b"SET", key, b"x" * vlen))


def _value_len_for_frame(key, total):
    """Value length that makes SET key <value> exactly `total` bytes on the wire."""
    for vlen in range(max(0, total - 64), total):
        if _set_frame_len(key, vlen) == total:
            return vlen
    raise AssertionError("no value length gives a %d-byte frame" % total)


def _send_in_thread(sock, data):
    """sendall from a thread, so that reading replies meanwhile cannot deadlock."""
    err = []

    def run():
        try:
            sock.sendall(data)
        except OSError as e:  # reported by the caller
            err.append(e)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, err


def _read_n(c, n):
    return [c.read_reply() for _ in range(n)]


def _info_field(c, section, field):
    text = c.call("INFO", section)
    for line in bytes(text).decode().split("\r\n"):
        if line.startswith(field + ":"):
            return line.split(":", 1)[1]
    return None


# -- big pipelines and the read buffer ---------------------------------------

def test_one_send_of_a_huge_pipeline(surge_server):
    c = surge_server.resp(timeout=TIMEOUT)
    n = 20000
    data = b"".join(_cmd("SET", "key:%d" % i, "val-%d-%s" % (i, "y" * (i % 40)))
                    for i in range(n)) + _cmd("PING")
    assert len(data) > 50 * READ_SIZE
    t, err = _send_in_thread(c.sock, data)
    replies = _read_n(c, n + 1)
    t.join(TIMEOUT)
    assert not err
    assert replies[:n] == [b"OK"] * n
    assert replies[n] == b"PONG"
    r = surge_server.client()
    assert r.dbsize() == n
    for i in (0, 1, 4095, 12345, n - 1):
        assert r.get("key:%d" % i) == ("val-%d-%s" % (i, "y" * (i % 40))).encode()


@pytest.mark.parametrize("vlen", [1 << 20, READ_SIZE - 1, READ_SIZE, READ_SIZE + 1,
                                  2 * READ_SIZE - 1, 2 * READ_SIZE, 2 * READ_SIZE + 1])
def test_big_value_sizes(surge_server, vlen):
    c = surge_server.resp(timeout=TIMEOUT)
    value = os.urandom(vlen)
    assert c.call("SET", "big", value) == b"OK"
    assert c.call("GET", "big") == value
    assert c.call("STRLEN", "big") == vlen


@pytest.mark.parametrize("total", [READ_SIZE - 1, READ_SIZE, READ_SIZE + 1,
                                   2 * READ_SIZE - 1, 2 * READ_SIZE, 2 * READ_SIZE + 1,
                                   4 * READ_SIZE, 64 * READ_SIZE])
def test_frame_exactly_filling_buffers(surge_server, total):
    """One SET whose whole frame (RESP framing included) is `total` bytes."""
    c = surge_server.resp(timeout=TIMEOUT)
    vlen = _value_len_for_frame(b"k", total)
    value = bytes((i * 7) & 0xFF for i in range(vlen))
    frame = _cmd(b"SET", b"k", value)
    assert len(frame) == total
    c.send_raw(frame)
    assert c.read_reply() == b"OK"
    # Nothing more is sent: the server must not need more input to answer
    # the next command either (the socket went back to edge triggering).
    assert c.call("GET", "k") == value
    # The same frame followed by a PING in one send, and twice back to back.
    c.send_raw(frame + _cmd("PING"))
    assert _read_n(c, 2) == [b"OK", b"PONG"]
    c.send_raw(frame + frame)
    assert _read_n(c, 2) == [b"OK", b"OK"]


def test_pipeline_exactly_one_read_buffer(surge_server):
    """Pipelines of several commands totalling exactly 1x/2x the read size."""
    c = surge_server.resp(timeout=TIMEOUT)
    for total in (READ_SIZE, 2 * READ_SIZE, 3 * READ_SIZE):
        ping = _cmd("PING")
        head = ping * 10
        last = _cmd(b"SET", b"pad", b"x" * _value_len_for_frame(b"pad", total - len(head)))
        data = head + last
        assert len(data) == total
        c.send_raw(data)
        assert _read_n(c, 11) == [b"PONG"] * 10 + [b"OK"]
        time.sleep(0.05)
        assert c.call("PING") == b"PONG"


def test_command_one_byte_at_a_time(surge_server):
    c = surge_server.resp(timeout=TIMEOUT)
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    data = _cmd("SET", "slow", "v" * 50) + _cmd("INCR", "n") + _cmd("GET", "slow")
    for i, b in enumerate(data):
        c.send_raw(bytes([b]))
        if i % 4 == 0:
            time.sleep(0.001)
    assert _read_n(c, 3) == [b"OK", 1, b"v" * 50]


def test_send_wait_send_again(surge_server):
    """After the server drained the socket, new input is still noticed."""
    c = surge_server.resp(timeout=TIMEOUT)
    counter = 0
    for rnd, n in enumerate((1, 5000, 1, 3, 20000, 2, 700)):
        # A big pipeline makes full reads (level triggering), the small ones
        # short reads (edge again); the pause lets the server drain first.
        data = b"".join(_cmd("INCR", "ctr") for _ in range(n))
        t, err = _send_in_thread(c.sock, data)
        replies = _read_n(c, n)
        t.join(TIMEOUT)
        assert not err
        assert replies == list(range(counter + 1, counter + n + 1)), "round %d" % rnd
        counter += n
        time.sleep(0.1)
        # a lone command after the pause
        assert c.call("GET", "ctr") == str(counter).encode()
        time.sleep(0.05)
    # Part of a command, a pause, then the rest: the server drained the
    # first part and must notice the second.
    frame = _cmd("SET", "split", "z" * (3 * READ_SIZE))
    for cut in (1, READ_SIZE - 1, READ_SIZE, READ_SIZE + 1, 2 * READ_SIZE):
        c.send_raw(frame[:cut])
        time.sleep(0.1)
        c.send_raw(frame[cut:])
        assert c.read_reply() == b"OK", "cut at %d" % cut


def test_many_clients_concurrent_pipelines(surge_server):
    nclients = 50
    sizes = (1, 7, 300, 2500, 2, 1200, 40)
    shared_replies = []
    errors = []
    lock = threading.Lock()
    start = threading.Barrier(nclients)

    def worker(idx):
        try:
            c = RespClient(surge_server.host, surge_server.port, timeout=TIMEOUT)
            own = 0
            mine = []
            start.wait(TIMEOUT)
            for rnd, n in enumerate(sizes[idx % len(sizes):] + sizes[:idx % len(sizes)]):
                # interleave: own counter, shared counter, a value of varied size
                parts = []
                for j in range(n):
                    parts.append(_cmd("INCR", "own:%d" % idx))
                    parts.append(_cmd("INCR", "shared"))
                    if j % 97 == 0:
                        parts.append(_cmd("SET", "v:%d" % idx, "q" * ((idx * 131 + j) % 20000)))
                data = b"".join(parts)
                t, err = _send_in_thread(c.sock, data)
                for j in range(n):
                    r = c.read_reply()
                    own += 1
                    if r != own:
                        raise AssertionError("client %d round %d: INCR own gave %r, want %d"
                                             % (idx, rnd, r, own))
                    mine.append(c.read_reply())
                    if j % 97 == 0:
                        r = c.read_reply()
                        if r != b"OK":
                            raise AssertionError("client %d: SET gave %r" % (idx, r))
                t.join(TIMEOUT)
                if err:
                    raise err[0]
            assert c.call("GET", "own:%d" % idx) == str(own).encode()
            c.close()
            with lock:
                shared_replies.extend(mine)
        except Exception as e:  # noqa: BLE001 - reported in the main thread
            with lock:
                errors.append("client %d: %r" % (idx, e))

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(nclients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not [t for t in threads if t.is_alive()], "clients still waiting for replies"
    assert not errors, errors[:5]
    total = nclients * sum(sizes)
    assert sorted(shared_replies) == list(range(1, total + 1))
    r = surge_server.client()
    assert int(r.get("shared")) == total


def test_receive_buffers_run_dry(surge_server):
    """More input at once than the ring's receive buffers hold (64 x 16 KB):
    receives end for want of a buffer and must be armed again, on every
    client, without losing or reordering a byte.  The server sleeps while
    40 clients send 160 KB each, so that it all completes in a few rounds
    (the kernel runs a bounded number of receives per wait, each taking up
    to 32 buffers)."""
    n, per = 40, 500
    socks = []
    try:
        for i in range(n):
            socks.append(RespClient(surge_server.host, surge_server.port, timeout=TIMEOUT))
        sleeper = RespClient(surge_server.host, surge_server.port, timeout=TIMEOUT)
        assert sleeper.call("PING") == b"PONG"
        sleeper.send_raw(_cmd("DEBUG", "SLEEP", "0.5"))
        time.sleep(0.05)
        senders = []
        for i, c in enumerate(socks):
            data = b"".join(_cmd("APPEND", "s:%d" % i, "%03d" % j + "z" * 297)
                            for j in range(per))
            senders.append(_send_in_thread(c.sock, data))
        assert sleeper.read_reply() == b"OK"
        for i, c in enumerate(socks):
            assert _read_n(c, per) == [300 * (j + 1) for j in range(per)], "client %d" % i
        for t, err in senders:
            t.join(TIMEOUT)
            assert not err
        r = surge_server.client()
        want = "".join("%03d" % j + "z" * 297 for j in range(per)).encode()
        for i in range(n):
            assert r.get("s:%d" % i) == want
        sleeper.close()
    finally:
        for c in socks:
            c.close()


def test_connection_churn_reuses_fds(surge_server):
    """Connections closed in every way, while their fd numbers are reused at
    once by new ones: a closed client's receive is cancelled, and whatever
    it still completes must not reach the new owner of the fd."""
    keep = surge_server.resp(timeout=TIMEOUT)
    for i in range(300):
        c = RespClient(surge_server.host, surge_server.port, timeout=TIMEOUT)
        how = i % 4
        if how == 0:  # closed by the client with a command in flight
            c.send_raw(_cmd("INCR", "churn"))
            c.close()
        elif how == 1:  # QUIT, then more input the server must drop
            c.send_raw(_cmd("QUIT") + _cmd("INCR", "never") * 50)
            assert c.read_reply() == b"OK"
            c.close()
        elif how == 2:  # killed by the server
            cid = c.call("CLIENT", "ID")
            assert keep.call("CLIENT", "KILL", "ID", str(cid)) == 1
            c.close()
        else:  # a protocol error closes it
            c.send_raw(b"*1\r\n$-5\r\n" + _cmd("INCR", "never"))
            r = c.read_reply()
            assert isinstance(r, RespError) and b"Protocol error" in r.message, r
            c.close()
        if i % 25 == 0:
            assert keep.call("PING") == b"PONG"
    assert keep.call("EXISTS", "never") == 0
    churn = int(keep.call("GET", "churn") or 0)
    assert churn <= 75
    d = RespClient(surge_server.host, surge_server.port, timeout=TIMEOUT)
    assert d.call("INCR", "after") == 1
    assert int(bytes(keep.call("INFO", "clients")).split(b"connected_clients:")[1]
               .split(b"\r\n")[0]) == 2


def test_io_uring_off_reports_epoll(start_surge):
    srv = start_surge("--io-uring", "no")
    c = srv.resp(timeout=TIMEOUT)
    assert _info_field(c, "server", "multiplexing_api") == "epoll"
    assert c.call("CONFIG", "GET", "io-uring") == [b"io-uring", b"no"]
    r = c.call("CONFIG", "SET", "io-uring", "yes")
    assert isinstance(r, RespError) and b"immutable" in r.message


def test_falls_back_to_epoll_when_io_uring_is_refused(start_surge, monkeypatch, tmp_path):
    """A kernel or container that refuses io_uring (here a shim making ring
    set-up fail with EPERM): the server logs it, reads with epoll, works."""
    if not (shutil.which("cc") or shutil.which("gcc")):
        pytest.skip("no C compiler for the shim")
    from conftest import compile_shim
    monkeypatch.setenv("LD_PRELOAD", str(compile_shim("no_uring", tmp_path)))
    # an ASan build wants its runtime first; the shim has nothing to check
    monkeypatch.setenv("ASAN_OPTIONS", os.environ.get("ASAN_OPTIONS", "") +
                       ":verify_asan_link_order=0")
    srv = start_surge()
    c = srv.resp(timeout=TIMEOUT)
    assert _info_field(c, "server", "multiplexing_api") == "epoll"
    assert c.call("CONFIG", "GET", "io-uring") == [b"io-uring", b"yes"]
    n = 3000
    c.send_raw(b"".join(_cmd("INCR", "n") for _ in range(n)))
    assert _read_n(c, n) == list(range(1, n + 1))
    log = srv.log_path.read_text(errors="replace")
    assert "io_uring unavailable (Operation not permitted): clients are read with epoll" in log


def test_wait_batch_setting(start_surge):
    srv = start_surge()
    c = srv.resp(timeout=TIMEOUT)
    assert c.call("CONFIG", "GET", "io-uring-wait-batch-us") == [b"io-uring-wait-batch-us", b"0"]
    assert c.call("CONFIG", "SET", "io-uring-wait-batch-us", "1000") == b"OK"
    r = c.call("CONFIG", "SET", "io-uring-wait-batch-us", "1001")
    assert isinstance(r, RespError)
    r = c.call("CONFIG", "SET", "io-uring-wait-batch-us", "-1")
    assert isinstance(r, RespError)
    # Several clients make the rounds batch; then one alone must still be
    # answered on every request (the wait gives up after 1 ms at most).
    others = [srv.resp(timeout=TIMEOUT) for _ in range(8)]
    for rnd in range(20):
        for o in others:
            o.send_raw(_cmd("INCR", "many"))
        for o in others:
            o.read_reply()
    for i in range(200):
        assert c.call("INCR", "alone") == i + 1
    assert c.call("GET", "many") == b"160"
    for o in others:
        o.close()


def test_pipelined_burst_with_appendonly_always(start_surge):
    srv = start_surge("--appendonly", "yes", "--appendfsync", "always")
    c = srv.resp(timeout=60)
    n = 3000
    data = b"".join(_cmd("INCR", "a") + _cmd("SET", "k:%d" % i, "v%d" % i) for i in range(n))
    data += _cmd("PING")
    t, err = _send_in_thread(c.sock, data)
    replies = _read_n(c, 2 * n + 1)
    t.join(60)
    assert not err
    assert replies[0:2 * n:2] == list(range(1, n + 1))
    assert replies[1:2 * n:2] == [b"OK"] * n
    assert replies[-1] == b"PONG"
    # a second client pipelining meanwhile gets its own replies only
    d = srv.resp(timeout=60)
    d.send_raw(b"".join(_cmd("INCR", "b") for _ in range(500)))
    assert _read_n(d, 500) == list(range(1, 501))
    assert c.call("GET", "k:%d" % (n - 1)) == ("v%d" % (n - 1)).encode()
    assert c.call("DBSIZE") == n + 2


# -- TLS -----------------------------------------------------------------------

def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def tls_certs(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.skip("openssl CLI missing")
    d = str(tmp_path_factory.mktemp("netio-certs"))
    _openssl("req", "-x509", "-new", "-nodes", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-keyout", "ca.key", "-out", "ca.crt",
             "-days", "2", "-subj", "/CN=netio-ca", cwd=d)
    with open(os.path.join(d, "server.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    _openssl("req", "-new", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=netio", cwd=d)
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "server.ext",
             cwd=d)
    return {k: os.path.join(d, k) for k in ("ca.crt", "server.crt", "server.key")}


def test_tls_huge_pipeline(start_surge, tls_certs):
    from conftest import find_free_port
    port = find_free_port()
    srv = start_surge("--tls-port", str(port), "--tls-cert-file", tls_certs["server.crt"],
                      "--tls-key-file", tls_certs["server.key"],
                      "--tls-ca-cert-file", tls_certs["ca.crt"], "--tls-auth-clients", "no")
    ctx = ssl.create_default_context(cafile=tls_certs["ca.crt"])
    raw = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    s = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
    c = RespClient(sock=s, timeout=TIMEOUT)
    try:
        n = 20000
        data = b"".join(_cmd("SET", "t:%d" % i, "w" * (i % 60)) for i in range(n)) + _cmd("PING")
        # TLS sockets cannot be written from one thread while read from
        # another safely in Python: send in chunks, read what is due.
        chunk = 256 * 1024
        for off in range(0, len(data), chunk):
            c.send_raw(data[off:off + chunk])
        replies = _read_n(c, n + 1)
        assert replies[:n] == [b"OK"] * n
        assert replies[n] == b"PONG"
        big = os.urandom(1 << 20)
        assert c.call("SET", "big", big) == b"OK"
        assert c.call("GET", "big") == big
    finally:
        c.close()
    assert srv.client().dbsize() == 20001


# -- the clock -------------------------------------------------------------------

CLOCK_RE = re.compile(r"^(POSIX clock_gettime|X86 TSC @ \d+ ticks/us)$")


def test_info_monotonic_clock(surge_server):
    c = surge_server.resp(timeout=TIMEOUT)
    name = _info_field(c, "server", "monotonic_clock")
    assert name is not None, "INFO server has no monotonic_clock field"
    assert CLOCK_RE.match(name), name


def test_info_monotonic_clock_posix_env(start_surge, monkeypatch):
    monkeypatch.setenv("SURGE_CLOCK", "posix")  # inherited by the server process
    srv = start_surge()
    c = srv.resp(timeout=TIMEOUT)
    assert _info_field(c, "server", "monotonic_clock") == "POSIX clock_gettime"
    assert c.call("PING") == b"PONG"


@pytest.mark.parametrize("posix", [False, True])
def test_slowlog_duration_of_debug_sleep(start_surge, monkeypatch, posix):
    if posix:
        monkeypatch.setenv("SURGE_CLOCK", "posix")
    else:
        monkeypatch.delenv("SURGE_CLOCK", raising=False)
    srv = start_surge("--slowlog-log-slower-than", "100000")
    c = srv.resp(timeout=TIMEOUT)
    assert c.call("SLOWLOG", "RESET") == b"OK"
    assert c.call("DEBUG", "SLEEP", "0.2") == b"OK"
    entries = c.call("SLOWLOG", "GET")
    if isinstance(entries, RespError):
        pytest.fail("SLOWLOG GET: %r" % entries)
    sleeps = [e for e in entries if [bytes(a).upper() for a in e[3][:2]] == [b"DEBUG", b"SLEEP"]]
    assert len(sleeps) == 1, entries
    duration = sleeps[0][2]
    assert 150000 <= duration <= 2000000, duration
