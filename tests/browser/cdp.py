"""A small Chrome DevTools Protocol client for the browser tests.

Starts Debian's chromium headless with its own temporary profile, finds the DevTools port in
the profile's DevToolsActivePort file (port 0 lets chromium pick a free one), and talks to one
page target over its WebSocket (python3-websocket): commands with ids, events kept in a list
for the test to inspect. Nothing here knows about spate.
"""

import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request

import websocket  # Debian python3-websocket


class CdpError(Exception):
    pass


# Flags that keep chromium from talking to anything but the page under test (no update
# checks, sync, field trials, crash upload) and make it behave in a container.
_QUIET_FLAGS = [
    "--headless=new",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-sync",
    "--disable-breakpad",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--disable-features=Translate,OptimizationHints,MediaRouter,DialMediaRouteProvider",
    "--metrics-recording-only",
    "--no-pings",
    "--mute-audio",
    "--hide-scrollbars",
    "--password-store=basic",
    "--use-mock-keychain",
]


class Browser:
    """One headless chromium process. Use as a context manager: it is always killed."""

    def __init__(self, binary="/usr/bin/chromium", width=1280, height=900):
        self.binary = binary
        self.width = width
        self.height = height
        self.profile = None
        self.proc = None
        self.port = None
        self.log_path = None

    def __enter__(self):
        self.profile = tempfile.mkdtemp(prefix="spate-chromium-")
        self.log_path = os.path.join(self.profile, "chromium.log")
        args = [self.binary, *_QUIET_FLAGS,
                "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
                f"--user-data-dir={self.profile}", f"--window-size={self.width},{self.height}",
                "about:blank"]
        if os.geteuid() == 0:
            args.insert(1, "--no-sandbox")  # chromium refuses to run as root with its sandbox
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        active = os.path.join(self.profile, "DevToolsActivePort")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise CdpError(f"chromium exited with {self.proc.returncode} before it was "
                               f"ready:\n{self.log_tail()}")
            try:
                with open(active) as f:
                    lines = f.read().split("\n")
                if len(lines) >= 2 and lines[0].strip():
                    self.port = int(lines[0])
                    return self
            except (FileNotFoundError, ValueError):
                pass
            time.sleep(0.1)
        raise CdpError(f"chromium wrote no DevToolsActivePort in 60 s:\n{self.log_tail()}")

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self):
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, 9)  # chromium's own session: its helper processes too
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=30)
        if self.profile:
            shutil.rmtree(self.profile, ignore_errors=True)
            self.profile = None

    def log_tail(self, n=4000):
        try:
            with open(self.log_path, "rb") as f:
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return ""
        # No D-Bus in a container: chromium's complaints about it are noise here.
        return "\n".join(l for l in text.splitlines() if "dbus" not in l)[-n:]

    def page(self):
        """A Page on the first page target (the about:blank tab chromium opened)."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/json/list", timeout=10) as r:
                targets = json.load(r)
            for t in targets:
                if t.get("type") == "page" and t.get("webSocketDebuggerUrl"):
                    return Page(t["webSocketDebuggerUrl"])
            time.sleep(0.2)
        raise CdpError("chromium has no page target")


class Page:
    """A CDP session on one page: send() waits for its answer; events pile up in .events."""

    def __init__(self, ws_url):
        # No Origin header: chromium refuses DevTools connections from unlisted origins.
        self.ws = websocket.create_connection(ws_url, timeout=30, suppress_origin=True)
        self.next_id = 1
        self.events = []

    def close(self):
        try:
            self.ws.close()
        except Exception:
            pass

    def _receive(self, timeout):
        self.ws.settimeout(timeout)
        try:
            text = self.ws.recv()
        except websocket.WebSocketTimeoutException:
            return None
        return json.loads(text)

    def send(self, method, timeout=30, **params):
        msg_id = self.next_id
        self.next_id += 1
        self.ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CdpError(f"{method}: no answer in {timeout} s")
            msg = self._receive(left)
            if msg is None:
                continue
            if msg.get("id") == msg_id:
                if "error" in msg:
                    raise CdpError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    def pump(self, seconds):
        """Collects events for `seconds`."""
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            msg = self._receive(left)
            if msg is not None and "method" in msg:
                self.events.append(msg)

    def evaluate(self, expression):
        """The value of a JavaScript expression in the page (awaited if it is a promise)."""
        r = self.send("Runtime.evaluate", expression=expression, returnByValue=True,
                      awaitPromise=True)
        if "exceptionDetails" in r:
            raise CdpError(f"evaluating {expression!r}: {r['exceptionDetails']}")
        return r["result"].get("value")
