"""Identity harness for refactors: the user-visible outputs of two source trees, diffed.

For each side (a git ref, exported with ``git archive REF src``, or a path to a ``src``
folder) it runs, on private copies of the same stores:

- ``sweeplab report q1 --format md`` (the Markdown file; the "Built" line is ignored),
- ``sweeplab show q1``,
- ``sweeplab compare`` of two q6 widths (and of a q6 width against itself),
- ``sweeplab export csv`` (every file written),
- ``sweeplab serve`` on 127.0.0.1 and a free port: every JSON endpoint it has.

and prints a unified diff per output that differs (exit 1), or "identical" (exit 0).

    python bench/house2_identity.py main HEAD
    python bench/house2_identity.py main /work/wt30/src --q6 /work/stores/q6.db
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

PY = "/work/main/.venv/bin/python"
DATA = "/work/shared/data"
W16, W32 = "b4bd744001cdf4cc", "68e1e4d78808ea81"  # q6 width=16, width=32
BUILT = re.compile(r"(?i)^.*\bbuilt\b.*\d{4}-\d\d-\d\d.*$", re.M)


def snapshot(src: str, dst: Path) -> Path:
    """A consistent copy of a store (another process may be writing it)."""
    with sqlite3.connect(f"file:{src}?mode=ro", uri=True) as a, sqlite3.connect(dst) as b:
        a.backup(b)
    return dst


def tree(side: str, work: Path, repo: str) -> Path:
    """The ``src`` folder of ``side``: a path as given, or a git ref exported."""
    if os.path.isdir(side):
        return Path(side).resolve()
    out = work / re.sub(r"\W", "_", side)
    out.mkdir()
    arch = subprocess.run(["git", "-C", repo, "archive", side, "src"], check=True,
                          capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(out)], input=arch, check=True)
    return out / "src"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=60) as r:
            body = r.read().decode()
    except urllib.error.HTTPError as err:
        body = f"HTTP {err.code} " + err.read().decode()
    try:
        return json.dumps(json.loads(body), indent=1, sort_keys=True)
    except ValueError:
        return body


def outputs(src: Path, q1: Path, q6: Path, work: Path) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(src))
    env.pop("SWEEPLAB_DATA", None)

    def cli(*args: str) -> str:
        p = subprocess.run([PY, "-m", "sweeplab", *args], env=env, capture_output=True,
                           text=True, timeout=900)
        return f"rc={p.returncode}\n--- stdout\n{p.stdout}--- stderr\n{p.stderr}"

    got: dict[str, str] = {}
    rep = work / "report"
    got["report q1 (cli)"] = cli("report", "q1", "--store", str(q1), "--format", "md",
                                 "--out", str(rep), "--data-dir", DATA)
    for f in sorted(rep.rglob("*")):
        if f.suffix == ".md":
            got[f"report q1: {f.name}"] = BUILT.sub("<built>", f.read_text())
        elif f.is_file():
            got[f"report q1: {f.name}"] = hashlib.sha256(f.read_bytes()).hexdigest() + "\n"
    got["show q1"] = cli("show", "q1", "--store", str(q1))
    got["show q6"] = cli("show", "q6", "--store", str(q6))
    got["compare q6 16/32"] = cli("compare", "--store", str(q6), "q6:width=16", "q6:width=32")
    got["compare q6 8/128"] = cli("compare", "--store", str(q6), "q6:width=8", "q6:width=128")
    got["compare q1 base/base"] = cli("compare", "--store", str(q1), "q1:base", "q1:base")
    got["compare q6 bad"] = cli("compare", "--store", str(q6), "q6:width=16", "q6:nope=1")
    got["plan q6"] = cli("plan", "q6", "--store", str(q6))
    for name, store in (("q1", q1), ("q6", q6)):
        out = work / f"csv_{name}"
        got[f"export csv {name} (cli)"] = cli("export", "csv", str(out), "--store", str(store))
        for f in sorted(out.rglob("*")):
            if f.is_file():
                got[f"export csv {name}: {f.relative_to(out)}"] = f.read_text()
    port = free_port()
    srv = subprocess.Popen([PY, "-m", "sweeplab", "serve", "--store", str(q6), "--port",
                            str(port)], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(base + "/api/studies", timeout=5).read()
                break
            except OSError:
                time.sleep(0.2)
        urls = ["/api/studies", "/api/study?name=q6", "/api/outcomes?name=q6",
                "/api/search?name=q6", "/api/study?name=q6&metric=test_loss",
                "/api/study?name=nope",
                f"/api/runs?study=q6&config={W16}",
                f"/api/runs?study=q6&config={W32}",
                f"/api/compare?study=q6&a={W16}&b={W32}",
                f"/api/compare?study=q6&a={W32}&b={W16}&metric=train_loss",
                f"/api/compare?study=q6&a={W16}&b=nope",
                f"/api/run?study=q6&config={W16}&seed=0",
                f"/api/run?study=q6&config={W32}&seed=3",
                f"/api/run?study=q6&config={W16}&seed=x"]
        for u in urls:
            got[f"serve {u}"] = get(base + u)
    finally:
        srv.terminate()
        srv.wait(timeout=30)
    return got


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a", help="git ref or src folder (before)")
    ap.add_argument("b", help="git ref or src folder (after)")
    ap.add_argument("--q1", default="/work/stores/q1.db")
    ap.add_argument("--q6", default="/work/stores/q6.db")
    ap.add_argument("--repo", default=str(Path(__file__).resolve().parents[1]))
    ap.add_argument("--keep", help="write each side's outputs under this folder")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="house2_") as tmp:
        work = Path(tmp)
        res = {}
        for side in ("a", "b"):
            d = work / side
            d.mkdir()
            src = tree(getattr(args, side), d, args.repo)
            q1 = snapshot(args.q1, d / "q1.db")
            q6 = snapshot(args.q6, d / "q6.db")
            t0 = time.perf_counter()
            res[side] = outputs(src, q1, q6, d)
            print(f"{side}: {getattr(args, side)} ({len(res[side])} outputs, "
                  f"{time.perf_counter() - t0:.0f} s)", file=sys.stderr)
            if args.keep:
                k = Path(args.keep) / side
                k.mkdir(parents=True, exist_ok=True)
                for n, text in res[side].items():
                    (k / re.sub(r"[^\w.=-]+", "_", n)).write_text(text)
    # temp paths differ between the sides
    norm = [{k: v.replace(str(work / s), "<work>") for k, v in res[s].items()}
            for s in ("a", "b")]
    diffs = 0
    for key in sorted(set(norm[0]) | set(norm[1])):
        x, y = norm[0].get(key, "<missing>\n"), norm[1].get(key, "<missing>\n")
        if x != y:
            diffs += 1
            sys.stdout.writelines(difflib.unified_diff(
                x.splitlines(True), y.splitlines(True), f"a/{key}", f"b/{key}"))
    print(f"{len(norm[0])} outputs, {diffs} differ" if diffs else
          f"identical: {len(norm[0])} outputs")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
