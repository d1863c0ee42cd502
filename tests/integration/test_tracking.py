"""Client-side caching (CLIENT TRACKING): the same scenarios run on Surge and
on the reference redis-server, and every frame each client receives (replies
and invalidation pushes, byte for byte) is compared. Client ids differ between
servers, so they are replaced by placeholders before comparing.

Scenarios: default mode (one RESP3 tracking client, one writer), OPTIN/OPTOUT
with CLIENT CACHING (also inside MULTI), BCAST with prefixes and NOLOOP,
NOLOOP in default mode, REDIRECT to a RESP2 subscriber of
__redis__:invalidate and to a RESP3 client, a broken redirect, FLUSHALL and
FLUSHDB, expiry of a tracked key, the error texts, CLIENT TRACKINGINFO /
GETREDIR, INFO fields, tracking-table-max-keys; plus redis-py's helpers."""
import re
import time

import pytest

from resp_client import RespClient


def drain(c, wait=0.15):
    """Every frame that arrives within `wait` seconds, raw."""
    out = []
    c.sock.settimeout(wait)
    try:
        while True:
            out.append(c.read_frame()[1])
    except (TimeoutError, OSError):
        pass
    finally:
        c.sock.settimeout(10)
    return out


class Recorder:
    """Runs commands on named clients and records what each one receives."""

    def __init__(self, server):
        self.server = server
        self.clients = {}
        self.log = []
        self.ids = {}

    def conn(self, name, resp3=False):
        c = RespClient(self.server.host, self.server.port)
        if resp3:
            c.call("HELLO", 3)
        cid = c.call("CLIENT", "ID")
        self.ids[cid] = name
        self.clients[name] = c
        return c

    def norm(self, frame):
        def sub(m):
            v = int(m.group(2))
            return m.group(1) + (b"<id:" + self.ids[v].encode() + b">" if v in self.ids else
                                 m.group(2))
        return re.sub(rb"((?:^|\r\n):)(\d+)(?=\r\n)", sub, frame)

    def do(self, name, *args):
        c = self.clients[name]
        c.send_command(*args)
        shown = tuple("<id:%s>" % self.ids[a] if isinstance(a, int) and a in self.ids else a
                      for a in args)
        self.log.append((name, shown, self.norm(c.read_frame()[1])))

    def settle(self):
        time.sleep(0.12)
        for name, c in self.clients.items():
            for f in drain(c, 0.05):
                self.log.append((name, "async", self.norm(f)))


def compare(surge_server, redis_ref_server, scenario):
    results = []
    for srv in (surge_server, redis_ref_server):
        srv.client().flushall()
        r = Recorder(srv)
        scenario(r)
        r.settle()
        results.append(r.log)
        for c in r.clients.values():
            c.close()
    got, want = results
    for i, (g, w) in enumerate(zip(got, want)):
        assert g == w, "step %d differs:\n surge: %r\n redis: %r" % (i, g, w)
    assert len(got) == len(want)
    return got


def sc_default(r):
    r.conn("t", resp3=True)
    r.conn("w")
    r.do("t", "CLIENT", "TRACKING", "on")
    r.do("t", "GET", "a")
    r.do("t", "MGET", "b", "c")
    r.do("t", "HGET", "h", "f")
    r.do("w", "SET", "a", "1")
    r.settle()
    r.do("w", "MSET", "b", "1", "c", "2")
    r.do("w", "HSET", "h", "f", "v")
    r.settle()
    r.do("w", "SET", "a", "2")  # no longer tracked: silence
    r.settle()
    r.do("t", "GET", "a")
    r.do("t", "SET", "a", "3")  # own write: push after the reply
    r.do("t", "GET", "a")
    r.do("t", "MULTI")
    r.do("t", "SET", "a", "4")
    r.do("t", "GET", "x")
    r.do("t", "EXEC")  # push after EXEC's reply
    r.settle()
    r.do("t", "GET", "a")
    r.do("t", "SELECT", "1")
    r.do("w", "SELECT", "2")
    r.do("w", "SET", "a", "5")  # the table is not per database
    r.settle()
    r.do("t", "CLIENT", "TRACKINGINFO")
    r.do("t", "CLIENT", "GETREDIR")
    r.do("t", "CLIENT", "TRACKING", "off")
    r.do("t", "CLIENT", "TRACKINGINFO")
    r.do("t", "CLIENT", "GETREDIR")


def sc_flush(r):
    r.conn("t", resp3=True)
    r.conn("t2")  # RESP2 without redirect: gets nothing
    r.conn("w")
    r.do("t", "CLIENT", "TRACKING", "on")
    r.do("t2", "CLIENT", "TRACKING", "on")
    r.do("t", "GET", "a")
    r.do("w", "FLUSHALL")
    r.settle()
    r.do("w", "FLUSHDB")
    r.settle()
    r.do("t", "GET", "a")
    r.do("t", "FLUSHALL")  # own flush: null after the reply
    r.settle()
    r.do("w", "SET", "a", "1")  # table emptied by the flush
    r.settle()


def sc_expire(r):
    r.conn("t", resp3=True)
    r.conn("w")
    r.do("w", "SET", "k", "v", "PX", "60")
    r.do("t", "CLIENT", "TRACKING", "on")
    r.do("t", "GET", "k")
    time.sleep(0.4)  # active expiry
    r.settle()
    r.do("w", "SET", "k2", "v", "PX", "1")
    r.do("t", "GET", "k2")
    r.settle()
    r.do("t", "GET", "k2")  # lazily expired (or already gone): no key, no push
    r.do("w", "DEL", "k2")
    r.settle()


def sc_optin_optout(r):
    r.conn("t", resp3=True)
    r.conn("w")
    r.do("t", "CLIENT", "TRACKING", "on", "OPTIN")
    r.do("t", "GET", "o1")  # not cached
    r.do("t", "CLIENT", "CACHING", "yes")
    r.do("t", "CLIENT", "ID")  # CLIENT subcommands keep the flag
    r.do("t", "GET", "o2")  # cached
    r.do("t", "GET", "o3")  # not cached: the flag lasts one command
    r.do("t", "CLIENT", "CACHING", "yes")
    r.do("t", "MULTI")
    r.do("t", "GET", "o4")
    r.do("t", "GET", "o5")
    r.do("t", "EXEC")  # the whole transaction is cached
    r.do("t", "CLIENT", "TRACKINGINFO")
    r.do("t", "CLIENT", "CACHING", "no")
    r.do("t", "CLIENT", "TRACKING", "on", "OPTOUT")
    r.do("w", "MSET", "o1", "1", "o2", "1", "o3", "1", "o4", "1", "o5", "1")
    r.settle()
    r.do("t", "CLIENT", "TRACKING", "off")
    r.do("t", "CLIENT", "TRACKING", "on", "OPTOUT")
    r.do("t", "GET", "p1")
    r.do("t", "CLIENT", "CACHING", "no")
    r.do("t", "CLIENT", "TRACKINGINFO")
    r.do("t", "GET", "p2")
    r.do("t", "GET", "p3")
    r.do("t", "CLIENT", "CACHING", "yes")
    r.do("w", "MSET", "p1", "1", "p2", "1", "p3", "1")
    r.settle()


def sc_bcast(r):
    r.conn("t", resp3=True)
    r.conn("n", resp3=True)
    r.conn("w")
    r.do("t", "CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "u:", "PREFIX", "v:")
    r.do("t", "CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "u:x")
    r.do("t", "CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "w:")
    r.do("t", "CLIENT", "TRACKINGINFO")
    r.do("n", "CLIENT", "TRACKING", "on", "BCAST", "NOLOOP")
    r.do("n", "CLIENT", "TRACKINGINFO")
    # one batch per event-loop iteration: MSET's keys come sorted, deduplicated
    r.do("w", "MSET", "u:2", "1", "u:1", "1", "v:1", "1", "z", "1", "u:2", "3")
    r.settle()
    r.do("w", "SET", "w:9", "1")
    r.do("t", "GET", "u:1")  # reads are not tracked in BCAST mode
    r.settle()
    r.do("n", "SET", "u:3", "x")  # NOLOOP: n does not hear its own write
    r.settle()
    r.do("n", "MSET", "u:4", "x", "zz", "y")
    r.settle()
    r.do("t", "CLIENT", "TRACKING", "off")
    r.do("w", "SET", "u:1", "2")
    r.settle()


def sc_noloop(r):
    r.conn("t", resp3=True)
    r.conn("w")
    r.do("t", "CLIENT", "TRACKING", "on", "NOLOOP")
    r.do("t", "CLIENT", "TRACKINGINFO")
    r.do("t", "GET", "n1")
    r.do("t", "SET", "n1", "x")  # own write: nothing, key forgotten
    r.do("t", "GET", "n1")
    r.do("w", "SET", "n1", "y")
    r.settle()


def sc_redirect(r):
    r.conn("sub")  # RESP2, subscribed
    r.conn("t")  # RESP2 tracker
    r.conn("p3", resp3=True)  # RESP3 target
    r.conn("w")
    sub_id = [k for k, v in r.ids.items() if v == "sub"][0]
    p3_id = [k for k, v in r.ids.items() if v == "p3"][0]
    r.do("sub", "SUBSCRIBE", "__redis__:invalidate")
    r.do("t", "CLIENT", "TRACKING", "on", "REDIRECT", sub_id)
    r.do("t", "CLIENT", "GETREDIR")
    r.do("t", "CLIENT", "TRACKINGINFO")
    r.do("t", "GET", "r1")
    r.do("w", "SET", "r1", "1")
    r.settle()
    r.do("t", "GET", "r1")
    r.do("w", "FLUSHALL")  # a RESP2 tracker's null is $-1
    r.settle()
    r.do("t", "CLIENT", "TRACKING", "on", "REDIRECT", p3_id)
    r.do("t", "GET", "r2")
    r.do("w", "SET", "r2", "1")
    r.settle()
    r.do("w", "CLIENT", "KILL", "ID", p3_id)
    r.clients.pop("p3").close()
    time.sleep(0.1)
    r.clients["t"].call("HELLO", "3")  # (its reply holds small ids: not compared)
    r.do("t", "GET", "r3")
    r.do("w", "SET", "r3", "1")  # target gone: tracking-redir-broken
    r.settle()
    r.do("t", "CLIENT", "TRACKINGINFO")


def sc_errors(r):
    r.conn("t", resp3=True)
    for args in [
        ("CLIENT", "TRACKING", "on", "PREFIX", "a"),
        ("CLIENT", "TRACKING", "on", "BCAST", "OPTIN"),
        ("CLIENT", "TRACKING", "on", "BCAST", "OPTOUT"),
        ("CLIENT", "TRACKING", "on", "OPTIN", "OPTOUT"),
        ("CLIENT", "TRACKING", "on", "REDIRECT", "99999"),
        ("CLIENT", "TRACKING", "on", "REDIRECT", "0"),
        ("CLIENT", "TRACKING", "on", "REDIRECT", "abc"),
        ("CLIENT", "TRACKING", "on", "REDIRECT"),
        ("CLIENT", "TRACKING", "on", "PREFIX"),
        ("CLIENT", "TRACKING", "maybe"),
        ("CLIENT", "TRACKING", "on", "foo"),
        ("CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "ab", "PREFIX", "a"),
        ("CLIENT", "TRACKING"),
        ("CLIENT", "CACHING", "yes"),
        ("CLIENT", "CACHING", "no"),
        ("CLIENT", "CACHING"),
        ("CLIENT", "GETREDIR", "x"),
        ("CLIENT", "TRACKINGINFO", "x"),
        ("CLIENT", "TRACKING", "on"),
        ("CLIENT", "CACHING", "yes"),
        ("CLIENT", "CACHING", "maybe"),
        ("CLIENT", "TRACKING", "on", "BCAST"),
        ("CLIENT", "TRACKING", "on", "OPTIN"),
        ("CLIENT", "TRACKING", "off"),
        ("CLIENT", "TRACKING", "on", "OPTIN"),
        ("CLIENT", "CACHING", "no"),
        ("CLIENT", "TRACKING", "on", "OPTOUT"),
        ("CLIENT", "TRACKING", "off"),
        ("CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "a"),
        ("CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "abc"),
        ("CLIENT", "TRACKING", "on", "BCAST", "PREFIX", ""),
        ("CLIENT", "TRACKING", "on"),
        ("CLIENT", "TRACKING", "off"),
        ("CLIENT", "TRACKING", "OFF", "BCAST"),
    ]:
        r.do("t", *args)


@pytest.mark.parametrize("scenario", [sc_default, sc_flush, sc_expire, sc_optin_optout,
                                      sc_bcast, sc_noloop, sc_redirect, sc_errors],
                         ids=lambda f: f.__name__[3:])
def test_tracking_matches_reference(surge_server, redis_ref_server, scenario):
    compare(surge_server, redis_ref_server, scenario)


def test_exact_frames(surge_server):
    """The wire format, spelled out (independent of the reference)."""
    t = surge_server.resp()
    w = surge_server.resp()
    t.call("HELLO", 3)
    assert t.call("CLIENT", "TRACKING", "on") == b"OK"
    t.call("GET", "key")
    w.call("SET", "key", "v")
    assert drain(t) == [b">2\r\n$10\r\ninvalidate\r\n*1\r\n$3\r\nkey\r\n"]
    w.call("FLUSHALL")
    assert drain(t) == [b">2\r\n$10\r\ninvalidate\r\n_\r\n"]


def test_client_list_flags(surge_server):
    t = surge_server.resp()
    b = surge_server.resp()
    tid = t.call("CLIENT", "ID")
    t.call("CLIENT", "TRACKING", "on", "REDIRECT", tid)
    b.call("CLIENT", "TRACKING", "on", "BCAST")
    line_t = t.call("CLIENT", "INFO")
    line_b = b.call("CLIENT", "INFO")
    assert b" flags=t " in line_t and (b" redir=%d " % tid) in line_t
    assert b" flags=tB " in line_b and b" redir=0 " in line_b
    t.call("CLIENT", "TRACKING", "off")
    assert b" flags=N " in t.call("CLIENT", "INFO")
    assert b" redir=-1 " in t.call("CLIENT", "INFO")


def info_tracking(c):
    info = c.info()
    return {k: info[k] for k in ("tracking_clients", "tracking_total_keys",
                                 "tracking_total_items", "tracking_total_prefixes")}


@pytest.mark.parametrize("which", ["surge", "redis"])
def test_info_fields(surge_server, redis_ref_server, which):
    srv = surge_server if which == "surge" else redis_ref_server
    srv.client().flushall()
    a, b, c = srv.resp(), srv.resp(), srv.resp()
    a.call("CLIENT", "TRACKING", "on")
    a.call("MGET", "i1", "i2")
    b.call("CLIENT", "TRACKING", "on")
    b.call("GET", "i1")
    c.call("CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "x", "PREFIX", "y")
    admin = srv.client()
    assert info_tracking(admin) == {"tracking_clients": 3, "tracking_total_keys": 2,
                                    "tracking_total_items": 3, "tracking_total_prefixes": 2}
    admin.set("i1", "v")
    c.call("CLIENT", "TRACKING", "off")
    assert info_tracking(admin) == {"tracking_clients": 2, "tracking_total_keys": 1,
                                    "tracking_total_items": 1, "tracking_total_prefixes": 0}


@pytest.mark.parametrize("which", ["surge", "redis"])
def test_table_max_keys(start_surge, start_redis_ref, which):
    srv = (start_surge if which == "surge" else start_redis_ref)(
        "--tracking-table-max-keys", "2")
    admin = srv.client()
    assert admin.config_get("tracking-table-max-keys") == {"tracking-table-max-keys": "2"}
    t = srv.resp()
    t.call("HELLO", 3)
    t.call("CLIENT", "TRACKING", "on")
    t.call("MGET", "k1", "k2", "k3", "k4", "k5")
    time.sleep(0.3)  # the limit is enforced between commands / in the cron
    frames = drain(t)
    keys = sorted(f.split(b"\r\n")[-2] for f in frames)
    assert len(keys) == 3 and set(keys) <= {b"k1", b"k2", b"k3", b"k4", b"k5"}
    assert admin.info()["tracking_total_keys"] == 2
    admin.config_set("tracking-table-max-keys", 0)  # no limit
    t.call("MGET", "a1", "a2", "a3")
    time.sleep(0.2)
    assert drain(t) == []
    assert admin.info()["tracking_total_keys"] == 5


def test_config_default(surge, redis_ref):
    assert surge.config_get("tracking-table-max-keys") == \
        redis_ref.config_get("tracking-table-max-keys") == \
        {"tracking-table-max-keys": "1000000"}


@pytest.mark.parametrize("which", ["surge", "redis"])
def test_redis_py(surge_server, redis_ref_server, which):
    """redis-py 4.3 (RESP2): tracking helpers plus a subscriber on
    __redis__:invalidate, the way its client-side caching recipes do it."""
    srv = surge_server if which == "surge" else redis_ref_server
    srv.client().flushall()
    sub = srv.client()
    ps = sub.pubsub()
    ps.subscribe("__redis__:invalidate")
    assert ps.get_message(timeout=2)["type"] == "subscribe"
    port = ps.connection._sock.getsockname()[1]
    sub_id = [int(c["id"]) for c in srv.client().client_list()
              if c["addr"].endswith(":%d" % port)][0]
    cache = srv.client(single_connection_client=True)
    assert cache.client_tracking_on(clientid=sub_id)
    assert cache.client_getredir() == sub_id
    info = cache.client_trackinginfo()
    assert info[1] == [b"on"] and info[3] == sub_id
    assert cache.get("user:1") is None
    srv.client().set("user:1", "x")
    msg = ps.get_message(timeout=2)
    assert msg["channel"] == b"__redis__:invalidate" and msg["data"] == [b"user:1"]
    assert cache.client_tracking_off()
    assert cache.client_getredir() == -1
    assert cache.client_tracking_on(bcast=True, prefix=["user:", "item:"])
    assert cache.client_trackinginfo()[5] == [b"item:", b"user:"]
    ps.close()
