#!/usr/bin/python3
"""Browser test of the runs grid (issue 20): the real page, served by DashboardServer with
ServeSchedule over a real run history (schedule_fixture.cc: a SQLite store with runs in every
state, no scheduler), in a real headless chromium driven over the DevTools protocol (cdp.py).

The test
  - fails on any JavaScript exception, console error, failed or 4xx/5xx request, or request
    outside the server while it runs (dashboard_test.Watch);
  - reads the store itself (sqlite3 on DATA_DIR/schedule.db) and checks that the grid has one
    cell per run, in its job's row, in the order of the intervals (newest on the right), with
    its state's class and a title that gives its run id, attempt and error; that each state
    has its own colour, the legend's; that a run's error holding markup stays text and runs
    nothing;
  - clicks a job's Trigger button (a real mouse click at the button) and waits until a queued
    manual run of that job is in the store and its cell is on the page;
  - saves a screenshot 1280 px wide (--out-dir, and --screenshot PATH for docs/schedule.png);
  - ends the server and waits until the page says the connection is lost, without an error.
Exit status 0 when all holds, 1 with a message naming what did not.

Usage: schedule_test.py --server BIN --out-dir DIR [--screenshot PNG] [--chromium BIN]
"""

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ left in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cdp  # noqa: E402
from dashboard_test import Failure, Watch, log, run_test, screenshot  # noqa: E402

STATES = ["queued", "running", "success", "failed", "up_for_retry", "skipped"]
TRIGGERED_JOB = "aggregate_users"


class Server:
    """schedule_fixture on a free loopback port; it ends when its stdin closes."""

    def __init__(self, binary, data_dir):
        self.args = [binary, data_dir]
        self.proc = None
        self.url = None
        self.stderr = []

    def start(self):
        log("starting " + " ".join(self.args))
        self.proc = subprocess.Popen(self.args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        threading.Thread(target=lambda: self.stderr.extend(self.proc.stderr),
                         daemon=True).start()
        line = self.proc.stdout.readline()  # the fixture prints its URL once it serves
        if not line.startswith("schedule: http://"):
            self.proc.wait(timeout=30)
            raise Failure(f"the fixture printed {line!r} and exited with "
                          f"{self.proc.returncode}:\n{''.join(self.stderr)}")
        self.url = line.split(" ", 1)[1].strip()

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def store_runs(data_dir):
    """Every run in the store, by run id, as the store holds it."""
    db = sqlite3.connect(f"file:{os.path.join(data_dir, 'schedule.db')}?mode=ro", uri=True,
                         timeout=5)
    db.row_factory = sqlite3.Row
    try:
        rows = db.execute("select * from spate_runs").fetchall()
    finally:
        db.close()
    return {r["run_id"]: dict(r) for r in rows}


READ_GRID = """(() => {
  const cells = [...document.querySelectorAll('[data-testid="runs-grid"] [data-testid="run-cell"]')];
  return cells.map((c) => {
    const tr = c.closest('tr');
    const style = getComputedStyle(c);
    return {id: Number(c.getAttribute('data-run-id')), state: c.getAttribute('data-state'),
            type: c.getAttribute('data-run-type'), cls: c.className, title: c.title,
            job: tr.getAttribute('data-job'), col: c.parentElement.cellIndex,
            colour: style.borderTopColor, fill: style.backgroundColor};
  });
})()"""

READ_LEGEND = """(() => [...document.querySelectorAll('[data-testid="legend"] [data-state]')].map(
  (k) => ({state: k.getAttribute('data-state'), text: k.textContent.trim(),
           colour: getComputedStyle(k.querySelector('.cell')).borderTopColor})))()"""

READ_LEGEND_TYPES = """(() => [...document.querySelectorAll('[data-testid="legend"] [data-run-type]')].map(
  (k) => ({type: k.getAttribute('data-run-type'),
           fill: getComputedStyle(k.querySelector('.cell')).backgroundColor,
           panel: getComputedStyle(k.closest('section, .panel, body')).backgroundColor})))()"""


def state_name(value):
    """The store's state column: its name, whatever the store writes (text or a number)."""
    if isinstance(value, str):
        return value
    return STATES[value]


def check_grid(page, runs):
    cells = page.evaluate(READ_GRID)
    by_id = {c["id"]: c for c in cells}
    if len(cells) != len(by_id):
        raise Failure(f"two cells for one run: {sorted(c['id'] for c in cells)}")
    if set(by_id) != set(runs):
        raise Failure(f"the grid has cells for runs {sorted(by_id)}, the store has "
                      f"{sorted(runs)}")
    for run_id, run in runs.items():
        c = by_id[run_id]
        state = state_name(run["state"])
        if c["state"] != state or f"s-{state}" not in c["cls"].split():
            raise Failure(f"run {run_id} is {state} in the store; its cell says "
                          f"{c['state']!r} with classes {c['cls']!r}")
        if c["job"] != run["job"]:
            raise Failure(f"run {run_id} of {run['job']} is in the row of {c['job']}")
        for needle in (f"run {run_id} ", f"attempt {run['attempt']}", run["error"] or ""):
            if needle not in c["title"]:
                raise Failure(f"the title of run {run_id} lacks {needle!r}: {c['title']!r}")
    # Newest on the right: in each row, columns follow the intervals.
    for job in {r["job"] for r in runs.values()}:
        row = sorted((c for c in cells if c["job"] == job), key=lambda c: c["col"])
        starts = [runs[c["id"]]["interval_start"] for c in row]
        if starts != sorted(starts):
            raise Failure(f"the row of {job} is not in interval order: {starts}")
    # One colour a state, the legend's.
    legend = {k["state"]: k for k in page.evaluate(READ_LEGEND)}
    if sorted(legend) != sorted(STATES):
        raise Failure(f"the legend has states {sorted(legend)}, expected {sorted(STATES)}")
    colours = {}
    for c in cells:
        colours.setdefault(c["state"], set()).add(c["colour"])
    for state, seen in colours.items():
        if seen != {legend[state]["colour"]}:
            raise Failure(f"{state} cells have colours {seen}, the legend "
                          f"{legend[state]['colour']}")
    if len({legend[s]["colour"] for s in STATES}) != len(STATES):
        raise Failure(f"two states share a colour: {[(s, legend[s]['colour']) for s in STATES]}")
    # The run types' keys: a fill under the shape and the dot, else the backfill key's dot
    # (drawn in the panel's colour) is invisible and it looks like the queued key.
    for key in page.evaluate(READ_LEGEND_TYPES):
        if key["fill"] in ("transparent", "rgba(0, 0, 0, 0)") or key["fill"] == key["panel"]:
            raise Failure(f"the legend's {key['type']} key has no fill to show its mark: {key}")
    missing = [s for s in STATES if s not in colours]
    if missing:
        raise Failure(f"the fixture has no run in states {missing}")
    return cells


def check_inert(page):
    xss = page.evaluate("typeof window.__xss")
    if xss != "undefined":
        raise Failure(f"a run's error ran as code: window.__xss is {xss}")
    counts = page.evaluate("[document.scripts.length, document.images.length,"
                           " document.querySelectorAll('iframe,object,embed').length]")
    if counts != [1, 0, 0]:
        raise Failure(f"the page has scripts/images/frames {counts}, expected [1, 0, 0]")
    errors = page.evaluate("[...document.querySelectorAll('[data-testid=runs-table] td.error')]"
                           ".map(e => e.textContent).filter(t => t.includes('<img'))")
    if not errors:
        raise Failure("the latest runs do not show the failed run's error as text")


def click(page, selector):
    """A real click (mouse pressed and released) at the middle of the element."""
    box = page.evaluate(f"""(() => {{
      const e = document.querySelector({json.dumps(selector)});
      if (!e) return null;
      e.scrollIntoView({{block: 'center'}});
      const r = e.getBoundingClientRect();
      return {{x: r.left + r.width / 2, y: r.top + r.height / 2}};
    }})()""")
    if not box:
        raise Failure(f"nothing on the page matches {selector}")
    for kind in ("mousePressed", "mouseReleased"):
        page.send("Input.dispatchMouseEvent", type=kind, x=box["x"], y=box["y"],
                  button="left", clickCount=1)


def run(args, tmp):
    data_dir = os.path.join(tmp, "data")
    server = Server(args.server, data_dir)
    browser = None
    page = None
    try:
        server.start()
        base = server.url
        runs = store_runs(data_dir)
        log(f"runs grid at {base}; {len(runs)} runs in the store")

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
        w.wait("the grid to show the store's runs", lambda: len(page.evaluate(READ_GRID)) ==
               len(runs), 30)
        cells = check_grid(page, runs)
        log(f"{len(cells)} cells, one a run, coloured by state as the legend says")
        check_inert(page)
        state = page.evaluate("document.querySelector('[data-testid=state]').dataset.state")
        if state != "running":
            raise Failure(f"the page's state is {state!r} while the server runs")

        # Trigger: a queued manual run of the job appears in the store, then on the page.
        click(page, f'button[data-testid="trigger"][data-job="{TRIGGERED_JOB}"]')

        def new_manual():
            now = store_runs(data_dir)
            new = [r for i, r in now.items() if i not in runs]
            return new if new else None

        new = w.wait("the triggered run in the store", new_manual, 15)
        if len(new) != 1:
            raise Failure(f"one click made {len(new)} runs: {new}")
        made = new[0]
        if (made["job"], made["run_type"], state_name(made["state"])) != \
                (TRIGGERED_JOB, "manual", "queued"):
            raise Failure(f"the click made {made}, not a queued manual run of {TRIGGERED_JOB}")
        log(f"the click queued run {made['run_id']} ({made['run_type']}, "
            f"{state_name(made['state'])}) of {made['job']}")
        said = w.wait("the page to say it queued the run", lambda: (lambda t: t if
                      f"queued run {made['run_id']} " in t else None)(page.evaluate(
                          "document.querySelector('[data-testid=action-result]').textContent")),
                      10)
        log(f"page says: {said}")
        runs = store_runs(data_dir)
        w.wait("the grid to show the new run", lambda: any(
            c["id"] == made["run_id"] for c in page.evaluate(READ_GRID)), 15)
        cells = check_grid(page, runs)
        cell = next(c for c in cells if c["id"] == made["run_id"])
        if "manual" not in cell["cls"].split():
            raise Failure(f"the manual run's cell is not marked manual: {cell['cls']!r}")
        rightmost = max(c["col"] for c in cells if c["job"] == TRIGGERED_JOB)
        if cell["col"] != rightmost:
            raise Failure(f"the newest run is in column {cell['col']}, not the rightmost "
                          f"({rightmost}) of its row")

        w.check()
        screenshot(page, [os.path.join(args.out_dir, "schedule.png")] +
                   ([args.screenshot] if args.screenshot else []))

        server.stop()
        w.server_gone = True
        w.wait("the page to say the connection is lost", lambda: page.evaluate(
            "document.querySelector('[data-testid=state]').dataset.state") == "lost", 15)
        page.pump(2.5)  # one more failed poll: still no exception
        w.check()
        log("page says the connection is lost")
    except Failure as e:
        raise Failure(f"{e}\n--- the fixture's stderr:\n{''.join(server.stderr)[-3000:]}")
    finally:
        if page:
            page.close()
        if browser:
            browser.close()
        server.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--server", required=True, help="the schedule_fixture binary")
    ap.add_argument("--out-dir", required=True, help="where schedule.png is saved")
    ap.add_argument("--screenshot", help="also save the screenshot here (docs/schedule.png)")
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    args = ap.parse_args()
    return run_test(run, args)


if __name__ == "__main__":
    sys.exit(main())
