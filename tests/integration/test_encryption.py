"""Encryption at rest (src/persist/crypt.c, docs/encryption.md).

Servers run with `appendonly yes` and an `encryption-key-file`: the data
comes back after a restart while the files on disk hold none of it in
plaintext; a start without the key, with another key or with a bad key
file is refused with a message that says why; CONFIG SET changes the key
(or refuses a bad file and keeps the old one); and a key rotation (new key,
BGREWRITEAOF, restart with the old key for reading, then without it)
keeps every write. A snapshot (SAVE) is encrypted the same way.
"""
import os
import secrets
import time

import pytest


AOF_ARGS = ("--appendonly", "yes", "--appendfsync", "always")
CANARY = b"PLAINTEXT-CANARY-7f3c1a9e"  # a value that must never reach the disk
KEYNAME = b"canary-key-name-51d2"


def write_key(path, raw=None, hex_form=True, mode=0o600):
    raw = raw if raw is not None else secrets.token_bytes(32)
    data = (raw.hex() + "\n").encode() if hex_form else raw
    path.write_bytes(data)
    os.chmod(path, mode)
    return path


def key_id(raw):
    import hashlib
    return hashlib.sha256(b"surge-key-id" + raw).hexdigest()[:16]


@pytest.fixture
def node(node):
    """conftest's, every server with the append-only log on (AOF_ARGS)."""
    return lambda: node(*AOF_ARGS)


def log_files(n):
    return [p for p in sorted((n.dir / "appendonlydir").iterdir()) if p.is_file()]


def fill(r, tag=b""):
    r.set(KEYNAME + tag, CANARY + tag)
    r.hset(b"h" + tag, b"field", CANARY + tag)
    r.rpush(b"l" + tag, CANARY + tag, b"x")
    r.sadd(b"s" + tag, CANARY + tag)
    r.zadd(b"z" + tag, {CANARY + tag: 1.5})
    r.set(b"ttl" + tag, b"v", px=600000)


def check(r, tag=b""):
    assert r.get(KEYNAME + tag) == CANARY + tag
    assert r.hget(b"h" + tag, b"field") == CANARY + tag
    assert r.lrange(b"l" + tag, 0, -1) == [CANARY + tag, b"x"]
    assert r.smembers(b"s" + tag) == {CANARY + tag}
    assert r.zscore(b"z" + tag, CANARY + tag) == 1.5
    assert 0 < r.pttl(b"ttl" + tag) <= 600000


def assert_no_plaintext(n):
    files = log_files(n)
    assert files
    for f in files:
        data = f.read_bytes()
        assert CANARY not in data, f
        assert KEYNAME not in data, f


def bgrewrite(r):
    before = r.info("persistence")["aof_rewrites"]
    r.bgrewriteaof()
    deadline = time.time() + 10
    while time.time() < deadline:
        info = r.info("persistence")
        if info["aof_rewrites"] > before and not info["aof_rewrite_in_progress"]:
            assert info["aof_last_bgrewrite_status"] == "ok"
            return
        time.sleep(0.05)
    raise AssertionError("BGREWRITEAOF did not finish")


def test_data_survives_restart_without_plaintext_on_disk(node, tmp_path):
    key = write_key(tmp_path / "key")
    n = node()
    r = n.start("--encryption-key-file", key)
    assert r.config_get("encryption-key-file")["encryption-key-file"] == str(key)
    fill(r)
    p = r.pipeline(transaction=True)  # one record holding MULTI's queue
    p.incrby("ctr", 2)
    p.incrby("ctr", 3)
    p.execute()
    n.stop()
    assert_no_plaintext(n)
    incr = [f for f in log_files(n) if f.name.endswith(".incr.aof")]
    assert incr and incr[0].read_bytes().startswith(b"%")
    r = n.start("--encryption-key-file", key)
    check(r)
    assert r.get("ctr") == b"5"
    n.stop()


def test_raw_key_file_works(node, tmp_path):
    raw = secrets.token_bytes(32)
    key = write_key(tmp_path / "key.bin", raw, hex_form=False)
    n = node()
    r = n.start("--encryption-key-file", key)
    fill(r)
    n.stop()
    assert_no_plaintext(n)
    # the same key in hex form reads it
    hexkey = write_key(tmp_path / "key.hex", raw)
    r = n.start("--encryption-key-file", hexkey)
    check(r)
    n.stop()


def test_start_without_the_key_or_with_another_is_refused(node, tmp_path):
    raw = secrets.token_bytes(32)
    key = write_key(tmp_path / "key", raw)
    n = node()
    r = n.start("--encryption-key-file", key)
    fill(r)
    n.stop()
    out = n.refuse_start()
    assert key_id(raw) in out and "encryption-key-file" in out and "refusing to start" in out, out
    other = write_key(tmp_path / "other")
    out = n.refuse_start("--encryption-key-file", other)
    assert key_id(raw) in out and "encryption-key-file" in out and "refusing to start" in out, out
    # nothing was lost or truncated by the refused starts
    r = n.start("--encryption-key-file", key)
    check(r)
    n.stop()


@pytest.mark.parametrize("content,why", [
    (b"abcd\n", "4 hexadecimal digits"),
    (b"zz" * 32, "not a hexadecimal digit"),
    (b"00" * 33, "66 hexadecimal digits"),
    (b"", "empty"),
])
def test_bad_key_file_refuses_start(node, tmp_path, content, why):
    key = tmp_path / "bad.key"
    key.write_bytes(content)
    os.chmod(key, 0o600)
    n = node()
    out = n.refuse_start("--encryption-key-file", key)
    assert "Can't load the encryption keys" in out and why in out and str(key) in out, out
    assert "refusing to start" in out, out


def test_missing_key_file_refuses_start(node, tmp_path):
    n = node()
    missing = tmp_path / "nope.key"
    out = n.refuse_start("--encryption-key-file", missing)
    assert str(missing) in out and "No such file" in out and "refusing to start" in out, out
    good = write_key(tmp_path / "key")
    out = n.refuse_start("--encryption-key-file", good, "--encryption-old-key-files", missing)
    assert "encryption-old-key-files" in out and str(missing) in out, out


def test_group_readable_key_file_is_a_warning(node, tmp_path):
    key = write_key(tmp_path / "key", mode=0o644)
    n = node()
    r = n.start("--encryption-key-file", key)
    r.set("a", "1")
    n.stop()
    assert "accessible by group or others" in n.log()


def test_turning_encryption_on_keeps_the_plain_log(node, tmp_path):
    key = write_key(tmp_path / "key")
    n = node()
    r = n.start()
    r.set("plain", "before")
    n.stop()
    r = n.start("--encryption-key-file", key)
    assert r.get("plain") == b"before"
    fill(r)
    n.stop()
    incr = [f for f in log_files(n) if f.name.endswith(".incr.aof")][0].read_bytes()
    assert incr.startswith(b"#") and b"\n%" in incr and CANARY not in incr
    r = n.start("--encryption-key-file", key)
    assert r.get("plain") == b"before"
    check(r)
    n.stop()
    assert "encryption-key-file" in n.refuse_start()


def test_config_set_key_and_rotation(node, tmp_path):
    old_raw, new_raw = secrets.token_bytes(32), secrets.token_bytes(32)
    old = write_key(tmp_path / "old.key", old_raw)
    new = write_key(tmp_path / "new.key", new_raw)
    bad = tmp_path / "bad.key"
    bad.write_bytes(b"not a key\n")
    n = node()
    r = n.start("--encryption-key-file", old)
    fill(r, b"1")

    # a bad file is refused and the old key stays
    with pytest.raises(Exception) as e:
        r.config_set("encryption-key-file", str(bad))
    assert "encryption-key-file" in str(e.value) and "hexadecimal" in str(e.value)
    assert r.config_get("encryption-key-file")["encryption-key-file"] == str(old)
    with pytest.raises(Exception):
        r.config_set("encryption-old-key-files", str(tmp_path / "missing.key"))
    assert r.config_get("encryption-old-key-files")["encryption-old-key-files"] == ""
    fill(r, b"2")  # still the old key

    # the new key: later records use it
    assert r.config_set("encryption-key-file", str(new))
    assert r.config_get("encryption-key-file")["encryption-key-file"] == str(new)
    fill(r, b"3")
    n.stop()
    assert_no_plaintext(n)

    # both keys are needed now: the new one alone is refused, naming the old id
    out = n.refuse_start("--encryption-key-file", new)
    assert key_id(old_raw) in out and "encryption-old-key-files" in out, out
    r = n.start("--encryption-key-file", new, "--encryption-old-key-files", old)
    for tag in (b"1", b"2", b"3"):
        check(r, tag)

    # a rewrite re-encrypts everything with the new key
    bgrewrite(r)
    fill(r, b"4")
    n.stop()
    assert_no_plaintext(n)
    r = n.start("--encryption-key-file", new, "--encryption-old-key-files", old)
    for tag in (b"1", b"2", b"3", b"4"):
        check(r, tag)
    n.stop()
    r = n.start("--encryption-key-file", new)
    for tag in (b"1", b"2", b"3", b"4"):
        check(r, tag)
    n.stop()
    # and the old key alone no longer reads it
    out = n.refuse_start("--encryption-key-file", old)
    assert "refusing to start" in out and "encryption-key-file" in out, out


def test_config_set_key_file_off_writes_plaintext(node, tmp_path):
    key = write_key(tmp_path / "key")
    n = node()
    r = n.start("--encryption-key-file", key)
    r.set("enc", "1")
    assert r.config_set("encryption-key-file", "")
    r.set("plain-now", CANARY)
    n.stop()
    incr = [f for f in log_files(n) if f.name.endswith(".incr.aof")][0].read_bytes()
    assert CANARY in incr  # documented: off means plaintext from then on
    r = n.start("--encryption-old-key-files", key)
    assert r.get("enc") == b"1" and r.get("plain-now") == CANARY
    n.stop()


def test_snapshot_is_encrypted(node, tmp_path):
    raw = secrets.token_bytes(32)
    key = write_key(tmp_path / "key", raw)
    n = node()
    r = n.start("--appendonly", "no", "--encryption-key-file", key)
    fill(r)
    assert r.save()
    n.stop()
    dump = n.dir / "dump.rdb"
    data = dump.read_bytes()
    assert data and CANARY not in data and KEYNAME not in data
    r = n.start("--appendonly", "no", "--encryption-key-file", key)
    check(r)
    n.stop()
    out = n.refuse_start("--appendonly", "no")
    assert "refusing to start" in out and "encryption-key-file" in out, out
