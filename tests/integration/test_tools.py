"""Stock Redis tools (redis-cli, redis-benchmark) against the server.

Run against the reference with:
    SURGE_SERVER=/usr/bin/redis-server python3 -m pytest tests/integration/test_tools.py
"""

import csv
import io
import os
import shutil
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rawsock import encode_cmd, parse_frame, server  # noqa: E402

REDIS_CLI = shutil.which("redis-cli") or "/usr/bin/redis-cli"
REDIS_BENCHMARK = shutil.which("redis-benchmark") or "/usr/bin/redis-benchmark"

needs_cli = pytest.mark.skipif(not os.path.exists(REDIS_CLI), reason="redis-cli not installed")
needs_bench = pytest.mark.skipif(not os.path.exists(REDIS_BENCHMARK), reason="redis-benchmark not installed")


@pytest.fixture(scope="module")
def srv():
    with server() as s:
        yield s


def cli(srv, *args, stdin=None, timeout=20):
    p = subprocess.run([REDIS_CLI, "-h", srv.host, "-p", str(srv.port), *args],
                       input=stdin, capture_output=True, timeout=timeout)
    return p


def cli_out(srv, *args, **kw):
    p = cli(srv, *args, **kw)
    assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
    return p.stdout.decode()


@needs_cli
def test_cli_set_get(srv):
    assert cli_out(srv, "set", "tools:a", "b") == "OK\n"
    assert cli_out(srv, "get", "tools:a") == "b\n"
    assert cli_out(srv, "--no-raw", "get", "tools:a") == '"b"\n'
    assert cli_out(srv, "--no-raw", "get", "tools:missing") == "(nil)\n"
    assert cli_out(srv, "ping") == "PONG\n"
    assert cli_out(srv, "echo", "hello world") == "hello world\n"
    assert cli_out(srv, "--no-raw", "incr", "tools:n") == "(integer) 1\n"


@needs_cli
def test_cli_error_reply(srv):
    out = cli_out(srv, "foo", "a")
    assert out.startswith("ERR unknown command 'foo'"), out


@needs_cli
def test_cli_resp3_hello(srv):
    out = cli_out(srv, "-3", "hello", "3")
    fields = {}
    for line in out.splitlines():
        k, _, v = line.partition(" ")
        fields[k] = v
    assert set(fields) >= {"server", "version", "proto", "id", "mode", "role", "modules"}, out
    assert fields["proto"] == "3"
    assert cli_out(srv, "-3", "--no-raw", "get", "tools:missing") == "(nil)\n"
    assert cli_out(srv, "-3", "set", "tools:r3", "v") == "OK\n"
    assert cli_out(srv, "-3", "get", "tools:r3") == "v\n"


@needs_cli
def test_cli_info_parses(srv):
    out = cli_out(srv, "info")
    assert "# Server" in out
    fields = {}
    for line in out.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        assert ":" in line, "INFO line without ':' -> %r" % line
        k, _, v = line.partition(":")
        fields[k] = v
    assert fields, out
    # per-section INFO works too
    out = cli_out(srv, "info", "server")
    assert out.lstrip().startswith("# Server")


@needs_cli
def test_cli_pipe_mass_insertion(srv):
    n = 10000
    data = b"".join(encode_cmd("SET", "tools:mass:%d" % i, "v%d" % i) for i in range(n))
    p = cli(srv, "--pipe", stdin=data, timeout=30)
    out = (p.stdout + p.stderr).decode()
    assert p.returncode == 0, out
    assert "errors: 0, replies: %d" % n in out, out
    assert cli_out(srv, "get", "tools:mass:9999") == "v9999\n"
    assert cli_out(srv, "get", "tools:mass:0") == "v0\n"


def parse_benchmark_csv(text):
    rows = list(csv.reader(io.StringIO(text)))
    header = rows[0]
    assert header[:2] == ["test", "rps"], text
    return {r[0]: float(r[1]) for r in rows[1:] if r}


# Bounded to < 30 s by the subprocess timeout (pytest-timeout is not installed).
@needs_bench
@pytest.mark.parametrize("pipeline", [1, 16], ids=["P1", "P16"])
def test_redis_benchmark(srv, pipeline):
    cmd = [REDIS_BENCHMARK, "-h", srv.host, "-p", str(srv.port), "-t", "set,get,incr,mset,ping",
           "-n", "20000", "-c", "20", "-P", str(pipeline), "--csv"]
    p = subprocess.run(cmd, capture_output=True, timeout=30)
    out, err = p.stdout.decode(), p.stderr.decode()
    assert p.returncode == 0, (out, err)
    assert "Error" not in err, err
    res = parse_benchmark_csv(out)
    expected = {"PING_INLINE", "PING_MBULK", "SET", "GET", "INCR", "MSET (10 keys)"}
    assert set(res) == expected, res
    for name, rps in res.items():
        assert rps > 0, (name, rps)


@needs_bench
def test_redis_benchmark_quiet_output(srv):
    p = subprocess.run([REDIS_BENCHMARK, "-h", srv.host, "-p", str(srv.port), "-t", "set,get",
                        "-n", "5000", "-q"], capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr
    # -q output uses \r progress lines; the final line of each test ends with "requests per second"
    lines = [seg.strip() for seg in p.stdout.decode().replace("\r", "\n").splitlines()]
    done = {ln.split(":")[0]: float(ln.split(":")[1].split()[0]) for ln in lines
            if "requests per second" in ln}
    assert set(done) == {"SET", "GET"}, p.stdout
    assert all(v > 0 for v in done.values()), done


def test_counter_after_tools(srv):
    # the server is still healthy after all the tool traffic
    with srv.conn() as c:
        assert c.cmd("PING") == b"+PONG\r\n"
        n = parse_frame(c.cmd("DBSIZE"))
        assert n >= 10000
