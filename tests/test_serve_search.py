"""`sweeplab serve` shows a search live: its candidates, the race ladder, the incumbent and,
once the final round is done, the sentence, all from the readout functions the report and
``Results.search`` use. A real search (Optuna, the race, Keras on 300 images) trains in one
process while `sweeplab serve` (127.0.0.1, a free port) answers in another; both are stopped
in ``finally``."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

import pytest

import sweeplab

pytest.importorskip("starlette")
pytest.importorskip("optuna")
pytestmark = [pytest.mark.timeout(600), pytest.mark.slow]

STUDY = """
name = "live"
dataset = "mnist"
epochs = 1
subset = 300
[model]
preset = "mlp-softmax-ce"
[search]
budget = 10
first_test = 2
max_seeds = 3
pool = 2
finalists = 1
fresh_seeds = 2
seed = 3
[[search.params]]
name = "lr"
path = "optimizer.learning_rate"
float = [1e-5, 0.5]
log = true
"""
SRC = str(Path(sweeplab.__file__).resolve().parents[1])
READY_S = 90.0
SEARCH_S = 420.0


def _json(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_serve_shows_a_search_live_then_its_answer(tmp_path, data_dir, free_port):
    from sweeplab.store import Store

    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    (tmp_path / "live.toml").write_text(STUDY)
    store = tmp_path / "s.db"
    Store(store).close()  # an empty store: the dashboard is up before the search starts
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115 (closed in finally)
    serve = subprocess.Popen([sys.executable, "-m", "sweeplab", "serve", "--store",
                              str(store), "--port", str(port)], stdout=log, stderr=log, env=env)
    search = None
    try:
        deadline = time.monotonic() + READY_S
        while True:
            try:
                if _json(url + "/api/studies")[0] == 200:
                    break
            except OSError:
                pass
            assert serve.poll() is None and time.monotonic() < deadline, \
                (tmp_path / "serve.log").read_text()
            time.sleep(0.3)
        api = f"{url}/api/search?{urlencode({'name': 'live'})}"
        code, body = _json(api)
        assert code == 404 and "live" in body["error"]  # not in the store yet: said in words
        search = subprocess.Popen(
            [sys.executable, "-m", "sweeplab", "run", str(tmp_path / "live.toml"), "--store",
             str(store), "--data-dir", data_dir, "--quiet", "--engine", "fast"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        seen = []  # every distinct state the dashboard showed while the search ran
        deadline = time.monotonic() + SEARCH_S
        while search.poll() is None and time.monotonic() < deadline:
            code, body = _json(api)
            if code == 200 and (not seen or body != seen[-1]):
                seen.append(body)
            time.sleep(0.5)
        out, err = search.communicate(timeout=60)
        assert search.returncode == 0, err
        final = _json(api)[1]
        while not final["finished"] and time.monotonic() < deadline + 30:
            time.sleep(0.5)  # the last commit reaches the watcher within its tick
            final = _json(api)[1]

        # Live: states with candidates racing before the answer, runs climbing to the end.
        racing = [s for s in seen if s["candidates"] and not s["finished"]]
        assert racing, seen
        assert all(s["sentence"] is None for s in racing)
        done = [s["runs_done"] for s in seen]
        assert done == sorted(done) and done[0] < final["runs_done"] <= 10
        with_inc = [s for s in racing if s["incumbent"] is not None]
        assert with_inc  # the race named an incumbent before the end
        for s in with_inc:
            assert s["incumbent"]["config_hash"] == s["history"][-1]["config_hash"]

        # Done: the same numbers and words as Results.search and the CLI's sentence.
        want = sweeplab.open(store).search("live")
        assert final["finished"] and final["sentence"] == want.attrs["sentence"]
        assert want.attrs["sentence"] in out
        assert final["budget"] == 10 and final["runs_done"] == len(
            sweeplab.open(store).runs("live"))
        got = final["candidates"]
        assert [c["config_hash"] for c in got] == list(want["config_hash"])
        assert [c["status"] for c in got] == list(want["status"])
        assert [c["n"] for c in got] == list(want["n"])
        assert [c["mean"] for c in got] == pytest.approx(list(want["mean"]))
        assert [c["params"]["lr"] for c in got] == pytest.approx(list(want["lr"]))
        best = want[want["status"] == "best"].iloc[0]
        assert final["finalists"] == [best["config"]]
        assert "paired t-test" in final["test"] and "Holm" in final["within_noise"]
        for c in got:
            if c["status"] == "dropped":
                assert c["dropped_after"] == c["n"]  # no seed after it was dropped
        # The study page's axes are the searched parameters, with their sampled numbers
        code, page = _json(f"{url}/api/study?{urlencode({'name': 'live'})}")
        assert code == 200 and page["search"] and page["axes"] == ["lr"]
        assert page["scales"] == {"lr": "log"}
        lr = dict(zip(want["config_hash"], want["lr"], strict=True))
        assert {c["config_hash"]: c["axes"]["lr"] for c in page["configs"]} == pytest.approx(lr)
        # comparing two candidates says which of their shared seeds the race chose on
        other = want[want["status"] != "best"].sort_values("n").iloc[-1]["config_hash"]
        code, cmp = _json(f"{url}/api/compare?" + urlencode(
            {"study": "live", "a": best["config_hash"], "b": other}))
        assert code == 200 and cmp["selected"].startswith("Both are candidates of search 'live'")
        assert cmp["selected"] == sweeplab.open(store).compare(
            f"live:{best['config']}", f"live:{want.set_index('config_hash').loc[other, 'config']}"
        ).selected

        chromium = os.environ.get("SWEEPLAB_CHROMIUM") or shutil.which("chromium") \
            or "/usr/bin/chromium"
        try:
            from playwright import sync_api
        except ImportError:
            sync_api = None
        if sync_api is not None and Path(chromium).is_file():  # the page draws the same
            with sync_api.sync_playwright() as p:
                b = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
                try:
                    pg = b.new_page()
                    errors = []
                    pg.on("pageerror", lambda e: errors.append(str(e)))
                    pg.goto(f"{url}/study?{urlencode({'name': 'live'})}")
                    pg.wait_for_selector("#race-ladder tbody tr", timeout=120_000)
                    assert pg.inner_text("#search-sentence") == final["sentence"] + "."
                    rows = pg.eval_on_selector_all(
                        "#race-ladder tbody tr", "rs => rs.map(r => r.dataset.config)")
                    assert rows == [c["config_hash"] for c in got]
                    # parallel coordinates over lr (log10, decade ticks) and the mean;
                    # the sweep against lr is one cloud of candidates, not lines
                    pg.wait_for_selector("#parcoords .main-svg")
                    dims = pg.evaluate("document.getElementById('parcoords').data[0]"
                                       ".dimensions.map(d => [d.label, d.values])")
                    done = [c for c in page["configs"] if c["n"] > 0]
                    assert [d[0] for d in dims] == ["lr", "mean test accuracy %"]
                    assert dims[0][1] == pytest.approx([math.log10(c["axes"]["lr"])
                                                        for c in done])
                    sweep = pg.evaluate("(() => { const n = document.getElementById('sweep');"
                                        " return [n.data.map(t => t.mode), n.layout.xaxis.type]"
                                        " })()")
                    assert sweep == [["markers"], "log"]
                    for h in (best["config_hash"], other):  # the paired comparison's box
                        pg.check(f'input.pick[data-config="{h}"]')
                    pg.wait_for_selector("#compare-selected")
                    assert pg.inner_text("#compare-selected") == cmp["selected"]
                    assert errors == []
                finally:
                    b.close()
    finally:
        for proc in (search, serve):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(30)
        log.close()
