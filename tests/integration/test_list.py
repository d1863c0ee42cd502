"""Integration tests for the list commands (LPUSH ... LMPOP) and the quicklist.

Three kinds of tests:

* focused tests of replies, error texts and RESP2/RESP3 null shapes, with
  the expected bytes written out (they are Redis 7.0.15's);
* differential tests: a seeded random stream of list commands (plus a
  string key for WRONGTYPE, DEL/COPY/RENAME/OBJECT ENCODING) is sent to Surge
  and to the reference redis-server and every reply is compared byte for
  byte, over RESP2 and RESP3 and under several list-max-listpack-size
  settings (which change Surge's node layout but no reply);
* big-list tests that drive the quicklist node logic (splits on LINSERT and
  LSET, merges on LREM, oversized elements, index walks) on lists of
  thousands of elements against the reference.

A build with -DSURGE_LIST_CHECK verifies the quicklist invariants after
every list command; point SURGE_SERVER at such a build to run these tests
with the checks on.

Environment: DIFF_SEED (default 1) seeds the streams.  Every test here also
passes against the reference itself (SURGE_SERVER=/usr/bin/redis-server),
except the DEBUG DIGEST-VALUE one, which is skipped there.
"""

import os
import random
import time

import pytest

from resp_client import RespClient, RespError, encode_command

SEED = int(os.environ.get("DIFF_SEED", "1"))
STREAM_LEN = 2000

NOT_INT = b"ERR value is not an integer or out of range"
SYNTAX = b"ERR syntax error"
WRONGTYPE = b"WRONGTYPE Operation against a key holding the wrong kind of value"
POSITIVE = b"ERR value is out of range, must be positive"
RANK_ZERO = (b"ERR RANK can't be zero: use 1 to start from the first match, 2 from the "
             b"second ... or use negative to start from the end of the list")
NUMKEYS = b"ERR numkeys should be greater than 0"
COUNT_GT0 = b"ERR count should be greater than 0"
LLONG_MIN = b"-9223372036854775808"
LLONG_MAX = b"9223372036854775807"


def is_surge(srv):
    return "surge_version" in srv.client().info("server")


def arity(cmd):
    return b"ERR wrong number of arguments for '%s' command" % cmd


def frames(client, *cmds, chunk=100):
    """Pipelines the commands, `chunk` at a time (so neither side has to
    buffer without bound); returns their raw reply frames."""
    out = []
    for base in range(0, len(cmds), chunk):
        part = cmds[base:base + chunk]
        client.send_raw(b"".join(encode_command(*c) for c in part))
        out += [client.read_frame()[1] for _ in part]
    return out


def frame(client, *args):
    return client.call_frame(*args)[1]


@pytest.fixture
def raw(surge_server, surge):
    """RESP2 client on the flushed server."""
    return surge_server.resp()


@pytest.fixture
def raw3(surge_server, surge):
    """RESP3 client on the flushed server."""
    c = surge_server.resp()
    assert isinstance(c.call(b"HELLO", b"3"), dict)
    return c


# ---------------------------------------------------------------------------
# Focused tests
# ---------------------------------------------------------------------------
def test_basic_commands(surge):
    assert surge.rpush(b"l", b"a", b"b", b"c") == 3
    assert surge.lpush(b"l", b"z") == 4
    assert surge.lrange(b"l", 0, -1) == [b"z", b"a", b"b", b"c"]
    assert surge.llen(b"l") == 4
    assert surge.lindex(b"l", -1) == b"c"
    assert surge.lindex(b"l", 4) is None
    assert surge.lset(b"l", 1, b"A") is True
    assert surge.linsert(b"l", "BEFORE", b"b", b"x") == 5
    assert surge.linsert(b"l", "after", b"c", b"y") == 6
    assert surge.linsert(b"l", "after", b"nope", b"y") == -1
    assert surge.lrange(b"l", 0, -1) == [b"z", b"A", b"x", b"b", b"c", b"y"]
    assert surge.lpos(b"l", b"b") == 3
    assert surge.lrem(b"l", 0, b"x") == 1
    assert surge.ltrim(b"l", 1, -2) is True
    assert surge.lrange(b"l", 0, -1) == [b"A", b"b", b"c"]
    assert surge.lpop(b"l") == b"A"
    assert surge.rpop(b"l") == b"c"
    assert surge.rpop(b"l") == b"b"
    assert surge.exists(b"l") == 0
    assert surge.lpushx(b"l", b"a") == 0
    assert surge.rpushx(b"l", b"a") == 0
    assert surge.exists(b"l") == 0
    assert surge.type(b"missing") == b"none"
    surge.rpush(b"l", b"1")
    assert surge.type(b"l") == b"list"
    assert surge.object("encoding", b"l") == b"quicklist"


def test_binary_safe_elements(surge):
    vals = [b"", b"\x00", b"a\r\nb", bytes(range(256)), b"\xff" * 1000]
    assert surge.rpush(b"bin\x00key", *vals) == len(vals)
    assert surge.lrange(b"bin\x00key", 0, -1) == vals
    assert surge.lpos(b"bin\x00key", b"\x00") == 1
    assert surge.lrem(b"bin\x00key", 1, b"") == 1
    assert surge.lindex(b"bin\x00key", 0) == b"\x00"


def test_pop_reply_shapes_resp2(raw):
    assert frame(raw, b"LPOP", b"nokey") == b"$-1\r\n"
    assert frame(raw, b"LPOP", b"nokey", b"0") == b"*-1\r\n"
    assert frame(raw, b"RPOP", b"nokey", b"3") == b"*-1\r\n"
    assert frame(raw, b"RPUSH", b"l", b"a", b"b", b"c") == b":3\r\n"
    assert frame(raw, b"LPOP", b"l", b"0") == b"*0\r\n"
    assert frame(raw, b"LPOP", b"l", b"1") == b"*1\r\n$1\r\na\r\n"
    assert frame(raw, b"RPOP", b"l", b"5") == b"*2\r\n$1\r\nc\r\n$1\r\nb\r\n"
    assert frame(raw, b"EXISTS", b"l") == b":0\r\n"
    assert frame(raw, b"LMPOP", b"1", b"nokey", b"LEFT") == b"*-1\r\n"
    assert frame(raw, b"LPOS", b"nokey", b"a") == b"$-1\r\n"
    assert frame(raw, b"LPOS", b"nokey", b"a", b"COUNT", b"0") == b"*0\r\n"
    assert frame(raw, b"LINDEX", b"nokey", b"0") == b"$-1\r\n"
    assert frame(raw, b"LRANGE", b"nokey", b"0", b"-1") == b"*0\r\n"
    assert frame(raw, b"LMOVE", b"nokey", b"x", b"LEFT", b"LEFT") == b"$-1\r\n"
    assert frame(raw, b"RPOPLPUSH", b"nokey", b"x") == b"$-1\r\n"


def test_pop_reply_shapes_resp3(raw3):
    assert frame(raw3, b"LPOP", b"nokey") == b"_\r\n"
    assert frame(raw3, b"LPOP", b"nokey", b"0") == b"_\r\n"
    assert frame(raw3, b"RPOP", b"nokey", b"2") == b"_\r\n"
    assert frame(raw3, b"RPUSH", b"l", b"a", b"b") == b":2\r\n"
    assert frame(raw3, b"RPOP", b"l", b"0") == b"*0\r\n"
    assert frame(raw3, b"LMPOP", b"2", b"nokey", b"l", b"RIGHT", b"COUNT", b"9") == (
        b"*2\r\n$1\r\nl\r\n*2\r\n$1\r\nb\r\n$1\r\na\r\n")
    assert frame(raw3, b"LMPOP", b"1", b"nokey", b"LEFT") == b"_\r\n"
    assert frame(raw3, b"LPOS", b"nokey", b"a") == b"_\r\n"
    assert frame(raw3, b"LINDEX", b"nokey", b"0") == b"_\r\n"
    assert frame(raw3, b"LMOVE", b"nokey", b"x", b"LEFT", b"LEFT") == b"_\r\n"


def test_error_texts(raw):
    raw.call(b"RPUSH", b"l", b"a", b"b", b"a")
    raw.call(b"SET", b"s", b"v")
    cases = [
        ([b"LPOP", b"l", b"-1"], POSITIVE),
        ([b"LPOP", b"l", b"abc"], POSITIVE),
        ([b"RPOP", b"nokey", b"-5"], POSITIVE),
        ([b"LPOP", b"l", b"1", b"2"], arity(b"lpop")),
        ([b"RPOP", b"l", b"1", b"2"], arity(b"rpop")),
        ([b"LPUSH", b"l"], arity(b"lpush")),
        ([b"LSET", b"nokey", b"0", b"x"], b"ERR no such key"),
        ([b"LSET", b"l", b"3", b"x"], b"ERR index out of range"),
        ([b"LSET", b"l", b"-4", b"x"], b"ERR index out of range"),
        ([b"LSET", b"l", b"x", b"x"], NOT_INT),
        ([b"LINDEX", b"l", b"1.5"], NOT_INT),
        ([b"LRANGE", b"nokey", b"a", b"1"], NOT_INT),
        ([b"LTRIM", b"nokey", b"0", b"9223372036854775808"], NOT_INT),
        ([b"LREM", b"nokey", b"x", b"a"], NOT_INT),
        ([b"LINSERT", b"nokey", b"MIDDLE", b"a", b"b"], SYNTAX),
        ([b"LMOVE", b"l", b"x", b"UP", b"LEFT"], SYNTAX),
        ([b"LMOVE", b"l", b"x", b"LEFT", b"DOWN"], SYNTAX),
        ([b"LPOS", b"l", b"a", b"RANK", b"0"], RANK_ZERO),
        ([b"LPOS", b"l", b"a", b"RANK", b"x"], NOT_INT),
        ([b"LPOS", b"l", b"a", b"COUNT", b"-1"], b"ERR COUNT can't be negative"),
        ([b"LPOS", b"l", b"a", b"COUNT", b"x"], b"ERR COUNT can't be negative"),
        ([b"LPOS", b"l", b"a", b"MAXLEN", b"-1"], b"ERR MAXLEN can't be negative"),
        ([b"LPOS", b"l", b"a", b"RANK"], SYNTAX),
        ([b"LPOS", b"l", b"a", b"BOGUS", b"1"], SYNTAX),
        ([b"LMPOP", b"0", b"l", b"LEFT"], NUMKEYS),
        ([b"LMPOP", b"-1", b"l", b"LEFT"], NUMKEYS),
        ([b"LMPOP", b"x", b"l", b"LEFT"], NUMKEYS),
        ([b"LMPOP", b"2", b"l", b"LEFT"], SYNTAX),
        ([b"LMPOP", LLONG_MAX, b"l", b"LEFT"], SYNTAX),
        ([b"LMPOP", b"1", b"l", b"UP"], SYNTAX),
        ([b"LMPOP", b"1", b"l", b"LEFT", b"COUNT"], SYNTAX),
        ([b"LMPOP", b"1", b"l", b"LEFT", b"COUNT", b"0"], COUNT_GT0),
        ([b"LMPOP", b"1", b"l", b"LEFT", b"COUNT", b"x"], COUNT_GT0),
        ([b"LMPOP", b"1", b"l", b"LEFT", b"COUNT", b"1", b"COUNT", b"1"], SYNTAX),
        ([b"LMPOP", b"1", b"l"], arity(b"lmpop")),
        ([b"LPUSH", b"s", b"a"], WRONGTYPE),
        ([b"LPUSHX", b"s", b"a"], WRONGTYPE),
        ([b"LLEN", b"s"], WRONGTYPE),
        ([b"LRANGE", b"s", b"0", b"1"], WRONGTYPE),
        ([b"LINDEX", b"s", b"x"], WRONGTYPE),  # type is checked before the index
        ([b"LPOS", b"s", b"a"], WRONGTYPE),
        ([b"LPOP", b"s"], WRONGTYPE),
        ([b"LMOVE", b"s", b"l", b"LEFT", b"LEFT"], WRONGTYPE),
        ([b"LMOVE", b"l", b"s", b"LEFT", b"LEFT"], WRONGTYPE),
        ([b"RPOPLPUSH", b"l", b"s"], WRONGTYPE),
        ([b"LMPOP", b"2", b"nokey", b"s", b"LEFT"], WRONGTYPE),
    ]
    for args, err in cases:
        reply = raw.call(*args)
        assert isinstance(reply, RespError), (args, reply)
        assert reply.message == err, (args, reply.message)
    # nothing above changed the lists
    assert raw.call(b"LRANGE", b"l", b"0", b"-1") == [b"a", b"b", b"a"]
    assert raw.call(b"GET", b"s") == b"v"
    # a missing key wins over a bad index for LINDEX, a bad index wins for LSET
    assert raw.call(b"LINDEX", b"nokey", b"x") is None
    assert raw.call(b"LTRIM", b"nokey", b"0", b"1") == b"OK"
    assert raw.call(b"LREM", b"nokey", b"0", b"a") == 0
    assert raw.call(b"LINSERT", b"nokey", b"BEFORE", b"a", b"b") == 0
    assert raw.call(b"EXISTS", b"nokey") == 0
    # LMOVE from a missing source does not look at the destination's type
    assert raw.call(b"LMOVE", b"nokey", b"s", b"LEFT", b"LEFT") is None


def test_index_edges(raw):
    raw.call(b"RPUSH", b"l", b"a", b"b", b"c", b"d")
    assert raw.call(b"LINDEX", b"l", LLONG_MIN) is None
    assert raw.call(b"LINDEX", b"l", LLONG_MAX) is None
    assert raw.call(b"LINDEX", b"l", b"-4") == b"a"
    assert raw.call(b"LINDEX", b"l", b"-5") is None
    assert raw.call(b"LRANGE", b"l", LLONG_MIN, LLONG_MAX) == [b"a", b"b", b"c", b"d"]
    assert raw.call(b"LRANGE", b"l", b"2", b"1") == []
    assert raw.call(b"LRANGE", b"l", b"-100", b"-4") == [b"a"]
    assert raw.call(b"LRANGE", b"l", b"4", b"10") == []
    assert raw.call(b"LSET", b"l", b"-1", b"D") == b"OK"
    assert raw.call(b"LTRIM", b"l", b"-3", LLONG_MAX) == b"OK"
    assert raw.call(b"LRANGE", b"l", b"0", b"-1") == [b"b", b"c", b"D"]
    assert raw.call(b"LTRIM", b"l", LLONG_MIN, LLONG_MIN) == b"OK"
    assert raw.call(b"EXISTS", b"l") == 0


def test_lpos_options(raw):
    raw.call(b"RPUSH", b"l", b"a", b"b", b"a", b"c", b"a", b"d", b"a")
    c = raw.call
    assert c(b"LPOS", b"l", b"a") == 0
    assert c(b"LPOS", b"l", b"a", b"RANK", b"2") == 2
    assert c(b"LPOS", b"l", b"a", b"RANK", b"-1") == 6
    assert c(b"LPOS", b"l", b"a", b"RANK", b"-2", b"COUNT", b"2") == [4, 2]
    assert c(b"LPOS", b"l", b"a", b"COUNT", b"0") == [0, 2, 4, 6]
    assert c(b"LPOS", b"l", b"a", b"COUNT", b"1", b"COUNT", b"2") == [0, 2]
    assert c(b"LPOS", b"l", b"a", b"RANK", b"2", b"COUNT", b"2", b"MAXLEN", b"3") == [2]
    assert c(b"LPOS", b"l", b"a", b"RANK", b"-1", b"MAXLEN", b"2") == 6
    assert c(b"LPOS", b"l", b"d", b"MAXLEN", b"5") is None
    assert c(b"LPOS", b"l", b"zz", b"COUNT", b"3") == []
    assert c(b"LPOS", b"l", b"a", b"RANK", b"9") is None
    assert c(b"LPOS", b"l", b"a", b"MAXLEN", LLONG_MAX) == 0
    # Redis 7.0 quirks: -LLONG_MIN wraps, so the search runs from the tail
    # and COUNT never stops it.
    assert c(b"LPOS", b"l", b"a", b"RANK", LLONG_MIN) == 6
    assert c(b"LPOS", b"l", b"a", b"RANK", LLONG_MIN, b"COUNT", b"1") == [6, 4, 2, 0]
    assert c(b"LPOS", b"l", b"a", b"RANK", b"-9223372036854775807", b"COUNT", b"2") == []


def test_lrem_directions(raw):
    raw.call(b"RPUSH", b"l", *[b"a", b"x", b"a", b"y", b"a", b"z", b"a"])
    assert raw.call(b"LREM", b"l", b"2", b"a") == 2
    assert raw.call(b"LRANGE", b"l", b"0", b"-1") == [b"x", b"y", b"a", b"z", b"a"]
    assert raw.call(b"LREM", b"l", b"-1", b"a") == 1
    assert raw.call(b"LRANGE", b"l", b"0", b"-1") == [b"x", b"y", b"a", b"z"]
    raw.call(b"RPUSH", b"l", b"a", b"a")
    assert raw.call(b"LREM", b"l", LLONG_MIN, b"a") == 3  # every match
    assert raw.call(b"LREM", b"l", LLONG_MAX, b"nope") == 0
    assert raw.call(b"LREM", b"l", b"0", b"x") == 1
    assert raw.call(b"LRANGE", b"l", b"0", b"-1") == [b"y", b"z"]
    assert raw.call(b"LREM", b"l", b"0", b"y") == 1
    assert raw.call(b"LREM", b"l", b"-1", b"z") == 1
    assert raw.call(b"EXISTS", b"l") == 0


def test_lmove_variants(raw):
    c = raw.call
    c(b"RPUSH", b"l", b"1", b"2", b"3")
    assert c(b"LMOVE", b"l", b"l", b"LEFT", b"RIGHT") == b"1"  # rotation
    assert c(b"LRANGE", b"l", b"0", b"-1") == [b"2", b"3", b"1"]
    assert c(b"RPOPLPUSH", b"l", b"l") == b"1"
    assert c(b"LRANGE", b"l", b"0", b"-1") == [b"1", b"2", b"3"]
    assert c(b"LMOVE", b"l", b"d", b"RIGHT", b"LEFT") == b"3"
    assert c(b"LMOVE", b"l", b"d", b"left", b"right") == b"1"
    assert c(b"LRANGE", b"d", b"0", b"-1") == [b"3", b"1"]
    assert c(b"RPOPLPUSH", b"l", b"d") == b"2"
    assert c(b"EXISTS", b"l") == 0  # the emptied source is deleted
    assert c(b"LRANGE", b"d", b"0", b"-1") == [b"2", b"3", b"1"]
    c(b"DEL", b"d")
    c(b"RPUSH", b"one", b"x")
    assert c(b"LMOVE", b"one", b"one", b"RIGHT", b"LEFT") == b"x"  # same key, one element
    assert c(b"LRANGE", b"one", b"0", b"-1") == [b"x"]
    c(b"SET", b"s", b"v")
    assert isinstance(c(b"LMOVE", b"one", b"s", b"LEFT", b"LEFT"), RespError)
    assert c(b"LRANGE", b"one", b"0", b"-1") == [b"x"]  # untouched on WRONGTYPE


def test_lmpop(raw):
    c = raw.call
    c(b"RPUSH", b"b", b"1", b"2", b"3")
    assert c(b"LMPOP", b"3", b"a", b"b", b"c", b"LEFT") == [b"b", [b"1"]]
    assert c(b"LMPOP", b"2", b"a", b"b", b"right", b"count", b"10") == [b"b", [b"3", b"2"]]
    assert c(b"EXISTS", b"b") == 0
    assert c(b"LMPOP", b"2", b"a", b"b", b"RIGHT") is None
    c(b"RPUSH", b"a", b"x")
    c(b"SET", b"s", b"v")
    # keys are visited in order: a list before the wrong-typed key wins
    assert c(b"LMPOP", b"2", b"a", b"s", b"LEFT") == [b"a", [b"x"]]


def test_empty_lists_are_deleted(raw):
    c = raw.call
    for cmd in ([b"LPOP", b"l"], [b"RPOP", b"l", b"9"], [b"LTRIM", b"l", b"5", b"9"],
                [b"LREM", b"l", b"0", b"v"], [b"LMPOP", b"1", b"l", b"LEFT", b"COUNT", b"5"],
                [b"LMOVE", b"l", b"other", b"LEFT", b"LEFT"]):
        c(b"DEL", b"other")
        assert c(b"RPUSH", b"l", b"v") == 1
        c(*cmd)
        assert c(b"EXISTS", b"l") == 0, cmd
        assert c(b"TYPE", b"l") == b"none"


def test_encoding_is_always_quicklist(start_surge):
    srv = start_surge("--list-max-listpack-size", "4")
    c = srv.resp()
    c.call(b"RPUSH", b"small", b"a")
    c.call(b"RPUSH", b"big", *[b"%d" % i for i in range(1000)])
    c.call(b"RPUSH", b"huge", b"x" * 200000)
    for k in (b"small", b"big", b"huge"):
        assert c.call(b"OBJECT", b"ENCODING", k) == b"quicklist"
    assert c.call(b"CONFIG", b"SET", b"list-max-listpack-size", b"-5") == b"OK"
    c.call(b"RPUSH", b"new", *[b"%d" % i for i in range(1000)])
    assert c.call(b"OBJECT", b"ENCODING", b"new") == b"quicklist"
    assert c.call(b"LRANGE", b"big", b"0", b"-1") == c.call(b"LRANGE", b"new", b"0", b"-1")
    assert c.call(b"CONFIG", b"SET", b"list-compress-depth", b"2") == b"OK"
    c.call(b"LPUSH", b"big", b"z")
    assert c.call(b"LINDEX", b"big", b"0") == b"z"


def test_digest_is_order_dependent_and_copy_is_deep(surge_server, surge):
    if not is_surge(surge_server):
        pytest.skip("DEBUG DIGEST-VALUE values are implementation-specific")
    c = surge_server.resp()
    c.call(b"RPUSH", b"a", b"x", b"y", b"z")
    c.call(b"RPUSH", b"b", b"z", b"y", b"x")
    c.call(b"RPUSH", b"c", b"xy", b"z")
    c.call(b"RPUSH", b"d", b"x", b"y", b"z")
    da, db, dc, dd = (c.call(b"DEBUG", b"DIGEST-VALUE", k)[0] for k in (b"a", b"b", b"c", b"d"))
    assert da == dd
    assert da != db and da != dc
    # the same content laid out in different nodes digests the same
    c.call(b"RPUSH", b"big1", *[b"%d" % i for i in range(3000)])
    c.send_raw(b"".join(encode_command(b"LPUSH", b"big2", b"%d" % i) for i in reversed(range(3000))))
    for _ in range(3000):
        c.read_reply()
    assert (c.call(b"DEBUG", b"DIGEST-VALUE", b"big1") ==
            c.call(b"DEBUG", b"DIGEST-VALUE", b"big2"))
    # COPY is a deep copy
    assert c.call(b"COPY", b"big1", b"big3") == 1
    c.call(b"LSET", b"big3", b"1500", b"changed")
    c.call(b"LTRIM", b"big3", b"0", b"2000")
    assert c.call(b"LINDEX", b"big1", b"1500") == b"1500"
    assert c.call(b"LLEN", b"big1") == 3000
    assert c.call(b"LINDEX", b"big3", b"1500") == b"changed"


def test_memory_usage_grows(surge):
    surge.rpush(b"l", b"a")
    small = surge.memory_usage(b"l")
    surge.rpush(b"l", *[b"v%06d" % i for i in range(20000)])
    big = surge.memory_usage(b"l")
    assert small > 0 and big > small + 20000 * 8


def test_large_elements(surge):
    big = b"B" * (1 << 20)
    mid = b"M" * 70000  # bigger than the largest node size (64 KB)
    surge.rpush(b"l", *[b"%d" % i for i in range(3000)])
    surge.lset(b"l", 1500, big)
    surge.linsert(b"l", "BEFORE", b"700", mid)
    surge.linsert(b"l", "AFTER", b"700", mid)
    surge.lpush(b"l", big)
    surge.rpush(b"l", mid)
    model = [b"%d" % i for i in range(3000)]
    model[1500] = big
    model[700:701] = [mid, b"700", mid]
    model = [big] + model + [mid]
    assert surge.llen(b"l") == len(model)
    assert surge.lrange(b"l", 0, -1) == model
    assert surge.lindex(b"l", 1503) == big
    assert surge.lpos(b"l", mid, count=0) == [701, 703, len(model) - 1]
    assert surge.lrem(b"l", 0, mid) == 3
    assert surge.lset(b"l", 1, b"small") is True
    model = [m for m in model if m != mid]
    model[1] = b"small"
    assert surge.lrange(b"l", 0, -1) == model
    assert surge.rpop(b"l") == model[-1]
    assert surge.lpop(b"l") == big


@pytest.mark.parametrize("fill", ["1", "2", "0", "-1"])
def test_model_with_small_nodes(start_surge, fill):
    """Random edits on one list under tiny node bounds, checked against a
    Python list after every step."""
    srv = start_surge("--list-max-listpack-size", fill)
    c = srv.resp()
    rng = random.Random(SEED * 31 + int(fill))
    model = []
    vals = [b"a", b"b", b"c", b"x" * 300, b"y" * 5000]
    for step in range(700):
        op = rng.randrange(8)
        v = rng.choice(vals)
        if op <= 1 or not model:
            n = rng.randint(1, 6)
            items = [rng.choice(vals) for _ in range(n)]
            if op == 0:
                c.call(b"LPUSH", b"l", *items)
                model[:0] = items[::-1]
            else:
                c.call(b"RPUSH", b"l", *items)
                model.extend(items)
        elif op == 2:
            i = rng.randrange(len(model))
            assert c.call(b"LSET", b"l", b"%d" % i, v) == b"OK"
            model[i] = v
        elif op == 3:
            pivot = rng.choice(vals)
            after = rng.random() < 0.5
            got = c.call(b"LINSERT", b"l", b"AFTER" if after else b"BEFORE", pivot, v)
            if pivot in model:
                i = model.index(pivot)
                model.insert(i + 1 if after else i, v)
                assert got == len(model)
            else:
                assert got == -1
        elif op == 4:
            cnt = rng.randint(-3, 3)
            got = c.call(b"LREM", b"l", b"%d" % cnt, v)
            idx = [i for i, x in enumerate(model) if x == v]
            if cnt > 0:
                idx = idx[:cnt]
            elif cnt < 0:
                idx = idx[cnt:]
            for i in reversed(idx):
                del model[i]
            assert got == len(idx)
        elif op == 5:
            s, e = sorted(rng.randint(-len(model) - 2, len(model) + 2) for _ in range(2))
            c.call(b"LTRIM", b"l", b"%d" % s, b"%d" % e)
            n = len(model)
            s2 = max(s + n if s < 0 else s, 0)
            e2 = e + n if e < 0 else e
            model = [] if s2 > e2 or s2 >= n else model[s2:min(e2, n - 1) + 1]
        elif op == 6:
            k = rng.randint(1, 4)
            left = rng.random() < 0.5
            got = c.call(b"LPOP" if left else b"RPOP", b"l", b"%d" % k)
            want = model[:k] if left else model[::-1][:k]
            assert got == want, step
            model = model[len(want):] if left else model[:len(model) - len(want)]
        else:
            i = rng.randrange(len(model))
            assert c.call(b"LINDEX", b"l", b"%d" % i) == model[i]
            assert c.call(b"LINDEX", b"l", b"%d" % (i - len(model))) == model[i]
        assert c.call(b"LLEN", b"l") == len(model), step
        if step % 50 == 0 or len(model) < 20:
            assert c.call(b"LRANGE", b"l", b"0", b"-1") == model, step
    assert c.call(b"LRANGE", b"l", b"0", b"-1") == model


def test_push_pop_at_both_ends_scale(surge_server, surge):
    """200k pushes and pops at both ends stay fast (O(1) each)."""
    c = surge_server.resp()
    n = 50000
    started = time.monotonic()
    batch = [(b"RPUSH", b"l", b"r%d" % i, b"s%d" % i) for i in range(n // 2)]
    batch += [(b"LPUSH", b"l", b"l%d" % i, b"m%d" % i) for i in range(n // 2)]
    for reply in frames(c, *batch):
        assert reply.startswith(b":")
    assert c.call(b"LLEN", b"l") == 2 * n
    assert c.call(b"LINDEX", b"l", b"%d" % n) == b"r0"
    assert c.call(b"LINDEX", b"l", b"%d" % (n - 1)) == b"l0"
    pops = [(b"LPOP", b"l") for _ in range(n // 2)] + [(b"RPOP", b"l") for _ in range(n // 2)]
    got = frames(c, *pops)
    assert got[0] == b"$6\r\nm24999\r\n"
    assert got[-1] == b"$6\r\nr12500\r\n"
    assert c.call(b"LLEN", b"l") == n
    elapsed = time.monotonic() - started
    assert elapsed < 20, elapsed


# ---------------------------------------------------------------------------
# Differential stream
# ---------------------------------------------------------------------------
LIST_KEYS = [b"l0", b"l1", b"l2", b"l3", b"{x}big", b"bin\x00\xffl"]
STRING_KEY = b"str"
ALL_KEYS = LIST_KEYS + [STRING_KEY, b"missing"]
SMALL_VALS = [b"a", b"b", b"c", b"", b"1", b"-1", b"x" * 40, b"\x00\xff", b"hello world",
              b"caf\xc3\xa9", b"a\r\nb"]
LONG_VALS = [b"y" * 600, b"z" * 2500, b"w" * 9000, b"v" * 70000]
INT_EDGE = [LLONG_MAX, LLONG_MIN, b"9223372036854775808", b"-9223372036854775809",
            b"4294967296", b"-2147483649"]
INT_BAD = [b"+1", b"01", b"-0", b" 1", b"1.0", b"", b"abc"]


class ListStream:
    """Deterministic list command stream from random.Random(seed)."""

    def __init__(self, seed, long_share=0.04):
        self.rng = random.Random(seed)
        self.long_share = long_share

    def case(self, word):
        r = self.rng.random()
        if r < 0.7:
            return word.upper()
        if r < 0.85:
            return word.lower()
        return bytes(ch ^ 0x20 if 65 <= ch <= 90 and self.rng.random() < 0.5 else ch
                     for ch in word.upper())

    def key(self):
        r = self.rng.random()
        if r < 0.85:
            return self.rng.choice(LIST_KEYS[:4] if r < 0.6 else LIST_KEYS)
        return self.rng.choice(ALL_KEYS)

    def val(self):
        if self.rng.random() < self.long_share:
            return self.rng.choice(LONG_VALS)
        return self.rng.choice(SMALL_VALS)

    def vals(self):
        r = self.rng.random()
        n = self.rng.randint(1, 4) if r < 0.8 else self.rng.randint(5, 60)
        return [self.val() for _ in range(n)]

    def small_int(self, lo=-12, hi=12):
        r = self.rng.random()
        if r < 0.85:
            return b"%d" % self.rng.randint(lo, hi)
        if r < 0.93:
            return self.rng.choice(INT_EDGE)
        return self.rng.choice(INT_BAD)

    def where(self):
        if self.rng.random() < 0.03:
            return self.rng.choice([b"MIDDLE", b"", b"LEFTX"])
        return self.case(self.rng.choice([b"LEFT", b"RIGHT"]))

    def gen_pop(self):
        args = [self.case(self.rng.choice([b"LPOP", b"RPOP"])), self.key()]
        r = self.rng.random()
        if r < 0.4:
            args.append(self.small_int(0, 8) if self.rng.random() < 0.9 else
                        self.rng.choice([b"-1", b"abc", LLONG_MAX]))
        elif r < 0.43:
            args += [b"1", b"2"]
        return args

    def gen_lpos(self):
        args = [self.case(b"LPOS"), self.key(), self.val()]
        opts = []
        if self.rng.random() < 0.4:
            opts += [self.case(b"RANK"), self.rng.choice(
                [b"1", b"2", b"-1", b"-2", b"3", b"0", LLONG_MIN, b"-9223372036854775807",
                 b"abc"])]
        if self.rng.random() < 0.4:
            opts += [self.case(b"COUNT"), self.rng.choice([b"0", b"1", b"2", b"5", b"-1", b"x"])]
        if self.rng.random() < 0.3:
            opts += [self.case(b"MAXLEN"), self.rng.choice([b"0", b"1", b"3", b"10", b"-2"])]
        if self.rng.random() < 0.05:
            opts.append(self.rng.choice([b"RANK", b"BOGUS", b"COUNT"]))
        if self.rng.random() < 0.05:
            self.rng.shuffle(opts)
        return args + opts

    def gen_lmpop(self):
        keys = [self.key() for _ in range(self.rng.randint(1, 3))]
        r = self.rng.random()
        if r < 0.9:
            numkeys = b"%d" % len(keys)
        else:
            numkeys = self.rng.choice([b"0", b"-1", b"%d" % (len(keys) + 1), LLONG_MAX, b"x"])
        args = [self.case(b"LMPOP"), numkeys] + keys + [self.where()]
        if self.rng.random() < 0.5:
            args += [self.case(b"COUNT"), self.rng.choice(
                [b"1", b"2", b"3", b"10", b"0", b"-1", b"abc", LLONG_MAX])]
        if self.rng.random() < 0.04:
            args += [self.case(b"COUNT"), b"1"]
        return args

    def gen_ltrim(self):
        r = self.rng.random()
        if r < 0.7:  # gentle: keep most of the list
            start = b"%d" % self.rng.randint(0, 3)
            end = b"%d" % self.rng.randint(-3, -1)
        else:
            start, end = self.small_int(-30, 30), self.small_int(-30, 30)
        return [self.case(b"LTRIM"), self.key(), start, end]

    def build_table(self):
        c, k = self.case, self.key
        return [
            (14, lambda: [c(self.rng.choice([b"LPUSH", b"RPUSH"])), k()] + self.vals()),
            (3, lambda: [c(self.rng.choice([b"LPUSHX", b"RPUSHX"])), k()] + self.vals()),
            (9, self.gen_pop),
            (4, lambda: [c(b"LLEN"), k()]),
            (6, lambda: [c(b"LRANGE"), k(), self.small_int(-30, 30), self.small_int(-30, 30)]),
            (5, lambda: [c(b"LINDEX"), k(), self.small_int(-40, 40)]),
            (4, lambda: [c(b"LSET"), k(), self.small_int(-20, 20), self.val()]),
            (5, lambda: [c(b"LINSERT"), k(), c(self.rng.choice([b"BEFORE", b"AFTER"]))
                         if self.rng.random() < 0.97 else b"AROUND", self.val(), self.val()]),
            (4, lambda: [c(b"LREM"), k(), self.small_int(-3, 3), self.val()]),
            (3, self.gen_ltrim),
            (5, self.gen_lpos),
            (4, lambda: [c(b"LMOVE"), k(), k(), self.where(), self.where()]),
            (2, lambda: [c(b"RPOPLPUSH"), k(), k()]),
            (4, self.gen_lmpop),
            (1, lambda: [c(b"DEL"), k()]),
            (1, lambda: [c(b"SET"), STRING_KEY, self.val()]),
            (1, lambda: [c(b"COPY"), k(), k()] + ([c(b"REPLACE")] if self.rng.random() < 0.5
                                                  else [])),
            (0.5, lambda: [c(b"RENAME"), k(), k()]),
            (2, lambda: [c(b"OBJECT"), c(b"ENCODING"), k()]),
            (1, lambda: [c(b"TYPE"), k()]),
            (1, lambda: [c(b"EXISTS"), k(), k()]),
        ]

    def maybe_break(self, args):
        r = self.rng.random()
        if r < 0.02 and len(args) > 1:
            return args[:self.rng.randint(1, len(args) - 1)]
        if r < 0.035:
            return args + [self.rng.choice([b"junk", b"COUNT", b"", b"1"])]
        return args

    def generate(self, count):
        table = self.build_table()
        weights = [w for w, _ in table]
        gens = [g for _, g in table]
        out = [[b"SET", STRING_KEY, b"string value"]]
        for _ in range(count):
            out.append(self.maybe_break(list(self.rng.choices(gens, weights=weights)[0]())))
        return out


def _fmt(args):
    return " ".join(repr(a[:60])[1:] + ("...(%d)" % len(a) if len(a) > 60 else "") for a in args)


def _run_stream(surge_srv, ref_srv, protocol, seed, count=STREAM_LEN, long_share=0.04):
    s, r = surge_srv.resp(), ref_srv.resp()
    if protocol == 3:
        for cl in (s, r):
            assert isinstance(cl.call(b"HELLO", b"3"), dict)
    for cl in (s, r):
        assert cl.call(b"FLUSHALL") == b"OK"
    stream = ListStream(seed, long_share).generate(count)
    # final state: every key's content, encoding and type
    for key in ALL_KEYS:
        stream += [[b"LRANGE", key, b"0", b"-1"], [b"OBJECT", b"ENCODING", key],
                   [b"TYPE", key], [b"LLEN", key]]
    history = []
    step = 200  # pipelined in batches; on a mismatch the batch is replayed one by one
    for base in range(0, len(stream), step):
        chunk = stream[base:base + step]
        got_s, got_r = frames(s, *chunk), frames(r, *chunk)
        for i, (args, fs, fr) in enumerate(zip(chunk, got_s, got_r)):
            if fs != fr:
                ctx = "\n".join("  %5d: %s" % (j, _fmt(a)) for j, a in history[-8:])
                pytest.fail("list stream mismatch (seed=%d, RESP%d) at %d\ncommand: %s\n"
                            "surge: %r\nredis: %r\npreceding:\n%s"
                            % (seed, protocol, base + i, _fmt(args), fs[:300], fr[:300], ctx),
                            pytrace=False)
            history.append((base + i, args))
            del history[:-8]
    return stream


def test_stream_is_deterministic():
    a = ListStream(SEED).generate(300)
    assert a == ListStream(SEED).generate(300)
    assert a != ListStream(SEED + 1).generate(300)
    names = {args[0].upper() for args in ListStream(SEED).generate(STREAM_LEN)}
    for name in (b"LPUSH", b"RPUSHX", b"LPOP", b"RPOP", b"LLEN", b"LRANGE", b"LINDEX", b"LSET",
                 b"LINSERT", b"LREM", b"LTRIM", b"LPOS", b"LMOVE", b"RPOPLPUSH", b"LMPOP"):
        assert name in names, name


def test_list_differential_resp2(surge_server, redis_ref_server):
    _run_stream(surge_server, redis_ref_server, 2, SEED)


def test_list_differential_resp3(surge_server, redis_ref_server):
    _run_stream(surge_server, redis_ref_server, 3, SEED + 1000)


@pytest.mark.parametrize("fill,protocol", [("3", 2), ("1", 3), ("-1", 2), ("-5", 3)])
def test_list_differential_node_sizes(start_surge, start_redis_ref, fill, protocol):
    surge_srv = start_surge("--list-max-listpack-size", fill)
    ref_srv = start_redis_ref("--list-max-listpack-size", fill)
    _run_stream(surge_srv, ref_srv, protocol, SEED + 7 * int(fill) + 100, count=1200,
                long_share=0.1)


@pytest.mark.parametrize("fill", ["4", "-2"])
def test_big_list_edits_match_reference(start_surge, start_redis_ref, fill):
    """Thousands of elements, edits everywhere (node splits on LINSERT/LSET,
    merges on LREM, walks from both ends), compared with the reference."""
    sides = [start_surge("--list-max-listpack-size", fill).resp(),
             start_redis_ref("--list-max-listpack-size", fill).resp()]
    rng = random.Random(SEED * 7 + int(fill))
    vals = [b"v%d" % i for i in range(40)] + [b"p" * 300, b"q" * 3000, b"r" * 20000]
    cmds = [[b"RPUSH", b"big"] + [rng.choice(vals[:40]) for _ in range(100)] for _ in range(40)]
    for _ in range(1500):
        n = 4000
        op = rng.random()
        idx = b"%d" % rng.randint(-n, n)
        v = rng.choice(vals)
        if op < 0.2:
            cmds.append([b"LINSERT", b"big", rng.choice([b"BEFORE", b"AFTER"]), rng.choice(vals),
                         v])
        elif op < 0.35:
            cmds.append([b"LSET", b"big", idx, v])
        elif op < 0.45:
            cmds.append([b"LREM", b"big", b"%d" % rng.randint(-3, 3), rng.choice(vals)])
        elif op < 0.6:
            cmds.append([b"LINDEX", b"big", idx])
        elif op < 0.7:
            cmds.append([b"LRANGE", b"big", idx, b"%d" % (int(idx) + rng.randint(0, 30))])
        elif op < 0.78:
            cmds.append([b"LPOS", b"big", v, b"RANK", rng.choice([b"1", b"-1", b"3", b"-3"]),
                         b"COUNT", b"5"])
        elif op < 0.86:
            cmds.append([rng.choice([b"LPUSH", b"RPUSH"]), b"big"] +
                        [rng.choice(vals) for _ in range(rng.randint(1, 20))])
        elif op < 0.92:
            cmds.append([rng.choice([b"LPOP", b"RPOP"]), b"big", b"%d" % rng.randint(1, 20)])
        elif op < 0.96:
            cmds.append([b"LMOVE", b"big", b"big", rng.choice([b"LEFT", b"RIGHT"]),
                         rng.choice([b"LEFT", b"RIGHT"])])
        else:
            cmds.append([b"LLEN", b"big"])
    cmds.append([b"LRANGE", b"big", b"0", b"-1"])
    got = [frames(side, *cmds) for side in sides]
    for i, (a, b) in enumerate(zip(*got)):
        assert a == b, "command %d %s: surge %r, redis %r" % (i, _fmt(cmds[i]), a[:200], b[:200])
