"""The project's study fuzz test (tests/test_fuzz_studies.py) with 1,000 examples in one
process: does it complete, and do memory maps and resident memory stay flat? (Not CI.)

    SWEEPLAB_TEST_DATA=../shared/data .venv/bin/python bench/fuzz_soak.py [EXAMPLES]

Prints the examples run, wall time, and the process's memory maps and RSS before and after.
"""

from __future__ import annotations

import os
import sys
import time

import pytest
from long_sweep import maps_and_rss_mb  # bench/, beside this script


def main() -> int:
    examples = sys.argv[1] if len(sys.argv) > 1 else "1000"
    os.environ["SWEEPLAB_FUZZ_EXAMPLES"] = examples
    m0, r0 = maps_and_rss_mb()
    t0 = time.perf_counter()
    rc = pytest.main(["-q", "-p", "no:cacheprovider", "tests/test_fuzz_studies.py",
                      "-k", "mutated"])
    wall = time.perf_counter() - t0
    m1, r1 = maps_and_rss_mb()
    print(f"fuzz soak: {examples} examples, exit {int(rc)}, {wall:.0f} s; maps {m0} -> {m1}, "
          f"RSS {r0:.0f} -> {r1:.0f} MB")
    return int(rc)


if __name__ == "__main__":
    sys.exit(main())
