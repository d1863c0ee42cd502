"""Focused integration tests for the string, key, expiry and connection commands.

Most tests go through redis-py (``surge`` fixture, decode_responses=False).
Error texts are checked through the raw RESP client (``surge_server.resp()``)
because redis-py strips the "ERR " prefix and turns errors into exceptions;
the expected texts are exactly what Redis 7.0 replies.

Every test here also passes against the reference implementation:
    SURGE_SERVER=/usr/bin/redis-server /usr/bin/python3 -m pytest tests/integration
"""

import time

import pytest
import redis

from resp_client import RespError, SimpleString

NOT_INT = b"ERR value is not an integer or out of range"
NOT_FLOAT = b"ERR value is not a valid float"
SYNTAX = b"ERR syntax error"
SAME_OBJECT = b"ERR source and destination objects are the same"
DB_RANGE = b"ERR DB index is out of range"


def arity(cmd):
    return b"ERR wrong number of arguments for '%s' command" % cmd


@pytest.fixture
def raw(surge_server, surge):
    """A RESP2 client on the same (already flushed) server as ``surge``."""
    return surge_server.resp()


def assert_error(raw_client, expected, *args):
    """Send ``args`` and require exactly the error reply ``expected``."""
    reply = raw_client.call(*args)
    assert isinstance(reply, RespError), "%r returned %r, expected error %r" % (args, reply, expected)
    assert reply.message == expected, "%r" % (args,)


# ---------------------------------------------------------------------------
# SET and its options
# ---------------------------------------------------------------------------
def test_set_get_basic(surge):
    assert surge.get(b"k") is None
    assert surge.set(b"k", b"v1") is True
    assert surge.get(b"k") == b"v1"
    assert surge.set(b"k", b"v2") is True
    assert surge.get(b"k") == b"v2"
    assert surge.type(b"k") == b"string"
    assert surge.type(b"missing") == b"none"
    assert surge.set(b"empty", b"") is True
    assert surge.get(b"empty") == b""
    assert surge.exists(b"empty") == 1


def test_set_replies_are_status_and_nil(raw):
    assert raw.call_frame(b"SET", b"k", b"v")[1] == b"+OK\r\n"
    assert raw.call_frame(b"SET", b"k", b"v", b"NX")[1] == b"$-1\r\n"
    assert raw.call_frame(b"GET", b"nope")[1] == b"$-1\r\n"


def test_set_ex_px(surge):
    assert surge.set(b"k", b"v", ex=100)
    assert 99 <= surge.ttl(b"k") <= 100
    assert surge.set(b"k", b"v", px=100000)
    assert 99000 <= surge.pttl(b"k") <= 100000
    # a plain SET clears the TTL
    assert surge.set(b"k", b"v")
    assert surge.ttl(b"k") == -1


def test_set_exat_pxat(surge):
    at = int(time.time()) + 1000
    assert surge.set(b"k", b"v", exat=at)
    assert surge.execute_command("EXPIRETIME", b"k") == at
    assert 998 <= surge.ttl(b"k") <= 1000
    pat = int(time.time() * 1000) + 500000
    assert surge.set(b"k", b"v", pxat=pat)
    assert surge.execute_command("PEXPIRETIME", b"k") == pat
    assert 498000 <= surge.pttl(b"k") <= 500000


def test_set_nx_xx(surge):
    assert surge.set(b"k", b"a", xx=True) is None
    assert surge.get(b"k") is None
    assert surge.set(b"k", b"a", nx=True) is True
    assert surge.set(b"k", b"b", nx=True) is None
    assert surge.get(b"k") == b"a"
    assert surge.set(b"k", b"c", xx=True) is True
    assert surge.get(b"k") == b"c"
    assert surge.setnx(b"k", b"d") is False
    assert surge.setnx(b"new", b"d") is True


def test_set_keepttl(surge):
    assert surge.set(b"k", b"v", ex=500)
    assert surge.set(b"k", b"w", keepttl=True)
    assert surge.get(b"k") == b"w"
    assert 498 <= surge.ttl(b"k") <= 500
    assert surge.set(b"k", b"x")
    assert surge.ttl(b"k") == -1
    # KEEPTTL on a key without TTL keeps "no TTL"
    assert surge.set(b"k", b"y", keepttl=True)
    assert surge.ttl(b"k") == -1


def test_set_get_option(surge, raw):
    assert surge.set(b"k", b"new", get=True) is None
    assert surge.set(b"k", b"newer", get=True) == b"new"
    assert surge.get(b"k") == b"newer"
    # Redis 7.0 allows GET together with NX / XX: the old value is returned
    # whether or not the write happened.  (Raw client: redis-py's SET reply
    # callback would turn these bulk replies into booleans.)
    assert raw.call(b"SET", b"k", b"x", b"NX", b"GET") == b"newer"
    assert surge.get(b"k") == b"newer"
    assert raw.call_frame(b"SET", b"nokey", b"x", b"XX", b"GET")[1] == b"$-1\r\n"
    assert surge.exists(b"nokey") == 0
    assert raw.call(b"SET", b"k", b"y", b"XX", b"GET", b"EX", b"100") == b"newer"
    assert surge.get(b"k") == b"y" and surge.ttl(b"k") > 0
    assert raw.call(b"SET", b"k", b"z", b"GET", b"KEEPTTL") == b"y"
    assert surge.ttl(b"k") > 0


def test_set_errors(raw):
    assert_error(raw, b"ERR invalid expire time in 'set' command", b"SET", b"k", b"v", b"EX", b"0")
    assert_error(raw, b"ERR invalid expire time in 'set' command", b"SET", b"k", b"v", b"PX", b"-1")
    assert_error(raw, b"ERR invalid expire time in 'set' command",
                 b"SET", b"k", b"v", b"EX", b"9223372036854775807")
    assert_error(raw, NOT_INT, b"SET", b"k", b"v", b"EX", b"abc")
    assert_error(raw, NOT_INT, b"SET", b"k", b"v", b"EX", b"1.5")
    assert_error(raw, SYNTAX, b"SET", b"k", b"v", b"EX", b"10", b"PX", b"100")
    assert_error(raw, SYNTAX, b"SET", b"k", b"v", b"NX", b"XX")
    assert_error(raw, SYNTAX, b"SET", b"k", b"v", b"KEEPTTL", b"EX", b"10")
    assert_error(raw, SYNTAX, b"SET", b"k", b"v", b"EX")
    assert_error(raw, SYNTAX, b"SET", b"k", b"v", b"BOGUS")
    assert_error(raw, arity(b"set"), b"SET", b"k")
    # none of the failed commands created the key
    assert raw.call(b"EXISTS", b"k") == 0


# ---------------------------------------------------------------------------
# GETEX
# ---------------------------------------------------------------------------
def test_getex_options(surge):
    assert surge.getex(b"missing") is None
    surge.set(b"k", b"v")
    assert surge.getex(b"k") == b"v"
    assert surge.ttl(b"k") == -1
    assert surge.getex(b"k", ex=100) == b"v"
    assert 99 <= surge.ttl(b"k") <= 100
    assert surge.getex(b"k", px=200000) == b"v"
    assert 199000 <= surge.pttl(b"k") <= 200000
    at = int(time.time()) + 3000
    assert surge.getex(b"k", exat=at) == b"v"
    assert surge.execute_command("EXPIRETIME", b"k") == at
    pat = int(time.time() * 1000) + 4000000
    assert surge.getex(b"k", pxat=pat) == b"v"
    assert surge.execute_command("PEXPIRETIME", b"k") == pat
    # no option: TTL untouched
    assert surge.getex(b"k") == b"v"
    assert surge.execute_command("PEXPIRETIME", b"k") == pat
    assert surge.getex(b"k", persist=True) == b"v"
    assert surge.ttl(b"k") == -1


def test_getex_past_time_deletes(surge):
    surge.set(b"k", b"v")
    assert surge.getex(b"k", pxat=1) == b"v"
    assert surge.exists(b"k") == 0
    assert surge.dbsize() == 0


def test_getex_errors(raw):
    raw.call(b"SET", b"k", b"v")
    assert_error(raw, b"ERR invalid expire time in 'getex' command", b"GETEX", b"k", b"EX", b"0")
    assert_error(raw, b"ERR invalid expire time in 'getex' command", b"GETEX", b"k", b"PX", b"-5")
    assert_error(raw, NOT_INT, b"GETEX", b"k", b"EX", b"ten")
    assert_error(raw, SYNTAX, b"GETEX", b"k", b"PERSIST", b"EX", b"10")
    assert_error(raw, SYNTAX, b"GETEX", b"k", b"EX", b"10", b"PX", b"10")
    assert_error(raw, SYNTAX, b"GETEX", b"k", b"KEEPTTL")
    assert_error(raw, arity(b"getex"), b"GETEX")
    assert raw.call(b"TTL", b"k") == -1


# ---------------------------------------------------------------------------
# Other string commands
# ---------------------------------------------------------------------------
def test_setex_psetex_getset_getdel(surge, raw):
    assert surge.setex(b"a", 100, b"1")
    assert 99 <= surge.ttl(b"a") <= 100
    assert surge.psetex(b"b", 100000, b"2")
    assert 99000 <= surge.pttl(b"b") <= 100000
    assert_error(raw, b"ERR invalid expire time in 'setex' command", b"SETEX", b"a", b"0", b"v")
    assert_error(raw, b"ERR invalid expire time in 'psetex' command", b"PSETEX", b"a", b"-5", b"v")
    assert_error(raw, NOT_INT, b"SETEX", b"a", b"abc", b"v")
    assert surge.getset(b"a", b"new") == b"1"
    assert surge.ttl(b"a") == -1          # GETSET drops the TTL
    assert surge.getset(b"c", b"x") is None
    assert surge.getdel(b"c") == b"x"
    assert surge.getdel(b"c") is None
    assert surge.exists(b"c") == 0


def test_mset_mget_msetnx(surge, raw):
    assert surge.mset({b"a": b"1", b"b": b"2"})
    assert surge.mget([b"a", b"nope", b"b", b"a"]) == [b"1", None, b"2", b"1"]
    assert surge.msetnx({b"c": b"3", b"a": b"x"}) is False   # all or nothing
    assert surge.exists(b"c") == 0
    assert surge.msetnx({b"c": b"3", b"d": b"4"}) is True
    assert surge.mget(b"c", b"d") == [b"3", b"4"]
    # MSET: the last value for a repeated key wins
    assert raw.call(b"MSET", b"r", b"1", b"r", b"2") == b"OK"
    assert raw.call(b"GET", b"r") == b"2"
    assert_error(raw, arity(b"mset"), b"MSET", b"a", b"1", b"b")
    assert_error(raw, arity(b"msetnx"), b"MSETNX", b"a")
    assert_error(raw, arity(b"mget"), b"MGET")


def test_append_strlen(surge):
    assert surge.append(b"k", b"Hello") == 5
    assert surge.append(b"k", b" World") == 11
    assert surge.get(b"k") == b"Hello World"
    assert surge.strlen(b"k") == 11
    assert surge.strlen(b"missing") == 0
    assert surge.append(b"k", b"") == 11
    surge.set(b"n", 12)
    assert surge.append(b"n", b"3") == 3
    assert surge.get(b"n") == b"123"


def test_setrange_getrange_substr(surge, raw):
    surge.set(b"k", b"Hello World")
    assert surge.setrange(b"k", 6, b"Redis") == 11
    assert surge.get(b"k") == b"Hello Redis"
    # zero padding past the end, also on a missing key
    assert surge.setrange(b"pad", 5, b"x") == 6
    assert surge.get(b"pad") == b"\x00\x00\x00\x00\x00x"
    # empty value on a missing key: returns 0, creates nothing
    assert surge.setrange(b"nokey", 10, b"") == 0
    assert surge.exists(b"nokey") == 0
    assert surge.setrange(b"k", 100, b"") == 11   # empty value: length, no change
    assert_error(raw, b"ERR offset is out of range", b"SETRANGE", b"k", b"-1", b"x")
    assert_error(raw, NOT_INT, b"SETRANGE", b"k", b"abc", b"x")
    assert_error(raw, b"ERR string exceeds maximum allowed size (proto-max-bulk-len)",
                 b"SETRANGE", b"k", b"536870912", b"x")

    surge.set(b"s", b"This is a string")
    assert surge.getrange(b"s", 0, 3) == b"This"
    assert surge.getrange(b"s", -3, -1) == b"ing"
    assert surge.getrange(b"s", 0, -1) == b"This is a string"
    assert surge.getrange(b"s", 10, 100) == b"string"
    assert surge.getrange(b"s", 5, 2) == b""
    assert surge.getrange(b"s", -100, 3) == b"This"
    # Redis 7.0 quirk: a negative end beyond the start is clamped to 0, so
    # this returns the first byte rather than an empty string.
    assert surge.getrange(b"s", 0, -100) == b"T"
    assert surge.getrange(b"s", -1, -100) == b""
    assert surge.getrange(b"missing", 0, -1) == b""
    assert raw.call(b"SUBSTR", b"s", b"0", b"3") == b"This"
    assert_error(raw, NOT_INT, b"GETRANGE", b"s", b"a", b"1")
    assert_error(raw, arity(b"getrange"), b"GETRANGE", b"s", b"1")


def test_incr_decr_family(surge, raw):
    assert surge.incr(b"n") == 1
    assert surge.incrby(b"n", 10) == 11
    assert surge.decr(b"n") == 10
    assert surge.decrby(b"n", 15) == -5
    assert surge.incrby(b"n", -5) == -10
    assert surge.get(b"n") == b"-10"
    surge.set(b"big", b"9223372036854775807")
    assert_error(raw, b"ERR increment or decrement would overflow", b"INCR", b"big")
    surge.set(b"small", b"-9223372036854775808")
    assert_error(raw, b"ERR increment or decrement would overflow", b"DECR", b"small")
    assert_error(raw, b"ERR decrement would overflow", b"DECRBY", b"n", b"-9223372036854775808")
    for bad_value in (b"abc", b"1.5", b" 1", b"1 ", b"+1", b"01", b"", b"9223372036854775808"):
        surge.set(b"bad", bad_value)
        assert_error(raw, NOT_INT, b"INCR", b"bad")
    assert_error(raw, NOT_INT, b"INCRBY", b"n", b"1.5")
    assert_error(raw, NOT_INT, b"INCRBY", b"n", b"")
    # failed increments leave the value alone
    assert surge.get(b"big") == b"9223372036854775807"
    assert surge.get(b"n") == b"-10"


@pytest.mark.parametrize("initial, incr, expected", [
    (b"10.50", b"0.1", b"10.6"),
    (b"5.0e3", b"2.0e2", b"5200"),
    (None, b"3.0", b"3"),
    (b"1", b"-1", b"0"),
    (b"0", b"1e-5", b"0.00001"),
    (b"0.1", b"0.2", b"0.3"),
    (b"0", b"1e20", b"100000000000000000000"),
    (b"3", b"1.5", b"4.5"),
    (b"-3", b"0.25", b"-2.75"),
    (b"10", b"-0.5", b"9.5"),
    (b"0x10", b"0", b"16"),   # strtold() accepts hex; Redis inherits that
])
def test_incrbyfloat_formatting(surge, raw, initial, incr, expected):
    # raw client: redis-py would parse the bulk reply into a float
    if initial is not None:
        surge.set(b"f", initial)
    assert raw.call_frame(b"INCRBYFLOAT", b"f", incr)[1] == b"$%d\r\n%s\r\n" % (
        len(expected), expected)
    assert surge.get(b"f") == expected


def test_incrbyfloat_errors(surge, raw):
    surge.set(b"f", b"1")
    assert_error(raw, b"ERR increment would produce NaN or Infinity", b"INCRBYFLOAT", b"f", b"inf")
    assert_error(raw, NOT_FLOAT, b"INCRBYFLOAT", b"f", b"nan")
    assert_error(raw, NOT_FLOAT, b"INCRBYFLOAT", b"f", b"abc")
    assert_error(raw, NOT_FLOAT, b"INCRBYFLOAT", b"f", b" 1")
    assert_error(raw, NOT_FLOAT, b"INCRBYFLOAT", b"f", b"")
    surge.set(b"s", b"hello")
    assert_error(raw, NOT_FLOAT, b"INCRBYFLOAT", b"s", b"1")
    assert surge.get(b"f") == b"1"


def test_lcs(surge, raw):
    surge.mset({b"key1": b"ohmytext", b"key2": b"mynewtext"})
    assert raw.call(b"LCS", b"key1", b"key2") == b"mytext"
    assert raw.call(b"LCS", b"key1", b"key2", b"LEN") == 6
    assert raw.call(b"LCS", b"key1", b"key2", b"IDX") == [
        b"matches", [[[4, 7], [5, 8]], [[2, 3], [0, 1]]], b"len", 6]
    assert raw.call(b"LCS", b"key1", b"key2", b"IDX", b"MINMATCHLEN", b"4",
                    b"WITHMATCHLEN") == [b"matches", [[[4, 7], [5, 8], 4]], b"len", 6]
    assert raw.call(b"LCS", b"key1", b"key2", b"IDX", b"WITHMATCHLEN") == [
        b"matches", [[[4, 7], [5, 8], 4], [[2, 3], [0, 1], 2]], b"len", 6]
    # missing keys behave as empty strings
    assert raw.call(b"LCS", b"key1", b"nokey") == b""
    assert raw.call(b"LCS", b"nokey", b"nokey2", b"IDX") == [b"matches", [], b"len", 0]
    assert_error(raw, b"ERR If you want both the length and indexes, please just use IDX.",
                 b"LCS", b"key1", b"key2", b"LEN", b"IDX")
    assert_error(raw, NOT_INT, b"LCS", b"key1", b"key2", b"IDX", b"MINMATCHLEN", b"x")
    assert_error(raw, SYNTAX, b"LCS", b"key1", b"key2", b"MINMATCHLEN")
    assert_error(raw, SYNTAX, b"LCS", b"key1", b"key2", b"BOGUS")


def test_lcs_idx_resp3_is_a_map(surge_server, surge):
    surge.mset({b"a": b"ohmytext", b"b": b"mynewtext"})
    c = surge_server.resp()
    assert isinstance(c.call(b"HELLO", b"3"), dict)
    value, raw = c.call_frame(b"LCS", b"a", b"b", b"IDX")
    assert raw.startswith(b"%2\r\n")
    assert value == {b"matches": [[[4, 7], [5, 8]], [[2, 3], [0, 1]]], b"len": 6}


# ---------------------------------------------------------------------------
# Expiry commands
# ---------------------------------------------------------------------------
def test_ttl_pttl_special_values(surge):
    assert surge.ttl(b"missing") == -2
    assert surge.pttl(b"missing") == -2
    assert surge.execute_command("EXPIRETIME", b"missing") == -2
    assert surge.execute_command("PEXPIRETIME", b"missing") == -2
    surge.set(b"k", b"v")
    assert surge.ttl(b"k") == -1
    assert surge.pttl(b"k") == -1
    assert surge.execute_command("EXPIRETIME", b"k") == -1
    assert surge.execute_command("PEXPIRETIME", b"k") == -1


def test_expire_variants(surge):
    surge.set(b"k", b"v")
    assert surge.expire(b"k", 100) is True
    assert 99 <= surge.ttl(b"k") <= 100
    assert surge.pexpire(b"k", 200000) is True
    assert 199000 <= surge.pttl(b"k") <= 200000
    at = int(time.time()) + 5000
    assert surge.expireat(b"k", at) is True
    assert surge.execute_command("EXPIRETIME", b"k") == at
    pat = at * 1000 + 123
    assert surge.pexpireat(b"k", pat) is True
    assert surge.execute_command("PEXPIRETIME", b"k") == pat
    assert surge.execute_command("EXPIRETIME", b"k") == at   # ms truncated, not rounded
    assert surge.persist(b"k") is True
    assert surge.persist(b"k") is False
    assert surge.ttl(b"k") == -1
    assert surge.expire(b"missing", 100) is False
    assert surge.persist(b"missing") is False


@pytest.mark.parametrize("cmd, value", [
    ("EXPIRE", 0), ("EXPIRE", -10), ("PEXPIRE", 0), ("PEXPIRE", -1),
    ("EXPIREAT", 1), ("PEXPIREAT", 1000), ("EXPIREAT", 0),
])
def test_expire_in_the_past_deletes(surge, cmd, value):
    surge.set(b"k", b"v")
    assert surge.execute_command(cmd, b"k", value) == 1
    assert surge.exists(b"k") == 0
    assert surge.dbsize() == 0


def test_expire_nx_xx_gt_lt(surge):
    # key without TTL: NX and LT set it; XX and GT do not (no TTL = infinite)
    surge.set(b"k", b"v")
    assert surge.expire(b"k", 1000, xx=True) is False
    assert surge.expire(b"k", 1000, gt=True) is False
    assert surge.ttl(b"k") == -1
    assert surge.expire(b"k", 1000, lt=True) is True
    assert surge.persist(b"k")
    assert surge.expire(b"k", 1000, nx=True) is True
    # key with TTL 1000
    assert surge.expire(b"k", 2000, nx=True) is False
    assert surge.expire(b"k", 2000, xx=True) is True     # -> 2000
    assert surge.expire(b"k", 1500, gt=True) is False
    assert surge.expire(b"k", 3000, gt=True) is True     # -> 3000
    assert surge.expire(b"k", 4000, lt=True) is False
    assert surge.expire(b"k", 2500, lt=True) is True     # -> 2500
    assert 2499 <= surge.ttl(b"k") <= 2500
    # the same options on the other three commands
    assert surge.execute_command("PEXPIRE", b"k", 1000000, "LT") == 1
    assert surge.execute_command("PEXPIRE", b"k", 2000000, "LT") == 0
    at = int(time.time()) + 10000
    assert surge.execute_command("EXPIREAT", b"k", at, "GT") == 1
    assert surge.execute_command("EXPIREAT", b"k", at, "GT") == 0     # equal is not greater
    assert surge.execute_command("EXPIREAT", b"k", at, "LT") == 0     # nor less
    assert surge.execute_command("PEXPIREAT", b"k", at * 1000 - 1, "LT") == 1
    assert surge.execute_command("PEXPIREAT", b"k", at * 1000, "NX") == 0
    assert surge.execute_command("PEXPIREAT", b"k", at * 1000, "XX") == 1
    assert surge.execute_command("EXPIRETIME", b"k") == at
    # missing key: 0 whatever the option
    for opt in ("NX", "XX", "GT", "LT"):
        assert surge.execute_command("EXPIRE", b"missing", 100, opt) == 0


def test_expire_errors(raw):
    raw.call(b"SET", b"k", b"v")
    incompatible = b"ERR NX and XX, GT or LT options at the same time are not compatible"
    assert_error(raw, incompatible, b"EXPIRE", b"k", b"100", b"NX", b"XX")
    assert_error(raw, incompatible, b"EXPIRE", b"k", b"100", b"NX", b"GT")
    assert_error(raw, b"ERR GT and LT options at the same time are not compatible",
                 b"PEXPIRE", b"k", b"100", b"GT", b"LT")
    assert_error(raw, b"ERR Unsupported option foo", b"EXPIRE", b"k", b"100", b"foo")
    assert_error(raw, NOT_INT, b"EXPIRE", b"k", b"abc")
    assert_error(raw, NOT_INT, b"EXPIRE", b"k", b"1.5")
    assert_error(raw, b"ERR invalid expire time in 'expire' command",
                 b"EXPIRE", b"k", b"9223372036854775807")
    assert_error(raw, b"ERR invalid expire time in 'pexpire' command",
                 b"PEXPIRE", b"k", b"9223372036854775000")
    assert_error(raw, b"ERR invalid expire time in 'expireat' command",
                 b"EXPIREAT", b"k", b"9223372036854775807")
    assert_error(raw, arity(b"expire"), b"EXPIRE", b"k")
    assert_error(raw, arity(b"ttl"), b"TTL")
    assert raw.call(b"TTL", b"k") == -1


def test_lazy_expiry(surge):
    surge.set(b"k", b"v", px=100)
    surge.set(b"k2", b"v", px=100)
    assert surge.get(b"k") == b"v"
    time.sleep(0.3)
    assert surge.get(b"k") is None
    assert surge.exists(b"k2") == 0
    assert surge.ttl(b"k2") == -2


def test_active_expiry(surge):
    """Expired keys disappear without being touched (the active expire cycle)."""
    with surge.pipeline(transaction=False) as p:
        for i in range(200):
            p.set(b"vol:%d" % i, b"x", px=100)
        for i in range(10):
            p.set(b"keep:%d" % i, b"y")
        p.execute()
    assert surge.dbsize() == 210
    time.sleep(1.5)
    # DBSIZE counts keys still stored (expired or not): must be just the 10 persistent ones
    assert surge.dbsize() == 10


# ---------------------------------------------------------------------------
# Keyspace commands
# ---------------------------------------------------------------------------
def test_del_unlink_exists_touch(surge):
    surge.mset({b"a": b"1", b"b": b"2", b"c": b"3"})
    assert surge.exists(b"a", b"a", b"nope", b"b") == 3     # repeats count
    assert surge.touch(b"a", b"b", b"nope", b"a") == 3
    assert surge.delete(b"a", b"nope", b"a") == 1
    assert surge.unlink(b"b", b"c", b"b") == 2
    assert surge.dbsize() == 0


def test_rename_renamenx(surge, raw):
    surge.set(b"a", b"1", ex=1000)
    assert surge.rename(b"a", b"b")
    assert surge.exists(b"a") == 0
    assert surge.get(b"b") == b"1"
    assert 998 <= surge.ttl(b"b") <= 1000                    # TTL travels
    surge.set(b"c", b"3")
    assert surge.renamenx(b"b", b"c") is False
    assert surge.renamenx(b"b", b"d") is True
    assert surge.rename(b"d", b"c")                           # overwrites
    assert surge.get(b"c") == b"1"
    assert surge.rename(b"c", b"c")                           # same name: OK
    assert raw.call(b"RENAMENX", b"c", b"c") == 0
    assert_error(raw, b"ERR no such key", b"RENAME", b"nope", b"x")
    assert_error(raw, b"ERR no such key", b"RENAMENX", b"nope", b"x")


def test_copy_across_dbs(surge_server, surge, raw):
    db1 = surge_server.client(db=1)
    surge.set(b"src", b"v", ex=1000)
    assert surge.copy(b"src", b"dst") is True
    assert surge.get(b"dst") == b"v"
    assert 998 <= surge.ttl(b"dst") <= 1000                   # TTL copied
    surge.set(b"dst", b"other")
    assert surge.copy(b"src", b"dst") is False                # exists, no REPLACE
    assert surge.get(b"dst") == b"other"
    assert surge.copy(b"src", b"dst", replace=True) is True
    assert surge.get(b"dst") == b"v"
    assert surge.copy(b"src", b"src", destination_db=1) is True
    assert db1.get(b"src") == b"v"
    assert surge.copy(b"missing", b"x", destination_db=1) is False
    # independent copies
    surge.append(b"src", b"!")
    assert db1.get(b"src") == b"v" and surge.get(b"dst") == b"v"
    assert_error(raw, SAME_OBJECT, b"COPY", b"src", b"src")
    assert_error(raw, SAME_OBJECT, b"COPY", b"src", b"src", b"DB", b"0")
    assert_error(raw, DB_RANGE, b"COPY", b"src", b"x", b"DB", b"16")
    assert_error(raw, NOT_INT, b"COPY", b"src", b"x", b"DB", b"abc")
    assert_error(raw, SYNTAX, b"COPY", b"src", b"x", b"BOGUS")


def test_move_across_dbs(surge_server, surge, raw):
    db2 = surge_server.client(db=2)
    surge.set(b"k", b"v", ex=1000)
    assert surge.move(b"k", 2) is True
    assert surge.exists(b"k") == 0
    assert db2.get(b"k") == b"v"
    assert 998 <= db2.ttl(b"k") <= 1000
    surge.set(b"k", b"again")
    assert surge.move(b"k", 2) is False                        # target exists
    assert surge.get(b"k") == b"again"
    assert surge.move(b"missing", 2) is False
    assert_error(raw, SAME_OBJECT, b"MOVE", b"k", b"0")
    assert_error(raw, DB_RANGE, b"MOVE", b"k", b"16")
    assert_error(raw, NOT_INT, b"MOVE", b"k", b"x")


def test_swapdb_and_select(surge_server, surge, raw):
    db1 = surge_server.client(db=1)
    surge.set(b"in0", b"a")
    db1.set(b"in1", b"b")
    assert surge.swapdb(0, 1) is True
    # existing connections see the swapped contents
    assert surge.get(b"in1") == b"b" and surge.exists(b"in0") == 0
    assert db1.get(b"in0") == b"a"
    assert raw.call(b"SWAPDB", b"0", b"0") == b"OK"
    assert_error(raw, b"ERR invalid first DB index", b"SWAPDB", b"a", b"1")
    assert_error(raw, b"ERR invalid second DB index", b"SWAPDB", b"1", b"b")
    assert_error(raw, DB_RANGE, b"SWAPDB", b"0", b"16")
    # SELECT is per connection
    assert raw.call(b"SELECT", b"1") == b"OK"
    assert raw.call(b"GET", b"in0") == b"a"
    assert_error(raw, DB_RANGE, b"SELECT", b"16")
    assert_error(raw, DB_RANGE, b"SELECT", b"-1")
    assert_error(raw, NOT_INT, b"SELECT", b"abc")
    assert raw.call(b"GET", b"in0") == b"a"                   # still on db 1


def test_flushdb_dbsize_keys(surge_server, surge, raw):
    db1 = surge_server.client(db=1)
    surge.mset({b"k1": b"1", b"k2": b"2", b"key3": b"3", b"{t}x": b"4", b"a*b": b"5"})
    db1.set(b"other", b"x")
    assert surge.dbsize() == 5
    assert sorted(surge.keys(b"*")) == [b"a*b", b"k1", b"k2", b"key3", b"{t}x"]
    assert sorted(surge.keys(b"k?")) == [b"k1", b"k2"]
    assert sorted(surge.keys(b"k[1-2]")) == [b"k1", b"k2"]
    assert sorted(surge.keys(b"k[^1]*")) == [b"k2", b"key3"]
    assert surge.keys(b"a\\*b") == [b"a*b"]
    assert surge.keys(b"{t}*") == [b"{t}x"]
    assert surge.keys(b"nomatch*") == []
    assert surge.randomkey() in {b"a*b", b"k1", b"k2", b"key3", b"{t}x"}
    assert surge.flushdb() is True
    assert surge.dbsize() == 0
    assert surge.randomkey() is None
    assert db1.dbsize() == 1                                  # other db untouched
    assert raw.call(b"FLUSHDB", b"ASYNC") == b"OK"
    assert_error(raw, SYNTAX, b"FLUSHDB", b"bogus")
    assert_error(raw, arity(b"dbsize"), b"DBSIZE", b"x")
    assert surge.flushall() is True
    assert db1.dbsize() == 0


@pytest.mark.parametrize("value, encoding", [
    (b"12", b"int"), (b"-9223372036854775808", b"int"), (b"9223372036854775808", b"embstr"),
    (b"012", b"embstr"), (b"", b"embstr"), (b"x" * 44, b"embstr"), (b"x" * 45, b"raw"),
    (b"1.5", b"embstr"),
])
def test_object_encoding(surge, value, encoding):
    surge.set(b"k", value)
    assert surge.object("encoding", b"k") == encoding


def test_object_encoding_after_modification(surge, raw):
    surge.set(b"k", b"12")
    surge.append(b"k", b"3")
    assert surge.object("encoding", b"k") == b"raw"           # APPEND -> raw
    surge.incr(b"k")
    assert surge.object("encoding", b"k") == b"int"           # INCR -> int
    surge.setrange(b"r", 0, b"abc")
    assert surge.object("encoding", b"r") == b"raw"           # SETRANGE -> raw
    surge.incrbyfloat(b"f", 1.5)
    assert surge.object("encoding", b"f") == b"embstr"
    assert raw.call(b"OBJECT", b"ENCODING", b"missing") is None
    assert_error(raw, b"ERR unknown subcommand 'bogus'. Try OBJECT HELP.",
                 b"OBJECT", b"bogus", b"k")
    assert_error(raw, arity(b"object|encoding"), b"OBJECT", b"ENCODING")
    assert_error(raw, arity(b"object"), b"OBJECT")


# ---------------------------------------------------------------------------
# Connection, protocol, errors
# ---------------------------------------------------------------------------
def test_ping_echo(surge, raw):
    assert surge.ping() is True
    assert raw.call_frame(b"PING")[1] == b"+PONG\r\n"
    assert raw.call_frame(b"PING", b"hi there")[1] == b"$8\r\nhi there\r\n"   # bulk, not status
    assert surge.echo(b"\x00\xffbin") == b"\x00\xffbin"
    assert_error(raw, arity(b"ping"), b"PING", b"a", b"b")
    assert_error(raw, arity(b"echo"), b"ECHO")


@pytest.mark.parametrize("args, error", [
    ([b"GET"], arity(b"get")),
    ([b"get"], arity(b"get")),                     # name is lower-cased in the text
    ([b"SET", b"k"], arity(b"set")),
    ([b"INCRBY", b"k", b"x"], NOT_INT),
    ([b"NOSUCHCMD", b"a", b"b"],
     b"ERR unknown command 'NOSUCHCMD', with args beginning with: 'a' 'b' "),
    ([b"nosuchcmd"], b"ERR unknown command 'nosuchcmd', with args beginning with: "),
    ([b"SELECT", b"99"], DB_RANGE),
    ([b"EXPIRE", b"k", b"10", b"XX", b"NX"],
     b"ERR NX and XX, GT or LT options at the same time are not compatible"),
])
def test_error_texts(raw, args, error):
    assert_error(raw, error, *args)


def test_errors_through_redis_py(surge):
    surge.set(b"s", b"abc")
    with pytest.raises(redis.ResponseError, match="value is not an integer or out of range"):
        surge.incr(b"s")
    with pytest.raises(redis.ResponseError, match="value is not a valid float"):
        surge.incrbyfloat(b"s", 1)
    with pytest.raises(redis.ResponseError, match="no such key"):
        surge.rename(b"missing", b"x")


def test_resp3_hello_and_null(surge_server, surge):
    c = surge_server.resp()
    hello = c.call(b"HELLO", b"3")
    assert isinstance(hello, dict)
    assert hello[b"proto"] == 3
    assert c.call_frame(b"GET", b"missing")[1] == b"_\r\n"
    assert c.call_frame(b"SET", b"k", b"v")[1] == b"+OK\r\n"
    assert c.call_frame(b"MGET", b"k", b"missing")[1] == b"*2\r\n$1\r\nv\r\n_\r\n"
    assert c.call_frame(b"EXISTS", b"k")[1] == b":1\r\n"
    # back to RESP2
    assert isinstance(c.call(b"HELLO", b"2"), list)
    assert c.call_frame(b"GET", b"missing")[1] == b"$-1\r\n"


def test_fragmented_and_pipelined_raw_input(surge_server, surge):
    c = surge_server.resp()
    # one byte per send()
    for byte in b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nhello\r\n":
        c.send_raw(bytes([byte]))
        time.sleep(0.0005)
    assert c.read_reply() == SimpleString(b"OK")
    # 100 commands in a single write; replies come back in order
    from resp_client import encode_command
    batch = b"".join(encode_command(b"INCR", b"ctr") for _ in range(100))
    c.send_raw(batch)
    assert [c.read_reply() for _ in range(100)] == list(range(1, 101))
    assert c.call(b"GET", b"key") == b"hello"


# ---------------------------------------------------------------------------
# Volume and binary safety
# ---------------------------------------------------------------------------
def test_pipeline_1000_commands(surge):
    p = surge.pipeline(transaction=False)
    for i in range(250):
        p.set(b"p:%d" % i, b"v%d" % i)
        p.incr(b"counter")
        p.get(b"p:%d" % i)
        p.exists(b"p:%d" % i, b"nope")
    results = p.execute()
    assert len(results) == 1000
    for i in range(250):
        assert results[4 * i:4 * i + 4] == [True, i + 1, b"v%d" % i, 1]
    assert surge.dbsize() == 251
    assert surge.get(b"counter") == b"250"


def test_big_value_roundtrip(surge):
    big = bytes(range(256)) * 4096                     # 1 MiB
    assert surge.set(b"big", big)
    assert surge.get(b"big") == big
    assert surge.strlen(b"big") == len(big)
    assert surge.append(b"big", big) == 2 * len(big)
    assert surge.getrange(b"big", len(big) - 2, len(big) + 1) == b"\xfe\xff\x00\x01"
    assert surge.get(b"big") == big + big


def test_binary_safe_keys_and_values(surge):
    all_bytes = bytes(range(256))
    keys = [bytes([b]) for b in range(256)] + [all_bytes, b"a\r\nb", b"\x00", b" "]
    # every single byte as a key, each holding a different binary value
    mapping = {k: all_bytes[i % 256:] + all_bytes[:i % 256] for i, k in enumerate(keys)}
    assert surge.mset(mapping)
    assert surge.mget(keys) == [mapping[k] for k in keys]
    assert surge.dbsize() == len(set(keys))
    assert sorted(surge.keys(b"*")) == sorted(set(keys))
    assert surge.get(all_bytes) == mapping[all_bytes]
    assert surge.append(b"\x00", b"\x00\r\n") == 259
    assert surge.rename(all_bytes, b"\xff\xfe")
    assert surge.get(b"\xff\xfe") == mapping[all_bytes]
