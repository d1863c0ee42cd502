"""Forkless snapshots (src/persist/snapshot.c; the file format is in
src/persist/snapshot.h).

* round trip of every type and encoding, in several databases, with TTLs,
  under lz4, zstd and no compression (checked in the file's block codecs):
  DEBUG DIGEST, OBJECT ENCODING (short raw strings load as embstr, as in
  Redis) and PTTL after a restart; keys that expired while the server was
  down are not loaded;
* point in time: a slow BGSAVE (rdb-key-save-delay) while clients change,
  delete, expire, rename, move, swap and flush keys, a blocked BLMOVE is
  served, keys expire or are evicted, and the key tables grow and shrink,
  saves the dataset as it was when BGSAVE began;
* SAVE / BGSAVE [SCHEDULE] / LASTSAVE, during a BGSAVE and during a log
  rewrite, with the replies compared against the reference redis-server;
* the `save` schedule and its CONFIG GET / CONFIG SET format (vs Redis);
* failing saves (a missing directory, a directory in the way, ENOSPC and
  short writes mid-file through tests/shim/disk_fault.c):
  rdb_last_bgsave_status, -MISCONF, SHUTDOWN and SIGTERM refusing to exit
  (texts compared with Redis), the previous file untouched;
* damaged files (flipped bytes, truncations, empty, wrong magic, trailing
  bytes, too few `databases`) refuse start-up naming the file and an
  offset; kill -9 at random points of SAVE / BGSAVE leaves a loadable file;
* SIGTERM and SHUTDOWN save with save points, NOSAVE does not; FLUSHALL
  with save points saves (as Redis); appendonly yes ignores the snapshot.
"""
import os
import random
import re
import shutil
import signal
import struct
import subprocess
import threading
import time
from pathlib import Path

import pytest
import redis

from conftest import ServerProcess, redis_binary, surge_binary
from resp_client import RespError

NOSAVE = ("--save", "")
DEBUG = ("--enable-debug-command", "local")


def persistence(r):
    return r.info("persistence")


def wait_bgsave_done(r, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if persistence(r)["rdb_bgsave_in_progress"] == 0:
            return
        time.sleep(0.02)
    raise AssertionError("BGSAVE still running after %s s" % timeout)


def digest(r):
    return r.execute_command("DEBUG", "DIGEST")


def require_surge_file(path):
    if path.read_bytes()[:8] != b"SURGESNP":
        pytest.skip("not a Surge snapshot (running against another server)")


def blocks(data):
    """[(offset, kind, codec, raw length, stored length)] of a snapshot."""
    assert data[:8] == b"SURGESNP"
    out = []
    off = 40
    while off < len(data):
        raw, stored = struct.unpack_from("<II", data, off + 4)
        out.append((off, chr(data[off]), data[off + 1], raw, stored))
        off += 24 + stored
    assert off == len(data)
    return out


# ---- key slots (CRC16/XMODEM of the key or its hash tag), to pick keys ----
def _crc16(data):
    crc = 0
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def key_slot(key):
    s = key.find("{")
    if s >= 0:
        e = key.find("}", s + 1)
        if e > s + 1:
            key = key[s + 1:e]
    return _crc16(key.encode()) % 16384


def late_tags(n, minslot=16200):
    """n hash tags whose slots a background save writes last."""
    out, i = [], 0
    while len(out) < n:
        tag = "t%d" % i
        if key_slot(tag) >= minslot:
            out.append(tag)
        i += 1
    return out


# ---- 1. round trip of every type and encoding -------------------------------

BIG_RANDOM = os.urandom(1_500_000)  # incompressible, spans several blocks


def fill_all_types(n):
    """Keys of every type and encoding in dbs 0, 3 and 15. Returns the keys
    (db, key) whose encoding must survive a reload as it is."""
    r0, r3, r15 = n.client(0), n.client(3), n.client(15)
    r0.set("int", 12345)
    r0.set("negint", -9007199254740993)
    r0.set("embstr", "hello")
    r0.set("raw", "x" * 100)
    r0.set("empty", "")
    r0.set("big_random", BIG_RANDOM)
    r0.set("big_zeros", b"\0" * 1_000_000)
    r0.set("bin", b"\x00\r\n\xff" * 10 + b"\r\n\x00")
    r0.set(b"key\x00with\r\nbytes", b"v\x00\r\n")
    r0.set("k" * 300_000, "a key longer than a block")
    for i, v in enumerate(("007", "-0", "+5", "1e3", " 12", "9223372036854775808",
                           "-9223372036854775808", "9223372036854775807", "0x10")):
        r0.set("intlike%d" % i, v)  # only canonical 64-bit integers become ints
    r0.rpush("list_intlike", "007", "-0", 9223372036854775807, -9223372036854775808, "1.5")
    r0.sadd("set_int64", -9223372036854775808, 9223372036854775807, 0)
    r0.sadd("set_intlike", "007", "1", "2")
    r0.zadd("zset_edge", {"negzero": -0.0, "huge": 1e308, "neg": -1e-300})
    r0.hset("hash_intlike", mapping={"007": "-0", "1": 9223372036854775807})
    r0.rpush("list_small", "a", "b", 1, 2, "x" * 30)
    r0.rpush("list_big", *range(3000))
    r0.rpush("list_bigvals", *(("v%d" % i) * 400 for i in range(20)))
    r0.sadd("set_int", *range(100))
    r0.sadd("set_small", "a", "b", "c")
    r0.sadd("set_big", *("m%d" % i for i in range(1000)))
    r0.hset("hash_small", mapping={"f1": "v1", "f2": 2, "f3": ""})
    r0.hset("hash_big", mapping={"f%d" % i: "v%d" % i for i in range(1000)})
    r0.hset("hash_longval", mapping={"f": "y" * 200})
    r0.zadd("zset_small", {"a": 1, "b": -2.5, "c": 0})
    r0.zadd("zset_big", {"z%d" % i: i * 1.5 for i in range(500)})
    r0.zadd("zset_odd", {"inf": float("inf"), "ninf": float("-inf"), "tiny": 5e-324,
                          "frac": 0.1, "long" * 30: 3})
    r0.pfadd("hll_sparse", "a", "b", "c")
    r0.pfadd("hll_dense", *("e%d" % i for i in range(5000)))
    r0.pfcount("hll_dense")  # caches the cardinality in the value
    r0.setbit("bitmap", 100000, 1)
    r0.setbit("bitmap", 7, 1)
    r0.set("ttl_str", "v", px=500_000)
    r0.rpush("ttl_list", "a")
    r0.pexpire("ttl_list", 900_000)
    r0.hset("ttl_hash", "f", "v")
    r0.pexpireat("ttl_hash", int(time.time() * 1000) + 3_600_000)
    # a hash that grew past listpack and shrank again
    r0.hset("hash_shrunk", mapping={"f%d" % i: "v" for i in range(600)})
    r0.hdel("hash_shrunk", *("f%d" % i for i in range(3, 600)))
    r3.set("int", 3)  # same names, other database
    r3.rpush("list_small", "three")
    r3.zadd("zset_small", {"m": 3})
    r3.set("ttl3", "v", ex=7200)
    r15.hset("hash_small", "k", "15")
    keys = []
    for db, c in ((0, r0), (3, r3), (15, r15)):
        for k in c.scan_iter(count=1000):
            if k != b"hash_shrunk":
                keys.append((db, k))
    return keys


def key_facts(n, keys):
    out = {}
    for db, k in keys:
        c = n.client(db)
        out[(db, k)] = (c.type(k), c.object("encoding", k), c.pttl(k))
    return out


@pytest.mark.parametrize("opts,codec", [((), 1),
                                        (("--rdbcompression", "no"), 0),
                                        (("--snapshot-compression", "zstd",
                                          "--list-compress-depth", "1"), 2)],
                         ids=["lz4", "none", "zstd"])
def test_round_trip_every_type_and_encoding(node, opts, codec):
    n = node(*NOSAVE, *DEBUG, *opts)
    r = n.start()
    keys = fill_all_types(n)
    before = key_facts(n, keys)
    encodings = {f[1] for f in before.values()}
    for enc in (b"int", b"embstr", b"raw", b"listpack", b"quicklist", b"intset",
                b"hashtable", b"skiplist"):
        assert enc in encodings, (enc, encodings)
    d0 = digest(r)
    nkeys = sum(n.client(db).dbsize() for db in range(16))
    # A key that is live when saved but has expired by the time it is loaded.
    set_at = time.monotonic()
    r.set("short", "v", px=1500)
    assert r.save() is True
    info = persistence(r)
    assert info["rdb_saves"] == 1 and info["rdb_changes_since_last_save"] == 0
    t_saved = time.monotonic()
    n.shutdown("NOSAVE")

    require_surge_file(n.dump)
    data = n.dump.read_bytes()
    bl = blocks(data)
    assert bl[-1][1] == "E" and all(b[1] == "D" for b in bl[:-1])
    assert len(bl) > 4  # the big values span several blocks
    used = {b[2] for b in bl[:-1]}
    if codec == 0:
        assert used == {0}
    else:
        assert codec in used and used <= {0, codec}

    time.sleep(max(0.0, 1.6 - (time.monotonic() - set_at)))
    r = n.start()
    elapsed_ms = (time.monotonic() - t_saved) * 1000
    assert r.exists("short") == 0
    assert digest(r) == d0
    info = persistence(r)
    assert info["rdb_last_load_keys_loaded"] == nkeys
    assert info["rdb_last_load_keys_expired"] == 1
    after = key_facts(n, keys)
    for k, (typ, enc, pttl) in before.items():
        typ2, enc2, pttl2 = after[k]
        if enc == b"raw" and n.client(k[0]).strlen(k[1]) <= 44:
            enc = b"embstr"  # as Redis loads a short string (DEBUG RELOAD)
        assert (typ2, enc2) == (typ, enc), k
        if pttl < 0:
            assert pttl2 == pttl, k
        else:
            assert pttl - elapsed_ms - 2000 <= pttl2 <= pttl, (k, pttl, pttl2)
    assert r.get("big_random") == BIG_RANDOM
    assert r.get(b"key\x00with\r\nbytes") == b"v\x00\r\n"
    assert n.client(3).lrange("list_small", 0, -1) == [b"three"]
    # The shrunk hash comes back with its fields, whatever its encoding.
    assert r.hgetall("hash_shrunk") == {b"f0": b"v", b"f1": b"v", b"f2": b"v"}
    n.stop()


def test_empty_dataset_round_trip(node):
    n = node(*NOSAVE, *DEBUG)
    r = n.start()
    d0 = digest(r)
    assert r.save() is True
    n.shutdown("NOSAVE")
    require_surge_file(n.dump)
    assert [b[1] for b in blocks(n.dump.read_bytes())] == ["E"]
    r = n.start()
    assert r.dbsize() == 0 and digest(r) == d0
    n.stop()


# ---- 2. point in time ------------------------------------------------------

NPIT = 20000


def fill_many(n, tags):
    r0, r1 = n.client(0), n.client(1)
    p = r0.pipeline(transaction=False)
    for i in range(NPIT - 2000):
        p.set("k%d" % i, "value-%d" % i)
    for i, t in enumerate(tags):
        p.rpush("{%s}list" % t, *range(i + 3))
        p.hset("{%s}hash" % t, mapping={"a": 1, "b": 2})
        p.sadd("{%s}set" % t, "x", "y")
        p.zadd("{%s}zset" % t, {"m": 1})
        p.set("{%s}str" % t, "abc")
        p.set("{%s}int" % t, 10)
        p.pfadd("{%s}hll" % t, "a", "b")
        p.set("{%s}ttl" % t, "t", ex=100000)
    p.execute()
    p = r1.pipeline(transaction=False)
    for i in range(2000):
        p.set("db1-%d" % i, i)
    p.set("marker", "db1")
    p.execute()
    r0.set("marker", "db0")


def write_during_save(n, tags):
    """Writes of many kinds, mostly to slots the save has not reached yet."""
    r0, r1 = n.client(0), n.client(1)
    p = r0.pipeline(transaction=False)
    for i in range(0, 3000):
        p.set("k%d" % i, "new-%d" % i)
    for i in range(3000, 4000):
        p.delete("k%d" % i)
    for i in range(4000, 4500):
        p.expire("k%d" % i, 50000)
    for i in range(4500, 4600):
        p.append("k%d" % i, "+")
    for j, t in enumerate(tags):
        p.rpush("{%s}list" % t, "new")
        p.lset("{%s}list" % t, 0, "first")
        p.hset("{%s}hash" % t, "c", 3)
        p.hincrby("{%s}hash" % t, "a", 5)
        p.sadd("{%s}set" % t, "z")
        p.srem("{%s}set" % t, "x")
        p.zincrby("{%s}zset" % t, 2.5, "m")
        p.setrange("{%s}str" % t, 1, "Z")
        p.incr("{%s}int" % t)
        p.pfadd("{%s}hll" % t, "c")
        p.persist("{%s}ttl" % t)
        p.pfcount("{%s}hll" % t)
        p.rename("{%s}str" % t, "{%s}str2" % t)
        p.move("{%s}int" % t, 2)
        p.copy("{%s}list" % t, "{%s}listcopy" % t)
        p.set("{%s}newkey" % t, "n")
        p.rename("{%s}hash" % t, "moved-%s" % t)  # to a slot of its own
        p.rename("k%d" % (4600 + j), "{%s}from-elsewhere" % t)
    p.execute()
    # a transaction
    p = r0.pipeline(transaction=True)
    for t in tags[:10]:
        p.lpush("{%s}list" % t, "tx")
        p.delete("{%s}zset" % t)
    p.execute()
    p = r1.pipeline(transaction=False)
    for i in range(0, 2000, 2):
        p.incr("db1-%d" % i)
    p.execute()


def check_live_writes(n, tags):
    r0 = n.client(0)
    assert r0.get("k5") == b"new-5"
    assert r0.exists("k3500") == 0
    assert 0 < r0.ttl("k4200") <= 50000
    assert r0.get("k4550") == b"value-4550+"
    t = tags[-1]
    assert r0.lrange("{%s}list" % t, 0, 0) == [b"first"]
    assert r0.hget("moved-%s" % t, "a") == b"6" and r0.exists("{%s}hash" % t) == 0
    assert r0.get("{%s}from-elsewhere" % t) == b"value-%d" % (4600 + len(tags) - 1)
    assert r0.get("{%s}str2" % t) == b"aZc"
    assert r0.exists("{%s}int" % t) == 0 and n.client(2).get("{%s}int" % t) == b"11"
    assert r0.ttl("{%s}ttl" % t) == -1
    assert r0.lrange("{%s}list" % tags[0], 0, 0) == [b"tx"]
    assert n.client(1).get("db1-0") == b"1"


def check_final_write(n, variant):
    if variant == "flushdb":
        assert n.client(1).dbsize() == 0
        assert n.client(0).get("marker") == b"db0"
    elif variant == "swapdb":
        assert n.client(0).get("marker") == b"db1"
        assert n.client(1).get("marker") == b"db0"
        assert n.client(0).get("db1-0") == b"1"
    else:
        assert all(n.client(db).dbsize() == 0 for db in range(16))


@pytest.mark.parametrize("variant", ["flushdb", "swapdb", "flushall"])
def test_bgsave_is_point_in_time(node, variant):
    n = node(*NOSAVE, *DEBUG)
    r = n.start()
    tags = late_tags(60)
    fill_many(n, tags)
    sizes = [n.client(db).dbsize() for db in range(3)]
    assert sum(sizes) > NPIT
    d0 = digest(r)
    r.config_set("rdb-key-save-delay", 60)
    assert r.bgsave() is True
    write_during_save(n, tags)
    info = persistence(r)
    assert info["rdb_bgsave_in_progress"] == 1, "the save ended before the writes: too fast"
    check_live_writes(n, tags)
    if variant == "flushdb":
        n.client(1).flushdb()
    elif variant == "swapdb":
        r.swapdb(0, 1)
    else:
        r.flushall(asynchronous=True)
    wait_bgsave_done(r)
    info = persistence(r)
    assert info["rdb_last_bgsave_status"] == "ok" and info["rdb_saves"] == 1
    check_final_write(n, variant)
    assert digest(r) != d0
    n.shutdown("NOSAVE")
    r = n.start()
    assert [n.client(db).dbsize() for db in range(3)] == sizes
    assert digest(r) == d0
    n.stop()


def test_many_changes_in_one_pending_slot(node):
    """Changes to more keys of one slot than the save tracks one by one,
    across databases, before the save reaches that slot."""
    n = node(*NOSAVE, *DEBUG)
    r = n.start()
    r1 = n.client(1)
    fill_keys(r, 8000)
    tag = late_tags(1, 16300)[0]
    for c in (r, r1):
        p = c.pipeline(transaction=False)
        for i in range(300):
            p.set("{%s}%d" % (tag, i), "orig%d" % i)
            p.rpush("{%s}l%d" % (tag, i % 7), i)
        p.execute()
    d0 = digest(r)
    r.config_set("rdb-key-save-delay", 100)
    assert r.bgsave() is True
    p = r.pipeline(transaction=False)
    for i in range(0, 300, 2):  # key by key, alternating databases
        p.execute_command("SELECT", 0 if i % 4 else 1)
        p.set("{%s}%d" % (tag, i), "changed")
        p.delete("{%s}%d" % (tag, i + 1))
        p.set("{%s}new%d" % (tag, i), "new")
        p.rpush("{%s}l%d" % (tag, i % 7), "more")
        if i % 10 == 0:
            p.rename("{%s}%d" % (tag, i), "{%s}renamed%d" % (tag, i))
    p.execute_command("SELECT", 0)
    p.execute()
    assert persistence(r)["rdb_bgsave_in_progress"] == 1
    wait_bgsave_done(r)
    n.shutdown("NOSAVE")
    r = n.start()
    assert digest(r) == d0
    assert n.client(1).get("{%s}1" % tag) == b"orig1"
    n.stop()


def test_keyspace_growth_and_shrink_during_bgsave(node):
    """Tens of thousands of inserts (the key tables grow and rehash) and
    deletes (they shrink) while a save walks them."""
    n = node(*NOSAVE, *DEBUG)
    r = n.start()
    fill_keys(r, 10000)
    d0 = digest(r)
    r.config_set("rdb-key-save-delay", 100)
    assert r.bgsave() is True
    inserted = 0
    for batch in range(20):
        p = r.pipeline(transaction=False)
        for i in range(batch * 2500, (batch + 1) * 2500):
            p.set("grow%d" % i, i)
        for i in range(batch * 250, (batch + 1) * 250):
            p.delete("key%d" % i)
        p.execute()
        if persistence(r)["rdb_bgsave_in_progress"] == 0:
            break
        inserted += 2500
    assert inserted >= 10000, "the save ended too soon"
    wait_bgsave_done(r)
    n.shutdown("NOSAVE")
    r = n.start()
    assert r.dbsize() == 10000 and digest(r) == d0
    n.stop()


def test_evictions_during_bgsave_are_not_in_the_image(node):
    """Keys evicted while a save runs are still in its image, and a save
    does not make eviction free much more than the limit asks for."""
    n = node(*NOSAVE, *DEBUG, "--maxmemory-policy", "allkeys-random")
    r = n.start()
    fill_keys(r, 50000, 100)
    d0 = digest(r)
    used = r.info("memory")["used_memory"]
    r.config_set("maxmemory", used + 1_000_000)  # room for the save's buffers
    r.config_set("rdb-key-save-delay", 20)
    assert r.bgsave() is True
    p = r.pipeline(transaction=False)
    for i in range(4000):
        p.set("new%d" % i, "n" * 300)
    p.execute()  # about 1.5 MB more: some thousands of keys must go
    assert persistence(r)["rdb_bgsave_in_progress"] == 1
    evicted = r.info("stats")["evicted_keys"]
    assert 1000 < evicted < 20000, evicted
    r.config_set("maxmemory", 0)
    r.config_set("rdb-key-save-delay", 0)
    wait_bgsave_done(r)
    n.shutdown("NOSAVE")
    r = n.start()
    assert r.dbsize() == 50000 and digest(r) == d0
    n.stop()


def overwrite_during_bgsave(srv):
    """Near maxmemory (noeviction), overwrites that need no new memory while
    a BGSAVE runs: with a fork they all succeed."""
    r = srv.client()
    fill_keys(r, 20000, 100)
    r.config_set("maxmemory-policy", "noeviction")
    r.config_set("maxmemory", r.info("memory")["used_memory"] + 100_000)
    r.config_set("rdb-key-save-delay", 50)
    r.bgsave()
    out = run_cmds(srv, [("SET", "key%d" % i, "w" * 100) for i in range(0, 20000, 100)])
    assert persistence(r)["rdb_bgsave_in_progress"] == 1
    r.config_set("maxmemory", 0)
    r.config_set("rdb-key-save-delay", 0)
    wait_bgsave_done(r)
    return sorted(set(out))


def test_bgsave_does_not_eat_into_maxmemory(start_surge, start_redis_ref):
    want = overwrite_during_bgsave(start_redis_ref())
    assert want == ["+OK"]
    assert overwrite_during_bgsave(start_surge(*NOSAVE)) == want


def test_blocked_pop_served_during_bgsave_is_not_in_the_image(node):
    """BLMOVE served by another client's push writes to a key the pushing
    command does not name; the image must still be the one of the start."""
    n = node(*NOSAVE, *DEBUG)
    r = n.start()
    src, dst = ("{%s}src" % t for t in late_tags(2, 16300))
    r.rpush(dst, "old")
    p = r.pipeline(transaction=False)
    for i in range(8000):
        p.set("f%d" % i, i)
    p.execute()
    d0 = digest(r)
    r.config_set("rdb-key-save-delay", 100)
    blocked = n.srv.resp()
    blocked.send_command("BLMOVE", src, dst, "LEFT", "RIGHT", 10)
    time.sleep(0.1)
    assert r.bgsave() is True
    assert r.rpush(src, "moved") in (0, 1)
    assert blocked.read_reply() == b"moved"
    assert persistence(r)["rdb_bgsave_in_progress"] == 1
    assert r.lrange(dst, 0, -1) == [b"old", b"moved"]
    wait_bgsave_done(r)
    n.shutdown("NOSAVE")
    r = n.start()
    assert r.lrange(dst, 0, -1) == [b"old"]
    assert digest(r) == d0
    n.stop()


def test_keys_expiring_during_bgsave_are_in_the_image(node):
    """Keys live when BGSAVE began are saved even if they expire (actively,
    or on access) before the save reaches their slot."""
    n = node(*NOSAVE, *DEBUG)
    r = n.start()
    fill_keys(r, 8000)
    tags = late_tags(40, 16000)
    for t in tags:
        r.set("{%s}v" % t, "x", px=600)
    r.config_set("rdb-key-save-delay", 200)
    assert r.bgsave() is True
    time.sleep(0.8)
    for t in tags[:20]:
        assert r.get("{%s}v" % t) is None
    assert persistence(r)["rdb_bgsave_in_progress"] == 1
    wait_bgsave_done(r)
    assert r.dbsize() < 8040
    n.shutdown("NOSAVE")
    r = n.start()
    info = persistence(r)
    assert (info["rdb_last_load_keys_loaded"], info["rdb_last_load_keys_expired"]) == (8000, 40)
    n.stop()


# ---- 3. commands -----------------------------------------------------------

def wait_saves(r, want, timeout):
    """Polls rdb_saves until it reaches want (or timeout); returns it."""
    deadline = time.monotonic() + timeout
    while True:
        info = persistence(r)
        if (info["rdb_saves"] >= want and not info["rdb_bgsave_in_progress"]) \
                or time.monotonic() > deadline:
            return info["rdb_saves"]
        time.sleep(0.05)


def run_cmds(srv, cmds):
    """Replies as text: "+..." for a status, "-..." for an error."""
    c = srv.resp()
    out = []
    for cmd in cmds:
        v = c.call(*cmd)
        if isinstance(v, RespError):
            out.append("-" + v.message.decode())
        else:
            out.append("+" + bytes(v).decode())
    c.close()
    return out


def fill_keys(r, nkeys, size=8):
    p = r.pipeline(transaction=False)
    for i in range(nkeys):
        p.set("key%d" % i, "v" * size)
    p.execute()


def bgsave_sequence(srv):
    """BGSAVE, then BGSAVE / BGSAVE SCHEDULE / SAVE while it runs. Returns the
    replies and how many saves it all made."""
    r = srv.client()
    fill_keys(r, 3000)
    r.config_set("rdb-key-save-delay", 300)
    saves0 = persistence(r)["rdb_saves"]
    out = run_cmds(srv, [("BGSAVE",), ("BGSAVE",), ("BGSAVE", "SCHEDULE"), ("SAVE",),
                       ("BGSAVE", "NOW")])
    assert persistence(r)["rdb_bgsave_in_progress"] == 1
    r.config_set("rdb-key-save-delay", 0)
    wait_bgsave_done(r)
    return out, wait_saves(r, saves0 + 2, 1.0) - saves0


def test_save_bgsave_lastsave(start_surge, start_redis_ref):
    srv = start_surge(*NOSAVE)
    s = srv.client()
    last0 = s.lastsave()
    got, nsaves = bgsave_sequence(srv)
    assert got == ["+Background saving started",
                   "-ERR Background save already in progress",
                   "-ERR Background save already in progress",
                   "-ERR Background save already in progress",
                   "-ERR syntax error"]
    assert nsaves == 1
    # the reference server gives the same replies
    want, ref_saves = bgsave_sequence(start_redis_ref())
    assert got == want and nsaves == ref_saves
    # LASTSAVE moves forward with each save
    assert s.lastsave() >= last0
    while int(time.time()) <= int(s.lastsave().timestamp()):
        time.sleep(0.05)
    before = s.lastsave()
    assert s.save() is True
    assert s.lastsave() > before


def rewrite_sequence(srv):
    """BGSAVE [SCHEDULE] and SAVE while an append-only log rewrite runs."""
    r = srv.client()
    fill_keys(r, 3000, 50)
    r.config_set("rdb-key-save-delay", 300)
    saves0 = persistence(r)["rdb_saves"]
    r.execute_command("BGREWRITEAOF")
    out = run_cmds(srv, [("BGSAVE",), ("BGSAVE", "SCHEDULE")])
    out.append(persistence(r)["aof_rewrite_in_progress"])
    out += run_cmds(srv, [("SAVE",)])
    r.config_set("rdb-key-save-delay", 0)
    return out, wait_saves(r, saves0 + 2, 5.0) - saves0


def test_bgsave_schedule_during_log_rewrite(start_surge, start_redis_ref):
    got, nsaves = rewrite_sequence(start_surge(*NOSAVE, "--appendonly", "yes"))
    want, ref_saves = rewrite_sequence(start_redis_ref("--appendonly", "yes"))
    assert want[1] == "+Background saving scheduled" and want[2] == 1
    assert got == want, (got, want)
    assert nsaves == ref_saves == 2


def test_bgsave_arguments(start_surge, start_redis_ref):
    s = start_surge(*NOSAVE).resp()
    ref = start_redis_ref().resp()
    for args in (("BGSAVE", "NOW"), ("BGSAVE", "SCHEDULE", "x"), ("SAVE", "x"),
                 ("LASTSAVE", "x")):
        a, b = s.call(*args), ref.call(*args)
        assert a == b, args


def bgsave_then_rewrite(srv):
    r = srv.client()
    fill_keys(r, 3000, 50)
    r.config_set("rdb-key-save-delay", 300)
    rewrites0 = persistence(r)["aof_rewrites"]
    out = run_cmds(srv, [("BGSAVE",), ("BGREWRITEAOF",)])
    info = persistence(r)
    out += [info["rdb_bgsave_in_progress"], info["aof_rewrite_scheduled"]]
    r.config_set("rdb-key-save-delay", 0)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        info = persistence(r)
        if info["aof_rewrites"] > rewrites0 and not info["aof_rewrite_in_progress"]:
            break
        time.sleep(0.05)
    out += [info["aof_rewrites"] - rewrites0, info["rdb_saves"], info["aof_last_bgrewrite_status"]]
    return out


def test_bgrewriteaof_during_bgsave_is_scheduled(start_surge, start_redis_ref):
    got = bgsave_then_rewrite(start_surge(*NOSAVE, "--appendonly", "yes"))
    want = bgsave_then_rewrite(start_redis_ref("--appendonly", "yes"))
    assert want[:4] == ["+Background saving started",
                        "+Background append only file rewriting scheduled", 1, 1]
    assert got == want


# ---- 4. the save schedule ----------------------------------------------------

def test_save_schedule_triggers_a_background_save(node):
    n = node("--save", "1 1")
    r = n.start()
    assert r.config_get("save") == {"save": "1 1"}
    time.sleep(1.2)
    assert persistence(r)["rdb_saves"] == 0  # nothing changed: no save
    r.set("a", 1)
    deadline = time.monotonic() + 6
    while time.monotonic() < deadline and persistence(r)["rdb_saves"] == 0:
        time.sleep(0.05)
    info = persistence(r)
    assert info["rdb_saves"] >= 1 and info["rdb_last_bgsave_status"] == "ok"
    assert info["rdb_changes_since_last_save"] == 0
    assert n.dump.exists()
    n.kill9()
    r = n.start()
    assert r.get("a") == b"1"
    n.stop()


SAVE_INPUTS = [
    ("args", ("--save", "3600 1 300 100")),
    ("args", ("--save", "")),
    ("args", ()),  # the default
    ("file", "save 900 1\nsave 300 10\nsave 60 10000\n"),
    ("file", "save 900 1\nsave \"\"\n"),
    ("file", "save \"\"\nsave 10 2\n"),
]


@pytest.mark.parametrize("how,what", SAVE_INPUTS)
def test_save_config_get_format_matches_redis(tmp_path, start_surge, start_redis_ref, how,
                                              what):
    if how == "file":
        conf = tmp_path / "save.conf"
        conf.write_text(what)
        s = start_surge(config_file=conf).client(decode_responses=True)
        # the reference fixture adds --save "" after the file: start it bare
        if not os.path.exists(redis_binary()):
            pytest.skip("no reference redis-server")
        ref_srv = ServerProcess(redis_binary(), tmp_path / "ref", [], config_file=conf,
                                name="ref")
        ref_srv.start()
        try:
            ref = ref_srv.client(decode_responses=True).config_get("save")
        finally:
            ref_srv.stop()
        assert s.config_get("save") == ref
        if what.startswith("save 900 1\nsave 300 10"):  # the lines add up
            assert ref == {"save": "900 1 300 10 60 10000"}
    else:
        s = start_surge(*what).client(decode_responses=True)
        if what:
            ref = start_redis_ref(*what).client(decode_responses=True)
            assert s.config_get("save") == ref.config_get("save")
        else:
            assert s.config_get("save") == {"save": "3600 1 300 100 60 10000"}
    # CONFIG SET with the same text reads back the same in both
    ref = start_redis_ref().client(decode_responses=True)
    for text in ("3600 1 300 100", "", "10 1"):
        s.config_set("save", text)
        ref.config_set("save", text)
        assert s.config_get("save") == ref.config_get("save")
    for bad in ("1", "a 1", "10 -1"):
        with pytest.raises(redis.ResponseError) as e1:
            s.config_set("save", bad)
        with pytest.raises(redis.ResponseError) as e2:
            ref.config_set("save", bad)
        assert str(e1.value) == str(e2.value), bad


# ---- 5. failing saves ----------------------------------------------------------

def block_saves(n):
    """Makes the next save fail to open its temporary file."""
    (n.dir / "dump.rdb.tmp").mkdir()


def unblock_saves(n):
    (n.dir / "dump.rdb.tmp").rmdir()


def test_failed_bgsave_misconf_and_shutdown(node):
    n = node("--save", "3600 1")
    r = n.start()
    r.set("a", 1)
    assert r.save() is True
    good = n.dump.read_bytes()
    r.set("b", 2)
    block_saves(n)
    try:
        r.bgsave()
    except redis.ResponseError:
        pass  # fails at once here; Redis's forked child fails a bit later
    wait_bgsave_done(r)
    assert persistence(r)["rdb_last_bgsave_status"] == "err"
    with pytest.raises(redis.ResponseError) as e:
        r.set("c", 3)
    assert str(e.value).startswith("MISCONF Redis is configured to save RDB snapshots")
    assert r.get("a") == b"1"  # reads still work
    with pytest.raises(redis.ResponseError):
        r.save()
    with pytest.raises(redis.ResponseError) as e:
        r.shutdown()
    assert str(e.value) == "Errors trying to SHUTDOWN. Check logs."
    assert r.ping() and n.srv.proc.poll() is None
    # SIGTERM cannot save either: the server stays up, as Redis does
    os.kill(n.srv.proc.pid, signal.SIGTERM)
    time.sleep(0.5)
    assert n.srv.proc.poll() is None and r.ping()
    assert n.dump.read_bytes() == good  # the previous file is untouched
    # the disk is back: a good save ends the MISCONF state
    unblock_saves(n)
    assert r.save() is True
    assert persistence(r)["rdb_last_bgsave_status"] == "ok"
    r.set("c", 3)
    block_saves(n)
    n.shutdown("NOSAVE")
    unblock_saves(n)
    r = n.start()
    assert r.mget("a", "b", "c") == [b"1", b"2", None]
    n.stop()


@pytest.fixture(scope="module")
def disk_fault_shim(tmp_path_factory):
    """tests/shim/disk_fault.c compiled (see its header for the flags)."""
    ldd = subprocess.run(["ldd", surge_binary()], capture_output=True, text=True).stdout
    if "libasan" in ldd:  # ASan must come first in the library list: no LD_PRELOAD
        pytest.skip("LD_PRELOAD shims need a build without AddressSanitizer")
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        pytest.fail("no C compiler (cc) for tests/shim/disk_fault.c")
    lib = tmp_path_factory.mktemp("shim") / "disk_fault.so"
    src = Path(__file__).resolve().parents[1] / "shim" / "disk_fault.c"
    subprocess.run([cc, "-shared", "-fPIC", "-O1", "-o", str(lib), str(src), "-ldl"], check=True)
    return lib


@pytest.mark.parametrize("mode", ["enospc", "short"])
def test_disk_full_in_the_middle_of_a_save(node, disk_fault_shim, tmp_path, mode):
    n = node("--save", "3600 1", *DEBUG)
    flag = tmp_path / "flag"
    count = tmp_path / "count"
    env = {"LD_PRELOAD": str(disk_fault_shim), "SURGE_FAULT_DIR": os.path.realpath(n.dir),
           "SURGE_FAULT_FLAG": str(flag), "SURGE_FAULT_COUNT": str(count)}
    r = n.start(env=env)
    p = r.pipeline(transaction=False)
    for i in range(5000):
        p.set("k%d" % i, os.urandom(200))
    p.execute()
    assert r.save() is True
    good = n.dump.read_bytes()
    d0 = digest(r)
    r.set("k1", "changed")
    r.config_set("rdb-key-save-delay", 200)
    assert r.bgsave() is True
    deadline = time.monotonic() + 10
    while persistence(r)["current_save_keys_processed"] < 2500 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert (n.dir / "dump.rdb.tmp").stat().st_size > 100000  # blocks were written
    flag.write_text(mode)
    r.config_set("rdb-key-save-delay", 0)
    wait_bgsave_done(r)
    assert int(count.read_text()) > 0
    info = persistence(r)
    assert info["rdb_last_bgsave_status"] == "err" and info["rdb_saves"] == 1
    assert not (n.dir / "dump.rdb.tmp").exists()
    assert n.dump.read_bytes() == good
    with pytest.raises(redis.ResponseError) as e:
        r.set("k2", "x")
    assert str(e.value).startswith("MISCONF")
    with pytest.raises(redis.ResponseError):
        r.save()
    assert not (n.dir / "dump.rdb.tmp").exists()
    flag.unlink()
    n.kill9()
    r = n.start()
    assert digest(r) == d0
    n.stop()


def test_unwritable_snapshot_path(node):
    """dbfilename can't be renamed into place (a directory of that name sits
    there): SAVE fails, BGSAVE fails, writes get -MISCONF, SHUTDOWN refuses."""
    n = node("--save", "3600 1")
    r = n.start()
    (n.dir / "dump.rdb").mkdir()
    r.set("a", 1)
    with pytest.raises(redis.ResponseError):
        r.save()
    try:
        r.bgsave()
    except redis.ResponseError:
        pass
    wait_bgsave_done(r)
    assert persistence(r)["rdb_last_bgsave_status"] == "err"
    with pytest.raises(redis.ResponseError) as e:
        r.set("b", 2)
    assert str(e.value).startswith("MISCONF Redis is configured to save RDB snapshots")
    with pytest.raises(redis.ResponseError) as e:
        r.shutdown()
    assert str(e.value) == "Errors trying to SHUTDOWN. Check logs."
    assert r.ping()
    r.config_set("stop-writes-on-bgsave-error", "no")
    r.set("b", 2)
    n.shutdown("NOSAVE")


def test_dbfilename_must_be_a_file_name(tmp_path):
    """As Redis: a path in dbfilename refuses start-up."""
    p = subprocess.run([surge_binary(), "--port", "0", "--dir", str(tmp_path),
                        "--dbfilename", "nodir/dump.rdb"], capture_output=True, text=True,
                       timeout=10)
    assert p.returncode != 0
    assert "dbfilename can't be a path, just a filename" in p.stdout + p.stderr


def test_failure_texts_match_redis(tmp_path, start_surge, start_redis_ref):
    """The same failure on both servers: the save directory disappears. A
    failed SAVE leaves writes allowed; a failed BGSAVE refuses them."""
    texts = []
    for start in (start_surge, start_redis_ref):
        gone = tmp_path / ("gone-%d" % len(texts))
        gone.mkdir()
        srv = start("--dir", str(gone), "--save", "3600 1")
        r = srv.client(decode_responses=True)
        r.set("a", 1)
        shutil.rmtree(gone)
        got = run_cmds(srv, [("SAVE",), ("SET", "b", 2)])
        got.append(persistence(r)["rdb_last_bgsave_status"])
        try:
            r.bgsave()
        except redis.ResponseError:
            pass  # Surge fails at once; Redis's child fails a moment later
        wait_bgsave_done(r)
        got.append(persistence(r)["rdb_last_bgsave_status"])
        got += run_cmds(srv, [("SET", "c", 3), ("SAVE",), ("SHUTDOWN",), ("GET", "a")])
        texts.append(got)
        r.config_set("save", "")
    assert texts[0] == texts[1]
    assert texts[0][:4] == ["-ERR", "+OK", "ok", "err"]
    assert texts[0][4].startswith("-MISCONF Redis is configured to save RDB snapshots")
    assert texts[0][6] == "-ERR Errors trying to SHUTDOWN. Check logs."


# ---- 6. damaged files ---------------------------------------------------------------

def make_good_snapshot(n):
    r = n.start()
    p = r.pipeline(transaction=False)
    for i in range(3000):
        p.set("s%d" % i, os.urandom(100))
    p.rpush("l", *range(1000))
    p.execute()
    d = digest(r)
    assert r.save() is True
    n.shutdown("NOSAVE")
    require_surge_file(n.dump)
    return d, n.dump.read_bytes()


def test_damaged_files_refuse_startup(node):
    n = node(*NOSAVE, *DEBUG)
    d0, good = make_good_snapshot(n)
    bl = blocks(good)
    assert len(bl) >= 3, bl  # at least two data blocks and the end block
    first, second, end = bl[0], bl[1], bl[-1]
    flips = {  # position -> offset the log must name
        3: 0,  # magic
        9: 0,  # version
        20: 0,  # creation time (header checksum)
        35: 0,  # header checksum itself
        first[0] + 1: first[0],  # codec byte of the first block's header
        first[0] + 6: first[0],  # raw length
        first[0] + 18: first[0],  # payload checksum
        first[0] + 24 + first[4] // 2: first[0],  # payload
        second[0] + 24 + 7: second[0],  # payload of the second block
        end[0]: end[0],  # kind of the end block
        end[0] + 24: end[0],  # end block payload
        len(good) - 1: end[0],
    }
    for pos, want_off in flips.items():
        data = bytearray(good)
        data[pos] ^= 0x01
        n.dump.write_bytes(bytes(data))
        out = n.refuse_start()
        assert "dump.rdb" in out, (pos, out)
        m = re.search(r"at offset (\d+)", out)
        assert m and int(m.group(1)) == want_off, (pos, want_off, out)

    cuts = [0, 5, 8, 39, 40, 41, first[0] + 24, first[0] + 24 + first[4] - 1,
            second[0], end[0], end[0] + 23, len(good) - 1]
    for cut in cuts:
        n.dump.write_bytes(good[:cut])
        out = n.refuse_start()
        assert "dump.rdb" in out and re.search(r"at offset \d+", out), (cut, out)

    n.dump.write_bytes(b"REDIS0011" + good[9:])
    out = n.refuse_start()
    assert "dump.rdb" in out and "magic" in out, out
    n.dump.write_bytes(good + b"\0")
    n.refuse_start()

    n.dump.write_bytes(good)
    r = n.start()
    assert digest(r) == d0
    n.stop()


def test_kill9_during_bgsave_keeps_the_previous_snapshot(node):
    n = node(*NOSAVE, *DEBUG)
    r = n.start()
    p = r.pipeline(transaction=False)
    for i in range(5000):
        p.set("k%d" % i, i)
    p.execute()
    assert r.save() is True
    d0 = digest(r)
    good = n.dump.read_bytes()
    p = r.pipeline(transaction=False)
    for i in range(5000):
        p.set("k%d" % i, os.urandom(200))
    p.execute()
    r.config_set("rdb-key-save-delay", 500)
    assert r.bgsave() is True
    deadline = time.monotonic() + 5
    tmp = n.dir / "dump.rdb.tmp"
    while time.monotonic() < deadline:  # until a block or two are written
        info = persistence(r)
        if info["current_save_keys_processed"] >= 2500:
            break
        time.sleep(0.02)
    assert info["rdb_bgsave_in_progress"] == 1
    if tmp.exists():
        assert tmp.stat().st_size > 40
    n.kill9()
    assert n.dump.read_bytes() == good
    assert tmp.exists() and tmp.stat().st_size > 0  # the leftover
    r = n.start()
    assert digest(r) == d0 and r.get("k1") == b"1"
    # the next save replaces both
    r.set("k1", "after")
    assert r.save() is True
    assert not tmp.exists()
    n.shutdown("NOSAVE")
    r = n.start()
    assert r.get("k1") == b"after"
    n.stop()


@pytest.mark.parametrize("cmd", ["BGSAVE", "SAVE"])
def test_kill9_at_random_points_of_a_save(node, cmd):
    """Each round changes the data and kills the server at a random moment
    of a save (or just after it); the restart must load either the
    previous snapshot or the new one, never fail or mix them."""
    rnd = random.Random(int(os.environ.get("SURGE_SNAPSHOT_SEED", "0")) or None)
    n = node(*NOSAVE, *DEBUG)
    r = n.start()
    assert r.save() is True
    saved = digest(r)
    for round_no in range(3):
        p = r.pipeline(transaction=False)
        for i in range(2000):
            p.set("k%d" % i, "%d-%d" % (round_no, rnd.randrange(1000)))
        p.execute()
        new = digest(r)
        r.config_set("rdb-key-save-delay", 200)  # a save takes about 0.5 s
        killer = threading.Timer(rnd.uniform(0.0, 0.7), n.srv.proc.kill)
        killer.start()
        try:
            n.srv.client().execute_command(cmd)
        except redis.ConnectionError:
            pass
        killer.join()
        n.kill9()
        r = n.start()
        got = digest(r)
        assert got in (saved, new), round_no
        saved = got
    n.stop()


# ---- 7. shutdown and signals -----------------------------------------------------

def test_sigterm_saves_and_shutdown_nosave_does_not(node):
    n = node("--save", "3600 1", *DEBUG)
    r = n.start()
    r.rpush("l", 1, 2, 3)
    r.set("s", "v", ex=1000)
    d0 = digest(r)
    n.stop()  # SIGTERM
    assert n.dump.exists()
    r = n.start()
    assert digest(r) == d0
    r.set("more", 1)
    n.shutdown("NOSAVE")
    r = n.start()
    assert r.exists("more") == 0 and digest(r) == d0
    r.set("more", 1)
    n.shutdown()  # plain SHUTDOWN saves with save points
    r = n.start()
    assert r.get("more") == b"1"
    n.stop()


def test_shutdown_without_save_points(node):
    n = node(*NOSAVE)
    r = n.start()
    r.set("a", 1)
    n.shutdown()
    assert not n.dump.exists()
    r = n.start()
    r.set("a", 1)
    os.kill(n.srv.proc.pid, signal.SIGTERM)
    assert n.srv.proc.wait(10) == 0
    n.stop()
    assert not n.dump.exists()
    r = n.start()
    r.set("a", 1)
    n.shutdown("SAVE")
    assert n.dump.exists()
    r = n.start()
    assert r.get("a") == b"1"
    n.stop()


def ref_node(node):
    if not os.path.exists(redis_binary()):
        pytest.skip("no reference redis-server")
    return node("--appendonly", "no", "--save", "3600 1", binary=redis_binary())


def test_flushall_with_save_points_saves_the_empty_dataset(node):
    """Redis saves at FLUSHALL when save points are configured, so a crash
    after it does not bring the flushed keys back."""
    got = []
    for n in (node("--save", "3600 1"), ref_node(node)):
        r = n.start()
        r.set("a", 1)
        r.set("b", 2)
        assert r.save() is True
        r.flushall()
        n.kill9()
        r = n.start()
        got.append(r.dbsize())
        n.stop()
    assert got == [0, 0]


def test_appendonly_yes_does_not_load_the_snapshot(node):
    got = []
    for n in (node(*NOSAVE), ref_node(node)):
        r = n.start()
        r.set("a", 1)
        assert r.save() is True
        n.shutdown("NOSAVE")
        r = n.start("--appendonly", "yes", "--save", "")
        got.append(r.dbsize())
        n.stop()
    assert got == [0, 0]


def test_shutdown_during_bgsave_saves_the_current_data(node):
    n = node("--save", "3600 1")
    r = n.start()
    fill_keys(r, 3000)
    r.config_set("rdb-key-save-delay", 300)
    assert r.bgsave() is True
    r.set("during", "x")
    r.delete("key7")
    assert persistence(r)["rdb_bgsave_in_progress"] == 1
    r.config_set("rdb-key-save-delay", 0)
    n.stop()  # SIGTERM: abandons the background save, saves now
    assert not (n.dir / "dump.rdb.tmp").exists()
    r = n.start()
    assert r.get("during") == b"x" and r.exists("key7") == 0 and r.dbsize() == 3000
    n.stop()


def test_other_dbfilename_and_too_few_databases(node):
    n = node(*NOSAVE, "--dbfilename", "other.snap")
    r = n.start()
    n.client(9).set("nine", 9)
    assert r.save() is True
    n.shutdown("NOSAVE")
    assert (n.dir / "other.snap").exists() and not n.dump.exists()
    r = n.start()
    assert n.client(9).get("nine") == b"9"
    n.stop()
    n.args += ["--databases", "4"]
    out = n.refuse_start()
    assert "other.snap" in out and "databases" in out, out


def test_info_persistence_during_and_after_bgsave(node):
    n = node(*NOSAVE)
    r = n.start()
    fill_keys(r, 4000)
    info = persistence(r)
    assert info["rdb_changes_since_last_save"] == 4000
    assert info["rdb_last_bgsave_time_sec"] == -1 and info["rdb_current_bgsave_time_sec"] == -1
    r.config_set("rdb-key-save-delay", 300)
    assert r.bgsave() is True
    for i in range(10):
        r.set("key%d" % i, "again")
    time.sleep(0.3)
    info = persistence(r)
    assert info["rdb_bgsave_in_progress"] == 1 and info["rdb_current_bgsave_time_sec"] >= 0
    assert 0 < info["current_save_keys_processed"] < 4000
    wait_bgsave_done(r)
    info = persistence(r)
    assert info["rdb_last_bgsave_status"] == "ok" and info["rdb_last_bgsave_time_sec"] >= 0
    assert info["rdb_current_bgsave_time_sec"] == -1 and info["rdb_saves"] == 1
    # the writes made while the save ran are not in it
    assert info["rdb_changes_since_last_save"] == 10
