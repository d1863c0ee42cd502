"""DUMP and RESTORE (src/persist/dump.c, src/persist/serialize.c).

* round trips for every type and encoding: DEBUG DIGEST-VALUE, OBJECT
  ENCODING and TYPE equal before and after;
* TTL / ABSTTL / IDLETIME / FREQ / REPLACE / BUSYKEY, with the error texts
  compared against the reference redis-server (the payloads themselves are
  Surge's own format, so they are not compared: docs/differences.md);
* hostile payloads: every single-byte flip and every truncation of a few
  valid payloads is rejected with an error and the server stays up; and
  payloads with a correct checksum (recomputed here with CRC-64/Jones) but
  hostile contents (huge counts and lengths, unsorted or NaN sorted sets,
  duplicates, trailing bytes, unknown types).
"""

import struct
import time

import pytest

from resp_client import RespError

FRAME = b"ERR DUMP payload version or checksum are wrong"
BAD = b"ERR Bad data format"

# ---- CRC-64/Jones (Redis's crc64), reflected, poly 0xad93d23594c935a9 ----
_POLY = 0x95AC9329AC4BC9B5  # reflected form of 0xad93d23594c935a9
_TABLE = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ _POLY if _c & 1 else _c >> 1
    _TABLE.append(_c)


def crc64(data, crc=0):
    for b in data:
        crc = _TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc


def test_crc64_check_value():
    assert crc64(b"123456789") == 0xE9C6D914C4B8D9CA


def varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def sstr(b):
    return varint(len(b)) + b


def frame(type_byte, body, version=1):
    p = bytes([type_byte]) + body + struct.pack("<H", version)
    return p + struct.pack("<Q", crc64(p))


def digest(r, key):
    return r.call("DEBUG", "DIGEST-VALUE", key)


def snapshot(r, key):
    return (r.call("TYPE", key), r.call("OBJECT", "ENCODING", key), digest(r, key))


def build_all(r):
    """One key per type and encoding; returns their names."""
    keys = []

    def k(name):
        keys.append(name)
        return name

    r.call("SET", k("s:int"), "12345")
    r.call("SET", k("s:emb"), "hello")
    r.call("SET", k("s:raw"), "x" * 200)
    r.call("SET", k("s:bin"), bytes(range(256)))
    r.call("SET", k("s:empty"), "")
    r.call("PFADD", k("s:hll"), *["e%d" % i for i in range(50)])
    r.call("SETBIT", k("s:bits"), 1000, 1)
    r.call("RPUSH", k("l:small"), "a", "b", "", "12")
    r.call("RPUSH", k("l:big"), *["item-%d" % i for i in range(3000)])
    r.call("SADD", k("set:int"), *range(100))
    r.call("SADD", k("set:neg"), -5, 9223372036854775807, -9223372036854775808)
    r.call("SADD", k("set:ht"), "a", "b", "c")
    r.call("SADD", k("set:bigint"), *range(1000))
    r.call("HSET", k("h:lp"), "f1", "v1", "f2", "", "", "v3")
    r.call("HSET", k("h:ht"), *sum((["f%d" % i, "v%d" % i] for i in range(300)), []))
    r.call("HSET", k("h:long"), "f", "v" * 100)
    r.call("ZADD", k("z:lp"), 1, "a", 2.5, "b", -3, "c", "inf", "d", "-inf", "e", 0, "f")
    r.call("ZADD", k("z:sl"), *sum(([i * 0.1, "m%d" % i] for i in range(300)), []))
    r.call("ZADD", k("z:long"), 1, "m" * 100)
    r.call("ZADD", k("z:ties"), 1, "b", 1, "a", 1, "c", 1e300, "x", 5e-324, "y")
    return keys


def test_round_trip_every_type(surge_server):
    r = surge_server.resp()
    keys = build_all(r)
    encodings = set()
    for key in keys:
        before = snapshot(r, key)
        encodings.add((before[0], before[1]))
        payload = r.call("DUMP", key)
        assert isinstance(payload, bytes), key
        assert r.call("RESTORE", key + ":copy", 0, payload) == b"OK"
        assert snapshot(r, key + ":copy") == before, key
        assert r.call("RESTORE", key, 0, payload, "REPLACE") == b"OK"
        assert snapshot(r, key) == before, key
        if before[1] != b"hashtable":  # a table dumps in table order
            assert r.call("DUMP", key + ":copy") == payload
    want = {(b"string", b"int"), (b"string", b"embstr"), (b"string", b"raw"),
            (b"list", b"quicklist"), (b"set", b"intset"), (b"set", b"hashtable"),
            (b"hash", b"listpack"), (b"hash", b"hashtable"),
            (b"zset", b"listpack"), (b"zset", b"skiplist")}
    assert want <= encodings
    assert r.call("LRANGE", "l:big:copy", 0, 2) == [b"item-0", b"item-1", b"item-2"]
    assert r.call("ZRANGE", "z:ties:copy", 0, -1) == [b"y", b"a", b"b", b"c", b"x"]
    assert r.call("PFCOUNT", "s:hll:copy") == r.call("PFCOUNT", "s:hll")
    assert r.call("DUMP", "nosuchkey") is None


def test_ttl_absttl_replace_busykey(surge_server):
    r = surge_server.resp()
    r.call("SET", "a", "v")
    p = r.call("DUMP", "a")
    assert r.call("RESTORE", "a", 0, p) == RespError(b"BUSYKEY Target key name already exists.")
    assert r.call("RESTORE", "b", 100000, p) == b"OK"
    assert 99000 <= r.call("PTTL", "b") <= 100000
    assert r.call("RESTORE", "c", 0, p) == b"OK"
    assert r.call("TTL", "c") == -1
    future = int(time.time() * 1000) + 50000
    assert r.call("RESTORE", "d", future, p, "ABSTTL") == b"OK"
    assert 40000 <= r.call("PTTL", "d") <= 50000
    # an absolute TTL in the past: the key is not created; with REPLACE the
    # old one is deleted
    assert r.call("RESTORE", "e", 1000, p, "ABSTTL") == b"OK"
    assert r.call("EXISTS", "e") == 0
    assert r.call("RESTORE", "a", 1000, p, "ABSTTL", "REPLACE") == b"OK"
    assert r.call("EXISTS", "a") == 0
    # the TTL is not part of the payload
    r.call("SET", "t", "v", "EX", 100)
    assert r.call("RESTORE", "t2", 0, r.call("DUMP", "t")) == b"OK"
    assert r.call("TTL", "t2") == -1


def test_idletime_freq(start_surge):
    srv = start_surge()
    r = srv.resp()
    r.call("SET", "a", "v")
    p = r.call("DUMP", "a")
    assert r.call("RESTORE", "i", 0, p, "IDLETIME", 1000) == b"OK"
    assert 1000 <= r.call("OBJECT", "IDLETIME", "i") <= 1002
    lfu = start_surge("--maxmemory-policy", "allkeys-lfu")
    r2 = lfu.resp()
    assert r2.call("RESTORE", "f", 0, p, "FREQ", 100) == b"OK"
    assert r2.call("OBJECT", "FREQ", "f") == 100


ERROR_CASES = [
    ("RESTORE", "k", -1, "{payload}"),
    ("RESTORE", "k", "abc", "{payload}"),
    ("RESTORE", "k", 0, "{payload}", "IDLETIME", -1),
    ("RESTORE", "k", 0, "{payload}", "IDLETIME", "x"),
    ("RESTORE", "k", 0, "{payload}", "FREQ", 256),
    ("RESTORE", "k", 0, "{payload}", "FREQ", -1),
    ("RESTORE", "k", 0, "{payload}", "FREQ", 1, "IDLETIME", 1),
    ("RESTORE", "k", 0, "{payload}", "IDLETIME"),
    ("RESTORE", "k", 0, "{payload}", "BOGUS"),
    ("RESTORE", "k", 0, "garbage"),
    ("RESTORE", "k", 0, ""),
    ("RESTORE", "k", 0),
    ("DUMP",),
    ("RESTORE", "busy", 0, "{payload}"),
    ("RESTORE", "busy", -1, "{payload}"),
    ("RESTORE", "busy", 0, "{payload}", "BOGUS"),
]


def test_errors_match_reference(surge_server, redis_ref_server):
    out = []
    for srv in (surge_server, redis_ref_server):
        r = srv.resp()
        r.call("FLUSHALL")
        r.call("SET", "src", "value")
        r.call("SET", "busy", "x")
        payload = r.call("DUMP", "src")
        replies = []
        for case in ERROR_CASES:
            args = [payload if a == "{payload}" else a for a in case]
            replies.append(r.call(*args))
        out.append(replies)
    for case, a, b in zip(ERROR_CASES, out[0], out[1]):
        assert isinstance(a, RespError), case
        assert a == b, case


def sample_payloads(r):
    r.call("SET", "s", "hello world")
    r.call("SET", "n", "42")
    r.call("RPUSH", "l", "a", "bb", "ccc")
    r.call("SADD", "si", 1, 2, 3)
    r.call("SADD", "ss", "x", "y")
    r.call("HSET", "h", "f", "v", "g", "w")
    r.call("ZADD", "z", 1, "a", 2, "b")
    return [r.call("DUMP", k) for k in ("s", "n", "l", "si", "ss", "h", "z")]


def test_every_flip_and_truncation_rejected(surge_server):
    r = surge_server.resp()
    payloads = sample_payloads(r)
    for p in payloads:
        for i in range(len(p)):
            for bit in (0x01, 0x80, 0xFF):
                bad = bytearray(p)
                bad[i] ^= bit
                reply = r.call("RESTORE", "x", 0, bytes(bad))
                assert isinstance(reply, RespError), (p, i, bit)
                assert reply.message in (FRAME, BAD)
        for n in range(len(p)):
            reply = r.call("RESTORE", "x", 0, p[:n])
            assert isinstance(reply, RespError), (p, n)
        assert r.call("RESTORE", "x", 0, p + b"\x00") == RespError(FRAME)
    assert r.call("EXISTS", "x") == 0
    assert r.call("PING") == b"PONG"
    surge_server.check_alive()


def test_frame_format_and_valid_crafted_payloads(surge_server):
    r = surge_server.resp()
    r.call("SET", "s", "abc")
    p = r.call("DUMP", "s")
    assert p == frame(0, sstr(b"abc"))
    # crafted, valid payloads of each type build the expected values
    assert r.call("RESTORE", "l", 0, frame(1, varint(2) + sstr(b"x") + sstr(b"y"))) == b"OK"
    assert r.call("LRANGE", "l", 0, -1) == [b"x", b"y"]
    assert r.call("RESTORE", "h", 0, frame(4, varint(1) + sstr(b"f") + sstr(b"v"))) == b"OK"
    assert r.call("HGETALL", "h") == [b"f", b"v"]
    z = varint(2) + sstr(b"a") + struct.pack("<d", 1.0) + sstr(b"b") + struct.pack("<d", 2.0)
    assert r.call("RESTORE", "z", 0, frame(3, z)) == b"OK"
    assert r.call("ZRANGE", "z", 0, -1, "WITHSCORES") == [b"a", b"1", b"b", b"2"]
    assert r.call("RESTORE", "st", 0, frame(2, varint(2) + sstr(b"1") + sstr(b"x"))) == b"OK"
    assert r.call("OBJECT", "ENCODING", "st") == b"hashtable"


def d(x):
    return struct.pack("<d", x)


HOSTILE = [
    frame(0, b""),                                         # no string
    frame(0, varint(2**40) + b"ab"),                       # huge length
    frame(0, varint(2**64 - 1) + b"ab"),                   # max length
    frame(0, b"\xff" * 11),                                # overlong varint
    frame(0, sstr(b"ab") + b"\x00"),                       # trailing byte
    frame(1, varint(0)),                                   # empty list
    frame(1, varint(10**12) + sstr(b"a")),                 # huge count
    frame(1, varint(2) + sstr(b"a")),                      # count > elements
    frame(1, varint(1) + varint(1000) + b"abc"),           # element too long
    frame(2, varint(2) + sstr(b"a") + sstr(b"a")),         # duplicate member
    frame(2, varint(2) + sstr(b"1") + sstr(b"1")),         # duplicate int member
    frame(4, varint(2) + sstr(b"f") + sstr(b"v") + sstr(b"f") + sstr(b"w")),  # dup field
    frame(4, varint(1) + sstr(b"f")),                      # field without value
    frame(3, varint(1) + sstr(b"a") + d(float("nan"))),    # NaN score
    frame(3, varint(2) + sstr(b"a") + d(2) + sstr(b"b") + d(1)),   # unsorted
    frame(3, varint(2) + sstr(b"b") + d(1) + sstr(b"a") + d(1)),   # unsorted ties
    frame(3, varint(2) + sstr(b"a") + d(1) + sstr(b"a") + d(1)),   # duplicate
    frame(3, varint(2) + sstr(b"a") + d(1) + sstr(b"a") + d(2)),   # dup member, sorted
    frame(3, varint(1) + sstr(b"a") + b"\x00\x00"),        # short score
    frame(5, varint(1) + sstr(b"a")),                      # unknown type
    frame(200, b""),                                       # unknown type
    frame(0, sstr(b"abc"), version=2),                     # version
    b"",
    b"\x00" * 10,
]


def test_hostile_payloads_with_valid_crc(surge_server):
    r = surge_server.resp()
    for i, p in enumerate(HOSTILE):
        reply = r.call("RESTORE", "x", 0, p)
        assert isinstance(reply, RespError), (i, p)
        assert reply.message in (FRAME, BAD), (i, reply)
    # a big skiplist-sized zset with one unsorted pair at the end
    body = b"".join(sstr(b"m%d" % i) + d(i) for i in range(500))
    body += sstr(b"zz") + d(-1)
    assert r.call("RESTORE", "x", 0, frame(3, varint(501) + body)) == RespError(BAD)
    assert r.call("EXISTS", "x") == 0
    assert r.call("PING") == b"PONG"
    surge_server.check_alive()


def test_restore_is_logged_deterministically(start_surge):
    srv = start_surge("--appendonly", "yes")
    r = srv.resp()
    r.call("RPUSH", "l", "a", "b")
    r.call("SADD", "s", "x")
    p = r.call("DUMP", "l")
    assert r.call("RESTORE", "l2", 100000, p) == b"OK"
    assert r.call("RESTORE", "s", 0, p, "REPLACE") == b"OK"
    want = [digest(r, k) for k in ("l2", "s")]
    ttl = r.call("PTTL", "l2")
    srv.stop()
    srv.start()
    r = srv.resp()
    assert [digest(r, k) for k in ("l2", "s")] == want
    assert 0 < r.call("PTTL", "l2") <= ttl
    assert r.call("TYPE", "s") == b"list"


@pytest.mark.parametrize("n", [1, 5])
def test_server_alive_after_random_garbage(surge_server, n):
    import random
    rnd = random.Random(n)
    r = surge_server.resp()
    for _ in range(300):
        body = bytes(rnd.randrange(256) for _ in range(rnd.randrange(0, 40)))
        reply = r.call("RESTORE", "x", 0, frame(rnd.randrange(6), body))
        if reply == b"OK":
            r.call("DEL", "x")
        else:
            assert isinstance(reply, RespError)
    assert r.call("PING") == b"PONG"
