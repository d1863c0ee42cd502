"""Shared fixtures for Surge integration tests.

Servers are real processes listening on 127.0.0.1 on a free port, each in its
own pytest ``tmp_path`` directory.  See README.md in this folder for the
environment variables.

Fixtures
--------
surge_server   function scope; a :class:`ServerProcess` (or
               :class:`ExternalServer` when SURGE_EXTERNAL is set) with
               ``.host``, ``.port``, ``.proc``, ``.dir``, ``.log_path``,
               ``.client(**kw)`` -> redis.Redis, ``.raw()`` -> connected socket,
               ``.resp(**kw)`` -> :class:`resp_client.RespClient`.
surge          redis.Redis(decode_responses=False) on ``surge_server``,
               after FLUSHALL.
redis_ref_server / redis_ref
               the same for the reference redis-server (skips the test when
               it is not installed).
node           factory: ``node(*args, env=None, name=None, binary=None)`` makes a
               Node: a Surge server on a fixed directory, started, stopped,
               killed and started again on its files (persistence tests).
start_surge    factory: ``start_surge(*extra_args, config_file=None)`` starts
               another Surge server with extra directives
               (``start_surge('--maxmemory', '1mb')``); all are stopped at
               teardown.  Skips when SURGE_EXTERNAL is set.
start_redis_ref
               the same factory for the reference server.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

# Make the helper module importable however pytest was invoked
# (rootdir-relative, from the repo root, with or without __init__.py).
_HERE = Path(__file__).resolve().parent
if str(_HERE) not in sys.path:
    sys.path.insert(0, str(_HERE))

from resp_client import RespClient  # noqa: E402  (needs the sys.path tweak)

REPO_ROOT = _HERE.parents[1]
DEFAULT_SURGE_BINARY = REPO_ROOT / "build" / "surge-server"
DEFAULT_REDIS_BINARY = "/usr/bin/redis-server"

HOST = "127.0.0.1"
START_TIMEOUT = 10.0      # seconds to wait for the first PONG
STOP_TIMEOUT = 10.0       # seconds to wait after SIGTERM before SIGKILL
PORT_ATTEMPTS = 5         # retries when the chosen port was taken meanwhile
LOG_TAIL_BYTES = 8000     # how much of the server log to show on failure

# Extra arguments that make the reference server behave like a scratch
# in-memory server (no RDB snapshots, no AOF).
REDIS_REF_ARGS = ("--save", "", "--appendonly", "no")


def surge_binary():
    """Path of the Surge server binary (env SURGE_SERVER overrides)."""
    return os.environ.get("SURGE_SERVER") or str(DEFAULT_SURGE_BINARY)


def redis_binary():
    """Path of the reference redis-server (env REDIS_SERVER overrides)."""
    return os.environ.get("REDIS_SERVER") or DEFAULT_REDIS_BINARY


def find_free_port(host=HOST):
    """Ask the kernel for a currently unused TCP port on ``host``.

    There is an unavoidable race between closing this socket and the server
    binding the port; :meth:`ServerProcess.start` retries on a new port when
    the server fails to start.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _ask(host, port, request, complete, bufsize=4096, timeout=0.5):
    """Send one request on a new connection and read until complete(data);
    the data, or None (no connection, closed early, error reply, timeout)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(request)
            data = b""
            while not complete(data):
                chunk = s.recv(bufsize)
                if not chunk:
                    return None
                data += chunk
                if data.startswith(b"-") and b"\r\n" in data:
                    return data
            return data
    except OSError:
        return None


def _ping_once(host, port, timeout=0.5):
    """Send one PING; return the first reply line (bytes) or None."""
    data = _ask(host, port, b"*1\r\n$4\r\nPING\r\n", lambda d: b"\r\n" in d,
                timeout=timeout)
    return None if data is None else data.split(b"\r\n", 1)[0]


def _server_pid(host, port, timeout=0.5):
    """process_id from INFO server, or None (no reply, NOAUTH, TLS-only...)."""
    def complete(d):
        return b"process_id:" in d and b"\r\n" in d.split(b"process_id:", 1)[1]
    data = _ask(host, port, b"*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n", complete,
                bufsize=65536, timeout=timeout)
    if data is None or data.startswith(b"-"):
        return None
    try:
        return int(data.split(b"process_id:", 1)[1].split(b"\r\n", 1)[0])
    except ValueError:
        return None


def _is_ready_reply(line):
    """True when a PING reply means 'the server is up and serving'.

    ``+PONG`` normally; ``-NOAUTH ...`` when started with --requirepass
    (the server is up, the client just is not authenticated).  ``-LOADING``
    and anything unparsable mean 'not yet'.
    """
    if line is None:
        return False
    if line == b"+PONG":
        return True
    return line.startswith(b"-") and not line.startswith(b"-LOADING")


def _describe_returncode(rc):
    if rc is None:
        return "still running"
    if rc < 0:
        try:
            name = signal.Signals(-rc).name
        except ValueError:
            name = "signal %d" % -rc
        return "killed by %s" % name
    return "exit code %d" % rc


class ServerProcess:
    """One server process that this test session started and owns."""

    def __init__(self, binary, directory, extra_args=(), config_file=None, name="surge"):
        self.binary = str(binary)
        self.dir = Path(directory)
        self.extra_args = [str(a) for a in extra_args]
        self.config_file = str(config_file) if config_file else None
        self.name = name
        self.host = HOST
        self.port = None
        self.proc = None
        self.log_path = self.dir / ("%s.log" % name)
        self._log_file = None
        self._clients = []
        self.returncode = None
        self.died_unexpectedly = False
        self.needed_sigkill = False
        self.port_taken = False

    # -- lifecycle ------------------------------------------------------------
    def command_line(self, port):
        argv = [self.binary]
        if self.config_file:
            argv.append(self.config_file)
        argv += ["--port", str(port), "--bind", self.host, "--dir", str(self.dir)]
        argv += self.extra_args
        return argv

    def start(self):
        """Start the process and wait for PING; fails the test on error."""
        self.dir.mkdir(parents=True, exist_ok=True)
        last_error = None
        for _attempt in range(PORT_ATTEMPTS):
            port = find_free_port(self.host)
            self._log_file = open(self.log_path, "ab")
            self._log_file.write(("=== %s\n" % " ".join(self.command_line(port))).encode())
            self._log_file.flush()
            self.proc = subprocess.Popen(
                self.command_line(port), cwd=str(self.dir),
                stdin=subprocess.DEVNULL, stdout=self._log_file, stderr=subprocess.STDOUT)
            self.port = port
            ok, last_error = self._wait_ready()
            if ok:
                return self
            # Did not come up: make sure it is gone, then decide whether to retry.
            self._kill_quietly()
            if self.proc.returncode is not None and self.proc.returncode < 0 \
                    and self.proc.returncode not in (-signal.SIGTERM, -signal.SIGKILL):
                break  # crashed by itself: retrying on another port will not help
            if "in use" not in self.log_tail().lower() and not self.port_taken:
                break  # not a port clash; report right away
            self.port_taken = False
        self.proc = None  # already reaped; nothing for stop() to check
        pytest.fail("%s server did not start (%s): %s\n--- log %s ---\n%s"
                    % (self.name, " ".join(self.command_line(self.port)), last_error,
                       self.log_path, self.log_tail()), pytrace=False)

    def _wait_ready(self):
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                return False, "process exited early (%s)" % _describe_returncode(rc)
            if _is_ready_reply(_ping_once(self.host, self.port)):
                # The port may have been taken by another process between
                # find_free_port and our bind: make sure it is ours.
                pid = _server_pid(self.host, self.port)
                if pid is not None and pid != self.proc.pid:
                    self.port_taken = True
                    return False, "port %d answered by another process (pid %d)" % (
                        self.port, pid)
                return True, None
            time.sleep(0.02)
        return False, "no PING reply within %.0f s" % START_TIMEOUT

    def _kill_quietly(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
        if self._log_file:
            self._log_file.close()
            self._log_file = None

    def stop(self):
        """Stop the server: SIGTERM, wait, then SIGKILL.

        Returns a problem description (str) when the server crashed (died
        on its own, or was ended by a signal other than the SIGTERM/SIGKILL
        sent here, or exited nonzero after SIGTERM), else None.
        """
        for c in self._clients:
            try:
                c.close()
            except Exception:
                pass
        self._clients = []
        if self.proc is None:
            return None
        problem = None
        rc = self.proc.poll()
        if rc is not None:
            # It was gone before teardown.  A clean exit 0 can be a test that
            # sent SHUTDOWN on purpose; anything else is a crash.
            self.died_unexpectedly = rc != 0
            if rc != 0:
                problem = "server died during the test (%s)" % _describe_returncode(rc)
        else:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.needed_sigkill = True
                self.proc.kill()
                rc = self.proc.wait(5)
            if not self.needed_sigkill and rc not in (0, -signal.SIGTERM):
                problem = "server ended badly after SIGTERM (%s)" % _describe_returncode(rc)
        self.returncode = rc
        if self._log_file:
            self._log_file.close()
            self._log_file = None
        if problem:
            problem += "\n--- log %s ---\n%s" % (self.log_path, self.log_tail())
        return problem

    def check_alive(self):
        """Fail the current test right away if the process has died."""
        if self.proc is not None and self.proc.poll() is not None:
            pytest.fail("%s server is gone (%s)\n--- log ---\n%s"
                        % (self.name, _describe_returncode(self.proc.returncode),
                           self.log_tail()), pytrace=False)

    def log_tail(self, nbytes=LOG_TAIL_BYTES):
        try:
            data = self.log_path.read_bytes()
        except OSError:
            return "<no log>"
        return data[-nbytes:].decode("utf-8", "replace")

    # -- clients -------------------------------------------------------------
    def client(self, **kw):
        """A redis.Redis client (decode_responses=False unless overridden)."""
        kw.setdefault("socket_timeout", 10)
        c = redis.Redis(host=self.host, port=self.port, **kw)
        self._clients.append(c)
        return c

    def raw(self, timeout=10.0):
        """A plain connected TCP socket (closed at teardown)."""
        s = socket.create_connection((self.host, self.port), timeout=timeout)
        self._clients.append(s)
        return s

    def resp(self, timeout=10.0):
        """A :class:`RespClient` connected to this server (closed at teardown)."""
        c = RespClient(self.host, self.port, timeout=timeout)
        self._clients.append(c)
        return c

    def __repr__(self):
        return "<%s %s:%s pid=%s>" % (self.name, self.host, self.port,
                                     self.proc.pid if self.proc else None)


class ExternalServer(ServerProcess):
    """A server someone else started (SURGE_EXTERNAL=host:port): never stopped here."""

    def __init__(self, address, name="surge-external"):
        host, _, port = address.rpartition(":")
        self.binary = None
        self.dir = None
        self.extra_args = []
        self.config_file = None
        self.name = name
        self.host = host or HOST
        self.port = int(port)
        self.proc = None
        self.log_path = None
        self._log_file = None
        self._clients = []
        self.returncode = None
        self.died_unexpectedly = False
        self.needed_sigkill = False

    def start(self):
        if not _is_ready_reply(_ping_once(self.host, self.port, timeout=2.0)):
            pytest.fail("SURGE_EXTERNAL=%s:%s does not answer PING" % (self.host, self.port),
                        pytrace=False)
        return self

    def log_tail(self, nbytes=LOG_TAIL_BYTES):
        return "<external server: no log>"


def _finish(servers):
    """Stop servers; fail the test (at teardown) if any of them crashed."""
    problems = []
    for srv in servers:
        problem = srv.stop()
        if problem:
            problems.append("%r: %s" % (srv, problem))
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


def _require_surge_binary():
    path = surge_binary()
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        # The server under test missing is a real failure, not a skip: a CI
        # run that silently skipped everything would look green.
        pytest.fail("Surge binary not found at %s: build it first, or set SURGE_SERVER "
                    "(or SURGE_EXTERNAL=host:port)" % path, pytrace=False)
    return path


def _require_redis_binary():
    path = redis_binary()
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        found = shutil.which("redis-server") if "REDIS_SERVER" not in os.environ else None
        if not found:
            pytest.skip("reference redis-server not found at %s (set REDIS_SERVER); "
                        "differential tests need it" % path)
        path = found
    return path


# -- LD_PRELOAD shims --------------------------------------------------------------

def compile_shim(name, out_dir):
    """Compiles tests/shim/<name>.c into out_dir/<name>.so, for LD_PRELOAD;
    returns its path. Fails the test without a C compiler."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        pytest.fail("no C compiler (cc) for the LD_PRELOAD shims in tests/shim")
    lib = Path(out_dir) / (name + ".so")
    subprocess.run([cc, "-shared", "-fPIC", "-O1", "-Wall", "-Werror", "-o", str(lib),
                    str(REPO_ROOT / "tests" / "shim" / (name + ".c")), "-ldl"], check=True)
    return lib


# -- a server on a fixed directory ---------------------------------------------

class Node:
    """A Surge server on a fixed directory, stopped, killed and started again
    there on its own files (the persistence tests). ``args`` are given at
    every start, ``more`` at one; ``env`` is added to the environment the
    server starts with."""

    def __init__(self, directory, args=(), env=None, binary=None):
        self.dir = Path(os.path.realpath(directory))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.args = [str(a) for a in args]
        self.env = dict(env or {})
        self.binary = binary or surge_binary()
        self.srv = None

    @property
    def dump(self):
        return self.dir / "dump.rdb"

    @property
    def aof_dir(self):
        return self.dir / "appendonlydir"

    def start(self, *more, env=None):
        """Starts the server; returns a redis.Redis client on it. Another
        process answering on the chosen port is detected by ServerProcess,
        which then starts again on another port."""
        self.srv = ServerProcess(self.binary, self.dir, self.args + [str(a) for a in more])
        old = dict(os.environ)
        os.environ.update(self.env)
        os.environ.update(env or {})
        try:
            self.srv.start()
        finally:
            os.environ.clear()
            os.environ.update(old)
        return self.srv.client()

    def client(self, db=0):
        return self.srv.client(db=db)

    def stop(self):
        """SIGTERM (which saves when save points are configured)."""
        if self.srv:
            problem = self.srv.stop()
            self.srv = None
            assert problem is None, problem

    def shutdown(self, *args):
        """SHUTDOWN [args]; the process must exit 0."""
        try:
            self.srv.client().execute_command("SHUTDOWN", *args)
        except redis.ConnectionError:
            pass
        assert self.srv.proc.wait(10) == 0
        self.stop()

    def kill9(self):
        self.srv.proc.send_signal(signal.SIGKILL)
        self.srv.proc.wait(5)
        self.srv.stop()
        self.srv = None

    def wait_exit(self, timeout=10.0):
        """Waits for the server to exit by itself; returns its exit status."""
        rc = self.srv.proc.wait(timeout)
        self.srv.stop()
        self.srv = None
        return rc

    def log(self):
        return (self.dir / "surge.log").read_text(errors="replace")

    def refuse_start(self, *more):
        """Runs the server on the directory: it must exit non-zero at once
        (an exit, not a crash or a sanitizer report). Returns its output."""
        argv = [self.binary, "--port", "0", "--dir", str(self.dir)] + self.args + \
            [str(a) for a in more]
        p = subprocess.run(argv, cwd=str(self.dir), capture_output=True, timeout=20)
        out = (p.stdout + p.stderr).decode(errors="replace")
        assert p.returncode > 0, out
        assert "Sanitizer" not in out and "runtime error" not in out, out
        return out


# -- fixtures -------------------------------------------------------------------

@pytest.fixture
def surge_server(tmp_path):
    """A freshly started Surge server (or the SURGE_EXTERNAL one)."""
    external = os.environ.get("SURGE_EXTERNAL")
    if external:
        srv = ExternalServer(external).start()
    else:
        srv = ServerProcess(_require_surge_binary(), tmp_path / "surge", name="surge").start()
    yield srv
    _finish([srv])


@pytest.fixture
def surge(surge_server):
    """redis.Redis(decode_responses=False) on the Surge server, after FLUSHALL."""
    client = surge_server.client(decode_responses=False)
    client.flushall()
    return client


@pytest.fixture
def redis_ref_server(tmp_path):
    """A freshly started reference redis-server (skips if not installed)."""
    srv = ServerProcess(_require_redis_binary(), tmp_path / "redis-ref",
                        extra_args=REDIS_REF_ARGS, name="redis-ref").start()
    yield srv
    _finish([srv])


@pytest.fixture
def redis_ref(redis_ref_server):
    """redis.Redis(decode_responses=False) on the reference server, after FLUSHALL."""
    client = redis_ref_server.client(decode_responses=False)
    client.flushall()
    return client


@pytest.fixture
def start_surge(tmp_path):
    """Factory: ``start_surge(*extra_args, config_file=None) -> ServerProcess``."""
    if os.environ.get("SURGE_EXTERNAL"):
        pytest.skip("test starts its own Surge servers; not possible with SURGE_EXTERNAL")
    started = []

    def factory(*extra_args, config_file=None):
        binary = _require_surge_binary()
        srv = ServerProcess(binary, tmp_path / ("surge-%d" % len(started)),
                            extra_args=extra_args, config_file=config_file,
                            name="surge-%d" % len(started))
        started.append(srv)
        return srv.start()

    yield factory
    _finish(started)


@pytest.fixture
def start_redis_ref(tmp_path):
    """Factory like ``start_surge`` for the reference redis-server."""
    binary = _require_redis_binary()
    started = []

    def factory(*extra_args, config_file=None):
        srv = ServerProcess(binary, tmp_path / ("redis-ref-%d" % len(started)),
                            extra_args=REDIS_REF_ARGS + tuple(extra_args),
                            config_file=config_file, name="redis-ref-%d" % len(started))
        started.append(srv)
        return srv.start()

    yield factory
    _finish(started)


@pytest.fixture
def node(tmp_path):
    """Factory: ``node(*args, env=None, name=None, binary=None) -> Node`` in a
    directory of its own; every node still running is stopped afterwards."""
    nodes = []

    def make(*args, env=None, name=None, binary=None):
        n = Node(tmp_path / (name or "n%d" % len(nodes)), args, env, binary)
        nodes.append(n)
        return n

    yield make
    for n in nodes:
        if n.srv:
            n.srv.stop()
