"""Observability: the Prometheus /metrics endpoint, the deploy/ artifacts
(alert rules, Grafana dashboard), docs/observability.md, SLOWLOG, LATENCY,
INFO latencystats and the log formats.

What needs Surge's own features (the /metrics endpoint, log-format json) is
skipped when the server under test is the reference redis-server
(``SURGE_SERVER=/usr/bin/redis-server``); SLOWLOG and LATENCY tests run
against either and compare Surge with the reference.

Tools: ``promtool`` and ``prometheus`` from Debian's prometheus package
(scripts/deps.sh installs it); tests that need them skip, with a message,
when they are missing.
"""

import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import redis

_HERE = Path(__file__).resolve().parent
if str(_HERE) not in sys.path:
    sys.path.insert(0, str(_HERE))

from conftest import find_free_port, surge_binary  # noqa: E402
from resp_client import RespError, RespMap  # noqa: E402

ROOT = _HERE.parents[1]
PROM_DIR = ROOT / "deploy" / "prometheus"
ALERTS = PROM_DIR / "surge-alerts.yml"
ALERT_TESTS = PROM_DIR / "tests" / "surge-alerts.test.yml"
PROM_CONFIG = PROM_DIR / "prometheus.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "surge-dashboard.json"
DOC = ROOT / "docs" / "observability.md"
PROMETHEUS = "/usr/bin/prometheus"

HTTP_DEADLINE_S = 5.0       # METRICS_DEADLINE_US in src/obs/metrics.c
HTTP_MAX_CONNS = 32         # METRICS_MAX_CONNS
HTTP_MAX_HEAD = 8192        # METRICS_MAX_REQUEST


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

def is_reference():
    return os.path.basename(surge_binary()).startswith("redis-server")


def require_surge_features():
    if is_reference():
        pytest.skip("Surge-only: the reference redis-server has no /metrics endpoint "
                    "and no log-format")


def promtool():
    path = shutil.which("promtool") or "/usr/bin/promtool"
    if not os.access(path, os.X_OK):
        pytest.skip("promtool not installed (Debian package prometheus; scripts/deps.sh)")
    return path


def start_with_metrics(start_surge, *args):
    """A Surge server with its /metrics endpoint on a free port (.metrics_port)."""
    require_surge_features()
    mport = find_free_port()
    srv = start_surge("--metrics-port", str(mport), *args)
    srv.metrics_port = mport
    deadline = time.monotonic() + 5
    while True:
        try:
            socket.create_connection(("127.0.0.1", mport), timeout=1).close()
            return srv
        except OSError:
            if time.monotonic() > deadline:
                pytest.fail("metrics endpoint not listening on %d\n%s" % (mport, srv.log_tail()))
            time.sleep(0.05)


def http_exchange(port, data, timeout=5.0):
    """Send raw bytes to the endpoint and read until the server closes.

    Returns (status, headers, body, raw); status None when the server
    closed without an HTTP response.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.settimeout(timeout)
        if data:
            s.sendall(data)
        raw = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            raw += chunk
    return parse_http(raw) + (raw,)


def parse_http(raw):
    if not raw:
        return None, {}, b""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/1\.[01] (\d{3}) ", lines[0])
    assert m, "not an HTTP status line: %r" % lines[0]
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return int(m.group(1)), headers, body


def http_request(port, method="GET", path="/metrics", extra=b""):
    req = ("%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % (method, path, port)).encode() \
        + extra + b"\r\n"
    return http_exchange(port, req)


def scrape(port):
    status, headers, body, _ = http_request(port)
    assert status == 200, "GET /metrics answered %r" % status
    assert headers.get("content-type", "").startswith("text/plain; version=0.0.4")
    assert int(headers["content-length"]) == len(body)
    return Exposition(body.decode("utf-8"))


_SAMPLE_RE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$")
_LABEL_RE = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(?:,|$)')


def _unescape(v):
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), v)


class Exposition:
    """A parsed text-format (0.0.4) scrape."""

    def __init__(self, text):
        self.text = text
        self.types = {}       # family -> type
        self.samples = []     # (name, labels dict, value)
        for line in text.splitlines():
            if line.startswith("# TYPE "):
                _, _, name, typ = line.split(" ", 3)
                assert name not in self.types, "TYPE given twice for %s" % name
                self.types[name] = typ
            elif line and not line.startswith("#"):
                m = _SAMPLE_RE.match(line)
                assert m, "unparsable sample line: %r" % line
                labels = {}
                if m.group(2):
                    pos = 0
                    body = m.group(2)
                    while pos < len(body):
                        lm = _LABEL_RE.match(body, pos)
                        assert lm, "bad labels in %r" % line
                        labels[lm.group(1)] = _unescape(lm.group(2))
                        pos = lm.end()
                self.samples.append((m.group(1), labels, float(m.group(3))))

    def family_of(self, sample_name):
        if sample_name in self.types:
            return sample_name
        for suffix in ("_bucket", "_sum", "_count"):
            base = sample_name[:-len(suffix)]
            if sample_name.endswith(suffix) and self.types.get(base) == "histogram":
                return base
        return None

    def sample_names(self):
        """Every sample name the families can produce (histograms: 3 each)."""
        names = set()
        for fam, typ in self.types.items():
            if typ == "histogram":
                names |= {fam + "_bucket", fam + "_sum", fam + "_count"}
            else:
                names.add(fam)
        return names

    def labels_of(self, family):
        keys = set()
        for name, labels, _ in self.samples:
            if self.family_of(name) == family:
                keys |= set(labels) - {"le"}
        return keys

    def get(self, name, **labels):
        found = [v for n, lab, v in self.samples if n == name and lab == labels]
        assert len(found) == 1, "%s%r: %d samples\n" % (name, labels, len(found))
        return found[0]

    def series(self, name):
        return [(lab, v) for n, lab, v in self.samples if n == name]


def info_dict(r):
    """INFO EVERYTHING on a :func:`single_client` connection, as {field: text}."""
    out = {}
    for line in r.execute_command("INFO", "everything").decode().split("\r\n"):
        if line and not line.startswith("#"):
            k, _, v = line.partition(":")
            out[k] = v
    return out


def subfields(value):
    """'calls=2,usec=5' -> {'calls': '2', 'usec': '5'}"""
    return dict(item.split("=", 1) for item in value.split(","))


def make_traffic(r):
    """Commands of several kinds, errors included; returns what was sent."""
    sent = {"set": 0, "get": 0}
    for i in range(25):
        r.set("key:%d" % i, "v%d" % i)
        sent["set"] += 1
    r.set("ttl:a", "x", ex=1000)
    r.set("ttl:b", "x", px=500000)
    sent["set"] += 2
    for i in range(30):          # 25 hits, 5 misses
        r.get("key:%d" % i)
        sent["get"] += 1
    r.incr("counter")
    r.execute_command("SELECT", 1)
    r.set("db1:key", "x")
    sent["set"] += 1
    r.execute_command("SELECT", 0)
    for bad in (("NOSUCHCOMMAND", "a"), ("SET", "only-key"), ("INCR", "key:1"),
                ("GET", "a", "b"), ("DECRBY", "only-key")):   # DECRBY: refused, never run
        with pytest.raises(redis.ResponseError):
            r.execute_command(*bad)
    return sent


def single_client(srv):
    """A redis.Redis on exactly one connection; INFO replies left as raw bytes."""
    r = srv.client(decode_responses=False, single_connection_client=True)
    r.set_response_callback("INFO", lambda response, **options: response)
    return r


# -- PromQL: which metric names does an expression read? ----------------------

PROMQL_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or",
                   "unless", "bool", "offset", "inf", "nan"}


def promql_metric_names(expr):
    s = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    s = re.sub(r"'(?:[^'\\]|\\.)*'", "''", s)
    s = re.sub(r"\{[^}]*\}", " ", s)                  # label matchers
    s = re.sub(r"\[[^\]]*\]", " ", s)                 # range selectors
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)
    names = set()
    for m in re.finditer(r"(?<![\w.:$])([a-zA-Z_:][a-zA-Z0-9_:]*)", s):
        tok = m.group(1)
        if s[m.end():].lstrip().startswith("("):
            continue                                  # a function or aggregation
        if tok.lower() in PROMQL_KEYWORDS:
            continue
        names.add(tok)
    return names


def test_promql_metric_name_extraction():
    """The checker itself: it must find metrics and skip everything else."""
    e = ('histogram_quantile(0.99, sum by (cmd, le) (rate(surge_command_duration_seconds_bucket'
         '{job=~"$job", cmd="get"}[$__rate_interval]))) / ignoring(x) group_left (y) '
         'redis_up offset 5m > 0.9 and on (instance) up')
    assert promql_metric_names(e) == {"surge_command_duration_seconds_bucket", "redis_up", "up"}
    assert promql_metric_names('sum(rate(a_total[5m])) by (cmd) + b') == {"a_total", "b"}


def dashboard_expressions(dash):
    """[(where, promql)] for every target and templating query."""
    out = []

    def walk(panels):
        for p in panels:
            for t in p.get("targets", []):
                out.append(("panel %r target %s" % (p.get("title"), t.get("refId")), t["expr"]))
            walk(p.get("panels", []))

    walk(dash.get("panels", []))
    for v in dash.get("templating", {}).get("list", []):
        if v.get("type") != "query":
            continue
        q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
        m = re.fullmatch(r"\s*label_values\((.*),\s*\w+\s*\)\s*", q)
        assert m, "templating query %r is not label_values(<selector>, <label>)" % q
        out.append(("variable %s" % v["name"], m.group(1)))
    return out


def alert_rules_text():
    """[(alert name, expr)] from surge-alerts.yml, read without a YAML library."""
    try:
        import yaml
    except ImportError:
        yaml = None
    if yaml is not None:
        doc = yaml.safe_load(ALERTS.read_text())
        return [(r["alert"], r["expr"]) for g in doc["groups"] for r in g["rules"]]
    # Fallback: promtool has validated the file; pull the names and expressions out.
    rules = []
    text = ALERTS.read_text()
    for m in re.finditer(r"^\s*- alert: (\w+)\n(.*?)(?=^\s*- alert:|\Z)", text, re.M | re.S):
        em = re.search(r"expr: (?:>-\n)?(.*?)\n\s*(?:for|labels):", m.group(2), re.S)
        rules.append((m.group(1), " ".join(em.group(1).split())))
    return rules


# ---------------------------------------------------------------------------
# promtool: the exposition and the deploy/ rules
# ---------------------------------------------------------------------------

def test_promtool_check_metrics_accepts_endpoint(start_surge):
    tool = promtool()
    srv = start_with_metrics(start_surge)
    r = single_client(srv)
    make_traffic(r)
    text = scrape(srv.metrics_port).text
    assert 'redis_errors_total{err="ERR"}' in text, "traffic should have produced errors"
    res = subprocess.run([tool, "check", "metrics"], input=text.encode(), capture_output=True,
                         timeout=30)
    assert res.returncode == 0 and not res.stdout.strip() and not res.stderr.strip(), \
        "promtool check metrics: rc=%d\n%s%s" % (res.returncode, res.stdout.decode(),
                                                 res.stderr.decode())


def test_promtool_check_rules():
    res = subprocess.run([promtool(), "check", "rules", str(ALERTS)], capture_output=True,
                         text=True, timeout=30)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "SUCCESS" in res.stdout


def test_promtool_test_rules():
    res = subprocess.run([promtool(), "test", "rules", str(ALERT_TESTS)], capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr


def test_promtool_check_example_config():
    res = subprocess.run([promtool(), "check", "config", str(PROM_CONFIG)], capture_output=True,
                         text=True, timeout=30)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "localhost:9121" in PROM_CONFIG.read_text()


def test_every_alert_is_unit_tested_and_labelled():
    """Each rule has severity/summary/description and is fired by a unit test."""
    text = ALERTS.read_text()
    names = [n for n, _ in alert_rules_text()]
    assert len(names) >= 6 and len(set(names)) == len(names)
    for m in re.finditer(r"^\s*- alert: (\w+)\n(.*?)(?=^\s*- alert:|^\s*#\s*-- |\Z)",
                         text, re.M | re.S):
        body = m.group(2)
        assert re.search(r"^\s+severity: (critical|warning|info)\s*$", body, re.M), m.group(1)
        assert re.search(r"^\s+summary: ", body, re.M), m.group(1)
        assert re.search(r"^\s+description: ", body, re.M), m.group(1)
    tests = ALERT_TESTS.read_text()
    for name in names:
        # a firing case: an alertname followed by a non-empty exp_alerts list
        assert re.search(r"alertname: %s\n\s+exp_alerts:\n\s+- exp_labels" % name, tests), \
            "%s is never fired in %s" % (name, ALERT_TESTS.name)
    assert re.search(r"exp_alerts: \[\]", tests), "no must-not-fire case"
    # Persistence has no metric yet: only a commented-out block may mention it.
    live = "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("#"))
    assert "rdb_" not in live and "aof_" not in live


def test_alert_rules_use_only_emitted_metrics(start_surge):
    srv = start_with_metrics(start_surge)
    emitted = scrape(srv.metrics_port).sample_names() | {"up"}  # up: written by Prometheus
    for name, expr in alert_rules_text():
        used = promql_metric_names(expr)
        assert used, "%s: no metric found in %r" % (name, expr)
        assert used <= emitted, "%s uses metrics the endpoint does not emit: %s" % (
            name, sorted(used - emitted))


# ---------------------------------------------------------------------------
# Grafana dashboard
# ---------------------------------------------------------------------------

def load_dashboard():
    with open(DASHBOARD) as f:
        return json.load(f)   # must be valid JSON


def test_dashboard_structure():
    dash = load_dashboard()
    assert 30 <= dash["schemaVersion"] <= 39, dash["schemaVersion"]
    inputs = {i["name"]: i for i in dash["__inputs"]}
    assert inputs["DS_PROMETHEUS"]["pluginId"] == "prometheus"
    assert dash["title"] and dash["uid"]
    ids = []

    def walk(panels):
        for p in panels:
            ids.append(p["id"])
            assert {"x", "y", "w", "h"} <= set(p["gridPos"]), p["title"]
            if p["type"] != "row":
                assert p["datasource"]["uid"] == "${DS_PROMETHEUS}", p["title"]
                assert p["targets"], p["title"]
                for t in p["targets"]:
                    assert t["datasource"]["uid"] == "${DS_PROMETHEUS}", p["title"]
            walk(p.get("panels", []))

    walk(dash["panels"])
    assert len(ids) == len(set(ids)), "duplicate panel ids"
    for v in dash["templating"]["list"]:
        assert v["datasource"]["uid"] == "${DS_PROMETHEUS}"


def test_dashboard_covers_the_required_panels():
    exprs = " ".join(e for _, e in dashboard_expressions(load_dashboard()))
    required = {
        "uptime": "redis_uptime_in_seconds",
        "clients": "redis_connected_clients",
        "memory used": "redis_memory_used_bytes",
        "memory max": "redis_memory_max_bytes",
        "hit ratio": "redis_keyspace_misses_total",
        "commands/s by command": "rate(redis_commands_total",
        "p99 by command": "histogram_quantile(0.99, sum by (cmd, le) "
                          "(rate(surge_command_duration_seconds_bucket",
        "errors by code": "sum by (err) (rate(redis_errors_total",
        "evictions": "redis_evicted_keys_total",
        "expirations": "redis_expired_keys_total",
        "keys per db": "sum by (db) (redis_db_keys",
        "network in": "redis_net_input_bytes_total",
        "network out": "redis_net_output_bytes_total",
        "event loop": "surge_event_loop_iteration_seconds_bucket",
        "cpu": "redis_cpu_user_seconds_total",
    }
    missing = [k for k, v in required.items() if v not in exprs]
    assert not missing, "dashboard lacks: %s" % missing


def test_dashboard_uses_only_emitted_metrics(start_surge):
    srv = start_with_metrics(start_surge)
    emitted = scrape(srv.metrics_port).sample_names()
    problems = []
    for where, expr in dashboard_expressions(load_dashboard()):
        used = promql_metric_names(expr)
        if not used:
            problems.append("%s: no metric in %r" % (where, expr))
        elif not used <= emitted:
            problems.append("%s: %s not emitted" % (where, sorted(used - emitted)))
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------------------
# docs/observability.md
# ---------------------------------------------------------------------------

def doc_metric_table():
    """{metric: (type, set of labels)} from the table rows of the doc."""
    rows = {}
    for line in DOC.read_text().splitlines():
        m = re.match(r"^\|\s*`([a-z_:][a-z0-9_:]*)`\s*\|\s*(\w+)\s*\|([^|]*)\|", line)
        if m and m.group(2) in ("gauge", "counter", "histogram", "summary"):
            assert m.group(1) not in rows, "%s listed twice" % m.group(1)
            rows[m.group(1)] = (m.group(2), set(re.findall(r"`(\w+)`", m.group(3))))
    return rows


def test_doc_lists_every_metric_and_only_those(start_surge):
    srv = start_with_metrics(start_surge)
    r = single_client(srv)
    make_traffic(r)   # so that every labelled family has samples
    exp = scrape(srv.metrics_port)
    doc = doc_metric_table()
    assert set(exp.types) - set(doc) == set(), "emitted but not documented"
    assert set(doc) - set(exp.types) == set(), "documented but not emitted"
    for fam, typ in exp.types.items():
        assert doc[fam][0] == typ, "%s: doc says %s, endpoint %s" % (fam, doc[fam][0], typ)
        assert doc[fam][1] == exp.labels_of(fam), "%s: doc labels %s, endpoint %s" % (
            fam, sorted(doc[fam][1]), sorted(exp.labels_of(fam)))


def test_doc_covers_alerts_tools_and_logging():
    text = DOC.read_text()
    for name, _ in alert_rules_text():
        assert name in text, "alert %s not described in the doc" % name
    for needle in ("deploy/prometheus/prometheus.yml", "deploy/grafana/surge-dashboard.json",
                   "763", "SLOWLOG GET", "LATENCY LATEST", "LATENCY HISTOGRAM",
                   "latencystats", "log-format", "latency-tracking no", "metrics-port",
                   "metrics-bind", "promtool"):
        assert needle in text, "doc does not mention %r" % needle


# ---------------------------------------------------------------------------
# a real Prometheus scraping a real Surge
# ---------------------------------------------------------------------------

class Prometheus:
    def __init__(self, tmp, target_port):
        self.dir = tmp
        self.port = find_free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        cfg = tmp / "prometheus.yml"
        cfg.write_text(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
            "rule_files:\n  - %s\n"
            "scrape_configs:\n  - job_name: surge\n    static_configs:\n"
            "      - targets: ['127.0.0.1:%d']\n" % (ALERTS, target_port))
        self.log_path = tmp / "prometheus.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [PROMETHEUS, "--config.file=%s" % cfg, "--storage.tsdb.path=%s" % (tmp / "tsdb"),
             "--web.listen-address=127.0.0.1:%d" % self.port],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT, cwd=str(tmp))

    def api(self, path, **params):
        url = "%s/api/v1/%s?%s" % (self.url, path, urllib.parse.urlencode(params))
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                return json.load(resp)
        except urllib.error.HTTPError as e:   # 400/422: the JSON says why
            return json.load(e)

    def query(self, q):
        res = self.api("query", query=q)
        assert res["status"] == "success", "%s: %s" % (q, res)
        return res["data"]["result"]

    def log_tail(self):
        try:
            return self.log_path.read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()


@pytest.fixture
def prometheus(tmp_path):
    if not os.access(PROMETHEUS, os.X_OK):
        pytest.skip("%s not installed (Debian package prometheus; scripts/deps.sh): "
                    "cannot run the end-to-end scrape test" % PROMETHEUS)
    started = []

    def start(target_port):
        d = tmp_path / ("prometheus-%d" % len(started))
        d.mkdir()
        p = Prometheus(d, target_port)
        started.append(p)
        return p

    yield start
    for p in started:
        p.stop()


def test_prometheus_scrapes_surge(start_surge, prometheus):
    srv = start_with_metrics(start_surge)
    r = single_client(srv)
    nsets = 17
    for i in range(nsets):
        r.set("p:%d" % (i % 11), i)       # 11 distinct keys, 17 SETs
    r.get("p:1")
    dbsize = r.dbsize()
    prom = prometheus(srv.metrics_port)

    deadline = time.monotonic() + 20
    result = []
    while time.monotonic() < deadline:
        if prom.proc.poll() is not None:
            pytest.fail("prometheus exited (rc %s)\n%s" % (prom.proc.returncode, prom.log_tail()))
        try:
            result = prom.query("redis_up")
        except (OSError, ValueError):
            result = []
        if result:
            break
        time.sleep(0.25)
    assert result, "no scrape of redis_up within 20 s\n%s" % prom.log_tail()

    def value(q):
        res = prom.query(q)
        assert len(res) == 1, "%s -> %r" % (q, res)
        return float(res[0]["value"][1])

    assert value("redis_up") == 1
    assert value('up{job="surge"}') == 1
    assert value('redis_db_keys{db="db0"}') == dbsize == 11
    assert value('redis_commands_total{cmd="set"}') == nsets

    # The alert rules load and evaluate cleanly against real series.
    deadline = time.monotonic() + 10
    while True:
        groups = prom.api("rules")["data"]["groups"]
        rules = [rule for g in groups for rule in g["rules"]]
        if rules and all(not rule["lastEvaluation"].startswith("0001") for rule in rules):
            break
        assert time.monotonic() < deadline, "rules not evaluated: %r" % rules
        time.sleep(0.25)
    assert {rule["name"] for rule in rules} == {n for n, _ in alert_rules_text()}
    bad = [(rule["name"], rule.get("lastError")) for rule in rules if rule["health"] != "ok"]
    assert not bad, bad
    firing = [a["labels"]["alertname"] for a in prom.api("alerts")["data"]["alerts"]
              if a["state"] == "firing"]
    assert not firing, "alerts firing on a healthy server: %s" % firing

    # Every dashboard expression is valid PromQL for this Prometheus.
    for where, expr in dashboard_expressions(load_dashboard()):
        q = expr.replace("$__rate_interval", "1m").replace("$instance", ".*") \
                .replace("$job", ".*")
        res = prom.api("query", query=q)
        assert res["status"] == "success", "%s: %s -> %s" % (where, q, res)


# ---------------------------------------------------------------------------
# the endpoint's values against INFO
# ---------------------------------------------------------------------------

def test_exporter_metrics_match_info(start_surge):
    srv = start_with_metrics(start_surge)
    r = single_client(srv)
    make_traffic(r)
    # expired keys (lazily, on access)
    for i in range(4):
        r.set("short:%d" % i, "x", px=1)
    time.sleep(0.05)
    for i in range(4):
        assert r.get("short:%d" % i) is None
    # evictions: a small maxmemory with an eviction policy
    used = int(info_dict(r)["used_memory"])
    r.config_set("maxmemory-policy", "allkeys-random")
    r.config_set("maxmemory", str(used + 512 * 1024))
    big = b"x" * 1024
    for i in range(1500):
        r.set("fill:%d" % i, big)
    # OOM errors: noeviction below the used memory
    r.config_set("maxmemory-policy", "noeviction")
    r.config_set("maxmemory", "1")
    for _ in range(3):
        with pytest.raises(redis.ResponseError, match="^OOM"):
            r.set("oom", "x")
    r.config_set("maxmemory", "0")
    # a rejected connection: maxclients reached
    r.config_set("maxclients", "1")
    with socket.create_connection((srv.host, srv.port), timeout=5) as s:
        s.settimeout(5)
        assert s.recv(100).startswith(b"-ERR max number of clients reached")
    r.config_set("maxclients", "10000")

    # quiesce: only our one client left
    deadline = time.monotonic() + 5
    while int(info_dict(r)["connected_clients"]) != 1:
        assert time.monotonic() < deadline
        time.sleep(0.05)

    exp = scrape(srv.metrics_port)     # the scrape first: INFO does not count itself
    info = info_dict(r)

    def eq(metric, field, **labels):
        assert exp.get(metric, **labels) == float(info[field]), \
            "%s%r=%r, INFO %s=%s" % (metric, labels, exp.get(metric, **labels), field, info[field])

    eq("redis_connected_clients", "connected_clients")
    eq("redis_blocked_clients", "blocked_clients")
    eq("redis_config_maxclients", "maxclients")
    eq("redis_max_clients", "maxclients")
    eq("redis_commands_processed_total", "total_commands_processed")
    eq("redis_connections_received_total", "total_connections_received")
    eq("redis_rejected_connections_total", "rejected_connections")
    eq("redis_keyspace_hits_total", "keyspace_hits")
    eq("redis_keyspace_misses_total", "keyspace_misses")
    eq("redis_expired_keys_total", "expired_keys")
    eq("redis_evicted_keys_total", "evicted_keys")
    eq("redis_memory_max_bytes", "maxmemory")
    eq("redis_config_maxmemory", "maxmemory")
    eq("surge_error_replies_total", "total_error_replies")
    eq("surge_client_output_buffer_limit_disconnections_total",
       "client_output_buffer_limit_disconnections")
    eq("surge_client_query_buffer_limit_disconnections_total",
       "client_query_buffer_limit_disconnections")
    eq("surge_lazyfree_pending_objects", "lazyfree_pending_objects")
    assert int(info["expired_keys"]) >= 4
    assert int(info["evicted_keys"]) > 0
    assert int(info["rejected_connections"]) == 1
    # the INFO request itself was read after the scrape, and nothing was
    # written in between
    assert 0 < int(info["total_net_input_bytes"]) - exp.get("redis_net_input_bytes_total") < 100
    eq("redis_net_output_bytes_total", "total_net_output_bytes")
    used_m, used_i = exp.get("redis_memory_used_bytes"), int(info["used_memory"])
    assert abs(used_m - used_i) <= max(128 * 1024, 0.02 * used_i), (used_m, used_i)
    assert exp.get("redis_memory_used_peak_bytes") >= used_m
    assert abs(exp.get("redis_uptime_in_seconds") - int(info["uptime_in_seconds"])) <= 1
    assert exp.get("redis_cpu_user_seconds_total") <= float(info["used_cpu_user"]) + 0.01
    assert exp.get("redis_cpu_sys_seconds_total") <= float(info["used_cpu_sys"]) + 0.01

    inst = exp.series("redis_instance_info")
    assert len(inst) == 1 and inst[0][1] == 1
    lab = inst[0][0]
    assert lab["redis_version"] == info["redis_version"]
    assert lab["run_id"] == info["run_id"]
    assert lab["tcp_port"] == info["tcp_port"] == str(srv.port)
    assert lab["maxmemory_policy"] == info["maxmemory_policy"] == "noeviction"
    assert lab["role"] == info["role"] and lab["redis_mode"] == info["redis_mode"]

    # keyspace
    dbs = {k: subfields(v) for k, v in info.items() if re.fullmatch(r"db\d+", k)}
    assert {"db0", "db1"} <= set(dbs)
    assert {lab["db"] for lab, _ in exp.series("redis_db_keys")} == set(dbs)
    for db, f in dbs.items():
        assert exp.get("redis_db_keys", db=db) == int(f["keys"]), db
        assert exp.get("redis_db_keys_expiring", db=db) == int(f["expires"]), db

    # commandstats
    cmdstats = {k[len("cmdstat_"):]: subfields(v) for k, v in info.items()
                if k.startswith("cmdstat_")}
    assert int(cmdstats["set"]["calls"]) > 1000 and int(cmdstats["get"]["calls"]) >= 30
    for cmd, f in cmdstats.items():   # INFO's own call is counted after it replies
        assert exp.get("redis_commands_total", cmd=cmd) == int(f["calls"]), cmd
        assert exp.get("redis_commands_failed_calls_total", cmd=cmd) == int(f["failed_calls"]), cmd
        assert exp.get("redis_commands_rejected_calls_total", cmd=cmd) == \
            int(f["rejected_calls"]), cmd
        assert round(exp.get("redis_commands_duration_seconds_total", cmd=cmd) * 1e6) == \
            int(f["usec"]), cmd
    assert int(cmdstats["set"]["rejected_calls"]) >= 4     # arity + 3 OOM
    assert int(cmdstats["incr"]["failed_calls"]) == 1
    assert {lab["cmd"] for lab, _ in exp.series("redis_commands_total")} == set(cmdstats)

    # errorstats
    errstats = {k[len("errorstat_"):]: int(subfields(v)["count"]) for k, v in info.items()
                if k.startswith("errorstat_")}
    assert errstats.get("OOM") == 3 and errstats.get("ERR", 0) >= 3
    assert {lab["err"]: v for lab, v in exp.series("redis_errors_total")} == errstats


def test_command_duration_histogram(start_surge):
    srv = start_with_metrics(start_surge)
    r = single_client(srv)
    make_traffic(r)
    for _ in range(3):
        r.execute_command("DEBUG", "SLEEP", "0.003")
    exp = scrape(srv.metrics_port)
    assert exp.types["surge_command_duration_seconds"] == "histogram"
    cmds = {lab["cmd"] for lab, _ in exp.series("surge_command_duration_seconds_count")}
    assert {"set", "get", "incr", "select", "debug"} <= cmds
    for cmd in cmds:
        buckets = [(lab["le"], v) for lab, v in exp.series("surge_command_duration_seconds_bucket")
                   if lab["cmd"] == cmd]
        les = [float(le) for le, _ in buckets]
        assert les == sorted(les) and les[-1] == float("inf"), (cmd, les)
        assert len(set(les)) == len(les)
        counts = [v for _, v in buckets]
        assert all(a <= b for a, b in zip(counts, counts[1:])), "not cumulative: %s %s" % (
            cmd, counts)
        count = exp.get("surge_command_duration_seconds_count", cmd=cmd)
        assert counts[-1] == count
        assert count == exp.get("redis_commands_total", cmd=cmd), cmd
        total_s = exp.get("redis_commands_duration_seconds_total", cmd=cmd)
        assert exp.get("surge_command_duration_seconds_sum", cmd=cmd) == pytest.approx(
            total_s, abs=1e-6), cmd
    # the 3 ms sleeps are above the 2.5 ms bound and at most 10 ms... on a busy
    # machine maybe more; at least none is below 2.5 ms
    assert exp.get("surge_command_duration_seconds_bucket", cmd="debug", le="0.0025") == 0
    assert exp.get("surge_command_duration_seconds_count", cmd="debug") == 3

    loop = exp.series("surge_event_loop_iteration_seconds_bucket")
    counts = [v for _, v in loop]
    assert all(a <= b for a, b in zip(counts, counts[1:]))
    assert counts[-1] == exp.get("surge_event_loop_iteration_seconds_count") > 0

    # latency-tracking no: the histogram stops, the call counters go on
    r.config_set("latency-tracking", "no")
    for _ in range(10):
        r.get("key:1")
    exp2 = scrape(srv.metrics_port)
    assert exp2.get("surge_command_duration_seconds_count", cmd="get") == \
        exp.get("surge_command_duration_seconds_count", cmd="get")
    assert exp2.get("redis_commands_total", cmd="get") == \
        exp.get("redis_commands_total", cmd="get") + 10


# ---------------------------------------------------------------------------
# the HTTP responder under misuse
# ---------------------------------------------------------------------------

def assert_redis_responsive(srv):
    t = time.monotonic()
    c = srv.resp(timeout=2)
    assert c.call("PING") == b"PONG"
    c.close()
    assert time.monotonic() - t < 1.0


def test_http_methods_and_paths(start_surge):
    srv = start_with_metrics(start_surge)
    port = srv.metrics_port
    status, headers, body, _ = http_request(port, "POST", "/metrics",
                                            b"Content-Length: 3\r\n")
    assert status == 405
    for method in ("PUT", "DELETE", "OPTIONS"):
        assert http_request(port, method)[0] == 405, method
    for path in ("/", "/nope", "/metricsx", "/metrics/", "/METRICS"):
        assert http_request(port, "GET", path)[0] == 404, path
    status, headers, body, _ = http_request(port, "GET", "/metrics?name[]=redis_up")
    assert status == 200 and b"redis_up 1" in body
    assert headers.get("connection") == "close"
    status, headers, body, _ = http_request(port, "HEAD", "/metrics")
    assert status == 200 and body == b"" and int(headers["content-length"]) > 100
    # an HTTP/1.0 request without headers, and a bare LF-terminated one
    assert http_exchange(port, b"GET /metrics HTTP/1.0\r\n\r\n")[0] == 200
    assert http_exchange(port, b"GET /metrics HTTP/1.0\n\n")[0] == 200
    assert http_exchange(port, b"NONSENSE\r\n\r\n")[0] in (400, 405)
    # each response closes the connection (asserted by http_exchange reading to EOF)
    assert_redis_responsive(srv)
    scrape(port)


def test_http_oversized_request_head(start_surge):
    srv = start_with_metrics(start_surge)
    port = srv.metrics_port
    head = b"GET /metrics HTTP/1.1\r\nX-Filler: " + b"a" * (HTTP_MAX_HEAD + 1000) + b"\r\n\r\n"
    try:
        status = http_exchange(port, head)[0]
    except socket.timeout:
        raise
    except OSError:
        status = "reset"          # closed while our bytes were unread: also fine
    assert status in (431, None, "reset"), status
    # a head that never ends: closed at 8 KB, not buffered forever
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.settimeout(5)
        sent = 0
        closed = False
        try:
            while sent < 1024 * 1024:
                s.sendall(b"b" * 4096)
                sent += 4096
        except socket.timeout:
            raise
        except OSError:           # reset or broken pipe: closed
            closed = True
        assert closed or sent >= 1024 * 1024
        if not closed:
            try:
                data = s.recv(100)
            except ConnectionResetError:
                data = b""
            assert data == b"" or data.startswith(b"HTTP/1.1 431")
    assert_redis_responsive(srv)
    scrape(port)


def test_http_silent_and_slow_clients_hit_the_deadline(start_surge):
    srv = start_with_metrics(start_surge)
    port = srv.metrics_port
    silent = socket.create_connection(("127.0.0.1", port), timeout=10)
    slow = socket.create_connection(("127.0.0.1", port), timeout=10)
    t0 = time.monotonic()
    slow_closed_at = None
    silent.setblocking(False)
    slow.setblocking(False)
    silent_closed_at = None
    partial = b"GET /metrics HTTP/1.1\r\nX-Slow: "
    i = 0
    while time.monotonic() - t0 < HTTP_DEADLINE_S + 3 and not (silent_closed_at and slow_closed_at):
        if slow_closed_at is None:
            try:
                slow.send(partial[i:i + 1] if i < len(partial) else b"z")
                i += 1
                if slow.recv(100) == b"":
                    slow_closed_at = time.monotonic() - t0
            except BlockingIOError:
                pass
            except (ConnectionResetError, BrokenPipeError):
                slow_closed_at = time.monotonic() - t0
        if silent_closed_at is None:
            try:
                if silent.recv(100) == b"":
                    silent_closed_at = time.monotonic() - t0
            except BlockingIOError:
                pass
            except ConnectionResetError:
                silent_closed_at = time.monotonic() - t0
        if i % 20 == 0:
            assert_redis_responsive(srv)
        time.sleep(0.1)
    silent.close()
    slow.close()
    assert silent_closed_at is not None, "a client that sends nothing is never closed"
    assert slow_closed_at is not None, "a client trickling a request head is never closed"
    for t in (silent_closed_at, slow_closed_at):
        assert HTTP_DEADLINE_S - 0.5 <= t <= HTTP_DEADLINE_S + 1.5, t
    scrape(port)


def test_http_connection_cap(start_surge):
    srv = start_with_metrics(start_surge)
    port = srv.metrics_port
    # Below the cap, idle connections do not stop a scrape.
    idle = [socket.create_connection(("127.0.0.1", port), timeout=5)
            for _ in range(HTTP_MAX_CONNS - 1)]
    time.sleep(0.2)
    scrape(port)
    for s in idle:
        s.close()
    time.sleep(0.2)

    # 100 idle connections: the server keeps at most the cap, closes the rest
    # at once, and keeps serving Redis clients.
    idle = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(100)]
    time.sleep(0.5)
    open_ones = 0
    for s in idle:
        s.setblocking(False)
        try:
            data = s.recv(100)
            assert data == b"", data
        except BlockingIOError:
            open_ones += 1
        except ConnectionResetError:
            pass
    assert open_ones <= HTTP_MAX_CONNS, "%d idle connections held open" % open_ones
    assert_redis_responsive(srv)
    # A scrape now is refused (closed) or answered, never left hanging.
    t = time.monotonic()
    try:
        status = http_request(port)[0]
    except socket.timeout:
        raise
    except OSError:               # closed on accept, maybe before our request was sent
        status = None
    assert status in (None, 200) and time.monotonic() - t < 2
    for s in idle:
        s.close()
    time.sleep(0.3)
    scrape(port)
    assert_redis_responsive(srv)


def test_http_garbage_does_not_crash(start_surge):
    srv = start_with_metrics(start_surge)
    port = srv.metrics_port
    rng = random.Random(20260501)
    payloads = [b"\x00" * 100 + b"\r\n\r\n", b"\r\n\r\n", b" \r\n\r\n", b"GET\r\n\r\n",
                b"GET \r\n\r\n", b"GET  \r\n\r\n", b"GET /metrics\r\n\r\n",
                b"GET /metrics" + b" " * 9000, b"\n\n", b"GET /metrics HTTP/1.1\n\n" * 50,
                b"*1\r\n$4\r\nPING\r\n", b"\xff" * 8191, b"\xff" * 8192, b"\r\n\r\n" * 3000]
    for _ in range(150):
        n = rng.choice([1, 10, 100, 1000, 8190, 8191, 8192, 9000])
        data = bytes(rng.getrandbits(8) for _ in range(n))
        if rng.random() < 0.3:
            data = rng.choice([b"GET ", b"HEAD ", b"POST "]) + data
        if rng.random() < 0.3:
            cut = rng.randrange(len(data) + 1)
            data = data[:cut] + b"\r\n\r\n" + data[cut:]
        payloads.append(data)
    for data in payloads:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.settimeout(5)
                s.sendall(data)
                s.shutdown(socket.SHUT_WR)
                while s.recv(65536):
                    pass
        except socket.timeout:
            pytest.fail("server neither answered nor closed after %r..." % data[:40])
        except OSError:
            pass   # reset, broken pipe, not connected: the server closed first
        srv.check_alive()
    assert_redis_responsive(srv)
    exp = scrape(port)
    assert exp.get("redis_up") == 1


# ---------------------------------------------------------------------------
# SLOWLOG, compared with the reference
# ---------------------------------------------------------------------------

def slowlog_session(c, commands):
    """Run commands with everything logged; return SLOWLOG GET -1 and LEN."""
    assert c.call("CLIENT", "SETNAME", "obs-test") == b"OK"
    assert c.call("CONFIG", "SET", "slowlog-log-slower-than", "0") == b"OK"
    assert c.call("SLOWLOG", "RESET") == b"OK"
    for cmd in commands:
        c.call(*cmd)
    return c.call("SLOWLOG", "GET", "-1")


SLOWLOG_COMMANDS = [
    ("SET", "k", "v"),
    ("GET", "k"),
    ("SET", "exact128", "y" * 128),                    # not truncated
    ("SET", "long129", "z" * 129),                     # ... (1 more bytes)
    ("SET", "big", "x" * 5000),                        # ... (4872 more bytes)
    ("SET", "k" * 300, "v"),                           # the key is truncated too
    ("MSET",) + tuple("a%d" % i for i in range(31)),   # 32 arguments: kept
    ("MSET",) + tuple("b%d" % i for i in range(32)),   # 33: ... (2 more arguments)
    ("DEL",) + tuple("c%d" % i for i in range(99)),    # 100: ... (69 more arguments)
    ("SET", "only-key"),                               # arity error: not executed
    ("NOSUCHCOMMAND", "x"),                            # unknown: not executed
    ("INCR", "k"),                                     # failed, but executed
    ("DBSIZE",),
]


def check_slowlog_shape(entries, now):
    ids = []
    for e in entries:
        assert isinstance(e, list) and len(e) == 6, e
        eid, when, dur, args, peer, name = e
        assert all(isinstance(x, int) for x in (eid, when, dur)), e
        assert abs(when - now) <= 5 and dur >= 0
        assert isinstance(args, list) and all(isinstance(a, bytes) for a in args)
        assert re.fullmatch(rb"127\.0\.0\.1:\d+", peer), peer
        assert name == b"obs-test"
        ids.append(eid)
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == len(ids), \
        "not newest first: %s" % ids
    assert ids == list(range(ids[0], ids[0] - len(ids), -1)), ids


def test_slowlog_matches_reference(surge_server, start_redis_ref):
    ref = start_redis_ref()
    s, r = surge_server.resp(), ref.resp()
    got = slowlog_session(s, SLOWLOG_COMMANDS)
    want = slowlog_session(r, SLOWLOG_COMMANDS)
    now = int(time.time())
    check_slowlog_shape(got, now)
    check_slowlog_shape(want, now)
    got_args = [e[3] for e in got]
    want_args = [e[3] for e in want]
    assert got_args == want_args
    # spot checks of the truncation texts (the reference agrees, above)
    by_first = {tuple(a[:2]): a for a in got_args}
    assert by_first[(b"SET", b"big")][2] == b"x" * 128 + b"... (4872 more bytes)"
    assert by_first[(b"SET", b"long129")][2] == b"z" * 128 + b"... (1 more bytes)"
    assert by_first[(b"SET", b"exact128")][2] == b"y" * 128
    msets = [a for a in got_args if a[0] == b"MSET"]
    assert len(msets[1]) == 32 and len(msets[0]) == 32     # newest (b..) first
    assert msets[0][-1] == b"... (2 more arguments)" and msets[1][-1] == b"a30"
    dels = [a for a in got_args if a[0] == b"DEL"][0]
    assert len(dels) == 32 and dels[-1] == b"... (69 more arguments)"
    assert got_args[-1] == [b"SLOWLOG", b"RESET"]

    # GET with a count, LEN, RESET: replies as the reference's
    for cmd in (("SLOWLOG", "LEN"), ("SLOWLOG", "GET", "0"), ("SLOWLOG", "GET", "1")):
        a, b = s.call(*cmd), r.call(*cmd)
        if isinstance(b, list):
            assert isinstance(a, list) and len(a) == len(b), cmd
        else:
            assert a == b, cmd
    two = s.call("SLOWLOG", "GET", "2")
    assert len(two) == 2 and two[0][0] > two[1][0]
    assert two[0][3][:2] == [b"SLOWLOG", b"GET"]
    for c in (s, r):
        assert c.call("SLOWLOG", "RESET") == b"OK"
    # the RESET itself is logged after it runs, then LEN is logged after it replies
    assert s.call("SLOWLOG", "LEN") == r.call("SLOWLOG", "LEN") == 1
    # slowlog-max-len trims; a negative threshold logs nothing
    for c in (s, r):
        c.call("CONFIG", "SET", "slowlog-max-len", "3")
        for i in range(5):
            c.call("SET", "m%d" % i, "v")
    assert s.call("SLOWLOG", "LEN") == r.call("SLOWLOG", "LEN") == 3
    assert [e[3] for e in s.call("SLOWLOG", "GET")] == [e[3] for e in r.call("SLOWLOG", "GET")]
    for c in (s, r):
        c.call("CONFIG", "SET", "slowlog-log-slower-than", "-1")
        c.call("SLOWLOG", "RESET")
        c.call("SET", "quiet", "1")
    assert s.call("SLOWLOG", "LEN") == r.call("SLOWLOG", "LEN") == 0


def test_slowlog_max_len_zero_matches_reference(surge_server, start_redis_ref):
    """slowlog-max-len 0 keeps nothing: the next command empties the log."""
    ref = start_redis_ref()
    out = []
    for c in (surge_server.resp(), ref.resp()):
        c.call("CONFIG", "SET", "slowlog-log-slower-than", "0")
        c.call("SLOWLOG", "RESET")
        for i in range(5):
            c.call("SET", "k", str(i))
        assert c.call("CONFIG", "SET", "slowlog-max-len", "0") == b"OK"
        c.call("SET", "k", "last")
        out.append((c.call("SLOWLOG", "LEN"), len(c.call("SLOWLOG", "GET", "-1"))))
        c.call("CONFIG", "SET", "slowlog-max-len", "128")
    assert out[1] == (0, 0)
    assert out[0] == out[1], "Surge (LEN, entries)=%r, reference %r" % (out[0], out[1])


@pytest.mark.parametrize("cmd", [("SLOWLOG", "GET", "-2"), ("SLOWLOG", "GET", "x"),
                                 ("SLOWLOG", "GET", "1", "2"), ("SLOWLOG", "LEN", "1"),
                                 ("SLOWLOG", "RESET", "1"), ("SLOWLOG", "NOPE"), ("SLOWLOG",)],
                         ids=lambda c: " ".join(c))
def test_slowlog_errors_match_reference(surge_server, start_redis_ref, cmd):
    ref = start_redis_ref()
    got, want = surge_server.resp().call(*cmd), ref.resp().call(*cmd)
    assert isinstance(want, RespError)
    assert got == want


def test_slowlog_redacts_secrets_like_reference(surge_server, start_redis_ref):
    """Passwords never reach SLOWLOG: Redis writes "(redacted)" in their place."""
    ref = start_redis_ref()
    commands = [("AUTH", "someuser", "hunter2"),                 # fails: no such user
                ("HELLO", "2", "AUTH", "default", "hunter2"),    # fails: no password set
                ("CONFIG", "SET", "requirepass", "hunter2"),
                ("AUTH", "hunter2"),
                ("CONFIG", "SET", "requirepass", "")]
    s, r = surge_server.resp(), ref.resp()
    got = [e[3] for e in slowlog_session(s, commands)]
    want = [e[3] for e in slowlog_session(r, commands)]
    leaked = [args for args in got if b"hunter2" in b" ".join(args)]
    assert got == want, "\nSurge:     %r\nreference: %r" % (got, want)
    assert not leaked


# ---------------------------------------------------------------------------
# LATENCY and INFO latencystats, compared with the reference
# ---------------------------------------------------------------------------

def start_pair(start_surge, start_redis_ref):
    """Surge and the reference, both allowing DEBUG from loopback."""
    extra = () if is_reference() else ("--metrics-port", "0")
    return (start_surge("--enable-debug-command", "local", *extra),
            start_redis_ref("--enable-debug-command", "local"))


def test_latency_monitor_matches_reference(start_surge, start_redis_ref):
    s_srv, r_srv = start_pair(start_surge, start_redis_ref)
    s, r = s_srv.resp(), r_srv.resp()
    replies = {}
    for name, c in (("surge", s), ("ref", r)):
        assert c.call("LATENCY", "RESET") == 0
        assert c.call("LATENCY", "LATEST") == []
        assert c.call("CONFIG", "SET", "latency-monitor-threshold", "1") == b"OK"
        c.call("SET", "k", "v")                     # fast: below the threshold
        assert c.call("DEBUG", "SLEEP", "0.02") == b"OK"
        now = int(time.time())
        latest = c.call("LATENCY", "LATEST")
        assert len(latest) == 1 and len(latest[0]) == 4, (name, latest)
        event, when, last_ms, max_ms = latest[0]
        assert event == b"command", (name, latest)
        assert abs(when - now) <= 2 and 20 <= last_ms <= max_ms < 1000, (name, latest)
        history = c.call("LATENCY", "HISTORY", "command")
        assert len(history) == 1 and history[0][0] == when and history[0][1] == last_ms, history
        replies[name] = [c.call("LATENCY", "HISTORY", "nosuch"),
                         c.call("LATENCY", "RESET", "nosuch"),
                         c.call("LATENCY", "RESET"),
                         c.call("LATENCY", "LATEST"),
                         c.call("LATENCY", "HISTORY", "command"),
                         c.call("LATENCY", "NOPE")]
    assert replies["surge"] == replies["ref"]
    assert replies["surge"][2] == 1            # RESET: the number of events reset


def hist_skeleton(reply, calls, pow2=True):
    """Check a LATENCY HISTOGRAM reply for one command; return its shape.

    pow2: the bucket bounds must be powers of two (Surge's). The reference
    does not always keep to it: Redis 7.0.15 once answered
    [b'set', [b'calls', 7, b'histogram_usec', [1, 6, 33, 7]]] here, a
    bound of 33 where 32 was due; that was this test's rare failure in full
    runs (the shape compared below is the same either way).

    RESP2: [name, [b'calls', n, b'histogram_usec', [b1, c1, b2, c2, ...]]]
    RESP3: {name: {b'calls': n, b'histogram_usec': {b1: c1, ...}}}
    """
    if isinstance(reply, RespMap):
        (name, body), = reply.items()
        assert isinstance(body, RespMap)
        fields = list(body.items())
        hist = fields[1][1]
        assert isinstance(hist, RespMap)
        pairs = list(hist.items())
        shape = ("map", name, "map", [k for k, _ in fields], "map")
    else:
        assert isinstance(reply, list) and len(reply) == 2
        name, body = reply
        assert isinstance(body, list) and len(body) == 4
        fields = [(body[0], body[1]), (body[2], body[3])]
        hist = body[3]
        assert isinstance(hist, list) and len(hist) % 2 == 0
        pairs = list(zip(hist[::2], hist[1::2]))
        shape = ("array", name, "array", [k for k, _ in fields], "array")
    assert fields[0] == (b"calls", calls), fields
    assert pairs, "empty histogram"
    bounds = [b for b, _ in pairs]
    counts = [c for _, c in pairs]
    assert all(b > 0 for b in bounds), bounds
    if pow2:
        assert all(b & (b - 1) == 0 for b in bounds), "bounds not powers of 2: %s" % bounds
    assert bounds == sorted(bounds) and counts == sorted(counts), pairs
    assert counts[-1] == calls, pairs
    return shape


@pytest.mark.parametrize("proto", [2, 3])
def test_latency_histogram_shape_matches_reference(start_surge, start_redis_ref, proto):
    s_srv, r_srv = start_pair(start_surge, start_redis_ref)
    shapes = []
    for srv in (s_srv, r_srv):
        c = srv.resp()
        if proto == 3:
            c.call("HELLO", "3")
        for i in range(7):
            c.call("SET", "k%d" % i, "v")
        c.call("GET", "k1")
        reply = c.call("LATENCY", "HISTOGRAM", "set")
        try:
            shapes.append(hist_skeleton(reply, 7, pow2=srv is s_srv))
        except AssertionError as e:  # this has failed rarely in full runs: keep the evidence
            raise AssertionError("%s: %s\nreply: %r\nINFO commandstats: %r" % (
                srv.name, e, reply, c.call("INFO", "commandstats"))) from e
        both = c.call("LATENCY", "HISTOGRAM", "get", "nosuchcommand", "SET")
        names = list(both.keys()) if isinstance(both, RespMap) else both[::2]
        shapes.append(sorted(names))
        assert c.call("LATENCY", "HISTOGRAM", "incr") in ([], RespMap())   # never called
        every = c.call("LATENCY", "HISTOGRAM")
        names = list(every.keys()) if isinstance(every, RespMap) else every[::2]
        shapes.append(sorted(names))
    n = len(shapes) // 2
    assert shapes[:n] == shapes[n:], "\nSurge:     %r\nreference: %r" % (shapes[:n], shapes[n:])


def test_latency_histogram_of_a_container_matches_reference(surge_server, start_redis_ref):
    """LATENCY HISTOGRAM config: every subcommand of CONFIG that has data."""
    ref = start_redis_ref()
    names = []
    for srv in (surge_server, ref):
        c = srv.resp()
        c.call("CONFIG", "SET", "maxmemory-samples", "5")
        c.call("CONFIG", "GET", "maxmemory")
        c.call("SET", "k", "v")
        reply = c.call("LATENCY", "HISTOGRAM", "config")
        names.append(sorted(reply[::2]))
    assert names[1] == [b"config|get", b"config|set"]
    assert names[0] == names[1], "Surge %r, reference %r" % (names[0], names[1])


def test_info_latencystats_matches_reference(start_surge, start_redis_ref):
    s_srv, r_srv = start_pair(start_surge, start_redis_ref)
    lines = []
    for srv in (s_srv, r_srv):
        c = srv.resp()
        c.call("CONFIG", "RESETSTAT")
        for i in range(20):
            c.call("SET", "k%d" % i, "v")
        text = c.call("INFO", "latencystats").decode()
        assert text.startswith("# Latencystats\r\n"), text
        stats = dict(l.split(":", 1) for l in text.split("\r\n")[1:] if l)
        assert re.fullmatch(r"p50=\d+\.\d{3},p99=\d+\.\d{3},p99\.9=\d+\.\d{3}",
                            stats["latency_percentiles_usec_set"]), stats
        p = {k: float(v) for k, v in (kv.split("=") for kv in
                                      stats["latency_percentiles_usec_set"].split(","))}
        assert p["p50"] <= p["p99"] <= p["p99.9"]
        # the percentiles follow the directive
        assert c.call("CONFIG", "SET", "latency-tracking-info-percentiles", "90 99.99") == b"OK"
        text = c.call("INFO", "latencystats").decode()
        line = [l for l in text.split("\r\n") if l.startswith("latency_percentiles_usec_set:")][0]
        assert re.fullmatch(r"latency_percentiles_usec_set:p90=\d+\.\d{3},p99\.99=\d+\.\d{3}",
                            line), line
        lines.append(sorted(stats))
    assert lines[0] == lines[1]


# ---------------------------------------------------------------------------
# logs
# ---------------------------------------------------------------------------

def read_lines(path):
    try:
        return path.read_text().splitlines()
    except FileNotFoundError:
        return []


def test_json_log_lines(start_surge, tmp_path):
    require_surge_features()
    logfile = tmp_path / "surge-json.log"
    srv = start_surge("--log-format", "json", "--logfile", str(logfile),
                      "--metrics-port", "0")
    lines = read_lines(logfile)
    assert lines, "nothing logged at start-up"

    def parsed(ls):
        out = []
        for line in ls:
            try:
                obj = json.loads(line)
            except ValueError:
                pytest.fail("log line is not JSON: %r" % line)
            assert isinstance(obj, dict), line
            assert isinstance(obj.get("ts"), (int, float)), line
            assert abs(obj["ts"] - time.time()) < 60, line
            assert obj.get("level") in ("debug", "verbose", "notice", "warning"), line
            assert isinstance(obj.get("msg"), str) and obj["msg"], line
            out.append(obj)
        return out

    start = parsed(lines)
    assert any("starting" in o["msg"] and "port=%d" % srv.port in o["msg"] for o in start), \
        "no start-up summary in %s" % lines
    assert any("Ready to accept connections" in o["msg"] for o in start)

    r = single_client(srv)
    r.ping()
    n = len(read_lines(logfile))
    assert n == len(lines), "a connection and a PING were logged: %s" % read_lines(logfile)[n:]

    # one CONFIG SET: exactly one line, naming the directive
    r.config_set("maxmemory-samples", "7")
    new = parsed(read_lines(logfile)[n:])
    assert len(new) == 1 and "maxmemory-samples" in new[0]["msg"], new
    n += 1
    # a secret is named, never shown
    r.config_set("requirepass", "s3cret-Value")
    new = parsed(read_lines(logfile)[n:])
    assert len(new) == 1 and "requirepass" in new[0]["msg"], new
    assert "s3cret-Value" not in logfile.read_text()
    n += 1
    r.config_set("requirepass", "")
    n += 1

    # 1000 commands: not a single line
    pipe = r.pipeline(transaction=False)
    for i in range(1000):
        pipe.get("k%d" % i)
    pipe.execute()
    assert read_lines(logfile)[n:] == [], "commands were logged"

    # a client dropped for a limit: one warning line
    r.config_set("client-query-buffer-limit", "1mb")
    n += 1
    with socket.create_connection((srv.host, srv.port), timeout=5) as s:
        try:
            s.sendall(b"*2\r\n$3\r\nSET\r\n$3000000\r\n" + b"x" * 1200000)
            s.settimeout(5)
            s.recv(100)
        except (ConnectionResetError, BrokenPipeError):
            pass
    deadline = time.monotonic() + 3
    while len(read_lines(logfile)) == n and time.monotonic() < deadline:
        time.sleep(0.05)
    new = parsed(read_lines(logfile)[n:])
    assert len(new) == 1 and new[0]["level"] == "warning" and "query buffer" in new[0]["msg"], new
    # every line of the file, start to end, was one JSON object
    parsed(read_lines(logfile))


def test_json_log_lines_are_utf8_json_whatever_the_message(start_surge, tmp_path):
    """DEBUG LOG writes client bytes into the log: the line must stay valid JSON."""
    require_surge_features()
    logfile = tmp_path / "surge-json.log"
    srv = start_surge("--log-format", "json", "--logfile", str(logfile), "--metrics-port", "0")
    c = srv.resp()
    msg = b'quote" backslash\\ newline\n tab\t ctrl\x01 e-acute \xc3\xa9 invalid \xff\xfe end'
    assert c.call("DEBUG", "LOG", msg) == b"OK"
    # long enough to be cut at the 1 KB message limit, in the middle of a 2-byte character
    assert c.call("DEBUG", "LOG", b"x" + "\u00e9".encode() * 600) == b"OK"
    objs = []
    for line in logfile.read_bytes().splitlines():
        try:
            objs.append(json.loads(line.decode("utf-8")))
        except (UnicodeDecodeError, ValueError) as e:
            pytest.fail("log line is not UTF-8 JSON (%s): %r" % (e, line))
    logged = [o["msg"] for o in objs if "DEBUG LOG" in o["msg"]]
    assert len(logged) == 2
    assert 'quote" backslash\\ newline\n tab\t ctrl\x01 e-acute \u00e9 invalid ' in logged[0]


TEXT_LINE = re.compile(r"^\d+:M \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d\.\d{3} [.\-*#] \S")


def test_text_log_and_runtime_switches(start_surge):
    require_surge_features()
    srv = start_surge("--metrics-port", "0")      # logs to stdout -> srv.log_path
    r = single_client(srv)

    def lines():
        return [l for l in srv.log_path.read_text().splitlines() if not l.startswith("=== ")]

    first = lines()
    assert first and all(TEXT_LINE.match(l) for l in first), first
    assert any("starting" in l for l in first)
    n = len(first)
    r.config_set("maxmemory-samples", "6")
    new = lines()[n:]
    assert len(new) == 1 and " * " in new[0] and "maxmemory-samples" in new[0], new
    n += 1
    # loglevel warning: notices (CONFIG SET) are no longer written
    r.config_set("loglevel", "warning")
    n = len(lines())
    r.config_set("maxmemory-samples", "5")
    assert lines()[n:] == []
    r.config_set("loglevel", "notice")
    n = len(lines())
    # log-format json at runtime: the next lines are JSON
    r.config_set("log-format", "json")
    r.config_set("maxmemory-samples", "4")
    new = lines()[n:]
    assert new, "nothing logged after switching to json"
    objs = [json.loads(l) for l in new]
    assert "maxmemory-samples" in objs[-1]["msg"]
