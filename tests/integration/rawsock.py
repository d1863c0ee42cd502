"""Self-contained helpers for Surge's raw-protocol integration tests.

Nothing here depends on conftest.py, so these modules keep working whatever
fixtures conftest provides.  Tests can be pointed at the reference
implementation with ``SURGE_SERVER=/usr/bin/redis-server``.
"""

import contextlib
import errno
import os
import resource
import shutil
import signal
import socket
import subprocess
import tempfile
import time

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEFAULT_BIN = os.path.join(REPO_ROOT, "build", "surge-server")


def server_bin():
    return os.environ.get("SURGE_SERVER", DEFAULT_BIN)


def is_redis_binary(path=None):
    """True when the binary under test is the reference redis-server."""
    return os.path.basename(path or server_bin()).startswith("redis-server")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------
# Raw RESP socket helpers
# --------------------------------------------------------------------------

class Conn:
    """A raw TCP connection that parses exactly one RESP frame per read.

    ``read_frame`` returns the exact bytes of the frame, so tests can compare
    wire bytes verbatim.  ``read_value`` returns a parsed Python value.
    """

    def __init__(self, host, port, timeout=5.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout
        self.buf = bytearray()

    # context manager -----------------------------------------------------
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    # sending ---------------------------------------------------------------
    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def send_cmd(self, *args):
        self.send(encode_cmd(*args))

    # receiving -------------------------------------------------------------
    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("timed out waiting for a RESP frame; have %r" % bytes(self.buf[:200]))
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(1 << 20)
        except socket.timeout:
            raise TimeoutError("timed out waiting for a RESP frame; have %r" % bytes(self.buf[:200]))
        if not chunk:
            raise ConnectionClosed("peer closed connection; partial buffer %r" % bytes(self.buf[:200]))
        self.buf += chunk

    def _line(self, pos, deadline):
        while True:
            idx = self.buf.find(b"\r\n", pos)
            if idx >= 0:
                return idx
            self._fill(deadline)

    def _frame_end(self, pos, deadline):
        """Return the index just past the frame starting at ``pos``."""
        while len(self.buf) <= pos:
            self._fill(deadline)
        t = self.buf[pos:pos + 1]
        eol = self._line(pos, deadline)
        header = self.buf[pos + 1:eol]
        after = eol + 2
        if t in b"+-:_,#(":
            return after
        if t in b"$!=":
            n = int(header)
            if n < 0:
                return after
            end = after + n + 2
            while len(self.buf) < end:
                self._fill(deadline)
            return end
        if t in b"*~>%|":
            n = int(header)
            if n < 0:
                return after
            if t in b"%|":
                n *= 2
            p = after
            for _ in range(n):
                p = self._frame_end(p, deadline)
            if t == b"|":
                # attribute precedes the real reply
                p = self._frame_end(p, deadline)
            return p
        raise ProtocolMismatch("unknown RESP type byte %r in %r" % (t, self.buf[pos:pos + 100]))

    def read_frame(self, timeout=None):
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        end = self._frame_end(0, deadline)
        frame = bytes(self.buf[:end])
        del self.buf[:end]
        return frame

    def read_value(self, timeout=None):
        return parse_frame(self.read_frame(timeout))

    def cmd(self, *args, timeout=None):
        """Send one command and return the raw reply frame bytes."""
        self.send_cmd(*args)
        return self.read_frame(timeout)

    def raw(self, data, timeout=None):
        """Send raw bytes and return one reply frame."""
        self.send(data)
        return self.read_frame(timeout)

    def expect_closed(self, timeout=5.0):
        expect_closed(self, timeout)


class ConnectionClosed(Exception):
    pass


class ProtocolMismatch(Exception):
    pass


def encode_cmd(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, int):
            a = str(a)
        if isinstance(a, str):
            a = a.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class _Err(str):
    pass


def parse_frame(frame):
    val, pos = _parse(frame, 0)
    if pos != len(frame):
        raise ProtocolMismatch("trailing bytes after frame: %r" % frame[pos:])
    return val


def _parse(b, pos):
    eol = b.index(b"\r\n", pos)
    t, header, after = b[pos:pos + 1], b[pos + 1:eol], eol + 2
    if t == b"+":
        return header.decode(), after
    if t == b"-":
        return _Err(header.decode()), after
    if t == b":":
        return int(header), after
    if t == b"_":
        return None, after
    if t == b",":
        return float(header), after
    if t == b"#":
        return header == b"t", after
    if t == b"(":
        return int(header), after
    if t in b"$!=":
        n = int(header)
        if n < 0:
            return None, after
        return b[after:after + n], after + n + 2
    if t in b"*~>":
        n = int(header)
        if n < 0:
            return None, after
        out = []
        for _ in range(n):
            v, after = _parse(b, after)
            out.append(v)
        return out, after
    if t == b"%":
        n = int(header)
        out = {}
        for _ in range(n):
            k, after = _parse(b, after)
            v, after = _parse(b, after)
            if isinstance(k, list):
                k = tuple(k)
            out[k] = v
        return out, after
    raise ProtocolMismatch("unknown type %r" % t)


def is_error(v):
    return isinstance(v, _Err)


def expect_closed(sock, timeout=5.0):
    """Assert the peer closes the connection within ``timeout`` seconds.

    Accepts a Conn or a bare socket.  Any data that arrives first is drained
    and discarded (after a protocol error the server may still flush replies).
    """
    if isinstance(sock, Conn):
        s = sock.sock
    else:
        s = sock
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError("connection was not closed by the server within %.1fs" % timeout)
        s.settimeout(remaining)
        try:
            chunk = s.recv(1 << 16)
        except socket.timeout:
            continue
        except ConnectionResetError:
            return
        except OSError as e:
            if e.errno in (errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED):
                return
            raise
        if not chunk:
            return


def send_quietly(conn, data):
    """sendall() that tolerates the server having already closed on us."""
    try:
        conn.send(data)
        return True
    except (BrokenPipeError, ConnectionResetError):
        return False


# --------------------------------------------------------------------------
# Process helpers
# --------------------------------------------------------------------------

def rss_kb(pid):
    """Resident set size of ``pid`` in KiB, read from /proc/PID/status."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("VmRSS not found for pid %d" % pid)


def raise_nofile(want):
    """Raise RLIMIT_NOFILE of this process towards ``want``; return the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= want:
        return soft
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):
        return soft
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def _ping_ok(host, port):
    try:
        with socket.create_connection((host, port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            data = b""
            while b"\r\n" not in data:
                chunk = s.recv(100)
                if not chunk:
                    return False
                data += chunk
            # +PONG, or -NOAUTH when requirepass is set: either way it serves.
            return data.startswith(b"+PONG") or data.startswith(b"-NOAUTH")
    except OSError:
        return False


class Server:
    def __init__(self, host, port, proc, tmpdir, logpath):
        self.host, self.port, self.proc = host, port, proc
        self.tmpdir, self.logpath = tmpdir, logpath
        self.expect_exit = False

    # allow `host, port, proc = srv`
    def __iter__(self):
        return iter((self.host, self.port, self.proc))

    @property
    def pid(self):
        return self.proc.pid

    def conn(self, timeout=5.0):
        return Conn(self.host, self.port, timeout)

    def log(self):
        try:
            with open(self.logpath, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def rss_kb(self):
        return rss_kb(self.proc.pid)

    def alive(self):
        return self.proc.poll() is None


@contextlib.contextmanager
def server(*extra_args, startup_timeout=10.0):
    """Start the server under test; yield a Server (unpackable as host, port, proc).

    On exit: SIGTERM, SIGKILL after 5 s, and assert it was not killed by a
    signal (i.e. it did not crash) while the test ran.
    """
    binary = server_bin()
    if not os.path.exists(binary):
        raise RuntimeError("server binary %s not found (set SURGE_SERVER)" % binary)
    tmpdir = tempfile.mkdtemp(prefix="surge-it-")
    logpath = os.path.join(tmpdir, "server.log")
    last_err = None
    for _attempt in range(3):
        port = free_port()
        args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", tmpdir, *map(str, extra_args)]
        logf = open(logpath, "wb")
        proc = subprocess.Popen(args, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                cwd=tmpdir)
        logf.close()
        deadline = time.monotonic() + startup_timeout
        up = False
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            if _ping_ok("127.0.0.1", port):
                up = True
                break
            time.sleep(0.05)
        if up:
            break
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        with open(logpath, "rb") as f:
            last_err = "server %s failed to start (rc=%s). Log:\n%s" % (
                args, proc.returncode, f.read().decode(errors="replace"))
        # port race? try again with another port
    else:
        shutil.rmtree(tmpdir, ignore_errors=True)
        raise RuntimeError(last_err)

    srv = Server("127.0.0.1", port, proc, tmpdir, logpath)
    try:
        yield srv
    finally:
        crashed_rc = proc.poll()
        if crashed_rc is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                log = srv.log()
                shutil.rmtree(tmpdir, ignore_errors=True)
                raise AssertionError("server did not exit within 5s of SIGTERM. Log tail:\n%s" % log[-4000:])
        log = srv.log()
        shutil.rmtree(tmpdir, ignore_errors=True)
        if crashed_rc is not None and not srv.expect_exit:
            assert crashed_rc >= 0, "server died from signal %d during the test. Log tail:\n%s" % (
                -crashed_rc, log[-4000:])
            raise AssertionError("server exited on its own (rc=%d) during the test. Log tail:\n%s" % (
                crashed_rc, log[-4000:]))


def info_field(conn, section, field):
    """Return a field from INFO <section> via a raw Conn (or None)."""
    v = parse_frame(conn.cmd("INFO", section))
    if isinstance(v, bytes):
        v = v.decode()
    for line in v.splitlines():
        if line.startswith(field + ":"):
            return line.split(":", 1)[1].strip()
    return None


def is_redis(conn):
    """True if the server at ``conn`` is the reference Redis, not Surge."""
    v = parse_frame(conn.cmd("INFO", "server"))
    if isinstance(v, bytes):
        v = v.decode(errors="replace")
    if "surge_version:" in v:
        return False
    if is_redis_binary():
        return True
    return False
