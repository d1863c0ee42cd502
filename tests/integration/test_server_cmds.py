"""Server and introspection commands: COMMAND, INFO, CONFIG, TIME, DEBUG,
MEMORY, MONITOR, SHUTDOWN and OBJECT FREQ/IDLETIME.

Where the reply is a public fact of the protocol (command metadata, error
texts, reply shapes) the test is differential: the same command goes to Surge
and to the reference redis-server over RESP2 and RESP3 through ``RespClient``
and the replies are compared exactly. Where values legitimately differ
(memory sizes, digests, ids) only the structure is compared.

Intentional differences (docs/differences.md, docs/commands.md) that these
tests respect:

* ``CLIENT SETINFO`` exists in Surge (from Redis 7.2) but not in the 7.0
  reference: it is the only command Surge lists that the reference lacks.
* Surge implements a subset of Redis's commands and configuration
  parameters: comparisons are restricted to what Surge has.
* ``DEBUG DIGEST`` is Surge's own digest: it is compared Surge with Surge.
* ``enable-debug-command`` defaults to ``local`` in Surge; tests that need
  DEBUG start their server with ``--enable-debug-command local`` so that the
  file also passes against the reference (which defaults to ``no``).
* INFO has no ``Latencystats`` section.

Also runs against the reference as the server under test:
    SURGE_SERVER=/usr/bin/redis-server /usr/bin/python3 -m pytest \
        tests/integration/test_server_cmds.py
"""

import re
import time
from pathlib import Path

import pytest

from resp_client import RespError, RespMap, SimpleString, same_reply

REPO = Path(__file__).resolve().parents[2]

# Commands Surge has that Redis 7.0 does not (docs/commands.md, "Beyond
# Redis 7.0").
EXTENSIONS = {b"client|setinfo"}


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------
@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def proto(request):
    return request.param


def connect(srv, proto=2):
    c = srv.resp()
    if proto == 3:
        hello = c.call("HELLO", 3)
        assert isinstance(hello, RespMap), hello
    return c


def pair(surge_server, redis_ref_server, proto):
    return connect(surge_server, proto), connect(redis_ref_server, proto)


def is_surge(srv):
    c = srv.client()
    try:
        return "surge_version" in c.info("server")
    finally:
        c.connection_pool.disconnect()   # leave no extra connection (tests count clients)


def assert_same(s, r, *cmd):
    a, raw_a = s.call_frame(*cmd)
    b, raw_b = r.call_frame(*cmd)
    assert same_reply(a, b), "%r\n surge: %r\n redis: %r" % (cmd, a, b)
    assert raw_a == raw_b, "%r\n surge: %r\n redis: %r" % (cmd, raw_a, raw_b)
    return a


def assert_same_map(s, r, *cmd):
    """Like assert_same for map replies whose order is unspecified (CONFIG GET)."""
    a, b = s.call(*cmd), r.call(*cmd)
    assert type(a) is type(b), (cmd, a, b)
    assert as_dict(a) == as_dict(b) and len(a) == len(b), (cmd, a, b)
    return a


def as_dict(reply):
    """A map reply (RESP3 map or RESP2 flat array) as a dict."""
    if isinstance(reply, dict):
        return dict(reply)
    assert isinstance(reply, list) and len(reply) % 2 == 0, reply
    return {reply[i]: reply[i + 1] for i in range(0, len(reply), 2)}


def info_text(c, *sections):
    reply = c.call("INFO", *sections)
    assert not isinstance(reply, RespError), reply
    return bytes(reply).decode()


def section_titles(text):
    return re.findall(r"^# (\w+)\r$", text, re.M)


def info_fields(text):
    out = {}
    for line in text.split("\r\n"):
        if line and not line.startswith("#"):
            k, _, v = line.partition(":")
            out[k] = v
    return out


def start_debug_server(start_surge):
    """A server on which DEBUG is allowed from loopback (Surge's default)."""
    return start_surge("--enable-debug-command", "local")


# ---------------------------------------------------------------------------
# COMMAND
# ---------------------------------------------------------------------------
def def_file_rows():
    text = (REPO / "src" / "cmd" / "commands.def").read_text()
    top = len(re.findall(r"^(?:CMD|CONTAINER)\(", text, re.M))
    subs = len(re.findall(r"^SUB\(", text, re.M))
    return top, subs


def test_command_count_matches_command_list(surge_server, redis_ref_server):
    s = surge_server.resp()
    names = s.call("COMMAND", "LIST")
    assert isinstance(names, list) and names
    assert len(set(names)) == len(names), "duplicates in COMMAND LIST"
    top = [n for n in names if b"|" not in n]
    # COMMAND COUNT counts top-level commands; COMMAND LIST also lists
    # subcommands, as in Redis.
    assert s.call("COMMAND", "COUNT") == len(top)
    entries = s.call("COMMAND")
    assert sorted(e[0] for e in entries) == sorted(top)
    subs = [sub[0] for e in entries for sub in e[9]]
    assert sorted(top + subs) == sorted(names)
    # COMMAND DOCS without arguments has one entry per top-level command.
    assert len(as_dict(s.call("COMMAND", "DOCS"))) == len(top)
    # The reference follows the same counting rules.
    r = redis_ref_server.resp()
    ref_names = r.call("COMMAND", "LIST")
    assert r.call("COMMAND", "COUNT") == len([n for n in ref_names if b"|" not in n])
    # Every command Surge lists exists in Redis 7.0, except the documented
    # 7.2 extensions.
    assert set(names) - set(ref_names) <= EXTENSIONS
    if is_surge(surge_server):
        rows_top, rows_sub = def_file_rows()
        assert s.call("COMMAND", "COUNT") == rows_top
        assert len(names) == rows_top + rows_sub


def test_command_list_filters(surge_server, redis_ref_server):
    s, r = surge_server.resp(), redis_ref_server.resp()
    mine = set(s.call("COMMAND", "LIST"))
    for args in (("FILTERBY", "PATTERN", "c*"), ("FILTERBY", "ACLCAT", "keyspace"),
                 ("FILTERBY", "ACLCAT", "connection"), ("FILTERBY", "PATTERN", "*|*")):
        got = s.call("COMMAND", "LIST", *args)
        ref = r.call("COMMAND", "LIST", *args)
        assert isinstance(got, list) and len(set(got)) == len(got), (args, got)
        assert set(got) <= mine, (args, got)
        # Exactly the commands both have that the reference's filter keeps.
        assert set(got) - EXTENSIONS == set(ref) & mine, (args, got, ref)
    assert_same(s, r, "COMMAND", "LIST", "FILTERBY", "ACLCAT", "nosuchcat")
    assert_same(s, r, "COMMAND", "LIST", "FILTERBY", "MODULE", "nosuchmodule")
    assert_same(s, r, "COMMAND", "LIST", "FILTERBY", "bogus", "x")
    assert_same(s, r, "COMMAND", "LIST", "extra")


def _diff_info_entry(name, mine, ref, problems):
    """Compare one COMMAND INFO entry; containers subcommand by subcommand."""
    if ref is None:
        if name not in EXTENSIONS:
            problems.append("%s: missing in the reference" % name.decode())
        return
    if not isinstance(mine, list) or len(mine) != 10:
        problems.append("%s: malformed entry %r" % (name.decode(), mine))
        return
    if not same_reply(mine[:9], ref[:9]):
        problems.append("%s:\n   surge: %r\n   redis: %r" % (name.decode(), mine[:9], ref[:9]))
    ref_subs = {sub[0]: sub for sub in ref[9]}
    if not mine[9]:
        if ref_subs:
            problems.append("%s: no subcommands, reference has %d" % (name.decode(), len(ref_subs)))
        elif type(mine[9]) is not type(ref[9]):
            problems.append("%s: empty subcommand list of type %s, reference %s"
                            % (name.decode(), type(mine[9]).__name__, type(ref[9]).__name__))
        return
    for sub in mine[9]:
        _diff_info_entry(sub[0], sub, ref_subs.get(sub[0]), problems)


def test_command_info_matches_reference(surge_server, redis_ref_server, proto):
    s, r = pair(surge_server, redis_ref_server, proto)
    names = s.call("COMMAND", "LIST")
    problems = []
    for name in names:
        mine, raw_mine = s.call_frame("COMMAND", "INFO", name)
        ref, raw_ref = r.call_frame("COMMAND", "INFO", name)
        assert isinstance(mine, list) and len(mine) == 1 and mine[0] is not None, (name, mine)
        _diff_info_entry(name, mine[0], ref[0], problems)
        if b"|" not in name and not mine[0][9] and ref[0] is not None and raw_mine != raw_ref:
            if not any(p.startswith(name.decode() + ":") for p in problems):
                problems.append("%s: frames differ\n   surge: %r\n   redis: %r"
                                % (name.decode(), raw_mine, raw_ref))
    assert not problems, "%d COMMAND INFO mismatches:\n%s" % (len(problems), "\n".join(problems))


def test_command_info_several_and_unknown(surge_server, redis_ref_server, proto):
    s, r = pair(surge_server, redis_ref_server, proto)
    assert_same(s, r, "COMMAND", "INFO", "get", "nosuchcommand", "GET", "config|get",
                "CONFIG|GET", "config|nosuch", "get|x", "incr")
    assert_same(s, r, "COMMAND", "INFO", "nosuchcommand")


def test_command_docs_fields(surge_server, redis_ref_server, proto):
    s, r = pair(surge_server, redis_ref_server, proto)
    fields = (b"summary", b"since", b"group", b"complexity")
    for name in (b"get", b"set", b"client", b"config", b"ping"):
        mine = as_dict(s.call("COMMAND", "DOCS", name))
        ref = as_dict(r.call("COMMAND", "DOCS", name))
        assert list(mine) == [name] and list(ref) == [name]
        md, rd = as_dict(mine[name]), as_dict(ref[name])
        for f in fields:
            assert md.get(f) == rd.get(f), (name, f, md.get(f), rd.get(f))
        if b"subcommands" in rd:
            msubs = as_dict(md[b"subcommands"])
            rsubs = as_dict(rd[b"subcommands"])
            assert msubs, name
            for sub, doc in msubs.items():
                if sub in EXTENSIONS:
                    continue
                assert sub in rsubs, sub
                sd, rsd = as_dict(doc), as_dict(rsubs[sub])
                for f in fields:
                    assert sd.get(f) == rsd.get(f), (sub, f, sd.get(f), rsd.get(f))
    # Unknown names are left out of the map.
    assert_same(s, r, "COMMAND", "DOCS", "nosuchcommand")


GETKEYS_CASES = [
    ("GETKEYS", "set", "a", "b"),
    ("GETKEYS", "SET", "A", "B", "EX", "10"),
    ("GETKEYS", "set", "a", "b", "GET"),
    ("GETKEYS", "mset", "a", "1", "b", "2", "c", "3"),
    ("GETKEYS", "copy", "src", "dst"),
    ("GETKEYS", "copy", "src", "dst", "DB", "1", "REPLACE"),
    ("GETKEYS", "object", "encoding", "k"),
    ("GETKEYS", "memory", "usage", "k"),
    ("GETKEYS", "del", "a", "b", "c"),
    ("GETKEYS", "lcs", "a", "b"),
    ("GETKEYS", "rename", "a", "b"),
    ("GETKEYSANDFLAGS", "mset", "a", "1", "b", "2"),
    ("GETKEYSANDFLAGS", "msetnx", "a", "1"),
    ("GETKEYSANDFLAGS", "copy", "src", "dst"),
    ("GETKEYSANDFLAGS", "object", "encoding", "k"),
    ("GETKEYSANDFLAGS", "del", "a", "b"),
    ("GETKEYSANDFLAGS", "getex", "a", "PERSIST"),
    ("GETKEYSANDFLAGS", "getdel", "a"),
    ("GETKEYSANDFLAGS", "rename", "a", "b"),
    ("GETKEYSANDFLAGS", "append", "a", "b"),
    ("GETKEYSANDFLAGS", "incrbyfloat", "a", "1.5"),
    # error cases
    ("GETKEYS",),
    ("GETKEYS", "get"),
    ("GETKEYS", "nosuchcommand", "a"),
    ("GETKEYS", "mset", "a"),
    ("GETKEYS", "copy", "a"),
    ("GETKEYS", "object", "encoding"),
    ("GETKEYS", "object", "nosuch", "k"),
    ("GETKEYS", "config", "get", "maxmemory"),
    ("GETKEYS", "ping", "x"),
    ("GETKEYS", "scan", "0"),
    ("GETKEYS", "keys", "*"),
    ("GETKEYS", "client", "id"),
    ("GETKEYSANDFLAGS",),
    ("GETKEYSANDFLAGS", "get"),
    ("GETKEYSANDFLAGS", "nosuchcommand", "a"),
]


def test_command_getkeys_matches_reference(surge_server, redis_ref_server, proto):
    s, r = pair(surge_server, redis_ref_server, proto)
    for case in GETKEYS_CASES:
        assert_same(s, r, "COMMAND", *case)


@pytest.mark.parametrize("args", [
    ("set", "a", "b"),
    ("set", "a", "b", "EX", "10"),
    ("set", "a", "b", "GET"),
], ids=["plain", "ex", "get"])
def test_command_getkeysandflags_set_resolves_variable_flags(surge_server, redis_ref_server,
                                                             proto, args):
    # SET's key spec is flagged variable_flags: GETKEYSANDFLAGS reports the
    # flags of this particular call (OW+update without GET, RW+access+update
    # with GET), never the variable_flags marker itself.
    s, r = pair(surge_server, redis_ref_server, proto)
    reply = assert_same(s, r, "COMMAND", "GETKEYSANDFLAGS", *args)
    assert b"variable_flags" not in reply[0][1]


def test_redis_py_command_parsing(surge_server, redis_ref_server):
    from redis.commands.parser import CommandsParser

    c = surge_server.client(decode_responses=True)
    cmds = c.command()
    assert cmds["get"]["arity"] == 2
    assert "readonly" in cmds["get"]["flags"]
    assert cmds["set"]["first_key_pos"] == 1
    assert cmds["mset"]["step_count"] == 2
    assert "subcommands" in cmds["config"]
    assert c.command_count() == len(cmds)
    ref = redis_ref_server.client(decode_responses=True)
    mine_parser = CommandsParser(c)
    ref_parser = CommandsParser(ref)
    for args in (("SET", "a", "b"), ("GET", "a"), ("MSET", "a", "1", "b", "2"),
                 ("DEL", "x", "y", "z"), ("COPY", "a", "b"), ("OBJECT", "ENCODING", "k"),
                 ("MEMORY USAGE", "k"), ("PING", "x")):
        assert mine_parser.get_keys(c, *args) == ref_parser.get_keys(ref, *args), args
    assert c.command_getkeys("MSET", "a", "1", "b", "2") == ["a", "b"]


# ---------------------------------------------------------------------------
# INFO
# ---------------------------------------------------------------------------
SECTIONS = ["server", "clients", "memory", "persistence", "stats", "replication", "cpu",
            "modules", "commandstats", "errorstats", "cluster", "keyspace"]


def test_info_every_section_parses(surge_server, surge):
    surge.set(b"k", b"v")
    c = surge_server.resp()
    for name in SECTIONS + ["default", "all", "everything"]:
        parsed = surge.info(name)
        assert isinstance(parsed, dict), name
        text = info_text(c, name)
        if name in SECTIONS:
            assert section_titles(text) == [name.capitalize() if name != "cpu" else "CPU"], \
                (name, text[:200])
        for line in text.split("\r\n"):
            assert line == "" or line.startswith("# ") or ":" in line, (name, line)
    full = surge.info()
    assert full["redis_version"]
    assert full["cluster_enabled"] == 0
    assert full["loading"] == 0
    assert full["connected_clients"] >= 1
    assert full["used_memory"] > 0
    assert full["maxmemory_policy"] == "noeviction"
    assert "cmdstat_info" not in full  # commandstats is not a default section
    assert "cmdstat_set" in surge.info("all")


def test_info_default_sections_match_reference(surge_server, redis_ref_server, proto):
    s, r = pair(surge_server, redis_ref_server, proto)
    for args in ((), ("default",), ("all",), ("everything",), ("server", "clients"),
                 ("keyspace", "server"), ("CLIENTS", "Memory", "stats"),
                 ("default", "commandstats"), ("cpu", "nosuch", "cluster"),
                 ("server", "server")):
        mine = section_titles(info_text(s, *args))
        ref = section_titles(info_text(r, *args))
        if "Latencystats" not in mine:  # optional section (see the module docstring)
            ref = [t for t in ref if t != "Latencystats"]
        assert mine == ref, (args, mine, ref)


def test_info_unknown_section_is_empty(surge_server, redis_ref_server, proto):
    s, r = pair(surge_server, redis_ref_server, proto)
    reply = assert_same(s, r, "INFO", "nosuchsection")
    assert bytes(reply) == b""


def test_info_keyspace_matches_dbsize_and_ttls(surge_server, surge):
    for i in range(10):
        surge.set(b"k%d" % i, b"v")
    for i in range(3):
        surge.expire(b"k%d" % i, 1000)
    db1 = surge_server.client(db=1)
    db1.set(b"other", b"v", ex=500)
    text = info_text(surge_server.resp(), "keyspace")
    m = re.search(r"^db0:keys=(\d+),expires=(\d+),avg_ttl=(\d+)\r$", text, re.M)
    assert m, text
    assert int(m.group(1)) == surge.dbsize() == 10
    assert int(m.group(2)) == 3
    assert int(m.group(3)) <= 1000 * 1000
    m1 = re.search(r"^db1:keys=1,expires=1,avg_ttl=\d+\r$", text, re.M)
    assert m1, text
    assert "db2:" not in text
    parsed = surge.info("keyspace")
    assert parsed["db0"]["keys"] == 10 and parsed["db0"]["expires"] == 3
    surge.flushall()
    assert info_text(surge_server.resp(), "keyspace") == "# Keyspace\r\n"


def _cmdstats(text):
    out = {}
    for m in re.finditer(r"^cmdstat_([^:]+):calls=(\d+),usec=(\d+),usec_per_call=(\d+\.\d\d),"
                         r"rejected_calls=(\d+),failed_calls=(\d+)\r$", text, re.M):
        out[m.group(1)] = (int(m.group(2)), int(m.group(5)), int(m.group(6)))
    return out


def test_info_commandstats_counts(surge_server, redis_ref_server):
    results = []
    for srv in (surge_server, redis_ref_server):
        c = srv.resp()
        assert c.call("CONFIG", "RESETSTAT") == b"OK"
        for i in range(7):
            assert c.call("SET", "k%d" % i, "v") == b"OK"
        assert isinstance(c.call("SET", "k"), RespError)                      # rejected (arity)
        assert isinstance(c.call("SET", "k", "v", "EX", "-5"), RespError)     # failed
        assert c.call("GET", "k1") == b"v"
        text = info_text(c, "commandstats")
        assert section_titles(text) == ["Commandstats"]
        stats = _cmdstats(text)
        assert stats["set"] == (8, 1, 1), stats
        assert stats["get"] == (1, 0, 0), stats
        assert "config|resetstat" in stats
        results.append((stats["set"], stats["get"]))
    assert results[0] == results[1]


def test_info_errorstats(surge_server, redis_ref_server):
    texts = []
    for srv in (surge_server, redis_ref_server):
        c = srv.resp()
        assert c.call("CONFIG", "RESETSTAT") == b"OK"
        assert info_text(c, "errorstats") == "# Errorstats\r\n"
        assert c.call("SET", "k", "v", "NX", "XX") == RespError(b"ERR syntax error")
        assert c.call("SET", "k", "v", "NX", "XX") == RespError(b"ERR syntax error")
        assert isinstance(c.call("NOSUCHCOMMAND"), RespError)
        text = info_text(c, "errorstats")
        assert "errorstat_ERR:count=3\r\n" in text, text
        stats = info_fields(info_text(c, "stats"))
        assert stats["total_error_replies"] == "3"
        texts.append(text)
    assert texts[0] == texts[1]


# ---------------------------------------------------------------------------
# CONFIG
# ---------------------------------------------------------------------------
def test_config_get_exact_and_globs(surge_server, redis_ref_server, proto):
    s, r = pair(surge_server, redis_ref_server, proto)
    assert_same(s, r, "CONFIG", "GET", "maxmemory-policy")
    assert_same(s, r, "CONFIG", "GET", "MAXMEMORY-POLICY")
    assert_same_map(s, r, "CONFIG", "GET", "maxmemory", "maxmemory-policy", "maxmemory")
    assert_same_map(s, r, "CONFIG", "GET", "maxmemory", "MAXMEMORY")
    assert_same(s, r, "CONFIG", "GET", "nosuchparameter")
    assert_same(s, r, "CONFIG", "GET", "tim?out")
    assert_same_map(s, r, "CONFIG", "GET", "lfu-*")
    for pattern in ("max*", "*memory*", "*"):
        mine = as_dict(s.call("CONFIG", "GET", pattern))
        ref = as_dict(r.call("CONFIG", "GET", pattern))
        assert mine, pattern
        for name, value in mine.items():
            assert re.fullmatch(pattern.replace("*", ".*").encode(), name), (pattern, name)
            if pattern == "*" and name not in ref:
                continue  # Surge's own parameters (docs/configuration.md)
            assert name in ref, (pattern, name)
            if name not in (b"client-output-buffer-limit", b"bind", b"dir", b"port",
                            b"enable-debug-command",  # documented default differences
                            b"save", b"appendonly"):  # the reference runs with --save ""
                assert value == ref[name], (name, value, ref[name])
    assert {b"maxmemory", b"maxmemory-policy", b"maxmemory-samples"} <= \
        set(as_dict(s.call("CONFIG", "GET", "max*")))


def test_config_set_multiple_is_atomic(surge_server, redis_ref_server):
    s, r = surge_server.resp(), redis_ref_server.resp()
    assert_same(s, r, "CONFIG", "SET", "maxmemory", "1mb", "maxmemory-policy", "bogus")
    assert_same(s, r, "CONFIG", "GET", "maxmemory")
    assert s.call("CONFIG", "GET", "maxmemory") == [b"maxmemory", b"0"]
    assert_same(s, r, "CONFIG", "SET", "timeout", "5", "maxmemory", "abc")
    assert s.call("CONFIG", "GET", "timeout") == [b"timeout", b"0"]
    assert_same(s, r, "CONFIG", "SET", "timeout", "5", "maxmemory-policy", "allkeys-lru")
    assert_same(s, r, "CONFIG", "GET", "timeout")
    assert_same(s, r, "CONFIG", "GET", "maxmemory-policy")
    assert s.call("CONFIG", "GET", "maxmemory-policy") == [b"maxmemory-policy", b"allkeys-lru"]


CONFIG_SET_ERRORS = [
    ("nosuchparameter", "1"),
    ("timeout", "0", "nosuchparameter", "1"),
    ("databases", "3"),                                    # immutable
    ("enable-debug-command", "yes"),                       # immutable
    ("maxmemory", "abc"),
    ("maxmemory", "-1"),
    ("maxmemory", "1.5mb"),
    ("timeout", "-1"),
    ("timeout", "x"),
    ("maxclients", "0"),
    ("protected-mode", "maybe"),
    ("lazyfree-lazy-user-flush", "2"),
    ("maxmemory-policy", "bogus"),
    ("loglevel", "bogus"),
    ("lfu-log-factor", "-1"),
    ("hz", "abc"),
    ("client-output-buffer-limit", "normal 1mb"),
    ("client-output-buffer-limit", "bogus 1 1 1"),
    ("client-output-buffer-limit", "normal x 1 1"),
    ("maxmemory", "1mb", "maxmemory", "2mb"),              # duplicate
    ("maxmemory", "1mb", "MAXMEMORY", "2mb"),              # duplicate, other case
    ("maxmemory", "1", "timeout"),                         # odd number of arguments
    ("maxmemory",),
]


def test_config_set_error_texts(surge_server, redis_ref_server, proto):
    s, r = pair(surge_server, redis_ref_server, proto)
    for case in CONFIG_SET_ERRORS:
        reply = assert_same(s, r, "CONFIG", "SET", *case)
        assert isinstance(reply, RespError), case
    # Nothing was changed by the failed calls.
    assert_same(s, r, "CONFIG", "GET", "maxmemory")
    assert_same(s, r, "CONFIG", "GET", "timeout")


@pytest.mark.parametrize("case", [
    ("client-query-buffer-limit", "10"),
    ("proto-max-bulk-len", "10"),
], ids=["client-query-buffer-limit", "proto-max-bulk-len"])
def test_config_set_memory_bounds_error_text(surge_server, redis_ref_server, case):
    # Redis 7.0: "argument must be between 1048576 and 9223372036854775807 inclusive"
    # (and for proto-max-bulk-len the same with its bounds).
    s, r = surge_server.resp(), redis_ref_server.resp()
    assert_same(s, r, "CONFIG", "SET", *case)


def test_config_set_maxmemory_samples_range(surge_server, redis_ref_server):
    # Redis 7.0 accepts any maxmemory-samples from 1 to INT_MAX.
    s, r = surge_server.resp(), redis_ref_server.resp()
    assert_same(s, r, "CONFIG", "SET", "maxmemory-samples", "0")
    assert_same(s, r, "CONFIG", "SET", "maxmemory-samples", "100")
    assert_same(s, r, "CONFIG", "GET", "maxmemory-samples")


def test_config_set_memory_units(surge_server, redis_ref_server, proto):
    s, r = pair(surge_server, redis_ref_server, proto)
    for value, expect in (("10mb", b"10485760"), ("10MB", b"10485760"), ("1k", b"1000"),
                          ("1kb", b"1024"), ("2g", b"2000000000"), ("1gb", b"1073741824"),
                          ("12345", b"12345"), ("0", b"0")):
        assert assert_same(s, r, "CONFIG", "SET", "maxmemory", value) == b"OK"
        reply = assert_same(s, r, "CONFIG", "GET", "maxmemory")
        assert as_dict(reply) == {b"maxmemory": expect}
    info = surge_server.client().info("memory")
    assert info["maxmemory"] == 0


def test_config_resetstat(surge_server, surge):
    c = surge_server.resp()
    for i in range(20):
        c.call("SET", "k%d" % i, "v")
    c.call("GET", "missing")
    c.call("NOSUCHCOMMAND")
    before = surge.info("stats")
    assert before["total_commands_processed"] >= 21
    assert before["total_error_replies"] >= 1
    assert before["keyspace_misses"] >= 1
    assert c.call("CONFIG", "RESETSTAT") == b"OK"
    after = surge.info("stats")
    assert after["total_commands_processed"] <= 2
    assert after["total_error_replies"] == 0
    assert after["keyspace_misses"] == 0
    assert after["keyspace_hits"] == 0
    assert "cmdstat_set" not in surge.info("commandstats")
    assert surge.info("errorstats") == {}
    # The data itself is untouched.
    assert surge.dbsize() == 20


def test_config_rewrite(start_surge, tmp_path):
    conf = tmp_path / "surge.conf"
    original = [
        "# Surge test configuration: this comment must survive",
        "   # an indented comment",
        "",
        "timeout 0",
        "maxmemory-policy noeviction",
        "# between two directives",
        "maxmemory-samples 5",
        "# the last line is a comment",
    ]
    conf.write_text("\n".join(original) + "\n")
    srv = start_surge(config_file=conf)
    c = srv.resp()
    assert c.call("CONFIG", "GET", "maxmemory-policy") == [b"maxmemory-policy", b"noeviction"]
    assert c.call("CONFIG", "SET", "maxmemory-policy", "allkeys-lru", "timeout", "7") == b"OK"
    assert c.call("CONFIG", "SET", "lfu-log-factor", "3") == b"OK"
    assert c.call("CONFIG", "REWRITE") == b"OK"
    lines = conf.read_text().split("\n")
    # Comments and blank lines are kept, in their order.
    kept = [ln.strip() for ln in lines if ln.strip().startswith("#") and "CONFIG REWRITE" not in ln]
    assert kept == [ln.strip() for ln in original if ln.strip().startswith("#")]
    assert "" in lines
    # Directives already in the file are rewritten in place.
    assert lines.index("timeout 7") == original.index("timeout 0")
    assert lines.index("maxmemory-policy allkeys-lru") == original.index("maxmemory-policy noeviction")
    assert not any(ln.startswith("maxmemory-policy noeviction") for ln in lines)
    assert sum(1 for ln in lines if ln.split(" ")[0] == "maxmemory-policy") == 1
    # New non-default values are appended.
    assert "lfu-log-factor 3" in lines
    assert lines.index("lfu-log-factor 3") > lines.index("# the last line is a comment")
    # A server started from the rewritten file has the values.
    srv2 = start_surge(config_file=conf)
    c2 = srv2.resp()
    assert c2.call("CONFIG", "GET", "maxmemory-policy") == [b"maxmemory-policy", b"allkeys-lru"]
    assert c2.call("CONFIG", "GET", "timeout") == [b"timeout", b"7"]
    assert c2.call("CONFIG", "GET", "lfu-log-factor") == [b"lfu-log-factor", b"3"]
    # Rewriting again with nothing changed gives the same file.
    before = conf.read_text()
    assert c2.call("CONFIG", "REWRITE") == b"OK"
    after = conf.read_text()
    # (port and dir come from each server's command line; the reference also
    # re-renders its ACL user line.)
    strip = lambda t: [ln for ln in t.split("\n") if ln and not re.match(r"(port|dir|user) ", ln)]
    assert strip(after) == strip(before)


def test_config_rewrite_keeps_unknown_lines_loadable(start_surge, tmp_path):
    # A line the server does not know (added to the file after start-up, for
    # example by an operator or a newer version) survives CONFIG REWRITE, and
    # the rewritten file still starts a server. Redis 7.0 keeps such a line
    # as the comment "# ??? <line>".
    conf = tmp_path / "unknown.conf"
    conf.write_text("# header\nmaxmemory-policy noeviction\n")
    srv = start_surge(config_file=conf)
    with conf.open("a") as f:
        f.write("no-such-directive-for-surge-tests 1 2\n")
    c = srv.resp()
    assert c.call("CONFIG", "SET", "maxmemory-policy", "allkeys-random") == b"OK"
    assert c.call("CONFIG", "REWRITE") == b"OK"
    text = conf.read_text()
    assert "no-such-directive-for-surge-tests 1 2" in text
    assert "maxmemory-policy allkeys-random" in text.split("\n")
    srv2 = start_surge(config_file=conf)
    assert srv2.resp().call("CONFIG", "GET", "maxmemory-policy") == \
        [b"maxmemory-policy", b"allkeys-random"]


def test_config_rewrite_without_config_file(surge_server, redis_ref_server, proto):
    s, r = pair(surge_server, redis_ref_server, proto)
    reply = assert_same(s, r, "CONFIG", "REWRITE")
    assert reply == RespError(b"ERR The server is running without a config file")


def test_config_help_and_unknown_subcommand(surge_server, redis_ref_server, proto):
    s, r = pair(surge_server, redis_ref_server, proto)
    assert_same(s, r, "CONFIG", "NOSUCH")
    assert_same(s, r, "CONFIG")
    assert_same(s, r, "CONFIG", "GET")
    assert_same(s, r, "CONFIG", "RESETSTAT", "x")
    assert_same(s, r, "CONFIG", "REWRITE", "x")


# ---------------------------------------------------------------------------
# TIME, DEBUG
# ---------------------------------------------------------------------------
def test_time(surge_server, redis_ref_server, proto):
    s, r = pair(surge_server, redis_ref_server, proto)
    before = time.time()
    mine, raw = s.call_frame("TIME")
    after = time.time()
    ref = r.call("TIME")
    assert isinstance(mine, list) and len(mine) == 2
    assert all(type(x) is bytes for x in mine) and all(type(x) is bytes for x in ref)
    assert raw.startswith(b"*2\r\n$")
    secs, usecs = int(mine[0]), int(mine[1])
    assert mine[0] == b"%d" % secs and mine[1] == b"%d" % usecs
    assert 0 <= usecs <= 999999
    now = secs + usecs / 1e6
    assert before - 1 <= now <= after + 1
    assert_same(s, r, "TIME", "extra")


def test_debug_allowed_by_default_from_loopback(surge_server):
    if not is_surge(surge_server):
        pytest.skip("enable-debug-command defaults to 'local' only in Surge")
    assert surge_server.resp().call("DEBUG", "SLEEP", "0") == b"OK"


def test_debug_sleep_and_errors(start_surge, start_redis_ref):
    s = start_debug_server(start_surge).resp()
    r = start_redis_ref("--enable-debug-command", "local").resp()
    assert_same(s, r, "DEBUG", "SLEEP", "0")
    assert_same(s, r, "DEBUG", "SLEEP", "0.01")
    assert_same(s, r, "DEBUG", "OBJECT", "nosuchkey")
    assert_same(s, r, "DEBUG", "NOSUCHSUBCOMMAND")
    assert_same(s, r, "DEBUG", "SLEEP")
    assert_same(s, r, "DEBUG", "DIGEST")
    assert_same(s, r, "DEBUG", "DIGEST-VALUE", "nosuchkey")


def test_debug_digest(start_surge):
    a = start_debug_server(start_surge)
    b = start_debug_server(start_surge)
    ca, cb = a.resp(), b.resp()
    zero = b"0" * 40
    assert ca.call("DEBUG", "DIGEST") == zero
    at = int(time.time() * 1000) + 3600 * 1000
    keys = [("k%03d" % i, "value-%d" % (i * 7)) for i in range(60)]
    for k, v in keys:
        assert ca.call("SET", k, v) == b"OK"
    assert ca.call("PEXPIREAT", "k001", at) == 1
    assert ca.call("SELECT", 1) == b"OK"
    assert ca.call("SET", "other-db", "x") == b"OK"
    assert ca.call("SELECT", 0) == b"OK"
    # Same data on the other server, loaded in the opposite order.
    assert cb.call("SELECT", 1) == b"OK"
    assert cb.call("SET", "other-db", "x") == b"OK"
    assert cb.call("SELECT", 0) == b"OK"
    for k, v in reversed(keys):
        assert cb.call("SET", k, v) == b"OK"
    assert cb.call("PEXPIREAT", "k001", at) == 1
    da, db = ca.call("DEBUG", "DIGEST"), cb.call("DEBUG", "DIGEST")
    assert isinstance(da, SimpleString)
    assert re.fullmatch(rb"[0-9a-f]{40}", da), da
    assert da != zero
    assert da == db
    # A changed value changes the digest; restoring it restores the digest.
    assert cb.call("SET", "k010", "changed") == b"OK"
    assert cb.call("DEBUG", "DIGEST") != da
    assert cb.call("SET", "k010", "value-70") == b"OK"
    assert cb.call("DEBUG", "DIGEST") == da
    # So does a key in another database, and an extra key.
    assert cb.call("SET", "extra", "x") == b"OK"
    assert cb.call("DEBUG", "DIGEST") != da
    assert cb.call("DEL", "extra") == 1
    assert cb.call("DEBUG", "DIGEST") == da
    # DIGEST-VALUE: per key, 40 hex digits, zeros for a missing key.
    va = ca.call("DEBUG", "DIGEST-VALUE", "k005", "k006", "nosuchkey")
    vb = cb.call("DEBUG", "DIGEST-VALUE", "k005", "k006", "nosuchkey")
    assert va == vb and len(va) == 3
    assert all(re.fullmatch(rb"[0-9a-f]{40}", x) for x in va)
    assert va[0] != va[1] and va[2] == zero
    assert ca.call("DEBUG", "DIGEST-VALUE") == []
    # Emptied: all zeros again.
    assert ca.call("FLUSHALL") == b"OK"
    assert ca.call("DEBUG", "DIGEST") == zero


def test_debug_object(start_surge):
    c = start_debug_server(start_surge).resp()
    for key, value in (("int", "12345"), ("short", "hello"), ("long", "x" * 100)):
        assert c.call("SET", key, value) == b"OK"
        reply = c.call("DEBUG", "OBJECT", key)
        assert isinstance(reply, SimpleString), reply
        enc = c.call("OBJECT", "ENCODING", key)
        m = re.fullmatch(rb"Value at:0x[0-9a-f]+ refcount:\d+ encoding:(\S+) "
                         rb"serializedlength:(\d+) lru:(\d+) lru_seconds_idle:(\d+)", reply)
        assert m, reply
        assert m.group(1) == enc
        assert int(m.group(2)) > 0
    assert c.call("DEBUG", "OBJECT", "nosuchkey") == RespError(b"ERR no such key")


def test_debug_set_active_expire(start_surge):
    srv = start_debug_server(start_surge)
    c = srv.resp()
    assert c.call("DEBUG", "SET-ACTIVE-EXPIRE", "0") == b"OK"
    for i in range(20):
        assert c.call("SET", "e%d" % i, "v", "PX", 50) == b"OK"
    assert c.call("SET", "keep", "v") == b"OK"
    time.sleep(0.5)
    # Nothing touched the keys: with background expiry off they are still counted.
    assert c.call("DBSIZE") == 21
    assert c.call("DEBUG", "SET-ACTIVE-EXPIRE", "1") == b"OK"
    deadline = time.time() + 5
    while c.call("DBSIZE") != 1 and time.time() < deadline:
        time.sleep(0.05)
    assert c.call("DBSIZE") == 1
    assert c.call("EXISTS", "keep") == 1


# ---------------------------------------------------------------------------
# MEMORY
# ---------------------------------------------------------------------------
def test_memory_usage(surge_server, redis_ref_server, proto):
    s, r = pair(surge_server, redis_ref_server, proto)
    sizes = [1, 100, 1000, 10000, 100000]
    usages = []
    for n in sizes:
        assert s.call("SET", "k%d" % n, "x" * n) == b"OK"
        u = s.call("MEMORY", "USAGE", "k%d" % n)
        assert type(u) is int and u > 0, u
        usages.append(u)
    assert usages == sorted(usages) and len(set(usages)) == len(usages), usages
    assert usages[-1] >= 100000
    assert s.call("MEMORY", "USAGE", "k100", "SAMPLES", "5") == usages[1]
    assert s.call("MEMORY", "USAGE", "k100", "SAMPLES", "0") == usages[1]
    assert_same(s, r, "MEMORY", "USAGE", "nosuchkey")
    assert s.call("MEMORY", "USAGE", "nosuchkey") is None
    assert_same(s, r, "MEMORY", "USAGE", "nosuchkey", "SAMPLES", "x")
    assert_same(s, r, "MEMORY", "USAGE", "nosuchkey", "bogus")
    assert_same(s, r, "MEMORY", "USAGE")
    assert_same(s, r, "MEMORY", "NOSUCH")


def test_memory_stats(surge_server, surge):
    for i in range(25):
        surge.set(b"k%d" % i, b"v")
    stats = surge.memory_stats()
    assert stats["keys.count"] == 25
    assert stats["total.allocated"] > 0
    assert stats["peak.allocated"] > 0
    c3 = connect(surge_server, 3)
    m = c3.call("MEMORY", "STATS")
    assert isinstance(m, RespMap), m
    assert m[b"keys.count"] == 25
    assert type(m[b"dataset.percentage"]) is float
    c2 = surge_server.resp()
    flat = c2.call("MEMORY", "STATS")
    assert isinstance(flat, list) and len(flat) == 2 * len(m)
    assert as_dict(flat)[b"keys.count"] == 25


# ---------------------------------------------------------------------------
# MONITOR, SHUTDOWN
# ---------------------------------------------------------------------------
def test_monitor_sees_other_clients(surge_server):
    mon = surge_server.resp()
    assert mon.call("MONITOR") == b"OK"
    other = surge_server.resp()
    assert other.call("SET", "k", "v") == b"OK"
    assert other.call("SELECT", 2) == b"OK"
    assert other.call("GET", 'we"ird\n') is None
    lines = [mon.read_reply() for _ in range(3)]
    assert all(isinstance(x, SimpleString) for x in lines), lines
    pat = rb'^\d+\.\d{6} \[(\d+) 127\.0\.0\.1:\d+\] (.*)$'
    m = re.match(pat, lines[0])
    assert m and m.group(1) == b"0" and m.group(2) == b'"SET" "k" "v"', lines[0]
    assert b'"SET" "k" "v"' in lines[0]
    assert re.match(pat, lines[1]).group(2) == b'"SELECT" "2"'
    m = re.match(pat, lines[2])
    assert m.group(1) == b"2" and m.group(2) == b'"GET" "we\\"ird\\n"', lines[2]
    # The monitoring client's address appears in its own CLIENT LIST entry with flag O.
    listing = bytes(other.call("CLIENT", "LIST")).decode()
    assert re.search(r"flags=O ", listing), listing


def test_shutdown_exits_cleanly(start_surge):
    srv = start_surge()
    c = srv.resp()
    assert c.call("SET", "k", "v") == b"OK"
    c.send_command("SHUTDOWN")
    with pytest.raises((ConnectionError, OSError)):
        c.read_reply()
    assert srv.proc.wait(10) == 0


def test_shutdown_errors(surge_server, redis_ref_server):
    s, r = surge_server.resp(), redis_ref_server.resp()
    assert_same(s, r, "SHUTDOWN", "bogus")
    assert_same(s, r, "SHUTDOWN", "ABORT")
    assert_same(s, r, "SHUTDOWN", "SAVE", "NOSAVE")
    assert s.call("PING") == b"PONG"


# ---------------------------------------------------------------------------
# OBJECT FREQ / IDLETIME
# ---------------------------------------------------------------------------
def test_object_freq_grows_under_lfu(surge_server, redis_ref_server):
    results = []
    for srv in (surge_server, redis_ref_server):
        c = srv.resp()
        assert c.call("CONFIG", "SET", "maxmemory-policy", "allkeys-lfu") == b"OK"
        assert c.call("SET", "k", "v") == b"OK"
        f0 = c.call("OBJECT", "FREQ", "k")
        assert type(f0) is int
        for _ in range(300):
            c.call("GET", "k")
        f1 = c.call("OBJECT", "FREQ", "k")
        assert f1 > f0, (f0, f1)
        # With lfu-log-factor 0 every access counts: the counter is exact.
        assert c.call("CONFIG", "SET", "lfu-log-factor", "0") == b"OK"
        assert c.call("SET", "d", "v") == b"OK"
        d0 = c.call("OBJECT", "FREQ", "d")
        for _ in range(50):
            c.call("GET", "d")
        d1 = c.call("OBJECT", "FREQ", "d")
        assert d1 == d0 + 50, (d0, d1)
        results.append((f0, d0, d1))
        assert isinstance(c.call("OBJECT", "IDLETIME", "k"), RespError)
    assert results[0][1:] == results[1][1:]
    assert results[0][0] == results[1][0]


def test_object_freq_idletime_errors(surge_server, redis_ref_server, proto):
    s, r = pair(surge_server, redis_ref_server, proto)
    for c in (s, r):
        assert c.call("SET", "k", "v") == b"OK"
    assert isinstance(assert_same(s, r, "OBJECT", "FREQ", "k"), RespError)
    assert_same(s, r, "OBJECT", "FREQ", "nosuchkey")
    assert_same(s, r, "OBJECT", "IDLETIME", "nosuchkey")
    assert_same(s, r, "CONFIG", "SET", "maxmemory-policy", "volatile-lfu")
    assert isinstance(assert_same(s, r, "OBJECT", "IDLETIME", "k"), RespError)
    assert_same(s, r, "CONFIG", "SET", "maxmemory-policy", "noeviction")


def test_object_idletime(surge_server, surge):
    surge.set(b"idle", b"v")
    surge.set(b"busy", b"v")
    assert surge.object("idletime", b"idle") == 0
    deadline = time.time() + 2.2
    while time.time() < deadline:
        surge.get(b"busy")
        time.sleep(0.2)
    assert surge.object("idletime", b"idle") >= 1
    assert surge.object("idletime", b"busy") <= 1  # whole seconds: may straddle one
    # OBJECT IDLETIME itself does not touch the key.
    assert surge.object("idletime", b"idle") >= 1
    surge.get(b"idle")
    assert surge.object("idletime", b"idle") == 0
