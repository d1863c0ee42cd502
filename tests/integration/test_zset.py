"""Sorted sets: focused tests and a differential stream against Redis 7.0.

The focused tests pin down what is easy to get subtly wrong: score
formatting on the wire (RESP2 bulk text, RESP3 doubles, listpack text in
ZSCAN), the option-conflict errors, NaN handling, encodings and their
conversions (OBJECT ENCODING is compared with Redis), reply shapes in RESP3,
and arguments at the numeric edges.

The differential test sends a seeded random stream of sorted-set commands to
Surge and to the reference redis-server, over RESP2 and RESP3, and compares
every reply byte for byte, except:

  * ZRANDMEMBER: random; the reply must have the same shape and length, its
    members must belong to the key (distinct for a positive count) and any
    scores must be the members' scores;
  * ZSCAN on a skiplist: cursors differ by design; a full iteration from 0
    with the same options must yield the same (member, score) pairs.

Lex-range commands only touch keys whose members all score 0 ("lex*" keys):
over mixed scores Redis documents the result as unspecified, and for
skiplists it depends on the random node levels.

Environment: DIFF_SEED (default 1), ZSET_DIFF_COUNT (default 2000).
"""

import os
import random
import time

import pytest
import redis

from resp_client import RespError, same_reply

SEED = int(os.environ.get("DIFF_SEED", "1"))
COUNT = int(os.environ.get("ZSET_DIFF_COUNT", "2000"))
HISTORY = 12

LONG = b"L" * 65  # one byte over zset-max-listpack-value


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------
def raw_pair(surge_server, redis_ref_server, proto):
    """A RespClient on each server, both switched to the given protocol."""
    s, r = surge_server.resp(), redis_ref_server.resp()
    for c in (s, r):
        if proto == 3:
            assert isinstance(c.call(b"HELLO", b"3"), dict)
        c.call(b"FLUSHALL")
    return s, r


def same_on_both(s, r, *cmd):
    """Sends cmd to both servers; asserts identical raw replies; returns Surge's."""
    sv, sraw = s.call_frame(*cmd)
    rv, rraw = r.call_frame(*cmd)
    assert sraw == rraw, "%r\n surge: %r\n redis: %r" % (cmd, sraw, rraw)
    return sv


def encoding(client, key):
    return client.object("encoding", key)


# ---------------------------------------------------------------------------
# focused tests
# ---------------------------------------------------------------------------
def test_basic_commands(surge):
    assert surge.zadd("z", {"a": 1, "b": 2, "c": 3}) == 3
    assert surge.zcard("z") == 3
    assert surge.zscore("z", "b") == 2.0
    assert surge.zrank("z", "c") == 2
    assert surge.zrevrank("z", "c") == 0
    assert surge.zrange("z", 0, -1) == [b"a", b"b", b"c"]
    assert surge.zrange("z", 0, -1, desc=True, withscores=True) == [(b"c", 3.0), (b"b", 2.0),
                                                                    (b"a", 1.0)]
    assert surge.zincrby("z", 10, "a") == 11.0
    assert surge.zrange("z", 0, -1) == [b"b", b"c", b"a"]
    assert surge.zrem("z", "b", "nope") == 1
    assert surge.zmscore("z", ["a", "x", "c"]) == [11.0, None, 3.0]
    assert surge.zpopmin("z") == [(b"c", 3.0)]
    assert surge.zpopmax("z") == [(b"a", 11.0)]
    assert surge.exists("z") == 0  # an emptied sorted set is deleted
    assert surge.type("z") == b"none"
    surge.zadd("z", {"x": 1})
    assert surge.type("z") == b"zset"


def test_score_formatting_matches_reference(surge_server, redis_ref_server):
    """RESP2 bulk text, RESP3 doubles and ZSCAN's stored text, both encodings."""
    scores = [b"0.1", b"1.5", b"1e30", b"inf", b"-inf", b"-0", b"1e-310", b"2.5e-5",
              b"123456789012345678", b"3.0", b"0x10", b"-1e-5", b"4611686018427387904",
              b"4611686018427387905000", b"9007199254740993", b"1.7976931348623157e308"]
    for proto in (2, 3):
        s, r = raw_pair(surge_server, redis_ref_server, proto)
        for key, extra in ((b"lp", []), (b"sl", [b"0", LONG])):
            args = [b"ZADD", key]
            for i, sc in enumerate(scores):
                args += [sc, b"m%d" % i]
            same_on_both(s, r, *(args + extra))
            same_on_both(s, r, b"OBJECT", b"ENCODING", key)
            same_on_both(s, r, b"ZRANGE", key, b"0", b"-1", b"WITHSCORES")
            same_on_both(s, r, b"ZREVRANGEBYSCORE", key, b"+inf", b"-inf", b"WITHSCORES")
            for i in range(len(scores)):
                same_on_both(s, r, b"ZSCORE", key, b"m%d" % i)
            same_on_both(s, r, b"ZMSCORE", key, b"m0", b"nope", b"m5")
            same_on_both(s, r, b"ZINCRBY", key, b"0.2", b"m0")
            same_on_both(s, r, b"ZADD", key, b"INCR", b"1e-3", b"m1")
            same_on_both(s, r, b"ZUNION", b"1", key, b"WITHSCORES")
            same_on_both(s, r, b"ZPOPMIN", key, b"2")
            same_on_both(s, r, b"ZPOPMAX", key)
            same_on_both(s, r, b"ZMPOP", b"1", key, b"MAX", b"COUNT", b"2")
        # ZSCAN replies the listpack's stored text and, for skiplists,
        # Redis's long-double formatting: compare the pairs.
        same_on_both(s, r, b"ZSCAN", b"lp", b"0")
        sv = s.call(b"ZSCAN", b"sl", b"0", b"COUNT", b"1000")
        rv = r.call(b"ZSCAN", b"sl", b"0", b"COUNT", b"1000")
        assert sv[0] == rv[0] == b"0"
        assert sorted(zip(sv[1][::2], sv[1][1::2])) == sorted(zip(rv[1][::2], rv[1][1::2]))


def test_zadd_option_errors_match_reference(surge_server, redis_ref_server):
    s, r = raw_pair(surge_server, redis_ref_server, 2)
    same_on_both(s, r, b"SET", b"str", b"x")
    cases = [
        [b"ZADD", b"z", b"NX", b"XX", b"1", b"a"],
        [b"ZADD", b"z", b"GT", b"LT", b"1", b"a"],
        [b"ZADD", b"z", b"NX", b"GT", b"1", b"a"],
        [b"ZADD", b"z", b"NX", b"LT", b"1", b"a"],
        [b"ZADD", b"z", b"XX", b"GT", b"1", b"a"],
        [b"ZADD", b"z", b"INCR", b"1", b"a", b"2", b"b"],
        [b"ZADD", b"z", b"1", b"a", b"2"],
        [b"ZADD", b"z", b"CH", b"INCR", b"XX"],
        [b"ZADD", b"z", b"nan", b"a"],
        [b"ZADD", b"z", b"1", b"a", b"x", b"b"],
        [b"ZADD", b"z", b"1e400", b"a"],
        [b"ZADD", b"z", b" 1", b"a"],
        [b"ZADD", b"str", b"1", b"a"],
        [b"ZADD", b"str", b"NX", b"XX", b"1", b"a"],
        [b"ZADD", b"str", b"x", b"a"],
        [b"ZADD", b"z", b"inf", b"a"],
        [b"ZADD", b"z", b"INCR", b"-inf", b"a"],
        [b"ZINCRBY", b"z", b"-inf", b"a"],
        [b"ZINCRBY", b"z", b"nan", b"a"],
        [b"ZINCRBY", b"z", b"incr", b"a"],
        [b"ZINCRBY", b"str", b"1", b"a"],
        [b"ZADD", b"z", b"XX", b"INCR", b"1", b"new"],
        [b"ZADD", b"z", b"NX", b"INCR", b"1", b"a"],
        [b"ZADD", b"z", b"GT", b"INCR", b"-1", b"a"],
        [b"ZADD", b"z", b"LT", b"CH", b"-1", b"a", b"5", b"b"],
        [b"ZADD", b"z", b"GT", b"CH", b"-2", b"a", b"6", b"b", b"1", b"c"],
        [b"ZADD", b"nokey", b"XX", b"1", b"a"],
        [b"ZADD", b"nokey", b"XX", b"INCR", b"1", b"a"],
        [b"EXISTS", b"nokey"],
        [b"ZRANGE", b"z", b"0", b"-1", b"WITHSCORES"],
        [b"ZRANK", b"z", b"a", b"WITHSCORE"],
    ]
    for cmd in cases:
        same_on_both(s, r, *cmd)


def test_range_argument_errors_match_reference(surge_server, redis_ref_server):
    s, r = raw_pair(surge_server, redis_ref_server, 3)
    same_on_both(s, r, b"ZADD", b"z", b"1", b"a", b"2", b"b", b"3", b"c")
    same_on_both(s, r, b"ZADD", b"lex", b"0", b"a", b"0", b"b", b"0", b"c")
    same_on_both(s, r, b"SET", b"str", b"x")
    cases = [
        [b"ZRANGE", b"z", b"0", b"-1", b"LIMIT", b"0", b"1"],
        [b"ZRANGE", b"z", b"0", b"-1", b"LIMIT", b"0", b"-1"],
        [b"ZRANGE", b"z", b"0", b"-1", b"LIMIT", b"0"],
        [b"ZRANGE", b"z", b"0", b"-1", b"LIMIT", b"x", b"1"],
        [b"ZRANGE", b"z", b"-", b"+", b"BYLEX", b"WITHSCORES"],
        [b"ZRANGE", b"z", b"0", b"1", b"BYSCORE", b"BYLEX"],
        [b"ZRANGE", b"z", b"0", b"1", b"REV", b"REV"],
        [b"ZRANGE", b"z", b"a", b"1"],
        [b"ZRANGE", b"z", b"(a", b"1", b"BYSCORE"],
        [b"ZRANGE", b"z", b"a", b"+", b"BYLEX"],
        [b"ZRANGE", b"z", b"nan", b"1", b"BYSCORE"],
        [b"ZRANGE", b"z", b"(", b"", b"BYSCORE", b"WITHSCORES"],
        [b"ZRANGE", b"z", b" 1", b"3 ", b"BYSCORE"],
        [b"ZRANGE", b"z", b"0x1", b"0x3", b"BYSCORE"],
        [b"ZRANGE", b"z", b"+inf", b"-inf", b"BYSCORE", b"REV", b"LIMIT", b"1", b"1",
         b"WITHSCORES"],
        [b"ZRANGE", b"z", b"-inf", b"+inf", b"BYSCORE", b"LIMIT", b"-1", b"2"],
        [b"ZRANGE", b"z", b"-inf", b"+inf", b"BYSCORE", b"LIMIT", b"1", b"-2"],
        [b"ZRANGE", b"z", b"-inf", b"+inf", b"BYSCORE", b"LIMIT", b"9223372036854775807",
         b"-9223372036854775808"],
        [b"ZRANGE", b"z", b"-9223372036854775808", b"9223372036854775807"],
        [b"ZRANGE", b"str", b"0", b"1"],
        [b"ZRANGE", b"str", b"a", b"1"],
        [b"ZREVRANGE", b"z", b"0", b"-1", b"REV"],
        [b"ZREVRANGE", b"z", b"0", b"-1", b"WITHSCORES"],
        [b"ZRANGEBYSCORE", b"z", b"0", b"5", b"BYSCORE"],
        [b"ZRANGEBYSCORE", b"z", b"0", b"5", b"LIMIT", b"1", b"1", b"WITHSCORES"],
        [b"ZREVRANGEBYSCORE", b"z", b"5", b"(1", b"WITHSCORES"],
        [b"ZRANGEBYLEX", b"lex", b"-", b"+", b"WITHSCORES"],
        [b"ZRANGEBYLEX", b"lex", b"[b", b"+", b"LIMIT", b"0", b"1"],
        [b"ZREVRANGEBYLEX", b"lex", b"+", b"(a"],
        [b"ZRANGEBYLEX", b"lex", b"+", b"-"],
        [b"ZRANGEBYLEX", b"lex", b"-", b"-"],
        [b"ZRANGEBYLEX", b"lex", b"[a", b"[a"],
        [b"ZRANGEBYLEX", b"lex", b"(a", b"[a"],
        [b"ZRANGEBYLEX", b"lex", b"+a", b"+"],
        [b"ZRANGESTORE", b"d", b"z", b"0", b"-1", b"WITHSCORES"],
        [b"ZRANGESTORE", b"d", b"z", b"0", b"-1"],
        [b"ZRANGESTORE", b"d", b"nokey", b"0", b"-1"],
        [b"EXISTS", b"d"],
        [b"ZRANGESTORE", b"str", b"z", b"1", b"2", b"BYSCORE"],
        [b"TYPE", b"str"],
        [b"ZRANGESTORE", b"d", b"str", b"0", b"-1"],
        [b"ZCOUNT", b"z", b"a", b"1"],
        [b"ZCOUNT", b"z", b"(1", b"+inf"],
        [b"ZCOUNT", b"str", b"0", b"1"],
        [b"ZCOUNT", b"str", b"x", b"1"],
        [b"ZLEXCOUNT", b"lex", b"a", b"+"],
        [b"ZLEXCOUNT", b"lex", b"(a", b"+"],
        [b"ZREMRANGEBYSCORE", b"z", b"x", b"1"],
        [b"ZREMRANGEBYLEX", b"lex", b"x", b"1"],
        [b"ZREMRANGEBYRANK", b"z", b"x", b"1"],
        [b"ZREMRANGEBYRANK", b"z", b"5", b"1"],
        [b"ZREMRANGEBYRANK", b"nokey", b"0", b"1"],
        [b"ZREMRANGEBYRANK", b"str", b"0", b"1"],
    ]
    for cmd in cases:
        same_on_both(s, r, *cmd)


def test_pop_rand_setop_errors_match_reference(surge_server, redis_ref_server):
    for proto in (2, 3):
        s, r = raw_pair(surge_server, redis_ref_server, proto)
        same_on_both(s, r, b"ZADD", b"z", b"1", b"a", b"2", b"b", b"3", b"c")
        same_on_both(s, r, b"ZADD", b"y", b"5", b"b", b"6", b"d")
        same_on_both(s, r, b"SET", b"str", b"x")
        cases = [
            [b"ZPOPMIN", b"z", b"-1"],
            [b"ZPOPMIN", b"z", b"x"],
            [b"ZPOPMIN", b"z", b"0"],
            [b"ZPOPMIN", b"nokey", b"0"],
            [b"ZPOPMIN", b"nokey"],
            [b"ZPOPMIN", b"z", b"1", b"2"],
            [b"ZPOPMAX", b"str"],
            [b"ZMPOP", b"0", b"z", b"MIN"],
            [b"ZMPOP", b"-1", b"z", b"MIN"],
            [b"ZMPOP", b"x", b"z", b"MIN"],
            [b"ZMPOP", b"9223372036854775807", b"z", b"MIN"],
            [b"ZMPOP", b"2", b"z", b"MIN"],
            [b"ZMPOP", b"1", b"z", b"MID"],
            [b"ZMPOP", b"1", b"z", b"MIN", b"COUNT"],
            [b"ZMPOP", b"1", b"z", b"MIN", b"COUNT", b"0"],
            [b"ZMPOP", b"1", b"z", b"MIN", b"COUNT", b"x"],
            [b"ZMPOP", b"1", b"z", b"MIN", b"COUNT", b"1", b"COUNT", b"1"],
            [b"ZMPOP", b"2", b"nokey", b"str", b"MIN"],
            [b"ZMPOP", b"2", b"nokey", b"nokey2", b"MAX"],
            [b"ZMPOP", b"3", b"nokey", b"y", b"str", b"MAX", b"COUNT", b"10"],
            [b"ZRANDMEMBER", b"z", b"-9223372036854775808"],
            [b"ZRANDMEMBER", b"z", b"x"],
            [b"ZRANDMEMBER", b"z", b"1", b"WITHSCORE"],
            [b"ZRANDMEMBER", b"z", b"1", b"WITHSCORES", b"x"],
            [b"ZRANDMEMBER", b"z", b"-4611686018427387904", b"WITHSCORES"],
            [b"ZRANDMEMBER", b"z", b"4611686018427387904", b"WITHSCORES"],
            [b"ZRANDMEMBER", b"z", b"0"],
            [b"ZRANDMEMBER", b"z", b"10", b"WITHSCORES"],
            [b"ZRANDMEMBER", b"nokey"],
            [b"ZRANDMEMBER", b"nokey", b"5"],
            [b"ZRANDMEMBER", b"str"],
            [b"ZRANDMEMBER", b"str", b"x"],
            [b"ZUNION", b"0", b"z"],
            [b"ZUNION", b"-1", b"z"],
            [b"ZUNION", b"x", b"z"],
            [b"ZUNION", b"3", b"z", b"y"],
            [b"ZUNIONSTORE", b"d", b"0", b"z"],
            [b"ZINTERSTORE", b"d", b"0", b"z"],
            [b"ZDIFFSTORE", b"d", b"0", b"z"],
            [b"ZINTER", b"0", b"z"],
            [b"ZDIFF", b"0", b"z"],
            [b"ZINTERCARD", b"0", b"z"],
            [b"ZINTERCARD", b"2", b"z", b"y", b"LIMIT", b"-1"],
            [b"ZINTERCARD", b"2", b"z", b"y", b"LIMIT", b"x"],
            [b"ZINTERCARD", b"2", b"z", b"y", b"LIMIT"],
            [b"ZINTERCARD", b"2", b"z", b"y", b"WITHSCORES"],
            [b"ZINTERCARD", b"2", b"z", b"y", b"LIMIT", b"0"],
            [b"ZINTERCARD", b"2", b"z", b"y", b"LIMIT", b"1"],
            [b"ZUNION", b"2", b"z", b"y", b"WEIGHTS", b"1"],
            [b"ZUNION", b"2", b"z", b"y", b"WEIGHTS", b"1", b"x"],
            [b"ZUNION", b"2", b"z", b"y", b"WEIGHTS", b"2", b"nan"],
            [b"ZUNION", b"2", b"z", b"y", b"WEIGHTS", b"2", b"-1", b"WITHSCORES"],
            [b"ZUNION", b"2", b"z", b"y", b"AGGREGATE"],
            [b"ZUNION", b"2", b"z", b"y", b"AGGREGATE", b"avg"],
            [b"ZUNION", b"2", b"z", b"y", b"AGGREGATE", b"MAX", b"WITHSCORES"],
            [b"ZUNION", b"2", b"z", b"y", b"AGGREGATE", b"min", b"WITHSCORES", b"WITHSCORES"],
            [b"ZINTER", b"2", b"z", b"y", b"WITHSCORES"],
            [b"ZINTER", b"2", b"z", b"nokey", b"WITHSCORES"],
            [b"ZDIFF", b"2", b"z", b"y", b"WITHSCORES"],
            [b"ZDIFF", b"2", b"z", b"y", b"WEIGHTS", b"1", b"1"],
            [b"ZDIFF", b"2", b"z", b"y", b"AGGREGATE", b"SUM"],
            [b"ZUNIONSTORE", b"d", b"2", b"z", b"y", b"WITHSCORES"],
            [b"ZUNION", b"2", b"z", b"str"],
            [b"ZUNION", b"2", b"str", b"z", b"WEIGHTS", b"x"],
            [b"ZUNION", b"2", b"z", b"y", b"WEIGHTS", b"inf", b"-inf", b"WITHSCORES"],
            [b"ZINTER", b"2", b"z", b"y", b"WEIGHTS", b"inf", b"0", b"WITHSCORES"],
            [b"ZUNIONSTORE", b"d", b"2", b"z", b"y", b"WEIGHTS", b"2", b"3"],
            [b"ZRANGE", b"d", b"0", b"-1", b"WITHSCORES"],
            [b"ZINTERSTORE", b"d", b"2", b"z", b"nokey"],
            [b"EXISTS", b"d"],
            [b"ZSCAN", b"z", b"x"],
            [b"ZSCAN", b"z", b"-1"],
            [b"ZSCAN", b"z", b"18446744073709551616"],
            [b"ZSCAN", b"z", b"0", b"COUNT", b"0"],
            [b"ZSCAN", b"z", b"0", b"COUNT", b"x"],
            [b"ZSCAN", b"z", b"0", b"MATCH"],
            [b"ZSCAN", b"z", b"0", b"TYPE", b"zset"],
            [b"ZSCAN", b"z", b"0", b"MATCH", b"[ab]"],
            [b"ZSCAN", b"z", b"77", b"MATCH", b"*", b"COUNT", b"1"],
            [b"ZSCAN", b"nokey", b"0", b"garbage"],
            [b"ZSCAN", b"str", b"0"],
        ]
        for cmd in cases:
            same_on_both(s, r, *cmd)


def test_nan_results(surge_server, redis_ref_server):
    s, r = raw_pair(surge_server, redis_ref_server, 3)
    same_on_both(s, r, b"ZADD", b"z", b"inf", b"a", b"-inf", b"b")
    for cmd in ([b"ZINCRBY", b"z", b"-inf", b"a"],
                [b"ZADD", b"z", b"INCR", b"inf", b"b"],
                [b"ZADD", b"z", b"GT", b"INCR", b"-inf", b"a"],
                [b"ZRANGE", b"z", b"0", b"-1", b"WITHSCORES"],
                # inf + -inf in an aggregate is 0; inf * 0 as a weight is 0
                [b"ZUNION", b"2", b"z", b"z", b"WEIGHTS", b"1", b"-1", b"WITHSCORES"],
                [b"ZINTER", b"2", b"z", b"z", b"WEIGHTS", b"0", b"1", b"WITHSCORES"],
                [b"ZUNIONSTORE", b"d", b"1", b"z", b"WEIGHTS", b"0"],
                [b"ZRANGE", b"d", b"0", b"-1", b"WITHSCORES"]):
        same_on_both(s, r, *cmd)


def test_encoding_conversions_match_reference(surge_server, redis_ref_server):
    s, r = raw_pair(surge_server, redis_ref_server, 2)
    enc = lambda key: same_on_both(s, r, b"OBJECT", b"ENCODING", key)  # noqa: E731
    # 128 members stay a listpack; the 129th converts.
    args = [b"ZADD", b"z"]
    for i in range(128):
        args += [b"%d" % i, b"m%03d" % i]
    same_on_both(s, r, *args)
    assert enc(b"z") == b"listpack"
    same_on_both(s, r, b"ZADD", b"z", b"1", b"m000")  # update: no conversion
    assert enc(b"z") == b"listpack"
    same_on_both(s, r, b"ZADD", b"z", b"1", b"extra")
    assert enc(b"z") == b"skiplist"
    # Removing members never converts back...
    same_on_both(s, r, b"ZREMRANGEBYRANK", b"z", b"0", b"120")
    assert enc(b"z") == b"skiplist"
    # ...but results built by the STORE commands follow their final size.
    for cmd in ([b"ZRANGESTORE", b"d", b"z", b"0", b"-1"],
                [b"ZRANGESTORE", b"d", b"z", b"-inf", b"+inf", b"BYSCORE"],
                [b"ZUNIONSTORE", b"d", b"1", b"z"],
                [b"ZINTERSTORE", b"d", b"2", b"z", b"z"],
                [b"ZDIFFSTORE", b"d", b"1", b"z"]):
        same_on_both(s, r, *cmd)
        assert enc(b"d") == b"listpack"
    # A member longer than zset-max-listpack-value converts at once, also
    # for a new key, and a 130-member union stays a skiplist.
    same_on_both(s, r, b"ZADD", b"long", b"1", LONG)
    assert enc(b"long") == b"skiplist"
    same_on_both(s, r, b"ZADD", b"long2", b"1", b"a", b"2", LONG)
    assert enc(b"long2") == b"skiplist"
    same_on_both(s, r, b"ZRANGESTORE", b"d", b"long2", b"0", b"0")
    assert enc(b"d") == b"listpack"
    same_on_both(s, r, b"ZRANGESTORE", b"d", b"long2", b"0", b"-1")
    assert enc(b"d") == b"skiplist"
    args = [b"ZADD", b"big"]
    for i in range(130):
        args += [b"1", b"b%d" % i]
    same_on_both(s, r, *args)
    same_on_both(s, r, b"ZUNIONSTORE", b"d", b"2", b"big", b"z")
    assert enc(b"d") == b"skiplist"
    # 130 copies of one member on a new key: still a listpack.
    same_on_both(s, r, b"ZADD", b"dup", *([b"1", b"a"] * 130))
    assert enc(b"dup") == b"listpack"
    # The thresholds are read at each insertion.
    for cmd in ([b"CONFIG", b"SET", b"zset-max-listpack-entries", b"2"],
                [b"ZADD", b"t", b"1", b"a", b"2", b"b"],
                [b"OBJECT", b"ENCODING", b"t"],
                [b"ZADD", b"t", b"3", b"c"],
                [b"OBJECT", b"ENCODING", b"t"],
                [b"CONFIG", b"SET", b"zset-max-listpack-entries", b"0"],
                [b"ZADD", b"t0", b"1", b"a"],
                [b"OBJECT", b"ENCODING", b"t0"],
                [b"CONFIG", b"SET", b"zset-max-listpack-entries", b"128"],
                [b"CONFIG", b"SET", b"zset-max-listpack-value", b"1"],
                [b"ZADD", b"t1", b"1", b"a"],
                [b"OBJECT", b"ENCODING", b"t1"],
                [b"ZADD", b"t1", b"1", b"ab"],
                [b"OBJECT", b"ENCODING", b"t1"],
                [b"CONFIG", b"SET", b"zset-max-listpack-value", b"64"]):
        same_on_both(s, r, *cmd)
    # Store commands replace the destination whatever its type, and its TTL.
    for cmd in ([b"SET", b"dst", b"x", b"EX", b"1000"],
                [b"ZUNIONSTORE", b"dst", b"1", b"t"],
                [b"TTL", b"dst"],
                [b"TYPE", b"dst"],
                [b"ZRANGE", b"dst", b"0", b"-1", b"WITHSCORES"]):
        same_on_both(s, r, *cmd)


def test_resp3_shapes(surge_server):
    """Nested [member, score] pairs where Redis 7.0 uses them, flat elsewhere."""
    c = surge_server.resp()
    c.call(b"HELLO", b"3")
    c.call(b"ZADD", b"z", b"1", b"a", b"2.5", b"b", b"3", b"c")
    assert c.call(b"ZRANGE", b"z", b"0", b"1", b"WITHSCORES") == [[b"a", 1.0], [b"b", 2.5]]
    assert c.call(b"ZRANDMEMBER", b"z", b"-2", b"WITHSCORES")[0][0] in (b"a", b"b", b"c")
    assert c.call(b"ZUNION", b"1", b"z", b"WITHSCORES")[1] == [b"b", 2.5]
    assert c.call(b"ZSCORE", b"z", b"b") == 2.5
    assert c.call(b"ZSCAN", b"z", b"0") == [b"0", [b"a", b"1", b"b", b"2.5", b"c", b"3"]]
    assert c.call(b"ZPOPMIN", b"z") == [b"a", 1.0]            # no count: flat
    assert c.call(b"ZPOPMIN", b"z", b"1") == [[b"b", 2.5]]    # count: nested
    assert c.call(b"ZMPOP", b"1", b"z", b"MAX") == [b"z", [[b"c", 3.0]]]
    assert c.call(b"ZMPOP", b"1", b"z", b"MAX") is None
    assert c.call(b"ZRANK", b"z", b"a") is None


def test_zrandmember_properties(surge):
    members = {b"m%d" % i: float(i) for i in range(50)}
    surge.zadd("small", members)
    big = {b"b%d" % i: float(i) / 3 for i in range(500)}
    surge.zadd("big", big)
    assert encoding(surge, "small") == b"listpack"
    assert encoding(surge, "big") == b"skiplist"
    for key, content in ((b"small", members), (b"big", big)):
        for count in (1, 5, 49, 200):
            got = surge.zrandmember(key, count)
            assert len(got) == min(count, len(content))
            assert len(set(got)) == len(got)  # distinct for a positive count
            assert set(got) <= set(content)
        got = surge.zrandmember(key, -300)
        assert len(got) == 300 and set(got) <= set(content)
        assert len(set(got)) < 300 or len(content) >= 300  # repeats allowed
        pairs = surge.zrandmember(key, 10, withscores=True)
        flat = list(zip(pairs[::2], pairs[1::2]))
        assert len(flat) == 10
        for m, sc in flat:
            assert float(sc) == content[m]
        assert surge.zrandmember(key) in content
        # count >= size: the whole set, highest score first (as Redis 7.0)
        whole = surge.zrandmember(key, 10000)
        assert whole == sorted(content, key=lambda m: (content[m], m), reverse=True)
    # every member shows up over many draws
    seen = set()
    for _ in range(40):
        seen.update(surge.zrandmember("small", -100))
    assert seen == set(members)


def test_zscan_full_iteration(surge):
    content = {b"m%d" % i: float(i) for i in range(1000)}
    surge.zadd("z", content)
    assert encoding(surge, "z") == b"skiplist"
    got, cursor, calls = {}, 0, 0
    while True:
        cursor, items = surge.zscan("z", cursor, count=37)
        calls += 1
        got.update(dict(items))
        if cursor == 0:
            break
    assert got == content and calls > 5
    cursor, items = surge.zscan("z", 0, match="m99*", count=100000)
    assert cursor == 0 and dict(items) == {m: s for m, s in content.items()
                                           if m.startswith(b"m99")}


def test_large_skiplist_against_reference(surge_server, redis_ref_server):
    """Thousands of members with clashing scores: ranks, ranges and removals."""
    rng = random.Random(SEED * 7 + 1)
    s, r = raw_pair(surge_server, redis_ref_server, 2)
    for _ in range(6):
        args = [b"ZADD", b"big"]
        for _ in range(500):
            args += [b"%d" % rng.randint(-50, 50), b"m%d" % rng.randint(0, 3000)]
        same_on_both(s, r, *args)
    same_on_both(s, r, b"ZCARD", b"big")
    for _ in range(150):
        m = b"m%d" % rng.randint(0, 3000)
        a, b = rng.randint(-60, 60), rng.randint(-60, 60)
        i = rng.randint(-2500, 2500)
        cmd = rng.choice([
            [b"ZRANK", b"big", m], [b"ZREVRANK", b"big", m], [b"ZSCORE", b"big", m],
            [b"ZRANGE", b"big", b"%d" % i, b"%d" % (i + rng.randint(0, 20))],
            [b"ZREVRANGE", b"big", b"%d" % i, b"%d" % (i + 5), b"WITHSCORES"],
            [b"ZCOUNT", b"big", b"(%d" % a, b"%d" % b],
            [b"ZRANGEBYSCORE", b"big", b"%d" % a, b"(%d" % b, b"LIMIT", b"%d" % rng.randint(0, 30),
             b"7"],
            [b"ZREVRANGEBYSCORE", b"big", b"%d" % b, b"%d" % a, b"WITHSCORES", b"LIMIT", b"3",
             b"5"],
            [b"ZINCRBY", b"big", b"%d" % rng.randint(-5, 5), m],
            [b"ZREM", b"big", m, b"m%d" % rng.randint(0, 3000)],
            [b"ZREMRANGEBYSCORE", b"big", b"%d" % a, b"(%d" % (a + 1)],
            [b"ZREMRANGEBYRANK", b"big", b"%d" % i, b"%d" % (i + rng.randint(0, 3))],
            [b"ZPOPMIN", b"big", b"2"], [b"ZPOPMAX", b"big"],
            [b"ZRANGESTORE", b"part", b"big", b"%d" % a, b"%d" % b, b"BYSCORE"],
            [b"ZADD", b"big", b"GT", b"CH", b"%d" % a, m],
        ])
        same_on_both(s, r, *cmd)
    same_on_both(s, r, b"ZRANGE", b"big", b"0", b"-1", b"WITHSCORES")
    same_on_both(s, r, b"ZRANGE", b"part", b"0", b"-1", b"WITHSCORES")


def test_mixed_score_lex_ranges_on_listpacks(surge_server, redis_ref_server):
    """Over mixed scores Redis's answer is unspecified but, for listpacks,
    deterministic: Surge walks the same way."""
    s, r = raw_pair(surge_server, redis_ref_server, 2)
    same_on_both(s, r, b"ZADD", b"z", b"3", b"a", b"1", b"d", b"2", b"b", b"2", b"e", b"0",
                 b"c", b"5", b"f")
    bounds = [b"-", b"+", b"[a", b"(b", b"[c", b"(d", b"[e", b"(z"]
    for lo in bounds:
        for hi in bounds:
            same_on_both(s, r, b"ZRANGEBYLEX", b"z", lo, hi)
            same_on_both(s, r, b"ZREVRANGEBYLEX", b"z", hi, lo)
            same_on_both(s, r, b"ZLEXCOUNT", b"z", lo, hi)
            same_on_both(s, r, b"ZRANGEBYLEX", b"z", lo, hi, b"LIMIT", b"1", b"2")
    same_on_both(s, r, b"ZREMRANGEBYLEX", b"z", b"[b", b"[e")
    same_on_both(s, r, b"ZRANGE", b"z", b"0", b"-1", b"WITHSCORES")


def test_plain_sets_as_setop_inputs(surge_server, redis_ref_server):
    """ZUNION/ZINTER/ZDIFF accept plain sets, every member scoring 1."""
    for proto in (2, 3):
        s, r = raw_pair(surge_server, redis_ref_server, proto)
        same_on_both(s, r, b"SADD", b"iset", b"1", b"2", b"3", b"-5")
        same_on_both(s, r, b"SADD", b"hset", b"a", b"b", b"1", b"zz")
        same_on_both(s, r, b"ZADD", b"z", b"0.5", b"a", b"2", b"1", b"7", b"q", b"-1", b"3")
        for cmd in ([b"ZUNION", b"3", b"iset", b"hset", b"z", b"WITHSCORES"],
                    [b"ZUNION", b"2", b"iset", b"z", b"WEIGHTS", b"2", b"3", b"AGGREGATE",
                     b"MAX", b"WITHSCORES"],
                    [b"ZINTER", b"2", b"hset", b"z", b"WITHSCORES"],
                    [b"ZINTER", b"2", b"z", b"iset", b"AGGREGATE", b"MIN", b"WITHSCORES"],
                    [b"ZINTERCARD", b"3", b"iset", b"hset", b"z"],
                    [b"ZDIFF", b"2", b"hset", b"z", b"WITHSCORES"],
                    [b"ZDIFF", b"2", b"z", b"iset", b"WITHSCORES"],
                    [b"ZUNIONSTORE", b"d", b"2", b"iset", b"hset"],
                    [b"OBJECT", b"ENCODING", b"d"],
                    [b"ZRANGE", b"d", b"0", b"-1", b"WITHSCORES"],
                    [b"ZINTERSTORE", b"d", b"2", b"iset", b"iset"],
                    [b"ZRANGE", b"d", b"0", b"-1", b"WITHSCORES"],
                    [b"ZDIFFSTORE", b"d", b"2", b"iset", b"nokey"],
                    [b"ZRANGE", b"d", b"0", b"-1", b"WITHSCORES"],
                    # but the other sorted-set commands refuse sets
                    [b"ZRANGE", b"iset", b"0", b"-1"],
                    [b"ZRANGESTORE", b"d", b"iset", b"0", b"-1"],
                    [b"ZMPOP", b"1", b"iset", b"MIN"]):
            same_on_both(s, r, *cmd)


def test_keyspace_hooks(surge):
    """COPY (dup), DEBUG DIGEST-VALUE (encoding-free digest), MEMORY USAGE,
    RENAME, TYPE and SCAN TYPE see sorted sets of both encodings."""
    small = {b"m%d" % i: i / 7 for i in range(20)}
    surge.zadd("lp", small)
    surge.config_set("zset-max-listpack-entries", 4)
    surge.zadd("sl", small)
    surge.config_set("zset-max-listpack-entries", 128)
    assert encoding(surge, "lp") == b"listpack" and encoding(surge, "sl") == b"skiplist"
    try:
        surge.execute_command("DEBUG", "DIGEST-VALUE", "lp")
        digest = lambda k: surge.execute_command("DEBUG", "DIGEST-VALUE", k)  # noqa: E731
    except redis.ResponseError:  # the reference disables DEBUG by default
        digest = lambda k: surge.zrange(k, 0, -1, withscores=True)  # noqa: E731
    assert digest("lp") == digest("sl")
    surge.zadd("sl", {"extra": 1})
    assert digest("lp") != digest("sl")
    surge.zrem("sl", "extra")
    for key in ("lp", "sl"):
        assert surge.copy(key, key + "-copy")
        assert surge.zrange(key + "-copy", 0, -1, withscores=True) == \
            surge.zrange(key, 0, -1, withscores=True)
        assert encoding(surge, key + "-copy") == encoding(surge, key)
        assert digest(key + "-copy") == digest(key)
        surge.zadd(key + "-copy", {"new": 5})       # the copy is independent
        assert surge.zscore(key, "new") is None
    big = {b"member-%05d" % i: float(i) for i in range(5000)}
    surge.zadd("big", big)
    assert surge.memory_usage("big") > 5000 * 40
    assert surge.memory_usage("lp") < 2000
    surge.rename("big", "big2")
    assert surge.zcard("big2") == 5000 and surge.zrank("big2", b"member-04999") == 4999
    assert surge.type("big2") == b"zset"
    assert sorted(surge.scan_iter(_type="zset")) == [b"big2", b"lp", b"lp-copy", b"sl",
                                                     b"sl-copy"]
    surge.flushall()
    assert surge.dbsize() == 0


def test_binary_members_and_empty_member(surge):
    surge.zadd("z", {b"": 1, b"\x00\xff\r\n": 2, b"caf\xc3\xa9": 3})
    assert surge.zrange("z", 0, -1) == [b"", b"\x00\xff\r\n", b"caf\xc3\xa9"]
    assert surge.zscore("z", b"\x00\xff\r\n") == 2.0
    assert surge.zrangebylex("z", b"[\x00", b"+") == [b"\x00\xff\r\n", b"caf\xc3\xa9"]
    assert surge.zrangebylex("z", b"-", b"(\x00") == [b""]


def test_hostile_arguments(surge):
    surge.zadd("z", {"a": 1, "b": 2})
    with pytest.raises(redis.ResponseError, match="must between"):
        surge.execute_command("ZRANDMEMBER", "z", "-9223372036854775808")
    with pytest.raises(redis.ResponseError, match="syntax error"):
        surge.execute_command("ZMPOP", "9223372036854775807", "z", "MIN")
    with pytest.raises(redis.ResponseError, match="syntax error"):
        surge.execute_command("ZUNION", "2147483648", "z")
    assert surge.execute_command("ZRANGE", "z", "-9223372036854775808",
                                 "9223372036854775807") == [b"a", b"b"]
    assert surge.execute_command("ZREMRANGEBYRANK", "z", "9223372036854775807",
                                 "-9223372036854775808") == 0
    assert surge.execute_command("ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT",
                                 "9223372036854775807", "9223372036854775807") == []
    assert surge.execute_command("ZPOPMIN", "z", "9223372036854775807") == [b"a", b"1", b"b",
                                                                           b"2"]
    surge.zadd("z", {"a": 1})
    assert len(surge.execute_command("ZSCAN", "z", "0", "COUNT", "9223372036854775807")[1]) == 1
    assert surge.ping()


def test_huge_random_count_stops_at_output_limit(surge_server):
    """ZRANDMEMBER with a count of -2^63+1 ends when the client hits its
    output-buffer limit, instead of looping 2^63 times."""
    admin = surge_server.client()
    admin.zadd("z", {"a": 1, "b": 2})
    admin.config_set("client-output-buffer-limit", "normal 1mb 1mb 0")
    victim = surge_server.resp()
    started = time.monotonic()
    victim.send_command(b"ZRANDMEMBER", b"z", b"-9223372036854775807")
    with pytest.raises((ConnectionError, OSError)):
        while True:
            victim.read_reply()
    assert time.monotonic() - started < 10
    assert admin.ping() and admin.zcard("z") == 2


# ---------------------------------------------------------------------------
# differential stream
# ---------------------------------------------------------------------------
SKEYS = [b"z0", b"z1", b"z2", b"{z}3", b"{z}4"]   # any scores
LKEYS = [b"lex0", b"lex1"]                           # every member scores 0
STR = b"str"        # always a string (WRONGTYPE)
MISSING = b"nokey"  # never created
MEMBERS = [b"a", b"b", b"c", b"d", b"e", b"f", b"g", b"h", b"m1", b"m10", b"m2", b"1", b"-1",
           b"", b"\x00\xff", b"caf\xc3\xa9", b"x y"]
SCORES = [b"0", b"1", b"-1", b"2", b"1.5", b"0.1", b"-0", b"3.0", b"1e30", b"-1e30", b"inf",
          b"-inf", b"+inf", b"1e-310", b"123456789012345678", b"0x10", b"2.5e-5", b"10", b"-2.5",
          b"4611686018427387904", b"9007199254740993", b"5", b"7", b"-3"]
SCORES_BAD = [b"nan", b"abc", b"", b" 1", b"1 ", b"1e400", b"(1"]
SCORE_BOUNDS = [b"-inf", b"+inf", b"inf", b"(1", b"(-1", b"0", b"1.5", b"(1.5", b"2", b"(inf",
                b"(-inf", b"5", b"(5", b"-2.5", b"10", b"1e30", b"0x10", b"-0"]
SCORE_BOUNDS_ODD = [b"", b"(", b" 1", b"nan", b"(nan", b"abc", b"1 ", b"[1"]
LEX_BOUNDS = [b"-", b"+", b"[a", b"(a", b"[c", b"(d", b"[m1", b"(m10", b"[", b"(", b"[\x00",
              b"(zz", b"[h", b"(1"]
LEX_BOUNDS_ODD = [b"a", b"+a", b"-a", b"", b"{"]
INDEXES = [b"0", b"1", b"2", b"3", b"-1", b"-2", b"-3", b"5", b"10", b"-10", b"100", b"-100",
           b"0", b"-1", b"9223372036854775807", b"-9223372036854775808"]
INDEXES_ODD = [b"a", b"1.5", b"", b"+1"]
LIMITS = [b"0", b"1", b"2", b"5", b"-1", b"-5", b"100", b"9223372036854775807",
          b"-9223372036854775808"]


class ZsetStream:
    """A deterministic command list from random.Random(seed)."""

    def __init__(self, seed):
        self.rng = random.Random(seed)

    def case(self, w):
        return w if self.rng.random() < 0.7 else w.lower()

    def pick(self, good, odd, p_odd=0.08):
        return self.rng.choice(odd if self.rng.random() < p_odd else good)

    def skey(self, p_other=0.12, write=False):
        """A score key; STR now and then, and MISSING (never created: only
        commands that cannot create keys get it) when not write."""
        x = self.rng.random()
        if x < p_other / 2:
            return STR
        if x < p_other and not write:
            return MISSING
        return self.rng.choice(SKEYS)

    def lkey(self, write=False):
        x = self.rng.random()
        if x < 0.06:
            return STR
        if x < 0.12 and not write:
            return MISSING
        return self.rng.choice(LKEYS)

    def anykey(self):
        return self.skey() if self.rng.random() < 0.75 else self.lkey()

    def member(self):
        x = self.rng.random()
        if x < 0.01:
            return LONG
        if x < 0.35:
            return b"m%d" % self.rng.randint(0, 250)
        return self.rng.choice(MEMBERS)

    def score(self):
        return self.pick(SCORES, SCORES_BAD, 0.04)

    def zadd(self):
        lex = self.rng.random() < 0.25
        key = self.lkey(write=True) if lex else self.skey(write=True)
        args = [self.case(b"ZADD"), key]
        opts = [b"NX", b"XX", b"GT", b"LT", b"CH", b"INCR"]
        for _ in range(self.rng.choice([0, 0, 0, 1, 1, 2])):
            args.append(self.case(self.rng.choice(opts)))
        if self.rng.random() < 0.06:
            n = self.rng.randint(40, 150)       # bulk: crosses 128 members
        else:
            n = self.rng.choice([1, 1, 1, 2, 3, 5])
        for _ in range(n):
            args += [b"0" if lex else self.score(), self.member()]
        if self.rng.random() < 0.02:
            args.pop()                         # odd argument count
        return args

    def range_tail(self, store, kind):
        tail = []
        if self.rng.random() < 0.2:
            tail.append(self.case(b"REV"))
        if kind is not None:
            tail.append(self.case(kind))
        if not store and self.rng.random() < 0.4 and kind != b"BYLEX":
            tail.append(self.case(b"WITHSCORES"))
        if self.rng.random() < 0.3 and kind is not None:
            tail += [self.case(b"LIMIT"), self.pick(LIMITS[:7], LIMITS[7:], 0.1),
                     self.pick(LIMITS, INDEXES_ODD, 0.05)]
        if self.rng.random() < 0.03:          # misplaced or conflicting options
            tail.append(self.rng.choice([b"WITHSCORES", b"LIMIT", b"BYLEX", b"BYSCORE", b"REV",
                                         b"FOO"]))
        self.rng.shuffle(tail) if self.rng.random() < 0.1 else None
        return tail

    def zrange(self, store):
        x = self.rng.random()
        head = [self.case(b"ZRANGESTORE"), self.rng.choice(SKEYS)] if store else \
            [self.case(b"ZRANGE")]
        if x < 0.4:
            return head + [self.skey(), self.pick(INDEXES, INDEXES_ODD),
                           self.pick(INDEXES, INDEXES_ODD)] + self.range_tail(store, None)
        if x < 0.75:
            lo, hi = self.pick(SCORE_BOUNDS, SCORE_BOUNDS_ODD), self.pick(SCORE_BOUNDS,
                                                                          SCORE_BOUNDS_ODD)
            return head + [self.skey(), lo, hi] + self.range_tail(store, b"BYSCORE")
        lo, hi = self.pick(LEX_BOUNDS, LEX_BOUNDS_ODD), self.pick(LEX_BOUNDS, LEX_BOUNDS_ODD)
        return head + [self.lkey(), lo, hi] + self.range_tail(store, b"BYLEX")

    def old_range(self):
        x = self.rng.random()
        ws = [self.case(b"WITHSCORES")] if self.rng.random() < 0.4 else []
        lim = ([self.case(b"LIMIT"), self.pick(LIMITS[:7], LIMITS[7:], 0.1),
                self.pick(LIMITS, INDEXES_ODD, 0.05)] if self.rng.random() < 0.3 else [])
        sb = lambda: self.pick(SCORE_BOUNDS, SCORE_BOUNDS_ODD)  # noqa: E731
        lb = lambda: self.pick(LEX_BOUNDS, LEX_BOUNDS_ODD)  # noqa: E731
        if x < 0.2:
            return [self.case(b"ZREVRANGE"), self.skey(), self.pick(INDEXES, INDEXES_ODD),
                    self.pick(INDEXES, INDEXES_ODD)] + ws
        if x < 0.45:
            return [self.case(b"ZRANGEBYSCORE"), self.skey(), sb(), sb()] + ws + lim
        if x < 0.7:
            return [self.case(b"ZREVRANGEBYSCORE"), self.skey(), sb(), sb()] + lim + ws
        if x < 0.85:
            return [self.case(b"ZRANGEBYLEX"), self.lkey(), lb(), lb()] + lim
        return [self.case(b"ZREVRANGEBYLEX"), self.lkey(), lb(), lb()] + lim

    def setop(self):
        name = self.rng.choice([b"ZUNION", b"ZINTER", b"ZDIFF", b"ZUNIONSTORE", b"ZINTERSTORE",
                                b"ZDIFFSTORE", b"ZINTERCARD"])
        store = name.endswith(b"STORE")
        n = self.rng.choice([1, 2, 2, 3, 4])
        keys = [self.skey(0.15) for _ in range(n)]
        numkeys = b"%d" % n
        if self.rng.random() < 0.03:
            numkeys = self.rng.choice([b"0", b"-1", b"x", b"%d" % (n + 1),
                                       b"9223372036854775807"])
        args = [self.case(name)] + ([self.rng.choice(SKEYS)] if store else []) + [numkeys] + keys
        if name in (b"ZUNION", b"ZINTER", b"ZUNIONSTORE", b"ZINTERSTORE"):
            if self.rng.random() < 0.3:
                args.append(self.case(b"WEIGHTS"))
                args += [self.pick([b"1", b"2", b"-1", b"0", b"0.5", b"inf", b"-inf", b"1e300"],
                                   [b"nan", b"x"], 0.05) for _ in range(n)]
            if self.rng.random() < 0.3:
                args += [self.case(b"AGGREGATE"), self.case(self.pick([b"SUM", b"MIN", b"MAX"],
                                                                      [b"AVG"], 0.05))]
        if name == b"ZINTERCARD" and self.rng.random() < 0.4:
            args += [self.case(b"LIMIT"), self.pick([b"0", b"1", b"2", b"10"], [b"-1", b"x"])]
        if not store and name != b"ZINTERCARD" and self.rng.random() < 0.5:
            args.append(self.case(b"WITHSCORES"))
        if self.rng.random() < 0.03:
            args.append(self.rng.choice([b"WITHSCORES", b"WEIGHTS", b"AGGREGATE", b"LIMIT"]))
        return args

    def command(self):
        rng = self.rng
        x = rng.random()
        if x < 0.22:
            return self.zadd()
        if x < 0.27:
            key = self.skey(write=True)
            return [self.case(b"ZINCRBY"), key, self.score(), self.member()]
        if x < 0.33:
            return [self.case(b"ZREM"), self.anykey()] + [self.member() for _ in
                                                          range(rng.randint(1, 3))]
        if x < 0.36:
            return [self.case(rng.choice([b"ZCARD", b"TYPE", b"EXISTS"])), self.anykey()]
        if x < 0.40:
            return [self.case(b"ZSCORE"), self.anykey(), self.member()]
        if x < 0.42:
            return [self.case(b"ZMSCORE"), self.anykey()] + [self.member() for _ in
                                                             range(rng.randint(1, 4))]
        if x < 0.45:
            return [self.case(rng.choice([b"ZRANK", b"ZREVRANK"])), self.anykey(), self.member()]
        if x < 0.55:
            return self.zrange(store=False)
        if x < 0.58:
            return self.zrange(store=True)
        if x < 0.64:
            return self.old_range()
        if x < 0.67:
            return [self.case(b"ZCOUNT"), self.skey(), self.pick(SCORE_BOUNDS, SCORE_BOUNDS_ODD),
                    self.pick(SCORE_BOUNDS, SCORE_BOUNDS_ODD)]
        if x < 0.69:
            return [self.case(b"ZLEXCOUNT"), self.lkey(), self.pick(LEX_BOUNDS, LEX_BOUNDS_ODD),
                    self.pick(LEX_BOUNDS, LEX_BOUNDS_ODD)]
        if x < 0.71:
            return [self.case(b"ZREMRANGEBYRANK"), self.anykey(), self.pick(INDEXES, INDEXES_ODD),
                    self.pick(INDEXES, INDEXES_ODD)]
        if x < 0.725:
            return [self.case(b"ZREMRANGEBYSCORE"), self.skey(),
                    self.pick(SCORE_BOUNDS, SCORE_BOUNDS_ODD),
                    self.pick(SCORE_BOUNDS, SCORE_BOUNDS_ODD)]
        if x < 0.735:
            return [self.case(b"ZREMRANGEBYLEX"), self.lkey(),
                    self.pick(LEX_BOUNDS, LEX_BOUNDS_ODD), self.pick(LEX_BOUNDS, LEX_BOUNDS_ODD)]
        if x < 0.77:
            args = [self.case(rng.choice([b"ZPOPMIN", b"ZPOPMAX"])), self.anykey()]
            if rng.random() < 0.5:
                args.append(self.pick([b"0", b"1", b"2", b"5", b"300"], [b"-1", b"x"]))
            return args
        if x < 0.79:
            n = rng.choice([1, 2, 3])
            args = [self.case(b"ZMPOP"), b"%d" % n] + [self.anykey() for _ in range(n)]
            args.append(self.case(self.pick([b"MIN", b"MAX"], [b"MID"], 0.05)))
            if rng.random() < 0.5:
                args += [self.case(b"COUNT"), self.pick([b"1", b"2", b"10"], [b"0", b"-1"])]
            return args
        if x < 0.83:
            args = [self.case(b"ZRANDMEMBER"), self.anykey()]
            if rng.random() < 0.7:
                args.append(self.pick([b"1", b"3", b"-3", b"0", b"20", b"-20", b"500", b"-1"],
                                      [b"x", b"-9223372036854775808"], 0.05))
                if rng.random() < 0.4:
                    args.append(self.case(b"WITHSCORES"))
            return args
        if x < 0.91:
            return self.setop()
        if x < 0.94:
            args = [self.case(b"ZSCAN"), self.anykey(), self.pick([b"0"], [b"7", b"x", b"-1"])]
            if rng.random() < 0.3:
                args += [self.case(b"MATCH"), rng.choice([b"*", b"m*", b"[a-c]", b"m1*", b"?"])]
            if rng.random() < 0.3:
                args += [self.case(b"COUNT"), self.pick([b"1", b"5", b"100"], [b"0", b"x"])]
            return args
        if x < 0.97:
            return [b"OBJECT", b"ENCODING", self.anykey()]
        if x < 0.985:
            return [b"SET", STR, b"text"]
        if x < 0.995:
            return [b"DEL", self.rng.choice(SKEYS + LKEYS)]
        # Thresholds: mostly back to the defaults, sometimes tiny.
        if rng.random() < 0.5:
            return [b"CONFIG", b"SET", b"zset-max-listpack-entries",
                    rng.choice([b"128", b"128", b"128", b"16", b"4", b"1", b"0"])]
        return [b"CONFIG", b"SET", b"zset-max-listpack-value",
                rng.choice([b"64", b"64", b"64", b"3", b"0"])]

    def generate(self, count):
        # STR is a string from the start and stays one: DEL and the STORE
        # commands never target it, ZADD to it fails.
        return [[b"SET", STR, b"text"]] + [self.command() for _ in range(count - 1)]


def zset_stream(seed, count):
    return ZsetStream(seed).generate(count)


def _fmt(args):
    return " ".join(repr(a)[2:-1] if isinstance(a, bytes) else repr(a) for a in args)


def _short(v, limit=300):
    t = repr(v)
    return t if len(t) <= limit else t[:limit] + "...(%d chars)" % len(t)


class ZsetDiffer:
    def __init__(self, surge_server, ref_server, proto):
        self.s, self.r = raw_pair(surge_server, ref_server, proto)
        self.proto = proto
        self.history = []

    def fail(self, index, args, why, sv=None, sraw=None, rv=None, rraw=None):
        hist = "\n".join("  %5d: %s -> %s | %s" % (i, _fmt(a), _short(x, 100), _short(y, 100))
                         for i, a, x, y in self.history[-HISTORY:])
        pytest.fail("zset differential mismatch (seed=%d, RESP%d) at %d: %s\ncommand: %s\n"
                    "surge: %s\n  raw %s\nredis: %s\n  raw %s\npreceding:\n%s\n"
                    "reproduce: DIFF_SEED=%d ZSET_DIFF_COUNT=%d"
                    % (SEED, self.proto, index, why, _fmt(args), _short(sv), _short(sraw),
                       _short(rv), _short(rraw), hist, SEED, index + 1), pytrace=False)

    def run(self, index, args):
        sv, sraw = self.s.call_frame(*args)
        rv, rraw = self.r.call_frame(*args)
        if sraw != rraw:
            name = args[0].upper()
            ok = False
            if not isinstance(sv, RespError) and not isinstance(rv, RespError):
                if name == b"ZRANDMEMBER":
                    ok = self.randmember_ok(args, sv, self.s) and \
                        self.randmember_ok(args, rv, self.r) and \
                        type(sv) is type(rv) and (sv is None or len(sv) == len(rv) or
                                                  isinstance(sv, bytes))
                elif name == b"ZSCAN":
                    ok = self.full_scan(args, self.s) == self.full_scan(args, self.r)
            if not ok:
                self.fail(index, args, "replies differ", sv, sraw, rv, rraw)
        self.history.append((index, args, sv, rv))
        del self.history[:-HISTORY]

    @staticmethod
    def randmember_ok(args, reply, client):
        key = args[1]
        if reply is None:
            return client.call(b"EXISTS", key) == 0
        if isinstance(reply, bytes):
            return client.call(b"ZSCORE", key, reply) is not None
        withscores = len(args) > 3
        count = int(args[2])
        if withscores and reply and isinstance(reply[0], list):  # RESP3: [member, score]
            pairs = [tuple(p) for p in reply]
        elif withscores:
            pairs = list(zip(reply[::2], reply[1::2]))
        else:
            pairs = [(m, None) for m in reply]
        card = client.call(b"ZCARD", key)
        expect = min(count, card) if count >= 0 else -count
        if len(pairs) != expect:
            return False
        if count > 0 and len({m for m, _ in pairs}) != len(pairs):
            return False
        for m, sc in pairs:
            real = client.call(b"ZSCORE", key, m)
            if real is None or (sc is not None and not same_reply(sc, real)):
                return False
        return True

    @staticmethod
    def full_scan(args, client):
        opts = list(args[3:])
        cursor, seen = b"0", set()
        for _ in range(100000):
            reply = client.call(b"ZSCAN", args[1], cursor, *opts)
            if isinstance(reply, RespError):
                return ("error", reply.message)
            cursor, items = reply
            seen.update(zip(items[::2], items[1::2]))
            if cursor == b"0":
                return sorted(seen)
        return None

    def final_check(self, start):
        i = start
        for key in SKEYS + LKEYS + [STR, MISSING]:
            for cmd in ([b"TYPE", key], [b"OBJECT", b"ENCODING", key],
                        [b"ZRANGE", key, b"0", b"-1", b"WITHSCORES"], [b"ZCARD", key],
                        [b"PTTL", key]):
                self.run(i, cmd)
                i += 1
        for cmd in ([b"CONFIG", b"SET", b"zset-max-listpack-entries", b"128"],
                    [b"CONFIG", b"SET", b"zset-max-listpack-value", b"64"], [b"DBSIZE"]):
            self.run(i, cmd)
            i += 1


def _run_zset_differential(surge_server, redis_ref_server, proto):
    stream = zset_stream(SEED, COUNT)
    d = ZsetDiffer(surge_server, redis_ref_server, proto)
    started = time.monotonic()
    for index, args in enumerate(stream):
        d.run(index, args)
    d.final_check(len(stream))
    surge_server.check_alive()
    assert time.monotonic() - started < 30.0 * max(1.0, COUNT / 2000.0)


def test_zset_stream_is_deterministic():
    a = zset_stream(SEED, 400)
    assert a == zset_stream(SEED, 400)
    assert a != zset_stream(SEED + 1, 400)
    names = {args[0].upper() for args in zset_stream(SEED, 2000)}
    for name in (b"ZADD", b"ZINCRBY", b"ZREM", b"ZRANGE", b"ZRANGESTORE", b"ZREVRANGE",
                 b"ZRANGEBYSCORE", b"ZREVRANGEBYSCORE", b"ZRANGEBYLEX", b"ZREVRANGEBYLEX",
                 b"ZCOUNT", b"ZLEXCOUNT", b"ZREMRANGEBYRANK", b"ZREMRANGEBYSCORE",
                 b"ZREMRANGEBYLEX", b"ZPOPMIN", b"ZPOPMAX", b"ZMPOP", b"ZRANDMEMBER",
                 b"ZUNION", b"ZINTER", b"ZDIFF", b"ZUNIONSTORE", b"ZINTERSTORE", b"ZDIFFSTORE",
                 b"ZINTERCARD", b"ZSCAN", b"ZSCORE", b"ZMSCORE", b"ZRANK", b"ZREVRANK",
                 b"ZCARD"):
        assert name in names, name


def test_zset_differential_resp2(surge_server, redis_ref_server):
    _run_zset_differential(surge_server, redis_ref_server, 2)


def test_zset_differential_resp3(surge_server, redis_ref_server):
    _run_zset_differential(surge_server, redis_ref_server, 3)
