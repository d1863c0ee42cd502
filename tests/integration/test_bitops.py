"""Integration tests for the bitmap commands: SETBIT GETBIT BITCOUNT BITPOS
BITOP BITFIELD BITFIELD_RO.

Three parts:
  * focused tests of each command, with the expected values written out
    (Redis's documentation examples and hand-computed edge cases);
  * hostile input (RELIABILITY.md): offsets at 2^32 and 2^63, BITFIELD "#N"
    offsets whose product wraps, INT64_MIN/INT64_MAX ranges; the replies are
    Redis's errors, nothing is allocated;
  * a seeded differential stream against the reference redis-server over
    RESP2 and RESP3, replies compared byte for byte, then every key's value,
    TYPE and OBJECT ENCODING.

Every test here also passes against the reference implementation
(SURGE_SERVER=/usr/bin/redis-server), except where a test says which server
it is talking to: Surge refuses a BITFIELD write whose field would end past
proto-max-bulk-len, Redis 7.0 grows the string up to 7 bytes past it.

Environment:
    DIFF_SEED          seed of the stream (default 1)
    BITOPS_DIFF_COUNT  commands in the stream (default 2000)

Reproduce a failure with e.g.
    DIFF_SEED=7 BITOPS_DIFF_COUNT=1234 /usr/bin/python3 -m pytest \
        tests/integration/test_bitops.py -q -k differential
"""

import os
import random
import time

import pytest

from resp_client import RespError

SEED = int(os.environ.get("DIFF_SEED", "1"))
COUNT = int(os.environ.get("BITOPS_DIFF_COUNT", "2000"))
HISTORY = 12

I64MAX = b"9223372036854775807"
I64MIN = b"-9223372036854775808"
NOT_INT = b"ERR value is not an integer or out of range"
SYNTAX = b"ERR syntax error"
WRONGTYPE = b"WRONGTYPE Operation against a key holding the wrong kind of value"
BIT_OFFSET = b"ERR bit offset is not an integer or out of range"
BIT_VALUE = b"ERR bit is not an integer or out of range"
BIT_ARG = b"ERR The bit argument must be 1 or 0."
BF_TYPE = (b"ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not "
           b"supported but i64 is.")
BF_RO = b"ERR BITFIELD_RO only supports the GET subcommand"
BF_OVERFLOW = b"ERR Invalid OVERFLOW type specified"
NOT_ONE_KEY = b"ERR BITOP NOT must be called with a single source key."
TOO_BIG = b"ERR string exceeds maximum allowed size (proto-max-bulk-len)"


def is_surge(srv):
    return "surge_version" in srv.client().info("server")


@pytest.fixture
def raw(surge_server, surge):
    """A RESP2 client on the same (already flushed) server as ``surge``."""
    return surge_server.resp()


def err(client, *args):
    reply = client.call(*args)
    assert isinstance(reply, RespError), "%r returned %r, expected an error" % (args, reply)
    return reply.message


def used_memory(client):
    return int(client.call(b"INFO", b"memory").split(b"used_memory:")[1].split(b"\r\n")[0])


# ---------------------------------------------------------------------------
# SETBIT / GETBIT
# ---------------------------------------------------------------------------
def test_setbit_getbit(surge):
    assert surge.setbit(b"k", 7, 1) == 0
    assert surge.get(b"k") == b"\x01"
    assert surge.setbit(b"k", 7, 1) == 1
    assert surge.setbit(b"k", 0, 1) == 0
    assert surge.get(b"k") == b"\x81"
    assert surge.setbit(b"k", 7, 0) == 1
    assert surge.get(b"k") == b"\x80"
    # growing pads with zero bytes
    assert surge.setbit(b"k", 100, 1) == 0
    assert surge.strlen(b"k") == 13
    assert surge.getbit(b"k", 100) == 1
    assert surge.getbit(b"k", 99) == 0
    assert surge.getbit(b"k", 10 ** 6) == 0  # past the end
    assert surge.getbit(b"missing", 5) == 0
    assert surge.exists(b"missing") == 0
    # bits of an integer-encoded value are the bits of its decimal text
    surge.set(b"n", b"1")  # "1" = 0x31 = 00110001
    assert [surge.getbit(b"n", i) for i in range(8)] == [0, 0, 1, 1, 0, 0, 0, 1]
    assert surge.object("encoding", b"n") == b"int"
    assert surge.setbit(b"n", 6, 1) == 0
    assert surge.get(b"n") == b"3"
    assert surge.object("encoding", b"n") == b"raw"
    assert surge.object("encoding", b"k") == b"raw"


def test_setbit_getbit_errors(raw):
    raw.call(b"RPUSH", b"list", b"x")
    assert err(raw, b"SETBIT", b"k", b"-1", b"1") == BIT_OFFSET
    assert err(raw, b"SETBIT", b"k", b"abc", b"1") == BIT_OFFSET
    assert err(raw, b"SETBIT", b"k", b"", b"1") == BIT_OFFSET
    assert err(raw, b"SETBIT", b"k", b"#1", b"1") == BIT_OFFSET
    assert err(raw, b"SETBIT", b"k", b"1", b"2") == BIT_VALUE
    assert err(raw, b"SETBIT", b"k", b"1", b"-1") == BIT_VALUE
    assert err(raw, b"SETBIT", b"k", b"1", b"x") == BIT_VALUE
    # the offset is checked before the value, both before the key's type
    assert err(raw, b"SETBIT", b"list", b"x", b"2") == BIT_OFFSET
    assert err(raw, b"SETBIT", b"list", b"1", b"2") == BIT_VALUE
    assert err(raw, b"SETBIT", b"list", b"1", b"1") == WRONGTYPE
    assert err(raw, b"GETBIT", b"list", b"1") == WRONGTYPE
    assert err(raw, b"GETBIT", b"list", b"-1") == BIT_OFFSET
    assert raw.call(b"EXISTS", b"k") == 0


# ---------------------------------------------------------------------------
# BITCOUNT / BITPOS
# ---------------------------------------------------------------------------
def test_bitcount(surge, raw):
    surge.set(b"k", b"foobar")
    assert surge.bitcount(b"k") == 26
    assert surge.bitcount(b"k", 0, 0) == 4
    assert surge.bitcount(b"k", 1, 1) == 6
    assert surge.bitcount(b"k", 1, 1, "BYTE") == 6
    assert surge.bitcount(b"k", 5, 30, "BIT") == 17
    assert surge.bitcount(b"k", -2, -1) == 7
    assert surge.bitcount(b"k", -1, -2) == 0
    assert surge.bitcount(b"k", 3, 1) == 0
    assert surge.bitcount(b"k", 0, 100) == 26
    assert surge.bitcount(b"k", -100, -1) == 26
    assert surge.bitcount(b"missing") == 0
    assert raw.call(b"BITCOUNT", b"k", b"0", b"-1", b"bit") == 26
    assert err(raw, b"BITCOUNT", b"k", b"0") == SYNTAX
    assert err(raw, b"BITCOUNT", b"k", b"0", b"1", b"BITS") == SYNTAX
    assert err(raw, b"BITCOUNT", b"k", b"0", b"1", b"BIT", b"x") == SYNTAX
    assert err(raw, b"BITCOUNT", b"k", b"a", b"1") == NOT_INT
    assert err(raw, b"BITCOUNT", b"k", b"0", b"1.5") == NOT_INT
    # Redis 7.0 looks the key up first: junk ranges on a missing key are 0,
    # a negative inverted range is 0 before the unit is even read
    assert raw.call(b"BITCOUNT", b"missing", b"a", b"b") == 0
    assert raw.call(b"BITCOUNT", b"missing", b"0") == 0
    assert raw.call(b"BITCOUNT", b"k", b"-1", b"-2", b"junk") == 0
    surge.set(b"empty", b"")
    assert surge.bitcount(b"empty") == 0
    assert raw.call(b"BITCOUNT", b"empty", b"0", b"-1", b"BIT") == 0
    surge.rpush(b"list", b"x")
    assert err(raw, b"BITCOUNT", b"list") == WRONGTYPE
    assert err(raw, b"BITCOUNT", b"list", b"a") == WRONGTYPE


def test_bitpos(surge, raw):
    surge.set(b"k", b"\xff\xf0\x00")
    assert surge.bitpos(b"k", 0) == 12
    assert surge.bitpos(b"k", 1) == 0
    assert surge.bitpos(b"k", 1, 2) == -1
    assert surge.bitpos(b"k", 0, 2) == 16
    surge.set(b"k", b"\x00\xff\xf0")
    assert surge.bitpos(b"k", 1, 0) == 8
    assert surge.bitpos(b"k", 1, 2) == 16
    assert surge.bitpos(b"k", 1, 2, -1, "BYTE") == 16
    assert surge.bitpos(b"k", 1, 7, 15, "BIT") == 8
    assert surge.bitpos(b"k", 1, 7, -3, "BIT") == 8
    # a clear bit past the end: the string is zero padded on the right
    # only when no end was given
    surge.set(b"ones", b"\xff\xff")
    assert surge.bitpos(b"ones", 0) == 16
    assert surge.bitpos(b"ones", 0, 1) == 16
    assert surge.bitpos(b"ones", 0, 0, -1) == -1
    assert surge.bitpos(b"ones", 0, 0, -1, "BIT") == -1
    assert surge.bitpos(b"ones", 0, 3, 9, "BIT") == -1
    assert surge.bitpos(b"ones", 1, 3, 9, "BIT") == 3
    # a missing key is an endless run of zeros; empty ranges are -1
    assert surge.bitpos(b"missing", 0) == 0
    assert surge.bitpos(b"missing", 1) == -1
    assert raw.call(b"BITPOS", b"missing", b"0", b"junk") == 0
    assert surge.bitpos(b"k", 1, 2, 1) == -1
    surge.set(b"empty", b"")
    assert surge.bitpos(b"empty", 0) == -1
    assert surge.bitpos(b"empty", 1) == -1
    # bit ranges mask the edge bytes on both sides
    surge.set(b"m", b"\x80\x01")
    assert surge.bitpos(b"m", 1, 1, 14, "BIT") == -1
    assert surge.bitpos(b"m", 1, 1, 15, "BIT") == 15
    assert surge.bitpos(b"m", 0, 0, 0, "BIT") == -1
    assert surge.bitpos(b"m", 0, 15, 15, "BIT") == -1
    # errors, in Redis's order: bit, key type, start, unit, end
    assert err(raw, b"BITPOS", b"k", b"2") == BIT_ARG
    assert err(raw, b"BITPOS", b"k", b"x") == NOT_INT
    assert err(raw, b"BITPOS", b"k", b"1", b"x") == NOT_INT
    assert err(raw, b"BITPOS", b"k", b"1", b"x", b"0", b"BAD") == NOT_INT
    assert err(raw, b"BITPOS", b"k", b"1", b"0", b"x", b"BAD") == SYNTAX
    assert err(raw, b"BITPOS", b"k", b"1", b"0", b"x", b"BIT") == NOT_INT
    assert err(raw, b"BITPOS", b"k", b"1", b"0", b"1", b"BIT", b"x") == SYNTAX
    surge.rpush(b"list", b"x")
    assert err(raw, b"BITPOS", b"list", b"1") == WRONGTYPE
    assert err(raw, b"BITPOS", b"list", b"3") == BIT_ARG


# ---------------------------------------------------------------------------
# BITOP
# ---------------------------------------------------------------------------
def test_bitop(surge, raw):
    surge.set(b"a", b"foobar")
    surge.set(b"b", b"abcdef")
    assert surge.bitop("AND", b"d", b"a", b"b") == 6
    assert surge.get(b"d") == b"`bc`ab"
    assert surge.bitop("OR", b"d", b"a", b"b") == 6
    assert surge.get(b"d") == b"goofev"
    assert surge.bitop("XOR", b"d", b"a", b"b") == 6
    assert surge.get(b"d") == b"\x07\r\x0c\x06\x04\x14"
    assert surge.bitop("NOT", b"d", b"a") == 6
    assert surge.get(b"d") == bytes(~c & 0xff for c in b"foobar")
    # shorter and missing sources are zero padded
    surge.set(b"s", b"\xff")
    assert surge.bitop("OR", b"d", b"s", b"a", b"missing") == 6
    assert surge.get(b"d") == b"\xffoobar"
    assert surge.bitop("AND", b"d", b"s", b"a") == 6
    assert surge.get(b"d") == b"f\x00\x00\x00\x00\x00"
    # the result is always raw and replaces the old value and its TTL
    assert surge.object("encoding", b"d") == b"raw"
    surge.set(b"d", b"x", ex=100)
    assert surge.bitop("AND", b"d", b"s", b"s") == 1
    assert surge.ttl(b"d") == -1
    # all sources empty or missing: the destination is deleted
    surge.set(b"e", b"")
    assert surge.bitop("OR", b"d", b"missing", b"e") == 0
    assert surge.exists(b"d") == 0
    surge.rpush(b"list", b"x")
    assert surge.bitop("NOT", b"list", b"a") == 6  # the destination may hold anything
    assert surge.type(b"list") == b"string"
    surge.rpush(b"list2", b"x")
    assert err(raw, b"BITOP", b"AND", b"d", b"a", b"list2") == WRONGTYPE
    assert err(raw, b"BITOP", b"NOT", b"d", b"a", b"b") == NOT_ONE_KEY
    assert err(raw, b"BITOP", b"NAND", b"d", b"a") == SYNTAX
    assert err(raw, b"BITOP", b"ANDX", b"d", b"a") == SYNTAX


# ---------------------------------------------------------------------------
# BITFIELD / BITFIELD_RO
# ---------------------------------------------------------------------------
def test_bitfield_examples(raw):
    assert raw.call(b"BITFIELD", b"k", b"INCRBY", b"i5", b"100", b"1",
                    b"GET", b"u4", b"0") == [1, 0]
    assert raw.call(b"BITFIELD", b"k", b"SET", b"i8", b"#0", b"100",
                    b"SET", b"i8", b"#1", b"200") == [0, 0]
    assert raw.call(b"GET", b"k")[:2] == b"d\xc8"
    assert raw.call(b"BITFIELD", b"k", b"GET", b"i8", b"#1", b"GET", b"u8", b"#1") == [-56, 200]
    # overflow behaviours
    raw.call(b"DEL", b"c")
    assert raw.call(b"BITFIELD", b"c", b"INCRBY", b"u2", b"100", b"1",
                    b"OVERFLOW", b"SAT", b"INCRBY", b"u2", b"102", b"1") == [1, 1]
    for _ in range(3):
        raw.call(b"BITFIELD", b"c", b"INCRBY", b"u2", b"100", b"1",
                 b"OVERFLOW", b"SAT", b"INCRBY", b"u2", b"102", b"1")
    assert raw.call(b"BITFIELD", b"c", b"GET", b"u2", b"100", b"GET", b"u2", b"102") == [0, 3]
    assert raw.call(b"BITFIELD", b"c", b"OVERFLOW", b"FAIL",
                    b"INCRBY", b"u2", b"102", b"1") == [None]
    assert raw.call(b"BITFIELD", b"c", b"OVERFLOW", b"WRAP", b"INCRBY", b"i8", b"0", b"200",
                    b"OVERFLOW", b"SAT", b"INCRBY", b"i8", b"8", b"200",
                    b"INCRBY", b"i8", b"8", b"-1000") == [-56, 127, -128]
    # i64 wraps at the 64-bit boundary; u63 is the widest unsigned
    assert raw.call(b"BITFIELD", b"w", b"SET", b"i64", b"0", I64MAX,
                    b"INCRBY", b"i64", b"0", b"1") == [0, -9223372036854775808]
    assert raw.call(b"BITFIELD", b"w", b"OVERFLOW", b"SAT", b"INCRBY", b"i64", b"0",
                    b"-1") == [-9223372036854775808]
    assert raw.call(b"BITFIELD", b"w", b"SET", b"u63", b"0", I64MAX,
                    b"GET", b"u63", b"0") == [4611686018427387904, 9223372036854775807]
    # Redis's quirk: SAT on a SET of INT64_MIN into a narrow field saturates up
    assert raw.call(b"BITFIELD", b"q", b"OVERFLOW", b"SAT", b"SET", b"i8", b"0", I64MIN,
                    b"GET", b"i8", b"0") == [0, 127]
    assert raw.call(b"BITFIELD", b"q", b"OVERFLOW", b"SAT", b"SET", b"u8", b"0", b"-5",
                    b"GET", b"u8", b"0") == [127, 255]
    # no operations: an empty array, the key is only type-checked
    assert raw.call(b"BITFIELD", b"none") == []
    assert raw.call(b"EXISTS", b"none") == 0
    # a write that fails (OVERFLOW FAIL) still creates the key, as Redis does
    assert raw.call(b"BITFIELD", b"z", b"OVERFLOW", b"FAIL", b"SET", b"u2", b"8", b"9") == [None]
    assert raw.call(b"GET", b"z") == b"\x00\x00"
    assert raw.call(b"OBJECT", b"ENCODING", b"z") == b"raw"


def test_bitfield_resp3_null(surge_server, surge):
    c = surge_server.resp()
    assert isinstance(c.call(b"HELLO", b"3"), dict)
    _, frame = c.call_frame(b"BITFIELD", b"k", b"OVERFLOW", b"FAIL", b"INCRBY", b"u1", b"0",
                            b"2", b"GET", b"u1", b"0")
    assert frame == b"*2\r\n_\r\n:0\r\n"


def test_bitfield_errors(raw):
    raw.call(b"RPUSH", b"list", b"x")
    for t in (b"u64", b"i65", b"i0", b"u0", b"x8", b"i", b"", b"i-1", b"I8", b"i08", b"i 8"):
        assert err(raw, b"BITFIELD", b"k", b"GET", t, b"0") == BF_TYPE, t
    assert raw.call(b"BITFIELD", b"k", b"GET", b"u63", b"0", b"GET", b"i64", b"0") == [0, 0]
    for off in (b"-1", b"#-1", b"x", b"", b"#", b"1.5", b"##1"):
        assert err(raw, b"BITFIELD", b"k", b"GET", b"i8", off) == BIT_OFFSET, off
    assert err(raw, b"BITFIELD", b"k", b"GET", b"i8") == SYNTAX
    assert err(raw, b"BITFIELD", b"k", b"SET", b"i8", b"0") == SYNTAX
    assert err(raw, b"BITFIELD", b"k", b"BOGUS", b"i8", b"0") == SYNTAX
    assert err(raw, b"BITFIELD", b"k", b"OVERFLOW") == SYNTAX
    assert err(raw, b"BITFIELD", b"k", b"OVERFLOW", b"BAD") == BF_OVERFLOW
    assert err(raw, b"BITFIELD", b"k", b"SET", b"i8", b"0", b"x") == NOT_INT
    assert err(raw, b"BITFIELD", b"k", b"INCRBY", b"i8", b"0", b"9223372036854775808") == NOT_INT
    # everything is parsed before the key is looked up, and nothing runs
    assert err(raw, b"BITFIELD", b"k", b"SET", b"i8", b"0", b"1", b"GET", b"i9x", b"0") == BF_TYPE
    assert raw.call(b"EXISTS", b"k") == 0
    assert err(raw, b"BITFIELD", b"list", b"GET", b"i8", b"0") == WRONGTYPE
    assert err(raw, b"BITFIELD", b"list", b"SET", b"i8", b"0", b"1") == WRONGTYPE
    assert err(raw, b"BITFIELD", b"list") == WRONGTYPE
    # BITFIELD_RO: GET only, checked after parsing and before the key type
    assert raw.call(b"BITFIELD_RO", b"k", b"GET", b"i8", b"0") == [0]
    assert raw.call(b"BITFIELD_RO", b"k", b"OVERFLOW", b"FAIL", b"GET", b"u4", b"4") == [0]
    assert err(raw, b"BITFIELD_RO", b"k", b"SET", b"i8", b"0", b"1") == BF_RO
    assert err(raw, b"BITFIELD_RO", b"list", b"INCRBY", b"i8", b"0", b"1") == BF_RO
    assert err(raw, b"BITFIELD_RO", b"k", b"SET", b"i8", b"0", b"x") == NOT_INT
    assert err(raw, b"BITFIELD_RO", b"list", b"GET", b"i8", b"0") == WRONGTYPE
    assert raw.call(b"EXISTS", b"k") == 0


# ---------------------------------------------------------------------------
# Hostile input (RELIABILITY.md): offsets and ranges at the edges
# ---------------------------------------------------------------------------
def test_hostile_offsets_default_limit(surge_server, surge):
    c = surge_server.resp()
    before = used_memory(c)
    for off in (b"4294967296", b"4294967297", b"34359738368", I64MAX, I64MIN,
                b"9223372036854775808", b"18446744073709551616", b"-1"):
        assert err(c, b"SETBIT", b"k", off, b"1") == BIT_OFFSET, off
        assert err(c, b"GETBIT", b"k", off) == BIT_OFFSET, off
        assert err(c, b"BITFIELD", b"k", b"SET", b"u8", off, b"1") == BIT_OFFSET, off
        assert err(c, b"BITFIELD_RO", b"k", b"GET", b"i64", off) == BIT_OFFSET, off
    # "#N" offsets are N*width with 64-bit wrap-around, as in Redis: for
    # i64, (2^61 - 1) * 64 wraps to -64 and 2^57 * 64 to -2^63 (refused),
    # while 2^62 * 64 and -2^63 * 64 wrap to 0, (2^58 + 1) * 64 to 64
    for off in (b"#67108864", b"#144115188075855872", b"#2305843009213693951", b"#" + I64MAX,
                b"#9223372036854775808", b"#-1"):
        assert err(c, b"BITFIELD", b"k", b"SET", b"i64", off, b"1") == BIT_OFFSET, off
    for off in (b"#144115188075855872", b"#2305843009213693951", b"#" + I64MAX, b"#" + I64MIN,
                b"#4611686018427387904"):
        assert err(c, b"BITFIELD", b"k", b"GET", b"u1", off) == BIT_OFFSET, off
    assert c.call(b"BITFIELD", b"k", b"GET", b"u1", b"#67108864") == [0]
    assert c.call(b"EXISTS", b"k") == 0
    assert c.call(b"BITFIELD", b"k", b"GET", b"i64", b"#4611686018427387904",
                  b"GET", b"i64", b"#" + I64MIN) == [0, 0]
    assert c.call(b"BITFIELD", b"k", b"SET", b"i64", b"#288230376151711745", b"5") == [0]
    assert c.call(b"GET", b"k") == b"\x00" * 8 + b"\x00" * 7 + b"\x05"
    c.call(b"DEL", b"k")
    assert c.call(b"DBSIZE") == 0
    # nothing was allocated for the refused offsets
    assert used_memory(c) < before + 1024 * 1024


def test_hostile_ranges(surge_server, surge):
    c = surge_server.resp()
    c.call(b"SET", b"k", b"\x00\xff\x0f")
    c.call(b"SET", b"ones", b"\xff\xff")
    cases = [
        ([b"BITCOUNT", b"k", I64MIN, I64MAX], 12),
        ([b"BITCOUNT", b"k", I64MIN, I64MAX, b"BIT"], 12),
        ([b"BITCOUNT", b"k", I64MAX, I64MIN], 0),
        ([b"BITCOUNT", b"k", I64MIN, I64MIN], 0),
        ([b"BITCOUNT", b"k", I64MAX, I64MAX, b"BIT"], 0),
        ([b"BITCOUNT", b"k", I64MIN, b"-1", b"BIT"], 12),
        ([b"BITCOUNT", b"k", b"-9223372036854775807", b"0"], 0),
        ([b"BITPOS", b"k", b"1", I64MIN, I64MAX], 8),
        ([b"BITPOS", b"k", b"1", I64MIN, I64MAX, b"BIT"], 8),
        ([b"BITPOS", b"k", b"0", I64MIN, I64MAX, b"BIT"], 0),
        ([b"BITPOS", b"k", b"0", I64MAX], -1),
        ([b"BITPOS", b"k", b"0", I64MIN], 0),
        ([b"BITPOS", b"k", b"1", I64MAX, I64MAX], -1),
        ([b"BITPOS", b"k", b"1", I64MIN, I64MIN, b"BIT"], -1),
        ([b"BITPOS", b"k", b"0", b"16", I64MAX, b"BIT"], 16),
        ([b"BITPOS", b"k", b"1", b"2", I64MAX, b"BYTE"], 20),
        ([b"BITPOS", b"k", b"0", b"2", I64MAX], 16),
        ([b"BITPOS", b"ones", b"0", b"0", I64MAX], -1),
        ([b"BITPOS", b"ones", b"0", I64MIN], 16),
        ([b"BITPOS", b"ones", b"0", I64MIN, I64MAX, b"BIT"], -1),
        ([b"BITPOS", b"ones", b"1", I64MAX], -1),
    ]
    for args, want in cases:
        assert c.call(*args) == want, args
    for args in ([b"BITCOUNT", b"k", b"0", b"9223372036854775808"],
                 [b"BITCOUNT", b"k", b"-9223372036854775809", b"0"],
                 [b"BITPOS", b"k", b"1", b"9223372036854775808"],
                 [b"BITPOS", b"k", b"9223372036854775808"]):
        assert err(c, *args) == NOT_INT, args


def test_hostile_limits_small_proto_max_bulk_len(start_surge):
    """With proto-max-bulk-len 1mb the boundaries are cheap to test."""
    srv = start_surge("--proto-max-bulk-len", "1mb")
    surge = is_surge(srv)
    c = srv.resp()
    limit_bits = 1024 * 1024 * 8
    assert err(c, b"SETBIT", b"k", b"%d" % limit_bits, b"1") == BIT_OFFSET
    assert c.call(b"EXISTS", b"k") == 0
    assert c.call(b"SETBIT", b"k", b"%d" % (limit_bits - 1), b"1") == 0
    assert c.call(b"STRLEN", b"k") == 1024 * 1024
    assert c.call(b"GETBIT", b"k", b"%d" % (limit_bits - 1)) == 1
    assert err(c, b"GETBIT", b"k", b"%d" % limit_bits) == BIT_OFFSET
    assert c.call(b"BITCOUNT", b"k") == 1
    assert c.call(b"BITPOS", b"k", b"1") == limit_bits - 1
    assert c.call(b"BITPOS", b"k", b"1", b"-1", b"-1") == limit_bits - 1
    assert c.call(b"BITPOS", b"k", b"0", b"-1") == limit_bits - 8
    # BITFIELD: the offset check is Redis's (its byte must be under the
    # limit); a field that would end past the limit is refused by Surge
    assert err(c, b"BITFIELD", b"n", b"SET", b"u8", b"%d" % limit_bits, b"1") == BIT_OFFSET
    assert c.call(b"BITFIELD", b"n", b"SET", b"u8", b"%d" % (limit_bits - 8), b"1") == [0]
    assert c.call(b"STRLEN", b"n") == 1024 * 1024
    if surge:  # Redis 7.0 grows "m" to 1mb + 8 (test_bitfield_past_limit_reference_behaviour)
        assert err(c, b"BITFIELD", b"m", b"SET", b"i64", b"%d" % (limit_bits - 1),
                   b"1") == TOO_BIG
        assert err(c, b"BITFIELD", b"m", b"INCRBY", b"u2", b"%d" % (limit_bits - 1),
                   b"1") == TOO_BIG
        assert c.call(b"EXISTS", b"m") == 0
    # within an existing long string nothing grows, so nothing is refused
    assert c.call(b"BITFIELD", b"k", b"GET", b"i64", b"%d" % (limit_bits - 1)) == [-1 << 63]
    assert c.call(b"BITFIELD", b"n", b"SET", b"u8", b"%d" % (limit_bits - 8), b"7") == [1]


def test_bitfield_past_limit_reference_behaviour(start_redis_ref):
    """The one documented difference: Redis 7.0 grows the string past the limit."""
    srv = start_redis_ref("--proto-max-bulk-len", "1mb")
    c = srv.resp()
    assert c.call(b"BITFIELD", b"m", b"SET", b"i64", b"%d" % (1024 * 1024 * 8 - 1), b"1") == [0]
    assert c.call(b"STRLEN", b"m") == 1024 * 1024 + 8


# ---------------------------------------------------------------------------
# Differential stream against the reference
# ---------------------------------------------------------------------------
KEYS = [b"b0", b"b1", b"b2", b"{t}b3", b"lst", b"num"]
STRING_KEYS = [k for k in KEYS if k != b"lst"]
EDGE = [I64MAX, I64MIN, b"9223372036854775808", b"-9223372036854775809", b"4294967296",
        b"-1", b"0", b"abc", b"", b"1.5", b"+1", b"01"]


class BitStream:
    """A deterministic command stream from random.Random(seed)."""

    def __init__(self, seed):
        self.rng = random.Random(seed)

    def case(self, word):
        r = self.rng.random()
        return word.upper() if r < 0.7 else word.lower() if r < 0.9 else word.capitalize()

    def key(self):
        return self.rng.choice(KEYS)

    def wkey(self):
        """A key for commands that replace or delete values: rarely the list."""
        return self.rng.choice(KEYS if self.rng.random() < 0.05 else STRING_KEYS)

    def value(self):
        r = self.rng.random()
        if r < 0.5:
            n = self.rng.randint(0, 12)
            return bytes(self.rng.choice([0, 0xff, 0x0f, 0xf0, 0x80, 0x01, self.rng.randrange(256)])
                         for _ in range(n))
        if r < 0.7:
            return b"%d" % self.rng.randint(-1000, 10 ** 6)
        return self.rng.choice([b"foobar", b"", b"x" * 50, b"\x00" * 20, b"\xff" * 9])

    def index(self):
        r = self.rng.random()
        if r < 0.85:
            return b"%d" % self.rng.randint(-40, 40)
        return self.rng.choice(EDGE)

    def offset(self):
        r = self.rng.random()
        if r < 0.8:
            return b"%d" % self.rng.randint(0, 120)
        if r < 0.9:
            return b"%d" % self.rng.randint(0, 40000)
        return self.rng.choice(EDGE)

    def gen_bitcount(self):
        args = [self.case(b"BITCOUNT"), self.key()]
        r = self.rng.random()
        if r < 0.7:
            args += [self.index(), self.index()]
            if self.rng.random() < 0.5:
                args.append(self.case(self.rng.choice([b"BIT", b"BYTE", b"BYTE", b"BITS"])))
        elif r < 0.8:
            args.append(self.index())
        return args

    def gen_bitpos(self):
        args = [self.case(b"BITPOS"), self.key(),
                self.rng.choice([b"0", b"1", b"0", b"1", b"2", b"-1", b"x"])]
        n = self.rng.randint(0, 3)
        if n >= 1:
            args.append(self.index())
        if n >= 2:
            args.append(self.index())
        if n >= 3:
            args.append(self.case(self.rng.choice([b"BIT", b"BYTE", b"BIT", b"bad"])))
        return args

    def gen_bitop(self):
        op = self.rng.choice([b"AND", b"OR", b"XOR", b"NOT", b"NOT", b"NAND"])
        nsrc = 1 if op == b"NOT" and self.rng.random() < 0.9 else self.rng.randint(1, 4)
        return [self.case(b"BITOP"), self.case(op), self.wkey()] + [self.key() for _ in range(nsrc)]

    def bf_type(self):
        bits = self.rng.choice([1, 2, 3, 4, 5, 7, 8, 9, 13, 16, 31, 32, 33, 62, 63, 64])
        t = self.rng.choice([b"i", b"u"]) + b"%d" % bits
        if self.rng.random() < 0.04:
            return self.rng.choice([b"u64", b"i65", b"i0", b"x8", b"", b"i"])
        return t

    def bf_value(self):
        r = self.rng.random()
        if r < 0.6:
            return b"%d" % self.rng.randint(-300, 300)
        if r < 0.85:
            return b"%d" % self.rng.choice([2 ** 62, -2 ** 62, 2 ** 63 - 1, -2 ** 63, 2 ** 31,
                                            2 ** 32 - 1, -2 ** 31, 2 ** 63 - 2, -2 ** 63 + 1])
        return self.rng.choice([b"x", b"9223372036854775808", b"1.0"])

    def gen_bitfield(self, ro=False):
        args = [self.case(b"BITFIELD_RO" if ro else b"BITFIELD"), self.key()]
        for _ in range(self.rng.randint(0, 4)):
            r = self.rng.random()
            off = self.rng.choice([b"%d" % self.rng.randint(0, 100),
                                   b"#%d" % self.rng.randint(0, 12)] * 20 + EDGE[:4])
            if r < 0.35 or (ro and r < 0.9):
                args += [self.case(b"GET"), self.bf_type(), off]
            elif r < 0.6:
                args += [self.case(b"SET"), self.bf_type(), off, self.bf_value()]
            elif r < 0.85:
                args += [self.case(b"INCRBY"), self.bf_type(), off, self.bf_value()]
            elif r < 0.98:
                args += [self.case(b"OVERFLOW"),
                         self.case(self.rng.choice([b"WRAP", b"SAT", b"FAIL", b"bad"]))]
            else:
                args.append(self.rng.choice([b"GET", b"bogus"]))
        return args

    def table(self):
        c, k = self.case, self.key
        return [
            (6, lambda: [c(b"SET"), self.wkey(), self.value()]),
            (10, lambda: [c(b"SETBIT"), k(), self.offset(),
                          self.rng.choice([b"0", b"1"] * 6 + [b"2", b"-1", b"x"])]),
            (8, lambda: [c(b"GETBIT"), k(), self.offset()]),
            (10, self.gen_bitcount),
            (14, self.gen_bitpos),
            (7, self.gen_bitop),
            (14, self.gen_bitfield),
            (4, lambda: self.gen_bitfield(ro=True)),
            (5, lambda: [c(b"GET"), k()]),
            (2, lambda: [c(b"APPEND"), k(), self.value()]),
            (1, lambda: [c(b"DEL"), self.wkey()]),
            (1, lambda: [c(b"RPUSH"), b"lst", b"x"]),
            (1, lambda: [c(b"SET"), b"num", b"%d" % self.rng.randint(0, 99999)]),
            (3, lambda: [c(b"OBJECT"), c(b"ENCODING"), k()]),
            (1, lambda: [c(b"STRLEN"), k()]),
        ]

    def generate(self, count):
        table = self.table()
        weights = [w for w, _ in table]
        gens = [g for _, g in table]
        out = [[b"RPUSH", b"lst", b"a", b"b"], [b"SET", b"num", b"12345"]]
        while len(out) < count:
            args = self.rng.choices(gens, weights=weights)[0]()
            if self.rng.random() < 0.03 and len(args) > 1:
                args = args[:self.rng.randint(1, len(args) - 1)]  # wrong arity
            out.append(args)
        return out


def _fmt(args):
    return " ".join(repr(a)[1:] for a in args)


def _short(value, limit=300):
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "...(%d chars)" % len(text)


class BitDiffer:
    def __init__(self, surge_server, ref_server, protocol):
        self.s, self.r = surge_server.resp(), ref_server.resp()
        self.protocol = protocol
        self.history = []
        for side in (self.s, self.r):
            if protocol == 3:
                assert isinstance(side.call(b"HELLO", b"3"), dict)
            assert side.call(b"FLUSHALL") == b"OK"

    def run(self, index, args):
        s_val, s_raw = self.s.call_frame(*args)
        r_val, r_raw = self.r.call_frame(*args)
        if s_raw != r_raw:
            lines = ["  %5d: %s -> %s | %s" % (i, _fmt(a), _short(x, 100), _short(y, 100))
                     for i, a, x, y in self.history[-HISTORY:]]
            pytest.fail("bitops differential mismatch (seed=%d, RESP%d) at index %d\n"
                        "command: %s\nsurge: %s\nredis: %s\npreceding:\n%s\n"
                        "reproduce: DIFF_SEED=%d BITOPS_DIFF_COUNT=%d"
                        % (SEED, self.protocol, index, _fmt(args), _short(s_raw),
                           _short(r_raw), "\n".join(lines), SEED, index + 1), pytrace=False)
        self.history.append((index, args, s_val, r_val))
        del self.history[:-HISTORY]
        return r_val

    def final_check(self, index):
        self.run(index, [b"DBSIZE"])
        for key in KEYS:
            for cmd in ([b"TYPE", key], [b"OBJECT", b"ENCODING", key], [b"GET", key]):
                self.run(index, cmd)


def _run_bit_differential(surge_server, redis_ref_server, protocol):
    stream = BitStream(SEED).generate(COUNT)
    differ = BitDiffer(surge_server, redis_ref_server, protocol)
    started = time.monotonic()
    for index, args in enumerate(stream):
        differ.run(index, args)
    differ.final_check(len(stream))
    surge_server.check_alive()
    elapsed = time.monotonic() - started
    assert elapsed < 30, "bitops differential run took %.1f s" % elapsed


def test_bit_stream_is_deterministic_and_complete():
    a = BitStream(SEED).generate(400)
    assert a == BitStream(SEED).generate(400)
    names = {args[0].upper() for args in BitStream(SEED).generate(COUNT)}
    for name in (b"SETBIT", b"GETBIT", b"BITCOUNT", b"BITPOS", b"BITOP", b"BITFIELD",
                 b"BITFIELD_RO"):
        assert name in names


def test_bitops_differential_resp2(surge_server, redis_ref_server):
    _run_bit_differential(surge_server, redis_ref_server, 2)


def test_bitops_differential_resp3(surge_server, redis_ref_server):
    _run_bit_differential(surge_server, redis_ref_server, 3)


def test_bitpos_bitcount_exhaustive_ranges(surge_server, redis_ref_server):
    """Every small range, both units, both bits, on strings with edge patterns."""
    s, r = surge_server.resp(), redis_ref_server.resp()
    values = [b"\xff\xf0\x00", b"\x00\x0f\xff", b"\x81\x7e", b"\x00", b"\xff", b"abc"]
    for v in values:
        for side in (s, r):
            side.call(b"SET", b"v", v)
        total = len(v) * 8
        cmds = []
        for start in range(-total - 2, total + 2):
            for end in range(-total - 2, total + 2, 3):
                for bit in (b"0", b"1"):
                    cmds.append([b"BITPOS", b"v", bit, b"%d" % start, b"%d" % end, b"BIT"])
                cmds.append([b"BITCOUNT", b"v", b"%d" % start, b"%d" % end, b"BIT"])
        for start in range(-5, 5):
            for bit in (b"0", b"1"):
                cmds.append([b"BITPOS", b"v", bit, b"%d" % start])
                for end in range(-5, 5):
                    cmds.append([b"BITPOS", b"v", bit, b"%d" % start, b"%d" % end])
        for cmd in cmds:
            a = s.call_frame(*cmd)[1]
            b = r.call_frame(*cmd)[1]
            assert a == b, "%r on %r: surge %r, redis %r" % (cmd, v, a, b)
