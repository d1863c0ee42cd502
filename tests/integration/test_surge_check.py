"""surge-check, the file checker (src/tools/surge_check.c, docs/surge-check.md).

The files are real: a Surge server writes them (`--appendonly yes`, SAVE),
then the tests check them as written, cut at several offsets inside the
last record, with a byte flipped mid-file, and as whole append-only
directories, and look at the exit status, the summary counts and the
verdict line (always the last line of standard output).
"""
import ctypes
import ctypes.util
import os
import re
import shutil
import struct
import subprocess
import time

import pytest

from conftest import ServerProcess, surge_binary

AOF_ARGS = ("--appendonly", "yes", "--appendfsync", "always")


def check_binary():
    env = os.environ.get("SURGE_CHECK")
    if env:
        return env
    return os.path.join(os.path.dirname(surge_binary()), "surge-check")


def run_check(*args, expect=None):
    path = check_binary()
    if not os.access(path, os.X_OK):
        pytest.fail("surge-check not built at %s (set SURGE_CHECK)" % path, pytrace=False)
    p = subprocess.run([path] + [str(a) for a in args], capture_output=True, text=True,
                       timeout=60)
    if expect is not None:
        assert p.returncode == expect, (p.returncode, p.stdout, p.stderr)
    return p


def verdict(p):
    lines = p.stdout.strip().splitlines()
    return lines[-1] if lines else ""


# -- log records (the framing documented in src/persist/aof.c) ----------------

def _crc64_table():
    poly = 0x95AC9329AC4BC9B5  # Jones polynomial, reflected (Redis's crc64)
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _crc64_table()


def crc64(data, crc=0):
    for b in data:
        crc = _CRC_TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc


def frame(payload):
    head = b"#%d %016x" % (len(payload), crc64(payload))
    return head + b" %08x\r\n" % (crc64(head) & 0xFFFFFFFF) + payload


def resp(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def records(data):
    """[(start, payload_start, end)] of every record in a valid log image."""
    out, pos = [], 0
    while pos < len(data):
        assert data[pos:pos + 1] in (b"#", b"%"), pos  # plain or encrypted
        nl = data.index(b"\r\n", pos)
        length = int(data[pos + 1:nl].split(b" ")[0])
        out.append((pos, nl + 2, nl + 2 + length))
        pos = nl + 2 + length
    return out


# -- servers ------------------------------------------------------------------

def write_known_data(srv):
    """Writes a known mix: 10 records, 14 commands, databases 0, 3 and 5."""
    c = srv.resp()
    for i in range(5):
        c.call("SET", "s%d" % i, "v%d" % i)
    c.call("SELECT", 3)
    c.call("RPUSH", "list", "a", "b", "c")
    c.call("SADD", "set", "x", "y")
    c.call("SELECT", 5)
    c.call("HSET", "hash", "f", "v")
    c.call("ZADD", "zset", 1, "m")
    c.call("SETEX", "ttl", 1000, "v")


EXPECTED_COMMANDS = {"SET": 5, "SELECT": 3, "RPUSH": 1, "SADD": 1, "HSET": 1, "ZADD": 1,
                     "SETEX": 1, "PEXPIREAT": 1}


@pytest.fixture
def logged(start_surge):
    """A stopped server's directory holding a log of write_known_data."""
    srv = start_surge(*AOF_ARGS)
    write_known_data(srv)
    assert srv.stop() is None
    return srv.dir


@pytest.fixture
def restart(tmp_path):
    """restart(directory) starts a server on an existing directory."""
    started = []

    def start(directory, *args):
        srv = ServerProcess(surge_binary(), directory, args or AOF_ARGS, name="restart")
        started.append(srv)
        srv.start()
        return srv

    yield start
    for srv in started:
        assert srv.stop() is None


def incr_file(directory):
    files = sorted((directory / "appendonlydir").glob("*.incr.aof"))
    assert len(files) == 1, files
    return files[0]


def command_counts(out):
    """The 'commands:' list of a log summary: {NAME: count}."""
    counts = {}
    in_list = False
    for line in out.splitlines():
        if line.startswith("  commands:"):
            in_list = True
            continue
        m = re.match(r"^    (\S+)\s+(\d+)$", line)
        if in_list and m:
            counts[m.group(1)] = int(m.group(2))
        elif in_list:
            in_list = False
    return counts


def field(out, name):
    m = re.search(r"^\s*%s: (.*)$" % re.escape(name), out, re.M)
    assert m, (name, out)
    return m.group(1)


# -- valid logs -----------------------------------------------------------------

def test_valid_log_summary(logged):
    f = incr_file(logged)
    p = run_check(f, expect=0)
    assert verdict(p) == "OK"
    assert int(field(p.stdout, "records")) == 10
    assert int(field(p.stdout, "commands")) == 14
    assert command_counts(p.stdout) == EXPECTED_COMMANDS
    assert field(p.stdout, "databases SELECTed") == "0 3 5"
    size = f.stat().st_size
    assert field(p.stdout, "bytes") == "%d (whole records: %d)" % (size, size)
    q = run_check("--quiet", f, expect=0)
    assert q.stdout == "OK\n"


def test_top_ten_commands(start_surge):
    srv = start_surge(*AOF_ARGS)
    c = srv.resp()
    names = ["SET", "APPEND", "INCR", "DECR", "LPUSH", "RPUSH", "SADD", "HSET", "ZADD",
             "PFADD", "SETRANGE", "SETBIT"]
    for i, name in enumerate(names):
        for j in range(len(names) - i):  # every call changes data, so each is logged
            if name in ("INCR", "DECR"):
                c.call(name, "n")
            elif name in ("SETRANGE", "SETBIT"):
                c.call(name, "k", j, 1)
            elif name == "HSET":
                c.call(name, "h", "f%d" % j, "v")
            elif name == "ZADD":
                c.call(name, "z", 1, "m%d" % j)
            else:
                c.call(name, name.lower(), "v%d" % j)
    assert srv.stop() is None
    p = run_check(incr_file(srv.dir), expect=0)
    counts = command_counts(p.stdout)
    assert len(counts) == 10
    assert counts["SET"] == 12 and counts["APPEND"] == 11
    assert "SETBIT" not in counts and "SETRANGE" not in counts
    assert "(3 more command names)" in p.stdout  # SETRANGE, SETBIT and SELECT


# -- torn tails -------------------------------------------------------------------

def test_torn_tail_at_several_offsets_then_repair(logged, restart, tmp_path):
    f = incr_file(logged)
    data = f.read_bytes()
    start, body, end = records(data)[-1]
    cuts = sorted({start + 1, start + 5, body - 1, body, body + 1, (body + end) // 2, end - 1})
    for cut in cuts:
        f.write_bytes(data[:cut])
        p = run_check(f, expect=1)
        assert verdict(p) == "TORN TAIL at offset %d (%d bytes)" % (start, cut - start), cut
        assert "surge-check --repair" in p.stdout
        assert f.stat().st_size == cut  # checking never writes
    # repair the last cut, then the file checks clean and the server starts
    r = run_check("--repair", f, expect=0)
    assert "repaired: torn tail at offset %d" % start in r.stdout
    assert verdict(r) == "OK"
    assert f.read_bytes() == data[:start]
    run_check(f, expect=0)
    srv = restart(logged)
    c = srv.client()
    c.execute_command("SELECT", 5)
    assert c.hget("hash", "f") == b"v" and c.zscore("zset", "m") == 1.0
    assert c.exists("ttl") == 0  # the torn last record (SETEX + PEXPIREAT)
    c.execute_command("SELECT", 0)
    assert c.get("s4") == b"v4"


def test_torn_tail_quiet_and_directory(logged):
    f = incr_file(logged)
    data = f.read_bytes()
    start = records(data)[-1][0]
    f.write_bytes(data[:-3])
    p = run_check("--quiet", logged / "appendonlydir", expect=1)
    assert p.stdout == "TORN TAIL at offset %d (%d bytes) in %s\n" % (
        start, len(data) - 3 - start, f.name)
    run_check("--repair", logged / "appendonlydir", expect=0)
    assert f.stat().st_size == start
    run_check(logged / "appendonlydir", expect=0)


# -- corruption ---------------------------------------------------------------------

@pytest.mark.parametrize("where", ["payload", "header"])
def test_flipped_byte_is_corruption_at_the_record(logged, restart, where):
    f = incr_file(logged)
    data = f.read_bytes()
    recs = records(data)
    start, body, end = recs[4]
    pos = (body + end) // 2 if where == "payload" else start + 3
    bad = bytearray(data)
    bad[pos] ^= 0x20
    f.write_bytes(bytes(bad))
    p = run_check(f, expect=1)
    why = "record checksum mismatch" if where == "payload" else "header"
    assert verdict(p).startswith("CORRUPT at offset %d: " % start), p.stdout
    assert why in verdict(p)
    assert "truncate -s %d '%s'" % (start, f) in p.stdout
    assert int(field(p.stdout, "records")) == 4
    r = run_check("--repair", f, expect=1)
    assert "never repaired" in r.stdout
    assert f.read_bytes() == bytes(bad)
    # the server refuses it at the same offset
    srv = ServerProcess(surge_binary(), logged, AOF_ARGS, name="refused")
    proc = subprocess.run(srv.command_line(0), cwd=str(logged), capture_output=True,
                          text=True, timeout=20)
    assert proc.returncode != 0
    assert "offset %d" % start in proc.stdout + proc.stderr
    # the suggested cut makes a valid log that the server loads
    os.truncate(f, start)
    run_check(f, expect=0)
    c = restart(logged).client()
    assert c.get("s3") == b"v3" and c.get("s4") is None


def test_unknown_command_inside_a_sound_record(tmp_path):
    good = frame(resp("SET", "a", "1"))
    bad = frame(resp("NOSUCHCMD", "x"))
    wrong_arity = frame(resp("GET"))
    f = tmp_path / "x.aof"
    f.write_bytes(good + bad + good)
    p = run_check(f, expect=1)
    assert verdict(p) == ("CORRUPT at offset %d: unknown command 'NOSUCHCMD' (in record 2)"
                          % len(good))
    f.write_bytes(good + good + wrong_arity)
    p = run_check(f, expect=1)
    assert verdict(p).startswith("CORRUPT at offset %d: wrong number of arguments for 'GET'"
                                 % (2 * len(good)))
    f.write_bytes(good + frame(resp("SET", "a", "1") + b"*2\r\n$3\r\nSET"))
    p = run_check(f, expect=1)
    assert "malformed command inside a record" in verdict(p)
    f.write_bytes(b"garbage")
    p = run_check(f, expect=1)
    assert verdict(p).startswith("CORRUPT at offset 0: no record header")


def test_empty_log_is_valid(tmp_path):
    f = tmp_path / "empty.aof"
    f.write_bytes(b"")
    p = run_check(f, expect=0)
    assert int(field(p.stdout, "records")) == 0


def test_python_framing_matches_the_server(logged):
    """Guards the hand-made records above: the same CRCs as the server's."""
    data = incr_file(logged).read_bytes()
    for start, body, end in records(data):
        assert frame(data[body:end]) == data[start:end]


# -- directories --------------------------------------------------------------------

def rewritten(start_surge):
    """A stopped server whose directory has a base file and an incremental file."""
    srv = start_surge(*AOF_ARGS)
    write_known_data(srv)
    c = srv.client()
    before = c.info("persistence")["aof_rewrites"]
    c.execute_command("BGREWRITEAOF")
    deadline = time.time() + 10
    while c.info("persistence")["aof_rewrites"] <= before:
        assert time.time() < deadline, "no rewrite happened"
        time.sleep(0.05)
    c.set("after", "rewrite")
    assert srv.stop() is None
    return srv.dir / "appendonlydir"


def manifest_files(d):
    names = []
    for line in (d / "appendonly.aof.manifest").read_text().splitlines():
        if line.startswith("file "):
            parts = line.split()
            names.append((parts[1], parts[5]))
    return names


def test_directory_with_base_and_incremental(start_surge):
    d = rewritten(start_surge)
    names = manifest_files(d)
    assert [t for _, t in names] == ["b", "i"]
    p = run_check(d, expect=0)
    assert verdict(p) == "OK"
    assert "2 files (1 base, 1 incremental)" in p.stdout
    for name, _ in names:
        assert name + ": " in p.stdout
    # checking the manifest itself is the same
    assert verdict(run_check(d / "appendonly.aof.manifest", expect=0)) == "OK"


def test_directory_damaged_base_is_corruption(start_surge):
    d = rewritten(start_surge)
    base = d / manifest_files(d)[0][0]
    data = base.read_bytes()
    base.write_bytes(data[:-2])  # a cut base is never a mere torn tail
    p = run_check(d, expect=1)
    assert verdict(p).startswith("CORRUPT at offset ")
    assert verdict(p).endswith(" in " + base.name)
    r = run_check("--repair", d, expect=1)
    assert base.read_bytes() == data[:-2]
    assert "CORRUPT" in verdict(r)


def test_directory_manifest_problems(logged, tmp_path):
    d = logged / "appendonlydir"
    m = d / "appendonly.aof.manifest"
    good = m.read_text()
    m.write_text(good + "this is not a manifest line\n")
    p = run_check(d, expect=1)
    assert "CORRUPT at offset %d: manifest line 2" % len(good) in verdict(p)
    m.write_text("file appendonly.aof.1.base.aof seq 1 type b\n")
    p = run_check(d, expect=1)
    assert "names no incremental file" in verdict(p)
    m.write_text("file ../escape.aof seq 1 type i\n")
    run_check(d, expect=1)
    # a named base that does not exist cannot be checked
    m.write_text("file nothere.base.aof seq 1 type b\n" + good)
    p = run_check(d, expect=2)
    assert "nothere.base.aof" in p.stderr
    # a missing last incremental file is created empty by the server: fine
    m.write_text("file nothere.incr.aof seq 2 type i\n")
    p = run_check(d, expect=0)
    assert "missing" in p.stdout
    m.unlink()
    empty = tmp_path / "empty"
    empty.mkdir()
    for target in (d, empty):
        p = run_check(target, expect=2)
        assert "no manifest" in p.stderr


# -- usage ----------------------------------------------------------------------------

@pytest.mark.parametrize("args,message", [
    ((), "no PATH given"),
    (("a", "b"), "exactly one PATH"),
    (("--bogus", "x"), "unknown option --bogus"),
    (("--key-file",), "--key-file needs a file name"),
    (("/nonexistent/surge-file",), "can't open /nonexistent/surge-file: No such file"),
])
def test_usage_errors(args, message):
    p = run_check(*args, expect=2)
    assert message in p.stderr
    assert p.stdout == ""


def test_bad_key_file(tmp_path):
    k = tmp_path / "key"
    k.write_text("not a key")
    f = tmp_path / "x.aof"
    f.write_bytes(b"")
    p = run_check("--key-file", k, f, expect=2)
    assert "--key-file %s" % k in p.stderr
    p = run_check("--key-file", tmp_path / "missing", f, expect=2)
    assert "missing" in p.stderr


def test_help():
    p = run_check("--help", expect=0)
    assert "Usage: surge-check" in p.stdout


def test_not_a_regular_file(tmp_path):
    p = run_check("/dev/null", expect=2)
    assert "not a regular file" in p.stderr


# -- snapshots --------------------------------------------------------------------------

def saved_snapshot(srv):
    """Runs SAVE; returns the dump path, or skips when snapshots are not built."""
    c = srv.client()
    try:
        c.execute_command("SAVE")
    except Exception as e:  # noqa: BLE001 (any error: not built yet)
        pytest.skip("snapshot support not built (SAVE: %s)" % e)
    dump = srv.dir / "dump.rdb"
    if not dump.exists():
        pytest.skip("snapshot support not built (SAVE wrote no dump.rdb)")
    return dump


def test_snapshot_summary_and_corruption(start_surge):
    srv = start_surge()
    c = srv.client()
    for i in range(100):
        c.set("s%d" % i, "v" * i)
    c.rpush("list", *range(50))
    c.sadd("set", "a", "b")
    c.execute_command("SELECT", 2)
    c.hset("hash", mapping={"f%d" % i: i for i in range(20)})
    c.zadd("zset", {"a": 1, "b": 2})
    c.set("t1", "x", ex=1000)
    c.set("t2", "x", px=5000000)
    c.execute_command("SELECT", 0)
    t0 = time.time()
    dump = saved_snapshot(srv)
    assert srv.stop() is None
    p = run_check(dump, expect=0)
    out = p.stdout
    assert verdict(p) == "OK"
    assert dump.name + ": snapshot" in out
    assert field(out, "encrypted") == "no"
    assert int(field(out, "keys")) == 106
    assert re.search(r"^    db 0: 102 \(string 100, list 1, set 1\)$", out, re.M), out
    assert re.search(r"^    db 2: 4 \(string 2, zset 1, hash 1\)$", out, re.M), out
    assert field(out, "keys with a TTL") == "2 (already expired: 0)"
    created = int(re.search(r"created: .* \((\d+) ms\)", out).group(1))
    assert abs(created / 1000 - t0) < 60
    m = re.search(r"bytes: raw (\d+), file (\d+)", out)
    assert int(m.group(2)) == dump.stat().st_size and int(m.group(1)) > 0
    blocks = re.search(r"blocks: (\d+) \(data (\d+), end 1; by codec: none (\d+), lz4 (\d+), "
                       r"zstd (\d+)\)", out)
    assert blocks, out
    assert int(blocks.group(1)) == int(blocks.group(2)) + 1
    assert int(blocks.group(1)) == sum(int(blocks.group(i)) for i in (3, 4, 5))
    # damage: a flipped byte inside the first block, and a cut file
    data = dump.read_bytes()
    bad = bytearray(data)
    bad[40 + 24 + 3] ^= 0x01
    dump.write_bytes(bytes(bad))
    p = run_check(dump, expect=1)
    assert verdict(p).startswith("CORRUPT at offset 40: "), p.stdout
    p = run_check("--repair", dump, expect=1)
    assert "snapshots are never modified" in p.stdout
    assert dump.read_bytes() == bytes(bad)
    dump.write_bytes(data[:len(data) // 2])
    p = run_check(dump, expect=1)
    assert verdict(p).startswith("CORRUPT at offset ")


def test_snapshot_header_damage(start_surge):
    srv = start_surge()
    srv.client().set("k", "v")
    dump = saved_snapshot(srv)
    assert srv.stop() is None
    data = bytearray(dump.read_bytes())
    data[17] ^= 0xFF  # creation time: caught by the header checksum
    dump.write_bytes(bytes(data))
    p = run_check(dump, expect=1)
    assert verdict(p).startswith("CORRUPT at offset 0: ")


def test_snapshot_base_in_directory_detected_by_magic(start_surge, tmp_path):
    """A snapshot renamed as a log file is still read as a snapshot."""
    srv = start_surge()
    srv.client().set("k", "v")
    dump = saved_snapshot(srv)
    assert srv.stop() is None
    d = tmp_path / "aofdir"
    d.mkdir()
    shutil.copy(dump, d / "appendonly.aof.1.base.aof")
    (d / "appendonly.aof.1.incr.aof").write_bytes(frame(resp("SET", "x", "1")))
    (d / "appendonly.aof.manifest").write_text(
        "file appendonly.aof.1.base.aof seq 1 type b\n"
        "file appendonly.aof.1.incr.aof seq 1 type i\n")
    p = run_check(d, expect=0)
    assert "appendonly.aof.1.base.aof: base, snapshot" in p.stdout
    assert "appendonly.aof.1.incr.aof: incremental, append-only log" in p.stdout


def test_encrypted_snapshot_needs_its_key(start_surge, tmp_path):
    key = tmp_path / "k.key"
    key.write_text("ab" * 32 + "\n")
    other = tmp_path / "other.key"
    other.write_text("cd" * 32 + "\n")
    try:
        srv = start_surge("--encryption-key-file", key)
    except BaseException as e:  # noqa: BLE001
        if "encryption-key-file" in str(e):
            pytest.skip("encryption-key-file not supported by this build")
        raise
    srv.client().set("k", "v")
    dump = saved_snapshot(srv)
    assert srv.stop() is None
    p = run_check(dump, expect=2)
    assert "is encrypted (key id " in p.stderr and "--key-file" in p.stderr
    p = run_check("--key-file", other, dump, expect=2)
    assert "none of the 1 --key-file keys" in p.stderr
    p = run_check("--key-file", other, "--key-file", key, dump, expect=0)
    assert field(p.stdout, "encrypted").startswith("yes (key id ")
    assert int(field(p.stdout, "keys")) == 1
    assert struct.unpack_from("<H", dump.read_bytes(), 10)[0] & 1


# -- hand-made snapshots (the format in src/persist/snapshot.h) -------------------------

def _xxh3():
    name = ctypes.util.find_library("xxhash") or "libxxhash.so.0"
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        pytest.skip("libxxhash not found")
    lib.XXH3_64bits.restype = ctypes.c_uint64
    lib.XXH3_64bits.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
    return lambda b: lib.XXH3_64bits(b, len(b))


def varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def vstr(b):
    return varint(len(b)) + b


def snap_record(db, key, body, expire=None):
    out = b"K" + varint(db) + (b"\x01" + struct.pack("<q", expire) if expire is not None
                                else b"\x00")
    return out + vstr(key) + varint(len(body)) + body


def snapshot_image(records, created_ms=1700000000123):
    h = _xxh3()
    head = SNAP_MAGIC + struct.pack("<HHIQ", 1, 0, 0, created_ms) + bytes(8)
    head += struct.pack("<Q", h(head))

    def block(kind, raw):
        bh = kind + b"\x00\x00\x00" + struct.pack("<II", len(raw), len(raw))
        return bh + struct.pack("<IQ", h(bh) & 0xFFFFFFFF, h(raw)) + raw

    data = b"".join(records)
    end = varint(len(records)) + varint(1) + varint(len(data))
    return head + block(b"D", data) + block(b"E", end)


SNAP_MAGIC = b"SURGESNP"
STRING = b"\x00" + vstr(b"hello")
LIST = b"\x01" + varint(2) + vstr(b"a") + vstr(b"b")


def run_snapshot_check(path, expect):
    p = run_check(path)
    if "not implemented yet" in p.stdout:
        pytest.skip("snapshot reader not built yet")
    assert p.returncode == expect, (p.stdout, p.stderr)
    return p


def test_hand_made_snapshot(tmp_path):
    f = tmp_path / "hand.rdb"
    f.write_bytes(snapshot_image([snap_record(0, b"s", STRING),
                                  snap_record(0, b"l", LIST, expire=1),
                                  snap_record(7, b"t", STRING, expire=2 ** 62)]))
    p = run_snapshot_check(f, 0)
    assert re.search(r"^    db 0: 2 \(string 1, list 1\)$", p.stdout, re.M), p.stdout
    assert re.search(r"^    db 7: 1 \(string 1\)$", p.stdout, re.M), p.stdout
    assert field(p.stdout, "keys with a TTL") == "2 (already expired: 1)"
    assert field(p.stdout, "created").startswith("2023-11-14 22:13:20.123 UTC")


@pytest.mark.parametrize("body,why", [
    (b"\x02" + varint(2) + vstr(b"a") + vstr(b"a"), "the set value does not decode"),
    (b"\x01" + varint(0), "the list value does not decode"),
    (b"\x09xyz", "unknown value type 9"),
])
def test_hand_made_snapshot_bad_value(tmp_path, body, why):
    f = tmp_path / "bad.rdb"
    f.write_bytes(snapshot_image([snap_record(0, b"ok", STRING), snap_record(3, b"bad", body)]))
    p = run_snapshot_check(f, 1)
    assert verdict(p).startswith("CORRUPT at offset 40: key 'bad' (db 3) in the block at this "
                                 "offset: " + why), p.stdout


def test_encrypted_log_needs_its_key(start_surge, tmp_path):
    key = tmp_path / "k.key"
    key.write_text("12" * 32 + "\n")
    key.chmod(0o600)
    other = tmp_path / "other.key"
    other.write_text("34" * 32 + "\n")
    other.chmod(0o600)
    try:
        srv = start_surge(*AOF_ARGS, "--encryption-key-file", key)
    except BaseException as e:  # noqa: BLE001
        if "encryption-key-file" in str(e):
            pytest.skip("encryption-key-file not supported by this build")
        raise
    write_known_data(srv)
    assert srv.stop() is None
    d = srv.dir / "appendonlydir"
    f = incr_file(srv.dir)
    p = run_check(d, expect=2)
    assert re.search(r"the record at offset 0 is encrypted \(key id [0-9a-f]{16}\); pass its "
                     r"key with --key-file", p.stderr), p.stderr
    p = run_check("--key-file", other, f, expect=2)
    assert "none of the 1 --key-file keys has that id" in p.stderr
    p = run_check("--key-file", other, "--key-file", key, d, expect=0)
    assert re.search(r"encrypted records: 10 \(key id [0-9a-f]{16}\)", p.stdout), p.stdout
    assert command_counts(p.stdout) == EXPECTED_COMMANDS
    # a torn tail and a damaged record read as in a plain log
    data = f.read_bytes()
    start, body, end = records(data)[-1]
    f.write_bytes(data[:end - 1])
    p = run_check("--key-file", key, f, expect=1)
    assert verdict(p) == "TORN TAIL at offset %d (%d bytes)" % (start, end - 1 - start)
    bad = bytearray(data)
    bad[end - 5] ^= 1
    f.write_bytes(bytes(bad))
    p = run_check("--key-file", key, f, expect=1)
    assert verdict(p).startswith("CORRUPT at offset %d: record checksum mismatch" % start)
