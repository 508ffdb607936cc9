"""How soon a committed run shows on an open `sweeplab serve` page (target: within 2 s).

On a COPY of a store (the original is only read): the last seed's runs of a study are
taken out of the copy, `sweeplab serve` is started on the copy, the study page is opened in
headless Chromium (Playwright, Debian's chromium), then each run is committed back, one at a
time, through Store.finish_run -- what a training process does -- and the time from the
commit's return to the page's n cell changing is measured. Prints every latency, the median
and the maximum. Needs sweeplab[serve] and playwright.

    python bench/serve_latency.py --store sweeplab.db --study q6
"""

from __future__ import annotations

import argparse
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlencode


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", required=True)
    ap.add_argument("--study", required=True)
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    args = ap.parse_args()

    from playwright.sync_api import sync_playwright

    import sweeplab
    from sweeplab.store import Store

    tmp = Path(tempfile.mkdtemp())
    copy = tmp / "s.db"
    with sqlite3.connect(args.store) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)  # a consistent copy, WAL included
    seed = max(sweeplab.open(copy).study(args.study).seeds)
    with Store(copy) as store:
        hashes = [c.config_hash for c in store.study_configs(args.study)]
        runs = [r for h in hashes for r in store.results(h) if r.seed == seed]
        con = store._con  # bench set-up on the copy: take the runs out again
        con.execute("DELETE FROM epochs WHERE run_id IN (SELECT id FROM runs WHERE seed=?)",
                    (seed,))
        con.execute("DELETE FROM runs WHERE seed=?", (seed,))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "sweeplab", "serve", "--store", str(copy),
                               "--port", str(port)])
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(url + "/api/studies", timeout=30)
                break
            except OSError:
                time.sleep(0.3)
        with sync_playwright() as p, Store(copy) as store:
            browser = p.chromium.launch(executable_path=args.chromium, args=["--no-sandbox"])
            page = browser.new_page()
            page.goto(f"{url}/study?{urlencode({'name': args.study})}")
            page.wait_for_selector("td.n")
            page.wait_for_function("document.getElementById('live').textContent === 'live'")
            out = []
            for r in runs:
                cell = f"td.n[data-config='{r.config_hash}']"
                n = int(page.inner_text(cell))
                store.finish_run(r, {})
                t0 = time.perf_counter()
                page.wait_for_function(f"document.querySelector(\"{cell}\").textContent "
                                       f"=== '{n + 1}'", timeout=60_000, polling=20)
                out.append(time.perf_counter() - t0)
                print(f"  {r.config_hash[:10]} seed {r.seed}: n {n} -> {n + 1} on the page "
                      f"{out[-1]:.2f} s after the commit")
            browser.close()
        print(f"{len(out)} commits: median {statistics.median(out):.2f} s, "
              f"max {max(out):.2f} s (target: 2 s)")
    finally:
        server.kill()
        server.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
