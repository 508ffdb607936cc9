"""The README's `sweeplab serve` screenshots, reproducibly: train a small real study (6
configs x 3 seeds x 5 epochs on 2000 MNIST images) into a temporary store, serve it on
127.0.0.1 and photograph the pages in headless Chromium (Playwright, Debian's chromium).

    .venv/bin/python docs/serve_screenshots.py --data-dir ../shared/data   # docs/img/serve_*.png

Writes ``serve_studies.png`` (the studies page, taken while a second study is training so it
shows running runs and an ETA), ``serve_study.png`` (a study: configs, curves with CI bands,
parallel coordinates, sweep, a paired comparison) and ``serve_run.png`` (one run). The server
and the training process are stopped afterwards, also when something fails.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
STUDY = "widths"
STUDY_TOML = f"""
name = "{STUDY}"
title = "Two hidden ReLU layers: first width x second width"
dataset = "mnist"
seeds = 3
epochs = 5
subset = 2000

[model]
layers = [
    {{ type = "flatten" }},
    {{ type = "dense", units = 32, activation = "relu" }},
    {{ type = "dense", units = 32, activation = "relu" }},
]
output_activation = "softmax"
loss = "sparse_categorical_crossentropy"
optimizer = {{ name = "adam", learning_rate = 0.001 }}

[[axes]]
name = "w1"
path = "layers.1.units"
values = [8, 32, 128]

[[axes]]
name = "w2"
path = "layers.2.units"
values = [8, 64]
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    ap.add_argument("--out", default=str(ROOT / "docs" / "img"))
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp())
    store, toml = tmp / "s.db", tmp / "widths.toml"
    toml.write_text(STUDY_TOML)
    sweeplab = [sys.executable, "-m", "sweeplab"]
    subprocess.run([*sweeplab, "run", str(toml), "--store", str(store), "--data-dir",
                    args.data_dir, "--quiet"], check=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([*sweeplab, "serve", "--store", str(store), "--port", str(port)])
    # a second study training while the studies page is taken: running runs and an ETA
    later = subprocess.Popen([*sweeplab, "run", "q6", "--store", str(store), "--seeds", "3",
                              "--subset", "2000", "--epochs", "3", "--data-dir",
                              args.data_dir, "--quiet"])
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(url + "/api/studies", timeout=30)
                break
            except OSError:
                time.sleep(0.3)
        out = Path(args.out)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(url + "/")
            page.wait_for_function("[...document.querySelectorAll('#studies tbody tr')]"
                                   ".some(tr => +tr.children[4].textContent > 0 && "
                                   "tr.children[8].textContent !== '-')",
                                   timeout=600_000)
            page.screenshot(path=out / "serve_studies.png")
            page.goto(f"{url}/study?{urlencode({'name': STUDY})}")
            page.wait_for_selector("#parcoords canvas")
            boxes = page.query_selector_all("input.pick")
            boxes[0].check()
            boxes[-1].check()
            page.wait_for_selector("#compare-text")
            page.wait_for_timeout(1000)
            page.screenshot(path=out / "serve_study.png", full_page=True)
            page.click("#configs tbody tr:last-child td:nth-child(8) a")
            page.wait_for_selector("#confusion .heatmaplayer")
            page.wait_for_timeout(1000)
            page.screenshot(path=out / "serve_run.png", full_page=True)
            browser.close()
        print(f"wrote {out}/serve_studies.png, serve_study.png, serve_run.png")
    finally:
        for proc in (later, server):
            proc.kill()
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
