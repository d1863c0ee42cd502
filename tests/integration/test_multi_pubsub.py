"""Transactions and pub/sub: the same multi-client scenarios against Surge and
the reference redis-server, replies compared exactly; plus redis-py's
transaction and pub/sub APIs, and the slow-subscriber limit."""
import socket
import time

import pytest
import redis

from resp_client import RespClient


def scenario_transactions(port, ref_port=None):
    a = RespClient("127.0.0.1", port)
    b = RespClient("127.0.0.1", port)
    a.call("FLUSHALL")
    out = []
    run = lambda cl, *args: out.append(cl.call(*args))
    run(a, "MULTI"); run(a, "SET", "k", "1"); run(a, "INCR", "k"); run(a, "GET", "k"); run(a, "EXEC")
    run(a, "MULTI"); run(a, "GET"); run(a, "SET", "k", "2"); run(a, "EXEC"); run(a, "GET", "k")
    run(a, "MULTI"); run(a, "NOSUCHCMD"); run(a, "EXEC")
    run(a, "EXEC"); run(a, "DISCARD")
    run(a, "MULTI"); run(a, "MULTI"); run(a, "WATCH", "k"); run(a, "DISCARD")
    # WATCH broken by another client
    run(a, "WATCH", "k"); run(b, "SET", "k", "other"); run(a, "MULTI"); run(a, "GET", "k")
    run(a, "EXEC")
    # WATCH not broken: EXEC succeeds; own writes inside do not break it
    run(a, "WATCH", "k"); run(a, "MULTI"); run(a, "SET", "k", "mine"); run(a, "EXEC")
    # errors inside EXEC are per-command elements
    run(a, "MULTI"); run(a, "SET", "s", "x"); run(a, "INCR", "s"); run(a, "GET", "s"); run(a, "EXEC")
    # WATCH broken by DEL, by FLUSHDB, by SWAPDB, by an expiring key
    run(a, "WATCH", "k"); run(b, "DEL", "k"); run(a, "MULTI"); run(a, "PING"); run(a, "EXEC")
    run(b, "SET", "k", "v"); run(a, "WATCH", "k"); run(b, "FLUSHDB"); run(a, "MULTI"); run(a, "EXEC")
    run(b, "SET", "k", "v"); run(a, "WATCH", "k"); run(b, "SWAPDB", "0", "1"); run(a, "MULTI")
    run(a, "EXEC"); run(b, "SWAPDB", "0", "1")
    run(b, "SET", "t", "v", "PX", "30"); run(a, "WATCH", "t"); time.sleep(0.1); run(a, "MULTI")
    run(a, "EXEC")
    # UNWATCH, and watching a missing key that stays missing
    run(a, "WATCH", "k"); run(b, "SET", "k", "z"); run(a, "UNWATCH"); run(a, "MULTI"); run(a, "EXEC")
    run(a, "WATCH", "missing"); run(a, "MULTI"); run(a, "GET", "missing"); run(a, "EXEC")
    # RESP3 EXEC and a null for a broken transaction
    a.call("HELLO", "3")
    run(a, "WATCH", "k"); run(b, "INCR", "n"); run(b, "SET", "k", "q"); run(a, "MULTI"); run(a, "EXEC")
    run(a, "MULTI"); run(a, "GET", "k"); run(a, "EXEC")
    return out


def test_transactions_match_reference(surge_server, redis_ref_server):
    assert scenario_transactions(surge_server.port) == scenario_transactions(redis_ref_server.port)


def scenario_pubsub(port):
    sub = RespClient("127.0.0.1", port)
    pub = RespClient("127.0.0.1", port)
    out = []
    out.append(sub.call("SUBSCRIBE", "news", "sport"))
    out.append(sub.read_reply())
    out.append(sub.call("PSUBSCRIBE", "n*"))
    out.append(pub.call("PUBLISH", "news", "hello"))
    out.append(sub.read_reply())
    out.append(sub.read_reply())
    out.append(pub.call("PUBLISH", "nothing-here", "x"))
    out.append(sub.read_reply())
    out.append(pub.call("PUBSUB", "NUMSUB", "news", "sport", "none"))
    out.append(pub.call("PUBSUB", "NUMPAT"))
    out.append(sorted(pub.call("PUBSUB", "CHANNELS")))
    out.append(sorted(pub.call("PUBSUB", "CHANNELS", "s*")))
    out.append(sub.call("GET", "x"))
    out.append(sub.call("PING", "hi"))
    out.append(sub.call("UNSUBSCRIBE", "sport"))
    out.append(sub.call("PUNSUBSCRIBE"))
    out.append(sub.call("SSUBSCRIBE", "sh"))
    out.append(pub.call("SPUBLISH", "sh", "m"))
    out.append(sub.read_reply())
    out.append(pub.call("PUBSUB", "SHARDCHANNELS"))
    out.append(pub.call("PUBSUB", "SHARDNUMSUB", "sh"))
    out.append(sub.call("RESET"))
    out.append(sub.call("GET", "x"))
    r3 = RespClient("127.0.0.1", port)
    r3.call("HELLO", "3")
    out.append(r3.call("SUBSCRIBE", "c3"))
    out.append(r3.call("SET", "in-resp3", "allowed"))
    out.append(pub.call("PUBLISH", "c3", "push"))
    out.append(r3.read_reply())
    return out


def test_pubsub_matches_reference(surge_server, redis_ref_server):
    assert scenario_pubsub(surge_server.port) == scenario_pubsub(redis_ref_server.port)


def test_redis_py_transactions_and_pubsub(surge):
    surge.set("balance", 10)
    with surge.pipeline(transaction=True) as p:
        p.watch("balance")
        bal = int(p.get("balance"))
        p.multi()
        p.set("balance", bal - 3)
        p.incr("ops")
        assert p.execute() == [True, 1]
    assert surge.get("balance") == b"7"
    # a concurrent change makes redis-py raise WatchError
    other = redis.Redis(host=surge.connection_pool.connection_kwargs["host"],
                        port=surge.connection_pool.connection_kwargs["port"])
    with surge.pipeline(transaction=True) as p:
        p.watch("balance")
        other.set("balance", 100)
        p.multi()
        p.set("balance", 0)
        with pytest.raises(redis.WatchError):
            p.execute()
    ps = surge.pubsub()
    ps.subscribe("ch")
    ps.psubscribe("c*")
    assert ps.get_message(timeout=1)["type"] == "subscribe"
    assert ps.get_message(timeout=1)["type"] == "psubscribe"
    assert other.publish("ch", "payload") == 2
    msgs = [ps.get_message(timeout=1), ps.get_message(timeout=1)]
    assert {m["type"] for m in msgs} == {"message", "pmessage"}
    assert all(m["data"] == b"payload" for m in msgs)
    ps.close()


def test_slow_subscriber_is_disconnected(start_surge):
    srv = start_surge("--client-output-buffer-limit", "pubsub 1mb 512kb 60")
    sub = socket.create_connection(("127.0.0.1", srv.port))
    sub.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sub.sendall(b"SUBSCRIBE firehose\r\n")
    time.sleep(0.2)
    pub = srv.client()
    payload = b"x" * 10000
    receivers = []
    for _ in range(2000):  # 20 MB offered to a subscriber that never reads
        receivers.append(pub.publish("firehose", payload))
        if receivers[-1] == 0:
            break
    assert receivers[-1] == 0, "the slow subscriber was never cut off"
    info = pub.info("stats")
    assert info["client_output_buffer_limit_disconnections"] >= 1
    assert int(pub.info("memory")["used_memory"]) < 64 * 1024 * 1024
    sub.close()
