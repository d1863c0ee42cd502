"""RESP protocol conformance: exact wire bytes, compared with Redis 7.0.

Run against the reference with:
    SURGE_SERVER=/usr/bin/redis-server python3 -m pytest tests/integration/test_protocol.py
"""

import os
import signal
import socket
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rawsock import (  # noqa: E402
    Conn,
    encode_cmd,
    expect_closed,
    parse_frame,
    raise_nofile,
    server,
)


@pytest.fixture(scope="module")
def srv():
    with server() as s:
        yield s


@pytest.fixture(scope="module")
def authsrv():
    with server("--requirepass", "secret") as s:
        yield s


@pytest.fixture
def c(srv):
    with srv.conn() as conn:
        yield conn


# --------------------------------------------------------------------------
# RESP2 basics
# --------------------------------------------------------------------------

def test_ping(c):
    assert c.cmd("PING") == b"+PONG\r\n"
    assert c.cmd("PING", "hi") == b"$2\r\nhi\r\n"
    assert c.cmd("ping") == b"+PONG\r\n"


def test_echo(c):
    assert c.cmd("ECHO", "hello") == b"$5\r\nhello\r\n"
    assert c.cmd("ECHO", "") == b"$0\r\n\r\n"
    assert c.cmd("ECHO", b"a\r\nb\x00c") == b"$6\r\na\r\nb\x00c\r\n"


def test_get_missing_is_null_bulk(c):
    assert c.cmd("GET", "proto:missing") == b"$-1\r\n"


def test_set_get_roundtrip(c):
    assert c.cmd("SET", "proto:k", "v1") == b"+OK\r\n"
    assert c.cmd("GET", "proto:k") == b"$2\r\nv1\r\n"
    big = b"x" * 100000
    assert c.cmd("SET", "proto:big", big) == b"+OK\r\n"
    assert c.cmd("GET", "proto:big") == b"$100000\r\n" + big + b"\r\n"


def test_errors_begin_with_err(c):
    r = c.cmd("SET", "proto:x", "1", "EX")
    assert r == b"-ERR syntax error\r\n"
    r = c.cmd("SET", "proto:x", "1", "XX", "NX")
    assert r == b"-ERR syntax error\r\n"


def test_unknown_command_exact_text(c):
    assert c.cmd("foo", "a", "b") == b"-ERR unknown command 'foo', with args beginning with: 'a' 'b' \r\n"
    assert c.cmd("foo") == b"-ERR unknown command 'foo', with args beginning with: \r\n"
    assert c.raw(b"foo a b\r\n") == b"-ERR unknown command 'foo', with args beginning with: 'a' 'b' \r\n"
    # empty command name (multibulk form)
    assert c.raw(b"*1\r\n$0\r\n\r\n") == b"-ERR unknown command '', with args beginning with: \r\n"


def test_unknown_command_truncation(c):
    # command name is cut at 128 bytes; the args part stops once it reaches 128 bytes
    r = c.cmd("x" * 300, "y" * 300)
    assert r == (b"-ERR unknown command '" + b"x" * 128 + b"', with args beginning with: '"
                 + b"y" * 128 + b"' \r\n")
    r = c.cmd("foo", *["y" * 50] * 5)
    assert r == (b"-ERR unknown command 'foo', with args beginning with: '" + b"y" * 50 + b"' '"
                 + b"y" * 50 + b"' '" + b"y" * 22 + b"' \r\n")


def test_wrong_arity_exact_text(c):
    assert c.cmd("GET") == b"-ERR wrong number of arguments for 'get' command\r\n"
    assert c.cmd("GET", "a", "b") == b"-ERR wrong number of arguments for 'get' command\r\n"
    # command name is reported lower-case whatever the client sent
    assert c.cmd("SeT", "a") == b"-ERR wrong number of arguments for 'set' command\r\n"
    assert c.cmd("ECHO") == b"-ERR wrong number of arguments for 'echo' command\r\n"
    assert c.cmd("PING", "a", "b") == b"-ERR wrong number of arguments for 'ping' command\r\n"
    assert c.raw(b"GET\r\n") == b"-ERR wrong number of arguments for 'get' command\r\n"
    assert c.cmd("PING") == b"+PONG\r\n"


# --------------------------------------------------------------------------
# Inline commands
# --------------------------------------------------------------------------

def test_inline_ping(c):
    assert c.raw(b"PING\r\n") == b"+PONG\r\n"
    assert c.raw(b"ping\n") == b"+PONG\r\n"


def test_inline_quotes_and_escapes(c):
    assert c.raw(b'SET proto:q "hello world"\r\n') == b"+OK\r\n"
    assert c.cmd("GET", "proto:q") == b"$11\r\nhello world\r\n"
    assert c.raw(b'SET proto:q "\\x41\\n\\t\\\\z"\r\n') == b"+OK\r\n"
    assert c.cmd("GET", "proto:q") == b"$5\r\nA\n\t\\z\r\n"
    # invalid \x escape: kept literally minus the backslash
    assert c.raw(b'SET proto:q "\\xzz"\r\n') == b"+OK\r\n"
    assert c.cmd("GET", "proto:q") == b"$3\r\nxzz\r\n"
    assert c.raw(b"SET proto:q 'single \"quoted\"'\r\n") == b"+OK\r\n"
    assert c.cmd("GET", "proto:q") == b'$15\r\nsingle "quoted"\r\n'
    assert c.raw(b"  SET   proto:q   spaced  \r\n") == b"+OK\r\n"
    assert c.cmd("GET", "proto:q") == b"$6\r\nspaced\r\n"


def test_inline_newline_only_terminators(c):
    c.send(b"SET proto:nl abc\nGET proto:nl\nPING\n")
    assert c.read_frame() == b"+OK\r\n"
    assert c.read_frame() == b"$3\r\nabc\r\n"
    assert c.read_frame() == b"+PONG\r\n"


def test_empty_lines_and_empty_multibulk_skipped(c):
    c.send(b"\r\n\r\n\n\n*0\r\n*-10\r\n*-1\r\n\r\nPING\r\n")
    assert c.read_frame() == b"+PONG\r\n"
    # nothing else is pending
    c.send(b"PING\r\n")
    assert c.read_frame() == b"+PONG\r\n"


# --------------------------------------------------------------------------
# Pipelining and fragmentation
# --------------------------------------------------------------------------

def test_pipeline_1000(c):
    c.cmd("DEL", "proto:ctr")
    payload = b"".join(encode_cmd("INCR", "proto:ctr") for _ in range(1000))
    c.send(payload)
    for i in range(1, 1001):
        assert c.read_frame() == b":%d\r\n" % i


def test_pipeline_mixed_inline_and_multibulk(c):
    parts = []
    for i in range(500):
        parts.append(encode_cmd("ECHO", "m%d" % i))
        parts.append(b"ECHO i%d\r\n" % i)
    c.send(b"".join(parts))
    for i in range(500):
        m = b"m%d" % i
        assert c.read_frame() == b"$%d\r\n%s\r\n" % (len(m), m)
        m = b"i%d" % i
        assert c.read_frame() == b"$%d\r\n%s\r\n" % (len(m), m)


def test_command_split_into_1_byte_sends(c):
    data = encode_cmd("SET", "proto:frag", "fragmented value") + encode_cmd("GET", "proto:frag") + b"PING\r\n"
    for i in range(len(data)):
        c.send(data[i:i + 1])
        if i % 8 == 0:
            time.sleep(0.001)
    assert c.read_frame() == b"+OK\r\n"
    assert c.read_frame() == b"$16\r\nfragmented value\r\n"
    assert c.read_frame() == b"+PONG\r\n"


# --------------------------------------------------------------------------
# HELLO / RESP3
# --------------------------------------------------------------------------

HELLO_KEYS = {b"server", b"version", b"proto", b"id", b"mode", b"role", b"modules"}


def hello_fields(frame):
    """HELLO reply (RESP2 flat array or RESP3 map) as a dict."""
    v = parse_frame(frame)
    if isinstance(v, list):
        assert len(v) % 2 == 0, frame
        return dict(zip(v[::2], v[1::2]))
    assert isinstance(v, dict), frame
    return v


def test_hello3_map(srv):
    with srv.conn() as c:
        r = c.cmd("HELLO", "3")
        assert r.startswith(b"%7\r\n")
        m = parse_frame(r)
        assert set(m) == HELLO_KEYS
        assert m[b"proto"] == 3
        assert isinstance(m[b"id"], int)
        assert isinstance(m[b"server"], bytes) and isinstance(m[b"version"], bytes)
        assert m[b"mode"] == b"standalone"
        assert m[b"role"] == b"master"
        assert m[b"modules"] == []
        # RESP3 null for a missing key
        assert c.cmd("GET", "proto:missing") == b"_\r\n"
        # INCRBYFLOAT replies with a bulk string in both protocols
        c.cmd("DEL", "proto:f")
        assert c.cmd("INCRBYFLOAT", "proto:f", "1.5") == b"$3\r\n1.5\r\n"
        assert c.cmd("PING") == b"+PONG\r\n"
        # RESET goes back to RESP2
        assert c.cmd("RESET") == b"+RESET\r\n"
        assert c.cmd("GET", "proto:missing") == b"$-1\r\n"


def test_hello2_array(srv):
    with srv.conn() as c:
        r = c.cmd("HELLO", "2")
        assert r.startswith(b"*14\r\n")
        m = hello_fields(r)
        assert set(m) == HELLO_KEYS
        assert m[b"proto"] == 2
        assert c.cmd("GET", "proto:missing") == b"$-1\r\n"
        # HELLO with no arguments keeps the current protocol
        r = c.cmd("HELLO")
        assert r.startswith(b"*14\r\n") and hello_fields(r)[b"proto"] == 2


def test_hello_bad_versions(c):
    assert c.cmd("HELLO", "4") == b"-NOPROTO unsupported protocol version\r\n"
    assert c.cmd("HELLO", "1") == b"-NOPROTO unsupported protocol version\r\n"
    assert c.cmd("HELLO", "abc") == b"-ERR Protocol version is not an integer or out of range\r\n"
    assert c.cmd("HELLO", "3", "FOO") == b"-ERR Syntax error in HELLO option 'FOO'\r\n"
    assert c.cmd("HELLO", "3", "AUTH", "default") == b"-ERR Syntax error in HELLO option 'AUTH'\r\n"
    # still RESP2 after the failures
    assert c.cmd("GET", "proto:missing") == b"$-1\r\n"


def test_hello_setname(c):
    assert c.cmd("HELLO", "3", "SETNAME", "bad name") == (
        b"-ERR Client names cannot contain spaces, newlines or special characters.\r\n")
    m = parse_frame(c.cmd("HELLO", "3", "SETNAME", "proto-name"))
    assert m[b"proto"] == 3
    assert c.cmd("CLIENT", "GETNAME") == b"$10\r\nproto-name\r\n"


def test_hello_auth_and_setname(authsrv):
    with authsrv.conn() as c:
        assert c.cmd("PING") == b"-NOAUTH Authentication required.\r\n"
        assert c.cmd("HELLO", "3") == (
            b"-NOAUTH HELLO must be called with the client already authenticated, otherwise the "
            b"HELLO AUTH <user> <pass> option can be used to authenticate the client and select "
            b"the RESP protocol version at the same time\r\n")
        assert c.cmd("HELLO", "3", "AUTH", "default", "wrong") == (
            b"-WRONGPASS invalid username-password pair or user is disabled.\r\n")
        assert c.cmd("GET", "x") == b"-NOAUTH Authentication required.\r\n"
        r = c.cmd("HELLO", "3", "AUTH", "default", "secret", "SETNAME", "authed")
        m = parse_frame(r)
        assert set(m) == HELLO_KEYS and m[b"proto"] == 3
        assert c.cmd("CLIENT", "GETNAME") == b"$6\r\nauthed\r\n"
        assert c.cmd("GET", "proto:missing") == b"_\r\n"
    with authsrv.conn() as c:
        assert c.cmd("AUTH", "wrong") == b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
        assert c.cmd("AUTH", "secret") == b"+OK\r\n"
        assert c.cmd("PING") == b"+PONG\r\n"
        r = c.cmd("HELLO", "2", "AUTH", "default", "secret", "SETNAME", "n2")
        assert r.startswith(b"*14\r\n") and hello_fields(r)[b"proto"] == 2
        assert c.cmd("CLIENT", "GETNAME") == b"$2\r\nn2\r\n"


def test_quit_replies_ok_then_closes(srv):
    with srv.conn() as c:
        assert c.cmd("QUIT") == b"+OK\r\n"
        expect_closed(c, 2)
    with srv.conn() as c:
        # pipelined commands after QUIT are not executed
        c.send(b"QUIT\r\nSET proto:afterquit 1\r\n")
        assert c.read_frame() == b"+OK\r\n"
        expect_closed(c, 2)
    with srv.conn() as c:
        assert c.cmd("EXISTS", "proto:afterquit") == b":0\r\n"


def test_reset(srv):
    with srv.conn() as c:
        assert c.cmd("RESET") == b"+RESET\r\n"
        c.cmd("HELLO", "3", "SETNAME", "before-reset")
        assert c.cmd("RESET") == b"+RESET\r\n"
        assert c.cmd("CLIENT", "GETNAME") == b"$-1\r\n"
        assert c.cmd("GET", "proto:missing") == b"$-1\r\n"


# --------------------------------------------------------------------------
# Many clients
# --------------------------------------------------------------------------

def test_1000_concurrent_connections(srv):
    n = 1000
    have = raise_nofile(n + 200)
    if have < n + 50:
        pytest.skip("cannot raise RLIMIT_NOFILE to %d (got %d)" % (n + 200, have))
    with srv.conn() as admin:
        r = parse_frame(admin.cmd("CONFIG", "GET", "maxclients"))
        if isinstance(r, list) and len(r) == 2 and int(r[1]) < n + 10:
            pytest.skip("server maxclients=%s is below %d" % (r[1], n))
    conns = []
    try:
        for _ in range(n):
            conns.append(Conn(srv.host, srv.port, timeout=10))
        for i, cc in enumerate(conns):
            cc.send_cmd("SET", "proto:conn:%d" % i, "value-%d" % i)
        for cc in conns:
            assert cc.read_frame() == b"+OK\r\n"
        for i, cc in enumerate(conns):
            cc.send_cmd("GET", "proto:conn:%d" % i)
        for i, cc in enumerate(conns):
            v = b"value-%d" % i
            assert cc.read_frame() == b"$%d\r\n%s\r\n" % (len(v), v)
    finally:
        for cc in conns:
            cc.close()
    with srv.conn() as c:
        assert c.cmd("PING") == b"+PONG\r\n"


# --------------------------------------------------------------------------
# Shutdown on signals
# --------------------------------------------------------------------------

@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_clean_shutdown_on_signal(sig):
    with server() as s:
        s.expect_exit = True
        idle = s.conn()
        busy = s.conn()
        assert busy.cmd("SET", "k", "v") == b"+OK\r\n"
        s.proc.send_signal(sig)
        rc = s.proc.wait(10)
        assert rc == 0, "exit status %r after %s; log:\n%s" % (rc, sig, s.log()[-3000:])
        expect_closed(idle, 2)
        idle.close()
        busy.close()
        with pytest.raises(OSError):
            socket.create_connection((s.host, s.port), timeout=1).close()
