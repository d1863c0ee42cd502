"""Keyspace notifications (notify-keyspace-events): the same commands on Surge
and on the reference redis-server with a PSUBSCRIBE '__key*__:*' client
connected; the full sequence of messages received is compared exactly, per
command. Plus CONFIG GET round trips of flag strings, errors, and silence with
the default ""."""
import time

import pytest

from resp_client import RespClient

# One command per row. Covers every type; no-ops and errors are included on
# purpose (they must publish nothing).
COMMANDS = [
    # strings
    ("SET", "s1", "v"), ("SET", "s1", "v2", "NX"), ("SET", "s1", "v3", "XX"),
    ("SET", "s2", "v", "EX", "100"), ("SET", "s2", "w", "KEEPTTL"),
    ("SET", "s3", "v", "GET"), ("SETNX", "s1", "x"), ("SETNX", "s4", "x"),
    ("SETEX", "s5", "100", "v"), ("PSETEX", "s6", "100000", "v"),
    ("MSET", "m1", "a", "m2", "b"), ("MSETNX", "m1", "a", "m3", "c"),
    ("MSETNX", "m4", "a", "m5", "c"),
    ("APPEND", "s1", "tail"), ("APPEND", "new_app", "x"),
    ("SETRANGE", "s1", "2", "ZZ"), ("SETRANGE", "s1", "0", ""), ("SETRANGE", "sr", "3", "q"),
    ("INCR", "n"), ("INCRBY", "n", "5"), ("DECR", "n"), ("DECRBY", "n", "2"),
    ("INCRBYFLOAT", "n", "1.5"), ("INCR", "s1"),
    ("GETSET", "s1", "gs"), ("GETDEL", "s1"), ("GETDEL", "s1"),
    ("GETEX", "s2", "EX", "50"), ("GETEX", "s2", "PERSIST"), ("GETEX", "s2"),
    ("GETEX", "s2", "PX", "0"), ("SET", "s2", "again"),
    # keys
    ("EXPIRE", "s2", "100"), ("PEXPIRE", "s2", "100000"), ("EXPIREAT", "s2", "9999999999"),
    ("PEXPIREAT", "s2", "9999999999000"), ("EXPIRE", "s2", "10", "NX"),
    ("PERSIST", "s2"), ("PERSIST", "s2"), ("EXPIRE", "nokey", "10"),
    ("EXPIRE", "m4", "-1"), ("DEL", "m1", "nokey", "m2"), ("UNLINK", "m3"),
    ("SET", "r1", "v"), ("RENAME", "r1", "r2"), ("RENAMENX", "r2", "s2"),
    ("RENAMENX", "r2", "r3"), ("RENAME", "r3", "s2"), ("RENAME", "s2", "s2"),
    ("COPY", "s2", "c1"), ("COPY", "s2", "c1"), ("COPY", "s2", "c1", "REPLACE"),
    ("COPY", "s2", "c9", "DB", "1"), ("MOVE", "c1", "1"), ("MOVE", "c1", "1"),
    ("SET", "mv", "x"), ("MOVE", "mv", "1"),
    ("TOUCH", "s2"), ("GET", "s2"),
    # hashes
    ("HSET", "h", "a", "1", "b", "2"), ("HSET", "h", "a", "1"), ("HSETNX", "h", "a", "9"),
    ("HSETNX", "h", "c", "3"), ("HMSET", "h", "d", "4"), ("HINCRBY", "h", "a", "2"),
    ("HINCRBYFLOAT", "h", "b", "0.5"), ("HDEL", "h", "zz"), ("HDEL", "h", "a", "b"),
    ("HDEL", "h", "c", "d"), ("HINCRBY", "h2", "x", "1"),
    # lists
    ("LPUSH", "l", "a", "b"), ("RPUSH", "l", "c"), ("LPUSHX", "l", "d"), ("RPUSHX", "l", "e"),
    ("LPUSHX", "nol", "d"), ("LINSERT", "l", "BEFORE", "c", "x"),
    ("LINSERT", "l", "AFTER", "nope", "y"), ("LSET", "l", "0", "D"), ("LREM", "l", "0", "x"),
    ("LREM", "l", "0", "nope"), ("LTRIM", "l", "0", "2"), ("LPOP", "l"), ("RPOP", "l"),
    ("RPUSH", "l", "1", "2", "3"), ("LPOP", "l", "2"), ("RPOPLPUSH", "l", "l2"),
    ("LMOVE", "l", "l2", "RIGHT", "LEFT"), ("LMOVE", "l2", "l2", "LEFT", "RIGHT"),
    ("LMPOP", "2", "nol", "l2", "LEFT", "COUNT", "5"), ("RPUSH", "l3", "a"),
    ("LTRIM", "l3", "1", "0"), ("RPUSH", "l4", "a", "b"), ("BLPOP", "l4", "1"),
    ("BRPOPLPUSH", "l4", "l5", "1"), ("BLMOVE", "l5", "l6", "LEFT", "LEFT", "1"),
    ("BLMPOP", "1", "1", "l6", "RIGHT"), ("LPOS", "l6", "a"),
    # sets
    ("SADD", "st", "a", "b", "c"), ("SADD", "st", "a"), ("SREM", "st", "zz"),
    ("SREM", "st", "a"), ("SMOVE", "st", "st2", "b"), ("SMOVE", "st", "st2", "zz"),
    ("SPOP", "st"), ("SADD", "sa", "1", "2", "3"), ("SADD", "sb", "2", "3", "4"),
    ("SINTERSTORE", "sd", "sa", "sb"), ("SUNIONSTORE", "sd", "sa", "sb"),
    ("SDIFFSTORE", "sd", "sa", "sb"), ("SINTERSTORE", "sd", "sa", "nos"),
    ("SINTERSTORE", "sd2", "sa", "nos"), ("SPOP", "sa", "1"), ("SPOP", "sa", "5"),
    ("SMOVE", "st2", "sb", "b"),
    # sorted sets
    ("ZADD", "z", "1", "a", "2", "b", "3", "c"), ("ZADD", "z", "1", "a"),
    ("ZADD", "z", "5", "a"), ("ZADD", "z", "INCR", "1", "a"), ("ZADD", "z", "NX", "9", "a"),
    ("ZINCRBY", "z", "2", "b"), ("ZREM", "z", "nope"), ("ZREM", "z", "c"),
    ("ZADD", "z", "4", "d", "5", "e", "6", "f"), ("ZREMRANGEBYSCORE", "z", "4", "4"),
    ("ZREMRANGEBYRANK", "z", "0", "0"), ("ZREMRANGEBYLEX", "z", "[zz", "[zzz"),
    ("ZPOPMIN", "z"), ("ZPOPMAX", "z"), ("ZPOPMIN", "z", "0"), ("ZADD", "za", "1", "x", "2", "y"),
    ("ZADD", "zb", "1", "y", "3", "w"), ("ZUNIONSTORE", "zd", "2", "za", "zb"),
    ("ZINTERSTORE", "zd", "2", "za", "zb"), ("ZDIFFSTORE", "zd", "2", "za", "zb"),
    ("ZINTERSTORE", "zd", "2", "za", "noz"), ("ZRANGESTORE", "zr", "za", "0", "-1"),
    ("ZRANGESTORE", "zr", "za", "5", "9"), ("ZMPOP", "1", "za", "MIN", "COUNT", "9"),
    ("BZPOPMIN", "zb", "1"), ("BZPOPMAX", "zb", "1"), ("ZADD", "zd", "1", "q"),
    ("BZMPOP", "1", "1", "zd", "MAX"),
    ("ZREM", "zr", "x", "y"),
    # bitmaps and HyperLogLog
    ("SETBIT", "b", "7", "1"), ("SETBIT", "b", "7", "1"), ("BITOP", "OR", "bd", "b", "nob"),
    ("BITOP", "AND", "bd", "nob", "nob2"), ("BITFIELD", "bf", "SET", "u8", "0", "5"),
    ("BITFIELD", "bf", "GET", "u8", "0"), ("BITFIELD", "bf", "INCRBY", "u8", "0", "1"),
    ("PFADD", "hl", "a", "b"), ("PFADD", "hl", "a"), ("PFADD", "hl2"),
    ("PFMERGE", "hl3", "hl", "hl2"), ("PFCOUNT", "hl", "hl2"),
    # type errors, transactions, other databases
    ("LPUSH", "h", "x"), ("SADD", "l6", "x"), ("SET", "h", "x"), ("HSET", "h", "f", "v"),
    ("MULTI",), ("SET", "t1", "a"), ("INCR", "t2"), ("DEL", "t1"), ("EXEC",),
    ("SELECT", "1"), ("SET", "db1", "x"), ("DEL", "db1"), ("SELECT", "0"),
    ("SWAPDB", "0", "1"), ("SWAPDB", "0", "1"), ("FLUSHDB",),
]

PATTERN = "__key*__:*"
MARK = "__key__:mark"


def read_until_mark(sub, i):
    got = []
    while True:
        msg = sub.read_reply()
        if msg[0] == b"pmessage" and msg[2] == MARK.encode():
            assert msg[3] == str(i).encode()
            return got
        got.append(tuple(msg[2:]))


def scenario(port, flags, commands, settle=None):
    c = RespClient("127.0.0.1", port)
    c.call("FLUSHALL")
    c.call("CONFIG", "SET", "notify-keyspace-events", flags)
    sub = RespClient("127.0.0.1", port)
    sub.call("PSUBSCRIBE", PATTERN)
    marker = RespClient("127.0.0.1", port)  # not c: inside MULTI c only queues
    out = []
    try:
        for i, cmd in enumerate(commands):
            if settle and cmd in settle:
                time.sleep(settle[cmd])
            c.call(*cmd)  # replies are other tests' business (SPOP is random)
            marker.call("PUBLISH", MARK, str(i))
            out.append((cmd, read_until_mark(sub, i)))
    finally:
        c.call("CONFIG", "SET", "notify-keyspace-events", "")
        c.call("FLUSHALL")
        c.close()
        sub.close()
        marker.close()
    return out


def compare(surge_port, ref_port, flags, commands, settle=None, unordered=False):
    got = scenario(surge_port, flags, commands, settle)
    want = scenario(ref_port, flags, commands, settle)
    if unordered:  # the background expiry sweep visits keys in hash order
        got = [(cmd, sorted(msgs)) for cmd, msgs in got]
        want = [(cmd, sorted(msgs)) for cmd, msgs in want]
    diffs = [(g[0], g[1], w[1]) for g, w in zip(got, want) if g != w]
    assert not diffs, "\n".join("%r:\n  surge %r\n  redis %r" % d for d in diffs[:20])


@pytest.mark.parametrize("flags", ["KEA", "KEAn", "Elshz", "K$g", "Et"])
def test_events_match_reference(surge_server, redis_ref_server, flags):
    compare(surge_server.port, redis_ref_server.port, flags, COMMANDS)


def test_expired_event(surge_server, redis_ref_server):
    cmds = [("SET", "e1", "v", "PX", "20"), ("SET", "e2", "v", "PX", "1"),
            ("GET", "e1"), ("GET", "e2"), ("EXISTS", "e1")]
    settle = {("GET", "e1"): 0.2}
    compare(surge_server.port, redis_ref_server.port, "KEA", cmds, settle, unordered=True)


def test_default_publishes_nothing(surge_server, redis_ref_server):
    for port in (surge_server.port, redis_ref_server.port):
        c = RespClient("127.0.0.1", port)
        assert c.call("CONFIG", "GET", "notify-keyspace-events") == [
            b"notify-keyspace-events", b""]
        c.close()
        out = scenario(port, "", COMMANDS[:60])
        assert all(not msgs for _, msgs in out)


FLAG_STRINGS = ["", "KEA", "g", "KA", "Elsh", "AKE", "Kx", "nK", "KEAmn", "Ag$lshzxeKEtmn",
                "xe", "d", "Ad", "gd", "An", "gsm", "KEA$", "EEE", "tKEn", "m"]


def test_config_round_trip(surge_server, redis_ref_server):
    def run(port):
        c = RespClient("127.0.0.1", port)
        out = []
        for f in FLAG_STRINGS:
            out.append(c.call("CONFIG", "SET", "notify-keyspace-events", f))
            out.append(c.call("CONFIG", "GET", "notify-keyspace-events"))
        for bad in ["Q", "KE ", "KEA1"]:
            out.append(c.call("CONFIG", "SET", "notify-keyspace-events", bad))
            out.append(c.call("CONFIG", "GET", "notify-keyspace-events"))
        c.call("CONFIG", "SET", "notify-keyspace-events", "")
        c.close()
        return out

    assert run(surge_server.port) == run(redis_ref_server.port)


def test_directive_at_startup(start_surge):
    srv = start_surge("--notify-keyspace-events", "KEl")
    c = RespClient("127.0.0.1", srv.port)
    assert c.call("CONFIG", "GET", "notify-keyspace-events") == [
        b"notify-keyspace-events", b"lKE"]
    sub = RespClient("127.0.0.1", srv.port)
    sub.call("SUBSCRIBE", "__keyevent@0__:lpush")
    c.call("LPUSH", "q", "a")
    c.call("SET", "x", "y")
    assert sub.read_reply() == [b"message", b"__keyevent@0__:lpush", b"q"]


def blocked_scenario(port):
    """A client blocked on BLMOVE/BZPOPMIN is served by another client's push:
    the push's events come first, then the pop's (Redis serves blocked
    clients after the command that woke them)."""
    c = RespClient("127.0.0.1", port)
    c.call("FLUSHALL")
    c.call("CONFIG", "SET", "notify-keyspace-events", "KEA")
    sub = RespClient("127.0.0.1", port)
    sub.call("PSUBSCRIBE", PATTERN)
    waiter = RespClient("127.0.0.1", port)
    out = []
    try:
        for block, wake in [(("BLMOVE", "bq", "bd", "LEFT", "RIGHT", "5"), ("RPUSH", "bq", "a")),
                            (("BZPOPMIN", "bz", "5"), ("ZADD", "bz", "1", "m")),
                            (("BLMPOP", "5", "1", "bq2", "LEFT"), ("LPUSH", "bq2", "x", "y"))]:
            waiter.send_command(*block)
            time.sleep(0.1)
            c.call(*wake)
            out.append(waiter.read_reply())
            c.call("PUBLISH", MARK, "0")
            out.append(read_until_mark(sub, 0))
    finally:
        c.call("CONFIG", "SET", "notify-keyspace-events", "")
        for cl in (c, sub, waiter):
            cl.close()
    return out


def test_blocked_clients_served(surge_server, redis_ref_server):
    assert blocked_scenario(surge_server.port) == blocked_scenario(redis_ref_server.port)


def test_evicted_event(start_surge):
    srv = start_surge("--maxmemory-policy", "allkeys-random")
    c = RespClient("127.0.0.1", srv.port)
    c.call("CONFIG", "SET", "notify-keyspace-events", "Ee")
    sub = RespClient("127.0.0.1", srv.port)
    sub.call("SUBSCRIBE", "__keyevent@0__:evicted")
    for i in range(200):
        c.call("SET", "big:%d" % i, "x" * 10000)
    used = int(c.call("INFO", "memory").split(b"used_memory:")[1].split(b"\r\n")[0])
    c.call("CONFIG", "SET", "maxmemory", str(used - 500000))
    c.call("SET", "trigger", "1")
    msg = sub.read_reply()
    assert msg[0] == b"message" and msg[1] == b"__keyevent@0__:evicted"
    assert msg[2].startswith(b"big:") or msg[2] == b"trigger"


def _keymiss_messages(port):
    a = RespClient("127.0.0.1", port)
    s = RespClient("127.0.0.1", port)
    a.call("FLUSHALL")
    a.call("CONFIG", "SET", "notify-keyspace-events", "KEm")
    s.call("PSUBSCRIBE", "__key*__:*")
    for cmd in (["GET", "nokey"], ["HGET", "nokey", "f"], ["EXISTS", "nokey"], ["TYPE", "nokey"],
                ["LRANGE", "nokey", "0", "1"], ["SMEMBERS", "nokey"], ["ZRANGE", "nokey", "0", "1"],
                ["MGET", "a", "b"], ["STRLEN", "x"], ["TTL", "x"], ["SET", "k", "v"],
                ["GET", "k"], ["OBJECT", "ENCODING", "nokey"], ["GETRANGE", "zz", "0", "1"],
                ["SCARD", "q"], ["HGETALL", "h"]):
        a.call(*cmd)
    a.call("PING")
    out = []
    s.sock.settimeout(0.3)
    while True:
        try:
            out.append(s.read_reply())
        except Exception:
            break
    a.call("CONFIG", "SET", "notify-keyspace-events", "")
    return out


def test_keymiss_matches_reference(surge_server, redis_ref_server):
    got = _keymiss_messages(surge_server.port)
    assert got and got == _keymiss_messages(redis_ref_server.port)
