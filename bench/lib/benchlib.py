#!/usr/bin/python3
"""Helpers for bench/run.sh.  Standard library only.

Subcommands:
  parse-csv FILE TEST
      Read the output of `redis-benchmark --csv` and print the rps of the
      row whose test name starts with TEST (e.g. "SET", "MSET").  Exits
      non-zero if the row is missing or the rps is not a positive number.
  free-ports N
      Print N distinct TCP ports on 127.0.0.1 that are free right now.
  report RESULTS_TSV MEM_TSV META_FILE CLK_TCK
      Print the markdown report.

RESULTS_TSV columns (one line per redis-benchmark run):
  round  test  pipeline  server  requests  rps  utime_ticks  stime_ticks
MEM_TSV columns (one line per server):
  server  keys  rss_base_kb  rss_after_kb  used_base  used_after  dbsize
  (used_* / dbsize may be "na" when the server does not report them)
META_FILE: "key<TAB>value" lines, printed verbatim in the header.
"""
import csv
import socket
import sys

SERVERS = ("redis", "surge")


def cmd_parse_csv(path, test):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows or rows[0][:2] != ["test", "rps"]:
        sys.stderr.write("parse-csv: unexpected header in %s: %r\n"
                         % (path, rows[0] if rows else None))
        return 1
    want = test.upper()
    for row in rows[1:]:
        if len(row) < 2:
            continue
        name = row[0].strip().upper()
        # "MSET (10 keys)" -> "MSET"
        if name.split(" ")[0] == want:
            try:
                rps = float(row[1])
            except ValueError:
                break
            if not rps > 0:
                break
            print("%.2f" % rps)
            return 0
    sys.stderr.write("parse-csv: no valid row for %s in %s\n" % (test, path))
    return 1


def cmd_free_ports(n):
    socks, ports = [], []
    try:
        while len(ports) < n:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    print(" ".join(str(p) for p in ports))
    return 0


def fmt_ratio(x):
    return "n/a" if x is None else "%.3f" % x


def safe_div(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def load_results(path):
    # (test, pipeline) -> server -> list of (round, requests, rps, ut, st)
    data = {}
    order = []
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            rnd, test, pipe, server, req, rps, ut, st = line.split("\t")
            key = (test, int(pipe))
            if key not in data:
                data[key] = {s: [] for s in SERVERS}
                order.append(key)
            data[key][server].append(
                (int(rnd), int(req), float(rps), int(ut), int(st)))
    return order, data


def median(xs):
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    m = len(xs) // 2
    return xs[m] if len(xs) % 2 else (xs[m - 1] + xs[m]) / 2.0


def per_run(r, clk_tck):
    """Metrics of one redis-benchmark run: (round, requests, rps, ut, st)."""
    us_per_tick = 1e6 / clk_tck
    _, req, rps, ut, st = r
    return {
        "rps": rps,
        "user": ut * us_per_tick / req,
        "sys": st * us_per_tick / req,
        "cpu": (ut + st) * us_per_tick / req,
        "ticks": ut + st,
    }


def cmd_report(results, mem, meta, clk_tck):
    clk_tck = int(clk_tck)
    out = []
    w = out.append
    meta_rows = []
    with open(meta) as f:
        for line in f:
            line = line.rstrip("\n")
            if line:
                k, _, v = line.partition("\t")
                meta_rows.append((k, v))
    md = dict(meta_rows)
    w("# Surge vs Redis benchmark (%s)" % md.get("date", "?"))
    w("")
    for k, v in meta_rows:
        w("- %s: `%s`" % (k, v))
    w("")
    w("## Throughput and server CPU per request")
    w("")
    w("rps ratio = surge/redis throughput (>1: Surge faster). CPU ratio = "
      "surge/redis server CPU time per request (<1: Surge cheaper). "
      "CPU µs/req is total (user/sys), from /proc/PID/stat utime+stime "
      "(CLK_TCK=%d, i.e. %.0f ms resolution per reading). With several "
      "rounds, each column is the median over rounds and each ratio is "
      "the median of the per-round (paired) ratios, so a ratio need not "
      "equal the quotient of the displayed medians."
      % (clk_tck, 1000.0 / clk_tck))
    w("")
    w("| test | pipeline | redis rps | surge rps | rps ratio "
      "| redis µs CPU/req (user/sys) | surge µs CPU/req (user/sys) "
      "| CPU ratio |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|")
    order, data = load_results(results)
    low_ticks = []
    spreads = []
    for key in order:
        test, pipe = key
        runs = data[key]
        if not runs["redis"] or not runs["surge"]:
            continue
        # Per server: median over rounds of each metric.
        m = {}
        for srv in SERVERS:
            pr = [per_run(r, clk_tck) for r in runs[srv]]
            m[srv] = {k: median(x[k] for x in pr)
                      for k in ("rps", "user", "sys", "cpu")}
            mt = min(x["ticks"] for x in pr)
            if mt < 100:
                low_ticks.append("%s P%d %s: %d" % (test, pipe, srv, mt))
        # Ratios: median over rounds of the paired (same round) ratios.
        by_round = {}
        for srv in SERVERS:
            for r in runs[srv]:
                by_round.setdefault(r[0], {})[srv] = per_run(r, clk_tck)
        pairs = [p for _, p in sorted(by_round.items()) if len(p) == 2]
        rps_r = [safe_div(p["surge"]["rps"], p["redis"]["rps"]) for p in pairs]
        cpu_r = [safe_div(p["surge"]["cpu"], p["redis"]["cpu"]) for p in pairs]
        w("| %s | %d | %.0f | %.0f | %s | %.2f (%.2f/%.2f) "
          "| %.2f (%.2f/%.2f) | %s |" % (
              test, pipe, m["redis"]["rps"], m["surge"]["rps"],
              fmt_ratio(median(rps_r)),
              m["redis"]["cpu"], m["redis"]["user"], m["redis"]["sys"],
              m["surge"]["cpu"], m["surge"]["user"], m["surge"]["sys"],
              fmt_ratio(median(cpu_r))))
        if len(pairs) > 1:
            def spread(xs):
                xs = [x for x in xs if x]
                return max(xs) / min(xs) if xs else 1.0
            noisy = spread(rps_r) > 1.15 or spread(cpu_r) > 1.10
            spreads.append("%s P%d: rps %s; CPU %s%s" % (
                test, pipe, " ".join(fmt_ratio(x) for x in rps_r),
                " ".join(fmt_ratio(x) for x in cpu_r),
                "  **(noisy)**" if noisy else ""))
    w("")
    if spreads:
        w("Per-round surge/redis ratios (their spread is the noise "
          "estimate; the table shows the median):")
        w("")
        for s in spreads:
            w("- %s" % s)
        w("")
    if low_ticks:
        w("Warning: %d of %d test/server cells had runs with fewer than "
          "100 CPU ticks (%s). Their CPU numbers are coarse (±1 tick per "
          "reading); raise BENCH_N / BENCH_N_PIPELINE for precision."
          % (len(low_ticks), 2 * len(order),
                          "; ".join(low_ticks[:4]) +
                          ("; ..." if len(low_ticks) > 4 else "")))
        w("")

    w("## Memory")
    w("")
    memrows = {}
    try:
        with open(mem) as f:
            for line in f:
                line = line.rstrip("\n")
                if line:
                    p = line.split("\t")
                    memrows[p[0]] = p
    except FileNotFoundError:
        pass
    if len(memrows) < 2:
        w("(memory phase not run)")
    else:
        w("Keys `key:%012d` with 16-byte values loaded with "
          "`redis-cli --pipe` after FLUSHALL; baseline measured right "
          "after FLUSHALL. bytes/key = (after - baseline) / keys.")
        w("")
        w("| server | keys | dbsize | RSS baseline MiB | RSS after MiB "
          "| RSS bytes/key | used_memory bytes/key |")
        w("|---|---:|---:|---:|---:|---:|---:|")
        per = {}
        for s in SERVERS:
            _, keys, r0, r1, u0, u1, dbs = memrows[s]
            keys = int(keys)
            rss_bpk = (int(r1) - int(r0)) * 1024.0 / keys
            if u0 != "na" and u1 != "na":
                used_bpk = (int(u1) - int(u0)) / float(keys)
            else:
                used_bpk = None
            per[s] = (rss_bpk, used_bpk)
            w("| %s | %d | %s | %.1f | %.1f | %.1f | %s |" % (
                s, keys, dbs, int(r0) / 1024.0, int(r1) / 1024.0, rss_bpk,
                "n/a" if used_bpk is None else "%.1f" % used_bpk))
        w("| **ratio surge/redis** | | | | | %s | %s |" % (
            fmt_ratio(safe_div(per["surge"][0], per["redis"][0])),
            fmt_ratio(safe_div(per["surge"][1], per["redis"][1]))))
    w("")
    sys.stdout.write("\n".join(out))
    return 0


def main(argv):
    if len(argv) == 4 and argv[1] == "parse-csv":
        return cmd_parse_csv(argv[2], argv[3])
    if len(argv) == 3 and argv[1] == "free-ports":
        return cmd_free_ports(int(argv[2]))
    if len(argv) == 6 and argv[1] == "report":
        return cmd_report(*argv[2:])
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
