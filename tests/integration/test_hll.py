"""Integration tests for the HyperLogLog commands: PFADD PFCOUNT PFMERGE.

Surge stores HyperLogLogs in Redis's string format, so these tests compare
bytes, not only counts:
  * focused tests with the expected values written out (taken from Debian's
    redis-server 7.0.15): the exact bytes after PFADD, the cached
    cardinality, counts at several sizes, the sparse-to-dense promotions;
  * error texts for values that are not HyperLogLogs and for corrupted ones,
    including the CVE-2025-32023 shape (runs overflowing the register
    count), compared with the reference;
  * a seeded differential stream against the reference over RESP2 and RESP3:
    every reply byte for byte, GET of every HLL key (sparse and dense bytes)
    and OBJECT ENCODING.

Every test here also passes against the reference implementation
(SURGE_SERVER=/usr/bin/redis-server).

Environment:
    DIFF_SEED        seed of the stream (default 1)
    HLL_DIFF_COUNT   commands in the stream (default 2000)
"""

import os
import random
import time

import pytest

from resp_client import RespError

SEED = int(os.environ.get("DIFF_SEED", "1"))
COUNT = int(os.environ.get("HLL_DIFF_COUNT", "2000"))
HISTORY = 12

WRONGTYPE = b"WRONGTYPE Operation against a key holding the wrong kind of value"
NOT_HLL = b"WRONGTYPE Key is not a valid HyperLogLog string value."
BAD_HLL = b"INVALIDOBJ Corrupted HLL object detected"

HDR_STALE = b"HYLL\x01\x00\x00\x00" + b"\x00" * 7 + b"\x80"   # sparse, cache invalid
EMPTY_HLL = b"HYLL\x01\x00\x00\x00" + b"\x00" * 8 + b"\x7f\xff"  # sparse, XZERO 16384
DENSE_SIZE = 16 + 12288
# An element whose hash leaves 34 zero bits after the register index, so its
# register value (35) does not fit a sparse VAL opcode (found by search).
BIG_RUN_ELEMENT = b"e2119568080"


def err(client, *args):
    reply = client.call(*args)
    assert isinstance(reply, RespError), "%r returned %r, expected an error" % (args, reply)
    return reply.message


@pytest.fixture
def raw(surge_server, surge):
    return surge_server.resp()


def add_many(call, key, elements, batch=5000):
    """PFADD in batches; call is RespClient.call or redis.Redis.execute_command."""
    for i in range(0, len(elements), batch):
        call(b"PFADD", key, *elements[i:i + batch])


# ---------------------------------------------------------------------------
# Focused tests
# ---------------------------------------------------------------------------
def test_pfadd_pfcount_basics(surge):
    assert surge.pfadd(b"h", b"a", b"b", b"c") == 1
    assert surge.pfadd(b"h", b"a", b"b") == 0
    assert surge.pfcount(b"h") == 3
    assert surge.pfadd(b"h", b"d") == 1
    assert surge.pfcount(b"h") == 4
    assert surge.pfcount(b"missing") == 0
    assert surge.exists(b"missing") == 0
    # PFADD without elements creates an empty HLL once
    assert surge.execute_command("PFADD", b"e") == 1
    assert surge.execute_command("PFADD", b"e") == 0
    assert surge.get(b"e") == HDR_STALE + b"\x7f\xff"
    assert surge.pfcount(b"e") == 0
    assert surge.get(b"e") == EMPTY_HLL
    assert surge.type(b"h") == b"string"
    assert surge.object("encoding", b"h") == b"raw"
    # binary-safe elements
    assert surge.pfadd(b"bin", b"", b"\x00", b"\x00\x00", b"a\r\nb") == 1
    assert surge.pfcount(b"bin") == 4


def test_exact_bytes_and_cached_cardinality(surge):
    """The value is Redis's format byte for byte (numbers from Redis 7.0.15)."""
    surge.pfadd(b"h", b"a", b"b", b"c")
    registers = b"`\xf3\x80P\xb1\x84K\xfb\x80BZ"
    assert surge.get(b"h") == HDR_STALE + registers
    assert surge.pfcount(b"h") == 3
    # PFCOUNT stores the count (little endian) and clears the stale bit
    assert surge.get(b"h") == b"HYLL\x01\x00\x00\x00\x03" + b"\x00" * 7 + registers
    assert surge.pfadd(b"h", b"a") == 0
    assert surge.get(b"h")[15:16] == b"\x00"  # no change, cache still valid
    # a cached cardinality is trusted as is
    surge.setrange(b"h", 8, b"\x39\x30")
    assert surge.pfcount(b"h") == 12345


def test_counts_at_several_sizes(surge):
    """Counts from Redis 7.0.15 for the elements e0 .. e<n-1>."""
    expected = {1000: 1008, 2000: 2000, 5000: 4968, 100000: 100853}
    elements = [b"e%d" % i for i in range(100000)]
    done = 0
    for n in sorted(expected):
        add_many(surge.execute_command, b"h", elements[done:n])
        done = n
        assert surge.pfcount(b"h") == expected[n], n
        size = len(surge.get(b"h"))
        assert size == (1906 if n == 1000 else DENSE_SIZE), n
    # the union of disjoint halves counts like the whole
    add_many(surge.execute_command, b"a", elements[:50000])
    add_many(surge.execute_command, b"b", elements[50000:])
    assert surge.pfcount(b"a", b"b") == 100853
    assert surge.pfmerge(b"m", b"a", b"b")
    assert surge.pfcount(b"m") == 100853
    assert surge.get(b"m")[16:] == surge.get(b"h")[16:]


def test_sparse_to_dense_promotions(surge):
    # by size: a sparse value may not pass 3000 bytes (hll-sparse-max-bytes)
    sizes = []
    for i in range(0, 3000, 50):
        surge.pfadd(b"h", *[b"x%d" % j for j in range(i, i + 50)])
        sizes.append(len(surge.get(b"h")))
        if sizes[-1] == DENSE_SIZE:
            break
    assert sizes[-1] == DENSE_SIZE and max(sizes[:-1]) <= 3000
    assert surge.get(b"h")[4] == 0  # encoding byte: dense
    # by value: a register above 32 does not fit the sparse VAL opcode
    assert surge.pfadd(b"v", b"a", b"b") == 1
    assert len(surge.get(b"v")) < 100
    assert surge.pfadd(b"v", BIG_RUN_ELEMENT) == 1
    value = surge.get(b"v")
    assert len(value) == DENSE_SIZE and value[4] == 0
    assert surge.pfcount(b"v") == 3


def test_writes_keep_ttl_and_make_raw(surge):
    surge.pfadd(b"h", b"a")
    surge.expire(b"h", 1000)
    surge.pfadd(b"h", b"b")
    surge.pfcount(b"h")
    surge.pfmerge(b"h", b"other")
    assert 990 < surge.ttl(b"h") <= 1000
    # a short sparse HLL SET by hand is embstr; the first write makes it raw
    surge.set(b"e", EMPTY_HLL)
    assert surge.object("encoding", b"e") == b"embstr"
    assert surge.pfcount(b"e", b"nokey") == 0  # several keys: read only
    assert surge.object("encoding", b"e") == b"embstr"
    assert surge.pfcount(b"e") == 0
    assert surge.object("encoding", b"e") == b"raw"


def test_pfmerge(surge, raw):
    surge.pfadd(b"a", b"1", b"2", b"3")
    surge.pfadd(b"b", b"3", b"4")
    assert raw.call(b"PFMERGE", b"d", b"a", b"b") == b"OK"
    assert surge.pfcount(b"d") == 4
    assert raw.call(b"PFMERGE", b"d") == b"OK"  # the target alone
    assert surge.pfcount(b"d") == 4
    assert raw.call(b"PFMERGE", b"new") == b"OK"
    assert surge.get(b"new") == HDR_STALE + b"\x7f\xff"
    assert raw.call(b"PFMERGE", b"d", b"missing1", b"missing2") == b"OK"
    assert surge.pfcount(b"d") == 4
    # the target takes part in the union
    assert raw.call(b"PFMERGE", b"a", b"b") == b"OK"
    assert surge.pfcount(b"a") == 4


def test_errors(raw):
    raw.call(b"SET", b"s", b"plain string")
    raw.call(b"SET", b"i", b"12345")
    raw.call(b"RPUSH", b"l", b"x")
    raw.call(b"PFADD", b"h", b"a")
    for cmd in ([b"PFADD", b"s", b"a"], [b"PFCOUNT", b"s"], [b"PFCOUNT", b"h", b"s"],
                [b"PFMERGE", b"s", b"h"], [b"PFMERGE", b"h", b"s"], [b"PFADD", b"i"],
                [b"PFCOUNT", b"i"]):
        assert err(raw, *cmd) == NOT_HLL, cmd
    for cmd in ([b"PFADD", b"l", b"a"], [b"PFCOUNT", b"l"], [b"PFCOUNT", b"h", b"l"],
                [b"PFMERGE", b"l", b"h"], [b"PFMERGE", b"h", b"l"]):
        assert err(raw, *cmd) == WRONGTYPE, cmd
    assert raw.call(b"GET", b"s") == b"plain string"
    # validation of the header
    for value in (b"", b"HYLL", EMPTY_HLL[:15], b"HYLX" + EMPTY_HLL[4:],
                  b"HYLL\x02" + EMPTY_HLL[5:], b"HYLL\x00" + EMPTY_HLL[5:],
                  b"HYLL\x00" + b"\x00" * (DENSE_SIZE - 4)):
        raw.call(b"SET", b"v", value)
        assert err(raw, b"PFCOUNT", b"v") == NOT_HLL, value
        assert err(raw, b"PFADD", b"v", b"x") == NOT_HLL, value
    # a 16-byte sparse value has no opcodes: valid header, corrupt content
    raw.call(b"SET", b"v", HDR_STALE)
    assert err(raw, b"PFCOUNT", b"v") == BAD_HLL
    assert err(raw, b"PFADD", b"v", b"x") == BAD_HLL


def test_corrupted_sparse_values(raw):
    cases = [
        HDR_STALE + b"\x7f\xfe",          # XZERO 16383: one register short
        HDR_STALE + b"\x7f\xff\x00",      # one register too many
        HDR_STALE + b"\x7f",              # XZERO cut off
        HDR_STALE + b"\x83" * 4097,       # VAL runs past the last register
        HDR_STALE + b"\x3f" * 255 + b"\x40",
    ]
    for value in cases:
        raw.call(b"SET", b"v", value)
        assert err(raw, b"PFCOUNT", b"v") == BAD_HLL, value[16:40]
        assert err(raw, b"PFCOUNT", b"v", b"other") == BAD_HLL
        assert err(raw, b"PFMERGE", b"d", b"v") == BAD_HLL
        assert raw.call(b"EXISTS", b"d") == 0
    # an overlong sparse value is promoted by PFADD: the check catches it
    raw.call(b"SET", b"v", HDR_STALE + b"\x83" * 4097)
    assert err(raw, b"PFADD", b"v", b"a", b"b", b"c", b"d", b"e", b"f") == BAD_HLL


def test_hostile_run_overflow(surge_server, redis_ref_server):
    """CVE-2025-32023's shape: XZERO runs summing past 2^31 registers."""
    value = HDR_STALE + b"\x7f\xff" * 140000 + b"\x80"
    for srv in (surge_server, redis_ref_server):
        c = srv.resp()
        c.call(b"FLUSHALL")
        assert c.call(b"SET", b"v", value) == b"OK"
        assert err(c, b"PFCOUNT", b"v") == BAD_HLL
        assert err(c, b"PFCOUNT", b"v", b"v") == BAD_HLL
        assert err(c, b"PFMERGE", b"d", b"v") == BAD_HLL
        assert err(c, b"PFADD", b"v", *[b"x%d" % i for i in range(50)]) == BAD_HLL
        assert c.call(b"STRLEN", b"v") == len(value)
        assert c.call(b"PING") == b"PONG"
    surge_server.check_alive()


def test_large_and_many_elements(surge):
    big = b"x" * (1024 * 1024)
    assert surge.pfadd(b"h", big, big + b"y") == 1
    assert surge.pfcount(b"h") == 2
    surge.pfadd(b"h", *[b"%d" % i for i in range(20000)])
    assert abs(surge.pfcount(b"h") - 20002) < 20002 * 0.03


# ---------------------------------------------------------------------------
# Against the reference
# ---------------------------------------------------------------------------
def same(s, r, *cmd):
    a = s.call_frame(*cmd)[1]
    b = r.call_frame(*cmd)[1]
    assert a == b, "%r\n surge: %r\n redis: %r" % (cmd, a[:200], b[:200])
    return a


def test_bytes_and_counts_match_reference(surge_server, redis_ref_server):
    s, r = surge_server.resp(), redis_ref_server.resp()
    rng = random.Random(SEED)
    for key, n, step in ((b"a", 3000, 37), (b"b", 30000, 1500), (b"c", 300, 1)):
        pool = [b"%s:%d" % (key, rng.randrange(10 ** 9)) for _ in range(n)]
        for i in range(0, n, step):
            same(s, r, b"PFADD", key, *pool[i:i + step])
            same(s, r, b"GET", key)
            if i % (step * 7) == 0:
                same(s, r, b"PFCOUNT", key)
                same(s, r, b"GET", key)
    same(s, r, b"PFCOUNT", b"a", b"b", b"c")
    same(s, r, b"PFMERGE", b"m1", b"a", b"c")  # sparse sources: sparse target
    same(s, r, b"GET", b"m1")
    same(s, r, b"PFMERGE", b"m2", b"c", b"b")  # a dense source: dense target
    same(s, r, b"GET", b"m2")
    same(s, r, b"PFMERGE", b"c", b"a")
    same(s, r, b"GET", b"c")
    for key in (b"a", b"b", b"c", b"m1", b"m2"):
        same(s, r, b"PFCOUNT", key)
        same(s, r, b"OBJECT", b"ENCODING", key)


def ends_in_cut_xzero(value):
    """True when a sparse value's last opcode is an XZERO missing its second
    byte: the one case where Surge and Redis may write different bytes (see
    SET_VALUES below)."""
    if len(value) < 16 or value[4] != 1:
        return False
    i = 16
    while i < len(value):
        i += 2 if 0x40 <= value[i] <= 0x7f else 1
    return i > len(value)


def test_mutated_values_match_reference(surge_server, redis_ref_server):
    """Random damage to sparse and dense values: same errors, same bytes."""
    s, r = surge_server.resp(), redis_ref_server.resp()
    rng = random.Random(SEED)
    for side in (s, r):
        side.call(b"PFADD", b"sparse", *[b"x%d" % i for i in range(300)])
        side.call(b"PFADD", b"dense", *[b"x%d" % i for i in range(5000)])
    sparse = r.call(b"GET", b"sparse")
    dense = r.call(b"GET", b"dense")
    values = []
    for _ in range(150):
        b = bytearray(sparse)
        for _ in range(rng.randint(1, 3)):
            b[rng.randrange(16, len(b))] = rng.randrange(256)
        if rng.random() < 0.2:
            b = b[:rng.randrange(16, len(b) + 1)]
        if not ends_in_cut_xzero(bytes(b)):
            values.append(bytes(b))
    for _ in range(10):
        b = bytearray(dense)
        b[rng.randrange(16, len(b))] = rng.randrange(256)
        values.append(bytes(b))
    for v in values:
        cmd = rng.choice([[b"PFCOUNT", b"k"], [b"PFADD", b"k", b"a", b"b", b"zz", b"q1"],
                          [b"PFCOUNT", b"k", b"sparse"], [b"PFMERGE", b"k", b"sparse"],
                          [b"PFMERGE", b"d", b"k", b"dense"]])
        for side in (s, r):
            side.call(b"DEL", b"k", b"d")
            side.call(b"SET", b"k", v)
        same(s, r, *cmd)
        for check in ([b"GET", b"k"], [b"GET", b"d"], [b"PFCOUNT", b"k"]):
            same(s, r, *check)


# ---------------------------------------------------------------------------
# Differential stream
# ---------------------------------------------------------------------------
HLL_KEYS = [b"h0", b"h1", b"h2", b"{t}h3"]
KEYS = HLL_KEYS + [b"str", b"lst"]
# Values SET into HLL keys now and then: valid, damaged, or not an HLL.
#
# One kind of damage is left out on purpose: a sparse value whose last
# opcode is an XZERO cut off after its first byte. Redis reads the missing
# second byte from past the end of the string (the NUL terminator, or a byte
# an earlier split of such an opcode left there); Surge reads it as zero. The
# errors are the same, but once PFADD splits that opcode the bytes can
# differ. SETRANGE and APPEND below therefore never write an XZERO first
# byte (0x40..0x7f).
SET_VALUES = [EMPTY_HLL, HDR_STALE + b"\x7f\xff", HDR_STALE + b"\x7f\xfe",
              HDR_STALE + b"\x80\x7f\xfe", HDR_STALE + b"\x7f\xfd\x81", HDR_STALE, b"HYLL",
              b"HYLL\x02" + EMPTY_HLL[5:], b"not an hll", b"12345",
              b"HYLL\x01\x00\x00\x00\x07" + b"\x00" * 7 + b"\x7f\xff"]
NON_XZERO_BYTES = [b for b in range(256) if not 0x40 <= b <= 0x7f]


class HllStream:
    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.pool = [b"el%d" % i for i in range(4000)]

    def case(self, word):
        r = self.rng.random()
        return word.upper() if r < 0.7 else word.lower() if r < 0.9 else word.capitalize()

    def hkey(self):
        return self.rng.choice(HLL_KEYS if self.rng.random() < 0.9 else KEYS)

    def elements(self):
        r = self.rng.random()
        if r < 0.6:
            n = self.rng.randint(1, 8)
        elif r < 0.9:
            n = self.rng.randint(20, 300)
        else:
            n = self.rng.randint(0, 1)
        out = [self.rng.choice(self.pool) for _ in range(n)]
        if self.rng.random() < 0.05:
            out.append(BIG_RUN_ELEMENT)
        if self.rng.random() < 0.05:
            out.append(self.rng.choice([b"", b"\x00", b"\xff" * 40]))
        return out

    def table(self):
        c = self.case
        return [
            (30, lambda: [c(b"PFADD"), self.hkey()] + self.elements()),
            (12, lambda: [c(b"PFCOUNT"), self.hkey()]),
            (6, lambda: [c(b"PFCOUNT")] + [self.hkey() for _ in range(self.rng.randint(2, 4))]),
            (6, lambda: [c(b"PFMERGE"), self.hkey()]
             + [self.hkey() for _ in range(self.rng.randint(0, 3))]),
            (10, lambda: [c(b"GET"), self.hkey()]),
            (2, lambda: [c(b"SET"), self.hkey(), self.rng.choice(SET_VALUES)]),
            (2, lambda: [c(b"SETRANGE"), self.hkey(), b"%d" % self.rng.randint(15, 40),
                         bytes([self.rng.choice(NON_XZERO_BYTES)])]),
            (1, lambda: [c(b"APPEND"), self.hkey(), self.rng.choice([b"\x00", b"\x83"])]),
            (2, lambda: [c(b"DEL"), self.hkey()]),
            (3, lambda: [c(b"OBJECT"), c(b"ENCODING"), self.hkey()]),
            (1, lambda: [c(b"STRLEN"), self.hkey()]),
        ]

    def generate(self, count):
        table = self.table()
        weights = [w for w, _ in table]
        gens = [g for _, g in table]
        out = [[b"SET", b"str", b"plain"], [b"RPUSH", b"lst", b"x"]]
        while len(out) < count:
            args = self.rng.choices(gens, weights=weights)[0]()
            if self.rng.random() < 0.02:
                args = args[:1]  # wrong arity
            out.append(args)
        return out


def _fmt(args):
    return " ".join(repr(a)[1:] for a in args)


def _short(value, limit=300):
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "...(%d chars)" % len(text)


class HllDiffer:
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
            lines = ["  %5d: %s -> %s | %s" % (i, _short(_fmt(a), 100), _short(x, 80),
                                               _short(y, 80))
                     for i, a, x, y in self.history[-HISTORY:]]
            pytest.fail("HLL differential mismatch (seed=%d, RESP%d) at index %d\n"
                        "command: %s\nsurge: %s\nredis: %s\npreceding:\n%s\n"
                        "reproduce: DIFF_SEED=%d HLL_DIFF_COUNT=%d"
                        % (SEED, self.protocol, index, _short(_fmt(args)), _short(s_raw),
                           _short(r_raw), "\n".join(lines), SEED, index + 1), pytrace=False)
        self.history.append((index, args, s_val, r_val))
        del self.history[:-HISTORY]
        return r_val

    def final_check(self, index):
        self.run(index, [b"DBSIZE"])
        for key in KEYS:
            for cmd in ([b"TYPE", key], [b"OBJECT", b"ENCODING", key], [b"GET", key],
                        [b"PFCOUNT", key], [b"GET", key]):
                self.run(index, cmd)


def _run_hll_differential(surge_server, redis_ref_server, protocol):
    stream = HllStream(SEED).generate(COUNT)
    differ = HllDiffer(surge_server, redis_ref_server, protocol)
    started = time.monotonic()
    dense_seen = False
    for index, args in enumerate(stream):
        val = differ.run(index, args)
        if args[0].upper() == b"GET" and isinstance(val, bytes) and len(val) == DENSE_SIZE:
            dense_seen = True
    differ.final_check(len(stream))
    surge_server.check_alive()
    assert dense_seen, "the stream never produced a dense HLL"
    elapsed = time.monotonic() - started
    assert elapsed < 30, "HLL differential run took %.1f s" % elapsed


def test_hll_stream_is_deterministic_and_complete():
    a = HllStream(SEED).generate(400)
    assert a == HllStream(SEED).generate(400)
    names = {args[0].upper() for args in HllStream(SEED).generate(COUNT)}
    for name in (b"PFADD", b"PFCOUNT", b"PFMERGE", b"GET", b"SET", b"SETRANGE"):
        assert name in names


def test_hll_differential_resp2(surge_server, redis_ref_server):
    _run_hll_differential(surge_server, redis_ref_server, 2)


def test_hll_differential_resp3(surge_server, redis_ref_server):
    _run_hll_differential(surge_server, redis_ref_server, 3)
