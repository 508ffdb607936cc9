"""Shared fixtures: the real datasets in ../shared/data, small slices of them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SWEEPLAB_TEST_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def data_dir() -> str:
    """The directory with the real MNIST / Fashion-MNIST / CIFAR-10 .npz files."""
    if not (SHARED_DATA / "mnist.npz").is_file():
        pytest.fail(f"real data not found at {SHARED_DATA}; set SWEEPLAB_TEST_DATA")
    return str(SHARED_DATA)
