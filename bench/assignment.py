"""The whole assignment on one engine: wall time per study, model-epochs/s, final accuracies.

Every built-in grid study (``sweeplab studies``; the search q7s is bench/search.py's) at its
own seeds and epochs unless overridden,
in assignment order, on the engine asked for, in this one process (so compiled programs
are reused across studies the way ``sweeplab assignment`` reuses them). A config that an
earlier study already trained (the store would skip it) is trained once. The engine is
called directly, no store: the figures are the engines' work, data loading excluded
(timed apart). With the jax engine, configs of a study that differ only in
``sweeplab.engines.jax.STACKABLE`` fields share a program.

    PYTHONPATH=src .venv/bin/python bench/assignment.py --engine fast --seeds 2 --epochs 1 \\
        --subset 1000 --json /tmp/fast.json
    PYTHONPATH=src .venv/bin/python bench/assignment.py --engine jax ... --json /tmp/jax.json
    PYTHONPATH=src .venv/bin/python bench/assignment.py --compare /tmp/fast.json /tmp/jax.json
    PYTHONPATH=src .venv/bin/python bench/assignment.py --engine jax   # full size (a GPU)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def _run(args: argparse.Namespace) -> dict:
    from sweeplab import data as data_mod
    from sweeplab import study as st
    from sweeplab.backend import device, library_versions
    from sweeplab.engines import get_engine, resolve

    name = resolve(args.engine)
    t_import = time.perf_counter()
    # diagnostics off: the figures are the engines' training, the same work for each
    engine = get_engine(name, parallel=args.parallel, diagnostics=False)
    versions = library_versions()
    import_seconds = time.perf_counter() - t_import
    # a search (q7s) is no grid to time: bench/search.py is its bench
    names = (args.studies.split(",") if args.studies else
             [n for n, s in st.BUILTIN.items() if s.search is None])
    studies = [st.with_overrides(st.BUILTIN[n], seeds=args.seeds, epochs=args.epochs,
                                 subset=args.subset) for n in names]
    out = {"engine": name, "device": device(), "versions": versions,
           "machine": f"{os.cpu_count()} CPUs, {platform.machine()}",
           "import_seconds": import_seconds, "studies": []}
    print(f"engine {name} on {out['device']} ({out['machine']}); Keras/backend import "
          f"{import_seconds:.1f} s", flush=True)
    trained: set[str] = set()
    total_wall = total_me = 0.0
    for study in studies:
        t0 = time.perf_counter()
        ds = data_mod.load(study.base.dataset, args.data_dir, study.base.subset)
        load_seconds = time.perf_counter() - t0
        items = [(p.config, list(study.seeds)) for p in st.expand(study)
                 if p.config_hash not in trained]
        labels = {p.config_hash: p.label for p in st.expand(study)}
        trained.update(p.config_hash for p in st.expand(study))
        t0 = time.perf_counter()
        if hasattr(engine, "train_stacked"):
            results = list(engine.train_stacked(items, ds))
        else:
            results = [r for cfg, seeds in items for r in engine(cfg, seeds, ds)]
        wall = time.perf_counter() - t0
        model_epochs = sum(len(r.epochs) - 1 for r in results)
        by_cfg: dict[str, list[float]] = {}
        for r in results:
            by_cfg.setdefault(labels[r.config_hash], []).append(r.final.test_acc)
        row = {"study": study.name, "runs": len(results), "model_epochs": model_epochs,
               "seconds": wall, "load_seconds": load_seconds,
               "train_images": len(ds.x_train), "final_test_acc": by_cfg}
        out["studies"].append(row)
        total_wall += wall
        total_me += model_epochs
        accs = [a for v in by_cfg.values() for a in v]
        mean = f"{statistics.mean(accs):.4f}" if accs else "-"
        print(f"  {study.name:5s} {len(results):4d} runs {model_epochs:5d} model-epochs "
              f"{wall:8.1f} s {model_epochs / wall if wall else 0:8.2f} model-epochs/s  "
              f"mean final test acc {mean} ({len(by_cfg)} configs)", flush=True)
    out["seconds"], out["model_epochs"] = total_wall, total_me
    print(f"  total {total_me:.0f} model-epochs in {total_wall:.1f} s "
          f"({total_me / total_wall if total_wall else 0:.2f} model-epochs/s), plus "
          f"{import_seconds:.1f} s import", flush=True)
    return out


def _compare(paths: list[str]) -> None:
    runs = [json.loads(Path(p).read_text()) for p in paths]
    base = runs[0]
    head = " | ".join(f"{r['engine']} s | {r['engine']} acc" for r in runs)
    print(f"| study | model-epochs | {head} | " + " | ".join(
        f"{r['engine']}/{base['engine']} time" for r in runs[1:]) + " |")
    print("| --- " * (2 + 2 * len(runs) + len(runs) - 1) + "|")
    rows = {r["study"]: r for r in base["studies"]}
    for name, b in rows.items():
        cells = []
        for run in runs:
            r = next((x for x in run["studies"] if x["study"] == name), None)
            accs = [a for v in (r or {}).get("final_test_acc", {}).values() for a in v]
            cells.append(f"{r['seconds']:.1f}" if r else "-")
            cells.append(f"{statistics.mean(accs):.4f}" if accs else "-")
        ratios = []
        for run in runs[1:]:
            r = next((x for x in run["studies"] if x["study"] == name), None)
            ratios.append(f"{r['seconds'] / b['seconds']:.2f}x" if r and b["seconds"] else "-")
        print(f"| {name} | {b['model_epochs']} | {' | '.join(cells)} | {' | '.join(ratios)} |")
    tot = " | ".join(f"{r['seconds']:.1f} | " for r in runs)
    ratios = " | ".join(f"{r['seconds'] / base['seconds']:.2f}x" for r in runs[1:])
    print(f"| total | {base['model_epochs']:.0f} | {tot} | {ratios} |")
    for r in runs:
        print(f"{r['engine']}: {r['device']}, {r['machine']}, import {r['import_seconds']:.1f} s, "
              f"{r['versions']}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--engine", default="auto", choices=("auto", "reference", "fast", "jax"))
    p.add_argument("--studies", help="comma list of built-in studies (default: all of them)")
    p.add_argument("--seeds", type=int, help="seeds per config instead of each study's own")
    p.add_argument("--epochs", type=int, help="epochs instead of each study's own")
    p.add_argument("--subset", type=int, help="stratified images per split (default: all)")
    p.add_argument("--parallel", type=int, help="runs trained at once (default: automatic)")
    p.add_argument("--json", help="also write the figures to this JSON file")
    p.add_argument("--compare", nargs="+", metavar="JSON",
                   help="print a side-by-side Markdown table of earlier --json files")
    p.add_argument("--data-dir", default=os.environ.get(
        "SWEEPLAB_DATA", str(ROOT.parent / "shared" / "data")),
        help="directory with the datasets (default: $SWEEPLAB_DATA or ../shared/data)")
    args = p.parse_args()
    if args.compare:
        _compare(args.compare)
        return
    out = _run(args)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
