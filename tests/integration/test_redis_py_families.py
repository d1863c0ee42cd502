"""Each data-type family through redis-py 4.3's own API, in plain calls,
non-transactional pipelines and MULTI/EXEC pipelines: what an application
using Surge as cache, session store, leaderboard, queue or bus does."""
import threading
import time

import redis


def test_hashes_as_session_store(surge):
    surge.hset("session:1", mapping={"user": "ada", "visits": 1})
    with surge.pipeline(transaction=True) as p:
        p.hincrby("session:1", "visits", 2)
        p.hincrbyfloat("session:1", "score", 1.5)
        p.expire("session:1", 3600)
        p.hgetall("session:1")
        res = p.execute()
    assert res[0] == 3 and res[1] == 1.5 and res[2] is True
    assert res[3] == {b"user": b"ada", b"visits": b"3", b"score": b"1.5"}
    assert surge.hmget("session:1", "user", "nope") == [b"ada", None]
    assert sorted(surge.hkeys("session:1")) == [b"score", b"user", b"visits"]
    assert dict(surge.hscan_iter("session:1")) == surge.hgetall("session:1")
    assert surge.hrandfield("session:1") in (b"user", b"visits", b"score")
    assert 0 < surge.ttl("session:1") <= 3600


def test_lists_as_queue(surge):
    with surge.pipeline(transaction=False) as p:
        for i in range(100):
            p.rpush("queue", f"job-{i}")
        assert p.execute()[-1] == 100
    assert surge.lpop("queue") == b"job-0"
    assert surge.lpop("queue", 2) == [b"job-1", b"job-2"]
    assert surge.lrange("queue", 0, 2) == [b"job-3", b"job-4", b"job-5"]
    assert surge.lmove("queue", "done", "LEFT", "RIGHT") == b"job-3"
    assert surge.lpos("queue", "job-50") == 46
    assert surge.llen("queue") == 96

    def producer():
        time.sleep(0.1)
        redis.Redis(**surge.connection_pool.connection_kwargs).rpush("empty", "late")

    threading.Thread(target=producer).start()
    assert surge.blpop("empty", timeout=5) == (b"empty", b"late")


def test_sets_as_tags(surge):
    surge.sadd("tags:a", "x", "y", "z")
    surge.sadd("tags:b", "y", "z", "w")
    assert surge.sinter("tags:a", "tags:b") == {b"y", b"z"}
    assert surge.sunion("tags:a", "tags:b") == {b"w", b"x", b"y", b"z"}
    assert surge.sdiff("tags:a", "tags:b") == {b"x"}
    assert surge.smismember("tags:a", ["x", "w"]) == [1, 0]
    with surge.pipeline() as p:
        p.sinterstore("both", ["tags:a", "tags:b"]).scard("both").smembers("both")
        assert p.execute() == [2, 2, {b"y", b"z"}]
    assert set(surge.sscan_iter("tags:a")) == {b"x", b"y", b"z"}


def test_sorted_sets_as_leaderboard(surge):
    surge.zadd("board", {"ada": 30, "bob": 10, "cy": 20})
    surge.zincrby("board", 25, "bob")
    assert surge.zrevrange("board", 0, 1, withscores=True) == [(b"bob", 35.0), (b"ada", 30.0)]
    assert surge.zrank("board", "cy") == 0
    assert surge.zscore("board", "ada") == 30.0
    assert surge.zrangebyscore("board", 15, 31) == [b"cy", b"ada"]
    assert surge.zpopmin("board") == [(b"cy", 20.0)]
    with surge.pipeline() as p:
        p.zadd("board", {"dee": 5}, nx=True).zcard("board").zcount("board", "-inf", "+inf")
        assert p.execute() == [1, 3, 3]
    assert dict(surge.zscan_iter("board")) == {b"dee": 5.0, b"ada": 30.0, b"bob": 35.0}


def test_bitmaps_and_hyperloglog(surge):
    for day in (1, 3, 5):
        surge.setbit("active", day, 1)
    assert surge.bitcount("active") == 3
    assert surge.getbit("active", 3) == 1 and surge.getbit("active", 2) == 0
    assert surge.bitfield("bf").incrby("u8", 0, 200).incrby("u8", 0, 100).execute() == [200, 44]
    surge.pfadd("visitors", *[f"u{i}" for i in range(1000)])
    assert 980 <= surge.pfcount("visitors") <= 1020


def test_transactions_and_pubsub(surge):
    other = redis.Redis(**surge.connection_pool.connection_kwargs)
    surge.set("stock", 1)

    def buy(pipe):
        n = int(pipe.get("stock"))
        pipe.multi()
        pipe.set("stock", n - 1)

    assert surge.transaction(buy, "stock") == [True]
    assert surge.get("stock") == b"0"
    ps = surge.pubsub(ignore_subscribe_messages=True)
    ps.subscribe("events")
    time.sleep(0.05)
    assert other.publish("events", "hello") == 1
    msg = None
    for _ in range(20):
        msg = ps.get_message(timeout=0.1)
        if msg:
            break
    assert msg and msg["data"] == b"hello"
    ps.close()
