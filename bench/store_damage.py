"""The damaged-store soak: tests/test_store_damage.py's cases, hundreds of them (not CI).

    SWEEPLAB_TEST_DATA=../shared/data PYTHONPATH=src .venv/bin/python bench/store_damage.py [N]

Builds the test's store (2 widths x 2 seeds, 1 epoch, 300 images, fast engine), then makes
N damaged copies (default 400; even cases: one bit flipped, odd: the file cut short, at
offsets drawn with fixed seeds) and reads each through the API (runs, epochs, summary),
the CLI (`ls`, `show`) and `check`, every 20th also through the Markdown report, the CSV
and TensorBoard exports and every view of the dashboard (`sweeplab serve`).
Prints how many copies read as the undamaged store, had their damage named and left out,
were refused in one line, and every defect: a traceback, a wrong number, an unnamed loss,
a `check` that calls a damaged copy clean. Exit status 1 when there is any defect.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import test_store_damage as T  # noqa: E402 (the test's own harness, beside it)

import sweeplab  # noqa: E402
from sweeplab import cli  # noqa: E402
from sweeplab.store import StoreError  # noqa: E402


def dashboard(path: Path) -> str | None:
    """Every view `sweeplab serve` answers, on one copy: None when each gives its data or one
    line (what the server sends as a 404); else the traceback's last line."""
    from sweeplab.serve import source

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = sweeplab.open(path)
            for s in source.studies(res):
                page = source.study(res, s["study"])
                for c in page["configs"]:
                    source.run_curves(res, s["study"], c["config_hash"])
                    for seed in (0, 1):
                        with contextlib.suppress(ValueError):  # no such finished run: 404
                            source.run(res, s["study"], c["config_hash"], seed)
    except (StoreError, ValueError) as err:
        return None if "\n" not in str(err).strip() else f"MULTI-LINE {err!r}"
    except Exception:  # noqa: BLE001 (what the soak looks for)
        return f"TRACEBACK {traceback.format_exc().strip().splitlines()[-1]}"
    return None


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 400
    data_dir = os.environ.get("SWEEPLAB_TEST_DATA")
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        t0 = time.perf_counter()
        clean = T.build_store(tmp_path / "clean.db", data_dir)
        ref = T.read(clean)
        print(f"store: {clean.stat().st_size} bytes, {len(ref.runs)} runs, built in "
              f"{time.perf_counter() - t0:.0f} s")
        outcomes: dict[str, int] = {}
        defects: list[str] = []
        t0 = time.perf_counter()
        for case in range(n):
            copy = tmp_path / f"c{case}.db"
            how = T.damage(clean, copy, case)
            verdict = T.judge(ref, T.read(copy))
            outcomes[verdict.split()[0]] = outcomes.get(verdict.split()[0], 0) + 1
            if verdict not in ("intact", "named", "refused"):
                defects.append(f"case {case} ({how}): {verdict}")
                continue
            with contextlib.redirect_stderr(io.StringIO()) as err, \
                    contextlib.redirect_stdout(io.StringIO()):
                for argv in [["ls"], ["show", "dmg"]] + (
                        [["report", "--format", "md", "--out", str(tmp_path / "r")],
                         ["export", "csv", str(tmp_path / f"x{case}")],
                         ["export", "tensorboard", str(tmp_path / f"tb{case}")]]
                        if case % 20 == 0 else []):
                    try:
                        code = cli.main([*argv, "--store", str(copy)])
                    except Exception as exc:  # noqa: BLE001 (what the soak looks for)
                        defects.append(f"case {case} ({how}): {argv[0]}: TRACEBACK {exc!r}")
                        continue
                    if code not in (0, 1, 2) or "Traceback" in err.getvalue():
                        defects.append(f"case {case} ({how}): {argv[0]} exit {code}")
            if case % 20 == 0:  # the dashboard's views (sweeplab serve), in-process
                problem = dashboard(copy)
                if problem:
                    defects.append(f"case {case} ({how}): serve: {problem}")
            try:
                found = sweeplab.api.check(copy)
                if found.ok and verdict != "intact":
                    defects.append(f"case {case} ({how}): check ok, the read was {verdict}")
            except StoreError:
                pass
            for p in tmp_path.glob(f"c{case}.db*"):
                p.unlink()
            for p in (tmp_path / f"x{case}", tmp_path / f"tb{case}"):
                shutil.rmtree(p, ignore_errors=True)
        wall = time.perf_counter() - t0
    print(f"{n} damaged copies ({(n + 1) // 2} with one bit flipped, {n // 2} cut short) in "
          f"{wall:.0f} s, read through the API:")
    for name, what in (("intact", "read as the undamaged store (damage in unused space)"),
                       ("named", "damaged runs named, left out; every other number as before"),
                       ("refused", "refused in one line (a StoreError)")):
        print(f"  {outcomes.pop(name, 0):>5}  {what}")
    for name, count in sorted(outcomes.items()):
        print(f"  {count:>5}  DEFECT: {name}")
    kinds = {"TRACEBACK": "tracebacks (API, CLI, report, exports, dashboard)",
             "WRONG": "wrong numbers read without a word",
             "UNNAMED": "runs left out without being named"}
    print("defects, every read path:")
    for key, what in kinds.items():
        print(f"  {sum(key in d for d in defects):>5}  {what}")
    other = sum(not any(k in d for k in kinds) for d in defects)
    print(f"  {other:>5}  other (a multi-line error, an exit status not 0/1/2, `check` "
          "calling a damaged copy clean)")
    print(f"defects: {len(defects)}")
    for d in defects[:50]:
        print(f"  {d}")
    return 1 if defects else 0


if __name__ == "__main__":
    sys.exit(main())
