"""The damaged-store soak: tests/test_store_damage.py's cases, hundreds of them (not CI).

    SWEEPLAB_TEST_DATA=../shared/data PYTHONPATH=src .venv/bin/python bench/store_damage.py [N]

Builds the test's store (2 widths x 2 seeds, 1 epoch, 300 images, fast engine), then makes
N damaged copies (default 400; even cases: one bit flipped, odd: the file cut short, at
offsets drawn with fixed seeds) and reads each through the API (runs, epochs, summary),
the CLI (`ls`, `show`) and `check`, every 20th also through the Markdown report.
Prints how many copies read as the undamaged store, had their damage named and left out,
were refused in one line, and every defect: a traceback, a wrong number, an unnamed loss,
a `check` that calls a damaged copy clean. Exit status 1 when there is any defect.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import test_store_damage as T  # noqa: E402 (the test's own harness, beside it)

import sweeplab  # noqa: E402
from sweeplab import cli  # noqa: E402
from sweeplab.store import StoreError  # noqa: E402


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
                for argv in (["ls"], ["show", "dmg"]) + (
                        [["report", "--format", "md", "--out", str(tmp_path / "r")]]
                        if case % 20 == 0 else []):
                    try:
                        code = cli.main([*argv, "--store", str(copy)])
                    except Exception as exc:  # noqa: BLE001 (what the soak looks for)
                        defects.append(f"case {case} ({how}): {argv[0]}: TRACEBACK {exc!r}")
                        continue
                    if code not in (0, 1, 2) or "Traceback" in err.getvalue():
                        defects.append(f"case {case} ({how}): {argv[0]} exit {code}")
            try:
                found = sweeplab.api.check(copy)
                if found.ok and verdict != "intact":
                    defects.append(f"case {case} ({how}): check ok, the read was {verdict}")
            except StoreError:
                pass
            for p in tmp_path.glob(f"c{case}.db*"):
                p.unlink()
        wall = time.perf_counter() - t0
    print(f"{n} damaged copies in {wall:.0f} s:")
    for name, what in (("intact", "read as the undamaged store (damage in unused space)"),
                       ("named", "damaged runs named, left out; every other number as before"),
                       ("refused", "refused in one line (a StoreError)")):
        print(f"  {outcomes.pop(name, 0):>5}  {what}")
    for name, count in sorted(outcomes.items()):
        print(f"  {count:>5}  DEFECT: {name}")
    print(f"defects: {len(defects)}")
    for d in defects[:50]:
        print(f"  {d}")
    return 1 if defects else 0


if __name__ == "__main__":
    sys.exit(main())
