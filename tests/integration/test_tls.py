"""TLS (tls-port and the tls-* directives, docs/tls.md).

Certificates are made here with the openssl CLI: a CA, a server certificate
for 127.0.0.1/localhost, a client certificate, a second server certificate
(for rotation) and an unrelated CA (for the wrong-CA case).
"""
import os
import shutil
import socket
import ssl
import subprocess
import time

import pytest
import redis

from conftest import find_free_port, surge_binary

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI missing")


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _make_ca(d, name):
    _openssl("req", "-x509", "-new", "-nodes", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-keyout", name + ".key", "-out", name + ".crt",
             "-days", "2", "-subj", "/CN=" + name, cwd=d)


def _make_leaf(d, name, ca, cn, ext):
    with open(os.path.join(d, name + ".ext"), "w") as f:
        f.write(ext)
    _openssl("req", "-new", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + cn, cwd=d)
    _openssl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".crt", "-CAkey", ca + ".key",
             "-CAcreateserial", "-out", name + ".crt", "-days", "2", "-extfile", name + ".ext",
             cwd=d)


SERVER_EXT = ("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
              "extendedKeyUsage=serverAuth\n")
CLIENT_EXT = "extendedKeyUsage=clientAuth\n"


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("certs"))
    _make_ca(d, "ca")
    _make_ca(d, "otherca")
    _make_leaf(d, "server", "ca", "surge-server", SERVER_EXT)
    _make_leaf(d, "server2", "ca", "surge-rotated", SERVER_EXT)
    _make_leaf(d, "client", "ca", "surge-client", CLIENT_EXT)
    return {k: os.path.join(d, k) for k in
            ("ca.crt", "otherca.crt", "server.crt", "server.key", "server2.crt", "server2.key",
             "client.crt", "client.key")}


def _tls_args(certs, port, *extra):
    return ("--tls-port", str(port), "--tls-cert-file", certs["server.crt"],
            "--tls-key-file", certs["server.key"], "--tls-ca-cert-file", certs["ca.crt"],
            "--loglevel", "verbose") + tuple(extra)


@pytest.fixture
def tls_server(start_surge, certs):
    port = find_free_port()
    srv = start_surge(*_tls_args(certs, port))
    srv.tls_port = port
    return srv


def _client(srv, certs, cert=True, ca="ca.crt", **kw):
    args = dict(host="127.0.0.1", port=srv.tls_port, ssl=True, ssl_ca_certs=certs[ca],
                ssl_cert_reqs="required", socket_timeout=10)
    if cert:
        args.update(ssl_certfile=certs["client.crt"], ssl_keyfile=certs["client.key"])
    args.update(kw)
    return redis.Redis(**args)


def _ssl_context(certs, cert=True, minv=None, maxv=None):
    ctx = ssl.create_default_context(cafile=certs["ca.crt"])
    if cert:
        ctx.load_cert_chain(certs["client.crt"], certs["client.key"])
    if minv:
        ctx.minimum_version = minv
    if maxv:
        ctx.maximum_version = maxv
    return ctx


def _tls_ping(port, ctx):
    """PING over a fresh TLS connection: (reply line, TLS version, peer CN)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            s.sendall(b"*1\r\n$4\r\nPING\r\n")
            data = b""
            while b"\r\n" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            cn = dict(x[0] for x in s.getpeercert()["subject"])["commonName"]
            return data.split(b"\r\n")[0], s.version(), cn


def test_redis_py_set_get_pipeline_big_values(tls_server, certs):
    r = _client(tls_server, certs)
    assert r.ping()
    assert r.set("k", "v")
    assert r.get("k") == b"v"
    p = r.pipeline(transaction=False)
    for i in range(2000):
        p.set("p%d" % i, "x" * (i % 50))
    for i in range(2000):
        p.get("p%d" % i)
    out = p.execute()
    assert out[:2000] == [True] * 2000
    assert out[2000:] == [b"x" * (i % 50) for i in range(2000)]
    big = os.urandom(1024 * 1024)
    assert r.set("big", big)
    assert r.get("big") == big
    # several big values in one pipeline: partial TLS writes and reads
    p = r.pipeline(transaction=False)
    for i in range(4):
        p.set("big%d" % i, big[i:] + big[:i])
    for i in range(4):
        p.get("big%d" % i)
    out = p.execute()
    assert out[4:] == [big[i:] + big[:i] for i in range(4)]
    # the plain port still works beside the TLS one
    plain = tls_server.client()
    assert plain.get("k") == b"v"


def test_redis_cli_tls(tls_server, certs):
    cli = shutil.which("redis-cli")
    if not cli:
        pytest.skip("redis-cli missing")
    base = [cli, "--tls", "--cacert", certs["ca.crt"], "--cert", certs["client.crt"], "--key",
            certs["client.key"], "-h", "127.0.0.1", "-p", str(tls_server.tls_port)]
    out = subprocess.run(base + ["SET", "cli", "hello"], capture_output=True, text=True,
                         timeout=10)
    assert out.stdout.strip() == "OK", out.stderr
    out = subprocess.run(base + ["GET", "cli"], capture_output=True, text=True, timeout=10)
    assert out.stdout.strip() == "hello"
    # a big value written by redis-cli (-x reads it from stdin)
    big = "y" * (1024 * 1024)
    out = subprocess.run(base + ["-x", "SET", "clibig"], input=big, capture_output=True,
                         text=True, timeout=20)
    assert out.stdout.strip() == "OK", out.stderr
    assert _client(tls_server, certs).strlen("clibig") == len(big)


def test_wrong_ca_fails(tls_server, certs):
    r = _client(tls_server, certs, ca="otherca.crt")
    with pytest.raises(redis.exceptions.ConnectionError):
        r.ping()


def test_client_certificate_required_then_no_then_optional(tls_server, certs):
    with pytest.raises(redis.exceptions.ConnectionError):
        _client(tls_server, certs, cert=False).ping()
    admin = tls_server.client()
    assert admin.config_get("tls-auth-clients") == {"tls-auth-clients": "yes"}
    admin.config_set("tls-auth-clients", "no")
    assert _client(tls_server, certs, cert=False).ping()
    admin.config_set("tls-auth-clients", "optional")
    assert _client(tls_server, certs, cert=False).ping()
    assert _client(tls_server, certs).ping()  # a valid certificate is still fine


def test_plaintext_on_tls_port_is_closed(tls_server):
    with socket.create_connection(("127.0.0.1", tls_server.tls_port), timeout=5) as s:
        s.sendall(b"*1\r\n$4\r\nPING\r\n")
        data = b""
        while True:
            try:
                chunk = s.recv(4096)
            except ConnectionResetError:  # closed with our bytes unread: a reset
                break
            if not chunk:
                break
            data += chunk
        assert b"PONG" not in data
    deadline = time.time() + 5
    while time.time() < deadline and b"TLS handshake failed" not in open(
            tls_server.log_path, "rb").read():
        time.sleep(0.05)
    assert b"TLS handshake failed" in open(tls_server.log_path, "rb").read()
    assert tls_server.client().ping()  # the server is fine


def test_unfinished_handshake_is_closed_after_deadline(tls_server, certs):
    admin = tls_server.client()
    admin.config_set("tls-handshake-timeout", "500")
    t0 = time.time()
    with socket.create_connection(("127.0.0.1", tls_server.tls_port), timeout=10) as s:
        assert s.recv(4096) == b""  # closed by the server, nothing sent
    elapsed = time.time() - t0
    assert 0.4 <= elapsed < 5, elapsed
    # a client that completes its handshake is not affected
    r = _client(tls_server, certs)
    assert r.ping()
    time.sleep(0.8)
    assert r.ping()


def test_config_set_cert_rotation(tls_server, certs):
    old = _client(tls_server, certs)
    assert old.set("before", "1")
    assert _tls_ping(tls_server.tls_port, _ssl_context(certs))[2] == "surge-server"
    admin = tls_server.client()
    admin.execute_command("CONFIG", "SET", "tls-cert-file", certs["server2.crt"], "tls-key-file",
                          certs["server2.key"])
    reply, _, cn = _tls_ping(tls_server.tls_port, _ssl_context(certs))
    assert reply == b"+PONG" and cn == "surge-rotated"
    assert old.get("before") == b"1"  # the old connection keeps working
    # a bad file is refused and the current context stays
    with pytest.raises(redis.exceptions.ResponseError, match="TLS"):
        admin.config_set("tls-cert-file", "/nonexistent.crt")
    assert admin.config_get("tls-cert-file")["tls-cert-file"] == certs["server2.crt"]
    assert _tls_ping(tls_server.tls_port, _ssl_context(certs))[2] == "surge-rotated"


def test_protocol_versions(tls_server, certs):
    port = tls_server.tls_port
    v12 = ssl.TLSVersion.TLSv1_2
    v13 = ssl.TLSVersion.TLSv1_3
    assert _tls_ping(port, _ssl_context(certs))[1] == "TLSv1.3"
    admin = tls_server.client()
    admin.config_set("tls-protocols", "TLSv1.2")
    reply, ver, _ = _tls_ping(port, _ssl_context(certs))
    assert (reply, ver) == (b"+PONG", "TLSv1.2")
    with pytest.raises((ssl.SSLError, ConnectionError)):
        _tls_ping(port, _ssl_context(certs, minv=v13))
    admin.config_set("tls-protocols", "TLSv1.3")
    assert _tls_ping(port, _ssl_context(certs))[1] == "TLSv1.3"
    with pytest.raises((ssl.SSLError, ConnectionError)):
        _tls_ping(port, _ssl_context(certs, maxv=v12))
    with pytest.raises(redis.exceptions.ResponseError):
        admin.config_set("tls-protocols", "SSLv3")
    assert admin.config_get("tls-protocols")["tls-protocols"] == "TLSv1.3"


def test_tls_only_with_port_zero(tmp_path, certs):
    port = find_free_port()
    log = open(tmp_path / "surge.log", "wb")
    p = subprocess.Popen([surge_binary(), "--port", "0", "--bind", "127.0.0.1", "--dir",
                          str(tmp_path), *_tls_args(certs, port)], stdout=log,
                         stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 10
        while True:
            try:
                if _tls_ping(port, _ssl_context(certs))[0] == b"+PONG":
                    break
            except OSError:
                pass
            assert time.time() < deadline and p.poll() is None, "server did not start"
            time.sleep(0.05)
    finally:
        p.terminate()
        p.wait(10)
        log.close()


def test_bad_certificate_at_startup_refuses_to_start(tmp_path, certs):
    out = subprocess.run([surge_binary(), "--port", "0", "--bind", "127.0.0.1", "--dir",
                          str(tmp_path), "--tls-port", str(find_free_port()),
                          "--tls-cert-file", certs["server.crt"], "--tls-key-file",
                          certs["client.key"], "--tls-auth-clients", "no"],
                         capture_output=True, text=True, timeout=10)
    assert out.returncode != 0
    assert "Failed to configure TLS" in out.stdout + out.stderr
