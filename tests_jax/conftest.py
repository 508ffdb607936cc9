"""The JAX suite: its own pytest process, whose Keras backend is JAX (one per process).
The data_dir fixture is the root conftest.py's, shared with tests/.

Run it apart from tests/ (`make test` does both):
``SWEEPLAB_TEST_DATA=../shared/data .venv/bin/python -m pytest -q tests_jax``.
"""

from __future__ import annotations

import pytest

from sweeplab import backend

# Before anything imports Keras: this whole process trains on JAX.
backend.select("jax")


def pytest_configure(config: pytest.Config) -> None:
    # Keras 3.15's Variable.__array__ lacks NumPy 2's copy keyword (np.array(variable) in
    # get_weights); harmless, and it would repeat for every weight of every model.
    config.addinivalue_line(
        "filterwarnings", "ignore:__array__ implementation doesn't accept a copy keyword")
