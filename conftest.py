"""The one place tests find the real datasets, for tests/ and tests_jax/ alike.

``SWEEPLAB_TEST_DATA`` names the directory (``make test`` sets it to ../shared/data);
without it, ../shared/data beside the checkout is tried. A test that needs the real data
and cannot find it fails under CI (``CI=true``: the exactness tests must run there) and
is skipped elsewhere, with the reason counted in the summary.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
SHARED_DATA = Path(os.environ.get("SWEEPLAB_TEST_DATA", ROOT.parent / "shared" / "data"))
_MISSING: list[str] = []


def _under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def data_dir() -> str:
    """The directory with the real MNIST / Fashion-MNIST / CIFAR-10 .npz files."""
    if not (SHARED_DATA / "mnist.npz").is_file():
        reason = f"real data not found at {SHARED_DATA}; set SWEEPLAB_TEST_DATA"
        if _under_ci():
            pytest.fail(f"{reason} (CI=true: tests that need it fail instead of skipping)")
        pytest.skip(reason)
    return str(SHARED_DATA)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # The fixture raises once (session scope); every later test that needs it is skipped
    # with the same reason, counted here.
    if report.skipped and "real data not found" in str(report.longrepr):
        _MISSING.append(report.nodeid)


def pytest_terminal_summary(terminalreporter) -> None:  # noqa: ANN001 (pytest's own type)
    skipped = len(_MISSING)
    if skipped:
        terminalreporter.write_line(
            f"sweeplab: {skipped} tests skipped: real data not found at {SHARED_DATA} "
            f"(set SWEEPLAB_TEST_DATA; under CI=true they fail)", yellow=True)
