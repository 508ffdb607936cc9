"""``--ray`` on a real Ray cluster on 127.0.0.1: a head node and a second worker node
started with ``ray start`` (one CPU each), the worker node killed by its process ids while
tasks run, the driver killed and run again. Every run is stored exactly once, by the one
driver, with the numbers a local run of the same seeds gives.

The cluster lives in a temporary directory of its own; every process whose command line
names it is killed at the end, whatever happened (``ray stop`` would also stop clusters
that are not the test's).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sweeplab.cli import main

pytest.importorskip("ray")

HERE = Path(__file__).resolve().parent
STUDY = """
name = "raytest"
dataset = "mnist"
seeds = 3
epochs = 3
subset = 2000

[model]
preset = "mlp-relu-mse"

[[axes]]
name = "width"
path = "layers.1.units"
values = [16, 32]
"""
RUNS = 6
# A Ray task reserves one CPU and its TensorFlow runs one thread (executors/ray.py); the
# local run that the cluster's numbers are compared with gets the same, so both do the same
# float operations in the same order and agree to the last bit.
ONE_THREAD = {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}


def _pids_naming(text: str) -> set[int]:
    """Processes whose command line contains ``text`` (this cluster's directory)."""
    out = set()
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if text in (d / "cmdline").read_bytes().decode(errors="replace"):
                    out.add(int(d.name))
            except OSError:  # gone meanwhile
                pass
    return out


def _children(pids: set[int]) -> set[int]:
    """``pids`` and all their descendants (a raylet's worker processes)."""
    parent: dict[int, int] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
                parent[int(d.name)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                pass
    found, grew = set(pids), True
    while grew:
        more = {p for p, pp in parent.items() if pp in found} - found
        found |= more
        grew = bool(more)
    return found


def _kill(pids: set[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@dataclass
class Cluster:
    temp: Path  # Ray's --temp-dir: short (its unix sockets live there) and ours alone
    port: int
    env: dict[str, str]
    worker_pids: set[int] = field(default_factory=set)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def ray(self, *args: str) -> None:
        subprocess.run([sys.executable, str(HERE / "ray_loopback.py"), *args], env=self.env,
                       check=True, timeout=120, capture_output=True)

    def add_worker(self) -> None:
        before = _children(_pids_naming(str(self.temp)))
        self.ray("start", "--address", self.address, "--node-ip-address", "127.0.0.1",
                 "--num-cpus", "1", "--disable-usage-stats")
        self.worker_pids = _children(_pids_naming(str(self.temp))) - before
        assert self.worker_pids, "the worker node's processes were not found"

    def kill_worker(self) -> None:
        """The worker node dies: its raylet and every process under it, SIGKILL."""
        _kill(_children(self.worker_pids))


@pytest.fixture(scope="module")
def cluster(free_port) -> Iterator[Cluster]:
    temp = Path(tempfile.mkdtemp(prefix="swray-", dir="/tmp"))
    # Ray variables an earlier in-process ray.init() left in os.environ (RAY_ADDRESS of a
    # cluster gone since) must not reach these nodes: only the ones set here.
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("RAY_")},
           "RAY_USAGE_STATS_ENABLED": "0",
           # Both nodes and the driver alike whatever this machine holds: `ray start --head`
           # turns token authentication on when ~/.ray/auth_token exists (any local
           # ray.init() writes one), a joining node or a driver given an address does not,
           # and the two sides must agree (executors/ray.py, _auth_hint).
           "RAY_AUTH_MODE": "disabled",
           # a dead node is noticed after ~2 s instead of Ray's default ~30 s
           "RAY_health_check_period_ms": "500", "RAY_health_check_failure_threshold": "4"}
    c = Cluster(temp, free_port(), env)
    try:
        c.ray("start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(c.port),
              "--num-cpus", "1", "--include-dashboard", "false", "--temp-dir", str(temp),
              "--ray-client-server-port", str(free_port()),
              "--disable-usage-stats")
        yield c
    finally:
        for _ in range(3):  # raylets restart nothing, but be sure: kill until none is left
            # (Ray's client server names the head's address, not the directory)
            _kill(_children(_pids_naming(str(temp)) | _pids_naming(f"={c.address}")))
            time.sleep(0.5)
        subprocess.run(["rm", "-rf", str(temp)], timeout=60)


@pytest.fixture(scope="module")
def study(tmp_path_factory, data_dir) -> dict:
    """The study file and its numbers from an uninterrupted local run (one thread)."""
    root = tmp_path_factory.mktemp("ray")
    toml = root / "raytest.toml"
    toml.write_text(STUDY)
    local = root / "local.db"
    subprocess.run(_command(toml, local, data_dir), env={**os.environ, **ONE_THREAD},
                   check=True, timeout=300, capture_output=True)
    return {"toml": toml, "data_dir": data_dir, "local": _runs(local)}


def _command(toml: Path, store: Path, data_dir: str, *more: str) -> list[str]:
    return [sys.executable, "-m", "sweeplab", "run", str(toml), "--store", str(store),
            "--data-dir", data_dir, "--parallel", "1", "--quiet", *more]


def _runs(store: Path) -> dict[tuple[str, int], dict]:
    """Every run row with its epochs, keyed by (config, seed); fails on a duplicate."""
    con = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=30)
    try:
        out: dict[tuple[str, int], dict] = {}
        for rid, h, seed, status, node, started in con.execute(
                "SELECT id, config_hash, seed, status, node, started_at FROM runs"):
            assert (h, seed) not in out, f"run {h[:10]}/seed {seed} stored twice"
            out[(h, seed)] = {"status": status, "node": node, "started": started,
                              "epochs": tuple(con.execute(
                                  "SELECT epoch, train_loss, train_acc, test_loss, test_acc "
                                  "FROM epochs WHERE run_id=? ORDER BY epoch", (rid,)))}
        return out
    except sqlite3.OperationalError:  # not made yet
        return {}
    finally:
        con.close()


def _wait_for(store: Path, enough, proc: subprocess.Popen, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = _runs(store) if store.exists() else {}
        if enough(runs):
            return runs
        assert proc.poll() is None, f"the driver ended early: {proc.stderr.read()}"
        time.sleep(0.2)
    raise AssertionError(f"not reached in {timeout} s: {runs}")


def _done(runs: dict) -> dict:
    return {k: v for k, v in runs.items() if v["status"] == "done"}


def _assert_equal_to_local(runs: dict, local: dict) -> None:
    assert set(runs) == set(local)
    for key, run in runs.items():
        assert run["status"] == "done"
        assert [e[0] for e in run["epochs"]] == [0, 1, 2, 3]
        assert run["epochs"] == local[key]["epochs"], key


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_a_worker_node_killed_while_tasks_run_loses_nothing(cluster, study, tmp_path):
    cluster.add_worker()
    store = tmp_path / "ray.db"
    proc = subprocess.Popen(_command(study["toml"], store, study["data_dir"], "--ray",
                                     cluster.address),
                            env=cluster.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        # both nodes have delivered a run: the worker is busy with its next task
        runs = _wait_for(store, lambda r: len({v["node"] for v in _done(r).values()}) >= 2,
                         proc)
        cluster.kill_worker()
        assert len(_done(runs)) < RUNS  # tasks were still to come, some on the dead node
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    assert proc.returncode == 0, err
    runs = _runs(store)
    assert len(runs) == RUNS  # every run exactly once (_runs refuses a duplicate)
    _assert_equal_to_local(runs, study["local"])
    nodes = {v["node"] for v in runs.values()}
    assert len(nodes) == 2 and all(" ray:" in n for n in nodes), nodes
    assert f"trained {RUNS} runs" in out and "0 failed" in out
    # ls/show say which nodes trained them
    show = subprocess.run([sys.executable, "-m", "sweeplab", "show", "raytest", "--store",
                           str(store)], capture_output=True, text=True, timeout=120)
    assert all(n in show.stdout for n in nodes), show.stdout


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_a_killed_driver_resumes_with_nothing_trained_twice(cluster, study, tmp_path):
    store = tmp_path / "ray.db"
    cmd = _command(study["toml"], store, study["data_dir"], "--ray", cluster.address)
    proc = subprocess.Popen(cmd, env=cluster.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        before = _wait_for(store, lambda r: len(_done(r)) >= 2, proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    kept = _done(_runs(store))  # what the store held when the driver died
    assert 2 <= len(kept) < RUNS and set(_done(before)) <= set(kept)
    again = subprocess.run(cmd, env=cluster.env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert (f"trained {RUNS - len(kept)} runs" in again.stdout
            and f"{len(kept)} were already done" in again.stdout), again.stdout
    runs = _runs(store)
    for key, run in kept.items():  # the runs done before the kill were not trained again
        assert runs[key]["started"] == run["started"] and runs[key]["epochs"] == run["epochs"]
    _assert_equal_to_local(runs, study["local"])


def test_an_unreachable_address_is_one_line(tmp_path, capsys, data_dir, free_port):
    toml = tmp_path / "s.toml"
    toml.write_text(STUDY)
    port = free_port()  # nothing listens there
    rc = main(["run", str(toml), "--store", str(tmp_path / "s.db"), "--data-dir", data_dir,
               "--quiet", "--ray", f"127.0.0.1:{port}"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1, err
    assert err.startswith(f"sweeplab run: error: no Ray cluster answers at 127.0.0.1:{port}")
    assert f"ray start --head --port {port}" in err


def test_without_ray_the_flag_names_the_extra(tmp_path, capsys, data_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as when not installed
    toml = tmp_path / "s.toml"
    toml.write_text(STUDY)
    rc = main(["run", str(toml), "--store", str(tmp_path / "s.db"), "--data-dir", data_dir,
               "--quiet", "--ray"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1, err
    assert "--ray needs Ray, which is not installed: pip install 'sweeplab[ray]'" in err


class FailingSeedEngine:
    """The fast engine, except that one seed's training raises (a bug in a run, as a user
    would meet it): the run must be recorded as failed and the others go on."""

    name = "fast"

    def __init__(self, bad_seed: int):
        self.bad_seed = bad_seed

    def group_size(self, cfg, data, n_seeds: int) -> int:  # noqa: ANN001
        return 1

    def __call__(self, cfg, seeds, data, on_epoch=None):  # noqa: ANN001, ANN204
        from sweeplab.engines import get_engine

        if self.bad_seed in seeds:
            raise RuntimeError(f"training seed {self.bad_seed} blew up")
        yield from get_engine("fast", 1)(cfg, seeds, data, on_epoch)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_task_that_fails_for_good_is_recorded_and_the_others_go_on(cluster, study, tmp_path,
                                                                     monkeypatch):
    import ray.cloudpickle

    from sweeplab import runner
    from sweeplab import study as st
    from sweeplab.store import Store

    # the engine object travels to the workers with each task: by value (this test module
    # is not importable there)
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    for k, v in cluster.env.items():
        if k.startswith("RAY_"):
            monkeypatch.setenv(k, v)
    monkeypatch.setattr(runner, "get_engine", lambda name, parallel=None, **_: FailingSeedEngine(1))
    lines: list[str] = []
    with Store(tmp_path / "s.db") as store:
        summary = runner.run_study(st.load_study_file(study["toml"]), store,
                                   data_dir=study["data_dir"], quiet=True, ray=cluster.address,
                                   log=lines.append)
    assert summary.trained == RUNS - 2 and [s for _, s, _ in summary.failed] == [1, 1]
    runs = _runs(tmp_path / "s.db")
    assert len(runs) == RUNS
    failed = {k: v for k, v in runs.items() if v["status"] == "failed"}
    assert sorted(seed for _, seed in failed) == [1, 1]
    done = _done(runs)
    for key, run in done.items():  # the others trained as a local run does
        assert run["epochs"] == study["local"][key]["epochs"], key
    assert len(lines) == 2 and all("training seed 1 blew up" in ln for ln in lines), lines
    con = sqlite3.connect(tmp_path / "s.db")
    errors = [e for (e,) in con.execute("SELECT error FROM runs WHERE status='failed'")]
    con.close()
    assert all("RuntimeError: training seed 1 blew up" in e for e in errors), errors
