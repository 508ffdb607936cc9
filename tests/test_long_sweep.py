"""A long sweep in one process stays flat: memory maps and resident memory after 64
distinct configurations are those after the fifth, up to a small bound.

Before backend.release_compiled and the fast engine's move off XLA, each new MLP config left
~110 memory maps and ~7 MB resident (XLA's CPU executables, never freed); a 450-config
study died at vm.max_map_count after 339 runs.
"""

from __future__ import annotations

from sweeplab import study as st
from sweeplab.runner import run_study
from sweeplab.store import Store

N_CONFIGS = 64


def _maps_and_rss() -> tuple[int, int]:
    with open("/proc/self/maps") as f:
        maps = sum(1 for _ in f)
    with open("/proc/self/status") as f:
        rss_kb = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    return maps, rss_kb * 1024


def test_sixty_four_configs_leave_maps_and_rss_flat(tmp_path, data_dir):
    study = st.study_from_dict({
        "name": "long", "dataset": "mnist", "seeds": 1, "epochs": 1, "subset": 64,
        "model": {"preset": "mlp-softmax-ce"},
        "axes": [{"name": "width", "paths": ["layers.1.units"],
                  "values": list(range(4, 4 + N_CONFIGS))}]})
    after: list[tuple[int, int]] = []  # (maps, rss) after each finished run

    class Meter:
        def epoch(self, *args) -> None:
            pass

        def run_done(self, *args) -> None:
            after.append(_maps_and_rss())

    with Store(tmp_path / "s.db") as store:
        summary = run_study(study, store, data_dir=data_dir, engine="fast", quiet=True,
                            listeners=[Meter()])
    assert summary.trained == N_CONFIGS and summary.ok
    (maps5, rss5), (maps_last, rss_last) = after[4], after[-1]
    print(f"after config 5: {maps5} maps, {rss5 / 2**20:.0f} MB; after {N_CONFIGS}: "
          f"{maps_last} maps, {rss_last / 2**20:.0f} MB")
    # 59 more configs: the old leak would add ~6,500 maps and ~400 MB. Flat here means
    # within 64 maps (one new shared library or thread stack a few times over, not one
    # per config) and 32 MB (allocator arenas and Python's caches settle in steps, measured
    # flat to the MB after the fifth config here).
    assert maps_last - maps5 <= 64, (maps5, maps_last)
    assert rss_last - rss5 <= 32 * 2**20, (rss5 / 2**20, rss_last / 2**20)
