"""Blocking commands (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, BZPOPMIN,
BZPOPMAX, BZMPOP): the same multi-client scenarios against Surge and the
reference redis-server, replies compared exactly, plus timeout accuracy,
FIFO service order, and blocked clients that disconnect."""
import threading
import time

import pytest
import redis

from resp_client import RespClient


def scenario(port):
    a = RespClient("127.0.0.1", port)
    b = RespClient("127.0.0.1", port)
    c = RespClient("127.0.0.1", port)
    a.call("FLUSHALL")
    out = []
    wait = lambda: time.sleep(0.05)
    # timeouts and argument errors
    out += [a.call("BLPOP", "none", "0.05"), a.call("BRPOP", "none", "0.05")]
    out += [a.call("BLMOVE", "none", "d", "LEFT", "RIGHT", "0.05"), a.call("BRPOPLPUSH", "none", "d", "0.05")]
    out += [a.call("BLMPOP", "0.05", "1", "none", "LEFT"), a.call("BZPOPMIN", "none", "0.05")]
    out += [a.call("BZMPOP", "0.05", "1", "none", "MAX")]
    for bad in (["BLPOP", "k", "abc"], ["BLPOP", "k", "-1"], ["BLPOP", "k", "1e30"],
                ["BLMPOP", "0", "0", "k", "LEFT"], ["BLMPOP", "0", "1", "k", "UP"],
                ["BZMPOP", "0", "2", "k", "MIN"], ["BLMOVE", "a", "b", "UP", "LEFT", "0"]):
        out.append(a.call(*bad))
    out.append(a.call("SET", "str", "x"))
    out += [a.call("BLPOP", "str", "0"), a.call("BZPOPMIN", "str", "0")]
    # served immediately when data is there
    out.append(b.call("RPUSH", "l", "1", "2", "3"))
    out += [a.call("BLPOP", "none", "l", "0"), a.call("BRPOP", "l", "0")]
    # woken by a push from another client, first non-empty key wins
    a.send_command("BLPOP", "k1", "k2", "0"); wait()
    out.append(b.call("RPUSH", "k2", "a", "b")); out.append(a.read_reply())
    # LPUSH of several elements wakes with the first one pushed last
    a.send_command("BRPOP", "k3", "0"); wait()
    out.append(b.call("LPUSH", "k3", "x", "y", "z")); out.append(a.read_reply())
    # BLMOVE and BRPOPLPUSH woken by a push
    a.send_command("BLMOVE", "src", "dst", "RIGHT", "LEFT", "0"); wait()
    out.append(b.call("RPUSH", "src", "v")); out.append(a.read_reply())
    out += [b.call("LRANGE", "dst", "0", "-1"), b.call("EXISTS", "src")]
    # FIFO: the client that blocked first is served first
    a.send_command("BLPOP", "q", "0"); wait()
    c.send_command("BLPOP", "q", "0"); wait()
    out.append(b.call("RPUSH", "q", "first")); out.append(a.read_reply())
    out.append(b.call("RPUSH", "q", "second")); out.append(c.read_reply())
    # a push and a delete in one transaction wake nobody; a later push does
    a.send_command("BLPOP", "w", "0"); wait()
    out += [b.call("MULTI"), b.call("LPUSH", "w", "1"), b.call("DEL", "w"), b.call("EXEC")]
    wait()
    out.append(b.call("LPUSH", "w", "2")); out.append(a.read_reply())
    # sorted sets
    a.send_command("BZPOPMAX", "z1", "z2", "0"); wait()
    out.append(b.call("ZADD", "z2", "1", "a", "5", "b")); out.append(a.read_reply())
    a.send_command("BZMPOP", "0", "2", "z3", "z2", "MIN", "COUNT", "3"); wait()
    out.append(a.read_reply())
    # inside MULTI a blocking command answers at once
    out += [b.call("MULTI"), b.call("BLPOP", "none", "0"), b.call("BZPOPMIN", "none", "0"),
            b.call("BLMOVE", "none", "x", "LEFT", "LEFT", "0"), b.call("EXEC")]
    # RESP3 shapes
    a.call("HELLO", "3")
    out.append(b.call("ZADD", "z9", "2.5", "m"))
    out += [a.call("BZPOPMIN", "z9", "0"), a.call("BLPOP", "none", "0.01")]
    out.append(int(b.call("INFO", "clients").decode().split("blocked_clients:")[1].split()[0]))
    return out


def test_blocking_scenarios_match_reference(surge_server, redis_ref_server):
    assert scenario(surge_server.port) == scenario(redis_ref_server.port)


def test_timeout_is_honoured(surge):
    t0 = time.monotonic()
    assert surge.blpop(["nothing"], timeout=0.3) is None
    took = time.monotonic() - t0
    assert 0.25 <= took < 1.5, took


def test_disconnected_blocked_client_is_forgotten(surge_server):
    a = RespClient("127.0.0.1", surge_server.port)
    a.send_command("BLPOP", "gone", "0")
    time.sleep(0.05)
    b = surge_server.client()
    assert b.info("clients")["blocked_clients"] == 1
    a.sock.close()
    time.sleep(0.1)
    assert b.info("clients")["blocked_clients"] == 0
    assert b.rpush("gone", "v") == 1      # nobody is served: the value stays
    assert b.lrange("gone", 0, -1) == [b"v"]


def test_redis_py_blocking_pop_woken_by_another_thread(surge):
    def pusher():
        time.sleep(0.1)
        surge.rpush("jobs", "job-1")

    threading.Thread(target=pusher).start()
    assert surge.blpop(["jobs"], timeout=5) == (b"jobs", b"job-1")


def test_many_blocked_clients_are_served_in_order(surge_server):
    waiters = [RespClient("127.0.0.1", surge_server.port) for _ in range(50)]
    for i, w in enumerate(waiters):
        w.send_command("BLPOP", "fifo", "0")
        time.sleep(0.005)
    time.sleep(0.05)
    pusher = surge_server.client()
    pusher.rpush("fifo", *[str(i) for i in range(50)])
    got = [w.read_reply() for w in waiters]
    assert got == [[b"fifo", str(i).encode()] for i in range(50)]
