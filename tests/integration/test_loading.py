"""Serving clients while the dataset loads (src/server/loading.c).

The listeners open before the append-only log is replayed; meanwhile INFO
shows loading:1 and Redis's loading_* fields, commands without the `loading`
flag (GET, SET, PING ...) get Redis's -LOADING error, and flagged ones (INFO,
CONFIG, CLIENT, HELLO, MULTI/EXEC, SHUTDOWN ...) run. The hidden debug config
key-load-delay slows the load down so the tests can watch it.
"""
import signal
import socket
import time

import pytest
import redis

from conftest import ServerProcess, surge_binary
from resp_client import RespClient, RespError

NKEYS = 40000
DELAY_US = 50  # key-load-delay while loading: a few seconds for NKEYS records
LOADING_ERR = b"LOADING Redis is loading the dataset in memory"


def _resp(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def write_dataset(directory, nkeys=NKEYS, aof=True):
    """Fills a server on `directory` with nkeys SETs: one log record each
    (aof), or one snapshot (dump.rdb, SAVE); returns the bytes on disk."""
    args = ["--appendonly", "yes", "--appendfsync", "no"] if aof else ["--appendonly", "no"]
    srv = ServerProcess(surge_binary(), directory, args, name="writer").start()
    try:
        s = socket.create_connection((srv.host, srv.port), timeout=30)
        s.sendall(b"".join(_resp("SET", "key:%d" % i, "value:%d" % i) for i in range(nkeys)))
        want = len(b"+OK\r\n") * nkeys
        got = 0
        while got < want:
            chunk = s.recv(1 << 20)
            assert chunk, "connection closed while filling"
            assert b"-" not in chunk, chunk[:200]
            got += len(chunk)
        s.close()
        if not aof:
            assert srv.client().save()
    finally:
        assert srv.stop() is None
    if not aof:
        return (directory / "dump.rdb").stat().st_size
    files = list((directory / "appendonlydir").glob("*.aof"))
    return sum(f.stat().st_size for f in files)


class LoadingServer(ServerProcess):
    """A server whose start returns as soon as it accepts connections (it is
    still loading then), not at the first PONG."""

    def _wait_ready(self):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False, "process exited early (%s)" % self.proc.returncode
            try:
                socket.create_connection((self.host, self.port), timeout=0.5).close()
                return True, None
            except OSError:
                time.sleep(0.01)
        return False, "no listener within 10 s"


@pytest.fixture
def loading_server(tmp_path):
    """Factory: a server on a directory holding an NKEYS log, started with
    key-load-delay so that it is still loading when the factory returns."""
    started = []

    def make(*extra):
        directory = tmp_path / ("n%d" % len(started))
        total = write_dataset(directory)
        srv = LoadingServer(surge_binary(), directory,
                            ["--appendonly", "yes", "--key-load-delay", str(DELAY_US)]
                            + list(extra))
        started.append(srv)
        srv.start()
        srv.total_bytes = total
        return srv

    yield make
    problems = [p for p in (s.stop() for s in started) if p]
    assert not problems, problems


def info_fields(client, section="persistence"):
    """INFO <section> as {field: text} (redis-py parses the numbers)."""
    return {k: str(v) for k, v in client.info(section).items()}


def wait_loaded(client, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if info_fields(client)["loading"] == "0":
            return
        time.sleep(0.05)
    raise AssertionError("still loading after %d s" % timeout)


def finish_loading(client):
    client.config_set("key-load-delay", 0)
    wait_loaded(client)


def test_info_and_errors_while_loading(loading_server):
    srv = loading_server()
    c = srv.client()
    f = info_fields(c)
    assert f["loading"] == "1", f
    assert f["async_loading"] == "0"
    assert int(f["loading_total_bytes"]) == srv.total_bytes
    assert int(f["loading_start_time"]) > 0
    assert f["loading_rdb_used_mem"] == "0"
    assert int(f["loading_eta_seconds"]) >= 0
    first = int(f["loading_loaded_bytes"])
    assert 0 <= float(f["loading_loaded_perc"]) < 100
    # Data commands, and PING as in Redis 7 (no `loading` flag), are refused.
    r = RespClient(srv.host, srv.port)
    for cmd in (("GET", "key:1"), ("SET", "x", "1"), ("PING",), ("DBSIZE",),
                ("FLUSHALL",), ("KEYS", "*")):
        reply = r.call(*cmd)
        assert isinstance(reply, RespError) and reply.message == LOADING_ERR, (cmd, reply)
    # Commands flagged `loading` run.
    assert r.call("ECHO", "hi") == b"hi"
    assert r.call("CONFIG", "GET", "key-load-delay") == [b"key-load-delay", str(DELAY_US).encode()]
    assert r.call("CLIENT", "SETNAME", "during-load") == b"OK"
    assert r.call("CLIENT", "GETNAME") == b"during-load"
    assert isinstance(r.call("TIME"), list)
    # Errors are counted as Redis counts them.
    assert "errorstat_LOADING" in info_fields(c, "errorstats")
    # The load moves on while clients are answered.
    time.sleep(0.5)
    f2 = info_fields(c)
    assert f2["loading"] == "1", "loaded too fast to watch: raise NKEYS or DELAY_US"
    assert int(f2["loading_loaded_bytes"]) > first
    finish_loading(c)
    f3 = info_fields(c)
    assert not any(k.startswith("loading_") for k in f3), f3
    assert c.dbsize() == NKEYS
    assert c.get("key:0") == b"value:0"
    assert c.get("key:%d" % (NKEYS - 1)) == b"value:%d" % (NKEYS - 1)
    assert r.call("PING") == b"PONG"
    r.close()


def test_client_connected_during_loading_is_served_after(loading_server):
    srv = loading_server()
    early = RespClient(srv.host, srv.port)
    assert early.call("HELLO", "3")[b"proto"] == 3
    # A refused command inside MULTI aborts the transaction, as any refusal.
    assert early.call("MULTI") == b"OK"
    assert early.call("GET", "key:7").message == LOADING_ERR
    assert early.call("EXEC").message.startswith(b"EXECABORT")
    # Pipelined: a loading-flagged command and a refused one, in order.
    early.send_command("ECHO", "a")
    early.send_command("GET", "key:7")
    assert early.read_reply() == b"a"
    assert early.read_reply().message == LOADING_ERR
    finish_loading(srv.client())
    # The same connection, after the load: everything works.
    assert early.call("GET", "key:7") == b"value:7"
    assert early.call("SET", "after", "1") == b"OK"
    assert early.call("DBSIZE") == NKEYS + 1
    early.close()


def test_waiting_client_gets_its_replies(loading_server):
    """A client that connects during the load and just waits (its command
    pipelined before the load ends) is answered, and can go on after."""
    srv = loading_server()
    s = socket.create_connection((srv.host, srv.port), timeout=30)
    s.sendall(_resp("CLIENT", "ID") + _resp("GET", "key:3"))
    buf = b""
    while buf.count(b"\r\n") < 2:
        chunk = s.recv(4096)
        assert chunk
        buf += chunk
    assert buf.startswith(b":")
    assert b"-" + LOADING_ERR + b"\r\n" in buf
    finish_loading(srv.client())
    s.sendall(_resp("GET", "key:3"))
    buf = b""
    while not buf.endswith(b"\r\n") or buf.count(b"\r\n") < 2:
        buf += s.recv(4096)
    assert buf == b"$7\r\nvalue:3\r\n"
    s.close()


def test_monitor_during_loading_sees_clients_not_the_replay(loading_server):
    srv = loading_server()
    mon = RespClient(srv.host, srv.port)
    assert mon.call("MONITOR") == b"OK"
    finish_loading(srv.client())
    assert srv.client().set("after", "1")
    while True:  # INFO and the like first, never a replayed SET key:N
        line = mon.read_reply().lower()
        assert b'"key:' not in line, line
        if b'"set" "after" "1"' in line:
            break
    mon.close()


def _aof_bytes(directory):
    return {f.name: f.read_bytes() for f in sorted((directory / "appendonlydir").iterdir())}


def _snapshot_bytes(directory):
    f = directory / "dump.rdb"
    return f.read_bytes() if f.exists() else None


@pytest.mark.parametrize("how", ["SHUTDOWN", "SHUTDOWN SAVE", "SIGTERM"])
def test_shutdown_during_loading_exits_without_saving(loading_server, how):
    srv = loading_server()
    before = _aof_bytes(srv.dir)
    snap_before = _snapshot_bytes(srv.dir)
    assert info_fields(srv.client())["loading"] == "1"
    if how == "SIGTERM":
        srv.proc.send_signal(signal.SIGTERM)
    else:
        r = RespClient(srv.host, srv.port)
        r.send_command(*how.split())
        with pytest.raises((ConnectionError, OSError, EOFError, Exception)):
            r.read_reply()  # the server exits: no reply, the connection closes
    assert srv.proc.wait(30) == 0
    assert "while loading the dataset: exiting without saving" in srv.log_tail()
    assert _aof_bytes(srv.dir) == before  # the log on disk is untouched
    if how == "SIGTERM":  # SHUTDOWN: see the xfail test below
        assert _snapshot_bytes(srv.dir) == snap_before
    # A restart without the delay loads everything.
    again = ServerProcess(surge_binary(), srv.dir, ["--appendonly", "yes"], name="again").start()
    try:
        assert again.client().dbsize() == NKEYS
    finally:
        assert again.stop() is None


def test_hidden_debug_configs(start_surge):
    srv = start_surge()
    c = srv.client(decode_responses=True)
    assert c.config_get("key-load-delay") == {"key-load-delay": "0"}
    assert c.config_get("loading-process-events-interval-bytes") == {
        "loading-process-events-interval-bytes": "2097152"}
    everything = c.config_get("*")
    assert "key-load-delay" not in everything  # hidden: exact name only, as Redis
    assert "loading-process-events-interval-bytes" not in everything
    c.config_set("key-load-delay", -5)  # negative: 1 us every 5 keys
    assert c.config_get("key-load-delay") == {"key-load-delay": "-5"}
    with pytest.raises(redis.ResponseError):
        c.config_set("loading-process-events-interval-bytes", 10)  # below 1024
    f = info_fields(c)
    assert f["loading"] == "0" and "loading_total_bytes" not in f


def test_small_event_interval_and_negative_delay(tmp_path):
    """A load with a pass every 1 KiB and a fractional delay still loads
    everything (no client connected: the passes find nothing to do)."""
    total = write_dataset(tmp_path / "d", 5000)
    assert total > 0
    srv = ServerProcess(surge_binary(), tmp_path / "d",
                        ["--appendonly", "yes", "--key-load-delay", "-3",
                         "--loading-process-events-interval-bytes", "1024"]).start()
    try:
        c = srv.client()
        assert c.dbsize() == 5000
        assert c.get("key:4999") == b"value:4999"
    finally:
        assert srv.stop() is None


def _start_on_snapshot(tmp_path):
    directory = tmp_path / "snap"
    total = write_dataset(directory, aof=False)
    srv = LoadingServer(surge_binary(), directory,
                        ["--appendonly", "no", "--key-load-delay", str(DELAY_US)], name="snap")
    srv.start()
    return srv, total


def test_snapshot_load_serves_clients(tmp_path):
    srv, total = _start_on_snapshot(tmp_path)
    try:
        c = srv.client()
        f = info_fields(c)
        assert f["loading"] == "1", f
        assert int(f["loading_total_bytes"]) == total
        with pytest.raises(redis.exceptions.BusyLoadingError):
            c.get("key:1")
        finish_loading(c)
        assert c.dbsize() == NKEYS
        assert c.get("key:1") == b"value:1"
    finally:
        assert srv.stop() is None


def test_shutdown_during_snapshot_load_keeps_the_snapshot(tmp_path):
    srv, _ = _start_on_snapshot(tmp_path)
    before = (srv.dir / "dump.rdb").read_bytes()
    try:
        assert info_fields(srv.client())["loading"] == "1"
        r = RespClient(srv.host, srv.port)
        r.send_command("SHUTDOWN")
        with pytest.raises(Exception):
            r.read_reply()
        assert srv.proc.wait(30) == 0
        # Saving here would replace the file with the half-loaded dataset.
        assert (srv.dir / "dump.rdb").read_bytes() == before
    finally:
        srv.stop()
