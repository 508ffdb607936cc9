"""examples/own_model.ipynb executed by nbclient in a real Jupyter kernel: a user's
functional CNN with a residual block on arrays of their own, width swept over 5 seeds."""

from __future__ import annotations

from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "own_model.ipynb"
CELL_TIMEOUT_S = 600  # the training cell: 10 tiny runs, about 3 minutes on 2 busy cores


@pytest.mark.timeout(900)
def test_own_model_notebook_runs_in_a_kernel(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") + o.get("data", {}).get("text/plain", "")
                   for o in outputs)
    assert "Arrays('patterns', train (240, 16, 16, 1)" in text
    assert "width=4  5" in text and "width=8  5" in text  # n=5 seeds per width
    assert "runs 10/10" in "".join(o.get("data", {}).get("text/html", "") for o in outputs)
    assert sum("image/png" in o.get("data", {}) for o in outputs) == 1
    report = (tmp_path / "own_model-report.html").read_text()
    assert "residual_cnn" in report and "patterns" in report and "horizontal" in report
    assert (tmp_path / "own_model.db").is_file()
