"""The core install (`pip install sweeplab`, `make demo`) is enough for the core commands:
run, ls, show, report and export csv import nothing that only an extra brings. The extras'
packages are made unimportable in the command's process, as in a venv without them."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from sweeplab.study import tomllib  # tomllib, or tomli before Python 3.11

ROOT = Path(__file__).resolve().parents[1]

# Installs a finder that refuses the extras' top-level modules, then runs the CLI.
BLOCKED_RUN = """
import sys
BLOCK = set(sys.argv[1].split(","))
class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCK:
            raise ImportError(f"{name} comes with an extra")
sys.meta_path.insert(0, Refuse())
from sweeplab.cli import main
sys.exit(main(sys.argv[2:]))
"""


def _extras_modules() -> set[str]:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    names = {re.match(r"[A-Za-z0-9_.-]+", req)[0] for reqs in extras.values() for req in reqs}
    return {n.replace("-", "_") for n in names if n != "sweeplab"} | {"IPython"}


def test_core_commands_need_no_extra(tmp_path, data_dir):
    blocked = _extras_modules()
    assert {"jax", "ray", "mlflow", "tensorboard", "pyarrow", "nbclient"} <= blocked
    store = ["--store", str(tmp_path / "s.db")]

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", BLOCKED_RUN, ",".join(sorted(blocked)),
                               *args], capture_output=True, text=True, timeout=600)

    for args in (["run", "q1", "--seeds", "1", "--epochs", "1", "--subset", "300", "--quiet",
                  "--data-dir", data_dir, *store],
                 ["ls", *store], ["show", "q1:base", *store],
                 ["report", "--format", "md", "--out", str(tmp_path / "r"), *store],
                 ["export", "csv", str(tmp_path / "csv"), *store]):
        proc = cli(*args)
        assert proc.returncode == 0, (args, proc.stderr)
    assert (tmp_path / "csv" / "runs.csv").read_text().count("\n") == 2  # header + one run
    # `assignment` leaves the search q7s out in one line (it needs Optuna) and runs the
    # grids: here it gets as far as the data, which is not in this empty directory
    proc = cli("assignment", "--seeds", "2", "--data-dir", str(tmp_path / "none"),
               "--store", str(tmp_path / "a.db"))
    assert proc.returncode == 2, proc.stderr
    left, err = proc.stderr.splitlines()[:2]
    assert left == ("sweeplab assignment: q7s left out: a [search] needs Optuna, which is not "
                    "installed: pip install 'sweeplab[search]'")
    assert "Dataset 'mnist' not found" in err
    # and `run q7s` says so in one line before any store file or data
    proc = cli("run", "q7s", "--data-dir", str(tmp_path / "none"), "--store",
               str(tmp_path / "q7s.db"))
    assert proc.returncode == 2 and proc.stderr == (
        "sweeplab run: error: a [search] needs Optuna, which is not installed: "
        "pip install 'sweeplab[search]'\n")
    assert not (tmp_path / "q7s.db").exists()
    # the block works: an extra's command says which extra it needs
    proc = cli("export", "tensorboard", str(tmp_path / "tb"), *store)
    assert proc.returncode == 2 and "pip install 'sweeplab[tensorboard]'" in proc.stderr
