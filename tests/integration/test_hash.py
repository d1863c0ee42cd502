"""Hash type: HSET, HGET, ..., HRANDFIELD, HSCAN against the reference Redis 7.0.

Focused tests (error texts and edge replies compared byte for byte with the
reference, encoding conversions, HRANDFIELD and HSCAN by their properties),
then a seeded differential stream of hash commands sent to Surge and to the
reference over RESP2 and RESP3.

Environment:
    DIFF_SEED        seed of the stream (default 1)
    HASH_DIFF_COUNT  commands in the stream (default 2000)

Reproduce a differential failure with e.g.
    DIFF_SEED=7 HASH_DIFF_COUNT=900 /usr/bin/python3 -m pytest \
        tests/integration/test_hash.py -q -k differential

Comparison rules of the stream (everything else is byte-exact; errors always
are):
  * HKEYS / HVALS / HGETALL of a hashtable-encoded hash: the order is the
    table's layout, so replies are compared as multisets (a RESP3 map as a
    dict);
  * HSCAN of a hashtable: a full iteration with the same options is run on
    both servers and the (field, value) sets compared;
  * HRANDFIELD: random by definition; both replies must have the same shape
    and length, and each is checked against its server's own hash
    (membership, values, uniqueness for positive counts, the whole hash when
    the count is at least its size).
"""

import os
import random
import socket
import time

import pytest

from resp_client import RespError, RespMap, SimpleString, same_reply

SEED = int(os.environ.get("DIFF_SEED", "1"))
COUNT = int(os.environ.get("HASH_DIFF_COUNT", "2000"))
HISTORY = 12
LLMAX = 9223372036854775807


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------
def is_surge(srv):
    return "surge_version" in srv.client().info("server")


def hello3(client):
    assert isinstance(client.call(b"HELLO", b"3"), dict)


def assert_same(s, r, *cmd):
    """Sends cmd to both sides; the raw replies must be identical."""
    a, raw_a = s.call_frame(*cmd)
    b, raw_b = r.call_frame(*cmd)
    assert raw_a == raw_b, "%r\n surge: %r\n redis: %r" % (cmd, raw_a, raw_b)
    return a


def pairs_of(flat):
    assert len(flat) % 2 == 0
    return [(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)]


def as_dict(reply):
    """HGETALL reply (RESP2 flat array or RESP3 map) -> dict."""
    if isinstance(reply, dict):
        return dict(reply)
    return dict(pairs_of(reply))


def fill(client, key, n, prefix=b"f", value=b"v"):
    args = [b"HSET", key]
    for i in range(n):
        args += [prefix + b"%d" % i, value + b"%d" % i]
    return client.call(*args)


# ---------------------------------------------------------------------------
# focused tests
# ---------------------------------------------------------------------------
def test_basic_commands(surge):
    r = surge
    assert r.hset(b"h", b"a", b"1") == 1
    assert r.hset(b"h", mapping={b"a": b"2", b"b": b"3", b"c": b""}) == 2
    assert r.hget(b"h", b"a") == b"2"
    assert r.hget(b"h", b"zz") is None
    assert r.hget(b"nokey", b"a") is None
    assert r.hmget(b"h", [b"a", b"zz", b"c"]) == [b"2", None, b""]
    assert r.hmget(b"nokey", [b"a", b"b"]) == [None, None]
    assert r.hlen(b"h") == 3 and r.hlen(b"nokey") == 0
    assert r.hkeys(b"h") == [b"a", b"b", b"c"]          # listpack: insertion order
    assert r.hvals(b"h") == [b"2", b"3", b""]
    assert r.hgetall(b"h") == {b"a": b"2", b"b": b"3", b"c": b""}
    assert r.hexists(b"h", b"b") and not r.hexists(b"h", b"x")
    assert r.hstrlen(b"h", b"a") == 1 and r.hstrlen(b"h", b"x") == 0
    assert r.hsetnx(b"h", b"a", b"9") == 0 and r.hget(b"h", b"a") == b"2"
    assert r.hsetnx(b"h", b"d", b"9") == 1 and r.hget(b"h", b"d") == b"9"
    assert r.hsetnx(b"new", b"f", b"v") == 1 and r.type(b"new") == b"hash"
    assert r.execute_command("HMSET", b"h", b"e", b"5") is True
    assert r.hincrby(b"h", b"n", 5) == 5 and r.hincrby(b"h", b"n", -7) == -2
    assert r.hincrbyfloat(b"h", b"fl", 1.5) == 1.5
    assert r.hincrbyfloat(b"h", b"fl", 0.1) == pytest.approx(1.6)
    assert r.hget(b"h", b"fl") == b"1.6"
    assert r.hdel(b"h", b"a", b"a", b"zz", b"b") == 2
    assert r.hdel(b"nokey", b"a") == 0
    # removing the last field deletes the key
    assert r.hdel(b"new", b"f", b"g") == 1 and r.exists(b"new") == 0
    assert r.object("encoding", b"h") == b"listpack"
    assert r.type(b"h") == b"hash"
    # binary-safe fields and values
    assert r.hset(b"bin", b"\x00\r\n", b"\xff\x00") == 1
    assert r.hget(b"bin", b"\x00\r\n") == b"\xff\x00"


def test_replies_and_errors_match_reference(surge_server, redis_ref_server):
    """Edge replies and error texts, byte for byte, in RESP2 and RESP3."""
    long_field = b"F" * 70
    cases = [
        [b"HSET", b"h", b"f"], [b"HSET", b"h", b"f", b"v", b"g"], [b"HSET", b"h"],
        [b"HMSET", b"h", b"f"], [b"HMSET", b"h", b"f", b"v", b"g"], [b"HSETNX", b"h", b"f"],
        [b"HSET", b"h", b"f", b"v", b"n", b"10", b"fl", b"1.5", b"s", b"abc"],
        [b"HMSET", b"h", b"f", b"v2"], [b"HSETNX", b"h", b"f", b"v3"],
        [b"HGET", b"h"], [b"HGET", b"h", b"f", b"x"], [b"HMGET", b"h"],
        [b"HINCRBY", b"h", b"s", b"1"], [b"HINCRBY", b"h", b"fl", b"1"],
        [b"HINCRBY", b"h", b"n", b"abc"], [b"HINCRBY", b"str", b"n", b"abc"],
        [b"HINCRBY", b"h", b"n", b"9223372036854775807"],
        [b"HINCRBY", b"h", b"n", b"-9223372036854775808"],
        [b"HINCRBY", b"h", b"n", b"9223372036854775797"],
        [b"HINCRBY", b"h", b"n", b"1"], [b"HINCRBY", b"h", b"n", b"-9223372036854775807"],
        [b"HINCRBY", b"h", b"n", b"-9223372036854775807"],
        [b"HINCRBY", b"h", b"n", b"9223372036854775808"], [b"HINCRBY", b"h", b"n", b" 1"],
        [b"HINCRBY", b"h", b"big", b"9223372036854775807"], [b"HINCRBY", b"h", b"big", b"1"],
        [b"HINCRBY", b"h", b"big", b"-1"],
        [b"HINCRBYFLOAT", b"h", b"s", b"1"], [b"HINCRBYFLOAT", b"h", b"fl", b"abc"],
        [b"HINCRBYFLOAT", b"h", b"fl", b"inf"], [b"HINCRBYFLOAT", b"h", b"fl", b"-inf"],
        [b"HINCRBYFLOAT", b"h", b"fl", b"nan"], [b"HINCRBYFLOAT", b"h", b"fl", b"1e5000"],
        [b"HINCRBYFLOAT", b"nf", b"x", b"inf"], [b"EXISTS", b"nf"],
        [b"HINCRBYFLOAT", b"h", b"fl", b"1.5e3"], [b"HINCRBYFLOAT", b"h", b"fl", b"-0.1"],
        [b"HINCRBYFLOAT", b"hf", b"fl", b"1e308"], [b"HINCRBYFLOAT", b"hf", b"fl", b"1e308"],
        [b"HINCRBYFLOAT", b"hf", b"fl", b"-4e308"], [b"HGET", b"hf", b"fl"],
        [b"HINCRBYFLOAT", b"hf", b"g", b"5e-324"], [b"HINCRBYFLOAT", b"hf", b"g", b"1e-20"],
        [b"HINCRBYFLOAT", b"h", b"n", b"0.5"], [b"HINCRBYFLOAT", b"h", b"new", b"3.0e0"],
        [b"HINCRBYFLOAT", b"h", b"z", b".5"], [b"HINCRBYFLOAT", b"h", b"z", b"-.5"],
        [b"HINCRBYFLOAT", b"h", b"z", b" 1"], [b"HINCRBYFLOAT", b"h", b"z", b"0x10"],
        [b"HINCRBYFLOAT", b"h", b"big", b"1"],
        [b"HGETALL", b"h"], [b"HKEYS", b"h"], [b"HVALS", b"h"], [b"HLEN", b"h"],
        # missing key / missing field
        [b"HGET", b"nokey", b"f"], [b"HMGET", b"nokey", b"a", b"b"], [b"HLEN", b"nokey"],
        [b"HSTRLEN", b"nokey", b"f"], [b"HSTRLEN", b"h", b"nofield"], [b"HSTRLEN", b"h", b"n"],
        [b"HEXISTS", b"nokey", b"f"], [b"HKEYS", b"nokey"], [b"HVALS", b"nokey"],
        [b"HGETALL", b"nokey"], [b"HDEL", b"nokey", b"f"], [b"HRANDFIELD", b"nokey"],
        [b"HRANDFIELD", b"nokey", b"5"], [b"HRANDFIELD", b"nokey", b"-5", b"WITHVALUES"],
        [b"HRANDFIELD", b"nokey", b"0"], [b"HSCAN", b"nokey", b"0"],
        [b"HSCAN", b"nokey", b"0", b"COUNT", b"0"], [b"HSCAN", b"nokey", b"0", b"BOGUS"],
        # HRANDFIELD arguments (checked before the key is looked up)
        [b"HRANDFIELD", b"h", b"abc"], [b"HRANDFIELD", b"h", b"1.5"],
        [b"HRANDFIELD", b"h", b"-9223372036854775808"],
        [b"HRANDFIELD", b"h", b"9223372036854775808"],
        [b"HRANDFIELD", b"h", b"1", b"WITHVALUE"], [b"HRANDFIELD", b"h", b"1", b"WITHVALUES", b"x"],
        [b"HRANDFIELD", b"h", b"4611686018427387904", b"WITHVALUES"],
        [b"HRANDFIELD", b"h", b"-4611686018427387904", b"withvalues"],
        [b"HRANDFIELD", b"h", b"4611686018427387903", b"WITHVALUES"],
        [b"HRANDFIELD", b"str", b"abc"], [b"HRANDFIELD", b"str", b"1", b"x"],
        [b"HRANDFIELD", b"h", b"0"], [b"HRANDFIELD", b"h", b"0", b"WITHVALUES"],
        [b"HRANDFIELD", b"h", b"100"], [b"HRANDFIELD", b"h", b"100", b"WITHVALUES"],
        [b"HRANDFIELD", b"h", b"9223372036854775807"],
        # HSCAN arguments
        [b"HSCAN", b"h", b"abc"], [b"HSCAN", b"h", b" 0"], [b"HSCAN", b"h", b"0x"],
        [b"HSCAN", b"h", b"18446744073709551616"], [b"HSCAN", b"h", b""],
        [b"HSCAN", b"h", b"-1"], [b"HSCAN", b"h", b"+7"], [b"HSCAN", b"h", b"0", b"COUNT"],
        [b"HSCAN", b"h", b"0", b"COUNT", b"0"], [b"HSCAN", b"h", b"0", b"COUNT", b"-1"],
        [b"HSCAN", b"h", b"0", b"COUNT", b"x"], [b"HSCAN", b"h", b"0", b"MATCH"],
        [b"HSCAN", b"h", b"0", b"MATCH", b"f*", b"COUNT", b"1"],
        [b"HSCAN", b"h", b"0", b"match", b"*"], [b"HSCAN", b"h", b"0", b"TYPE", b"string"],
        [b"HSCAN", b"h", b"0", b"COUNT", b"9223372036854775807"],
        [b"HSCAN", b"str", b"0"], [b"HSCAN", b"str", b"x"],
        # wrong type (after the arguments that Redis checks first)
        [b"SET", b"str", b"x"], [b"HSET", b"str", b"f", b"v"], [b"HSET", b"str", b"f"],
        [b"HMSET", b"str", b"f", b"v"], [b"HSETNX", b"str", b"f", b"v"], [b"HGET", b"str", b"f"],
        [b"HMGET", b"str", b"f"], [b"HDEL", b"str", b"f"], [b"HLEN", b"str"],
        [b"HSTRLEN", b"str", b"f"], [b"HEXISTS", b"str", b"f"], [b"HKEYS", b"str"],
        [b"HVALS", b"str"], [b"HGETALL", b"str"], [b"HINCRBY", b"str", b"f", b"1"],
        [b"HINCRBY", b"str", b"f", b"x"], [b"HINCRBYFLOAT", b"str", b"f", b"1"],
        [b"HINCRBYFLOAT", b"str", b"f", b"inf"], [b"HRANDFIELD", b"str"],
        [b"HRANDFIELD", b"str", b"3"], [b"HRANDFIELD", b"str", b"0"],
        [b"HSCAN", b"str", b"0", b"BOGUS"],
        # arity
        [b"HDEL", b"h"], [b"HLEN"], [b"HLEN", b"a", b"b"], [b"HKEYS"], [b"HGETALL", b"a", b"b"],
        [b"HINCRBY", b"h", b"f"], [b"HINCRBYFLOAT", b"h"], [b"HSTRLEN", b"h"],
        [b"HEXISTS", b"h"], [b"HRANDFIELD"], [b"HSCAN", b"h"],
        # long field through the counters converts the hash
        [b"HINCRBY", b"conv1", long_field, b"1"], [b"OBJECT", b"ENCODING", b"conv1"],
        [b"HINCRBYFLOAT", b"conv2", long_field, b"1"], [b"OBJECT", b"ENCODING", b"conv2"],
        [b"HINCRBYFLOAT", b"conv3", b"f", b"1e100"], [b"OBJECT", b"ENCODING", b"conv3"],
        [b"HGET", b"conv3", b"f"],
        [b"HDEL", b"h", b"f", b"f", b"n", b"nope"], [b"HGETALL", b"h"],
    ]
    for protocol in (2, 3):
        s, r = surge_server.resp(), redis_ref_server.resp()
        if protocol == 3:
            hello3(s)
            hello3(r)
        assert_same(s, r, b"FLUSHALL")
        for cmd in cases:
            assert_same(s, r, *cmd)


def test_encoding_conversions_match_reference(surge_server, redis_ref_server):
    s, r = surge_server.resp(), redis_ref_server.resp()
    v64, v65 = b"v" * 64, b"v" * 65

    def same(*cmd):
        return assert_same(s, r, *cmd)

    def enc(key):
        return same(b"OBJECT", b"ENCODING", key)

    same(b"FLUSHALL")
    same(b"CONFIG", b"SET", b"hash-max-listpack-entries", b"128")
    # entries: 128 fields stay packed, the 129th converts, deleting back does not
    args = [b"HSET", b"e"]
    for i in range(128):
        args += [b"f%d" % i, b"%d" % i]
    assert same(*args) == 128
    assert enc(b"e") == b"listpack"
    same(b"HGETALL", b"e")  # pack order is insertion order on both
    same(b"HSET", b"e", b"f0", b"updated")  # an update does not add a field
    assert enc(b"e") == b"listpack"
    same(b"HSETNX", b"e", b"f128", b"x")
    assert enc(b"e") == b"hashtable"
    for i in range(1, 129):
        same(b"HDEL", b"e", b"f%d" % i)
    assert enc(b"e") == b"hashtable"
    assert same(b"HGETALL", b"e") in ([b"f0", b"updated"], {b"f0": b"updated"})
    # one HSET that crosses the threshold
    args = [b"HSET", b"e2"]
    for i in range(200):
        args += [b"f%d" % i, b"x"]
    same(*args)
    assert enc(b"e2") == b"hashtable"
    # values: 64 bytes stay packed, 65 convert; fields too
    same(b"HSET", b"v", b"a", v64)
    assert enc(b"v") == b"listpack"
    same(b"HSET", b"v", b"b", v65)
    assert enc(b"v") == b"hashtable"
    same(b"HSET", b"v", b"b", b"short")
    same(b"HDEL", b"v", b"a")
    assert enc(b"v") == b"hashtable"
    same(b"HSET", b"fl", b"F" * 64, b"x")
    assert enc(b"fl") == b"listpack"
    same(b"HSET", b"fl2", b"F" * 65, b"x")
    assert enc(b"fl2") == b"hashtable"
    # HSET looks at every argument before writing: a long value later in the
    # call converts even though the first pairs are short
    same(b"HSET", b"multi", b"a", b"1", b"b", v65, b"c", b"3")
    assert enc(b"multi") == b"hashtable"
    # HSETNX on an existing field writes nothing and converts nothing
    same(b"HSET", b"nx", b"a", b"1")
    assert same(b"HSETNX", b"nx", b"a", v65) == 0
    assert enc(b"nx") == b"listpack"
    assert same(b"HSETNX", b"nx", b"b", v65) == 1
    assert enc(b"nx") == b"hashtable"
    # counters: a long result converts
    same(b"HSET", b"cnt", b"a", b"1")
    same(b"HINCRBYFLOAT", b"cnt", b"a", b"1e70")
    assert enc(b"cnt") == b"hashtable"
    # COPY keeps the encoding and the order of a packed hash
    same(b"HSET", b"src", b"z", b"1", b"y", b"2", b"x", b"3")
    same(b"COPY", b"src", b"dst")
    assert enc(b"dst") == b"listpack"
    same(b"HGETALL", b"dst")
    same(b"COPY", b"e2", b"dst2")
    assert enc(b"dst2") == b"hashtable"
    # thresholds are configuration
    same(b"CONFIG", b"SET", b"hash-max-listpack-entries", b"2")
    same(b"CONFIG", b"SET", b"hash-max-listpack-value", b"4")
    same(b"HSET", b"c1", b"a", b"1", b"b", b"2")
    assert enc(b"c1") == b"listpack"
    same(b"HSET", b"c1", b"c", b"3")
    assert enc(b"c1") == b"hashtable"
    same(b"HSET", b"c2", b"abcd", b"1234")
    assert enc(b"c2") == b"listpack"
    same(b"HSET", b"c3", b"abcde", b"1")
    assert enc(b"c3") == b"hashtable"
    same(b"HINCRBY", b"c4", b"n", b"12345")
    assert enc(b"c4") == b"hashtable"
    same(b"CONFIG", b"SET", b"hash-max-listpack-entries", b"0")
    same(b"HSET", b"c5", b"a", b"1")
    assert enc(b"c5") == b"hashtable"
    same(b"CONFIG", b"SET", b"hash-max-listpack-entries", b"128")
    same(b"CONFIG", b"SET", b"hash-max-listpack-value", b"64")


def test_default_thresholds_match_reference(surge_server, redis_ref_server):
    s, r = surge_server.resp(), redis_ref_server.resp()
    for name in (b"hash-max-listpack-entries", b"hash-max-listpack-value",
                 b"hash-max-ziplist-entries", b"hash-max-ziplist-value"):
        assert_same(s, r, b"CONFIG", b"GET", name)
    # and the encoding a default server picks at the entries threshold
    for c in (s, r):
        c.call(b"FLUSHALL")
        fill(c, b"h", 200)
    assert_same(s, r, b"OBJECT", b"ENCODING", b"h")


def test_hgetall_resp3_is_a_map(surge_server, redis_ref_server):
    s, r = surge_server.resp(), redis_ref_server.resp()
    hello3(s)
    hello3(r)
    for c in (s, r):
        c.call(b"FLUSHALL")
    assert_same(s, r, b"HSET", b"h", b"a", b"1", b"b", b"2")
    reply = assert_same(s, r, b"HGETALL", b"h")
    assert isinstance(reply, RespMap) and reply == {b"a": b"1", b"b": b"2"}
    assert assert_same(s, r, b"HGETALL", b"nokey") == {}
    assert isinstance(s.call(b"HGETALL", b"nokey"), RespMap)
    # hashtable-encoded: same map, order aside
    fill(s, b"big", 300)
    fill(r, b"big", 300)
    a, b = s.call(b"HGETALL", b"big"), r.call(b"HGETALL", b"big")
    assert isinstance(a, RespMap) and same_reply(a, b) and len(a) == 300


def _check_hrandfield(reply, hashd, count, withvalues, resp):
    """Validates one HRANDFIELD reply against the hash's content (a dict)."""
    if count is None:
        assert isinstance(reply, bytes) and reply in hashd
        return
    assert isinstance(reply, list)
    if withvalues:
        if resp == 2:
            items = pairs_of(reply)
        else:
            assert all(isinstance(x, list) and len(x) == 2 for x in reply), reply[:3]
            items = [tuple(x) for x in reply]
        for f, v in items:
            assert hashd[f] == v
        fields = [f for f, _ in items]
    else:
        assert all(isinstance(x, bytes) for x in reply)
        fields = reply
    assert all(f in hashd for f in fields)
    n = abs(count)
    if count >= 0:
        assert len(fields) == min(n, len(hashd))
        assert len(set(fields)) == len(fields), "positive count repeated a field"
    else:
        assert len(fields) == n
    return fields


@pytest.mark.parametrize("resp", [2, 3])
def test_hrandfield_properties(surge_server, resp):
    c = surge_server.resp()
    if resp == 3:
        hello3(c)
    c.call(b"FLUSHALL")
    c.call(b"CONFIG", b"SET", b"hash-max-listpack-entries", b"128")
    fill(c, b"small", 10)
    fill(c, b"large", 300)
    assert c.call(b"OBJECT", b"ENCODING", b"small") == b"listpack"
    assert c.call(b"OBJECT", b"ENCODING", b"large") == b"hashtable"
    for key, size in ((b"small", 10), (b"large", 300)):
        hashd = as_dict(c.call(b"HGETALL", key))
        assert len(hashd) == size
        counts = [None, 0, 1, 2, 3, size // 3, size // 3 + 1, size // 2, size - 1, size,
                  size + 1, LLMAX, -1, -2, -size, -3 * size]
        for count in counts:
            for withvalues in (False, True):
                if count is None and withvalues:
                    continue
                if withvalues and count == LLMAX:
                    continue
                args = [b"HRANDFIELD", key]
                if count is not None:
                    args.append(b"%d" % count)
                if withvalues:
                    args.append(b"WITHVALUES")
                for _ in range(3):
                    fields = _check_hrandfield(c.call(*args), hashd, count, withvalues, resp)
                if count is not None and count >= size:
                    assert sorted(fields) == sorted(hashd)
        # repeats happen with negative counts, every field is reachable
        many = c.call(b"HRANDFIELD", key, b"%d" % (-20 * size))
        assert len(many) == 20 * size and set(many) == set(hashd)
        singles = {c.call(b"HRANDFIELD", key) for _ in range(40 * size if size < 50 else 200)}
        if size < 50:
            assert singles == set(hashd)
        # positive samples cover the hash over a few calls
        seen = set()
        for _ in range(60):
            seen.update(c.call(b"HRANDFIELD", key, b"%d" % (size // 4 + 1)))
        assert seen == set(hashd)


def test_hrandfield_huge_negative_count_is_bounded(start_surge):
    """-2^63+1 cannot hold the server: the reply stops at the output limit."""
    srv = start_surge("--client-output-buffer-limit", "normal 1048576 0 0")
    c = srv.resp()
    fill(c, b"h", 5)
    s = srv.raw()
    s.sendall(b"*3\r\n$10\r\nHRANDFIELD\r\n$1\r\nh\r\n$20\r\n-9223372036854775807\r\n")
    started = time.monotonic()
    s.settimeout(10)
    got = 0
    try:
        while True:
            chunk = s.recv(1 << 16)
            if not chunk:
                break
            got += len(chunk)
    except (ConnectionResetError, socket.timeout):
        pass
    assert time.monotonic() - started < 10
    assert got < 8 * 1048576
    assert c.call(b"PING") == b"PONG"
    assert c.call(b"HLEN", b"h") == 5
    if is_surge(srv):
        # With replies off nothing is produced, so the loop stops at once.
        q = srv.resp()
        q.send_command(b"CLIENT", b"REPLY", b"OFF")
        q.send_command(b"HRANDFIELD", b"h", b"-9223372036854775807")
        assert q.call(b"CLIENT", b"REPLY", b"ON") == b"OK"
        assert q.call(b"PING") == b"PONG"


def _hscan_all(client, key, *opts):
    cursor, out, calls = b"0", [], 0
    while True:
        reply = client.call(b"HSCAN", key, cursor, *opts)
        assert isinstance(reply, list) and len(reply) == 2, reply
        cursor, items = reply
        assert isinstance(cursor, bytes) and len(items) % 2 == 0
        out += pairs_of(items)
        calls += 1
        assert calls < 5000, "HSCAN does not terminate"
        if cursor == b"0":
            return out, calls


def test_hscan(surge_server, redis_ref_server):
    s, r = surge_server.resp(), redis_ref_server.resp()
    for c in (s, r):
        c.call(b"FLUSHALL")
        fill(c, b"big", 700, prefix=b"user:")
        fill(c, b"big", 100, prefix=b"item:")
        fill(c, b"small", 20)
        c.call(b"HSET", b"small", b"num", b"123", b"neg", b"-5")
    # a packed hash comes back whole, with cursor 0, whatever the cursor
    for opts in ([], [b"COUNT", b"1"], [b"MATCH", b"f1*"], [b"MATCH", b"n*", b"COUNT", b"2"]):
        for cursor in (b"0", b"12345", b""):
            reply = assert_same(s, r, b"HSCAN", b"small", cursor, *opts)
            assert reply[0] == b"0"
    # a hashtable: full iterations see every matching pair exactly once
    expected = as_dict(s.call(b"HGETALL", b"big"))
    assert len(expected) == 800
    for opts in ([], [b"COUNT", b"1"], [b"COUNT", b"7"], [b"COUNT", b"1000"],
                 [b"MATCH", b"user:1?"], [b"MATCH", b"item:*", b"COUNT", b"3"],
                 [b"MATCH", b"nomatch*"], [b"match", b"*"]):
        got, calls = _hscan_all(s, b"big", *opts)
        want, _ = _hscan_all(r, b"big", *opts)
        assert dict(got) == dict(want)
        assert len(got) == len(dict(got)), "a pair was returned twice"
        for f, v in got:
            assert expected[f] == v
        if not opts:
            assert len(got) == 800
            assert calls > 10  # it really is incremental
        if opts == [b"COUNT", b"1000"]:
            assert calls <= 3
    # growing the hash during an iteration loses nothing present throughout
    cursor, seen = b"0", set()
    step = 0
    while True:
        cursor, items = s.call(b"HSCAN", b"big", cursor)
        seen.update(f for f, _ in pairs_of(items))
        step += 1
        if step < 60:
            s.call(b"HSET", b"big", b"extra:%d" % step, b"x")
        if cursor == b"0":
            break
    assert set(expected) <= seen


def test_digest_and_copy_independent_of_encoding(start_surge):
    c = start_surge("--enable-debug-command", "yes").resp()
    c.call(b"HSET", b"a", b"x", b"1", b"y", b"2", b"z", b"3")
    c.call(b"HSET", b"b", b"z", b"3", b"x", b"1", b"y", b"2")
    c.call(b"CONFIG", b"SET", b"hash-max-listpack-entries", b"0")
    c.call(b"HSET", b"c", b"y", b"2", b"z", b"3", b"x", b"1")
    c.call(b"CONFIG", b"SET", b"hash-max-listpack-entries", b"128")
    assert c.call(b"OBJECT", b"ENCODING", b"a") == b"listpack"
    assert c.call(b"OBJECT", b"ENCODING", b"c") == b"hashtable"
    da = c.call(b"DEBUG", b"DIGEST-VALUE", b"a")
    assert isinstance(da, list) and len(da) == 1 and len(da[0]) == 40, da
    assert da == c.call(b"DEBUG", b"DIGEST-VALUE", b"b") == c.call(b"DEBUG", b"DIGEST-VALUE", b"c")
    c.call(b"HSET", b"c", b"x", b"9")
    assert c.call(b"DEBUG", b"DIGEST-VALUE", b"c") != da
    # swapping a field with its value changes the digest
    c.call(b"HSET", b"d", b"1", b"x", b"2", b"y", b"3", b"z")
    assert c.call(b"DEBUG", b"DIGEST-VALUE", b"d") != da
    assert c.call(b"COPY", b"c", b"c2") == 1
    assert c.call(b"OBJECT", b"ENCODING", b"c2") == b"hashtable"
    assert c.call(b"DEBUG", b"DIGEST-VALUE", b"c2") == c.call(b"DEBUG", b"DIGEST-VALUE", b"c")
    c.call(b"HSET", b"c2", b"new", b"1")
    assert c.call(b"HLEN", b"c") == 3 and c.call(b"HLEN", b"c2") == 4


def test_memory_usage_grows_with_the_hash(surge):
    surge.hset(b"h", b"a", b"1")
    small = surge.memory_usage(b"h")
    surge.hset(b"h", mapping={b"f%d" % i: b"x" * 30 for i in range(600)})
    assert surge.object("encoding", b"h") == b"hashtable"
    assert surge.memory_usage(b"h") > small + 600 * 30


# ---------------------------------------------------------------------------
# differential stream
# ---------------------------------------------------------------------------
HKEYS = [b"h0", b"h1", b"h2", b"{h}big", b"bin\x00h"]
STRKEY = b"str"
KEYS = HKEYS + [STRKEY, b"missing"]
FIELDS = [b"f%d" % i for i in range(10)] + [b"", b"\x00", b"caf\xc3\xa9", b"123", b"-5",
                                           b"a b", b"F" * 64, b"G" * 65]
INT_EDGE = [b"9223372036854775807", b"-9223372036854775808", b"9223372036854775806",
            b"-9223372036854775807", b"9223372036854775808", b"4611686018427387904"]
INT_BAD = [b"+1", b"01", b"-0", b" 1", b"1 ", b"1.0", b"", b"abc", b"1e3"]
FLOATS = [b"3.14", b"-0.5", b"1e3", b"1.5e-3", b"0.1", b"-1e10", b"10.50", b".5", b"1.",
          b"0", b"-0", b"1e400", b"inf", b"-inf", b"nan", b"0x10", b" 1", b"17.4e100",
          b"1e308", b"-1e308", b"5e-324"]
PATTERNS = [b"*", b"f*", b"f?", b"m1*", b"*1*", b"[a-f]*", b"\\*", b"nomatch", b"[", b"m[0-4]?"]


class HashStream:
    def __init__(self, seed):
        self.rng = random.Random(seed)

    def case(self, word):
        r = self.rng.random()
        if r < 0.8:
            return word
        return word.lower() if r < 0.95 else word.capitalize()

    def key(self):
        r = self.rng.random()
        if r < 0.88:
            return self.rng.choice(HKEYS)
        return self.rng.choice([STRKEY, b"missing"])

    def field(self):
        r = self.rng.random()
        if r < 0.8:
            return self.rng.choice(FIELDS)
        return b"m%d" % self.rng.randrange(220)

    def value(self):
        r = self.rng.random()
        if r < 0.35:
            return b"%d" % self.rng.randint(-1000, 1000)
        if r < 0.42:
            return self.rng.choice(INT_EDGE + INT_BAD)
        if r < 0.55:
            return self.float_arg()
        if r < 0.6:
            return self.rng.choice([b"v" * 64, b"w" * 65, b"x" * 200])
        n = self.rng.randint(0, 12)
        return bytes(self.rng.choice(b"abcxyz \x00\xff") for _ in range(n))

    def int_arg(self):
        r = self.rng.random()
        if r < 0.75:
            return b"%d" % self.rng.randint(-100, 100)
        return self.rng.choice(INT_EDGE + INT_BAD)

    def float_arg(self):
        r = self.rng.random()
        if r < 0.45:
            return repr(round(self.rng.uniform(-1000, 1000), self.rng.randint(0, 6))).encode()
        if r < 0.6:
            return b"%d" % self.rng.randint(-50, 50)
        return self.rng.choice(FLOATS)

    def fields(self, lo=1, hi=4):
        return [self.field() for _ in range(self.rng.randint(lo, hi))]

    def gen_hset(self, name=b"HSET", big=False):
        n = self.rng.randint(20, 90) if big else self.rng.randint(1, 3)
        args = [self.case(name), self.key()]
        for _ in range(n):
            f = b"m%d" % self.rng.randrange(220) if big else self.field()
            args += [f, self.value() if not big or self.rng.random() < 0.2 else b"%d" % n]
        return args

    def gen_hdel_many(self):
        return [self.case(b"HDEL"), self.key()] + [b"m%d" % self.rng.randrange(220)
                                                  for _ in range(self.rng.randint(20, 120))]

    def gen_hrandfield(self):
        args = [self.case(b"HRANDFIELD"), self.key()]
        r = self.rng.random()
        if r < 0.2:
            return args
        args.append(self.rng.choice([b"%d" % self.rng.randint(-30, 30)] * 6
                                    + [b"%d" % self.rng.randint(-300, 300)] * 2
                                    + [b"0", b"1", b"-1", b"abc", b"1.5", b"9223372036854775807",
                                       b"-9223372036854775808", b"-9223372036854775807",
                                       b"4611686018427387904", b"-4611686018427387904",
                                       b"4611686018427387903"]))
        if r < 0.6:
            args.append(self.case(b"WITHVALUES"))
        elif r < 0.65:
            args.append(self.rng.choice([b"WITHVALUE", b"junk"]))
        return args

    @staticmethod
    def bounded(args):
        """HRANDFIELD with a huge negative count and no WITHVALUES (which
        would reject it) asks for a reply of 2^62 elements: the reference
        would produce it forever, so such a count becomes -3."""
        if args[0].upper() == b"HRANDFIELD" and len(args) == 3:
            try:
                if int(args[2]) < -1000:
                    return args[:2] + [b"-3"]
            except ValueError:
                pass
        return args

    def gen_hscan(self):
        cursor = self.rng.choice([b"0"] * 12 + [b"", b"+0", b"00", b"abc", b" 0", b"1x",
                                                b"18446744073709551616"])
        args = [self.case(b"HSCAN"), self.key(), cursor]
        if self.rng.random() < 0.5:
            args += [self.case(b"MATCH"), self.rng.choice(PATTERNS)]
        if self.rng.random() < 0.5:
            args += [self.case(b"COUNT"), self.rng.choice([b"1", b"5", b"10", b"100", b"1000",
                                                           b"0", b"-1", b"x"])]
        if self.rng.random() < 0.05:
            args.append(self.rng.choice([b"TYPE", b"BOGUS", b"COUNT"]))
        return args

    def table(self):
        c, k, f, v = self.case, self.key, self.field, self.value
        return [
            (14, lambda: self.gen_hset()),
            (1.5, lambda: self.gen_hset(big=True)),
            (3, lambda: self.gen_hset(b"HMSET")),
            (4, lambda: [c(b"HSETNX"), k(), f(), v()]),
            (8, lambda: [c(b"HGET"), k(), f()]),
            (3, lambda: [c(b"HMGET"), k()] + self.fields()),
            (6, lambda: [c(b"HDEL"), k()] + self.fields()),
            (1, self.gen_hdel_many),
            (3, lambda: [c(b"HEXISTS"), k(), f()]),
            (3, lambda: [c(b"HLEN"), k()]),
            (3, lambda: [c(b"HSTRLEN"), k(), f()]),
            (2, lambda: [c(b"HKEYS"), k()]),
            (2, lambda: [c(b"HVALS"), k()]),
            (3, lambda: [c(b"HGETALL"), k()]),
            (6, lambda: [c(b"HINCRBY"), k(), f(), self.int_arg()]),
            (6, lambda: [c(b"HINCRBYFLOAT"), k(), f(), self.float_arg()]),
            (5, self.gen_hrandfield),
            (4, self.gen_hscan),
            (3, lambda: [c(b"OBJECT"), c(b"ENCODING"), k()]),
            (1, lambda: [c(b"TYPE"), k()]),
            (1, lambda: [c(b"EXISTS"), k()]),
            (0.7, lambda: [c(b"DEL"), k()]),
            (0.7, lambda: [c(b"SET"), STRKEY, v()]),
            (0.7, lambda: [c(b"COPY"), k(), k()] + self.rng.choice([[], [c(b"REPLACE")]])),
            (0.3, lambda: [c(b"RENAME"), k(), k()]),
        ]

    def maybe_break(self, args):
        r = self.rng.random()
        if r < 0.03 and len(args) > 1:
            return args[:self.rng.randint(1, len(args) - 1)]
        if r < 0.05:
            return args + [self.rng.choice([b"junk", b"", b"WITHVALUES"])]
        return args

    def generate(self, count):
        table = self.table()
        weights = [w for w, _ in table]
        gens = [g for _, g in table]
        return [self.bounded(self.maybe_break(self.rng.choices(gens, weights=weights)[0]()))
                for _ in range(count)]


def _fmt(args):
    return " ".join(repr(a)[1:] if isinstance(a, bytes) else repr(a) for a in args)


def _short(value, limit=300):
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "...(%d chars)" % len(text)


class HashDiffer:
    def __init__(self, surge_server, ref_server, protocol):
        self.s_srv, self.r_srv = surge_server, ref_server
        self.s, self.r = surge_server.resp(), ref_server.resp()
        self.protocol = protocol
        self.history = []
        if protocol == 3:
            hello3(self.s)
            hello3(self.r)

    def fail(self, index, args, why, s_val, r_val):
        lines = ["  %5d: %s -> %s | %s" % (i, _fmt(a), _short(x, 100), _short(y, 100))
                 for i, a, x, y in self.history[-HISTORY:]]
        pytest.fail("hash differential mismatch (seed=%d, RESP%d) at index %d: %s\n"
                    "command: %s\nsurge: %s\nredis: %s\npreceding:\n%s\n"
                    "reproduce: DIFF_SEED=%d HASH_DIFF_COUNT=%d"
                    % (SEED, self.protocol, index, why, _fmt(args), _short(s_val),
                       _short(r_val), "\n".join(lines), SEED, index + 1), pytrace=False)

    def encoding(self, key):
        a = self.s.call(b"OBJECT", b"ENCODING", key)
        b = self.r.call(b"OBJECT", b"ENCODING", key)
        return a if a == b else None

    def hashes(self, key):
        return [as_dict(side.call(b"HGETALL", key)) for side in (self.s, self.r)]

    def equivalent(self, args, s_val, r_val):
        """For replies whose raw bytes differ: the documented exceptions."""
        if isinstance(s_val, RespError) or isinstance(r_val, RespError):
            return "error replies differ"
        name = args[0].upper()
        key = args[1] if len(args) > 1 else None
        if name in (b"HKEYS", b"HVALS", b"HGETALL"):
            if self.encoding(key) != b"hashtable":
                return "order differs on a packed hash"
            if isinstance(s_val, dict):
                return None if same_reply(s_val, r_val) else "maps differ"
            if not (isinstance(s_val, list) and isinstance(r_val, list)):
                return "types differ"
            if name == b"HGETALL":
                s_val, r_val = pairs_of(s_val), pairs_of(r_val)
            return None if sorted(s_val) == sorted(r_val) else "contents differ"
        if name == b"HSCAN":
            if self.encoding(key) != b"hashtable":
                return "HSCAN of a packed hash differs"
            opts = args[3:]
            a, _ = _hscan_all(self.s, key, *opts)
            b, _ = _hscan_all(self.r, key, *opts)
            return None if dict(a) == dict(b) else "full HSCAN iterations differ"
        if name == b"HRANDFIELD":
            if type(s_val) is not type(r_val):
                return "types differ"
            if isinstance(s_val, list) and len(s_val) != len(r_val):
                return "lengths differ"
            count = int(args[2]) if len(args) > 2 else None
            withvalues = len(args) > 3
            for side_val, hashd in zip((s_val, r_val), self.hashes(key)):
                try:
                    fields = _check_hrandfield(side_val, hashd, count, withvalues,
                                               self.protocol)
                except AssertionError as exc:
                    return "HRANDFIELD reply invalid: %r" % (exc,)
                if count is not None and count >= len(hashd) and \
                        sorted(fields) != sorted(hashd):
                    return "HRANDFIELD with count >= size is not the whole hash"
            return None
        return "replies differ"

    def run(self, index, args):
        s_val, s_raw = self.s.call_frame(*args)
        r_val, r_raw = self.r.call_frame(*args)
        if s_raw != r_raw:
            why = self.equivalent(args, s_val, r_val)
            if why:
                self.fail(index, args, why, s_raw, r_raw)
        self.history.append((index, args, s_val, r_val))
        del self.history[:-HISTORY]

    def final_check(self, index):
        for key in KEYS:
            for cmd in ([b"TYPE", key], [b"OBJECT", b"ENCODING", key], [b"HLEN", key]):
                self.run(index, cmd)
            if self.s.call(b"TYPE", key) == b"hash":
                self.run(index, [b"HGETALL", key])


def _run_hash_differential(surge_server, redis_ref_server, protocol):
    stream = HashStream(SEED).generate(COUNT)
    differ = HashDiffer(surge_server, redis_ref_server, protocol)
    for side in (differ.s, differ.r):
        assert side.call(b"FLUSHALL") == b"OK"
        # a threshold the stream's hashes cross (whatever the default)
        assert side.call(b"CONFIG", b"SET", b"hash-max-listpack-entries", b"128") == b"OK"
    started = time.monotonic()
    for index, args in enumerate(stream):
        differ.run(index, args)
    differ.final_check(len(stream))
    surge_server.check_alive()
    elapsed = time.monotonic() - started
    assert elapsed < 30, "hash differential run took %.1f s" % elapsed


def test_hash_stream_is_deterministic_and_complete():
    a = HashStream(SEED).generate(400)
    assert a == HashStream(SEED).generate(400)
    names = {args[0].upper() for args in HashStream(SEED).generate(COUNT)}
    for name in (b"HSET", b"HMSET", b"HSETNX", b"HGET", b"HMGET", b"HDEL", b"HEXISTS",
                 b"HLEN", b"HSTRLEN", b"HKEYS", b"HVALS", b"HGETALL", b"HINCRBY",
                 b"HINCRBYFLOAT", b"HRANDFIELD", b"HSCAN"):
        assert name in names


def test_hash_differential_resp2(surge_server, redis_ref_server):
    _run_hash_differential(surge_server, redis_ref_server, 2)


def test_hash_differential_resp3(surge_server, redis_ref_server):
    _run_hash_differential(surge_server, redis_ref_server, 3)


def test_hash_differential_reaches_both_encodings(surge_server, redis_ref_server):
    """The default stream really exercises conversions (guards the generator)."""
    stream = HashStream(SEED).generate(COUNT)
    differ = HashDiffer(surge_server, redis_ref_server, 2)
    for side in (differ.s, differ.r):
        side.call(b"FLUSHALL")
        side.call(b"CONFIG", b"SET", b"hash-max-listpack-entries", b"128")
    encodings = set()
    for index, args in enumerate(stream):
        differ.run(index, args)
        if index % 50 == 0:
            for key in HKEYS:
                encodings.add(differ.encoding(key))
    assert {b"listpack", b"hashtable"} <= encodings
