"""Every `make TARGET` that README.md or bench/README.md names works on a fresh clone (issue 33).

A fresh clone has no `.venv`: `make device-bundle` used to call `.venv/bin/python` before
anything made it (Error 127). Here each named target is dry-run (`make -n`, which prints the
commands a real run would execute, in order, and runs none) in a copy of the repository's
tracked files (a fresh clone of the working tree, so uncommitted Makefile edits count), and
every program a command takes from a venv (`V/bin/NAME`) must have been made by an earlier
command: `... -m venv V` makes V/bin/python and V/bin/pip, a `V/bin/pip install` the
programs of what it installs. Nothing is downloaded or installed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(shutil.which("make") is None or shutil.which("git") is None,
                                reason="make or git is not installed")


def _named_targets() -> list[str]:
    text = (ROOT / "README.md").read_text() + (ROOT / "bench" / "README.md").read_text()
    found = set(re.findall(r"(?m)(?:`|^)make ([a-z][a-z-]*)", text))
    return sorted(found)


@pytest.fixture(scope="module")
def fresh_clone(tmp_path_factory) -> Path:
    """The tracked files as they are in the working tree, without any ignored build output."""
    dest = tmp_path_factory.mktemp("clone") / "sweeplab"
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                           check=True).stdout.decode().split("\0")
    for f in filter(None, files):
        src = ROOT / f
        if src.is_file():
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / f)
    assert not (dest / ".venv").exists()
    return dest


def _dry_run(clone: Path, target: str) -> list[str]:
    p = subprocess.run(["make", "-n", target, "DATA=/nonexistent-data"], cwd=clone,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return [line for line in p.stdout.splitlines() if line.strip()]


def _check_order(lines: list[str]) -> list[str]:
    """The venv programs used by a command before any earlier command made them."""
    made: set[str] = set()
    unmade = []
    for line in lines:
        # venvs inside the clone (relative paths); an interpreter elsewhere is the system's
        used = [(v, prog) for v, prog in re.findall(r"(?:^|[\s=])([^\s=]+?)/bin/([\w.-]+)", line)
                if not v.startswith(("/", "~", "$"))]
        venv = re.search(r"-m venv (\S+)", line)
        install = re.search(r"(\S+?)/bin/pip install", line)
        for v, prog in used:
            if venv and v == venv.group(1):
                continue
            if not {f"{v}/bin/{prog}", f"{v}/bin/*"} & made:
                unmade.append(f"{v}/bin/{prog} in: {line}")
        if venv:
            made |= {f"{venv.group(1)}/bin/python", f"{venv.group(1)}/bin/pip"}
        if install and f"{install.group(1)}/bin/pip" in made:
            # what it installs brings its programs (sweeplab, ruff, pytest ...)
            made.add(f"{install.group(1)}/bin/*")
    return unmade


def test_readmes_name_the_targets_checked_here():
    named = _named_targets()
    assert {"demo", "test", "device-bundle", "device-rehearse"} <= set(named), named
    makefile = (ROOT / "Makefile").read_text()
    for t in named:
        assert re.search(rf"(?m)^{re.escape(t)}:", makefile), f"README names `make {t}`"


def test_a_check_that_catches_the_old_order():
    """The checker itself: the old device-bundle recipe (venv's python first) is caught."""
    old = [".venv/bin/python bench/device_check.py --build-bundle .device-bundle"]
    assert _check_order(old)
    assert not _check_order(["python3 -m venv .venv", ".venv/bin/pip install -q numpy",
                             ".venv/bin/python bench/device_check.py"])


@pytest.mark.parametrize("target", _named_targets())
def test_every_named_target_makes_its_venv_before_using_it(fresh_clone, target):
    lines = _dry_run(fresh_clone, target)
    assert lines, f"make -n {target} printed nothing on a fresh clone"
    assert _check_order(lines) == [], "\n".join(lines)
    if target in ("device-bundle", "device-rehearse"):
        assert any("bench/device_check.py --build-bundle" in line for line in lines), lines
        assert any("-m venv .venv" in line for line in lines), lines
        assert not any("install --quiet -e" in line for line in lines), (
            "the bundle needs NumPy, not sweeplab and TensorFlow: " + "\n".join(lines))
