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
"""

from __future__ import annotations

import argparse
import dataclasses
import json
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
    results = []
    if args.max_steps:  # memory probe: cut the training set to max_steps batches
        n = min(len(ds.x_train), args.max_steps * cfg.batch_size)
        ds = dataclasses.replace(ds, x_train=ds.x_train[:n], y_train=ds.y_train[:n])
    for r in engine(cfg, seeds, ds):
        results.append(r)
    dt = time.perf_counter() - t0
    try:
        from sweeplab.engines.common import PHASES
    except ImportError:  # a --baseline checkout from before the phase timings
        PHASES = {}
    print(json.dumps({
        "phases": dict(PHASES),
        "engine": name, "seconds": dt, "import_seconds": import_seconds,
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
    env = dict(os.environ, PYTHONPATH=src)
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise SystemExit(f"{engine}/{case} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _bench(case: str, args: argparse.Namespace) -> None:
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
    for rep in range(args.repeats):
        order = engines if rep % 2 == 0 else engines[::-1]
        for engine in order:
            r = _run(engine, case, args)
            rate = r["model_epochs"] / r["seconds"]
            rates[engine].append(rate)
            with_import[engine].append(r["seconds"] + r["import_seconds"])
            rss[engine] = max(rss[engine], r["peak_rss_mb"])
            phases[engine].append(_breakdown(r, epochs))
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
    p.add_argument("--memory", action="store_true", help="only the q10e 10-seed memory probe")
    p.add_argument("--memory-steps", type=int, default=300)
    p.add_argument("--data-dir", default=os.environ.get(
        "SWEEPLAB_DATA", str(ROOT.parent / "shared" / "data")),
        help="directory with the datasets (default: $SWEEPLAB_DATA or ../shared/data)")
    # child-process arguments
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
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
    if args.memory:
        _memory(args)
        return
    print(f"machine: {os.cpu_count()} CPUs; each measurement in its own process")
    for case in args.cases.split(","):
        _bench(case.strip(), args)


if __name__ == "__main__":
    main()
