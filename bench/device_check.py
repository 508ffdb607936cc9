"""The GPU check's measurements, and the carry folder it runs from (bench/device_check.sh).

    .venv/bin/python bench/device_check.py --build-bundle .device-bundle   # make device-bundle
    python3 bench/device_check.py --bundle .device-bundle --out "$OUT"     # on the GPU
    python bench/device_check.py --bundle .device-bundle --out /tmp/o --rehearse  # tiny, CPU

The check writes ``device_check.json`` under --out after every step, so a run cut short
by its time limit still returns what it measured. Every step has its own time share; a
step that would overrun the budget is recorded as skipped, with the reason.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The wheels the GPU image lacks (KINDS.md's package list against sweeplab's needs on JAX):
# 2.7 MiB, and Optuna with the one import it needs that the image lacks (colorlog; its
# sqlalchemy, alembic and PyYAML are for storages sweeplab does not use), so tests_jax's
# search with --engine jax runs there. Versions: the ones this project is tested with.
WHEELS = ("keras==3.15.1", "optree==0.20.0", "namex==0.1.0", "typing_extensions==4.16.0",
          "optuna==5.1.0", "colorlog==6.12.0")
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64",
             "manylinux2014_x86_64", "manylinux1_x86_64")
CIFAR_TRAIN, CIFAR_TEST = 10_000, 5_000  # the bundle's stratified CIFAR-10 subset
BUNDLE_LIMIT = 60 * 2**20  # bytes: the carry limit is 64 MiB with the source tree
# What each mode measures. gpu: full-size MNIST, CIFAR-10 shapes at full size (synthetic
# arrays, timing only), the studies at their own seeds and epochs; rehearse: the same
# steps at sizes that take seconds on this CPU.
SIZES = {
    "gpu": {"budget": 480, "tests_timeout": 170, "n_train": None, "n_test": None,
            "cifar_train": 50_000, "cifar_test": 10_000, "ks": (1, 10), "kmax": 256,
            "study_args": []},
    # rehearse: no step is skipped for time (CI checks every step ran); ~2-3 minutes on an
    # idle 2-core CPU, most of it importing JAX and compiling 6 small programs
    "rehearse": {"budget": 900, "tests_timeout": 400, "n_train": 128, "n_test": 64,
                 "cifar_train": 64, "cifar_test": 32, "ks": (2,), "kmax": 3,
                 "study_args": ["--seeds", "1", "--epochs", "1", "--subset", "100"]},
}
# tests_jax on a CPU rehearsal: in-process ones on the GPU-sensitive paths (K from memory,
# chunked evaluation, vmap against lax.map) and a search with --engine jax (a validation
# split on the device, Optuna from the bundle's wheels, offline); the CLI's other fresh
# processes (its recorded device, auto's choice) run in tests_jax itself and on the GPU.
REHEARSE_TESTS = "registry or chunked or mapped or search_with_engine_jax"
REHEARSE_STUDIES = "q5,q9"  # one MLP and one CNN study (all of them on the GPU)
TIMINGS_SHARE = 150  # seconds of the budget kept for the per-model-epoch timings


def build_bundle(dest: Path, data_dir: Path) -> dict:
    """Write the carry folder: the wheels, mnist.npz, a CIFAR-10 subset as cifar10.npz, and
    manifest.json (every file with its size). Raises SystemExit past BUNDLE_LIMIT."""
    import numpy as np

    need = ("mnist.npz", "cifar10_train_part1.npz", "cifar10_train_part2.npz",
            "cifar10_test.npz")
    missing = [f for f in need if not (data_dir / f).is_file()]
    if missing:
        raise SystemExit(f"--data-dir {data_dir}: missing {', '.join(missing)}; it must hold "
                         f"{', '.join(need)} (make device-bundle DATA=DIR, or $SWEEPLAB_DATA)")
    dest.mkdir(parents=True, exist_ok=True)
    wheels = dest / "wheels"
    wheels.mkdir(exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
           "--python-version", "3.12", "--implementation", "cp", "-d", str(wheels)]
    for p in PLATFORMS:
        cmd += ["--platform", p]
    subprocess.run(cmd + list(WHEELS), check=True)
    shutil.copyfile(data_dir / "mnist.npz", dest / "mnist.npz")
    if not (dest / "cifar10.npz").exists():
        parts = [np.load(data_dir / f) for f in ("cifar10_train_part1.npz",
                                                 "cifar10_train_part2.npz")]
        x_tr = np.concatenate([p["x_train"] for p in parts])
        y_tr = np.concatenate([p["y_train"] for p in parts]).reshape(-1)
        te = np.load(data_dir / "cifar10_test.npz")
        x_te, y_te = te["x_test"], te["y_test"].reshape(-1)

        def pick(y, n):  # the first n/10 images of each class, in their stored order
            return np.sort(np.concatenate([np.flatnonzero(y == c)[:n // 10] for c in range(10)]))

        a, b = pick(y_tr, CIFAR_TRAIN), pick(y_te, CIFAR_TEST)
        np.savez_compressed(dest / "cifar10.npz", x_train=x_tr[a], y_train=y_tr[a],
                            x_test=x_te[b], y_test=y_te[b])
    files = {str(p.relative_to(dest)): p.stat().st_size for p in sorted(dest.rglob("*"))
             if p.is_file() and p.name != "manifest.json"}
    total = sum(files.values())
    manifest = {"what": "carry folder of bench/device_check.sh (make device-bundle)",
                "wheels": list(WHEELS), "python": "cp312 manylinux x86-64",
                "cifar10.npz": f"stratified subset: {CIFAR_TRAIN} train, {CIFAR_TEST} test",
                "files": files, "total_bytes": total, "limit_bytes": BUNDLE_LIMIT}
    (dest / "manifest.json").write_text(json.dumps(manifest, indent=1))
    if total > BUNDLE_LIMIT:
        raise SystemExit(f"bundle {dest} is {total / 2**20:.1f} MiB; the limit is "
                         f"{BUNDLE_LIMIT / 2**20:.0f} MiB")
    print(f"{dest}: {len(files)} files, {total / 2**20:.1f} MiB (limit "
          f"{BUNDLE_LIMIT / 2**20:.0f} MiB); manifest.json lists them")
    return manifest


class Check:
    """The JSON record, written after every step, and the time budget."""

    def __init__(self, mode: str, out: Path):
        self.mode, self.size = mode, SIZES[mode]
        self.path = out / "device_check.json"
        self.t0 = time.perf_counter()
        self.rec: dict = {"mode": mode, "budget_seconds": self.size["budget"],
                          "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                          "python": sys.version.split()[0], "machine": platform.machine(),
                          "cpus": os.cpu_count(), "steps": {}}

    def left(self) -> float:
        return self.size["budget"] - (time.perf_counter() - self.t0)

    def save(self, step: str, value) -> None:
        self.rec["steps"][step] = value
        self.rec["elapsed_seconds"] = round(time.perf_counter() - self.t0, 2)
        self.path.write_text(json.dumps(self.rec, indent=1, default=str))
        print(f"[{self.rec['elapsed_seconds']:7.1f} s] {step}: "
              f"{json.dumps(value, default=str)[:300]}", flush=True)


def _environment() -> dict:
    import jax

    import sweeplab
    from sweeplab.backend import device, library_versions

    smi = shutil.which("nvidia-smi")
    smi_out = (subprocess.run([smi], capture_output=True, text=True, timeout=30).stdout
               if smi else None)
    return {"nvidia_smi": smi_out, "jax_devices": [str(d) for d in jax.devices()],
            "jax_platform": jax.devices()[0].platform, "device": device(),
            "versions": library_versions(), "sweeplab": sweeplab.__file__,
            "tensorflow_importable": _importable("tensorflow")}


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def _tests(chk: Check, bundle: Path) -> dict:
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests_jax"]
    if chk.mode == "rehearse":
        cmd += ["-k", REHEARSE_TESTS]
    env = dict(os.environ, SWEEPLAB_TEST_DATA=str(bundle))
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT,
                           timeout=min(chk.size["tests_timeout"], max(chk.left() - 60, 10)))
        tail = (p.stdout + p.stderr).strip().splitlines()
        return {"rc": p.returncode, "summary": tail[-1] if tail else "",
                "failures": [ln for ln in tail if ln.startswith(("FAILED", "ERROR"))],
                "seconds": round(time.perf_counter() - t0, 1)}
    except subprocess.TimeoutExpired:
        return {"rc": None, "summary": "timed out", "seconds": round(time.perf_counter() - t0)}


def _synthetic(n_train: int, n_test: int, shape: tuple[int, ...], classes: int = 10):
    """Random uint8 images and labels of a real dataset's shapes: timing only, never
    accuracy (labelled "synthetic" in the record)."""
    import numpy as np

    from sweeplab.data import Dataset

    rng = np.random.default_rng(0)
    x = rng.random((n_train + n_test, *shape), dtype=np.float32)
    y = rng.integers(0, classes, n_train + n_test).astype(np.int32)
    return Dataset("cifar10", x[:n_train], y[:n_train], x[n_train:], y[n_train:],
                   tuple(str(c) for c in range(classes)), "synthetic (timing only)")


def _epoch_time(cfg, data, k: int, mapping: str) -> dict:
    """Seconds per model-epoch (epoch 2 of 2: training + test evaluation, per run) and the
    compile (epoch 1 less epoch 2, for the whole group) of K runs under ``mapping``."""
    import dataclasses

    from sweeplab.engines import jax as jx

    os.environ["SWEEPLAB_JAX_MAP"] = mapping
    runs = [jx.Run(dataclasses.replace(cfg, epochs=2), s) for s in range(k)]
    t0 = time.perf_counter()
    res = jx.train_group(runs, data)
    e1, e2 = res[0].epochs[1].seconds, res[0].epochs[2].seconds
    return {"k": k, "mapping": mapping, "n_train": len(data.x_train),
            "seconds_per_model_epoch": round(e2, 5), "compile_seconds": round((e1 - e2) * k, 3),
            "wall_seconds": round(time.perf_counter() - t0, 2),
            "final_train_loss": res[0].epochs[2].train_loss}


def _timings(chk: Check, bundle: Path) -> list[dict]:
    from sweeplab import data as data_mod
    from sweeplab import study as st
    from sweeplab.engines import common
    from sweeplab.engines import jax as jx

    sz = chk.size
    mnist = data_mod.load("mnist", bundle, allow_download=False)
    if sz["n_train"]:
        mnist = _cut(mnist, sz["n_train"], sz["n_test"])
    cifar = _synthetic(sz["cifar_train"], sz["cifar_test"], (32, 32, 3))
    rows: list[dict] = []
    for name, data, label in (("q5", mnist, "mnist"),
                              ("q9", cifar, "cifar10-shaped synthetic (timing only)")):
        cfg = st.BUILTIN[name].base
        os.environ.pop("SWEEPLAB_JAX_MAP", None)  # the rule itself, not the last override
        rule = jx.runs_mapping(cfg)
        other = "map" if rule == "vmap" else "vmap"
        # the largest K the device's free memory holds (jx.auto_group_size, without the
        # CPU's K = 1 for convolutions, so the rehearsal measures what the GPU will)
        kmax = min(sz["kmax"], common.group_size(cfg, data.image_shape, data.num_classes,
                                                 10**6, jx._free_bytes(), jx.MAX_GROUP_ACCEL))
        plan = [(k, rule) for k in sz["ks"]] + [(sz["ks"][-1], other), (kmax, rule)]
        plan = list(dict.fromkeys(plan))  # a small device's K max may equal one of ks
        for k, mapping in plan:
            row = {"study": name, "preset_layers": len(cfg.layers), "data": label,
                   "rule": rule, "kmax_from_memory": kmax}
            if chk.mode == "gpu" and rows and k == kmax:  # the largest K within the time left
                last = [r for r in rows if r["study"] == name and "seconds_per_model_epoch" in r]
                est = 3 * k * last[-1]["seconds_per_model_epoch"] if last else 0
                if est > chk.left() / 3:
                    k = max(1, int(k * chk.left() / 3 / est))
                    row["k_reduced_for_time"] = True
            if chk.left() < 30:
                rows.append({**row, "k": k, "mapping": mapping, "skipped": "time budget"})
                chk.save("epoch_times", rows)
                continue
            try:
                rows.append({**row, **_epoch_time(cfg, data, k, mapping)})
            except Exception as err:  # noqa: BLE001 - record it, measure the rest
                rows.append({**row, "k": k, "mapping": mapping,
                             "error": f"{type(err).__name__}: {err}"[:500]})
            chk.save("epoch_times", rows)
    os.environ.pop("SWEEPLAB_JAX_MAP", None)
    return rows


def _cut(ds, n_train: int, n_test: int):
    import dataclasses

    return dataclasses.replace(ds, x_train=ds.x_train[:n_train], y_train=ds.y_train[:n_train],
                               x_test=ds.x_test[:n_test], y_test=ds.y_test[:n_test])


def _studies(chk: Check, bundle: Path, out: Path) -> dict:
    """bench/assignment.py on the jax engine: MNIST studies at full size, CIFAR-10 studies
    at the bundle's subset size (its cifar10.npz), in one process per dataset."""
    from sweeplab import study as st

    res: dict = {}
    for dataset in ("mnist", "cifar10"):
        names = [n for n, s in st.BUILTIN.items() if s.base.dataset == dataset
                 and s.search is None]  # q7s: a search, not a grid to time
        if chk.mode == "rehearse":
            names = [n for n in names if n in REHEARSE_STUDIES.split(",")]
        if chk.left() - TIMINGS_SHARE < 30:
            res[dataset] = {"skipped": "time budget", "studies": names}
            chk.save("studies", res)
            continue
        js = out / f"assignment_{dataset}.json"
        cmd = [sys.executable, str(ROOT / "bench" / "assignment.py"), "--engine", "jax",
               "--studies", ",".join(names), "--data-dir", str(bundle), "--json", str(js),
               *chk.size["study_args"]]
        t0 = time.perf_counter()
        try:
            rest = chk.left() - TIMINGS_SHARE
            share = rest if dataset == "cifar10" else rest * 0.5
            p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=share)
            res[dataset] = {"rc": p.returncode, "seconds": round(time.perf_counter() - t0, 1),
                            "size": "full" if dataset == "mnist" else
                            f"subset {CIFAR_TRAIN} train / {CIFAR_TEST} test",
                            "log_tail": (p.stdout + p.stderr)[-1500:]}
            if js.exists():
                res[dataset]["figures"] = json.loads(js.read_text())
        except subprocess.TimeoutExpired as err:
            text = err.stdout.decode(errors="replace") if isinstance(err.stdout, bytes) else (
                err.stdout or "")  # the studies finished before the cut, one line each
            res[dataset] = {"rc": None, "timed_out_after": round(err.timeout),
                            "log_tail": text[-3000:]}
        chk.save("studies", res)
    return res


def run_check(mode: str, bundle: Path, out: Path) -> int:
    """All steps; returns 0 when every step ran and tests_jax passed."""
    out.mkdir(parents=True, exist_ok=True)
    chk = Check(mode, out)
    chk.save("bundle", json.loads((bundle / "manifest.json").read_text()))
    from sweeplab import backend

    backend.select("jax")
    chk.save("environment", _environment())
    tests = _tests(chk, bundle)
    chk.save("tests_jax", tests)
    # The studies run in their own processes before this one trains anything: a JAX
    # process keeps the device memory it used, so the timings (K up to 256) come last.
    _studies(chk, bundle, out)
    _timings(chk, bundle)
    chk.rec["total_seconds"] = round(time.perf_counter() - chk.t0, 1)
    chk.save("done", True)
    return 0 if tests.get("rc") == 0 else 1


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bundle", default=str(ROOT / ".device-bundle"), help="the carry folder")
    p.add_argument("--out", default=os.environ.get("OUT", "/tmp/device-check"))
    p.add_argument("--rehearse", action="store_true", help="tiny sizes (a CPU rehearsal)")
    p.add_argument("--build-bundle", metavar="DIR", help="write the carry folder and stop")
    p.add_argument("--data-dir", default=os.environ.get(
        "SWEEPLAB_DATA", str(ROOT.parent / "shared" / "data")),
        help="where mnist.npz and the cifar10 parts are (for --build-bundle)")
    args = p.parse_args()
    if args.build_bundle:
        build_bundle(Path(args.build_bundle), Path(args.data_dir))
        return
    sys.path.insert(0, str(ROOT / "src"))
    sys.exit(run_check("rehearse" if args.rehearse else "gpu", Path(args.bundle),
                       Path(args.out)))


if __name__ == "__main__":
    main()
