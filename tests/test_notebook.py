"""examples/assignment.ipynb executed by nbclient in a real Jupyter kernel: no cell fails,
progress is rich's HTML display (no carriage-return noise), the figures are images."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sweeplab import data as data_mod

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "assignment.ipynb"
CELL_TIMEOUT_S = 300  # the slowest cell, the search, trains 24 small runs in ~40 s on 2 cores


@pytest.mark.timeout(900)
def test_assignment_notebook_runs_in_a_kernel(tmp_path, data_dir, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    monkeypatch.setenv(data_mod.ENV_VAR, data_dir)  # the kernel inherits the environment
    # execute() starts the kernel and shuts it down afterwards, also when a cell fails
    # (nbclient raises CellExecutionError with the cell's traceback).
    nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    progress = [o.data["text/html"] for o in outputs if o.output_type == "display_data"
                and "model-epochs" in o.data.get("text/html", "")]
    # one display per run call, updated in place to its final state
    assert len(progress) == 3
    assert "runs 5/5" in progress[0] and "15/15" in progress[0]  # q1: 5 seeds x 3 epochs
    assert "runs 9/9" in progress[1] and "18/18" in progress[1]  # widths: 3 x 3 seeds x 2
    # the search: one bar over its budget (24 runs x 2 epochs), the race's state below it
    assert re.search(r"\d+/48 model-epochs, .*runs \d+/24", progress[2]), progress[2]
    assert "the final round: 2 finalists x 3 fresh seeds" in progress[2], progress[2]
    streams = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "\r" not in streams and "model-epochs" not in streams
    assert sum("image/png" in o.get("data", {}) for o in outputs) == 2  # both plots drawn
    assert "final test accuracy" in streams and "(n=5, 95% CI" in streams
    assert "IProgress" not in streams  # Optuna's tqdm import, quiet in a kernel
    assert " is best with P=" in streams and "3 fresh seeds" in streams  # the search's answer
    table = next(o.data["text/plain"] for o in outputs if o.output_type == "execute_result"
                 and "fresh_mean" in o.data.get("text/plain", ""))
    assert " best " in table and "dropped" in table  # Results.search: a row per candidate
    assert (tmp_path / "assignment-report.html").is_file()
    assert (tmp_path / "assignment.db").is_file()
