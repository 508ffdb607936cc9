"""Reference vs fast (vs jax) engine, side by side in one invocation.

Each measurement runs in its own subprocess (so its peak resident memory is its own and
no compiled program is reused), alternating the engines, and the script prints the
median model-epochs per second of each engine, the ratio of the medians, and peak RSS.
A measurement is the whole engine call: model building, compiling, training, per-epoch
test evaluation, confusion matrices, diagnostics, as a study would see it. For engines that
record their phases (fast, jax: engines/common.PHASES) a breakdown line follows: training,
compile (epoch 1 less a later epoch), diagnostics, evaluation, fit_order, setup, other,
and the share of the call spent outside training.

    .venv/bin/python bench/engines.py                 # (a) q1 MLP and (b) q9 CNN
    .venv/bin/python bench/engines.py --cases mlp --repeats 3
    .venv/bin/python bench/engines.py --cases cnn --cnn-subset 0   # full CIFAR-10
    .venv/bin/python bench/engines.py --memory        # 10 seeds of q10e at once, peak RSS
    .venv/bin/python bench/engines.py --engine fast --engine jax --cases mlp   # fast vs jax
    .venv/bin/python bench/engines.py --cases mlp --baseline /tmp/base   # + fast@base

Engines compared: reference and fast, or those named with --engine (repeatable); ratios
are against the first one named.

The machine's own floor (issue 33): in the same invocation, before the first and after the
last measurement, one core's and all cores' float32 matrix-product rate (NumPy: 2048 x 2048,
and the q1 MLP's own shapes), each in its own process with its threads pinned by
environment; every engine's training time per model-epoch is then printed as a multiple
of the one-core floor (the model's training FLOP per model-epoch at the best one-core rate).
The header says the CPU's vector extensions and the TensorFlow/oneDNN/OpenBLAS/XLA settings
in effect (oneDNN's own ISA line and its kernel for the MLP's product, from ONEDNN_VERBOSE).

    .venv/bin/python bench/engines.py --cases mlp --repeats 2 --isa avx2   # held to AVX2

`--isa avx2` holds every library to AVX2 + FMA in every child process (an AVX-512 machine
standing in for the laptops and workstations without it): ONEDNN_MAX_CPU_ISA=AVX2 (oneDNN:
TensorFlow's matmuls and convolutions), OPENBLAS_CORETYPE=Haswell (NumPy's OpenBLAS, so
the floor too), XLA_FLAGS=--xla_cpu_max_isa=AVX2 (XLA's CPU code generation; TensorFlow's
own Eigen kernels are compiled for AVX2 at most in the pip wheel, nothing to hold).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CASES = {
    # name: (preset, dataset, seeds, epochs)
    "mlp": ("mlp-relu-mse", "mnist", 10, 2),  # (a) q1 on MNIST
    "cnn": ("cnn-base", "cifar10", 3, 1),  # (b) q9 on CIFAR-10
}


# The environment that holds TensorFlow (oneDNN), NumPy (OpenBLAS) and XLA to AVX2 + FMA.
ISA_ENV = {"native": {}, "avx2": {"ONEDNN_MAX_CPU_ISA": "AVX2", "OPENBLAS_CORETYPE": "Haswell",
                                  "XLA_FLAGS": "--xla_cpu_max_isa=AVX2"}}
SETTINGS = ("ONEDNN_MAX_CPU_ISA", "OPENBLAS_CORETYPE", "XLA_FLAGS", "TF_ENABLE_ONEDNN_OPTS",
            "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS",
            "OPENBLAS_NUM_THREADS", "SWEEPLAB_THREADS")
# (name, m, k, n): products timed for the floor; the first is the floor's rate
FLOOR_SHAPES = (("2048x2048", 2048, 2048, 2048),
                ("MLP forward 32x784 @ 784x32", 32, 784, 32),
                ("MLP weight gradient 784x32 @ 32x32", 784, 32, 32))


def _isa_env(isa: str) -> dict[str, str]:
    env = dict(ISA_ENV[isa])
    if "XLA_FLAGS" in env and os.environ.get("XLA_FLAGS"):
        env["XLA_FLAGS"] = os.environ["XLA_FLAGS"] + " " + env["XLA_FLAGS"]
    return env


def cpu_description() -> str:
    """The CPU's model name, cores and vector extensions, from /proc/cpuinfo."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return f"{os.cpu_count()} CPUs (no /proc/cpuinfo)"
    field = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        field.setdefault(key.strip(), value.strip())
    flags = set(field.get("flags", "").split())
    vec = sorted(f for f in flags if f.startswith("avx512")) + [
        f for f in ("avx2", "fma", "avx") if f in flags]
    return (f"{field.get('model name', '?')}, {os.cpu_count()} CPUs; vector extensions: "
            f"{' '.join(vec) or 'none of avx/avx2/fma/avx512'}")


def training_flop(cfg, image_shape: tuple[int, ...], num_classes: int, n: int) -> float:
    """Multiply-add FLOP of one model-epoch of training over n samples: the forward pass,
    the weight gradients and the input gradients of every weight layer but the first (the
    input needs none), of the dense and convolutional layers (elementwise work left out).
    q1's MLP on MNIST: 6.14 GFLOP."""
    from sweeplab import spec as S

    shape = tuple(image_shape)
    total, first = 0.0, True
    for layer in (*cfg.layers, S.Dense(num_classes)):
        if isinstance(layer, S.Flatten):
            shape = (math.prod(shape),)
        elif isinstance(layer, S.MaxPool):
            shape = (shape[0] // layer.size, shape[1] // layer.size, shape[2])
        elif isinstance(layer, (S.Dense, S.Conv2D)):
            if isinstance(layer, S.Dense):
                fan_in = math.prod(shape)
                out, positions = (layer.units,), 1
                macs = fan_in * layer.units
            else:
                h, w, c = shape
                if layer.padding == "valid":
                    h, w = h - layer.kernel + 1, w - layer.kernel + 1
                out, positions = (h, w, layer.filters), h * w
                macs = positions * layer.kernel ** 2 * c * layer.filters
            total += 2 * macs * (2 if first else 3)
            first, shape = False, out
    return total * n


def _floor_child() -> None:
    """Best-of-10 GFLOP/s of each FLOOR_SHAPES product with the threads the environment
    sets: per second of wall time, and per second of this process's CPU time (on one thread
    the rate while it holds a core, whatever else the machine runs)."""
    import numpy as np

    rng = np.random.default_rng(0)
    rates, cpu_rates = {}, {}
    for name, m, k, n in FLOOR_SHAPES:
        a = rng.random((m, k), dtype=np.float32)
        b = rng.random((k, n), dtype=np.float32)
        a @ b
        t0 = time.perf_counter()
        inner = 1
        while time.perf_counter() - t0 < 0.02:  # calls per sample: >= ~20 ms
            a @ b
            inner += 1
        best = best_cpu = float("inf")
        for _ in range(10):
            t, c = time.perf_counter(), time.process_time()
            for _ in range(inner):
                a @ b
            best = min(best, (time.perf_counter() - t) / inner)
            best_cpu = min(best_cpu, (time.process_time() - c) / inner)
        rates[name] = 2 * m * k * n / best / 1e9
        cpu_rates[name] = 2 * m * k * n / max(best_cpu, 1e-9) / 1e9
    try:
        from threadpoolctl import threadpool_info
        blas = [f"{i.get('internal_api')} {i.get('architecture')} x{i.get('num_threads')}"
                for i in threadpool_info() if i.get("user_api") == "blas"]
    except ImportError:
        blas = ["(threadpoolctl not installed)"]
    print(json.dumps({"rates": rates, "cpu_rates": cpu_rates, "blas": blas}))


def _floor(isa: str) -> dict:
    """The one-core and all-core rates, each in its own process, threads pinned by env."""
    out = {}
    for label, threads in (("one_core", "1"), ("all_cores", str(os.cpu_count() or 1))):
        env = dict(os.environ, **_isa_env(isa), OPENBLAS_NUM_THREADS=threads,
                   OMP_NUM_THREADS=threads)
        p = subprocess.run([sys.executable, __file__, "--floor-child"], env=env,
                           capture_output=True, text=True)
        if p.returncode != 0:
            raise SystemExit(f"floor measurement failed:\n{p.stderr[-2000:]}")
        out[label] = json.loads(p.stdout.strip().splitlines()[-1])
    return out


def _floor_line(fl: dict) -> str:
    one, all_ = fl["one_core"], fl["all_cores"]
    return "; ".join(f"{name}: one core {one['rates'][name]:.1f}, all cores "
                     f"{all_['rates'][name]:.1f} GFLOP/s" for name, *_ in FLOOR_SHAPES) + (
        f" (BLAS: {', '.join(one['blas'])} / {', '.join(all_['blas'])})")


def _settings_child() -> None:
    """TensorFlow's version and threads, and oneDNN's ISA and kernel for the MLP's product
    (ONEDNN_VERBOSE is set by the parent; its lines go to stdout)."""
    import tensorflow as tf

    x, w = tf.ones((10, 32, 784)), tf.ones((10, 784, 32))
    tf.matmul(x, w).numpy()
    th = tf.config.threading
    print(json.dumps({"tensorflow": tf.__version__,
                      "intra_op": th.get_intra_op_parallelism_threads(),
                      "inter_op": th.get_inter_op_parallelism_threads()}), flush=True)


def _settings(isa: str) -> str:
    env = dict(os.environ, **_isa_env(isa), ONEDNN_VERBOSE="1", TF_CPP_MIN_LOG_LEVEL="2")
    env["PYTHONPATH"] = str(ROOT / "src")
    p = subprocess.run([sys.executable, __file__, "--settings-child"], env=env,
                       capture_output=True, text=True)
    lines = p.stdout.splitlines()
    isa_line = next((ln.split("isa:", 1)[1] for ln in lines if ",isa:" in ln), "?")
    kernel = next((ln.split(",")[6] for ln in lines
                   if ",exec," in ln and ",matmul," in ln), "? (oneDNN off or not used)")
    tf_info = next((json.loads(ln) for ln in lines if ln.startswith("{")), {})
    env_set = {k: os.environ.get(k) for k in SETTINGS}
    env_set.update({k: v for k, v in _isa_env(isa).items()})
    shown = ", ".join(f"{k}={v}" for k, v in env_set.items() if v) or "none"
    return (f"TensorFlow {tf_info.get('tensorflow', '?')} (intra-op threads "
            f"{tf_info.get('intra_op', '?')}, inter-op {tf_info.get('inter_op', '?')}; 0 = "
            f"TF's default, all cores; TF_NUM_INTRAOP_THREADS=1: one thread per op); "
            f"oneDNN ISA: {isa_line}; oneDNN kernel "
            f"for the MLP's (10, 32, 784) @ (10, 784, 32): {kernel}; environment: {shown}")


def _child(args: argparse.Namespace) -> None:
    """Run one engine on one case and print one JSON line."""
    sys.path.insert(0, args.src or str(ROOT / "src"))
    from sweeplab import data, spec
    from sweeplab.engines import get_engine

    ds = data.load(args.dataset, args.data_dir, subset=args.subset or None)
    cfg = dataclasses.replace(spec.preset(args.preset), epochs=args.epochs)
    name = args.engine[0].split("@")[0]
    seeds = list(range(args.seeds))
    # Importing TensorFlow/Keras (~2.4 s here; Keras + JAX for the jax engine) is a
    # per-process cost that every engine pays and a study pays once, like loading the
    # data: measured apart, reported beside the engine time, not inside it.
    t_import = time.perf_counter()
    engine = get_engine(name, parallel=args.parallel)
    from sweeplab.backend import keras

    keras()
    import_seconds = time.perf_counter() - t_import
    t0 = time.perf_counter()
    c0 = time.process_time()
    results = []
    if args.max_steps:  # memory probe: cut the training set to max_steps batches
        n = min(len(ds.x_train), args.max_steps * cfg.batch_size)
        ds = dataclasses.replace(ds, x_train=ds.x_train[:n], y_train=ds.y_train[:n])
    for r in engine(cfg, seeds, ds):
        results.append(r)
    dt = time.perf_counter() - t0
    cpu = time.process_time() - c0
    try:
        from sweeplab.engines.common import PHASES
    except ImportError:  # a --baseline checkout from before the phase timings
        PHASES = {}
    try:
        from sweeplab.engines.common import CPU_PHASES
    except ImportError:  # a --baseline checkout from before issue 33
        CPU_PHASES = {}
    print(json.dumps({
        "phases": dict(PHASES), "cpu_phases": dict(CPU_PHASES),
        "engine": name, "seconds": dt, "import_seconds": import_seconds, "cpu_seconds": cpu,
        "train_flop": training_flop(cfg, ds.image_shape, ds.num_classes, len(ds.x_train)),
        "model_epochs": len(seeds) * cfg.epochs,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "final_test_acc": [r.final.test_acc for r in results],
    }))


def _case(case: str, args: argparse.Namespace) -> tuple[str, str, int, int]:
    preset, dataset, seeds, epochs = CASES[case]
    if case == "cnn":
        seeds, epochs = args.cnn_seeds or seeds, args.cnn_epochs or epochs
    else:
        epochs = args.mlp_epochs or epochs
    return preset, dataset, seeds, epochs


def _run(engine: str, case: str, args: argparse.Namespace, extra: list[str] = ()) -> dict:
    preset, dataset, seeds, epochs = _case(case, args)
    subset = args.cnn_subset if case == "cnn" else args.mlp_subset
    src = str(Path(args.baseline) / "src" if engine.endswith("@base") else ROOT / "src")
    cmd = [sys.executable, __file__, "--child", "--engine", engine, "--src", src,
           "--preset", preset,
           "--dataset", dataset, "--seeds", str(seeds), "--epochs", str(epochs),
           "--subset", str(subset), "--data-dir", args.data_dir, *extra]
    env = dict(os.environ, PYTHONPATH=src, **_isa_env(args.isa))
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise SystemExit(f"{engine}/{case} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _bench(case: str, args: argparse.Namespace) -> dict:
    """Run the case; return per engine the median seconds per model-epoch of its training
    (engines that record phases) and of its whole call, and the training FLOP."""
    preset, dataset, seeds, epochs = _case(case, args)
    subset = args.cnn_subset if case == "cnn" else args.mlp_subset
    print(f"\n({case}) {preset} on {dataset}{f' subset {subset}' if subset else ''}: "
          f"{seeds} seeds x {epochs} epochs, {args.repeats} alternating repeats", flush=True)
    engines = list(dict.fromkeys((args.engine or ["reference", "fast"]) + (
        [f"{e}@base" for e in args.engine or ["fast"] if e != "reference" and "@" not in e]
        if args.baseline else [])))
    rates: dict[str, list[float]] = {e: [] for e in engines}
    with_import: dict[str, list[float]] = {e: [] for e in engines}
    rss: dict[str, float] = {e: 0.0 for e in engines}
    phases: dict[str, list[dict]] = {e: [] for e in engines}
    cpu: dict[str, list[float]] = {e: [] for e in engines}
    cpu_train: dict[str, list[float]] = {e: [] for e in engines}
    flop = 0.0
    for rep in range(args.repeats):
        order = engines if rep % 2 == 0 else engines[::-1]
        for engine in order:
            r = _run(engine, case, args)
            rate = r["model_epochs"] / r["seconds"]
            rates[engine].append(rate)
            with_import[engine].append(r["seconds"] + r["import_seconds"])
            rss[engine] = max(rss[engine], r["peak_rss_mb"])
            phases[engine].append(_breakdown(r, epochs))
            cpu[engine].append(r.get("cpu_seconds", float("nan")) / r["model_epochs"])
            cph = r.get("cpu_phases") or {}
            if epochs > 1 and "training" in cph:  # epochs 2..: no compile, no thread beside
                cpu_train[engine].append(cph["training"] / (seeds * (epochs - 1)))
            flop = r.get("train_flop", 0.0)
            print(f"  rep {rep} {engine:9s} {r['seconds']:7.2f} s (+{r['import_seconds']:.1f} s "
                  f"import)  {rate:7.3f} model-epochs/s  "
                  f"peak RSS {r['peak_rss_mb']:6.0f} MB  mean final test acc "
                  f"{statistics.mean(r['final_test_acc']):.4f}", flush=True)
            if phases[engine][-1]:
                print("    " + _phase_line(phases[engine][-1:]), flush=True)
    for engine in engines:
        if phases[engine] and phases[engine][0]:
            print(f"  {engine} breakdown (median over repeats): " + _phase_line(phases[engine]),
                  flush=True)
    med = {e: statistics.median(v) for e, v in rates.items()}
    base = engines[0]
    print(f"  median model-epochs/s: {', '.join(f'{e} {med[e]:.3f}' for e in engines)}; "
          f"peak RSS {', '.join(f'{e} {rss[e]:.0f} MB' for e in engines)}", flush=True)
    for other in engines[1:]:
        ratios = [o / b for o, b in zip(rates[other], rates[base], strict=True)]
        imp = [b / o for o, b in zip(with_import[other], with_import[base], strict=True)]
        both = statistics.median(with_import[base]) / statistics.median(with_import[other])
        print(f"  {other} / {base}: ratio of medians {med[other] / med[base]:.2f}x (per-repeat "
              f"ratios {', '.join(f'{x:.2f}' for x in ratios)}); counting the import as "
              f"well {both:.2f}x (per repeat {', '.join(f'{x:.2f}' for x in imp)})", flush=True)
    out = {"flop": flop, "case": case, "engines": {}}
    for e in engines:
        n_me = seeds * epochs
        train = [ph["training"] / n_me for ph in phases[e] if ph]
        out["engines"][e] = {
            "call": statistics.median(1 / x for x in rates[e]),
            "training": statistics.median(train) if train else None,
            "cpu": statistics.median(cpu[e]),
            "cpu_training": statistics.median(cpu_train[e]) if cpu_train[e] else None}
    return out


def _floor_report(results: list[dict], floors: list[dict]) -> None:
    """Each engine's time per model-epoch as a multiple of the machine's floor: the model's
    training FLOP at the best one-core (and all-core) 2048 x 2048 rate measured here."""
    name = FLOOR_SHAPES[0][0]
    one = max(f["one_core"]["rates"][name] for f in floors) * 1e9
    all_ = max(f["all_cores"]["rates"][name] for f in floors) * 1e9
    one_cpu = max(f["one_core"]["cpu_rates"][name] for f in floors) * 1e9
    print(f"\nthe floor (best of {len(floors)} measurements, {name}): one core "
          f"{one / 1e9:.1f} GFLOP/s, all cores {all_ / 1e9:.1f} GFLOP/s; one core per CPU "
          f"second {one_cpu / 1e9:.1f} GFLOP/s", flush=True)
    for res in results:
        if not res["flop"]:
            continue
        f1, fa = res["flop"] / one, res["flop"] / all_
        print(f"({res['case']}) {res['flop'] / 1e9:.2f} GFLOP of training per model-epoch: "
              f"one-core floor {1000 * f1:.0f} ms, all-core floor {1000 * fa:.0f} ms",
              flush=True)
        for e, m in res["engines"].items():
            what, t = ("training", m["training"]) if m["training"] else ("whole call", m["call"])
            print(f"  {e}: {what} {t / f1:.1f}x the one-core floor ({1000 * t:.0f} ms per "
                  f"model-epoch against {1000 * f1:.0f} ms; {t / fa:.1f}x the all-core "
                  f"floor); whole call {m['call'] / f1:.1f}x", flush=True)
            fc = res["flop"] / one_cpu
            if m["cpu_training"]:
                print(f"    in CPU time (shared machines: what this process itself spent): "
                      f"training {m['cpu_training'] / fc:.1f}x the one-core floor "
                      f"({1000 * m['cpu_training']:.0f} CPU-ms per model-epoch against "
                      f"{1000 * fc:.0f} ms)", flush=True)
            else:
                print(f"    in CPU time: whole call {m['cpu'] / fc:.1f}x the one-core floor "
                      f"({1000 * m['cpu']:.0f} CPU-ms per model-epoch)", flush=True)


def _breakdown(r: dict, epochs: int) -> dict:
    """Seconds of one engine call by phase (engines/common.PHASES; engines that record none,
    e.g. the reference, give {}). "training" is the epochs' compiled calls; its epoch 1 less
    a later epoch's time is the compile ("compile", counted outside training); "fixed" is
    everything but training, as a share of the whole call."""
    ph = r.get("phases") or {}
    if "epoch1" not in ph:  # the reference engine records only the probe's diagnostics
        return {}
    later = ph.get("training", 0.0)  # epochs 2.. of every group
    per_epoch = later / (epochs - 1) if epochs > 1 else ph.get("epoch1", 0.0)
    compile_s = max(0.0, ph.get("epoch1", 0.0) - per_epoch)
    training = later + ph.get("epoch1", 0.0) - compile_s
    out = {"total": r["seconds"], "training": training, "compile": compile_s,
           "diagnostics": ph.get("diagnostics", 0.0), "evaluation": ph.get("evaluation", 0.0),
           "fit_order": ph.get("fit_order", 0.0), "setup": ph.get("setup", 0.0)}
    out["other"] = r["seconds"] - sum(v for k, v in out.items() if k != "total")
    out["fixed_share"] = 1 - training / r["seconds"]
    return out


def _phase_line(rows: list[dict]) -> str:
    keys = ("total", "training", "compile", "diagnostics", "evaluation", "fit_order", "setup",
            "other")
    med = {k: statistics.median(r[k] for r in rows) for k in (*keys, "fixed_share")}
    return (", ".join(f"{k} {med[k]:.2f} s" for k in keys)
            + f"; outside training {100 * med['fixed_share']:.0f}% of the call")


def _memory(args: argparse.Namespace) -> None:
    cmd = [sys.executable, __file__, "--child", "--engine", (args.engine or ["fast"])[0],
           "--preset", "cnn-4block-bn-dropout", "--dataset", "cifar10", "--seeds", "10",
           "--epochs", "1", "--subset", "0", "--parallel", "10",
           "--max-steps", str(args.memory_steps), "--data-dir", args.data_dir]
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise SystemExit(f"memory run failed:\n{out.stderr[-3000:]}")
    r = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"\n(memory) q10e cnn-4block-bn-dropout, 10 seeds at once (parallel=10), full CIFAR-10 "
          f"in memory, {args.memory_steps} steps + test evaluation: {r['seconds']:.1f} s, "
          f"peak RSS {r['peak_rss_mb']:.0f} MB ({'fits' if r['peak_rss_mb'] < 4096 else 'EXCEEDS'}"
          " 4 GB)", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", default="mlp,cnn", help="comma list of: mlp, cnn")
    p.add_argument("--repeats", type=int, default=3, help="alternating repeats per engine")
    p.add_argument("--mlp-subset", type=int, default=0, help="MNIST subset (0 = all 60,000)")
    p.add_argument("--cnn-subset", type=int, default=10000,
                   help="CIFAR-10 subset (0 = all 50,000)")
    p.add_argument("--cnn-seeds", type=int, default=0,
                   help="seeds for (b) instead of the issue's 3 (e.g. 10, a study's count)")
    p.add_argument("--cnn-epochs", type=int, default=0, help="epochs for (b) instead of 1")
    p.add_argument("--mlp-epochs", type=int, default=0,
                   help="epochs for (a) instead of 2 (q1's own study trains 5)")
    p.add_argument("--engine", action="append", choices=(
        "reference", "fast", "jax", "fast@base", "jax@base", "reference@base"),
                   help="an engine to compare (repeatable; default: reference and fast); "
                   "with --memory, the engine probed (default fast)")
    p.add_argument("--baseline", default="",
                   help="an earlier sweeplab tree holding src/ (`git archive HEAD~3 src | "
                   "tar -x -C /tmp/base`): its engines run too, alternating, as ENGINE@base")
    p.add_argument("--isa", choices=tuple(ISA_ENV), default="native",
                   help="avx2: hold oneDNN, OpenBLAS and XLA to AVX2 + FMA in every child "
                   "(an AVX-512 machine standing in for one without it); default native")
    p.add_argument("--memory", action="store_true", help="only the q10e 10-seed memory probe")
    p.add_argument("--memory-steps", type=int, default=300)
    p.add_argument("--data-dir", default=os.environ.get(
        "SWEEPLAB_DATA", str(ROOT.parent / "shared" / "data")),
        help="directory with the datasets (default: $SWEEPLAB_DATA or ../shared/data)")
    # child-process arguments
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--floor-child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--settings-child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--src", default="", help=argparse.SUPPRESS)
    p.add_argument("--preset", help=argparse.SUPPRESS)
    p.add_argument("--dataset", help=argparse.SUPPRESS)
    p.add_argument("--seeds", type=int, help=argparse.SUPPRESS)
    p.add_argument("--epochs", type=int, help=argparse.SUPPRESS)
    p.add_argument("--subset", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--parallel", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--max-steps", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        _child(args)
        return
    if args.floor_child:
        _floor_child()
        return
    if args.settings_child:
        _settings_child()
        return
    if args.memory:
        _memory(args)
        return
    print(f"machine: {cpu_description()}; each measurement in its own process", flush=True)
    print(f"ISA: {args.isa}" + (" (held to AVX2 + FMA: an emulation of a CPU without "
                                "AVX-512, not one)" if args.isa != "native" else ""), flush=True)
    print(f"settings: {_settings(args.isa)}", flush=True)
    floors = [_floor(args.isa)]
    print(f"floor (before): {_floor_line(floors[0])}", flush=True)
    results = [_bench(case.strip(), args) for case in args.cases.split(",")]
    floors.append(_floor(args.isa))
    print(f"floor (after): {_floor_line(floors[1])}", flush=True)
    _floor_report(results, floors)


if __name__ == "__main__":
    main()
