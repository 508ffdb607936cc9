"""The JAX suite: its own pytest process, whose Keras backend is JAX (one per process).

Run it apart from tests/ (`make test` does both):
``SWEEPLAB_TEST_DATA=../shared/data .venv/bin/python -m pytest -q tests_jax``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sweeplab import backend

# Before anything imports Keras: this whole process trains on JAX.
backend.select("jax")

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SWEEPLAB_TEST_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def data_dir() -> str:
    """The directory with the real MNIST / CIFAR-10 .npz files."""
    if not (SHARED_DATA / "mnist.npz").is_file():
        pytest.fail(f"real data not found at {SHARED_DATA}; set SWEEPLAB_TEST_DATA")
    return str(SHARED_DATA)


def pytest_configure(config: pytest.Config) -> None:
    # Keras 3.15's Variable.__array__ lacks NumPy 2's copy keyword (np.array(variable) in
    # get_weights); harmless, and it would repeat for every weight of every model.
    config.addinivalue_line(
        "filterwarnings", "ignore:__array__ implementation doesn't accept a copy keyword")
