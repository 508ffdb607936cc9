"""`sweeplab serve` in a real browser: headless Debian Chromium driven by Playwright's
Python API (``executable_path``, no browser download), against a real store trained here.

One server process (``python -m sweeplab serve``, on 127.0.0.1, a free port) and one
browser serve the whole module; both are stopped in ``finally``. The study is named and
labelled with markup, so every page also checks that a store's strings stay text.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlparse

import pytest

pytest.importorskip("starlette")
pytest.importorskip("plotly")
sync_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = os.environ.get("SWEEPLAB_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).is_file(),
                                    reason=f"no Chromium at {CHROMIUM}")
pytestmark = pytest.mark.timeout(600)

NAME = "grid<script>console.error('xss-name')</script>"
STUDY = f'''
name = "{NAME}"
title = "<b>bold</b> & <img src=x onerror=\\"console.error('xss-title')\\">"
dataset = "mnist"
seeds = 2
epochs = 1
subset = 300
validation = 0.1

[model]
preset = "mlp-relu-mse"

[[axes]]
name = "<i>w1</i>"
path = "layers.1.units"
values = [8, 32]
scale = "log2"

[[axes]]
name = "lr"
path = "optimizer.learning_rate"
values = [0.01, 0.1]
'''
READY_S = 90.0  # a loaded CI machine: importing pandas/scipy for the first view is slow
LIVE_S = 300.0  # a fresh `sweeplab run` process imports TensorFlow, then trains one run


def _get(url: str, timeout: float = 60.0) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read()


class Server:
    """`sweeplab serve` in its own process; can be killed and started again on its port."""

    def __init__(self, store: Path, port: int):
        self.store, self.port, self.proc = store, port, None
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = store.with_name(f"serve-{self.port}.log")  # a file: a full pipe would block

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "sweeplab", "serve", "--store", str(self.store),
                 "--port", str(self.port)], stdout=log, stderr=log)
        deadline = time.monotonic() + READY_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"serve exited: {self.log.read_text()}")
            try:
                if _get(self.url + "/api/studies", timeout=30)[0] == 200:
                    return
            except OSError:
                time.sleep(0.3)
        raise TimeoutError(f"serve did not answer within {READY_S} s")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def store(tmp_path_factory, data_dir) -> Path:
    """A real store: the markup-named 2 x 2 study, 2 seeds, 1 epoch on 300 images."""
    import sweeplab

    root = tmp_path_factory.mktemp("serve")
    (root / "study.toml").write_text(STUDY)
    sweeplab.run(str(root / "study.toml"), store=root / "s.db", data_dir=data_dir,
                 progress=False)
    return root / "s.db"


@pytest.fixture(scope="module")
def server(store, free_port):
    srv = Server(store, free_port())
    try:
        srv.start()
        yield srv
    finally:
        srv.kill()


@pytest.fixture(scope="module")
def browser():
    """One browser context for the module (its cache keeps plotly.js between pages)."""
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield b.new_context(viewport={"width": 1280, "height": 900})
        finally:
            b.close()


@pytest.fixture(scope="module")
def requests_seen() -> list[str]:
    return []


@pytest.fixture()
def page(browser, requests_seen):
    """A fresh page that records every request it makes and every console error."""
    pg = browser.new_page()
    pg.errors = []
    pg.on("request", lambda r: requests_seen.append(r.url))
    pg.on("console", lambda m: pg.errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    try:
        yield pg
    finally:
        pg.close()


def _study_url(server: Server) -> str:
    return f"{server.url}/study?{urlencode({'name': NAME})}"


def _n_cells(pg) -> dict[str, int]:
    return pg.evaluate("""Object.fromEntries([...document.querySelectorAll('td.n')]
                          .map(td => [td.dataset.config, +td.textContent]))""")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "absent"


# ------------------------------------------------------------------------------- refusals


def _serve_line(capsys, store: Path, port: int) -> tuple[int, list[str]]:
    from sweeplab.cli import main

    code = main(["serve", "--store", str(store), "--port", str(port)])
    return code, capsys.readouterr().err.strip().splitlines()


def test_a_store_that_cannot_be_served_is_one_line_exit_2(tmp_path, capsys, store,
                                                          free_port):
    foreign = tmp_path / "foreign.db"
    con = sqlite3.connect(foreign)
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    newer = tmp_path / "newer.db"
    shutil.copy(store, newer)
    con = sqlite3.connect(newer)
    con.execute("PRAGMA user_version=999")
    con.commit()
    con.close()
    damaged = tmp_path / "damaged.db"
    damaged.write_bytes(b"SQLite format 3\x00" + os.urandom(4000))
    text = tmp_path / "notes.txt"
    text.write_text("not a store\n")
    cases = {tmp_path / "missing.db": "No store at", foreign: "not a sweeplab store",
             newer: "newer sweeplab", damaged: "damaged", text: "not an SQLite database"}
    with socket.create_server(("127.0.0.1", 0)) as taken:  # a port in use
        code, lines = _serve_line(capsys, store, taken.getsockname()[1])
    assert code == 2 and len(lines) == 1 and "pass --port with another port" in lines[0], lines
    for path, words in cases.items():
        before = _sha(path)
        code, lines = _serve_line(capsys, path, free_port())
        assert code == 2, (path, lines)
        assert len(lines) == 1 and lines[0].startswith("sweeplab serve: error: "), lines
        assert words in lines[0] and str(path) in lines[0], lines
        assert _sha(path) == before  # refused without touching the file


def test_another_host_warns_and_ctrl_c_stops_cleanly(store, free_port):
    """--host other than loopback's name prints a warning line first; Ctrl-C with a page's
    event stream open stops the server at once: exit 0, no traceback."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "sweeplab", "serve", "--store", str(store),
                             "--host", "127.0.0.2", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stream = None
    try:
        first = proc.stderr.readline()
        for _ in range(int(READY_S / 0.3)):
            try:
                stream = urllib.request.urlopen(f"http://127.0.0.2:{port}/events", timeout=30)
                break
            except OSError:
                time.sleep(0.3)
        assert stream is not None and stream.readline() == b"retry: 1000\n"
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=30)
        rest = proc.stderr.read()
    finally:
        if stream is not None:
            stream.close()
        proc.kill()
        proc.wait(timeout=30)
    assert first.startswith("sweeplab serve: warning: listening on 127.0.0.2"), first
    assert code == 0 and "Traceback" not in rest and rest.strip().endswith("stopped"), rest


def test_in_jupyter_results_serve_is_an_inline_frame(store, free_port):
    """Results.serve() in a real kernel: the server runs in the background, the cell's value
    is an IFrame of it, and the page answers from inside the kernel."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    port = free_port()
    code = (f"import sweeplab, time, urllib.request\n"
            f"frame = sweeplab.open({str(store)!r}).serve(port={port})\n"
            "for _ in range(600):\n"
            "    try:\n"
            "        status = urllib.request.urlopen(frame.src + 'api/studies').status\n"
            "        break\n"
            "    except OSError:\n"
            "        time.sleep(0.2)\n"
            "print('status', status)\n"
            "frame")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    nbclient.NotebookClient(nb, timeout=180, kernel_name="python3").execute()
    outs = nb.cells[0].outputs
    assert "status 200" in "".join(o.get("text", "") for o in outs if o.output_type == "stream")
    frames = [o.data["text/html"] for o in outs if "text/html" in o.get("data", {})]
    assert len(frames) == 1 and "<iframe" in frames[0]
    assert f'src="http://127.0.0.1:{port}/"' in frames[0]


# -------------------------------------------------------------------------------- pages


@needs_chromium
def test_studies_page_counts_runs_as_the_api(server, page, store):
    import sweeplab

    row = sweeplab.open(store).studies().iloc[0]
    page.goto(server.url + "/")
    page.wait_for_selector("#studies tbody tr")
    cells = page.evaluate("[...document.querySelector('#studies tbody tr').children]"
                          ".map(td => td.textContent.trim())")
    assert cells[0] == NAME and cells[3] == f"{row.runs_done} / {row.runs_total}"
    assert cells[4:7] == ["0", "0", "0"] and cells[8] == "-"  # nothing running: no ETA
    page.click("#studies tbody tr a")
    page.wait_for_selector("#study-name")
    assert page.inner_text("#study-name") == NAME
    assert page.errors == []


@needs_chromium
def test_study_page_shows_the_api_numbers_and_draws(server, page, store):
    import sweeplab

    res = sweeplab.open(store)
    page.goto(_study_url(server))
    page.wait_for_selector("td.n")
    # the name and the title are text: no element came out of them, nothing ran
    assert page.inner_text("#study-name") == NAME
    assert page.inner_text("#study-title").startswith("<b>bold</b> & <img")
    assert page.evaluate("document.querySelectorAll('#main script, #main img, #main b, "
                         "#main i').length") == 0
    final = res.final(NAME, metrics=["test_acc"])
    assert _n_cells(page) == {r.config_hash: r.n for r in final.itertuples()}
    rows = page.evaluate("""[...document.querySelectorAll('#configs tbody tr')].map(tr =>
        [tr.dataset.config, tr.children[5].textContent, tr.children[6].textContent])""")
    expect = {r.config_hash: (f"{100 * r.mean:.2f}",
                              f"{100 * r.ci_low:.2f} .. {100 * r.ci_high:.2f}")
              for r in final.itertuples()}
    assert {h: (m, ci) for h, m, ci in rows} == expect
    # curves: one mean line per config (plus its band), drawn as SVG paths
    page.wait_for_selector("#curves .scatterlayer path.js-line")
    drawn = page.evaluate("""['js-line', 'js-fill'].map(k => [...document.querySelectorAll(
        `#curves .scatterlayer path.${k}`)].filter(p => (p.getAttribute('d') || '').length > 5)
        .length)""")
    assert drawn[0] >= 4 and drawn[1] >= 4, drawn  # each config's mean line and CI band
    # parallel coordinates: the axes' values and the seed-aggregated mean, drawn on canvas
    page.wait_for_selector("#parcoords canvas")
    dims = page.evaluate("""document.getElementById('parcoords')._fullData[0].dimensions
                            .map(d => [d.label, Array.from(d.values), d.ticktext])""")
    assert [d[0] for d in dims] == ["&lt;i&gt;w1&lt;/i&gt;", "lr", "mean test accuracy %"]
    # w1 (scale log2) on a log scale, ticks at its values; lr (a category) one tick a label
    assert sorted(dims[0][1]) == [3, 3, 5, 5] and dims[0][2] == ["8", "32"]
    assert sorted(dims[1][1]) == [0, 0, 1, 1] and dims[1][2] == ["0.01", "0.1"]
    # exact: JSON carries the API's float64 mean unchanged and JS multiplies by 100 as here
    assert sorted(dims[2][1]) == sorted(100 * final["mean"])
    assert page.evaluate("document.querySelectorAll('#parcoords svg .axis .tick').length") > 0
    assert page.evaluate("document.querySelectorAll('#sweep .scatterlayer .trace').length") == 2
    # per example: each config's churn (percent of test examples two seeds disagree on) as
    # the API's outcomes give it
    from sweeplab.analysis import outcomes as O

    page.wait_for_selector("#outcome-numbers tbody tr")
    churn = page.evaluate("""Object.fromEntries([...document.querySelectorAll(
        '#outcome-numbers tbody tr')].map(tr => [tr.dataset.config + (tr.dataset.split || ''),
                                                 tr.children[7].textContent]))""")
    # and a second row per config on the validation split (the study has validation = 0.1)
    assert churn == {
        **{r.config_hash: f"{100 * O.churn(res.outcomes(r.config_hash)):.2f}"
           for r in final.itertuples()},
        **{r.config_hash + "validation":
           f"{100 * O.churn(res.outcomes(r.config_hash, split='validation')):.2f}"
           for r in final.itertuples()}}
    assert page.errors == []


@needs_chromium
def test_picking_two_configs_shows_the_paired_comparison(server, page, store):
    import sweeplab

    page.goto(_study_url(server))
    page.wait_for_selector("input.pick")
    boxes = page.query_selector_all("input.pick")
    boxes[0].check()
    boxes[3].check()
    page.wait_for_selector("#compare-text")
    labels = page.evaluate("[...document.querySelectorAll('#configs tbody td.label')]"
                           ".map(td => td.textContent)")
    want = sweeplab.open(store).compare(f"{NAME}:{labels[0]}", f"{NAME}:{labels[3]}")
    assert page.inner_text("#compare-text") == want.text
    diff = page.evaluate("[...document.querySelectorAll('.compare-diff tr')].map(tr => "
                         "[tr.children[0].textContent, tr.children[1].textContent])")
    assert dict(diff)["mean difference"] == f"{100 * want.comparison.diff:+.3f}"
    assert dict(diff)["pairing"] == f"paired over {want.comparison.n_pairs} shared seeds"
    assert page.errors == []


@needs_chromium
def test_run_page(server, page, store):
    import sweeplab

    res = sweeplab.open(store)
    page.goto(_study_url(server))
    page.wait_for_selector("td.n")
    page.click("#configs tbody tr:first-child td:nth-child(8) a")  # its best seed
    page.wait_for_selector("#confusion .heatmaplayer image, #confusion .heatmaplayer path")
    params = dict(p.split("=", 1) for p in urlparse(page.url).query.split("&"))
    h, seed = params["config"], int(params["seed"])
    runs = res.runs(NAME)
    run = runs[(runs["config_hash"] == h) & (runs["seed"] == seed)].iloc[0]
    facts = dict(page.evaluate("[...document.querySelectorAll('#facts tr')].map(tr => "
                               "[tr.children[0].textContent, tr.children[1].textContent])"))
    assert (facts["engine"], facts["device"], facts["node"]) == (run.engine, run.device,
                                                                 run.node)
    last = page.evaluate("[...document.querySelectorAll('#epochs tbody tr')].at(-1)"
                         ".children[1].textContent")
    assert last == f"{100 * run.test_acc:.2f}"
    z = page.evaluate("document.getElementById('confusion')._fullData[0].z")
    assert z == res.confusion(h, seed).to_numpy().tolist()
    assert page.inner_text("#diagnostics").startswith(f"seed {seed}: test ")
    assert page.errors == []


def test_fifty_concurrent_page_loads_and_the_store_is_not_written(server, store):
    wal = store.with_name(store.name + "-wal")
    before = (_sha(store), _sha(wal))
    urls = [_study_url(server), f"{server.url}/api/study?{urlencode({'name': NAME})}",
            f"{server.url}/", f"{server.url}/api/studies"]
    with ThreadPoolExecutor(50) as pool:
        answers = list(pool.map(lambda i: _get(urls[i % 4]), range(50)))
    assert [code for code, _ in answers] == [200] * 50
    bodies = {json.dumps(json.loads(b), sort_keys=True) for i, (_, b) in enumerate(answers)
              if i % 4 == 1}
    assert len(bodies) == 1 and NAME in bodies.pop()  # one answer, the same for all
    assert (_sha(store), _sha(wal)) == before  # nothing written by the server
    # a page whose own name was re-pointed at 127.0.0.1 (DNS rebinding) reads nothing
    req = urllib.request.Request(f"{server.url}/api/studies", headers={"Host": "evil.example"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=60)
    assert err.value.code == 400


def test_an_old_store_is_served_without_being_upgraded(store, tmp_path, free_port):
    """A schema-1 store (before backend/device/node/diagnostics were recorded) is shown,
    those facts as not recorded, and the file stays schema 1, byte for byte."""
    import sweeplab

    old = tmp_path / "old.db"
    src = sqlite3.connect(f"file:{store}?mode=ro", uri=True)  # read-only: it is being served
    dst = sqlite3.connect(old)
    src.backup(dst)
    src.close()
    dst.close()
    con = sqlite3.connect(old)
    for col in ("backend", "device", "node", "model_path", "diagnostics"):
        con.execute(f"ALTER TABLE runs DROP COLUMN {col}")
    con.execute("PRAGMA user_version=1")
    con.commit()
    con.close()
    before = _sha(old)
    srv = Server(old, free_port())
    try:
        srv.start()
        study = json.loads(_get(f"{srv.url}/api/study?{urlencode({'name': NAME})}")[1])
        c = study["configs"][0]
        run = json.loads(_get(f"{srv.url}/api/run?" + urlencode(
            {"study": NAME, "config": c["config_hash"], "seed": c["best"]["seed"]}))[1])
    finally:
        srv.kill()
    assert [x["n"] for x in study["configs"]] == [2, 2, 2, 2]
    engines = set(sweeplab.open(store).runs(NAME)["engine"])
    assert run["facts"]["device"] is None and run["facts"]["engine"] in engines
    assert "liveness not recorded" in run["diagnostics"]  # explain.run_line's words
    assert _sha(old) == before
    with sqlite3.connect(f"file:{old}?mode=ro", uri=True) as con:
        assert con.execute("PRAGMA user_version").fetchone()[0] == 1


# --------------------------------------------------------------------------------- live


@needs_chromium
def test_a_run_committed_elsewhere_appears_and_the_page_reconnects(server, page, store,
                                                                   data_dir, requests_seen):
    page.goto(_study_url(server))
    page.wait_for_selector("td.n")
    page.wait_for_function("document.getElementById('live').textContent === 'live'")
    page.evaluate("window.__same_document = 1")
    before = _n_cells(page)
    assert set(before.values()) == {2}
    start = len(requests_seen)
    page.wait_for_timeout(3000)  # nothing committed: the page asks for nothing
    assert requests_seen[start:] == []
    run = subprocess.Popen([sys.executable, "-m", "sweeplab", "run",
                            str(store.with_name("study.toml")), "--store", str(store),
                            "--seeds", "3", "--data-dir", data_dir, "--quiet"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        try:
            page.wait_for_function("[...document.querySelectorAll('td.n')]"
                                   ".some(td => td.textContent === '3')", timeout=LIVE_S * 1000)
        except sync_api.TimeoutError:
            import sweeplab

            run.kill()
            raise AssertionError(f"server log: {server.log.read_text()[-3000:]}\n"
                                 f"page n {_n_cells(page)}, store n "
                                 f"{sweeplab.open(store).configs(NAME)['runs_done'].tolist()}, "
                                 f"run exit {run.wait()}: {run.stderr.read().decode()[-3000:]}"
                                 ) from None
        assert page.evaluate("window.__same_document") == 1  # no reload
        asked = {(urlparse(u).path, parse_qs(urlparse(u).query)["name"][0])
                 for u in requests_seen[start:]}
        # only the study shown, never the whole store; its per-example numbers once a run
        # has finished (they change only then)
        # (the outcomes request follows the study's, so it may still be on its way here)
        assert ("/api/study", NAME) in asked
        assert asked <= {("/api/study", NAME), ("/api/outcomes", NAME)}

        server.kill()
        page.wait_for_function("document.getElementById('live').textContent "
                               "=== 'reconnecting'", timeout=30_000)
        server.start()
        page.wait_for_function("document.getElementById('live').dataset.connects === '2'",
                               timeout=60_000)
        assert page.inner_text("#live") == "live"
        # the next config's run, committed after (or while) the server was away, shows too
        page.wait_for_function("[...document.querySelectorAll('td.n')]"
                               ".filter(td => td.textContent === '3').length >= 2",
                               timeout=LIVE_S * 1000)
        assert page.evaluate("window.__same_document") == 1
        assert run.poll() in (None, 0), run.stderr.read().decode()[-2000:]
    finally:  # the rest of the study is not needed: killed runs are just interrupted
        if run.poll() is None:
            run.kill()
            run.wait(timeout=30)
    assert page.errors == [] or all("ERR_CONNECTION_REFUSED" in e or "Failed to load" in e
                                    for e in page.errors), page.errors


def test_no_request_left_127_0_0_1(server, requests_seen):
    """Every request of every page above went to the server on loopback (runs last)."""
    if not requests_seen:
        pytest.skip("no browser test ran")
    hosts = {urlparse(u).netloc for u in requests_seen}
    assert hosts == {f"127.0.0.1:{server.port}"}, hosts
    paths = {urlparse(u).path for u in requests_seen}
    assert "/static/plotly.js" in paths and "/events" in paths
