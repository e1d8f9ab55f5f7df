#!/usr/bin/python3
"""Real-time figures of issue 18, side by side in one run (the machine is shared and noisy).

    bench/realtime.sh BUILD_DIR     (bench/run.sh calls it; this file does the work)

1. metrics cost   `spate run` with `--http 127.0.0.1:0` (metrics, dashboard and its history
                  sampler on, and a scraper here polling /metrics and /api/overview once a
                  second, as Prometheus plus an open dashboard would) against the same run
                  without --http; generator -> discard and generator -> SQLite; COST_ROUNDS
                  rounds, the order rotated every round; the rate is spate's own summary
                  figure (records / time from the first record to the last stored).
                  Target: median(on / off) >= 97% for each sink (cost < 3%); MISSED only
                  when three quarters of the pairs are below 97%, UNRESOLVED (not a
                  failure) when the median is below but the pairs straddle it: one pair
                  moves by +-15% on this VM. Then the CPU that serving takes, directly:
                  IDLE_ROUNDS pairs of paced runs (10,000 records/s for IDLE_SECONDS,
                  discard) with and without --http and the scraper; the extra CPU a second
                  against the full-speed discard run's CPU a second. Target: < 3%.
                  The instrumentation itself is on with or without --http (see BASELINE).
2. latency        ingest -> stored at --rate 10000 for LATENCY_SECONDS into SQLite (its
                  database on the disk, as a user's; and, reported, on tmpfs), read from
                  spate's summary line (`latency: ingest->stored p50 .. p99 .. max ..`), or
                  from the spate_end_to_end_latency_seconds histogram of the last scrape when
                  the line is absent: (a) the memory transport, target p99 < 50 ms; (b) `run
                  --transport kafka` through the librdkafka mock cluster (3 brokers, the rig
                  of tests/rigs), target p99 < 100 ms.
3. --rate         achieved vs asked at 1,000, 10,000 and 100,000 records/s into the discard
                  sink for RATE_SECONDS each: records / spate's wall clock of the run and
                  records / --duration (target: both within 2%), the rate between the
                  scrapes, the largest source batch (spate_batch_records{stage="source"}) and
                  the busiest one-second window seen by the scraper (no bursts above one
                  batch).

Prints a table; exits 1 if a target was missed, 2 if a part could not run. About 3.5 minutes
on the 2-vCPU development VM. Environment: COST_ROUNDS (10), DISCARD_COUNT (2000000),
SQLITE_COUNT (100000), IDLE_ROUNDS (2), IDLE_SECONDS (6), LATENCY_SECONDS (12), RATE_SECONDS
(8); BASELINE (unset: the path of another spate binary, e.g. one built before issue 18, to
run without --http in part 1's rounds too: the cost of the instrumentation itself); PARTS
(cost latency kafka rate: which to run).
"""
import http.client
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROUNDS = int(os.environ.get("COST_ROUNDS", "10"))
DISCARD_COUNT = int(os.environ.get("DISCARD_COUNT", "2000000"))
SQLITE_COUNT = int(os.environ.get("SQLITE_COUNT", "100000"))
LATENCY_SECONDS = int(os.environ.get("LATENCY_SECONDS", "12"))
RATE_SECONDS = int(os.environ.get("RATE_SECONDS", "8"))
IDLE_ROUNDS = int(os.environ.get("IDLE_ROUNDS", "2"))
IDLE_SECONDS = int(os.environ.get("IDLE_SECONDS", "6"))
RATES = (1000, 10000, 100000)
LATENCY_RATE = 10000


class CannotRun(Exception):
    """A part could not run (missing flag, spate failed): reported as FAILED, exit 2."""


def section(title):
    print(f"\n== {title}", flush=True)


# --- Prometheus text format -------------------------------------------------------------------

SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """[(name, {label: value}, float)] of a /metrics body."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        if m:
            out.append((m.group(1), dict(LABEL.findall(m.group(2) or "")), float(m.group(3))))
    return out


def metric_sum(samples, name, **labels):
    return sum(v for n, l, v in samples
               if n == name and all(l.get(k) == w for k, w in labels.items()))


def buckets(samples, name, **labels):
    """Cumulative (le, count) of a histogram, summed over the series matching labels."""
    acc = {}
    for n, l, v in samples:
        if n == name + "_bucket" and all(l.get(k) == w for k, w in labels.items()):
            le = float(l["le"])  # float("+Inf") is inf
            acc[le] = acc.get(le, 0) + v
    return sorted(acc.items())


def quantile(cumulative, q):
    """The q-quantile of cumulative buckets, linear inside its bucket (as src/observe does)."""
    if not cumulative or cumulative[-1][1] == 0:
        return None
    rank = q * cumulative[-1][1]
    lower, below = 0.0, 0
    for le, count in cumulative:
        if count >= rank and count > below:
            if le == float("inf"):
                return lower  # only a lower bound is known
            return lower + (le - lower) * (rank - below) / (count - below)
        lower, below = le, count
    return lower


def largest_bucket(cumulative):
    """Upper bound (le) of the highest non-empty bucket: the largest value is <= it."""
    prev = 0
    top = None
    for le, count in cumulative:
        if count > prev:
            top = le
        prev = count
    return top


# --- Running spate -----------------------------------------------------------------------------

class Scraper(threading.Thread):
    """Polls PATHS of the dashboard once a second from the moment spate logs its URL until
    stopped; keeps the /metrics bodies (parsed) with their times."""

    PATHS = ("/metrics", "/api/overview")

    def __init__(self, log_path, paths=PATHS):
        super().__init__(daemon=True)
        self.log_path = log_path
        self.paths = paths
        self.api_metrics = []  # The latest /api/metrics "metrics" list, when polled.
        self.done = threading.Event()
        self.port = None
        self.metrics = []  # (monotonic time, parsed samples)
        self.requests = 0
        self.failures = []

    def find_port(self):
        while not self.done.is_set():
            try:
                with open(self.log_path, errors="replace") as f:
                    m = re.search(r"http://127\.0\.0\.1:(\d+)/", f.read())
            except OSError:
                m = None
            if m:
                return int(m.group(1))
            time.sleep(0.02)
        return None

    def run(self):
        self.port = self.find_port()
        if self.port is None:
            return
        next_at = time.monotonic()
        while not self.done.is_set():
            for path in self.paths:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}",
                                                timeout=2) as r:
                        body = r.read().decode()
                    self.requests += 1
                    if path == "/metrics":
                        self.metrics.append((time.monotonic(), parse_metrics(body)))
                    elif path == "/api/metrics":
                        self.api_metrics = json.loads(body)["metrics"]
                except (OSError, http.client.HTTPException, ValueError, KeyError) as e:
                    # Refused because spate has just exited (after its final scrape) is the
                    # end of the run, not a failure: the main thread says so within moments.
                    if not self.done.wait(0.5):
                        self.failures.append(f"{path}: {e}")
            next_at += 1.0
            self.done.wait(max(0.0, next_at - time.monotonic()))


class Result:
    pass


def run_spate(argv, log_path, scrape=False, timeout=300, paths=Scraper.PATHS):
    """Runs spate to its end; returns a Result with the exit code, wall and CPU seconds, the
    summary's figures, the latency line and the scraper (or None)."""
    with open(log_path, "wb") as log:
        started = time.monotonic()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=log)
    scraper = Scraper(log_path, paths) if scrape else None
    if scraper:
        scraper.start()
    killer = threading.Timer(timeout, lambda: os.kill(proc.pid, signal.SIGKILL))
    killer.start()
    _, status, usage = os.wait4(proc.pid, 0)
    killer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if scraper:
        scraper.done.set()
        scraper.join()
    res = Result()
    res.code = proc.returncode
    res.wall = time.monotonic() - started
    res.cpu = usage.ru_utime + usage.ru_stime
    res.scraper = scraper
    with open(log_path, errors="replace") as f:
        res.log = f.read()
    m = re.search(r"^spate run: ([\d,]+) records in ([\d.]+) s \(([\d,]+)/s\)", res.log, re.M)
    res.records = int(m.group(1).replace(",", "")) if m else None
    res.seconds = float(m.group(2)) if m else None
    res.rate = int(m.group(3).replace(",", "")) if m else None
    res.latency = parse_latency_line(res.log)
    return res


UNIT = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0}
VALUE = r"([\d.,]+)\s*(ns|us|µs|ms|s)\b"


def parse_latency_line(log, sink="sqlite"):
    """(p50, p99, max) in seconds from `latency: ingest->stored [(SINK)] p50 X, p99 Y, max Z`:
    the line naming `sink` when there are several, else the first; or None."""
    pattern = (r"latency: ingest->stored(?: \(([\w-]+)\))?\D*?p50\s*" + VALUE + r".*?p99\s*"
               + VALUE + r".*?max\s*" + VALUE)
    found = list(re.finditer(pattern, log))
    m = next((f for f in found if f.group(1) == sink), found[0] if found else None)
    if not m:
        return None
    g = m.groups()[1:]
    return tuple(float(g[i].replace(",", "")) * UNIT[g[i + 1]] for i in (0, 2, 4))


def check(res, what):
    if res.code != 0 or res.records is None:
        tail = "\n".join(res.log.splitlines()[-5:])
        raise CannotRun(f"{what} exited {res.code}:\n{tail}")
    return res


def ms(seconds):
    if seconds is None:
        return "-"
    return f"{seconds * 1e3:.2f} ms" if seconds < 0.001 else f"{seconds * 1e3:.1f} ms"


def pct(x):
    return f"{x * 100:.1f}%"


# --- The parts ---------------------------------------------------------------------------------

class Bench:
    def __init__(self, build):
        self.spate = os.path.join(build, "spate")
        self.rig = os.path.join(build, "tests", "rigs", "spate_kafka_rig")
        self.work = tempfile.mkdtemp(prefix="spate-realtime-bench.",
                                     dir=os.environ.get("TMPDIR", "/tmp"))
        self.rows = []  # (target, measured, goal, verdict)
        self.failed = []
        shown = subprocess.run([self.spate, "run", "--help"], capture_output=True, text=True)
        help_text = shown.stdout + shown.stderr
        self.flags = {f for f in ("--rate", "--duration", "--http", "--linger")
                      if f in help_text}

    def need(self, *flags):
        missing = [f for f in flags if f not in self.flags]
        if missing:
            raise CannotRun(f"spate run has no {', '.join(missing)} yet")

    def data_dir(self, name):
        path = os.path.join(self.work, name)
        shutil.rmtree(path, ignore_errors=True)
        return path

    def row(self, target, measured, goal, verdict=""):
        self.rows.append((target, measured, goal, verdict))

    # 1 -------------------------------------------------------------------------------------
    def metrics_cost(self):
        self.need("--http")
        # BASELINE: another spate binary (e.g. one built before issue 18) run without --http
        # in the same rounds: what the instrumentation itself costs, served or not.
        baseline = os.environ.get("BASELINE", "")
        variants = ["off", "on"] + (["base"] if baseline else [])
        section(f"1. metrics cost: --http 127.0.0.1:0 + a scraper at 1/s vs no --http, "
                f"{ROUNDS} rounds, order rotated each round"
                + (f"; base = {baseline} without --http" if baseline else ""))
        sinks = (("discard", DISCARD_COUNT), ("sqlite", SQLITE_COUNT))
        rates = {(s, v): [] for s, _ in sinks for v in variants}
        cpus = {(s, v): [] for s, _ in sinks for v in variants}
        ratios = {(s, v): [] for s, _ in sinks for v in variants}
        scrapes = 0
        scrape_failures = []
        for r in range(ROUNDS):
            for sink, count in sinks:
                order = variants[r % len(variants):] + variants[:r % len(variants)]
                for v in order:
                    argv = [baseline if v == "base" else self.spate, "run", "--count",
                            str(count), "--sink", sink, "--data-dir",
                            self.data_dir(f"cost-{sink}"), "--progress", "never",
                            "--log-level", "info"]
                    if v == "on":
                        argv += ["--http", "127.0.0.1:0"]
                    res = check(run_spate(argv, os.path.join(self.work, "cost.log"),
                                          scrape=v == "on"), f"spate run --sink {sink} ({v})")
                    if v == "on":
                        if res.scraper.port is None:
                            raise CannotRun("spate run --http logged no dashboard URL")
                        scrapes += res.scraper.requests
                        scrape_failures += res.scraper.failures
                    rates[(sink, v)].append(res.rate)
                    cpus[(sink, v)].append(res.cpu / res.records * 1e6)
                for v in variants:
                    ratios[(sink, v)].append(rates[(sink, v)][-1] / rates[(sink, "off")][-1])
                print(f"round {r + 1} {sink:7}: "
                      + "   ".join(f"{v} {rates[(sink, v)][-1]:>9,} rec/s (CPU "
                                   f"{cpus[(sink, v)][-1]:.2f} s/M)" for v in variants)
                      + "   " + ", ".join(f"{v}/off {pct(ratios[(sink, v)][-1])}"
                                          for v in variants[1:]), flush=True)
        print(f"scraper: {scrapes} requests answered, {len(scrape_failures)} failed"
              + (f" (first: {scrape_failures[0]})" if scrape_failures else ""))
        for sink, count in sinks:
            ratio = statistics.median(ratios[(sink, "on")])
            cpu_off = statistics.median(cpus[(sink, "off")])
            q1, _, q3 = statistics.quantiles(ratios[(sink, "on")] * 2, n=4)
            # One pair moves by +-15% or more here, far more than the 3% asked about, so the
            # median alone would flip between MET and MISSED from run to run. MISSED when
            # three quarters of the pairs say so (a real cost of 3% shifts them all);
            # UNRESOLVED when the median is below the goal but the pairs straddle it (the
            # direct CPU measure below then decides).
            verdict = ("MET" if ratio >= 0.97 else "MISSED" if q3 < 0.97 else
                       "UNRESOLVED (noise)")
            self.row(f"metrics on/off, {sink}, {count:,} rec (median)", pct(ratio), ">= 97%",
                     verdict)
            self.row("  on/off, middle half of the pairs", f"{pct(q1)} .. {pct(q3)}",
                     "(reported)", "")
            self.row("  rec/s off / on (medians)", f"{statistics.median(rates[(sink, 'off')]):,.0f}"
                     f" / {statistics.median(rates[(sink, 'on')]):,.0f}", "(reported)", "")
            self.row("  CPU per record, on / off (medians)",
                     pct(statistics.median(cpus[(sink, "on")]) / cpu_off), "(reported)", "")
            if baseline:
                self.row("  baseline binary / off (median)",
                         pct(statistics.median(ratios[(sink, "base")])), "(reported)", "")
        # The throughput ratio moves by +-15% from one pair of runs to the next here, so it
        # cannot resolve 3% alone. The serving side's CPU can be measured directly: a paced
        # run (10,000 records/s, discard) with and without --http and the scraper; the extra
        # CPU per second of run, against what the full-speed run above burns per second, is
        # the share of the machine that serving takes from the pipeline.
        extra = []
        for r in range(IDLE_ROUNDS):
            cpu = {}
            for v in (("off", "on") if r % 2 == 0 else ("on", "off")):
                argv = [self.spate, "run", "--rate", "10000", "--duration", f"{IDLE_SECONDS}s",
                        "--sink", "discard", "--data-dir", self.data_dir("idle"),
                        "--progress", "never", "--log-level", "info"]
                if v == "on":
                    argv += ["--http", "127.0.0.1:0"]
                res = check(run_spate(argv, os.path.join(self.work, "idle.log"),
                                      scrape=v == "on"), f"spate run --rate 10000 ({v})")
                if v == "on":
                    scrape_failures += res.scraper.failures
                cpu[v] = res.cpu
            extra.append((cpu["on"] - cpu["off"]) / IDLE_SECONDS)
            print(f"paced round {r + 1}: CPU off {cpu['off']:.2f} s, on {cpu['on']:.2f} s over "
                  f"{IDLE_SECONDS} s: --http takes {extra[-1] * 1e3:+.1f} ms of CPU a second",
                  flush=True)
        full = statistics.median(cpus[("discard", "off")]) * statistics.median(
            rates[("discard", "off")]) / 1e6  # CPU seconds a second (cores) at full speed
        served = statistics.median(extra)
        self.row("--http CPU a second (paced runs, median)", f"{served * 1e3:.1f} ms",
                 "(reported)", "")
        self.row("  as a share of the full-speed run's CPU", pct(served / full),
                 f"< 3% of {full:.2f} cores", "MET" if served / full < 0.03 else "MISSED")
        if scrape_failures:
            print(f"scraper failures: {scrape_failures[:3]}")
            self.row("scraper requests failed during the runs", str(len(scrape_failures)), "0",
                     "MISSED")

    # 2 -------------------------------------------------------------------------------------
    def latency_run(self, name, extra, data_dir=None):
        argv = [self.spate, "run", "--rate", str(LATENCY_RATE), "--duration",
                f"{LATENCY_SECONDS}s", "--sink", "sqlite", "--data-dir",
                data_dir or self.data_dir(name), "--progress", "never", "--log-level",
                "info"] + extra
        scrape = "--http" in self.flags
        if scrape:
            argv += ["--http", "127.0.0.1:0"]
        res = check(run_spate(argv, os.path.join(self.work, f"{name}.log"), scrape=scrape,
                              timeout=LATENCY_SECONDS + 120), f"spate run ({name})")
        source = "summary line"
        lat = res.latency
        if lat is None and scrape and res.scraper.metrics:
            samples = res.scraper.metrics[-1][1]
            cum = buckets(samples, "spate_end_to_end_latency_seconds", sink="sqlite")
            if cum and cum[-1][1] > 0:
                source = f"/metrics, last scrape ({int(cum[-1][1]):,} records)"
                lat = (quantile(cum, 0.5), quantile(cum, 0.99), None)
        line = re.search(r"^\s*latency:.*$", res.log, re.M)
        print(f"{name}: {res.records:,} records in {res.seconds} s; "
              + (line.group(0).strip() if line else "no latency line in the summary"))
        if lat is None:
            raise CannotRun(f"{name}: no latency figures (no summary line, no histogram)")
        print(f"  p50 {ms(lat[0])}, p99 {ms(lat[1])}, max {ms(lat[2])} (from the {source})")
        return lat

    def latency(self):
        self.need("--rate", "--duration")
        section(f"2a. latency ingest->stored, memory transport, --rate {LATENCY_RATE} for "
                f"{LATENCY_SECONDS} s into SQLite")
        lat = self.latency_run("latency-memory", [])
        self.row(f"e2e latency p99, memory -> sqlite, {LATENCY_RATE}/s", ms(lat[1]), "< 50 ms",
                 "MET" if lat[1] < 0.050 else "MISSED")
        self.row("  p50 / max", f"{ms(lat[0])} / {ms(lat[2])}", "(reported)", "")
        # The same run with the database in memory (tmpfs): what is spate's and what is the
        # disk's (SQLite's WAL writes and checkpoints wait on the file system).
        if os.access("/dev/shm", os.W_OK):
            shm = tempfile.mkdtemp(prefix="spate-realtime-bench.", dir="/dev/shm")
            try:
                section(f"2a'. the same, the database on tmpfs ({shm})")
                lat = self.latency_run("latency-tmpfs", [], data_dir=shm)
            finally:
                shutil.rmtree(shm, ignore_errors=True)
            self.row("  the same on tmpfs: p50 / p99 / max",
                     f"{ms(lat[0])} / {ms(lat[1])} / {ms(lat[2])}", "(reported)", "")

    def latency_kafka(self):
        self.need("--rate", "--duration")
        if not os.access(self.rig, os.X_OK):
            raise CannotRun(f"{self.rig} is missing: build it (target spate_kafka_rig)")
        section(f"2b. latency ingest->stored, run --transport kafka (mock cluster, 3 brokers, "
                f"6 partitions), --rate {LATENCY_RATE} for {LATENCY_SECONDS} s into SQLite")
        rig = subprocess.Popen([self.rig, "--brokers", "3", "--topic", "latency:6"],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            line = rig.stdout.readline().strip()
            if not line.startswith("bootstrap="):
                raise CannotRun(f"the rig said {line!r}")
            bootstrap = line.split("=", 1)[1]
            # Leaders spread evenly (bench/kafka.sh says why).
            for p in range(6):
                rig.stdin.write(f"leader latency {p} {p % 3 + 1}\n")
                rig.stdin.flush()
                reply = rig.stdout.readline().strip()
                if reply != "ok":
                    raise CannotRun(f"rig: leader latency {p}: {reply}")
            lat = self.latency_run("latency-kafka", ["--transport", "kafka", "--brokers",
                                                     bootstrap, "--topic", "latency"])
        finally:
            try:
                rig.stdin.write("quit\n")
                rig.stdin.close()
                rig.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                rig.kill()
                rig.wait()
        self.row(f"e2e latency p99, kafka mock -> sqlite, {LATENCY_RATE}/s", ms(lat[1]),
                 "< 100 ms", "MET" if lat[1] < 0.100 else "MISSED")
        self.row("  p50 / max", f"{ms(lat[0])} / {ms(lat[2])}", "(reported)", "")

    # 3 -------------------------------------------------------------------------------------
    def rate_accuracy(self):
        self.need("--rate", "--duration")
        # The batch sizes and per-second windows come from /metrics (without --http: only the
        # achieved rate).
        scrape = "--http" in self.flags
        section(f"3. --rate accuracy: --duration {RATE_SECONDS}s into discard"
                + (", scraped once a second" if scrape else ""))
        for asked in RATES:
            argv = [self.spate, "run", "--rate", str(asked), "--duration", f"{RATE_SECONDS}s",
                    "--sink", "discard", "--data-dir", self.data_dir("rate"), "--progress",
                    "never", "--log-level", "info"]
            if scrape:
                argv += ["--http", "127.0.0.1:0"]
            res = check(run_spate(argv, os.path.join(self.work, f"rate-{asked}.log"),
                                  scrape=scrape, timeout=RATE_SECONDS + 60,
                                  paths=Scraper.PATHS + ("/api/metrics",)),
                        f"spate run --rate {asked}")
            # Two measures: records over spate's own wall clock of the run (first record due
            # to last one stored; the discard sink drains in microseconds), and records over
            # the asked --duration (what the pacer handed out: fewer if it fell behind).
            by_wall = res.rate / asked
            by_count = res.records / RATE_SECONDS / asked
            # Per-second windows between scrapes, leaving out the first (start-up) and the
            # last (the end of the run); their span gives a third, independent rate.
            scraped = res.scraper.metrics if scrape else []
            points = [(t, metric_sum(s, "spate_source_records_total", pipeline="run"))
                      for t, s in scraped]
            windows = [(n2 - n1) / (t2 - t1) for (t1, n1), (t2, n2) in zip(points, points[1:])
                       if t2 > t1][1:-1]
            mid = points[1:-1]
            steady = ((mid[-1][1] - mid[0][1]) / (mid[-1][0] - mid[0][0]) / asked
                      if len(mid) >= 2 and mid[-1][0] > mid[0][0] else None)
            batch = None
            for _, s in scraped:
                top = largest_bucket(buckets(s, "spate_batch_records", pipeline="run",
                                             stage="source"))
                if top is not None and (batch is None or top > batch):
                    batch = top
            # /api/metrics has the histogram's exact max; /metrics only its buckets.
            exact = [m.get("max") for m in (res.scraper.api_metrics if scrape else [])
                     if m.get("name") == "spate_batch_records"
                     and m.get("labels", {}).get("stage") == "source"
                     and m.get("labels", {}).get("pipeline") == "run"]
            batch_text = (f"{max(exact):,.0f}" if exact and max(exact) else
                          f"<= {int(batch)}" if batch else "-")
            peak = max(windows) if windows else None
            print(f"--rate {asked:>6}: {res.records:,} records in {res.seconds:.2f} s "
                  f"({res.rate:,}/s, {pct(by_wall)} of asked; over --duration {pct(by_count)}"
                  + (f"; between scrapes {pct(steady)}" if steady else "")
                  + "); one-second windows "
                  + (f"{min(windows):,.0f}..{peak:,.0f}/s" if windows else "-")
                  + f"; largest source batch {batch_text}",
                  flush=True)
            ok = abs(by_wall - 1) <= 0.02 and abs(by_count - 1) <= 0.02
            self.row(f"--rate {asked:,}: achieved / asked, wall clock", pct(by_wall),
                     "100 +- 2%", "MET" if ok else "MISSED")
            self.row("  over --duration; between scrapes",
                     f"{pct(by_count)}; {pct(steady) if steady else '-'}", "(reported)", "")
            self.row("  peak 1 s window; largest source batch",
                     f"{peak:,.0f}/s; {batch_text}" if peak else "-", "(reported)",
                     "")


def load_average():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def main():
    if len(sys.argv) != 2:
        print(f"usage: {sys.argv[0]} BUILD_DIR", file=sys.stderr)
        return 2
    build = sys.argv[1]
    if not os.access(os.path.join(build, "spate"), os.X_OK):
        print(f"{sys.argv[0]}: {build}/spate is missing: build first", file=sys.stderr)
        return 2
    started = time.monotonic()
    bench = Bench(build)
    section("machine")
    print(f"nproc: {os.cpu_count()}; load average: {load_average()}")
    try:
        parts = {"cost": bench.metrics_cost, "latency": bench.latency,
                 "kafka": bench.latency_kafka, "rate": bench.rate_accuracy}
        chosen = os.environ.get("PARTS", "cost latency kafka rate").split()
        for part in (parts[name] for name in chosen):
            part_started = time.monotonic()
            try:
                part()
                print(f"({time.monotonic() - part_started:.0f} s)", flush=True)
            except CannotRun as e:
                print(f"FAILED: {e}", flush=True)
                bench.failed.append(part.__name__)
                bench.row(f"{part.__name__}: could not run", "", "", "FAILED")
    finally:
        shutil.rmtree(bench.work, ignore_errors=True)
    section(f"real-time summary ({time.monotonic() - started:.0f} s, load average now "
            f"{load_average()})")
    fmt = "{:<52} {:>22} {:>10} {}"
    print(fmt.format("target", "measured", "goal", ""))
    for r in bench.rows:
        print(fmt.format(*r))
    if bench.failed:
        return 2
    return 1 if any(r[3] == "MISSED" for r in bench.rows) else 0


if __name__ == "__main__":
    sys.exit(main())
