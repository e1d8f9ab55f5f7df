#!/usr/bin/python3
"""Browser test of the dashboard: the real page, served by a real `spate run --http`, in a real
headless chromium driven over the DevTools protocol (cdp.py).

The run reads JSON Lines from a FIFO that this test feeds at about 200 users a second, so it
lasts as long as the test needs and every number is known: the good users (the fixture's,
each with its own login.uuid so each is one row) and three hostile lines whose reason and raw
bytes are markup (`<script>`, `<img onerror>`). The test
  - fails on any JavaScript exception, console error, failed or 4xx/5xx request, or request
    outside the dashboard (no CDN) while spate runs;
  - waits until the stored total on the page moves;
  - checks the page's totals against /api/overview: each value the page shows must lie
    between two API readings taken before the page fetched it and after the test read it
    (counters only grow, so this cannot flake on a slow machine);
  - checks the hostile dead letters are shown as literal text and ran nothing;
  - stops feeding, waits until the page shows the final totals, closes the input so spate
    exits, and checks those totals against the SQLite store and what it fed; then the page
    must say the connection is lost, still without a JavaScript error;
  - runs with an aggregation by country (issue 19): once the store holds a complete window
    of it, the country chart shows that window, titled with the table's name, and once the
    input stopped and the last window ended, exactly the store's numbers for the latest
    complete window (a SELECT on the table); the gender chart, with no aggregation by gender,
    stays the in-process tally;
  - saves a screenshot (--out-dir, and --screenshot PATH for docs/dashboard.png).
Exit status 0 when all holds, 1 with a message naming what did not.

Usage: dashboard_test.py --spate BIN --fixture USERS.json --out-dir DIR [--screenshot PNG]
                         [--hold SECONDS] [--chromium BIN]
"""

import argparse
import base64
import copy
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.dont_write_bytecode = True  # no __pycache__ left in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cdp  # noqa: E402

RATE = 200  # users a second fed into the FIFO, in 10 slices a second
HOSTILE = [
    # An API error object: ingest makes the message the reason (and the line the raw bytes).
    '{"error":"<script>window.__xss=1</script>"}',
    # Valid JSON, not a user: a process dead letter whose raw bytes hold markup.
    '{"gender":"<img src=x onerror=\\"window.__xss=1\\">",'
    '"name":{"first":"<script>window.__xss=1</script>"}}',
    # Not JSON at all.
    '<img src=x onerror="window.__xss=1"> not json',
]
# Good users before each hostile line: the dead letters arrive while rows flow.
HOSTILE_AFTER = [100, 250, 400]
# The aggregation the run keeps: short windows, so that several complete during the test.
AGGREGATION = "users_by_country"
AGGREGATE = AGGREGATION + ":5s:country"
TOP_GROUPS = 10  # the page shows the top 10 countries of a window, then "N more countries"


class Failure(Exception):
    pass


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


class Feeder(threading.Thread):
    """Writes users (and the hostile lines) into the FIFO until told to stop, then holds the
    FIFO open until told to close it: the run ends when the input ends."""

    def __init__(self, fifo, users):
        super().__init__(daemon=True)
        self.fifo = fifo
        self.users = users
        self.stop_writing = threading.Event()
        self.close_input = threading.Event()
        self.good = 0
        self.bad = 0
        self.error = None
        self.stopped = threading.Event()  # no more lines will be written
        self.done = threading.Event()

    def line(self, i):
        user = copy.deepcopy(self.users[i % len(self.users)])
        user.setdefault("login", {})["uuid"] = f"00000000-0000-4000-8000-{i:012d}"
        return json.dumps(user, separators=(",", ":"))

    def run(self):
        try:
            fd = os.open(self.fifo, os.O_WRONLY)  # waits for spate to open the FIFO
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                per_slice = RATE // 10
                next_slice = time.monotonic()
                while not self.stop_writing.is_set():
                    lines = []
                    for _ in range(per_slice):
                        if self.bad < len(HOSTILE) and self.good == HOSTILE_AFTER[self.bad]:
                            lines.append(HOSTILE[self.bad])
                            self.bad += 1
                        lines.append(self.line(self.good))
                        self.good += 1
                    out.write("\n".join(lines) + "\n")
                    out.flush()
                    next_slice += 0.1
                    time.sleep(max(0.0, next_slice - time.monotonic()))
                self.stopped.set()
                self.close_input.wait()
        except Exception as e:  # BrokenPipeError when spate died: reported by the test
            self.error = e
        finally:
            self.stopped.set()
            self.done.set()


class Spate:
    """`spate run` reading the FIFO, with the dashboard on a free loopback port."""

    def __init__(self, binary, fifo, data_dir):
        self.args = [binary, "run", "--source", "file", "--input", fifo, "--sink", "sqlite",
                     "--data-dir", data_dir, "--http", "127.0.0.1:0", "--progress", "never",
                     "--aggregate", AGGREGATE]
        self.proc = None
        self.stderr = []
        self.url = None
        self.url_seen = threading.Event()
        self.reader = None

    def start(self):
        log("starting " + " ".join(self.args))
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.stderr.append(line)
            m = re.search(r"dashboard: (http://\S+?)/?(?:\s|$)", line)
            if m and not self.url:
                self.url = m.group(1) + "/"
                self.url_seen.set()
        self.url_seen.set()  # stderr closed: spate is gone

    def tail(self, n=30):
        return "\n".join(self.stderr[-n:])

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.reader:
            self.reader.join(timeout=5)


def api(base, path):
    with urllib.request.urlopen(base + path, timeout=10) as r:
        return json.load(r)


class Watch:
    """The page's events: what must never happen while spate runs."""

    def __init__(self, page, base):
        self.page = page
        self.base = base
        self.checked = 0
        # After spate exits, failed fetches are expected (the page must still not throw).
        self.server_gone = False

    def check(self):
        problems = []
        events = self.page.events
        for ev in events[self.checked:]:
            m, p = ev["method"], ev.get("params", {})
            if m == "Runtime.exceptionThrown":
                d = p.get("exceptionDetails", {})
                problems.append("JavaScript exception: " +
                                str(d.get("exception", {}).get("description") or d.get("text")))
            elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                args = " ".join(str(a.get("value", a.get("description", ""))) for a in p["args"])
                problems.append(f"console.{p['type']}: {args}")
            elif m == "Log.entryAdded" and p["entry"].get("level") == "error":
                e = p["entry"]
                if not (self.server_gone and e.get("source") == "network"):
                    problems.append(f"console error ({e.get('source')}): {e.get('text')} "
                                    f"{e.get('url', '')}")
            elif m == "Network.loadingFailed" and not self.server_gone:
                problems.append(f"request failed: {p.get('errorText')} ({p.get('type')})")
            elif (m == "Network.responseReceived" and p["response"]["status"] >= 400 and
                  not self.server_gone):
                r = p["response"]
                problems.append(f"HTTP {r['status']} for {r['url']}")
            elif m == "Network.requestWillBeSent":
                url = p["request"]["url"]
                if not (url.startswith(self.base) or url.startswith("data:")):
                    problems.append(f"request outside the dashboard: {url}")
        self.checked = len(events)
        if problems:
            raise Failure("the page misbehaved:\n  " + "\n  ".join(problems))

    def wait(self, what, cond, timeout):
        """Polls cond() (events checked between tries) until it returns a true value."""
        deadline = time.monotonic() + timeout
        while True:
            self.check()
            v = cond()
            if v:
                return v
            if time.monotonic() > deadline:
                raise Failure(f"timed out after {timeout} s waiting for {what}")
            self.page.pump(0.25)


READ_PAGE = """(() => {
  const t = (id) => document.querySelector(`[data-testid="${id}"]`);
  const v = (id) => { const e = t(id); return e ? {text: e.textContent,
                      value: e.getAttribute('data-value')} : null; };
  return {started: Number(document.body.dataset.pollsStarted || 0),
          shown: Number(document.body.dataset.pollsShown || 0),
          state: t('state').getAttribute('data-state'), state_text: t('state').textContent,
          ingested: v('ingested-total'), stored: v('stored-total'),
          rejected: v('rejected-total'), dead_letters: v('dead-letters-total')};
})()"""


def shown_number(reading, key):
    """The page's value for `key`, checked to be printed with thousands separators."""
    item = reading[key]
    if not item or item["value"] in (None, ""):
        return None
    value = int(item["value"])
    if item["text"] != f"{value:,}":
        raise Failure(f"the page shows {key} as {item['text']!r}, expected {value:,}")
    return value


def check_against_api(w, page, base):
    """Each total the page shows lies between an API reading taken before the page fetched it
    and one taken after the page was read."""
    before = api(base, "api/overview")
    started = page.evaluate(READ_PAGE)["started"]
    # A poll that started after `before` was answered, and is shown.
    reading = w.wait("a page refresh after the API reading",
                     lambda: (lambda r: r if r["shown"] > started else None)(
                         page.evaluate(READ_PAGE)), 15)
    after = api(base, "api/overview")
    for key in ("ingested", "stored", "rejected", "dead_letters"):
        lo, hi = before["totals"][key], after["totals"][key]
        v = shown_number(reading, key)
        if v is None or not lo <= v <= hi:
            raise Failure(f"the page shows {key} = {v}, /api/overview said {lo} before and "
                          f"{hi} after")
    log(f"page totals within the API's: stored {before['totals']['stored']} <= "
        f"{reading['stored']['value']} <= {after['totals']['stored']}")
    return after


def check_graph_and_charts(w, page, base):
    # Components appear in /api/overview as they first report: compare with a fresh reading
    # until both agree (a page a poll behind catches up within a second or two).
    seen = {}

    def same_nodes():
        seen["api"] = sorted(n["id"] for n in api(base, "api/overview")["nodes"])
        seen["page"] = sorted(page.evaluate(
            "[...document.querySelectorAll('#graph [data-node-id]')]"
            ".map(e => e.getAttribute('data-node-id'))"))
        return seen["api"] == seen["page"]

    try:
        w.wait("the graph to show /api/overview's nodes", same_nodes, 15)
    except Failure:
        raise Failure(f"the graph shows nodes {seen['page']}, /api/overview has {seen['api']}")
    overview = api(base, "api/overview")
    sink = next(n for n in overview["nodes"] if n["kind"] == "sink")
    text = page.evaluate(f"document.querySelector('#graph [data-node-id=\"{sink['id']}\"]')"
                         ".textContent")
    if "rows/s" not in text or "rows" not in text:
        raise Failure(f"the sink node shows no rate or rows: {text!r}")
    # The rate chart draws a line once the server has two samples.
    w.wait("the rate chart to draw a line", lambda: page.evaluate(
        "(document.querySelector('#chart-rate path.line.c0')||{getAttribute:()=>''})"
        ".getAttribute('d').includes('L')"), 30)
    legend = page.evaluate("document.querySelector('#chart-rate .legend').textContent")
    if "records/s" not in legend:
        raise Failure(f"the rate chart's legend has no unit: {legend!r}")


def check_dead_letters_inert(w, page, base):
    w.wait("the three hostile dead letters in the feed", lambda: page.evaluate(
        "document.querySelectorAll('[data-testid=dead-letter]').length") >= len(HOSTILE), 30)
    feed = page.evaluate("document.querySelector('[data-testid=dead-letter-feed]').textContent")
    for needle in ("<script>window.__xss=1</script>", '<img src=x onerror="window.__xss=1">'):
        if needle not in feed:
            raise Failure(f"the feed does not show {needle!r} as text; it shows {feed[:500]!r}")
    xss = page.evaluate("typeof window.__xss")
    if xss != "undefined":
        raise Failure(f"a dead letter ran as code: window.__xss is {xss}")
    # Only the page's own elements in the feed, and no image or extra script on the page.
    foreign = page.evaluate(
        "[...document.querySelectorAll('[data-testid=dead-letter-feed] *')]"
        ".map(e => e.tagName.toLowerCase()).filter(t => !['tr','td','code'].includes(t))")
    if foreign:
        raise Failure(f"the feed holds elements made from data: {foreign}")
    counts = page.evaluate("[document.scripts.length, document.images.length,"
                           " document.querySelectorAll('iframe,object,embed').length]")
    if counts != [1, 0, 0]:
        raise Failure(f"the page has scripts/images/frames {counts}, expected [1, 0, 0]")
    # The feed is the API's, newest first.
    dl = api(base, "api/dead_letters?limit=50")
    reasons = page.evaluate("[...document.querySelectorAll('[data-testid=dead-letter] td.reason')]"
                            ".map(e => e.textContent)")
    want = [d["reason"] for d in dl["dead_letters"]]
    if reasons != want:
        raise Failure(f"the feed shows reasons {reasons}, /api/dead_letters has {want}")
    log(f"{len(reasons)} hostile dead letters shown as text, nothing ran")


READ_COUNTRIES = """(() => {
  const c = document.querySelector('[data-testid="landed-countries"]');
  return {source: c.getAttribute('data-source'), table: c.getAttribute('data-table'),
          window: c.getAttribute('data-window'),
          title: document.querySelector('[data-testid="landed-countries-title"]').textContent,
          gender: document.querySelector('[data-testid="landed-gender"]').getAttribute('data-source'),
          rows: [...c.querySelectorAll('.bar')].map(b => [b.querySelector('.k').textContent,
                 b.querySelector('.v').textContent.split(' · ')[0]])};
})()"""


def store_window(data_dir):
    """The latest complete window of the aggregation, as the store holds it: its start and
    the rows the page must show for it ([country, users as printed], top 10 then the rest)."""
    db = sqlite3.connect(f"file:{os.path.join(data_dir, 'spate.db')}?mode=ro", uri=True,
                         timeout=5)
    try:
        now = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + ".000Z"
        got = db.execute(f"select max(window_start) from {AGGREGATION} where window_end <= ?",
                         (now,)).fetchone()
        if not got or not got[0]:
            return None, []
        start = got[0]
        rows = db.execute(f"select country, users from {AGGREGATION} where window_start = ?",
                          (start,)).fetchall()
    finally:
        db.close()
    rows.sort(key=lambda r: (-r[1], r[0]))
    shown = [[c, f"{u:,}"] for c, u in rows[:TOP_GROUPS]]
    if len(rows) > TOP_GROUPS:
        rest = sum(u for _, u in rows[TOP_GROUPS:])
        shown.append([f"{len(rows) - TOP_GROUPS} more countries", f"{rest:,}"])
    return start, shown


def check_store_chart_shown(w, page):
    """While rows flow: the country chart switches to the store's aggregation once a window
    of it is complete; the gender chart has none and stays the tally."""
    r = w.wait("the country chart to show the store's aggregation", lambda: (lambda r: r if
               r["source"] == "store" else None)(page.evaluate(READ_COUNTRIES)), 60)
    if r["table"] != AGGREGATION or AGGREGATION not in r["title"] or "5 s window" not in r["title"]:
        raise Failure(f"the country chart shows {r['table']!r} titled {r['title']!r}")
    if r["gender"] != "tally":
        raise Failure(f"the gender chart says its source is {r['gender']!r}, not the tally")
    log(f"country chart from the store: {r['title']}")


def check_store_chart_final(w, page, data_dir):
    """Input stopped, all stored: the store no longer changes, so the page must come to show
    exactly the latest complete window the table holds."""
    seen = {}

    def same():
        start, rows = store_window(data_dir)
        seen["store"] = (start, rows)
        r = page.evaluate(READ_COUNTRIES)
        seen["page"] = (r["window"], r["rows"], r["source"])
        return start is not None and r["source"] == "store" and r["window"] == start and \
            r["rows"] == rows

    try:
        w.wait("the country chart to show the store's latest complete window", same, 40)
    except Failure:
        raise Failure(f"the country chart shows {seen.get('page')}, the store holds "
                      f"{seen.get('store')}")
    log(f"country chart equals the store's window {seen['store'][0]}: "
        f"{len(seen['store'][1])} rows")


def screenshot(page, paths):
    height = page.evaluate("document.documentElement.scrollHeight")
    shot = page.send("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                     clip={"x": 0, "y": 0, "width": 1280, "height": height, "scale": 1})
    data = base64.b64decode(shot["data"])
    for path in paths:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        log(f"screenshot {path} (1280x{height}, {len(data) // 1024} KB)")


def run(args, tmp):
    with open(args.fixture, encoding="utf-8") as f:
        users = json.load(f)["results"]
    fifo = os.path.join(tmp, "users.jsonl")
    os.mkfifo(fifo)
    data_dir = os.path.join(tmp, "data")
    feeder = Feeder(fifo, users)
    spate = Spate(args.spate, fifo, data_dir)
    browser = None
    page = None
    try:
        spate.start()
        feeder.start()
        spate.url_seen.wait(60)
        if not spate.url:
            try:
                code = f"it exited with {spate.proc.wait(timeout=5)}"
            except subprocess.TimeoutExpired:
                code = "it still runs after 60 s"
            raise Failure(f"spate printed no 'dashboard: http://...' line ({code})")
        base = spate.url
        log(f"dashboard at {base}")

        browser = cdp.Browser(args.chromium).__enter__()
        page = browser.page()
        for domain in ("Runtime", "Log", "Network", "Page"):
            page.send(domain + ".enable")
        page.send("Emulation.setDeviceMetricsOverride", width=1280, height=900,
                  deviceScaleFactor=1, mobile=False)
        w = Watch(page, base)
        page.send("Page.navigate", url=base)
        w.wait("the page to load", lambda: page.evaluate(
            f"document.readyState === 'complete' && location.href === {json.dumps(base)}"), 30)

        first = w.wait("a stored total on the page",
                       lambda: shown_number(page.evaluate(READ_PAGE), "stored"), 60)
        second = w.wait("the stored total to move", lambda: (lambda v: v if v and v != first
                        else None)(shown_number(page.evaluate(READ_PAGE), "stored")), 60)
        log(f"stored total moved on the page: {first:,} -> {second:,}")
        reading = page.evaluate(READ_PAGE)
        if reading["state"] != "running":
            raise Failure(f"the page says {reading['state_text']!r} during the run")

        check_against_api(w, page, base)
        check_graph_and_charts(w, page, base)
        check_dead_letters_inert(w, page, base)
        check_store_chart_shown(w, page)

        if args.hold:
            log(f"holding {args.hold} s for the screenshot")
            w.wait(f"{args.hold} s", lambda d=time.monotonic() + args.hold: time.monotonic() > d,
                   args.hold + 5)
        w.check()
        screenshot(page, [os.path.join(args.out_dir, "dashboard.png")] +
                   ([args.screenshot] if args.screenshot else []))

        # The end: everything fed is stored, the page shows it, then the input closes.
        feeder.stop_writing.set()
        w.wait("the feeder to stop", feeder.stopped.is_set, 10)
        good, bad = feeder.good, feeder.bad
        if feeder.error:
            raise Failure(f"feeding spate failed: {feeder.error}\n{spate.tail()}")
        final = w.wait(f"/api/overview to count {good:,} stored and {bad} rejected",
                       lambda: (lambda o: o if o["totals"]["stored"] == good and
                                o["totals"]["rejected"] == bad else None)(
                           api(base, "api/overview")), 60)
        w.wait("the page to show the final totals", lambda: (lambda r: shown_number(r, "stored")
               == good and shown_number(r, "rejected") == bad)(page.evaluate(READ_PAGE)), 15)
        last = page.evaluate(READ_PAGE)
        log(f"page shows the final totals: {last['stored']['text']} stored, "
            f"{last['rejected']['text']} rejected")
        check_store_chart_final(w, page, data_dir)

        feeder.close_input.set()
        try:
            code = spate.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            raise Failure("spate did not exit within 60 s after its input ended")
        w.server_gone = True
        if code != 0:
            raise Failure(f"spate exited with {code}:\n{spate.tail()}")
        db = sqlite3.connect(os.path.join(data_dir, "spate.db"))
        try:
            stored = db.execute("select count(*) from created_users").fetchone()[0]
            rejected = db.execute("select count(*) from rejected_users").fetchone()[0]
        finally:
            db.close()
        page_stored = shown_number(last, "stored")
        page_rejected = shown_number(last, "rejected")
        if (stored, rejected) != (page_stored, page_rejected) or \
                (stored, rejected) != (final["totals"]["stored"], final["totals"]["rejected"]):
            raise Failure(f"the store holds {stored} rows and {rejected} rejected; the page "
                          f"showed {page_stored} and {page_rejected}, /api/overview "
                          f"{final['totals']['stored']} and {final['totals']['rejected']}")
        log(f"store matches the page: {stored:,} rows, {rejected} rejected")

        w.wait("the page to say the connection is lost", lambda: page.evaluate(READ_PAGE)["state"]
               == "lost", 15)
        page.pump(1.5)  # one more failed poll: still no exception
        w.check()
        log("page says: " + page.evaluate(READ_PAGE)["state_text"])
    except Failure as e:
        raise Failure(f"{e}\n--- spate's stderr, last lines:\n{spate.tail()}")
    except cdp.CdpError as e:
        raise Failure(f"DevTools: {e}\n--- chromium's log:\n{browser.log_tail() if browser else ''}")
    finally:
        feeder.stop_writing.set()
        feeder.close_input.set()
        if not feeder.done.is_set():
            # The feeder may still wait in open() for a reader: be one, briefly.
            try:
                fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
                feeder.done.wait(5)
                os.close(fd)
            except OSError:
                pass
        if page:
            page.close()
        if browser:
            browser.close()
        spate.stop()


def run_test(run, args):
    """Calls run(args, tmp) with a fresh temporary directory, removed after: the exit code of
    a browser test, 0 (PASS) or 1 (FAIL and why)."""
    tmp = tempfile.mkdtemp(prefix="spate-browser-")
    try:
        run(args, tmp)
    except (Failure, cdp.CdpError) as e:
        print(f"FAIL: {e}", file=sys.stderr, flush=True)
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log("PASS")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--spate", required=True)
    ap.add_argument("--fixture", required=True, help="an API response document of users")
    ap.add_argument("--out-dir", required=True, help="where dashboard.png is saved")
    ap.add_argument("--screenshot", help="also save the screenshot here (docs/dashboard.png)")
    ap.add_argument("--hold", type=float, default=0,
                    help="seconds to let the run go on before the screenshot (fuller charts)")
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    args = ap.parse_args()
    return run_test(run, args)


if __name__ == "__main__":
    sys.exit(main())
