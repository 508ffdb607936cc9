"""How many finished runs per second the single-writer Ray driver takes in.

The real driver (``runner.run_study`` over ``executors.ray.RayExecutor``, the real SQLite
store) runs a study whose engine returns at once: every task hands back results of the
stored size (epoch records, a 10x10 confusion matrix, probes, a diagnostics record like a
real MLP's) without training. What limits the rate is then the driver: ``ray.wait``, taking
the results, one store transaction per run, claiming and submitting the next groups.

The same study through the local executor (no Ray) gives the store's own ceiling.

    PYTHONPATH=src .venv/bin/python bench/ray_driver.py --data-dir /work/shared/data
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from sweeplab import runner
from sweeplab.results import EpochRecord, RunResult
from sweeplab.store import Store
from sweeplab.study import load_study_file


class InstantEngine:
    """An engine that trains nothing: each seed's result, of a stored run's size, at once."""

    name = "fast"

    def __init__(self, group: int, epochs: int, weights: bool):
        self.group, self.epochs, self.weights = group, epochs, weights

    def group_size(self, config, dataset, n_seeds: int) -> int:
        return min(self.group, n_seeds)

    def __call__(self, cfg, seeds, data, on_epoch=None):
        from sweeplab.spec import config_hash

        h = config_hash(cfg)
        rng = np.random.default_rng(0)
        for seed in seeds:
            epochs = (EpochRecord(0, 2.3, 0.1),) + tuple(
                EpochRecord(e, 0.5 / e, 0.9, 0.6 / e, 0.88, 1.2) for e in range(1, self.epochs + 1))
            hidden = [{"dead": 0, "kind": "dense", "layer": 1, "units": 128}]
            live = {"dead_outputs": [], "hidden": hidden, "never_predicted": [],
                    "output_active": list(range(1000, 1010))}
            diag = {"derived": {"best_epoch": self.epochs, "best_test_acc": 0.9,
                                "collapsed": False, "diverged_epoch": None,
                                "near_chance": False, "never_predicted": [],
                                "overfit_onset": None, "top_class": 1},
                    "probe": "test", "probe_images": 10000, "trained": live,
                    "untrained": live, "version": 1}
            weights = ((rng.standard_normal((784, 128), np.float32),
                        np.zeros(128, np.float32), rng.standard_normal((128, 10), np.float32),
                        np.zeros(10, np.float32)) if self.weights else None)
            yield RunResult(h, seed, self.name, epochs, np.full((10, 10), 100, np.int64),
                            probe_untrained=tuple(np.linspace(0, 1, 10)),
                            probe_trained=tuple(np.linspace(1, 0, 10)), wall_seconds=1.0,
                            device="cpu:x86_64", diagnostics=diag, weights=weights)


STUDY = """
name = "driverbench"
dataset = "mnist"
seeds = {seeds}
epochs = {epochs}
subset = 100

[model]
preset = "mlp-relu-mse"

[[axes]]
name = "width"
path = "layers.1.units"
values = {widths}
"""


class Clock:
    """A listener that notes when each run was stored."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def epoch(self, *args) -> None:
        pass

    def run_done(self, *args) -> None:
        self.times.append(time.perf_counter())


def measure(ray: str | None, args: argparse.Namespace, root: Path) -> float:
    """Runs per second stored, first stored run to last (start-up excluded)."""
    toml = root / "driverbench.toml"
    toml.write_text(STUDY.format(seeds=args.seeds, epochs=args.epochs,
                                 widths=list(range(8, 8 + args.configs))))
    study = load_study_file(str(toml))
    engine = InstantEngine(args.group, args.epochs, args.weights)
    runner.get_engine = lambda name, parallel=None: engine  # the bench's engine, not a real one
    store = Store(str(root / f"{ray or 'local'}-{time.monotonic_ns()}.db"))
    clock = Clock()
    summary = runner.run_study(study, store, data_dir=args.data_dir, quiet=True,
                               listeners=[clock], ray=ray)
    n = len(clock.times)
    assert summary.trained == n == args.configs * args.seeds, (summary, n)
    return (n - 1) / (clock.times[-1] - clock.times[0])


def measure_data(args: argparse.Namespace) -> None:
    """A task's data both ways, each in a fresh worker process: read from the worker's own
    --data-dir, or fetched from the copy the driver put in the object store once."""
    import ray

    from sweeplab import data as data_mod
    from sweeplab.executors.ray import _loopback_only

    _loopback_only()
    ray.init(include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)

    @ray.remote(max_calls=1)  # a fresh worker process each time: no cached copy
    def load(how: str, name: str, data_dir: str, box: list) -> float:
        t = time.perf_counter()
        if how == "disk":
            d = data_mod.load(name, data_dir, allow_download=False)
        else:
            d = ray.get(box[0])
        assert len(d.y_train) > 0
        return time.perf_counter() - t

    for name in args.datasets.split(","):
        t = time.perf_counter()
        box = [ray.put(data_mod.load(name, args.data_dir))]
        put = time.perf_counter() - t
        disk = [ray.get(load.remote("disk", name, args.data_dir, box)) for _ in range(args.repeats)]
        obj = [ray.get(load.remote("object", name, args.data_dir, box))
               for _ in range(args.repeats)]
        print(f"{name:14s} driver load+put {put:5.2f} s | per task: own --data-dir "
              f"{statistics.median(disk):5.2f} s, object store {statistics.median(obj):5.2f} s "
              f"(medians of {args.repeats})", flush=True)
    ray.shutdown()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--configs", type=int, default=50)
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--epochs", type=int, default=10, help="epoch records per result")
    p.add_argument("--group", type=int, default=10, help="seeds per task (fast engine: 10)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--weights", action="store_true",
                   help="results also carry an MLP's trained weights (--save-models sends them)")
    p.add_argument("--ray", default="local", help="local, auto or HOST:PORT")
    p.add_argument("--data-dir", default=os.environ.get("SWEEPLAB_DATA"))
    p.add_argument("--data", action="store_true",
                   help="instead: a task's data from its own --data-dir vs the object store")
    p.add_argument("--datasets", default="mnist,cifar10", help="with --data")
    args = p.parse_args()
    if args.data:
        measure_data(args)
        return
    print(f"{args.configs} configs x {args.seeds} seeds, {args.group} seeds a task, "
          f"{args.epochs} epochs a result, weights={'yes' if args.weights else 'no'}",
          flush=True)
    rates: dict[str, list[float]] = {"local (no Ray)": [], f"ray {args.ray}": []}
    with tempfile.TemporaryDirectory(prefix="raydriver-") as tmp:
        for _ in range(args.repeats):
            rates["local (no Ray)"].append(measure(None, args, Path(tmp)))
            rates[f"ray {args.ray}"].append(measure(args.ray, args, Path(tmp)))
    for name, r in rates.items():
        print(f"{name:16s} median {statistics.median(r):8.1f} runs/s  "
              f"({', '.join(f'{x:.1f}' for x in r)})")
    sys.exit(0)


if __name__ == "__main__":
    main()
