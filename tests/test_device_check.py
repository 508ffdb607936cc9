"""The GPU check rehearsed on this CPU (issue 25): ``make device-rehearse`` builds the carry
folder and a venv like the GPU image's (its packages, no TensorFlow), then runs
bench/device_check.sh --rehearse from the bundle alone, offline, with tiny sizes.

Both folders are git-ignored and kept, so only the first run downloads (the wheels and the
image's packages, about a minute); later runs cost the rehearsal itself (its own budget:
~2-3 minutes on an idle 2-core CPU, bench/device_check.py SIZES).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.slow, pytest.mark.skipif(shutil.which("make") is None,
                                                   reason="make is not installed")]


@pytest.fixture(scope="module")
def rehearsal(data_dir, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("device")
    env = dict(os.environ, OUT=str(out))
    env.pop("PYTHONPATH", None)
    env.pop("KERAS_BACKEND", None)
    p = subprocess.run(["make", "-s", "device-rehearse", f"DATA={data_dir}"], cwd=ROOT,
                       env=env, capture_output=True, text=True, timeout=900)
    log = out / "device_check.log"
    assert log.exists(), p.stdout[-2000:] + p.stderr[-2000:]
    rec = json.loads((out / "device_check.json").read_text())
    rec["_rc"], rec["_log"] = p.returncode, log.read_text()
    return rec


def test_bundle_fits_the_carry_and_its_manifest_says_what_is_in_it(rehearsal):
    man = rehearsal["steps"]["bundle"]
    bundle = ROOT / ".device-bundle"
    on_disk = {str(p.relative_to(bundle)): p.stat().st_size for p in bundle.rglob("*")
               if p.is_file() and p.name != "manifest.json"}
    assert man["files"] == on_disk and man["total_bytes"] == sum(on_disk.values())
    assert man["total_bytes"] <= 60 * 2**20
    names = {Path(f).name.split("-")[0].lower() for f in on_disk if f.startswith("wheels/")}
    assert names == {"keras", "optree", "namex", "typing_extensions", "optuna", "colorlog"}
    assert {"mnist.npz", "cifar10.npz"} <= set(on_disk)


def test_rehearsal_runs_every_step_offline_without_tensorflow(rehearsal):
    assert rehearsal["_rc"] == 0, rehearsal["_log"][-3000:]
    steps = rehearsal["steps"]
    assert rehearsal["mode"] == "rehearse" and steps["done"] is True
    env = steps["environment"]
    assert env["tensorflow_importable"] is False and env["jax_platform"] == "cpu"
    assert env["device"].startswith("cpu:") and env["nvidia_smi"] is None
    assert "src/sweeplab" in env["sweeplab"]  # run from the checkout, not an install
    assert steps["tests_jax"]["rc"] == 0 and "passed" in steps["tests_jax"]["summary"]
    rows = steps["epoch_times"]
    for study in ("q5", "q9"):
        mine = [r for r in rows if r["study"] == study]
        assert {r["mapping"] for r in mine} == {"vmap", "map"}, mine  # both ways measured
        assert all("error" not in r and r["seconds_per_model_epoch"] > 0 for r in mine), mine
        assert sorted({r["k"] for r in mine}) == [2, 3]  # the rehearsal's K (GPU: 1, 10, max)
    assert {r["rule"] for r in rows if r["study"] == "q5"} == {"vmap"}  # dense: vmap
    assert {r["rule"] for r in rows if r["study"] == "q9"} == {"map"}  # convolutions: map
    for dataset, study in (("mnist", "q5"), ("cifar10", "q9")):
        got = steps["studies"][dataset]
        assert got["rc"] == 0, got
        (fig,) = got["figures"]["studies"]
        assert fig["study"] == study and got["figures"]["engine"] == "jax"
