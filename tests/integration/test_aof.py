"""The append-only log (src/persist/aof.c, docs/persistence.md).

Each test runs servers on one directory of its own, restarting them to check
what came back: every type after a restart (DEBUG DIGEST), acknowledged
writes after kill -9 under `appendfsync always`, a torn tail at every byte
offset of the last record, a flipped byte mid-file refusing start-up,
BGREWRITEAOF, expiry times, and a failing disk (an LD_PRELOAD shim).
"""
import random
import shutil
import subprocess
import threading
import time

import pytest
import redis

from conftest import surge_binary

AOF_ARGS = ("--appendonly", "yes", "--appendfsync", "always")


def aof_dir(n):
    return n.dir / "appendonlydir"


def incr_file(n):
    files = sorted(aof_dir(n).glob("*.incr.aof"))
    assert len(files) == 1, files
    return files[0]


def fill_all_types(r):
    r.set("str", "hello")
    r.set("int", 12345)
    r.incrbyfloat("float", "1.25")
    r.incrbyfloat("float", "0.5")
    r.append("str", " world")
    r.rpush("list", *range(300))      # more than one rewrite chunk
    r.lpush("smalllist", "a", "b")
    r.lpop("list")
    r.sadd("intset", 1, 2, 3)
    r.sadd("bigset", *("m%d" % i for i in range(600)))
    r.spop("bigset")
    r.spop("bigset", 3)
    r.spop("bigset", 1)
    r.sadd("popall", "x", "y")
    r.spop("popall", 10)
    r.hset("hash", mapping={"f%d" % i: "v%d" % i for i in range(600)})
    r.hset("smallhash", "a", "1")
    r.hincrbyfloat("smallhash", "b", "2.5")
    r.zadd("zset", {"z%d" % i: i * 1.5 for i in range(400)})
    r.zadd("zset", {"inf": float("inf"), "ninf": float("-inf")})
    r.zadd("smallz", {"a": 1})
    r.pfadd("hll", "a", "b", "c")
    r.setbit("bits", 100, 1)
    r.set("ttl", "v", px=500000)
    r.expire("list", 1000)
    p = r.pipeline(transaction=True)
    p.incr("tx1").incr("tx2").rpush("txl", "q")
    p.execute()
    r.execute_command("SELECT", 5)  # the pool reuses this connection
    r.set("in-db5", "five")
    r.execute_command("SELECT", 0)
    r.set("gone", "x")
    r.delete("gone")
    r.set("binary\x00key", b"\x00\xff\r\n")


MORE_WRITES = [
    ("MSET", "m1", "a", "m2", "b"), ("MSETNX", "m3", "c"), ("SETNX", "m4", "d"),
    ("GETSET", "m1", "z"), ("GETDEL", "m2"), ("SETRANGE", "m3", 5, "xy"),
    ("DECRBY", "n", 5), ("INCRBY", "n", 2), ("DECR", "n"),
    ("RENAME", "m3", "m5"), ("RENAMENX", "m4", "m6"), ("COPY", "m5", "m7"),
    ("MOVE", "m7", 2), ("UNLINK", "m6"),
    ("RPUSH", "L", "a", "b", "c", "d", "e"), ("LSET", "L", 0, "A"), ("LTRIM", "L", 0, 3),
    ("LINSERT", "L", "BEFORE", "b", "bb"), ("LREM", "L", 1, "c"), ("LPUSHX", "L", "p"),
    ("RPOPLPUSH", "L", "L2"), ("LMOVE", "L", "L2", "LEFT", "RIGHT"), ("LMPOP", 1, "L", "LEFT"),
    ("SADD", "S1", "a", "b", "c"), ("SADD", "S2", "b", "c", "d"), ("SMOVE", "S1", "S2", "a"),
    ("SREM", "S2", "d"), ("SINTERSTORE", "S3", "S1", "S2"), ("SUNIONSTORE", "S4", "S1", "S2"),
    ("SDIFFSTORE", "S5", "S2", "S1"),
    ("ZADD", "Z1", 1, "a", 2, "b", 3, "c"), ("ZADD", "Z2", 5, "b"), ("ZINCRBY", "Z1", 2.5, "a"),
    ("ZUNIONSTORE", "Z3", 2, "Z1", "Z2"), ("ZINTERSTORE", "Z4", 2, "Z1", "Z2"),
    ("ZDIFFSTORE", "Z5", 2, "Z1", "Z2"), ("ZRANGESTORE", "Z6", "Z1", 0, 1), ("ZREM", "Z1", "c"),
    ("ZPOPMIN", "Z3"), ("ZPOPMAX", "Z3"), ("ZMPOP", 1, "Z6", "MIN"),
    ("ZREMRANGEBYSCORE", "Z4", 0, 1), ("ZREMRANGEBYRANK", "Z5", 0, 0),
    ("HSET", "H", "a", 1, "b", 2), ("HSETNX", "H", "c", 3), ("HMSET", "H", "d", 4),
    ("HINCRBY", "H", "a", 10), ("HDEL", "H", "b"),
    ("SETBIT", "B1", 7, 1), ("BITOP", "OR", "B2", "B1", "m1"),
    ("BITFIELD", "B3", "SET", "u8", 0, 200, "INCRBY", "u8", 0, 100),
    ("PFADD", "P1", "x"), ("PFADD", "P2", "y"), ("PFMERGE", "P3", "P1", "P2"),
    ("SET", "T", "v"), ("EXPIREAT", "T", 4000000000), ("SET", "T2", "v", "EX", 100),
    ("PERSIST", "T2"), ("SWAPDB", 0, 1), ("SELECT", 1), ("FLUSHDB",), ("SELECT", 0),
]


def test_restart_after_many_write_commands(node):
    n = node(*AOF_ARGS)
    r = n.start()
    c = n.srv.resp()
    for cmd in MORE_WRITES:
        reply = c.call(*cmd)
        assert not isinstance(reply, Exception), (cmd, reply)
    r.set("db0", "x")
    before = digests(r)
    n.stop()
    r = n.start()
    assert digests(r) == before
    r.execute_command("BGREWRITEAOF")
    wait_rewrites(r, 1)
    n.stop()
    r = n.start()
    assert digests(r) == before


def digests(r):
    return r.execute_command("DEBUG", "DIGEST")


def test_restart_recovers_every_type(node):
    n = node(*AOF_ARGS)
    r = n.start()
    fill_all_types(r)
    before = digests(r)
    assert before != b"0" * 40
    info = r.info("persistence")
    assert info["aof_enabled"] == 1 and info["aof_last_write_status"] == "ok"
    assert info["aof_current_size"] > 0
    n.stop()
    r = n.start()
    assert digests(r) == before
    assert r.get("str") == b"hello world"
    # and again after a rewrite, from the base file
    r.execute_command("BGREWRITEAOF")
    wait_rewrites(r, 1)
    assert digests(r) == before
    n.stop()
    r = n.start()
    assert digests(r) == before
    assert r.lrange("list", 0, 2) == [b"1", b"2", b"3"]


def test_blocking_pop_served_later_is_logged(node):
    n = node(*AOF_ARGS)
    r = n.start()
    other = n.srv.client()
    out = []
    t = threading.Thread(target=lambda: out.append(other.blpop(["bq1", "bq2"], 5)))
    t.start()
    time.sleep(0.2)
    r.rpush("bq2", "a", "b")
    t.join()
    assert out == [(b"bq2", b"a")]
    before = digests(r)
    n.stop()
    r = n.start()
    assert digests(r) == before
    assert r.lrange("bq2", 0, -1) == [b"b"]


def wait_rewrites(r, count, timeout=5):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if r.info("persistence")["aof_rewrites"] >= count:
            return
        time.sleep(0.05)
    raise AssertionError("no rewrite happened")


def test_bgrewriteaof_keeps_data_and_shrinks_log(node):
    n = node(*AOF_ARGS)
    r = n.start()
    p = r.pipeline(transaction=False)
    for i in range(3000):
        p.incr("counter")
        p.set("k%d" % (i % 10), i)
    p.execute()
    before = digests(r)
    size_before = r.info("persistence")["aof_current_size"]
    assert r.execute_command("BGREWRITEAOF")  # redis-py maps the status to True
    wait_rewrites(r, 1)
    info = r.info("persistence")
    assert info["aof_current_size"] < size_before / 20
    assert info["aof_base_size"] == info["aof_current_size"]
    files = sorted(f.name for f in aof_dir(n).iterdir())
    assert files == ["appendonly.aof.2.base.rdb", "appendonly.aof.2.incr.aof",
                     "appendonly.aof.manifest"], files
    r.incr("counter")
    n.stop()
    r = n.start()
    assert r.get("counter") == b"3001"
    r.decr("counter")
    assert digests(r) == before


def test_auto_rewrite(node):
    n = node(*AOF_ARGS, "--auto-aof-rewrite-min-size", "20kb",
             "--auto-aof-rewrite-percentage", "100")
    r = n.start()
    p = r.pipeline(transaction=False)
    for i in range(2000):
        p.set("a", i)
    p.execute()
    wait_rewrites(r, 1)
    n.stop()
    r = n.start()
    assert r.get("a") == b"1999"


def test_expiry_times_survive_restart(node):
    n = node(*AOF_ARGS)
    r = n.start()
    r.set("ex", "v", ex=1000)
    r.set("px", "v", px=900000)
    r.setex("setex", 800, "v")
    r.psetex("psetex", 700000, "v")
    r.set("e1", "v")
    r.expire("e1", 600)
    r.set("e2", "v")
    r.pexpire("e2", 500000)
    r.set("getex", "v")
    r.getex("getex", px=400000)
    r.set("at", "v")
    r.expireat("at", int(time.time()) + 300)
    r.set("persisted", "v", ex=100)
    r.persist("persisted")
    r.set("short", "v", px=150)
    keys = ["ex", "px", "setex", "psetex", "e1", "e2", "getex", "at", "persisted"]
    want = {k: r.execute_command("PEXPIRETIME", k) for k in keys}
    assert all(v > 0 for k, v in want.items() if k != "persisted")
    n.stop()
    time.sleep(0.3)  # "short" expires while the server is down
    r = n.start()
    got = {k: r.execute_command("PEXPIRETIME", k) for k in keys}
    assert got == want
    assert r.exists("short") == 0


def test_kill9_under_load_loses_no_acknowledged_write(node):
    n = node(*AOF_ARGS)
    acked_incr = {}   # key -> highest acknowledged INCR result
    acked_set = {}    # key -> last acknowledged value
    rng = random.Random(7)
    for round_no in range(20):
        r = n.start()
        # everything acknowledged so far is there
        for k, v in acked_incr.items():
            assert int(r.get(k)) >= v, (round_no, k)
        for k, v in acked_set.items():
            assert r.get(k) == v, (round_no, k)
        stop = threading.Event()
        lock = threading.Lock()

        def writer(wid):
            c = redis.Redis(host=n.srv.host, port=n.srv.port, socket_timeout=5)
            i = 0
            try:
                while not stop.is_set():
                    i += 1
                    ck = "ctr%d" % wid
                    v = c.incr(ck)
                    sk = "s%d:%d:%d" % (round_no, wid, i)  # never overwritten
                    val = ("%d-%d-%d" % (round_no, wid, i)).encode()
                    c.set(sk, val)
                    with lock:
                        acked_incr[ck] = v
                        acked_set[sk] = val
            except (redis.ConnectionError, redis.TimeoutError, ConnectionResetError):
                pass

        threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
        for t in threads:
            t.start()
        time.sleep(rng.uniform(0.05, 0.25))
        n.kill9()
        stop.set()
        for t in threads:
            t.join()
    r = n.start()
    for k, v in acked_incr.items():
        assert int(r.get(k)) >= v, k
    for k, v in acked_set.items():
        assert r.get(k) == v, k
    assert len(acked_incr) == 4


def test_torn_tail_at_every_offset_loads_prefix(node):
    n = node(*AOF_ARGS)
    r = n.start()
    r.set("first", "1")
    r.set("second", "2")
    size_before_last = incr_file(n).stat().st_size
    r.set("last", "x" * 20)
    n.stop()
    path = incr_file(n)
    full = path.read_bytes()
    assert len(full) > size_before_last
    pristine = n.dir / "pristine.aof"
    shutil.copy(path, pristine)
    for cut in range(size_before_last, len(full) + 1):
        with open(path, "wb") as f:
            f.write(full[:cut])
        r = n.start()
        assert r.get("second") == b"2"
        if cut == len(full):
            assert r.get("last") == b"x" * 20
        else:
            assert r.exists("last") == 0, cut
            # the torn bytes were cut off, so new writes follow whole records
            r.set("after", "y")
        n.stop()
        if size_before_last < cut < len(full):
            assert "torn record: %d bytes at offset %d dropped" % (
                cut - size_before_last, size_before_last) in n.log(), cut
            assert path.stat().st_size > size_before_last
            r = n.start()
            assert r.get("after") == b"y" and r.exists("last") == 0
            r.delete("after")
            n.stop()


def run_and_expect_refusal(n):
    """Starts the server directly; it must exit non-zero. Returns its output."""
    argv = [surge_binary(), "--port", "0", "--dir", str(n.dir)] + list(n.args)
    p = subprocess.run(argv, cwd=str(n.dir), capture_output=True, timeout=20)
    assert p.returncode != 0
    return (p.stdout + p.stderr).decode(errors="replace")


def test_flipped_byte_mid_file_refuses_startup(node):
    n = node(*AOF_ARGS)
    r = n.start()
    p = r.pipeline(transaction=False)
    for i in range(200):
        p.set("key%d" % i, "value%d" % i)
    p.execute()
    n.stop()
    path = incr_file(n)
    data = bytearray(path.read_bytes())
    off = len(data) // 2
    data[off] ^= 0x20
    path.write_bytes(bytes(data))
    out = run_and_expect_refusal(n)
    assert "Bad AOF file" in out and path.name in out and "refusing to start" in out, out
    # the offset named is the start of the damaged record, at or before the flip
    import re
    m = re.search(r"at offset (\d+)", out)
    assert m and int(m.group(1)) <= off < int(m.group(1)) + 100, out


def test_config_set_appendonly_at_runtime(node):
    n = node()
    r = n.start()
    r.rpush("l", 1, 2, 3)
    r.set("s", "v", ex=1000)
    assert r.info("persistence")["aof_enabled"] == 0
    r.config_set("appendonly", "yes")
    deadline = time.time() + 5
    while r.info("persistence")["aof_enabled"] != 1 and time.time() < deadline:
        time.sleep(0.05)
    r.set("after", "1")
    before = digests(r)
    n.stop()
    n.args = list(AOF_ARGS)
    r = n.start()
    assert digests(r) == before
    assert r.ttl("s") > 900


SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
static int failing(void) { return access(FAILFLAG, F_OK) == 0; }
static unsigned long calls;
int fdatasync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    char b[32];
    int n = snprintf(b, sizeof(b), "%lu\n", ++calls);
    int cf = open(COUNTFILE, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (cf >= 0) { if (write(cf, b, (size_t)n) < 0) {} close(cf); }
    if (failing()) { errno = EIO; return -1; }
    return real(fd);
}
"""


@pytest.fixture
def fsync_shim(tmp_path):
    if not shutil.which("gcc"):
        pytest.skip("gcc not available for the LD_PRELOAD shim")
    flag = tmp_path / "fail-fsync"
    count = tmp_path / "fsync-count"
    src = tmp_path / "shim.c"
    lib = tmp_path / "shim.so"
    src.write_text(SHIM)
    subprocess.run(["gcc", "-shared", "-fPIC", "-O1", '-DFAILFLAG="%s"' % flag,
                    '-DCOUNTFILE="%s"' % count, "-o", str(lib), str(src), "-ldl"], check=True)
    return lib, flag, count


def test_failed_fsync_under_everysec_refuses_writes_until_it_works(node, fsync_shim):
    lib, flag, _count = fsync_shim
    n = node("--appendonly", "yes", "--appendfsync", "everysec",
             env={"LD_PRELOAD": str(lib)})
    r = n.start()
    r.set("a", "1")
    flag.touch()
    r.set("b", "2")  # acknowledged: everysec may lose up to about a second
    deadline = time.time() + 5
    while r.info("persistence")["aof_last_write_status"] == "ok" and time.time() < deadline:
        time.sleep(0.05)
    assert r.info("persistence")["aof_last_write_status"] == "err"
    with pytest.raises(redis.ResponseError, match="MISCONF"):
        r.set("c", "3")
    assert r.get("a") == b"1"  # reads still work
    flag.unlink()
    deadline = time.time() + 5
    while r.info("persistence")["aof_last_write_status"] != "ok" and time.time() < deadline:
        time.sleep(0.05)
    r.set("c", "3")
    n.stop()
    r = n.start()
    assert r.mget("a", "b", "c") == [b"1", b"2", b"3"]


def test_failed_fsync_under_always_stops_the_server(node, fsync_shim):
    lib, flag, _count = fsync_shim
    n = node(*AOF_ARGS, env={"LD_PRELOAD": str(lib)})
    r = n.start()
    r.set("a", "1")
    flag.touch()
    with pytest.raises((redis.ConnectionError, redis.TimeoutError)):
        r.set("b", "2")  # never acknowledged
    n.srv.proc.wait(5)
    assert n.srv.proc.returncode == 1
    assert "Can't fsync the append only file" in n.log()
    n.srv.stop()
    n.srv = None
    flag.unlink()
    r = n.start()
    assert r.get("a") == b"1"


def test_group_commit_shares_fsyncs(node, fsync_shim):
    """Under `always`, clients served in one loop iteration share one fsync."""
    lib, _flag, count = fsync_shim
    n = node(*AOF_ARGS, env={"LD_PRELOAD": str(lib)})
    n.start()
    clients, per = 20, 50
    barrier = threading.Barrier(clients)

    def writer(w):
        c = redis.Redis(host=n.srv.host, port=n.srv.port, socket_timeout=10)
        barrier.wait()
        for i in range(per):
            c.set("g%d:%d" % (w, i), i)

    before = int(count.read_text()) if count.exists() else 0
    threads = [threading.Thread(target=writer, args=(w,)) for w in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    fsyncs = int(count.read_text()) - before
    print("fsyncs for %d acknowledged writes: %d" % (clients * per, fsyncs))
    assert 0 < fsyncs < clients * per * 0.8, fsyncs
    r = n.srv.client()
    assert r.dbsize() == clients * per


def _writer(r, stop, acked, pending):
    """Writes until stop is set (or the server dies); records each
    acknowledged write in acked, and the one in flight in pending (it may or
    may not have reached the log when the server was killed)."""
    i = 0
    try:
        while not stop.is_set():
            i += 1
            k = "w%d" % (i % 5000)
            pending[:] = [(k, str(i).encode())]
            r.set(k, i)
            acked[k] = str(i).encode()
            if i % 7 == 0:
                d = "k%d" % (i % 20000)
                pending[:] = [(d, None)]
                r.delete(d)
                acked[d] = None
            pending[:] = []
    except redis.ConnectionError:
        pass


def _check_acked(r, acked, pending):
    for k, v in acked.items():
        got = r.get(k)
        if pending and pending[0][0] == k:
            assert got in (v, pending[0][1]), k
        else:
            assert got == v, k


def _slow_rewrite_setup(n):
    r = n.start()
    p = r.pipeline(transaction=False)
    for i in range(20000):
        p.set("k%d" % i, "v%d" % i)
        if i % 1000 == 0:
            p.rpush("l%d" % i, *range(50))
            p.hset("h%d" % i, mapping={"f%d" % j: j for j in range(40)})
    p.execute()
    # 20k keys x 100 us: the rewrite's snapshot takes about two seconds
    r.config_set("rdb-key-save-delay", 100)
    return r


def test_rewrite_runs_in_background_and_keeps_concurrent_writes(node):
    """BGREWRITEAOF no longer blocks: writes go on while the base is written,
    land in the new incremental file, and everything is back after restart."""
    n = node(*AOF_ARGS)
    r = _slow_rewrite_setup(n)
    assert r.execute_command("BGREWRITEAOF")
    info = r.info("persistence")
    assert info["aof_rewrite_in_progress"] == 1
    with pytest.raises(redis.ResponseError, match="already in progress"):
        r.execute_command("BGREWRITEAOF")
    with pytest.raises(redis.ResponseError, match="Another child process is active"):
        r.execute_command("BGSAVE")
    stop, acked, pending = threading.Event(), {}, []
    w = n.srv.client()
    t = threading.Thread(target=_writer, args=(w, stop, acked, pending))
    t.start()
    wait_rewrites(r, 1, timeout=30)
    stop.set()
    t.join()
    assert len(acked) > 100  # writes were served during the rewrite
    r.config_set("rdb-key-save-delay", 0)
    before = digests(r)
    files = sorted(f.name for f in aof_dir(n).iterdir())
    assert files == ["appendonly.aof.2.base.rdb", "appendonly.aof.2.incr.aof",
                     "appendonly.aof.manifest"], files
    n.stop()
    r = n.start()
    assert digests(r) == before
    _check_acked(r, acked, [])


def test_kill9_during_rewrite_loses_no_acknowledged_write(node):
    n = node(*AOF_ARGS)
    r = _slow_rewrite_setup(n)
    assert r.execute_command("BGREWRITEAOF")
    stop, acked, pending = threading.Event(), {}, []
    w = n.srv.client()
    t = threading.Thread(target=_writer, args=(w, stop, acked, pending))
    t.start()
    time.sleep(0.7)  # in the middle of the base file
    assert r.info("persistence")["aof_rewrite_in_progress"] == 1
    n.kill9()
    stop.set()
    t.join()
    manifest = (aof_dir(n) / "appendonly.aof.manifest").read_text()
    assert "appendonly.aof.1.incr.aof" in manifest and "appendonly.aof.2.incr.aof" in manifest
    r = n.start()
    _check_acked(r, acked, pending)
    assert r.dbsize() >= 20000 - len([v for v in acked.values() if v is None])
    # the next rewrite folds the history into one base
    assert r.execute_command("BGREWRITEAOF")
    wait_rewrites(r, 1, timeout=30)
    before = digests(r)
    files = sorted(f.name for f in aof_dir(n).iterdir() if not f.name.endswith(".tmp"))
    assert files == ["appendonly.aof.3.base.rdb", "appendonly.aof.3.incr.aof",
                     "appendonly.aof.manifest"], files
    n.stop()
    r = n.start()
    assert digests(r) == before


def test_debug_reload_round_trips_every_type(node):
    """DEBUG RELOAD saves the snapshot, empties the dataset and loads it."""
    n = node("--save", "")
    r = n.start()
    fill_all_types(r)
    before = digests(r)
    assert r.execute_command("DEBUG", "RELOAD") in (b"OK", True)
    assert digests(r) == before
    r.set("extra", "1")
    assert r.execute_command("DEBUG", "RELOAD", "NOSAVE") in (b"OK", True)
    assert r.exists("extra") == 0 and digests(r) == before
    r.set("extra", "1")
    r.set("str", "changed")
    with pytest.raises(redis.ResponseError, match="Error trying to load"):
        r.execute_command("DEBUG", "RELOAD", "NOSAVE", "NOFLUSH")
    assert r.execute_command("DEBUG", "RELOAD", "NOSAVE", "NOFLUSH", "MERGE") in (b"OK", True)
    assert r.get("extra") == b"1" and r.get("str") == b"hello world"
    with pytest.raises(redis.ResponseError, match="only supports"):
        r.execute_command("DEBUG", "RELOAD", "BOGUS")


def test_hincrbyfloat_is_logged_as_hset(node):
    """As Redis propagates it: the result, not the increment, so a replay
    does not depend on long double arithmetic."""
    n = node(*AOF_ARGS)
    r = n.start()
    r.hset("h", "f", "1.5")
    assert r.hincrbyfloat("h", "f", "0.1") == 1.6
    assert r.hincrbyfloat("h", "g", "2.5e3") == 2500.0
    raw = b"".join(f.read_bytes() for f in aof_dir(n).iterdir() if f.name.endswith(".incr.aof"))
    assert b"HINCRBYFLOAT" not in raw.upper()
    assert b"$3\r\n1.6\r\n" in raw and b"$4\r\n2500\r\n" in raw
    n.stop()
    r = n.start()
    assert r.hgetall("h") == {b"f": b"1.6", b"g": b"2500"}
