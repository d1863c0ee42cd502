"""Differential tests: Surge versus the reference redis-server.

A seeded pseudo-random command stream (strings, keys, expiry, connection
commands -- the families Surge implements) is sent, command by command, to a
fresh Surge server and to a fresh reference redis-server.  Every reply must be
identical, byte for byte on the wire, unless one of the rules in
``COMPARE_RULES`` says otherwise.  Error replies are always compared verbatim.

Environment:
    DIFF_SEED   seed of the stream (default 1)
    DIFF_COUNT  number of commands (default 3000)

Reproduce a failure with e.g.
    DIFF_SEED=7 DIFF_COUNT=1234 /usr/bin/python3 -m pytest \
        tests/integration/test_differential.py -q -k resp2

Determinism notes (why the generator looks the way it does):
  * the stream depends only on ``random.Random(seed)``, never on replies or
    on the clock, so both servers always get identical bytes;
  * relative TTLs are far in the future (100..100000 s) and never repeat
    within a stream, so no key expires during the run and GT/LT comparisons
    between two relative TTLs never hinge on a millisecond tick;
  * absolute expiry times are either far in the future (a small fixed pool,
    so GT/LT ties do happen, deterministically) or in the past (which makes
    EXPIRE*/GETEX delete the key at once).  SET with a past EXAT/PXAT is not
    generated: Redis stores such a key and the active-expire cycle removes it
    at a random moment, which would make DBSIZE nondeterministic.
"""

import os
import random
import socket
import threading
import time

import pytest

from resp_client import (BigNumber, Push, RespClient, RespError, RespMap, RespSet,
                         SimpleString, VerbatimString, same_reply)

SEED = int(os.environ.get("DIFF_SEED", "1"))
COUNT = int(os.environ.get("DIFF_COUNT", "3000"))
HISTORY = 10        # commands of context shown on a mismatch
NUM_DBS = 4         # the stream uses databases 0..NUM_DBS-1

# ---------------------------------------------------------------------------
# Comparison rules: the single place where "not byte-exact" is decided.
# Lookup key: upper-case command name, or "COMMAND SUBCOMMAND" for containers.
# Anything not listed is compared EXACT (raw reply bytes must be identical).
# ---------------------------------------------------------------------------
EXACT = "exact"
SORTED = "sorted"              # array reply compared after sorting
TOLERANCE_S = "tolerance_s"    # integer seconds, equal within 1; negatives exact
TOLERANCE_MS = "tolerance_ms"  # integer milliseconds, equal within 1000; negatives exact
MEMBERSHIP = "membership"      # both nil, or both a key that exists on its own server
EXCLUDED = "excluded"          # must never be generated

COMPARE_RULES = {
    "KEYS": (SORTED, "order follows the hash table layout, implementation-defined"),
    "TTL": (TOLERANCE_S, "time-dependent; -1/-2 compared exactly"),
    "EXPIRETIME": (TOLERANCE_S, "derived from each server's clock for relative TTLs"),
    "PTTL": (TOLERANCE_MS, "time-dependent; -1/-2 compared exactly"),
    "PEXPIRETIME": (TOLERANCE_MS, "derived from each server's clock for relative TTLs"),
    "RANDOMKEY": (MEMBERSHIP, "random by definition"),
    "INFO": (EXCLUDED, "server-specific text"),
    "CLIENT": (EXCLUDED, "ids, addresses, ages differ"),
    "DEBUG": (EXCLUDED, "implementation-specific"),
    "HELLO": (EXCLUDED, "server name/version/id differ (sent separately, not compared)"),
    "OBJECT FREQ": (EXCLUDED, "LFU counters are implementation-specific"),
    "OBJECT IDLETIME": (EXCLUDED, "time-dependent LRU clock"),
    "OBJECT REFCOUNT": (EXCLUDED, "shared-object refcounts differ by design"),
    "SCAN": (EXCLUDED, "cursor order differs; see test_scan_same_keys_as_reference"),
}

CONTAINER_COMMANDS = (b"OBJECT", b"CLIENT", b"DEBUG")


def rule_for(args):
    """The comparison rule of a command (EXACT unless COMPARE_RULES says otherwise)."""
    name = args[0].upper()
    if name in CONTAINER_COMMANDS and len(args) > 1:
        key = "%s %s" % (name.decode(), args[1].upper().decode("latin-1"))
        if key in COMPARE_RULES:
            return COMPARE_RULES[key][0]
    return COMPARE_RULES.get(name.decode("latin-1"), (EXACT, ""))[0]


# ---------------------------------------------------------------------------
# Command stream generator
# ---------------------------------------------------------------------------
KEYS = [b"k%d" % i for i in range(8)] + [b"{t}a", b"{t}b", b"{t}c", b"bin\x00\xff key"]

INT_EDGE = [b"9223372036854775807", b"-9223372036854775808", b"9223372036854775806",
            b"-9223372036854775807", b"9223372036854775808", b"-9223372036854775809",
            b"4611686018427387904", b"2147483648", b"-2147483649"]
INT_BAD = [b"+1", b"01", b"-0", b" 1", b"1 ", b"1.0", b"", b"0x10", b"abc", b"1e3"]
FLOATS = [b"3.14", b"-0.5", b"1e3", b"1.5e-3", b"0.1", b"-1e10", b"10.50", b"5.0e3",
          b".5", b"1.", b"-.5", b"0", b"-0", b"1e400", b"inf", b"-inf", b"nan",
          b"1e5000", b"0x10", b" 1", b"1 ", b"3.0", b"17.4e100"]
TEXTS = [b"", b"hello world", b"a b c", b" leading", b"trailing ", b"foo", b"bar",
         b"ohmytext", b"mynewtext", b"x" * 44, b"y" * 45, b"\r\n", b"\x00", b"caf\xc3\xa9"]
KEY_PATTERNS = [b"*", b"k*", b"k?", b"{t}*", b"k[0-3]", b"k[^0-3]", b"*a*", b"\\{t\\}a",
                b"bin*", b"nomatch*", b"?", b"[", b"k[1-", b"*\\*"]
# A small pool of far-future absolute times (seconds): reused so that GT/LT
# and NX/XX hit equal expiry times deterministically.
ABS_SECONDS = [4000000000 + 7919 * i for i in range(12)]
PAST_SECONDS = [1, 1000, 1600000000]


class StreamGenerator:
    """Produces a deterministic list of commands from ``random.Random(seed)``."""

    def __init__(self, seed):
        self.rng = random.Random(seed)
        self._used_rel = set()

    # -- small helpers -------------------------------------------------------
    def case(self, word):
        """Randomize letter case of a command name / option (Redis ignores it)."""
        r = self.rng.random()
        if r < 0.75:
            return word.upper()
        if r < 0.9:
            return word.lower()
        return bytes(c ^ 0x20 if 65 <= c <= 90 and self.rng.random() < 0.5 else c
                     for c in word.upper())

    def key(self):
        return self.rng.choice(KEYS)

    def keys(self, lo=1, hi=4):
        # choices() (with replacement) so repeats like EXISTS k1 k1 happen
        return self.rng.choices(KEYS, k=self.rng.randint(lo, hi))

    def int_arg(self):
        r = self.rng.random()
        if r < 0.7:
            return b"%d" % self.rng.randint(-100, 100)
        if r < 0.85:
            return self.rng.choice(INT_EDGE)
        return self.rng.choice(INT_BAD)

    def float_arg(self):
        r = self.rng.random()
        if r < 0.4:
            return repr(round(self.rng.uniform(-1000, 1000), self.rng.randint(0, 6))).encode()
        if r < 0.6:
            return b"%d" % self.rng.randint(-50, 50)
        return self.rng.choice(FLOATS)

    def word(self, lo=1, hi=50):
        # small alphabet so LCS finds something interesting
        n = self.rng.randint(lo, hi)
        return bytes(self.rng.choice(b"abcde ") for _ in range(n))

    def value(self):
        r = self.rng.random()
        if r < 0.25:
            return b"%d" % self.rng.randint(-1000, 1000)
        if r < 0.32:
            return self.rng.choice(INT_EDGE + INT_BAD)
        if r < 0.45:
            return self.float_arg()
        if r < 0.6:
            return self.rng.choice(TEXTS)
        if r < 0.7:
            return bytes(self.rng.randrange(256) for _ in range(self.rng.randint(0, 20)))
        return self.word()

    def rel_seconds(self):
        """A far-future relative TTL in seconds, unique within this stream."""
        while True:
            s = self.rng.randint(100, 100000)
            if s not in self._used_rel:
                self._used_rel.add(s)
                return s

    def ttl_arg(self, unit, absolute, allow_past=True):
        """An expiry argument.

        unit: 's' or 'ms'; absolute: False for EX/PX/EXPIRE, True for *AT.
        Mostly valid far-future values; sometimes past / zero / negative
        (immediate deletion for EXPIRE*/GETEX, an error for SET/SETEX),
        overflowing or non-numeric.
        """
        r = self.rng.random()
        mult = 1000 if unit == "ms" else 1
        if r < 0.75 or (not allow_past and r < 0.85):
            if absolute:
                base = self.rng.choice(ABS_SECONDS) * mult
                # occasionally a few ms off the pooled value (still far away)
                return b"%d" % (base + (self.rng.choice([0, 0, 0, 1, 7]) if mult > 1 else 0))
            # +500 ms keeps all relative PX values 500 ms away from each other
            return b"%d" % (self.rel_seconds() * mult + (500 if mult > 1 else 0))
        if r < 0.85:
            if absolute:
                return b"%d" % (self.rng.choice(PAST_SECONDS) * mult)
            return self.rng.choice([b"0", b"-1", b"-100"])
        return self.rng.choice([b"abc", b"", b"1.5", b"9223372036854775807",
                                b"-9223372036854775808", b"4611686018427387904",
                                b"9223372036854775000"])

    def maybe_break(self, args):
        """Sometimes damage a well-formed command: drop or add arguments.

        Appended junk is never numeric: "GETEX k EX" + "1" would create a
        1-second TTL that expires mid-run.
        """
        r = self.rng.random()
        if r < 0.03 and len(args) > 1:
            return args[:self.rng.randint(1, len(args) - 1)]
        if r < 0.05:
            return args + [self.rng.choice([b"junk", b"EX", b"", b"NX"])]
        return args

    # -- per-command generators ----------------------------------------------
    def gen_set(self):
        args = [self.case(b"SET"), self.key(), self.value()]
        opts = []
        r = self.rng.random()
        if r < 0.15:
            opts += [self.case(b"EX"), self.ttl_arg("s", False, allow_past=False)]
        elif r < 0.25:
            opts += [self.case(b"PX"), self.ttl_arg("ms", False, allow_past=False)]
        elif r < 0.32:
            opts += [self.case(b"EXAT"), self.ttl_arg("s", True, allow_past=False)]
        elif r < 0.39:
            opts += [self.case(b"PXAT"), self.ttl_arg("ms", True, allow_past=False)]
        elif r < 0.47:
            opts.append(self.case(b"KEEPTTL"))
        r = self.rng.random()
        if r < 0.15:
            opts.append(self.case(b"NX"))
        elif r < 0.3:
            opts.append(self.case(b"XX"))
        if self.rng.random() < 0.2:
            opts.append(self.case(b"GET"))
        if self.rng.random() < 0.05:
            # conflicting / incomplete options -> syntax errors
            opts.append(self.case(self.rng.choice([b"EX", b"PX", b"NX", b"XX", b"KEEPTTL",
                                                   b"EXAT", b"BOGUS"])))
        if self.rng.random() < 0.1:
            self.rng.shuffle(opts)  # options in odd places -> mostly syntax errors
        return args + opts

    def gen_getex(self):
        args = [self.case(b"GETEX"), self.key()]
        r = self.rng.random()
        if r < 0.15:
            args += [self.case(b"EX"), self.ttl_arg("s", False)]
        elif r < 0.3:
            args += [self.case(b"PX"), self.ttl_arg("ms", False)]
        elif r < 0.42:
            args += [self.case(b"EXAT"), self.ttl_arg("s", True)]
        elif r < 0.54:
            args += [self.case(b"PXAT"), self.ttl_arg("ms", True)]
        elif r < 0.7:
            args.append(self.case(b"PERSIST"))
        if self.rng.random() < 0.05:
            args.append(self.case(self.rng.choice([b"PERSIST", b"EX", b"KEEPTTL", b"NX"])))
        return args

    def gen_expire(self):
        name = self.rng.choice([b"EXPIRE", b"PEXPIRE", b"EXPIREAT", b"PEXPIREAT"])
        unit = "ms" if name.startswith(b"P") else "s"
        args = [self.case(name), self.key(), self.ttl_arg(unit, name.endswith(b"AT"))]
        r = self.rng.random()
        if r < 0.5:
            args.append(self.case(self.rng.choice([b"NX", b"XX", b"GT", b"LT"])))
        elif r < 0.58:
            args += [self.case(x) for x in self.rng.sample([b"NX", b"XX", b"GT", b"LT"], 2)]
        elif r < 0.61:
            args.append(self.case(b"FOO"))
        return args

    def gen_lcs(self):
        args = [self.case(b"LCS"), self.key(), self.key()]
        opts = []
        if self.rng.random() < 0.2:
            opts.append(self.case(b"LEN"))
        if self.rng.random() < 0.5:
            opts.append(self.case(b"IDX"))
        if self.rng.random() < 0.3:
            opts += [self.case(b"MINMATCHLEN"),
                     self.rng.choice([b"0", b"1", b"2", b"4", b"-1", b"abc"])]
        if self.rng.random() < 0.3:
            opts.append(self.case(b"WITHMATCHLEN"))
        if self.rng.random() < 0.03:
            opts.append(self.case(b"BOGUS"))
        return args + opts

    def gen_copy(self):
        args = [self.case(b"COPY"), self.key(), self.key()]
        if self.rng.random() < 0.5:
            args += [self.case(b"DB"), self.db_arg()]
        if self.rng.random() < 0.4:
            args.append(self.case(b"REPLACE"))
        return args

    def db_arg(self):
        if self.rng.random() < 0.9:
            return b"%d" % self.rng.randrange(NUM_DBS)
        return self.rng.choice([b"16", b"-1", b"abc", b"99999999999999999999"])

    def gen_mset(self, name):
        pairs = []
        for k in self.keys(1, 4):
            pairs += [k, self.value()]
        if self.rng.random() < 0.05:
            pairs.pop()  # odd number of arguments
        return [self.case(name)] + pairs

    def build_table(self):
        c, k, v = self.case, self.key, self.value
        return [
            # (weight, generator)
            (8, lambda: [c(b"GET"), k()]),
            (14, self.gen_set),
            (2, lambda: [c(b"SETNX"), k(), v()]),
            (2, lambda: [c(b"SETEX"), k(), self.ttl_arg("s", False), v()]),
            (2, lambda: [c(b"PSETEX"), k(), self.ttl_arg("ms", False), v()]),
            (3, lambda: [c(b"MGET")] + self.keys(1, 5)),
            (3, lambda: self.gen_mset(b"MSET")),
            (2, lambda: self.gen_mset(b"MSETNX")),
            (2, lambda: [c(b"GETSET"), k(), v()]),
            (2, lambda: [c(b"GETDEL"), k()]),
            (4, self.gen_getex),
            (4, lambda: [c(b"APPEND"), k(), v()]),
            (2, lambda: [c(b"STRLEN"), k()]),
            (3, lambda: [c(b"SETRANGE"), k(), self.rng.choice(
                [b"%d" % self.rng.randint(0, 60)] * 8
                + [b"-1", b"abc", b"536870912"]), v()]),
            (3, lambda: [c(self.rng.choice([b"GETRANGE", b"SUBSTR"])), k(),
                         self.rng.choice([b"%d" % self.rng.randint(-60, 60)] * 6 + INT_EDGE[:2]
                                         + [b"x"]),
                         self.rng.choice([b"%d" % self.rng.randint(-60, 60)] * 6 + INT_EDGE[:2])]),
            (4, lambda: [c(self.rng.choice([b"INCR", b"DECR"])), k()]),
            (4, lambda: [c(self.rng.choice([b"INCRBY", b"DECRBY"])), k(), self.int_arg()]),
            (4, lambda: [c(b"INCRBYFLOAT"), k(), self.float_arg()]),
            (3, self.gen_lcs),
            (3, lambda: [c(self.rng.choice([b"DEL", b"UNLINK"]))] + self.keys(1, 3)),
            (3, lambda: [c(b"EXISTS")] + self.keys(1, 5)),
            (2, lambda: [c(b"TYPE"), k()]),
            (2, lambda: [c(self.rng.choice([b"RENAME", b"RENAMENX"])), k(), k()]),
            (2, self.gen_copy),
            (2, lambda: [c(b"MOVE"), k(), self.db_arg()]),
            (1, lambda: [c(b"SWAPDB"), self.db_arg(), self.db_arg()]),
            (2, lambda: [c(b"SELECT"), self.db_arg()]),
            (6, self.gen_expire),
            (2, lambda: [c(b"PERSIST"), k()]),
            (1, lambda: [c(b"TOUCH")] + self.keys(1, 4)),
            (2, lambda: [c(b"KEYS"), self.rng.choice(KEY_PATTERNS)]),
            (2, lambda: [c(b"DBSIZE")]),
            (0.3, lambda: [c(b"FLUSHDB")] + self.rng.choice(
                [[], [], [c(b"ASYNC")], [c(b"SYNC")], [b"bogus"]])),
            (0.1, lambda: [c(b"FLUSHALL")]),
            (3, lambda: [c(b"OBJECT"), c(b"ENCODING"), k()]),
            (0.3, lambda: [c(b"OBJECT"), self.rng.choice([b"bogus", b"ENCODINGX"]), k()]),
            (4, lambda: [c(self.rng.choice([b"TTL", b"PTTL", b"EXPIRETIME", b"PEXPIRETIME"])),
                         k()]),
            (0.5, lambda: [c(b"RANDOMKEY")]),
            (1, lambda: [c(b"PING")] + self.rng.choice([[], [v()]])),
            (1, lambda: [c(b"ECHO"), v()]),
            # Unknown commands.  No NUL bytes in the name: Redis looks commands
            # up with a length-aware hash but a strcasecmp() compare, so
            # "SET\0" is found or not depending on the per-process hash seed.
            (0.2, lambda: [self.rng.choice([b"NOSUCHCMD", b"gett", b"GET\xff"])]
             + [v() for _ in range(self.rng.randint(0, 3))]),
        ]

    def generate(self, count):
        table = self.build_table()
        weights = [w for w, _ in table]
        gens = [g for _, g in table]
        stream = []
        for _ in range(count):
            gen = self.rng.choices(gens, weights=weights)[0]
            args = self.maybe_break(list(gen()))
            rule = rule_for(args)
            assert rule != EXCLUDED, "generator produced an excluded command %r" % (args,)
            stream.append(args)
        return stream


def generate_stream(seed, count):
    return StreamGenerator(seed).generate(count)


# ---------------------------------------------------------------------------
# Comparison
# ---------------------------------------------------------------------------
def _int_close(a, b, tol):
    if not (type(a) is int and type(b) is int):
        return False
    if a < 0 or b < 0:
        return a == b
    return abs(a - b) <= tol


def replies_match(args, s_val, s_raw, r_val, r_raw, surge_client, ref_client):
    """Apply COMPARE_RULES; returns True when the two replies are equivalent."""
    if s_raw == r_raw:
        return True
    if isinstance(s_val, RespError) or isinstance(r_val, RespError):
        return False  # errors: always verbatim
    rule = rule_for(args)
    if rule == SORTED:
        return (type(s_val) is type(r_val) and isinstance(s_val, list)
                and same_reply(sorted(s_val), sorted(r_val)))
    if rule == TOLERANCE_S:
        return _int_close(s_val, r_val, 1)
    if rule == TOLERANCE_MS:
        return _int_close(s_val, r_val, 1000)
    if rule == MEMBERSHIP:
        if s_val is None or r_val is None:
            return s_val is None and r_val is None
        # Each server's random key must exist on that server.  EXISTS is a
        # read-only extra command, sent identically to both sides.
        return (surge_client.call(b"EXISTS", s_val) == 1
                and ref_client.call(b"EXISTS", r_val) == 1)
    return False


def _fmt_args(args):
    return " ".join(repr(a)[1:] if isinstance(a, bytes) else repr(a) for a in args)


def _short(value, limit=400):
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "...(%d chars)" % len(text)


class Differ:
    """Sends each command to both servers and records a bounded history."""

    def __init__(self, surge_server, ref_server, protocol, seed):
        self.surge_server = surge_server
        self.ref_server = ref_server
        self.surge = surge_server.resp()
        self.ref = ref_server.resp()
        self.protocol = protocol
        self.seed = seed
        self.history = []

    def hello(self):
        if self.protocol == 3:
            for side, client in (("surge", self.surge), ("redis", self.ref)):
                reply = client.call(b"HELLO", b"3")
                assert isinstance(reply, dict), "%s: HELLO 3 returned %r" % (side, reply)

    def _call(self, side, client, server, args, index):
        try:
            return client.call_frame(*args)
        except (OSError, ConnectionError) as exc:
            pytest.fail("%s connection failed at index %d (%s) on command %s: %r\n"
                        "--- %s log ---\n%s\n%s"
                        % (side, index, self._where(), _fmt_args(args), exc, side,
                           server.log_tail(), self._history_text()), pytrace=False)

    def _where(self):
        return "seed=%d, RESP%d" % (self.seed, self.protocol)

    def _history_text(self):
        lines = ["preceding commands (index: command -> surge reply | redis reply):"]
        for i, args, s_val, r_val in self.history[-HISTORY:]:
            lines.append("  %5d: %s -> %s | %s" % (i, _fmt_args(args), _short(s_val, 120),
                                                   _short(r_val, 120)))
        return "\n".join(lines)

    def run(self, index, args):
        s_val, s_raw = self._call("surge", self.surge, self.surge_server, args, index)
        r_val, r_raw = self._call("redis", self.ref, self.ref_server, args, index)
        if not replies_match(args, s_val, s_raw, r_val, r_raw, self.surge, self.ref):
            pytest.fail(
                "reply mismatch (%s, rule=%s) at index %d\n"
                "command: %s\n"
                "surge:   %s\n         raw %s\n"
                "redis:   %s\n         raw %s\n%s\n"
                "reproduce: DIFF_SEED=%d DIFF_COUNT=%d"
                % (self._where(), rule_for(args), index, _fmt_args(args),
                   _short(s_val), _short(s_raw), _short(r_val), _short(r_raw),
                   self._history_text(), self.seed, index + 1),
                pytrace=False)
        self.history.append((index, args, s_val, r_val))
        del self.history[:-HISTORY]


def _final_state_check(differ, start_index):
    """After the stream: every db must hold the same keys, values, encodings, TTLs."""
    i = start_index
    for db in range(NUM_DBS):
        differ.run(i, [b"SELECT", b"%d" % db])
        i += 1
        keys, _ = differ.surge.call_frame(b"KEYS", b"*")
        differ.run(i, [b"KEYS", b"*"])
        i += 1
        differ.run(i, [b"DBSIZE"])
        i += 1
        for key in sorted(keys):
            for cmd in ([b"GET", key], [b"OBJECT", b"ENCODING", key], [b"PTTL", key]):
                differ.run(i, cmd)
                i += 1


def _run_differential(surge_server, redis_ref_server, protocol):
    stream = generate_stream(SEED, COUNT)
    differ = Differ(surge_server, redis_ref_server, protocol, SEED)
    differ.hello()
    for side in (differ.surge, differ.ref):
        assert side.call(b"FLUSHALL") == b"OK"
    started = time.monotonic()
    for index, args in enumerate(stream):
        differ.run(index, args)
    _final_state_check(differ, len(stream))
    surge_server.check_alive()
    elapsed = time.monotonic() - started
    limit = 60.0 * max(1.0, COUNT / 3000.0)   # 60 s for the default 3000 commands
    assert elapsed < limit, "differential run took %.1f s (limit %.0f s)" % (elapsed, limit)


# ---------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------
def test_stream_is_deterministic():
    """The same seed always yields the same stream; different seeds differ."""
    a = generate_stream(SEED, 500)
    assert a == generate_stream(SEED, 500)
    assert a != generate_stream(SEED + 1, 500)
    # all command families are represented in a default-size stream
    names = {args[0].upper() for args in generate_stream(SEED, 3000)}
    for name in (b"SET", b"GETEX", b"LCS", b"COPY", b"SWAPDB", b"PEXPIREAT", b"OBJECT",
                 b"INCRBYFLOAT", b"MSETNX", b"RANDOMKEY", b"KEYS", b"SETRANGE"):
        assert name in names


def test_differential_resp2(surge_server, redis_ref_server):
    _run_differential(surge_server, redis_ref_server, protocol=2)


def test_differential_resp3(surge_server, redis_ref_server):
    _run_differential(surge_server, redis_ref_server, protocol=3)


def test_real_expiry_matches_reference(surge_server, redis_ref_server):
    """Keys set with PX 50 are gone 200 ms later on both servers."""
    sides = [surge_server.resp(), redis_ref_server.resp()]
    for c in sides:
        assert c.call(b"FLUSHALL") == b"OK"
        assert c.call(b"SET", b"a", b"1", b"PX", b"50") == b"OK"
        assert c.call(b"PSETEX", b"b", b"50", b"2") == b"OK"
        assert c.call(b"SET", b"c", b"3") == b"OK"
        assert c.call(b"PEXPIRE", b"c", b"50") == 1
    time.sleep(0.2)
    results = []
    for c in sides:
        results.append([c.call_frame(*cmd)[1] for cmd in (
            [b"GET", b"a"], [b"EXISTS", b"b"], [b"TTL", b"c"], [b"PTTL", b"a"],
            [b"GET", b"c"], [b"DBSIZE"], [b"KEYS", b"*"])])
    assert results[0] == results[1]
    assert results[1] == [b"$-1\r\n", b":0\r\n", b":-2\r\n", b":-2\r\n", b"$-1\r\n",
                          b":0\r\n", b"*0\r\n"]


def _scan_all(client, *opts):
    """Iterate SCAN to completion; return (set of keys, number of calls)."""
    cursor = b"0"
    found = []
    calls = 0
    while True:
        reply = client.call(b"SCAN", cursor, *opts)
        assert isinstance(reply, list) and len(reply) == 2, reply
        cursor, keys = reply
        found.extend(keys)
        calls += 1
        assert calls < 10000, "SCAN does not terminate"
        if cursor == b"0":
            return set(found), calls


def test_scan_same_keys_as_reference(surge_server, redis_ref_server):
    """Full SCAN iterations (MATCH / COUNT / TYPE) return the same key sets."""
    keys = ([b"user:%d" % i for i in range(400)] + [b"item:%d" % i for i in range(400)]
            + [b"{t}x%d" % i for i in range(150)] + [b"bin\x00%c" % i for i in range(50)])
    assert len(keys) == 1000
    sides = [surge_server.resp(), redis_ref_server.resp()]
    for c in sides:
        assert c.call(b"FLUSHALL") == b"OK"
        for start in range(0, len(keys), 100):
            chunk = keys[start:start + 100]
            args = [b"MSET"]
            for k in chunk:
                args += [k, k[::-1]]
            assert c.call(*args) == b"OK"
        assert c.call(b"DBSIZE") == 1000

    option_sets = [
        (), (b"COUNT", b"7"), (b"COUNT", b"1000"), (b"MATCH", b"user:*"),
        (b"MATCH", b"user:1?", b"COUNT", b"3"), (b"MATCH", b"*\\{t\\}*"),
        (b"TYPE", b"string"), (b"TYPE", b"STRING", b"MATCH", b"item:*"),
        (b"TYPE", b"list"), (b"MATCH", b"nomatch*", b"COUNT", b"50"),
        (b"MATCH", b"bin\x00*"),
    ]
    for opts in option_sets:
        got, _ = _scan_all(sides[0], *opts)
        want, _ = _scan_all(sides[1], *opts)
        assert got == want, "SCAN 0 %s: surge has %d keys, redis %d; surge-only %r, redis-only %r" % (
            _fmt_args(opts), len(got), len(want), sorted(got - want)[:5], sorted(want - got)[:5])
    # sanity: plain SCAN sees every key
    assert _scan_all(sides[0])[0] == set(keys)

    # error replies, compared verbatim
    for bad in ([b"abc"], [b"18446744073709551616"], [b"1.5"], [b"0", b"COUNT", b"0"], [b"0", b"COUNT", b"abc"],
                [b"0", b"MATCH"], [b"0", b"FOO", b"bar"], [b"0", b"TYPE"], []):
        s = sides[0].call_frame(b"SCAN", *bad)[1]
        r = sides[1].call_frame(b"SCAN", *bad)[1]
        assert s == r, "SCAN %s: surge %r, redis %r" % (_fmt_args(bad), s, r)


# ---------------------------------------------------------------------------
# Self-test of the harness's RESP parser (no server needed)
# ---------------------------------------------------------------------------
def test_resp_client_parses_every_resp3_type():
    frames = [
        (b"+OK\r\n", SimpleString(b"OK")),
        (b"-ERR bad thing\r\n", RespError(b"ERR bad thing")),
        (b":-42\r\n", -42),
        (b"$5\r\na\r\nbc\r\n", b"a\r\nbc"),
        (b"$0\r\n\r\n", b""),
        (b"$-1\r\n", None),
        (b"*-1\r\n", None),
        (b"*0\r\n", []),
        (b"*2\r\n*1\r\n:1\r\n$1\r\nx\r\n", [[1], b"x"]),
        (b"_\r\n", None),
        (b",1.5\r\n", 1.5),
        (b",-inf\r\n", float("-inf")),
        (b"#t\r\n", True),
        (b"#f\r\n", False),
        (b"!9\r\nERR oops!\r\n", RespError(b"ERR oops!", blob=True)),
        (b"=8\r\ntxt:abcd\r\n", VerbatimString(b"abcd", b"txt")),
        (b"(123456789012345678901234567890\r\n", BigNumber(123456789012345678901234567890)),
        (b"%2\r\n+a\r\n:1\r\n*1\r\n:2\r\n#t\r\n", RespMap({SimpleString(b"a"): 1, (2,): True})),
        (b"~2\r\n:1\r\n:1\r\n", RespSet([1, 1])),
        (b">2\r\n$7\r\nmessage\r\n:3\r\n", Push([b"message", 3])),
        (b"|1\r\n+ttl\r\n:5\r\n$3\r\nval\r\n", b"val"),
    ]
    left, right = socket.socketpair()
    stream = b"".join(raw for raw, _ in frames)

    def feed():  # dribble the bytes in small pieces to exercise buffering
        for i in range(0, len(stream), 3):
            right.sendall(stream[i:i + 3])
        right.close()

    feeder = threading.Thread(target=feed)
    feeder.start()
    client = RespClient(sock=left, timeout=5)
    try:
        for raw, expected in frames:
            value, got_raw = client.read_frame()
            assert got_raw == raw
            assert same_reply(value, expected), (raw, value)
        assert client.last_attributes == {b"ttl": 5}
    finally:
        feeder.join()
        client.close()
