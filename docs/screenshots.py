"""The README's export screenshots, reproducibly: train a small real study, export it, serve it
with TensorBoard and the MLflow UI on 127.0.0.1, and photograph the pages in headless Chromium.

    .venv/bin/python docs/screenshots.py --data-dir ../shared/data     # writes docs/img/*.png

Writes ``tensorboard_hparams.png`` (HParams table: one row per config, metrics averaged over
seeds), ``tensorboard_scalars.png`` (test accuracy and loss per epoch, every run) and
``mlflow_compare.png`` (MLflow's run comparison of the configs' parent runs: params and the
seed-averaged metrics; cropped to the comparison, without MLflow's assistant panel). The servers
are stopped afterwards, also when something fails. Needs the tensorboard and mlflow extras
and Chromium (``/usr/bin/chromium`` or ``$CHROMIUM``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
STUDY = "widths"
STUDY_TOML = f"""
name = "{STUDY}"
dataset = "mnist"
seeds = 3
epochs = 6
subset = 2000

[model]
preset = "mlp-softmax-ce"

[[axes]]
name = "width"
paths = ["layers.1.units"]
values = [8, 32, 128]
scale = "log2"
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving(cmd: list[str], log: Path) -> Iterator[subprocess.Popen]:
    """A server process in its own process group, stopped (group and all) on exit."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        yield proc
    finally:
        for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
            try:
                os.killpg(proc.pid, sig)  # the group: mlflow's server runs worker children
            except ProcessLookupError:
                break
            try:
                proc.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue


def get_json(url: str, body: dict | None = None) -> object:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def wait_for(what: str, check, timeout: float = 120) -> object:
    """Poll ``check()`` until it returns something true (errors count as not yet)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except OSError:
            pass
        time.sleep(1)
    raise SystemExit(f"screenshots: {what} not ready after {timeout:.0f} s")


def screenshot(url: str, out: Path, size: tuple[int, int], budget_ms: int = 25000,
               crop: tuple[int, int, int, int] | None = None) -> None:
    """Headless Chromium's picture of ``url`` once its scripts have had ``budget_ms`` of
    virtual time (the pages fetch their data after loading); ``crop``: (left, top, right,
    bottom) pixels to keep."""
    chromium = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    with tempfile.TemporaryDirectory() as profile:
        # SwiftShader: the charts draw with WebGL, which headless Chromium without a GPU
        # leaves blank unless software rendering is allowed
        cmd = [chromium, "--headless", "--no-sandbox", "--hide-scrollbars", "--no-first-run",
               "--enable-unsafe-swiftshader", "--use-angle=swiftshader",
               f"--user-data-dir={profile}", f"--window-size={size[0]},{size[1]}",
               f"--virtual-time-budget={budget_ms}",
               f"--screenshot={out}", url]
        subprocess.run(cmd, check=True, timeout=180, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    if not out.is_file() or out.stat().st_size < 10_000:
        raise SystemExit(f"screenshots: {out} was not written (or is blank)")
    if crop:
        from PIL import Image  # comes with matplotlib

        with Image.open(out) as im:
            im.crop(crop).save(out, optimize=True)
    print(f"wrote {out} ({out.stat().st_size // 1024} KiB)")


def sweeplab(*args: str) -> None:
    subprocess.run([str(BIN / "sweeplab"), *args], check=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=os.environ.get("SWEEPLAB_DATA",
                                                         str(ROOT.parent / "shared" / "data")))
    ap.add_argument("--out", default=str(ROOT / "docs" / "img"), help="where the PNGs go")
    ap.add_argument("--work", help="working directory to keep (default: a temporary one)")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(args.work or tempfile.mkdtemp(prefix="sweeplab-shots-"))
    work.mkdir(parents=True, exist_ok=True)
    (work / "study.toml").write_text(STUDY_TOML)
    store, tb, mldb = work / "sweeplab.db", work / "tb", work / "mlflow.db"
    uri = f"sqlite:///{mldb}"

    sweeplab("run", str(work / "study.toml"), "--store", str(store), "--data-dir",
             args.data_dir, "--quiet")
    sweeplab("export", "tensorboard", str(tb), "--store", str(store))
    sweeplab("export", "mlflow", uri, "--store", str(store))

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with serving([str(BIN / "tensorboard"), "--logdir", str(tb), "--host", "127.0.0.1",
                  "--port", str(port)], work / "tensorboard.log"):
        wait_for("TensorBoard's scalars", lambda: len(get_json(
            f"{base}/data/plugin/scalars/tags")) == 9)
        screenshot(f"{base}/#hparams", out / "tensorboard_hparams.png", (1400, 560))
        # the classic Scalars dashboard: every run's curve, grouped by tag
        screenshot(f"{base}/#scalars&tagFilter=test", out / "tensorboard_scalars.png",
                   (1400, 820))

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with serving([str(BIN / "mlflow"), "server", "--backend-store-uri", uri, "--host",
                  "127.0.0.1", "--port", str(port), "--workers", "1"], work / "mlflow.log"):
        def parents() -> list[dict]:
            exps = get_json(f"{base}/api/2.0/mlflow/experiments/get-by-name?"
                            f"experiment_name={STUDY}")
            exp_id = exps["experiment"]["experiment_id"]
            runs = get_json(f"{base}/api/2.0/mlflow/runs/search", {
                "experiment_ids": [exp_id],
                "filter": "tags.`sweeplab.kind` = 'config'"}).get("runs", [])
            return [(exp_id, r["info"]["run_id"]) for r in runs]

        found = wait_for("the MLflow server", parents)
        exp_id = found[0][0]
        ids = json.dumps([run_id for _, run_id in found])
        url = (f"{base}/#/compare-runs?runs={urllib.parse.quote(ids)}"
               f"&experiments={urllib.parse.quote(json.dumps([exp_id]))}")
        # MLflow 3.17's layout: the comparison fills x < 1030; below y = 2010 come the
        # (empty) artifact previews
        screenshot(url, out / "mlflow_compare.png", (1400, 2600), budget_ms=40000,
                   crop=(200, 0, 1030, 2010))
    print(f"work directory: {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
