"""maxmemory, eviction policies and memory accounting.

Every test starts its own server (``start_surge``) and sets ``maxmemory``
relative to the server's own ``used_memory`` at the start, so that the tests
do not depend on how much memory an empty server needs.

LRU and LFU clocks have one-second (LRU) and one-minute (LFU decay)
resolution in Redis and in Surge, so the "hot keys survive" test lets one
second pass between writing the old keys and the new ones.

Also runs against the reference as the server under test:
    SURGE_SERVER=/usr/bin/redis-server /usr/bin/python3 -m pytest \
        tests/integration/test_memory_eviction.py
"""

import random
import time

import pytest
import redis

from resp_client import RespError

OOM = b"OOM command not allowed when used memory > 'maxmemory'."
VALUE = b"x" * 200
SLACK = 1.10  # used_memory may exceed maxmemory by this factor between checks


def used_memory(client):
    return client.info("memory")["used_memory"]


def stats(client):
    return client.info("stats")


def settle_baseline(client):
    """used_memory of an idle, empty server (after a FLUSHALL)."""
    client.flushall()
    time.sleep(0.05)
    return used_memory(client)


def pipeline_set(client, keys, value=VALUE, ex=None):
    """SET every key in one pipeline; returns the replies (errors included)."""
    p = client.pipeline(transaction=False)
    for k in keys:
        if ex is None:
            p.set(k, value)
        else:
            p.set(k, value, ex=ex(k) if callable(ex) else ex)
    return p.execute(raise_on_error=False)


def is_oom(reply):
    return isinstance(reply, redis.exceptions.ResponseError) and str(reply) == OOM.decode()


def write_until_error(raw, prefix, limit=5000):
    for i in range(limit):
        reply = raw.call("SET", "%s:%d" % (prefix, i), b"v" * 1000)
        if isinstance(reply, RespError):
            return reply
    return None


# ---------------------------------------------------------------------------
# noeviction
# ---------------------------------------------------------------------------
def test_noeviction_refuses_writes_with_oom(start_surge):
    srv = start_surge()
    c = srv.client()
    raw = srv.resp()
    base = settle_baseline(c)
    assert c.config_set("maxmemory", base + 1024 * 1024)
    assert c.info("memory")["maxmemory_policy"] == "noeviction"
    assert c.set(b"first", b"still here")
    reply = None
    written = 0
    for i in range(20000):
        reply = raw.call("SET", "k:%d" % i, b"v" * 1000)
        if isinstance(reply, RespError):
            break
        written += 1
    assert isinstance(reply, RespError), "no OOM after %d writes of 1 KB" % written
    assert reply.message == OOM
    assert 300 <= written <= 1100, written  # about 1 MB of data went in
    # Other denyoom commands are refused too (allow for the little memory
    # that the refused command's own buffers gave back)...
    assert write_until_error(raw, "more", limit=50) == RespError(OOM)
    for _ in range(50):
        reply = raw.call("APPEND", "first", b"y" * 1000)
        if isinstance(reply, RespError):
            break
    assert reply == RespError(OOM)
    # ...reads and deletes are not.
    assert raw.call("GETRANGE", "first", 0, 9) == b"still here"
    assert raw.call("EXISTS", "k:0") == 1
    assert raw.call("DEL", "k:0") == 1
    assert stats(c)["evicted_keys"] == 0
    assert c.dbsize() >= written  # first + the written keys - k:0 (+ "more:*")
    calls = c.info("commandstats")["cmdstat_set"]
    assert calls["rejected_calls"] >= 2
    # Freeing memory makes writes possible again.
    assert raw.call("FLUSHALL") == b"OK"
    assert raw.call("SET", "again", "v") == b"OK"


# ---------------------------------------------------------------------------
# the eviction policies
# ---------------------------------------------------------------------------
ALLKEYS = ["allkeys-lru", "allkeys-lfu", "allkeys-random"]
VOLATILE = ["volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl"]


def _fill_and_watch(c, maxmemory, batches=20, batch_size=1000, ex=None, prefix="k"):
    """Write batches of keys; check used_memory after each. Returns replies' errors."""
    worst = 0
    errors = []
    for b in range(batches):
        keys = ["%s:%d:%d" % (prefix, b, i) for i in range(batch_size)]
        errors += [r for r in pipeline_set(c, keys, ex=ex) if isinstance(r, Exception)]
        u = used_memory(c)
        worst = max(worst, u)
        assert u <= maxmemory * SLACK, "batch %d: used_memory %d > maxmemory %d + 10%%" % (
            b, u, maxmemory)
    return worst, errors


@pytest.mark.parametrize("policy", ALLKEYS + VOLATILE)
def test_eviction_keeps_memory_under_maxmemory(start_surge, policy):
    srv = start_surge()
    c = srv.client()
    base = settle_baseline(c)
    maxmemory = base + 4 * 1024 * 1024
    assert c.config_set("maxmemory", maxmemory)
    assert c.config_set("maxmemory-policy", policy)
    assert c.info("memory")["maxmemory_policy"] == policy
    ex = (lambda k: 10000) if policy.startswith("volatile") else None
    _worst, errors = _fill_and_watch(c, maxmemory, ex=ex)
    # With evictable keys left, no write may be refused.
    assert errors == [], "%d of 20000 SETs refused under %s (evicted so far: %d): %r" % (
        len(errors), policy, stats(c)["evicted_keys"], errors[0])
    evicted = stats(c)["evicted_keys"]
    assert evicted > 0
    n = c.dbsize()
    assert 0 < n < 20000
    assert n + evicted == 20000
    # The keys that are left are intact.
    sample = c.randomkey()
    assert c.get(sample) == VALUE


@pytest.mark.parametrize("policy", VOLATILE)
def test_volatile_policies_without_volatile_keys_refuse_writes(start_surge, policy):
    srv = start_surge()
    c = srv.client()
    base = settle_baseline(c)
    maxmemory = base + 2 * 1024 * 1024
    assert c.config_set("maxmemory", maxmemory)
    assert c.config_set("maxmemory-policy", policy)
    errors = []
    for b in range(20):
        replies = pipeline_set(c, ["k:%d:%d" % (b, i) for i in range(1000)])
        errors += [r for r in replies if isinstance(r, Exception)]
        assert used_memory(c) <= maxmemory * SLACK
        if errors:
            break
    assert errors, "no OOM with %s and no volatile keys" % policy
    assert all(is_oom(e) for e in errors), errors[:3]
    assert stats(c)["evicted_keys"] == 0
    # Keys without a TTL are never evicted by a volatile policy; reads work.
    n = c.dbsize()
    assert c.get(b"k:0:0") == VALUE
    assert c.dbsize() == n


@pytest.mark.parametrize("policy", ["allkeys-lru", "allkeys-lfu"])
def test_hot_keys_survive(start_surge, policy):
    srv = start_surge()
    c = srv.client()
    base = settle_baseline(c)
    maxmemory = base + 4 * 1024 * 1024
    assert c.config_set("maxmemory", maxmemory)
    assert c.config_set("maxmemory-policy", policy)
    assert c.config_resetstat()
    hot = [b"hot:%d" % i for i in range(100)]
    pipeline_set(c, hot)
    counter = [0]

    def batch(size=500):
        keys = ["k:%d" % (counter[0] + i) for i in range(size)]
        counter[0] += size
        # (Spurious OOM replies are test_eviction_keeps_memory_under_maxmemory's
        # concern; this test is about which keys go.)
        assert all(r is True or is_oom(r) for r in pipeline_set(c, keys))

    def read_hot():
        p = c.pipeline(transaction=False)
        for k in hot:
            p.get(k)
        assert all(v == VALUE for v in p.execute())

    # Fill to about 75% without evicting anything...
    while used_memory(c) < base + 0.75 * (maxmemory - base):
        batch()
        read_hot()
    assert stats(c)["evicted_keys"] == 0
    first = counter[0]
    # ...then keep writing past maxmemory (to ~20k keys in all), reading the
    # hot keys between batches. A second passes between the phases so that
    # the old keys are measurably idler than the hot ones.
    for phase in range(2):
        time.sleep(1.1)
        read_hot()
        while counter[0] < first + (phase + 1) * (20000 - first) // 2:
            batch()
            read_hot()
            assert used_memory(c) <= maxmemory * SLACK
    evicted = stats(c)["evicted_keys"]
    assert evicted > 1000
    survivors = sum(c.exists(k) for k in hot)
    assert survivors >= 95, "%d of 100 hot keys survived %d evictions" % (survivors, evicted)
    old_left = sum(1 for i in range(first) if c.exists("k:%d" % i))
    assert old_left / first < 0.75, (old_left, first)


def test_volatile_ttl_evicts_shortest_ttl_first(start_surge):
    srv = start_surge()
    c = srv.client()
    base = settle_baseline(c)
    maxmemory = base + 4 * 1024 * 1024
    assert c.config_set("maxmemory", maxmemory)
    assert c.config_set("maxmemory-policy", "volatile-ttl")
    # Keys without a TTL: volatile-ttl never evicts those.
    persistent = ["p:%d" % i for i in range(50)]
    assert all(r is True for r in pipeline_set(c, persistent))
    rng = random.Random(7)
    ttl = {}
    for b in range(20):
        keys = ["k:%d:%d" % (b, i) for i in range(1000)]
        for k in keys:
            ttl[k] = rng.randint(1000, 1000000)
        replies = pipeline_set(c, keys, ex=lambda k: ttl[k])
        assert all(r is True or is_oom(r) for r in replies), [  # see test_hot_keys_survive
            r for r in replies if not (r is True or is_oom(r))][:3]
        assert used_memory(c) <= maxmemory * SLACK
    assert stats(c)["evicted_keys"] > 1000
    pipeline_set(c, ["late:%d" % i for i in range(2000)], ex=500000)
    assert sum(c.exists(k) for k in persistent) == len(persistent)
    by_ttl = sorted(ttl, key=ttl.get)
    quarter = len(by_ttl) // 4
    p = c.pipeline(transaction=False)
    for k in by_ttl:
        p.exists(k)
    alive = p.execute()
    shortest = sum(alive[:quarter]) / quarter
    longest = sum(alive[-quarter:]) / quarter
    assert shortest < 0.3, "%.0f%% of the shortest-TTL quarter survived" % (shortest * 100)
    assert longest > 0.9, "%.0f%% of the longest-TTL quarter survived" % (longest * 100)


# ---------------------------------------------------------------------------
# memory accounting
# ---------------------------------------------------------------------------
def test_used_memory_follows_the_data(start_surge):
    srv = start_surge()
    c = srv.client()
    base = settle_baseline(c)
    pipeline_set(c, ["k:%d" % i for i in range(20000)])
    full = used_memory(c)
    assert full > base + 20000 * 200, (base, full)
    assert c.memory_usage(b"k:1") > 200
    # Deleting half the keys gives memory back.
    p = c.pipeline(transaction=False)
    for i in range(0, 20000, 2):
        p.delete("k:%d" % i)
    p.execute()
    half = used_memory(c)
    assert half < full - 10000 * 200 * 0.8, (full, half)
    assert c.flushall()
    after = used_memory(c)
    assert after < base + (full - base) * 0.1, (base, full, after)


def test_flushall_async_frees_memory(start_surge):
    srv = start_surge()
    c = srv.client()
    base = settle_baseline(c)
    pipeline_set(c, ["k:%d" % i for i in range(30000)])
    full = used_memory(c)
    assert full > base + 30000 * 200
    assert c.flushall(asynchronous=True)
    assert c.dbsize() == 0
    assert c.get(b"k:1") is None
    deadline = time.time() + 5
    while True:
        mem = c.info("memory")
        if mem["lazyfree_pending_objects"] == 0 and \
                mem["used_memory"] < base + (full - base) * 0.1:
            break
        assert time.time() < deadline, "FLUSHALL ASYNC: %r after 5 s" % (
            {k: mem[k] for k in ("used_memory", "lazyfree_pending_objects")},)
        time.sleep(0.02)
    # The server is usable and empty meanwhile and afterwards.
    assert c.set(b"new", b"v")
    assert c.dbsize() == 1


def test_flushdb_async_frees_memory(start_surge):
    srv = start_surge()
    c = srv.client()
    base = settle_baseline(c)
    db1 = srv.client(db=1)
    pipeline_set(db1, ["k:%d" % i for i in range(20000)])
    c.set(b"db0key", b"v")
    full = used_memory(c)
    assert db1.flushdb(asynchronous=True)
    assert db1.dbsize() == 0
    assert c.get(b"db0key") == b"v"
    deadline = time.time() + 5
    while True:
        mem = c.info("memory")
        if mem["lazyfree_pending_objects"] == 0 and \
                mem["used_memory"] < base + (full - base) * 0.1:
            break
        assert time.time() < deadline, mem["used_memory"]
        time.sleep(0.02)


def test_policy_change_at_runtime(start_surge):
    srv = start_surge()
    c = srv.client()
    raw = srv.resp()
    base = settle_baseline(c)
    maxmemory = base + 1024 * 1024
    assert c.config_set("maxmemory", maxmemory)
    i = 0
    while True:
        reply = raw.call("SET", "k:%d" % i, b"v" * 1000)
        if isinstance(reply, RespError):
            break
        i += 1
        assert i < 20000
    assert reply.message == OOM
    # Switch to an evicting policy: the same write now succeeds by evicting.
    assert raw.call("CONFIG", "SET", "maxmemory-policy", "allkeys-random") == b"OK"
    assert c.info("memory")["maxmemory_policy"] == "allkeys-random"
    for j in range(200):
        assert raw.call("SET", "new:%d" % j, b"v" * 1000) == b"OK"
    evicted = stats(c)["evicted_keys"]
    assert evicted > 0
    assert used_memory(c) <= maxmemory * SLACK
    # volatile-lru with no volatile keys: OOM again (once the little room
    # that eviction may have left is used up), and nothing is evicted.
    assert raw.call("CONFIG", "SET", "maxmemory-policy", "volatile-lru") == b"OK"
    assert write_until_error(raw, "vl") == RespError(OOM)
    assert stats(c)["evicted_keys"] == evicted
    # Back to noeviction: OOM, and nothing more is evicted.
    assert raw.call("CONFIG", "SET", "maxmemory-policy", "noeviction") == b"OK"
    assert raw.call("SET", "other", b"v" * 1000) == RespError(OOM)
    assert stats(c)["evicted_keys"] == evicted
    # Raising maxmemory lets writes through without evicting.
    assert raw.call("CONFIG", "SET", "maxmemory", "0") == b"OK"
    assert raw.call("SET", "other", b"v" * 1000) == b"OK"
    assert stats(c)["evicted_keys"] == evicted


def test_lowering_maxmemory_evicts_on_next_command(start_surge):
    srv = start_surge()
    c = srv.client()
    base = settle_baseline(c)
    pipeline_set(c, ["k:%d" % i for i in range(10000)])
    assert c.config_set("maxmemory-policy", "allkeys-lru")
    full = used_memory(c)
    target = base + (full - base) // 2
    assert c.config_set("maxmemory", target)
    c.set(b"trigger", b"v")
    assert stats(c)["evicted_keys"] > 1000
    assert used_memory(c) <= target * SLACK
    assert c.dbsize() < 10000
