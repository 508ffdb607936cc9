"""The jax engine on a user's functional model (residual Add, GlobalAveragePooling2D):
K seeds stacked in one vmapped program vs the same K seeds one at a time, side by side.

Both sides call ``engines.jax.train_group`` (the whole engine call: initial weights,
training, per-epoch test evaluation, confusion matrices); each shape is compiled once in a
warm-up that is not timed, then the two are measured alternately and the medians compared.

    .venv/bin/python bench/own_model.py                  # K=5, 2 epochs, 3 repeats
    .venv/bin/python bench/own_model.py --seeds 8 --width 16
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=5, help="K, seeds stacked")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--width", type=int, default=8, help="the builder's width param")
    p.add_argument("--train", type=int, default=600, help="training examples (16x16 images)")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()

    from sweeplab import backend

    backend.select("jax")
    import own_builders as ob

    import sweeplab
    from sweeplab import study as st
    from sweeplab.engines.jax import Run, train_group

    arrays = sweeplab.Arrays(*ob.stripes(args.train, args.train // 3, side=16), name="bench")
    model = sweeplab.KerasModel(ob.resnet, params={"width": args.width, "side": 16})
    cfg = st.expand(sweeplab.Study.build("b", model=model, dataset=arrays, seeds=1,
                                         epochs=args.epochs, batch_size=32))[0].config
    ds, seeds = arrays.dataset, list(range(args.seeds))

    def stacked() -> None:
        train_group([Run(cfg, s) for s in seeds], ds)

    def one_at_a_time() -> None:
        for s in seeds:
            train_group([Run(cfg, s)], ds)

    stacked()  # compile both shapes (K runs, 1 run) before timing
    one_at_a_time()
    times: dict[str, list[float]] = {"stacked": [], "one at a time": []}
    for _ in range(args.repeats):
        for name, fn in (("one at a time", one_at_a_time), ("stacked", stacked)):
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    run_epochs = args.seeds * args.epochs
    import jax

    print(f"jax engine, user's functional model (resnet width {args.width}, 16x16, "
          f"{args.train} train), K={args.seeds} seeds x {args.epochs} epochs, "
          f"{args.repeats} repeats, device {jax.devices()[0].platform}")
    med = {k: statistics.median(v) for k, v in times.items()}
    for k, v in med.items():
        print(f"  {k:<14} median {v:7.2f} s  ({run_epochs / v:6.2f} run-epochs/s)  "
              f"all: {', '.join(f'{t:.2f}' for t in times[k])}")
    print(f"  stacked / one at a time speed-up: {med['one at a time'] / med['stacked']:.2f}x")


if __name__ == "__main__":
    main()
