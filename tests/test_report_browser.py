"""The HTML report opened in a real browser: headless Chromium, driven over the Chrome
DevTools Protocol on --remote-debugging-pipe (no extra Python package, no driver).

Asserts that every image decodes, that the console stays clean and that the page
makes no network request. A negative test proves the detector catches a broken
image and an outside request. Needs Debian's ``chromium`` (/usr/bin/chromium).
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("SWEEPLAB_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions", "--no-first-run",
    "--no-default-browser-check", "--mute-audio", "--hide-scrollbars",
    "--remote-debugging-pipe",
)
ALLOWED_SCHEMES = ("file:", "data:")  # the page itself and its embedded images

_IMAGES_JS = """JSON.stringify(Array.from(document.images).map(i => ({
  src: i.src.slice(0, 40), complete: i.complete, w: i.naturalWidth, h: i.naturalHeight})))"""


@dataclass
class PageCheck:
    """What the browser saw while loading one page."""

    images: list[dict] = field(default_factory=list)  # {src, complete, w, h} per <img>
    console_errors: list[str] = field(default_factory=list)  # console/JS/log errors
    requests: list[str] = field(default_factory=list)  # every URL the page requested
    screenshots: list[Path] = field(default_factory=list)

    @property
    def broken_images(self) -> list[dict]:
        return [i for i in self.images if not i["complete"] or i["w"] <= 0]

    @property
    def network_requests(self) -> list[str]:
        return [u for u in self.requests if not u.startswith(ALLOWED_SCHEMES)]


class Browser:
    """Headless Chromium with a DevTools Protocol session over pipes (fds 3 and 4)."""

    def __init__(self, width: int = 1280, height: int = 900):
        self._profile = tempfile.mkdtemp(prefix="sweeplab-chromium-")
        to_child_r, self._w = os.pipe()  # we write commands, Chromium reads fd 3
        self._r, from_child_w = os.pipe()  # Chromium writes fd 4, we read
        fds = {3: to_child_r, 4: from_child_w}

        def remap() -> None:  # in the child: put the pipes on fds 3 and 4 (inheritable)
            # Copy first: a pipe may already sit on fd 3 or 4, and dup2 onto itself
            # would keep its close-on-exec flag.
            tmp = {target: fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for target, fd in fds.items()}
            for target, fd in tmp.items():
                os.dup2(fd, target)

        self._proc = subprocess.Popen(
            [CHROMIUM, *FLAGS, f"--user-data-dir={self._profile}",
             f"--window-size={width},{height}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=remap, close_fds=False)  # os.pipe fds are close-on-exec anyway
        os.close(to_child_r)
        os.close(from_child_w)
        self._buf = b""
        self._next_id = 0
        self.events: list[dict] = []
        self.width, self.height = width, height

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=5)
        except Exception:  # already gone: fall through to killing it
            pass
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        os.close(self._w)
        os.close(self._r)
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _read_message(self, deadline: float) -> dict:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._r], [], [], left)[0]:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self._r, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe")
            self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        return json.loads(msg)

    def send(self, method: str, params: dict | None = None, session: str | None = None,
             timeout: float = 30.0) -> dict:
        self._next_id += 1
        msg: dict = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_event(self, method: str, timeout: float = 60.0) -> dict:
        deadline = time.monotonic() + timeout
        for i, ev in enumerate(self.events):
            if ev.get("method") == method:
                return self.events.pop(i)
        while True:
            ev = self._read_message(deadline)
            if ev.get("method") == method:
                return ev
            self.events.append(ev)

    def check_page(self, url: str, screenshot: Path | None = None,
                   clips: dict[str, Path] | None = None) -> PageCheck:
        """Load ``url``, record images, console errors and requests; optional screenshots.

        ``clips`` maps an element id to a PNG path: that element is captured alone.
        """
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        sid = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable", session=sid)
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": self.width, "height": self.height, "deviceScaleFactor": 1,
                   "mobile": False}, session=sid)
        self.events.clear()
        self.send("Page.navigate", {"url": url}, session=sid)
        self.wait_event("Page.loadEventFired")
        result = PageCheck()
        images = self.send("Runtime.evaluate", {"expression": _IMAGES_JS, "returnByValue": True},
                           session=sid)
        result.images = json.loads(images["result"]["value"])
        if screenshot is not None:
            shot = self.send("Page.captureScreenshot",
                             {"format": "png", "captureBeyondViewport": False}, session=sid)
            screenshot.write_bytes(_b64(shot["data"]))
            result.screenshots.append(screenshot)
        for element_id, path in (clips or {}).items():
            js = (f"(() => {{const r = document.getElementById({json.dumps(element_id)})"
                  ".getBoundingClientRect(); return JSON.stringify({x: r.left + scrollX, "
                  "y: r.top + scrollY, width: r.width, height: r.height});})()")
            box = json.loads(self.send("Runtime.evaluate", {"expression": js,
                                                            "returnByValue": True},
                                       session=sid)["result"]["value"])
            shot = self.send("Page.captureScreenshot",
                             {"format": "png", "captureBeyondViewport": True,
                              "clip": {**box, "scale": 1}}, session=sid, timeout=60)
            path.write_bytes(_b64(shot["data"]))
            result.screenshots.append(path)
        # Let late events (a failed request, an error logged after load) arrive.
        deadline = time.monotonic() + 0.5
        try:
            while True:
                self.events.append(self._read_message(deadline))
        except TimeoutError:
            pass
        for ev in self.events:
            if ev.get("sessionId") not in (None, sid):
                continue
            method, p = ev.get("method"), ev.get("params", {})
            if method == "Network.requestWillBeSent":
                result.requests.append(p["request"]["url"])
            elif method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                result.console_errors.append(json.dumps(p.get("args"))[:300])
            elif method == "Runtime.exceptionThrown":
                result.console_errors.append(json.dumps(p.get("exceptionDetails"))[:300])
            elif method == "Log.entryAdded" and p["entry"].get("level") == "error":
                result.console_errors.append(p["entry"].get("text", "")[:300])
        self.send("Target.closeTarget", {"targetId": target})
        return result


def _b64(data: str) -> bytes:
    import base64

    return base64.b64decode(data)


_HAVE_CHROMIUM = os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)
if not _HAVE_CHROMIUM and os.environ.get("CI"):
    # CI installs Chromium (`make test`); a missing browser there is a broken set-up,
    # not a reason to skip the one test that opens the report like a person would.
    raise RuntimeError(f"CI is set but Chromium is not at {CHROMIUM}")
needs_chromium = pytest.mark.skipif(
    not _HAVE_CHROMIUM, reason=f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)")


# ---------------------------------------------------------------------------- tests


@needs_chromium
def test_detector_catches_broken_image_and_outside_request(tmp_path):
    good = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9"
            "awAAAABJRU5ErkJggg==")
    page = tmp_path / "bad.html"
    page.write_text(
        "<!DOCTYPE html><html><body>"
        f'<img id="ok" src="data:image/png;base64,{good}">'
        '<img id="broken" src="data:image/png;base64,AAAAAAAA">'
        '<img id="remote" src="http://192.0.2.1/x.png">'
        "<script>console.error('boom')</script></body></html>")
    with Browser() as b:
        check = b.check_page(page.as_uri())
    assert len(check.images) == 3
    assert [i["w"] for i in check.images][0] == 1
    assert len(check.broken_images) >= 2  # the corrupt data URI and the unreachable one
    assert check.network_requests == ["http://192.0.2.1/x.png"]
    assert any("boom" in e for e in check.console_errors)


@needs_chromium
def test_report_in_headless_chromium(tiny_store_report, tmp_path):
    html_path = tiny_store_report
    shot = Path(tempfile.gettempdir()) / "sweeplab-report-screenshot.png"
    with Browser(1280, 1000) as b:
        check = b.check_page(html_path.resolve().as_uri(), screenshot=shot)
    print(f"\nscreenshot: {shot}")
    assert shot.stat().st_size > 10_000
    assert len(check.images) == html_path.read_text().count("<img ") >= 6
    assert check.broken_images == [], check.broken_images
    assert check.console_errors == []
    assert check.network_requests == []
    assert check.requests[0] == html_path.resolve().as_uri()


@pytest.fixture(scope="module")
def tiny_store_report(tmp_path_factory, report_store, data_dir):
    """A report of two tiny real studies (q1, and q6 at three widths) of the shared report
    store (tests/conftest.py)."""
    from sweeplab import report
    from sweeplab.store import Store

    with Store(report_store, readonly=True) as store:
        return report.write_report(store, tmp_path_factory.mktemp("browser") / "report.html",
                                   ["q1", "q6"], data_dir=data_dir)


XSS_STUDY = '''
name = "xss<script>console.error('xss-name')</script>"
title = "<script>console.error('xss-title')</script> & <b>bold</b>"
description = """<img src=x onerror="console.error('xss-description')">
<svg onload="console.error('xss-svg')"></svg>"""
dataset = "mnist"
seeds = 1
epochs = 1
subset = 200

[model]
preset = "mlp-relu-mse"

[[axes]]
name = "<iframe src=javascript:console.error('xss-axis')>"
path = "layers.1.units"
values = [8, 16]
labels = ["<script>console.error('xss-label')</script>", "<u onmouseover=x>16</u>"]
'''


@needs_chromium
def test_strings_from_a_study_are_text_not_markup(tmp_path, data_dir):
    """Every string a study file or a store brings (name, title, description, axis name and
    labels) is escaped: the page shows it as text and none of it runs."""
    import sweeplab
    from sweeplab.report import write_report
    from sweeplab.store import Store

    toml = tmp_path / "xss.toml"
    toml.write_text(XSS_STUDY)
    res = sweeplab.run(str(toml), store=tmp_path / "s.db", data_dir=data_dir, progress=False)
    name = res.studies()["study"].iloc[0]
    assert name.startswith("xss<script>")
    with Store(tmp_path / "s.db", readonly=True) as store:
        page = write_report(store, tmp_path / "report.html", [name], data_dir=data_dir)
    html = page.read_text()
    for raw in ("<script>console.error", "<img src=x", "<svg onload", "<iframe", "<u onmouse",
                "<b>bold"):
        assert raw not in html, raw
    # escaped as the HTML writer escapes every string (html.escape, quotes too)
    assert "&lt;script&gt;console.error(&#x27;xss-title&#x27;)" in html
    with Browser() as b:
        check = b.check_page(page.resolve().as_uri())
    assert check.console_errors == [], check.console_errors
    assert check.network_requests == [], check.network_requests
    assert len(check.images) == html.count("<img ")
