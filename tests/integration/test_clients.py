"""Client connections: CLIENT subcommands, SELECT/RESET/HELLO/AUTH, idle
timeout, maxclients, output and query buffer limits, many connections.

Error texts and reply bytes are compared with the reference redis-server
where the command exists there. ``CLIENT SETINFO`` is Redis 7.2 (Surge has it,
the 7.0 reference does not: docs/commands.md), so its tests run on Surge only.

Also runs against the reference as the server under test:
    SURGE_SERVER=/usr/bin/redis-server /usr/bin/python3 -m pytest \
        tests/integration/test_clients.py
"""

import re
import resource
import select
import socket
import time

import pytest

from resp_client import RespClient, RespError, RespMap, encode_command, same_reply

CLIENT_LIST_FIELDS_70 = [
    "id", "addr", "laddr", "fd", "name", "age", "idle", "flags", "db", "sub", "psub", "ssub",
    "multi", "qbuf", "qbuf-free", "argv-mem", "multi-mem", "rbs", "rbp", "obl", "oll", "omem",
    "tot-mem", "events", "cmd", "user", "redir", "resp",
]
EXTRA_FIELDS_72 = ["lib-name", "lib-ver"]


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------
def is_surge(srv):
    c = srv.client()
    try:
        return "surge_version" in c.info("server")
    finally:
        c.connection_pool.disconnect()   # leave no extra connection (tests count clients)


def assert_same(s, r, *cmd):
    a, raw_a = s.call_frame(*cmd)
    b, raw_b = r.call_frame(*cmd)
    assert same_reply(a, b) and raw_a == raw_b, "%r\n surge: %r\n redis: %r" % (cmd, raw_a, raw_b)
    return a


def parse_client_line(line):
    """'id=1 addr=... name= ...' -> ordered list of (field, value)."""
    line = line.decode() if isinstance(line, bytes) else line
    out = []
    for part in line.split(" "):
        k, sep, v = part.partition("=")
        assert sep, "malformed field %r in %r" % (part, line)
        out.append((k, v))
    return out


def client_lines(reply):
    text = bytes(reply).decode()
    assert text == "" or text.endswith("\n"), repr(text)
    return [dict(parse_client_line(ln)) for ln in text.split("\n") if ln]


def my_info(c):
    lines = client_lines(c.call("CLIENT", "INFO"))
    assert len(lines) == 1
    return lines[0]


def recv_all_until_closed(sock, timeout=5.0):
    """Read until EOF; returns the bytes (raises on timeout)."""
    sock.settimeout(timeout)
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk


def is_closed(sock, timeout):
    """True if the peer closed the connection within ``timeout`` seconds."""
    sock.settimeout(timeout)
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def readable(sock, timeout):
    return bool(select.select([sock], [], [], timeout)[0])


# ---------------------------------------------------------------------------
# CLIENT ID / SETNAME / GETNAME / SETINFO / INFO / LIST
# ---------------------------------------------------------------------------
def test_client_id(surge_server):
    a, b = surge_server.resp(), surge_server.resp()
    ia, ib = a.call("CLIENT", "ID"), b.call("CLIENT", "ID")
    assert type(ia) is int and type(ib) is int
    assert 0 < ia < ib
    assert a.call("CLIENT", "ID") == ia
    assert my_info(a)["id"] == str(ia)
    hello = a.call("HELLO", 3)
    assert isinstance(hello, RespMap) and hello[b"id"] == ia


def test_client_setname_getname(surge_server, redis_ref_server):
    s, r = surge_server.resp(), redis_ref_server.resp()
    assert_same(s, r, "CLIENT", "GETNAME")
    assert_same(s, r, "CLIENT", "SETNAME", "my-conn")
    assert_same(s, r, "CLIENT", "GETNAME")
    assert my_info(s)["name"] == "my-conn"
    for bad in ("a b", "a\nb", "caf\xe9", "x\x01"):
        reply = assert_same(s, r, "CLIENT", "SETNAME", bad)
        assert isinstance(reply, RespError)
    assert_same(s, r, "CLIENT", "GETNAME")  # unchanged by the failed calls
    assert_same(s, r, "CLIENT", "SETNAME", "")
    assert_same(s, r, "CLIENT", "GETNAME")
    assert my_info(s)["name"] == ""
    assert_same(s, r, "CLIENT", "SETNAME")
    assert_same(s, r, "CLIENT", "SETNAME", "a", "b")
    assert_same(s, r, "CLIENT", "NOSUCHSUBCOMMAND")
    assert_same(s, r, "CLIENT")


def test_client_setinfo(surge_server):
    if not is_surge(surge_server):
        pytest.skip("CLIENT SETINFO is Redis 7.2; the 7.0 reference lacks it")
    c = surge_server.resp()
    info = my_info(c)
    assert info["lib-name"] == "" and info["lib-ver"] == ""
    assert c.call("CLIENT", "SETINFO", "lib-name", "redis-py") == b"OK"
    assert c.call("CLIENT", "SETINFO", "LIB-VER", "4.3.4") == b"OK"
    info = my_info(c)
    assert info["lib-name"] == "redis-py" and info["lib-ver"] == "4.3.4"
    other = surge_server.resp()
    listed = [x for x in client_lines(other.call("CLIENT", "LIST")) if x["id"] == info["id"]]
    assert listed[0]["lib-name"] == "redis-py" and listed[0]["lib-ver"] == "4.3.4"
    assert c.call("CLIENT", "SETINFO", "lib-foo", "x") == \
        RespError(b"ERR Unrecognized option 'lib-foo'")
    assert c.call("CLIENT", "SETINFO", "lib-name", "a b") == \
        RespError(b"ERR lib-name cannot contain spaces, newlines or special characters.")
    assert c.call("CLIENT", "SETINFO", "lib-name") == \
        RespError(b"ERR wrong number of arguments for 'client|setinfo' command")
    assert my_info(c)["lib-name"] == "redis-py"
    # RESET does not forget the library (as in Redis 7.2).
    assert c.call("RESET") == b"RESET"


def test_client_list_format(surge_server, redis_ref_server):
    s = surge_server.resp()
    other = surge_server.resp()
    assert other.call("SELECT", 3) == b"OK"
    assert other.call("CLIENT", "SETNAME", "other") == b"OK"
    assert isinstance(other.call("HELLO", 3), RespMap)
    other_id = other.call("CLIENT", "ID")
    ref_fields = [k for k, _ in parse_client_line(
        bytes(redis_ref_server.resp().call("CLIENT", "INFO")).rstrip(b"\n"))]
    assert ref_fields == CLIENT_LIST_FIELDS_70
    reply = s.call("CLIENT", "LIST")
    assert type(reply) is bytes
    lines = bytes(reply).decode().split("\n")
    assert lines[-1] == ""
    assert len(lines) - 1 == 2
    for line in lines[:-1]:
        fields = [k for k, _ in parse_client_line(line)]
        assert fields[:len(CLIENT_LIST_FIELDS_70)] == CLIENT_LIST_FIELDS_70, line
        assert fields[len(CLIENT_LIST_FIELDS_70):] in ([], EXTRA_FIELDS_72), line
    entries = {int(x["id"]): x for x in client_lines(reply)}
    me = entries[s.call("CLIENT", "ID")]
    them = entries[other_id]
    assert re.fullmatch(r"127\.0\.0\.1:\d+", me["addr"])
    assert me["laddr"] == "127.0.0.1:%d" % surge_server.port
    assert int(me["fd"]) > 0
    assert me["flags"] == "N" and me["db"] == "0" and me["resp"] == "2" and me["name"] == ""
    assert me["user"] == "default" and me["multi"] == "-1"
    assert them["name"] == "other" and them["db"] == "3" and them["resp"] == "3"
    assert them["cmd"] == "client|id"
    for k in ("age", "idle", "qbuf", "qbuf-free", "argv-mem", "obl", "oll", "omem", "tot-mem"):
        assert me[k].isdigit(), (k, me[k])
    # RESP3: a verbatim string of the same text.
    them_list = other.call("CLIENT", "LIST")
    assert getattr(them_list, "format", None) == b"txt"


def test_client_list_and_info_show_the_running_command(surge_server, redis_ref_server):
    # In Redis the caller's own entry shows the command being run
    # (cmd=client|list, cmd=client|info), even on a fresh connection.
    for srv in (redis_ref_server, surge_server):
        c = srv.resp()
        me = str(c.call("CLIENT", "ID"))
        listed = [x for x in client_lines(c.call("CLIENT", "LIST")) if x["id"] == me]
        assert listed[0]["cmd"] == "client|list", (srv.name, listed)
        fresh = srv.resp()
        assert my_info(fresh)["cmd"] == "client|info", srv.name
        assert my_info(fresh)["cmd"] == "client|info", srv.name


def test_client_list_id_filter(surge_server, redis_ref_server):
    s = surge_server.resp()
    others = [surge_server.resp() for _ in range(3)]
    ids = [o.call("CLIENT", "ID") for o in others]
    got = client_lines(s.call("CLIENT", "LIST", "ID", ids[0], ids[2]))
    assert sorted(int(x["id"]) for x in got) == sorted([ids[0], ids[2]])
    assert client_lines(s.call("CLIENT", "LIST", "ID", 999999)) == []
    got = client_lines(s.call("CLIENT", "LIST", "TYPE", "normal"))
    assert len(got) == 4
    r = redis_ref_server.resp()
    # (Redis replies an empty list for the ids 0 and -5: no client has them.)
    for args in (("ID", "abc"), ("ID",), ("TYPE", "bogus"), ("bogus",), ("TYPE", "pubsub"),
                 ("ID", "999999"), ("ID", "1", "abc"), ("ID", "0"), ("ID", "-5")):
        assert_same(s, r, "CLIENT", "LIST", *args)


def test_client_info_matches_list_entry(surge_server):
    c = surge_server.resp()
    assert c.call("CLIENT", "SETNAME", "infotest") == b"OK"
    info = my_info(c)
    assert info["name"] == "infotest"
    assert info["id"] == str(c.call("CLIENT", "ID"))
    listed = [x for x in client_lines(c.call("CLIENT", "LIST")) if x["id"] == info["id"]]
    assert len(listed) == 1
    for k in ("id", "addr", "laddr", "fd", "name", "db", "resp", "flags", "user"):
        assert listed[0][k] == info[k], k


# ---------------------------------------------------------------------------
# CLIENT KILL
# ---------------------------------------------------------------------------
def test_client_kill_by_id_and_addr(surge_server):
    killer = surge_server.resp()
    v1, v2, v3 = surge_server.resp(), surge_server.resp(), surge_server.resp()
    id1 = v1.call("CLIENT", "ID")
    addr2 = my_info(v2)["addr"]
    addr3 = my_info(v3)["addr"]
    assert killer.call("CLIENT", "KILL", "ID", id1) == 1
    assert is_closed(v1.sock, 5)
    assert killer.call("CLIENT", "KILL", "ADDR", addr2) == 1
    assert is_closed(v2.sock, 5)
    assert killer.call("CLIENT", "KILL", addr3) == b"OK"   # old form
    assert is_closed(v3.sock, 5)
    assert killer.call("PING") == b"PONG"
    assert killer.call("CLIENT", "KILL", "ID", id1) == 0
    deadline = time.time() + 5
    while len(client_lines(killer.call("CLIENT", "LIST"))) != 1 and time.time() < deadline:
        time.sleep(0.02)
    assert len(client_lines(killer.call("CLIENT", "LIST"))) == 1


def test_client_kill_skipme_and_self(surge_server, redis_ref_server):
    for srv in (surge_server, redis_ref_server):
        c = srv.resp()
        me = my_info(c)
        # SKIPME defaults to yes: filters never match the caller.
        assert c.call("CLIENT", "KILL", "ADDR", me["addr"]) == 0, srv.name
        assert c.call("CLIENT", "KILL", "ID", me["id"]) == 0, srv.name
        assert c.call("CLIENT", "KILL", "ID", me["id"], "SKIPME", "yes") == 0, srv.name
        assert c.call("PING") == b"PONG"
        # SKIPME no: the reply arrives, then the connection is closed.
        c.send_command("CLIENT", "KILL", "ID", me["id"], "SKIPME", "no")
        c.send_command("PING")
        assert c.read_reply() == 1, srv.name
        with pytest.raises((ConnectionError, OSError)):
            c.read_reply()
        # The old form kills the caller too, after its +OK.
        c2 = srv.resp()
        c2.send_command("CLIENT", "KILL", my_info(c2)["addr"])
        assert c2.read_reply() == b"OK"
        with pytest.raises((ConnectionError, OSError)):
            c2.read_reply()


def test_client_kill_errors(surge_server, redis_ref_server):
    s, r = surge_server.resp(), redis_ref_server.resp()
    for args in (("1.2.3.4:5",), ("ID", "abc"), ("ID", "0"), ("ID", "999999"),
                 ("ADDR", "1.2.3.4:5"), ("SKIPME", "maybe"), ("TYPE", "bogus"),
                 ("BOGUS", "x"), ("ID",), ("ID", "1", "ADDR"), ("USER", "nosuchuser"),
                 ("MAXAGE", "x"), ("LADDR", "1.2.3.4:5")):
        assert_same(s, r, "CLIENT", "KILL", *args)


# ---------------------------------------------------------------------------
# CLIENT PAUSE / UNPAUSE
# ---------------------------------------------------------------------------
def test_client_pause_write_holds_writes_only(surge_server):
    admin, writer, reader = surge_server.resp(), surge_server.resp(), surge_server.resp()
    assert reader.call("SET", "k", "old") == b"OK"
    assert admin.call("CLIENT", "PAUSE", 500, "WRITE") == b"OK"
    start = time.monotonic()
    writer.send_command("SET", "k", "new")
    # Reads are served during the pause, and see the old value...
    assert reader.call("GET", "k") == b"old"
    assert reader.call("PING") == b"PONG"
    # ...while the write is still held.
    if time.monotonic() - start < 0.35:
        assert not readable(writer.sock, 0.05)
    assert writer.read_reply() == b"OK"
    assert time.monotonic() - start >= 0.4
    assert reader.call("GET", "k") == b"new"


def test_client_pause_all_holds_reads(surge_server):
    admin, reader = surge_server.resp(), surge_server.resp()
    assert reader.call("SET", "k", "v") == b"OK"
    assert admin.call("CLIENT", "PAUSE", 500, "ALL") == b"OK"
    start = time.monotonic()
    assert reader.call("GET", "k") == b"v"
    assert time.monotonic() - start >= 0.4
    # Default mode is ALL.
    assert admin.call("CLIENT", "PAUSE", 300) == b"OK"
    start = time.monotonic()
    assert reader.call("PING") == b"PONG"
    assert time.monotonic() - start >= 0.2


def test_client_unpause_releases_early(surge_server):
    admin, writer = surge_server.resp(), surge_server.resp()
    assert admin.call("CLIENT", "PAUSE", 20000, "WRITE") == b"OK"
    writer.send_command("SET", "k", "v")
    writer.send_command("INCR", "n")
    assert not readable(writer.sock, 0.3)
    assert admin.call("CLIENT", "UNPAUSE") == b"OK"
    writer.sock.settimeout(5)
    assert writer.read_reply() == b"OK"
    assert writer.read_reply() == 1
    assert admin.call("GET", "k") == b"v"


def test_client_pause_errors(surge_server, redis_ref_server):
    s, r = surge_server.resp(), redis_ref_server.resp()
    assert_same(s, r, "CLIENT", "UNPAUSE", "x")
    assert_same(s, r, "CLIENT", "UNPAUSE")
    for args in (("abc",), ("-1",), ("10", "bogus"), (), ("10", "WRITE", "x")):
        assert_same(s, r, "CLIENT", "PAUSE", *args)


# ---------------------------------------------------------------------------
# CLIENT REPLY / NO-EVICT
# ---------------------------------------------------------------------------
REPLY_SCRIPT = b"".join([
    encode_command("CLIENT", "REPLY", "OFF"),
    encode_command("SET", "a", "1"),
    encode_command("GET", "a"),
    encode_command("NOSUCHCOMMAND"),
    encode_command("CLIENT", "REPLY", "ON"),
    encode_command("GET", "a"),
    encode_command("CLIENT", "REPLY", "SKIP"),
    encode_command("SET", "b", "2"),
    encode_command("GET", "b"),
    encode_command("CLIENT", "REPLY", "SKIP"),
    encode_command("CLIENT", "REPLY", "SKIP"),
    encode_command("GET", "a"),
    encode_command("GET", "b"),
    encode_command("CLIENT", "REPLY", "OFF"),
    encode_command("CLIENT", "REPLY", "SKIP"),
    encode_command("GET", "a"),
    encode_command("CLIENT", "REPLY", "ON"),
    encode_command("CLIENT", "REPLY", "bogus"),
    encode_command("PING", "end"),
])


def _run_script(srv, script):
    sock = srv.raw()
    sock.sendall(script)
    data = b""
    sock.settimeout(5)
    while not data.endswith(b"$3\r\nend\r\n"):
        chunk = sock.recv(65536)
        assert chunk, data
        data += chunk
    return data


def test_client_reply_off_on_skip(surge_server, redis_ref_server):
    mine = _run_script(surge_server, REPLY_SCRIPT)
    ref = _run_script(redis_ref_server, REPLY_SCRIPT)
    assert mine == ref
    assert mine == (b"+OK\r\n"          # CLIENT REPLY ON
                    b"$1\r\n1\r\n"      # GET a
                    b"$1\r\n2\r\n"      # GET b (after the skipped SET b)
                    b"$1\r\n2\r\n"      # GET b (the second SKIP only skipped GET a)
                    b"+OK\r\n"          # CLIENT REPLY ON
                    b"-ERR syntax error\r\n"
                    b"$3\r\nend\r\n")
    c = surge_server.client()
    assert c.get(b"a") == b"1" and c.get(b"b") == b"2"


def test_client_no_evict(surge_server, redis_ref_server):
    c = surge_server.resp()
    assert c.call("CLIENT", "NO-EVICT", "on") == b"OK"
    assert "e" in my_info(c)["flags"]
    assert c.call("CLIENT", "NO-EVICT", "OFF") == b"OK"
    assert "e" not in my_info(c)["flags"]
    r = redis_ref_server.resp()
    for args in (("maybe",), (), ("on", "x")):
        assert_same(c, r, "CLIENT", "NO-EVICT", *args)


# ---------------------------------------------------------------------------
# SELECT, RESET, HELLO, AUTH
# ---------------------------------------------------------------------------
def test_select_and_reset(surge_server, redis_ref_server):
    for srv in (surge_server, redis_ref_server):
        c = srv.resp()
        assert c.call("SELECT", 2) == b"OK"
        assert c.call("SET", "k", "in-db-2") == b"OK"
        assert isinstance(c.call("HELLO", 3), RespMap)
        assert c.call("CLIENT", "SETNAME", "before-reset") == b"OK"
        info = my_info(c)
        assert info["db"] == "2" and info["resp"] == "3"
        assert c.call_frame("GET", "missing")[1] == b"_\r\n"
        assert c.call_frame("RESET")[1] == b"+RESET\r\n"
        info = my_info(c)
        assert info["db"] == "0" and info["resp"] == "2" and info["name"] == ""
        assert c.call_frame("GET", "k")[1] == b"$-1\r\n"
        assert c.call("SELECT", 2) == b"OK"
        assert c.call("GET", "k") == b"in-db-2"
    s, r = surge_server.resp(), redis_ref_server.resp()
    for args in (("16",), ("-1",), ("x",), ("1.5",), ("0", "1"), ()):
        assert_same(s, r, "SELECT", *args)
    assert_same(s, r, "RESET", "x")


def test_hello(surge_server, redis_ref_server):
    s, r = surge_server.resp(), redis_ref_server.resp()
    for c in (s, r):
        reply, raw = c.call_frame("HELLO")
        assert raw.startswith(b"*14\r\n")
    hs = s.call("HELLO", 3)
    hr = r.call("HELLO", 3)
    assert isinstance(hs, RespMap)
    assert list(hs) == list(hr)
    for k in (b"server", b"proto", b"mode", b"role", b"modules"):
        assert same_reply(hs[k], hr[k]), k
    assert hs[b"version"].startswith(b"7.")
    assert hs[b"id"] == s.call("CLIENT", "ID")
    assert_same(s, r, "GET", "missing")
    assert s.call_frame("GET", "missing")[1] == b"_\r\n"
    assert s.call("HELLO", 2)[s.call("HELLO", 2).index(b"proto") + 1] == 2
    assert s.call_frame("GET", "missing")[1] == b"$-1\r\n"
    for args in (("4",), ("1",), ("x",), ("3", "bogus"), ("3", "SETNAME"), ("3", "AUTH", "u"),
                 ("3", "SETNAME", "a b")):
        assert_same(s, r, "HELLO", *args)
    hs = s.call("HELLO", 3, "SETNAME", "via-hello")
    assert isinstance(hs, RespMap)
    assert s.call("CLIENT", "GETNAME") == b"via-hello"


def test_auth_without_requirepass(surge_server, redis_ref_server):
    s, r = surge_server.resp(), redis_ref_server.resp()
    err = assert_same(s, r, "AUTH", "pw")
    assert err == RespError(b"ERR AUTH <password> called without any password configured for "
                            b"the default user. Are you sure your configuration is correct?")
    assert_same(s, r, "AUTH", "default", "anything")   # the default user is nopass
    assert_same(s, r, "AUTH", "bob", "pw")
    assert_same(s, r, "AUTH", "a", "b", "c")
    assert_same(s, r, "AUTH")
    hs = s.call("HELLO", 3, "AUTH", "default", "whatever")
    hr = r.call("HELLO", 3, "AUTH", "default", "whatever")
    assert isinstance(hs, RespMap) and isinstance(hr, RespMap)
    assert_same(s, r, "HELLO", 3, "AUTH", "bob", "pw")


def test_auth_with_requirepass(start_surge, start_redis_ref):
    srv = start_surge("--requirepass", "pw")
    ref = start_redis_ref("--requirepass", "pw")
    s, r = srv.resp(), ref.resp()
    noauth = assert_same(s, r, "GET", "k")
    assert noauth == RespError(b"NOAUTH Authentication required.")
    for cmd in (("PING",), ("SET", "k", "v"), ("CLIENT", "ID"), ("SELECT", "1"), ("ECHO", "x"),
                ("CONFIG", "GET", "maxmemory"), ("INFO",), ("HELLO",), ("HELLO", "3"),
                ("AUTH", "wrong"), ("AUTH", "default", "wrong"), ("AUTH", "bob", "pw"),
                ("AUTH", "default"), ("HELLO", "3", "AUTH", "default", "wrong"),
                ("NOSUCHCOMMAND",)):
        assert_same(s, r, *cmd)
    assert_same(s, r, "AUTH", "pw")
    assert_same(s, r, "GET", "k")
    assert_same(s, r, "SET", "k", "v")
    assert_same(s, r, "AUTH", "default", "pw")
    # RESET logs the client out again.
    assert_same(s, r, "RESET")
    assert_same(s, r, "GET", "k")
    # HELLO with AUTH and SETNAME in one go.
    hs = s.call("HELLO", 3, "AUTH", "default", "pw", "SETNAME", "authed")
    hr = r.call("HELLO", 3, "AUTH", "default", "pw", "SETNAME", "authed")
    assert isinstance(hs, RespMap) and isinstance(hr, RespMap)
    assert_same(s, r, "CLIENT", "GETNAME")
    assert_same(s, r, "GET", "k")
    assert_same(s, r, "GET", "missing")
    # redis-py with a password works.
    c = srv.client(password="pw")
    assert c.get(b"k") == b"v"
    bad = srv.client(password="nope")
    with pytest.raises(Exception) as exc:
        bad.get(b"k")
    assert "WRONGPASS" in str(exc.value) or "invalid" in str(exc.value)


# ---------------------------------------------------------------------------
# timeout, maxclients
# ---------------------------------------------------------------------------
def test_idle_timeout(start_surge):
    srv = start_surge("--timeout", "1")
    idle = srv.resp()
    busy = srv.resp()
    assert idle.call("PING") == b"PONG"
    assert busy.call("PING") == b"PONG"
    start = time.monotonic()
    closed_after = None
    while time.monotonic() - start < 6:
        assert busy.call("PING") == b"PONG"
        if readable(idle.sock, 0.25):
            if is_closed(idle.sock, 0.5):
                closed_after = time.monotonic() - start
                break
    assert closed_after is not None, "idle client not disconnected within 6 s"
    assert closed_after >= 0.9, closed_after
    # The active client was never disconnected.
    assert busy.call("PING") == b"PONG"
    assert srv.client().config_get("timeout")["timeout"] in (b"1", "1")


def test_maxclients(start_surge):
    srv = start_surge("--maxclients", "5")
    conns = []
    for _ in range(5):
        c = srv.resp()
        assert c.call("PING") == b"PONG"
        conns.append(c)
    extra = srv.raw()
    data = recv_all_until_closed(extra)
    assert data == b"-ERR max number of clients reached\r\n"
    assert conns[0].call("PING") == b"PONG"
    info = conns[0].call("INFO", "stats")
    assert b"rejected_connections:1\r\n" in bytes(info)
    # Closing one makes room for another.
    conns.pop().close()
    deadline = time.time() + 5
    while True:
        c = srv.raw()
        c.sendall(b"*1\r\n$4\r\nPING\r\n")
        got = recv_line(c)
        if got == b"+PONG\r\n":
            break
        assert got == b"-ERR max number of clients reached\r\n"
        assert time.time() < deadline
        time.sleep(0.05)


def recv_line(sock, timeout=5):
    sock.settimeout(timeout)
    data = b""
    while not data.endswith(b"\r\n"):
        chunk = sock.recv(1)
        if not chunk:
            break
        data += chunk
    return data


# ---------------------------------------------------------------------------
# output and query buffer limits
# ---------------------------------------------------------------------------
def stat_counter(srv, admin, field):
    """An INFO stats counter; None on the reference, where 7.0 lacks the
    *_buffer_limit_disconnections fields (Surge must have them)."""
    m = re.search(rb"^%s:(\d+)\r$" % field.encode(), bytes(admin.call("INFO", "stats")), re.M)
    if m is None and not is_surge(srv):
        return None
    assert m, "INFO stats lacks %s" % field
    return int(m.group(1))


def obl_disconnections(srv, admin):
    return stat_counter(srv, admin, "client_output_buffer_limit_disconnections")


def test_output_buffer_limit_disconnects_slow_reader(surge_server):
    admin = surge_server.resp()
    assert admin.call("CONFIG", "SET", "client-output-buffer-limit", "normal 1mb 512kb 1") == b"OK"
    assert admin.call("CONFIG", "GET", "client-output-buffer-limit")[1].startswith(
        b"normal 1048576 524288 1 ")
    assert admin.call("SET", "big", b"x" * 100000) == b"OK"
    before = obl_disconnections(surge_server, admin)
    slow = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
    slow.connect((surge_server.host, surge_server.port))
    slow.sendall(encode_command("GET", "big") * 300)   # 30 MB of replies, never read
    deadline = time.time() + 10
    # Wait for the disconnection itself (checking CLIENT LIST alone could
    # pass before the slow client was even accepted).
    while (before is not None and obl_disconnections(surge_server, admin) == before) or \
            len(client_lines(admin.call("CLIENT", "LIST"))) != 1:
        assert time.time() < deadline, "slow reader not disconnected"
        time.sleep(0.05)
    if before is not None:
        assert obl_disconnections(surge_server, admin) == before + 1
    # The slow client is gone: what it can still read ends with EOF, far
    # short of the 30 MB it asked for.
    data = recv_all_until_closed(slow, timeout=10)
    assert len(data) < 5 * 1024 * 1024
    slow.close()
    assert len(client_lines(admin.call("CLIENT", "LIST"))) == 1
    assert admin.call("GET", "big") == b"x" * 100000


def test_output_buffer_limit_spares_fast_reader(surge_server):
    admin = surge_server.resp()
    assert admin.call("CONFIG", "SET", "client-output-buffer-limit", "normal 1mb 512kb 1") == b"OK"
    assert admin.call("SET", "big", b"x" * 100000) == b"OK"
    c = surge_server.resp()
    for _ in range(50):
        assert c.call("GET", "big") == b"x" * 100000
    assert c.call("PING") == b"PONG"


def test_query_buffer_limit(surge_server):
    admin = surge_server.resp()
    assert admin.call("CONFIG", "SET", "client-query-buffer-limit", "1mb") == b"OK"
    before = stat_counter(surge_server, admin, "client_query_buffer_limit_disconnections")
    c = surge_server.raw()
    c.sendall(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3000000\r\n")
    chunk = b"x" * 65536
    sent = 0
    try:
        while sent < 2 * 1024 * 1024:
            c.sendall(chunk)
            sent += len(chunk)
    except (BrokenPipeError, ConnectionResetError):
        pass
    assert is_closed(c, 5)
    if before is not None:
        n = stat_counter(surge_server, admin, "client_query_buffer_limit_disconnections")
        assert n == before + 1
    assert admin.call("EXISTS", "k") == 0
    # A complete command below the limit is fine.
    ok = surge_server.resp()
    assert ok.call("SET", "k", b"y" * 500000) == b"OK"


def test_query_buffer_limit_many_small_commands_are_fine(surge_server):
    admin = surge_server.resp()
    assert admin.call("CONFIG", "SET", "client-query-buffer-limit", "1mb") == b"OK"
    c = surge_server.resp()
    payload = encode_command("SET", "k", b"z" * 1000)
    c.send_raw(payload * 3000)   # 3 MB in all, in many commands
    for _ in range(3000):
        assert c.read_reply() == b"OK"


# ---------------------------------------------------------------------------
# many connections
# ---------------------------------------------------------------------------
N_CONNECTIONS = 2000


def test_many_concurrent_connections(start_surge):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = N_CONNECTIONS * 2 + 200   # this process and the server each hold one fd per client
    if soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            pytest.skip("RLIMIT_NOFILE hard limit %d < %d" % (hard, need))
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    srv = start_surge()   # inherits the raised limit
    admin = srv.client()
    assert admin.ping()
    socks = []
    try:
        for i in range(N_CONNECTIONS):
            s = socket.create_connection((srv.host, srv.port), timeout=10)
            socks.append(s)
        for i, s in enumerate(socks):
            s.sendall(encode_command("SET", "k:%d" % i, "v:%d" % i) + encode_command("GET", "k:%d" % i))
        for i, s in enumerate(socks):
            c = RespClient(sock=s, timeout=10)
            assert c.read_reply() == b"OK"
            assert c.read_reply() == b"v:%d" % i
        info = admin.info("clients")
        assert info["connected_clients"] == N_CONNECTIONS + 1
        assert admin.dbsize() == N_CONNECTIONS
    finally:
        for s in socks:
            s.close()
    deadline = time.time() + 10
    while admin.info("clients")["connected_clients"] != 1:
        assert time.time() < deadline, admin.info("clients")["connected_clients"]
        time.sleep(0.05)
    assert admin.get(b"k:1999") == b"v:1999"
