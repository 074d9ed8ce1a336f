#!/usr/bin/env python3
"""report.py -- turn one make bench run (bench/run.sh) into a report.

usage: bench/report.py DIR

Reads DIR/machine.txt, DIR/echo.csv and the tables mqbench and cachebench
printed (DIR/mq-ROUND.txt, DIR/cache-ROUND.txt); writes DIR/mq.csv,
DIR/cache.csv, DIR/report.md and, when gnuplot is on the PATH, the
charts DIR/*.png. Every figure is the median of the rounds, with the
spread (lowest to highest) beside it; a ratio is the ratio of the two
medians, its spread that of the ratios of the same round (measured
minutes apart, not hours).
"""
import csv
import glob
import os
import re
import shutil
import statistics
import subprocess
import sys

ECHO_ORDER = ["epoll_echo", "bev_echo", "echosvr_fast", "echosvr_v1",
              "echosvr_select", "echosvr_v5", "echosvr_v6"]
ECHO_ROLE = {
    "epoll_echo": "baseline: bare epoll (bench/epoll_echo.c)",
    "bev_echo": "baseline: minimal bufferevent (bench/bev_echo.c)",
    "echosvr_fast": "ch3-echo, plain events",
    "echosvr_v1": "ch3-echo, bufferevents",
    "echosvr_select": "the answer to exercises/ch3-select-echo, poll()",
    "echosvr_v5": "ch4-mq, io_conn + md",
    "echosvr_v6": "ch5-cache, io_conn + md on mpool/mhash",
}
KINDS = ["spscq", "ring", "pipe", "unix"]


def fail(msg):
    print("report.py: " + msg, file=sys.stderr)
    sys.exit(1)


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def spread(xs):
    return (min(xs), max(xs)) if xs else (float("nan"), float("nan"))


def fmt(x, digits=3):
    if x != x:
        return "-"
    if abs(x) >= 1e6:
        return "%.3g M" % (x / 1e6) if abs(x) < 1e9 else "%.3g G" % (x / 1e9)
    if abs(x) >= 1e4:
        return "%.0f k" % (x / 1e3)
    if abs(x) >= 1000:
        return "%.0f" % x
    return "%.*g" % (digits, x)


def fmt_spread(xs, digits=3):
    lo, hi = spread(xs)
    if len(xs) == 1:
        return fmt(xs[0], digits)
    return "%s (%s-%s)" % (fmt(med(xs), digits), fmt(lo, digits),
                           fmt(hi, digits))


# --- reading ----------------------------------------------------------------

def read_machine(d):
    m = {}
    with open(os.path.join(d, "machine.txt")) as f:
        for line in f:
            k, _, v = line.rstrip("\n").partition("=")
            m[k] = v
    return m


def read_echo(d):
    rows = {}
    with open(os.path.join(d, "echo.csv")) as f:
        for r in csv.DictReader(f):
            key = (r["server"], int(r["conns"]), int(r["size"]))
            rows.setdefault(key, {})[int(r["round"])] = {
                k: float(r[k]) for k in ("msgs_per_s", "p50_us", "p99_us",
                                         "p999_us", "cpu_us_per_msg")}
    return rows


def parse_mq(text):
    """mqbench's table: {row label: [spscq, ring, pipe, unix]}."""
    out = {}
    lines = text.splitlines()
    if not lines or "spscq" not in lines[0]:
        fail("mqbench printed no table")
    for line in lines[1:]:
        cut = line.index(")") + 1 if ")" in line else 26
        label, nums = line[:cut].strip(), line[cut:].split()
        if len(nums) < 4:
            fail("mqbench line not understood: " + line)
        out[label] = [float(x) for x in nums[:4]]
    return out


def parse_cache(text):
    """cachebench's tables: pool {live: (malloc_ns, mpool_ns, speedup)},
    hash {(rows, kind): (slots, load, insert, hit, miss)}."""
    pool, mhash = {}, {}
    for line in text.splitlines():
        w = line.split()
        if len(w) >= 4 and w[0].isdigit() and w[3].endswith("x"):
            pool[int(w[0])] = (float(w[1]), float(w[2]), float(w[3][:-1]))
        elif len(w) >= 7 and w[0].isdigit() and w[1] in ("equal",
                                                         "decreasing"):
            mhash[(int(w[0]), w[1])] = tuple(float(x) for x in w[2:7])
    if not pool or not mhash:
        fail("cachebench printed no tables")
    return pool, mhash


def read_rounds(d, prefix, parse):
    files = sorted(glob.glob(os.path.join(d, prefix + "-*.txt")),
                   key=lambda p: int(re.findall(r"(\d+)\.txt$", p)[0]))
    out = {}
    for p in files:
        with open(p) as f:
            out[int(re.findall(r"(\d+)\.txt$", p)[0])] = parse(f.read())
    return out


# --- figures ----------------------------------------------------------------

def echo_series(echo, server, conns, size, field):
    return [r[field] for r in echo.get((server, conns, size), {}).values()]


def ratio(echo, a, b, conns, size, field):
    """median(a)/median(b), and the spread of same-round ratios."""
    ra, rb = echo.get((a, conns, size), {}), echo.get((b, conns, size), {})
    if not ra or not rb:
        return None
    m = med([x[field] for x in ra.values()]) / \
        med([x[field] for x in rb.values()])
    per = [ra[k][field] / rb[k][field] for k in ra if k in rb and
           rb[k][field] > 0]
    return m, spread(per)


def write_csvs(d, mq, cache):
    with open(os.path.join(d, "mq.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["round", "row"] + KINDS)
        for rnd, table in mq.items():
            for label, v in table.items():
                w.writerow([rnd, label] + v)
    with open(os.path.join(d, "cache.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["round", "table", "what", "a", "b", "c", "d", "e"])
        for rnd, (pool, mhash) in cache.items():
            for live, v in pool.items():
                w.writerow([rnd, "pool", live] + list(v))
            for (rows, kind), v in mhash.items():
                w.writerow([rnd, "mhash", "%d %s" % (rows, kind)] + list(v))


# --- the report -------------------------------------------------------------

class Report:
    def __init__(self):
        self.lines = []
        self.targets = []

    def p(self, s=""):
        self.lines.append(s)

    def target(self, what, value, spread_, op, bound):
        if value is None:
            self.targets.append((what, "not measured", "", op, bound,
                                 "not measured"))
            return
        ok = value <= bound if op == "<=" else value >= bound
        sp = "%.2f-%.2f" % spread_ if spread_ else ""
        self.targets.append((what, "%.2f" % value, sp, op, bound,
                             "met" if ok else "NOT met"))


def echo_targets(rep, echo, conns_list, sizes):
    for size in sizes:
        for n in conns_list:
            r = ratio(echo, "echosvr_fast", "epoll_echo", n, size,
                      "cpu_us_per_msg")
            rep.target("echosvr_fast / epoll_echo, CPU per message, "
                       "%d conns, %d B" % (n, size),
                       r and r[0], r and r[1], "<=", 1.2)
    for size in sizes:
        for n in conns_list:
            r = ratio(echo, "echosvr_v1", "bev_echo", n, size,
                      "cpu_us_per_msg")
            rep.target("echosvr_v1 / bev_echo, CPU per message, "
                       "%d conns, %d B" % (n, size),
                       r and r[0], r and r[1], "<=", 1.1)
    for size in sizes:
        for n in (100, 1000):
            r = ratio(echo, "echosvr_v5", "echosvr_v1", n, size,
                      "msgs_per_s")
            rep.target("echosvr_v5 / echosvr_v1, messages/s, "
                       "%d conns, %d B" % (n, size),
                       r and r[0], r and r[1], ">=", 0.9)


def mq_ratio(mq, row, a, b):
    vals = [t[row][KINDS.index(a)] / t[row][KINDS.index(b)]
            for t in mq.values() if row in t]
    num = med([t[row][KINDS.index(a)] for t in mq.values() if row in t])
    den = med([t[row][KINDS.index(b)] for t in mq.values() if row in t])
    return num / den, spread(vals)


def main():
    if len(sys.argv) != 2:
        fail("usage: report.py DIR")
    d = sys.argv[1]
    m = read_machine(d)
    echo = read_echo(d)
    mq = read_rounds(d, "mq", parse_mq)
    cache = read_rounds(d, "cache", parse_cache)
    if not mq or not cache:
        fail("no mqbench or cachebench output in " + d)
    write_csvs(d, mq, cache)
    conns_list = sorted({k[1] for k in echo})
    sizes = sorted({k[2] for k in echo})
    servers = [s for s in ECHO_ORDER if any(k[0] == s for k in echo)]
    rep = Report()

    echo_targets(rep, echo, conns_list, sizes)
    r = mq_ratio(mq, "stream 64 B (msg/s)", "spscq", "ring")
    rep.target("queue / busy-polled ring, stream 64 B", r[0], r[1], ">=", 0.8)
    r = mq_ratio(mq, "stream 64 B (msg/s)", "spscq", "unix")
    rep.target("queue / Unix socket, stream 64 B", r[0], r[1], ">=", 20)
    for live, bound in ((1000, 2.5), (1000000, 4.0)):
        v = [c[0][live][2] for c in cache.values() if live in c[0]]
        rep.target("mpool / malloc, %s live objects" % format(live, ","),
                   med(v) if v else None, spread(v) if v else None, ">=",
                   bound)
    for kind, bound in (("equal", 0.83), ("decreasing", 0.89)):
        v = [c[1][(20, kind)][1] for c in cache.values()
             if (20, kind) in c[1]]
        rep.target("multi-hash load at first failure, 20 %s rows" % kind,
                   med(v) if v else None, spread(v) if v else None, ">=",
                   bound)

    quick = m.get("quick") == "1"
    rep.p("# svrtut benchmark report")
    rep.p()
    rep.p("`%s`, started %s; took %s s, of which %s s waiting for other "
          "benchmarks to release the lock." % (
              "make bench QUICK=1" if quick else "make bench", m["started"],
              m.get("duration_s", "?"), m.get("lock_wait_s", "?")))
    rep.p()
    rep.p("Machine: %s, %s CPUs (%s), Linux %s. Load average %s at the "
          "start, %s at the end; CPU steal %s%% of all CPU time during the "
          "run. Open-file limit %s.%s" % (
              m["host"], m["cpus"], m["cpu_model"], m["kernel"],
              m["load_start"], m.get("load_end", "?"),
              m.get("steal_pct", "?"), m["nofile"],
              (" " + m["limit_note"] + ".") if m.get("limit_note") else ""))
    rep.p()
    rep.p("%s rounds, interleaved: within each point every server runs once "
          "per round, in turn (A, B, C, A, B, C, ...), each round under "
          "`flock /tmp/svrtut-bench.lock`. Echo points are %s s of "
          "`ch4-shm-stats/client_v4 -m` (closed loop: one message in flight "
          "per connection). Figures are medians, with the lowest and highest "
          "round in brackets; CPU per message is user + system time of every "
          "server process (from /proc) over the messages echoed. Client and "
          "server share the machine's cores, so CPU per message is the fair "
          "figure, messages/s the one a user sees." % (
              m["rounds"], m["seconds_per_point"]))
    rep.p()
    if m.get("resumed"):
        rep.p("The run was stopped and resumed (%s): the points measured "
              "after that are from then." % m["resumed"])
        rep.p()
    errs = os.path.join(d, "errors.txt")
    if os.path.exists(errs):
        rep.p("Points that failed twice and are missing:")
        rep.p()
        rep.p("```")
        with open(errs) as f:
            rep.p(f.read().rstrip())
        rep.p("```")
        rep.p()
    rep.p("## Targets")
    rep.p()
    rep.p("| target | measured (median) | spread of rounds | needs | |")
    rep.p("|---|---|---|---|---|")
    for what, v, sp, op, bound, verdict in rep.targets:
        rep.p("| %s | %s | %s | %s %s | %s |" % (
            what, v, sp, "≤" if op == "<=" else "≥", bound,
            "**%s**" % verdict if verdict == "NOT met" else verdict))
    rep.p()

    for size in sizes:
        rep.p("## Echo servers, %d-byte messages" % size)
        rep.p()
        rep.p("| server | conns | messages/s | p50 µs | p99 µs | p99.9 µs | "
              "CPU µs/msg | CPU vs epoll_echo |")
        rep.p("|---|---|---|---|---|---|---|---|")
        for n in conns_list:
            for s in servers:
                if (s, n, size) not in echo:
                    continue
                g = lambda f: echo_series(echo, s, n, size, f)
                r = ratio(echo, s, "epoll_echo", n, size, "cpu_us_per_msg")
                rep.p("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
                    s, format(n, ","), fmt_spread(g("msgs_per_s")),
                    fmt(med(g("p50_us"))), fmt(med(g("p99_us"))),
                    fmt(med(g("p999_us"))), fmt_spread(g("cpu_us_per_msg")),
                    "%.2f" % r[0] if r else "-"))
        rep.p()
    rep.p("Servers: " + "; ".join("`%s` %s" % (s, ECHO_ROLE[s])
                                  for s in servers) + ".")
    rep.p()

    rep.p("## Shared-memory queue against a busy-polled ring, a pipe and a "
          "Unix socket")
    rep.p()
    rep.p("`ch4-mq/bench/mqbench`, between two processes; medians of %d "
          "runs (lowest-highest)." % len(mq))
    rep.p()
    rep.p("| | " + " | ".join(KINDS) + " | spscq/ring | spscq/pipe | "
          "spscq/unix |")
    rep.p("|---|" + "---|" * 7)
    first = next(iter(mq.values()))
    for label in first:
        cols = [[t[label][i] for t in mq.values()] for i in range(4)]
        cells = [fmt_spread(c) for c in cols]
        if label.startswith("idle"):
            rats = ["", "", ""]
        else:
            rats = ["%.2fx" % (med(cols[0]) / med(cols[i]))
                    for i in (1, 2, 3)]
        rep.p("| %s | %s | %s |" % (label, " | ".join(cells),
                                     " | ".join(rats)))
    rep.p()

    rep.p("## Memory pool against malloc; multi-hash")
    rep.p()
    rep.p("`ch5-cache/bench/cachebench`: ns per free + alloc of a 64-byte "
          "object (best of three inside each run), medians of %d runs." %
          len(cache))
    rep.p()
    rep.p("| live objects | malloc ns | mpool ns | speed-up |")
    rep.p("|---|---|---|---|")
    for live in sorted(next(iter(cache.values()))[0]):
        cols = [[c[0][live][i] for c in cache.values()] for i in range(3)]
        rep.p("| %s | %s | %s | %s |" % (format(live, ","),
                                         *(fmt_spread(c) for c in cols)))
    rep.p()
    rep.p("| rows | rows are | slots | load at first failure | insert M/s | "
          "find hit M/s | find miss M/s |")
    rep.p("|---|---|---|---|---|---|---|")
    for key in sorted(next(iter(cache.values()))[1],
                      key=lambda k: (k[1] != "equal", k[0])):
        cols = [[c[1][key][i] for c in cache.values()] for i in range(5)]
        rep.p("| %d | %s | %d | %s | %s | %s | %s |" % (
            key[0], key[1], med(cols[0]), fmt_spread(cols[1], 4),
            fmt_spread(cols[2]), fmt_spread(cols[3]), fmt_spread(cols[4])))
    rep.p()

    charts = draw(d, echo, mq, servers, conns_list, sizes)
    if charts:
        rep.p("## Charts")
        rep.p()
        for name, title in charts:
            rep.p("![%s](%s)" % (title, name))
            rep.p()
    else:
        rep.p("(No charts: gnuplot is not installed; `make deps "
              "WITH=gnuplot`, as root, installs it.)")
        rep.p()
    rep.p("Raw data: `echo.csv`, `mq.csv`, `cache.csv` (every round), "
          "`machine.txt`, and the tables as printed (`mq-N.txt`, "
          "`cache-N.txt`).")
    with open(os.path.join(d, "report.md"), "w") as f:
        f.write("\n".join(rep.lines) + "\n")
    for what, v, sp, op, bound, verdict in rep.targets:
        print("%-68s %6s  %s" % (what, v, verdict))


# --- charts (gnuplot) ---------------------------------------------------------

STYLE = """set terminal pngcairo size 1100,460 font ",10"
set grid
set key outside right top
set datafile separator ","
"""


def draw(d, echo, mq, servers, conns_list, sizes):
    if not shutil.which("gnuplot"):
        return []
    data = os.path.join(d, "plot-echo.csv")
    with open(data, "w") as f:
        for s in servers:
            for size in sizes:
                for n in conns_list:
                    if (s, n, size) in echo:
                        f.write("%s,%d,%d,%g,%g,%g,%g,%g\n" % (
                            s, size, n,
                            *(med(echo_series(echo, s, n, size, k))
                              for k in ("msgs_per_s", "cpu_us_per_msg",
                                        "p50_us", "p99_us", "p999_us"))))
    gp = [STYLE]
    charts = []

    def lines_chart(name, col, ylabel, title, logy):
        gp.append('set output "%s"' % os.path.join(d, name))
        gp.append("set multiplot layout 1,%d title \"%s\"" % (len(sizes),
                                                             title))
        gp.append("set logscale x")
        gp.append("set xlabel \"connections\"")
        gp.append("set ylabel \"%s\"" % ylabel)
        gp.append("set logscale y" if logy else "unset logscale y")
        for size in sizes:
            gp.append("set title \"%d-byte messages\"" % size)
            plots = ["\"%s\" using ($2==%d && strcol(1) eq \"%s\" ? $3 : 1/0)"
                     ":%d with linespoints lw 2 title \"%s\"" % (
                         data, size, s, col, s) for s in servers]
            gp.append("plot " + ", ".join(plots))
        gp.append("unset multiplot")
        charts.append((name, title))

    lines_chart("echo-msgs.png", 4, "messages/s",
                "Echo servers: messages per second (closed loop)", True)
    lines_chart("echo-cpu.png", 5, "server CPU µs per message",
                "Echo servers: server CPU time per message", True)

    # Latency at the largest connection count measured for every server.
    n = max(c for c in conns_list
            if all((s, c, sizes[0]) in echo for s in servers))
    lat = os.path.join(d, "plot-latency.dat")
    with open(lat, "w") as f:
        for s in servers:
            f.write("%s %s\n" % (s, " ".join(
                "%g" % med(echo_series(echo, s, n, sizes[0], k))
                for k in ("p50_us", "p99_us", "p999_us"))))
    gp.append('set output "%s"' % os.path.join(d, "echo-latency.png"))
    gp.append('set datafile separator whitespace')
    gp.append('unset logscale x')
    gp.append('set logscale y')
    gp.append('set style data histograms')
    gp.append('set style histogram clustered gap 1')
    gp.append('set style fill solid 0.8 border -1')
    gp.append('set xtics rotate by -20')
    gp.append('set xlabel ""')
    gp.append('set ylabel "latency µs"')
    gp.append('set title "Echo latency percentiles, %s connections, '
              '%d-byte messages"' % (format(n, ","), sizes[0]))
    gp.append('plot "%s" using 2:xtic(1) title "p50", "" using 3 title '
              '"p99", "" using 4 title "p99.9"' % lat)
    charts.append(("echo-latency.png", "Echo latency percentiles"))

    ipc = os.path.join(d, "plot-ipc.dat")
    rows = ["stream 64 B (msg/s)", "stream 1024 B (msg/s)"]
    rtts = ["rtt 64 B median (us)", "rtt 1024 B median (us)"]
    with open(ipc, "w") as f:
        for i, k in enumerate(KINDS):
            f.write("%s %s\n" % (k, " ".join(
                "%g" % med([t[r][i] for t in mq.values()])
                for r in rows + rtts)))
    gp.append('set output "%s"' % os.path.join(d, "ipc.png"))
    gp.append('set multiplot layout 1,2 title "Between two processes: '
              'queue (spscq), busy-polled ring, pipe, Unix socket"')
    gp.append('set xtics norotate')
    gp.append('set title "streaming"')
    gp.append('set ylabel "messages/s"')
    gp.append('plot "%s" using 2:xtic(1) title "64 B", "" using 3 title '
              '"1024 B"' % ipc)
    gp.append('set title "round trip (median)"')
    gp.append('set ylabel "µs"')
    gp.append('plot "%s" using 4:xtic(1) title "64 B", "" using 5 title '
              '"1024 B"' % ipc)
    gp.append('unset multiplot')
    charts.append(("ipc.png", "IPC methods"))

    script = os.path.join(d, "plot.gp")
    with open(script, "w") as f:
        f.write("\n".join(gp) + "\n")
    res = subprocess.run(["gnuplot", script], capture_output=True, text=True)
    if res.returncode != 0:
        fail("gnuplot failed: " + res.stderr.strip())
    return charts


if __name__ == "__main__":
    main()
