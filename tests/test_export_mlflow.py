"""`sweeplab export mlflow` and `run --mlflow` against a real MLflow store (SQLite URI), read
back with MLflow's own client: every run, param and metric step, idempotence, live logging."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from export_study import (
    METRICS,
    SEEDS,
    STUDY,
    WIDTHS,
    add_seed,
    copy_store,
    metric_steps,
    store_runs,
)

mlflow = pytest.importorskip("mlflow")
from mlflow.tracking import MlflowClient  # noqa: E402

from sweeplab.export import config_params  # noqa: E402
from sweeplab.store import Store  # noqa: E402


@pytest.fixture(scope="module")
def study(export_study):
    return export_study


def _seed_runs(uri: str):
    """The study's seed runs, as ``mlflow.search_runs`` returns them."""
    mlflow.set_tracking_uri(uri)
    df = mlflow.search_runs(experiment_names=[STUDY], max_results=1000)
    return df[df["tags.sweeplab.kind"] == "seed"], df[df["tags.sweeplab.kind"] == "config"]


def _history(client: MlflowClient, run_id: str) -> dict[str, dict[int, float]]:
    """metric -> step -> value, from MLflow's stored history (duplicates would show as a
    longer list than dict: checked by the caller through _n_points)."""
    return {name: {m.step: m.value for m in client.get_metric_history(run_id, name)}
            for name, _ in METRICS}


def _n_points(client: MlflowClient, run_id: str) -> int:
    return sum(len(client.get_metric_history(run_id, name)) for name, _ in METRICS)


def _check_target(uri: str, store: Path) -> None:
    """Every finished run of the store is in ``uri``, once, with its params and every metric
    step equal to the store's value, nested under its config's parent run."""
    runs = store_runs(store)
    client = MlflowClient(tracking_uri=uri)
    seeds, parents = _seed_runs(uri)
    assert len(seeds) == len(runs) and len(parents) == len({h for h, _ in runs})
    assert set(seeds["status"]) == {"FINISHED"} and set(parents["status"]) == {"FINISHED"}
    # every run, parents too, is tagged with the store it came from and its run key (the
    # config hash for a parent): the key a second export finds it by
    assert set(seeds["tags.sweeplab.store"]) == {str(store.resolve())}
    assert set(parents["tags.sweeplab.store"]) == {str(store.resolve())}
    assert set(parents["tags.sweeplab.run_key"]) == {h for h, _ in runs}
    parent_of = dict(zip(parents["tags.sweeplab.run_key"], parents["run_id"], strict=True))
    with Store(store, readonly=True) as s:
        configs = {c.config_hash: (s.config(c.config_hash)[1], c.axes)
                   for c in s.study_configs(STUDY)}
    by_key = {k: row for k, row in zip(seeds["tags.sweeplab.run_key"],
                                       seeds.itertuples(index=False), strict=True)}
    assert len(by_key) == len(seeds)  # one MLflow run per store run, no duplicates
    for (h, seed), (label, result) in runs.items():
        row = by_key[f"{h}:{seed}"]
        run = client.get_run(row.run_id)
        assert run.data.tags["mlflow.parentRunId"] == parent_of[h]
        assert run.info.run_name == f"{label} seed {seed}"
        cfg, axes = configs[h]
        want = {k: (v if isinstance(v, str) else json.dumps(v))
                for k, v in config_params(cfg, axes).items()}
        assert run.data.params == {**want, "seed": str(seed)}
        assert run.data.params["width"] == axes["width"]
        assert run.data.tags["sweeplab.engine"] == result.engine
        history = _history(client, row.run_id)
        for name, field in METRICS:
            # MLflow keeps metrics as SQL doubles: the store's floats come back exactly
            assert history[name] == metric_steps(result.epochs, field), (label, seed, name)
        # 4 metrics on epochs 1..E, test metrics on epoch 0 too: no point twice
        assert _n_points(client, row.run_id) == 4 * result.final.epoch + 2


def _check_parents(uri: str, store: Path) -> None:
    """Each parent run: the summary over its seeds and the seed-averaged confusion matrix."""
    runs = store_runs(store)
    client = MlflowClient(tracking_uri=uri)
    _, parents = _seed_runs(uri)
    for h, run_id in zip(parents["tags.sweeplab.run_key"], parents["run_id"], strict=True):
        results = [r for (hh, _), (_, r) in sorted(runs.items()) if hh == h]
        acc = [r.final.test_acc for r in results]
        run = client.get_run(run_id)
        assert run.data.metrics["n_seeds"] == len(results)
        assert run.data.metrics["final_test_accuracy_mean"] == pytest.approx(
            np.mean(acc), rel=1e-12)  # the same mean, summed in the same order: float rounding
        assert run.data.tags["sweeplab.seeds"] == ",".join(str(r.seed) for r in results)
        paths = {a.path for a in client.list_artifacts(run_id)}
        paths |= {a.path for a in client.list_artifacts(run_id, "plots")}
        assert {"confusion.json", "plots/confusion.png", "plots/accuracy.png"} <= paths
        for plot in ("plots/confusion.png", "plots/accuracy.png"):  # pictures, not empty files
            assert Path(client.download_artifacts(run_id, plot)).read_bytes()[:8] == (
                b"\x89PNG\r\n\x1a\n")
        local = client.download_artifacts(run_id, "confusion.json")
        conf = json.loads(Path(local).read_text())
        rates = [np.asarray(r.confusion, float) / np.asarray(r.confusion).sum(axis=1,
                                                                              keepdims=True)
                 for r in results]
        assert conf["seeds"] == [r.seed for r in results]
        np.testing.assert_allclose(conf["mean_rate"], np.mean(rates, axis=0), atol=1e-12)


def test_export_writes_every_run_param_and_step_and_a_second_adds_nothing(study, tmp_path, run_cli):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    rc, out, err = run_cli("export", "mlflow", uri, "--store", str(study.store))
    assert rc == 0, err
    n = len(WIDTHS) * len(SEEDS)
    assert out.startswith(f"mlflow: {n} run(s) added, 0 already there")
    _check_target(uri, study.store)
    _check_parents(uri, study.store)
    client = MlflowClient(tracking_uri=uri)
    seeds, parents = _seed_runs(uri)
    before = {r: _n_points(client, r) for r in [*seeds["run_id"], *parents["run_id"]]}
    parent_points = {r: len(client.get_metric_history(r, "n_seeds")) for r in parents["run_id"]}

    rc, out, err = run_cli("export", "mlflow", uri, STUDY, "--store", str(study.store))
    assert rc == 0, err
    assert out.startswith(f"mlflow: 0 run(s) added, {n} already there")
    seeds2, parents2 = _seed_runs(uri)
    assert sorted(seeds2["run_id"]) == sorted(seeds["run_id"])
    assert sorted(parents2["run_id"]) == sorted(parents["run_id"])
    assert {r: _n_points(client, r) for r in before} == before
    assert {r: len(client.get_metric_history(r, "n_seeds"))
            for r in parents["run_id"]} == parent_points


def test_a_new_seed_adds_exactly_one_run(study, tmp_path, run_cli):
    store = copy_store(study.store, tmp_path / "s.db")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert run_cli("export", "mlflow", uri, "--store", str(store))[0] == 0
    old, _ = _seed_runs(uri)
    new = add_seed(study, store, seed=2, width=WIDTHS[1])

    rc, out, err = run_cli("export", "mlflow", uri, "--store", str(store))
    assert rc == 0, err
    n = len(WIDTHS) * len(SEEDS)
    assert out.startswith(f"mlflow: 1 run(s) added, {n} already there")
    seeds, _ = _seed_runs(uri)
    added = seeds[~seeds["run_id"].isin(old["run_id"])]
    assert list(added["tags.sweeplab.run_key"]) == [f"{new.config_hash}:2"]
    _check_target(uri, store)  # the new run's steps too, and its parent's summary over 3
    _check_parents(uri, store)


def test_live_run_then_export_adds_nothing(study, run_cli):
    # `run --mlflow` logged every run live; the store is the same, so nothing is missing
    _check_target(study.live_mlflow, study.store)
    _check_parents(study.live_mlflow, study.store)
    seeds, parents = _seed_runs(study.live_mlflow)
    rc, out, err = run_cli("export", "mlflow", study.live_mlflow, "--store", str(study.store))
    assert rc == 0, err
    assert out.startswith(f"mlflow: 0 run(s) added, {len(seeds)} already there")
    seeds2, parents2 = _seed_runs(study.live_mlflow)
    assert sorted(seeds2["run_id"]) == sorted(seeds["run_id"])
    assert sorted(parents2["run_id"]) == sorted(parents["run_id"])


def test_a_half_written_live_run_is_replaced(study, tmp_path, run_cli):
    # What a killed `run --mlflow` leaves: a RUNNING seed run without the complete mark,
    # whose writer process is gone (pid 2**22 + 1 is above Linux's pid_max limit).
    store = copy_store(study.store, tmp_path / "s.db")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert run_cli("export", "mlflow", uri, "--store", str(store))[0] == 0
    client = MlflowClient(tracking_uri=uri)
    seeds, _ = _seed_runs(uri)
    victim = seeds.iloc[0]
    client.delete_tag(victim.run_id, "sweeplab.complete")
    client.set_tag(victim.run_id, "sweeplab.writer", f"{socket.gethostname()}:{2**22 + 1}")
    client.update_run(victim.run_id, status="RUNNING")

    rc, out, err = run_cli("export", "mlflow", uri, "--store", str(store))
    assert rc == 0, err
    assert out.startswith("mlflow: 1 run(s) added, 1 of them replacing a half-written one")
    _check_target(uri, store)  # once, complete, with the store's values


def test_bad_tracking_uris_give_one_line(study, tmp_path, run_cli):
    with socket.socket() as s:  # a port nobody listens on: bound, then freed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for uri, says in [("foo://bar", "unsupported URI"),
                      (f"http://127.0.0.1:{port}", "failed"),
                      ("", "the MLflow tracking URI is empty")]:
        rc, out, err = run_cli("export", "mlflow", uri, "--store", str(study.store))
        assert rc == 2 and out == ""
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        assert lines[0].startswith("sweeplab export: error: ") and says in lines[0]
        assert "sqlite:///" in lines[0]  # says what a good URI looks like


def test_run_with_a_bad_uri_stops_before_training(study, tmp_path, run_cli):
    store = tmp_path / "s.db"
    rc, _, err = run_cli("run", str(study.toml), "--store", str(store), "--data-dir",
                         study.data_dir, "--quiet", "--mlflow", "foo://bar")
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert err.startswith("sweeplab run: error: MLflow tracking URI 'foo://bar'")
    if store.exists():
        with Store(store, readonly=True) as s:
            assert s.run_rows() == []


def test_missing_extra_names_it(study, tmp_path, monkeypatch, run_cli):
    # mlflow made unimportable for this test (None in sys.modules makes `import` fail the
    # way a missing package does); the code path is the real one
    monkeypatch.setitem(__import__("sys").modules, "mlflow", None)
    rc, out, err = run_cli("export", "mlflow", f"sqlite:///{tmp_path / 'm.db'}", "--store",
                           str(study.store))
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert "pip install 'sweeplab[mlflow]'" in err


def test_a_killed_live_run_is_replaced_when_trained_again(study, tmp_path, run_cli):
    # A real `sweeplab run --mlflow --tensorboard`, killed (SIGKILL: no clean-up at all) once
    # its first epoch is logged, then run again: one complete run per key in both targets.
    store, tb = tmp_path / "s.db", tmp_path / "tb"
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    args = ["run", str(study.toml), "--store", str(store), "--data-dir", study.data_dir,
            "--quiet", "--engine", "reference", "--seeds", "1", "--epochs", "8",
            "--mlflow", uri, "--tensorboard", str(tb)]
    client = MlflowClient(tracking_uri=uri)
    client.search_experiments()  # the database is made here: two processes never race on it
    proc = subprocess.Popen([str(Path(sys.executable).parent / "sweeplab"), *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120  # start-up imports TensorFlow and MLflow
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                running = [r for r in client.search_runs(
                    [client.get_experiment_by_name(STUDY).experiment_id])
                    if r.info.status == "RUNNING" and r.data.tags.get("sweeplab.seed")]
                if running and client.get_metric_history(running[0].info.run_id,
                                                         "train/loss"):
                    break
            except Exception:  # no experiment yet, or the other process holds the write lock
                pass
            time.sleep(0.1)
        assert proc.poll() is None, "the run ended before it could be killed"
    finally:
        proc.kill()
        proc.wait()
    with Store(store, readonly=True) as s:
        done = {f"{r.config_hash}:{r.seed}" for r in s.run_rows() if r.status == "done"}
    seeds, _ = _seed_runs(uri)
    left = seeds[seeds["status"] == "RUNNING"]
    assert len(left) == 1 and left["tags.sweeplab.run_key"].iloc[0] not in done

    # an export now adds nothing new, and marks what the killed logger left as KILLED
    rc, out, err = run_cli("export", "mlflow", uri, "--store", str(store))
    assert rc == 0 and out.startswith(f"mlflow: 0 run(s) added, {len(done)} already"), err
    seeds, _ = _seed_runs(uri)
    assert seeds.set_index("run_id").loc[left["run_id"].iloc[0], "status"] == "KILLED"

    rc, _, err = run_cli(*args)  # trained again: the live loggers replace what was left
    assert rc == 0, err
    _check_target(uri, store)  # one complete run per key, the store's values
    for target, dest in (("mlflow", uri), ("tensorboard", str(tb))):
        rc, out, err = run_cli("export", target, dest, "--store", str(store))
        assert rc == 0 and out.startswith(f"{target}: 0 run(s) added, 2 already there"), err
    assert len(list(tb.rglob("events.out.tfevents.*"))) == 2  # one per run


class _CtrlC:
    """A run listener that presses Ctrl-C when the first epoch of a run is done."""

    def epoch(self, study, planned, seed, record, epochs) -> None:
        raise KeyboardInterrupt

    def run_done(self, study, planned, result) -> None:
        pass


def test_an_interrupted_live_run_ends_killed_and_is_replaced(study, tmp_path, run_cli):
    from sweeplab import study as st
    from sweeplab.export.live import live_listeners
    from sweeplab.runner import run_study

    store, tb = tmp_path / "s.db", tmp_path / "tb"
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tiny = st.with_overrides(st.load_study_file(study.toml), seeds=1)
    with Store(store) as s, live_listeners(s, uri, tb) as live:
        with pytest.raises(KeyboardInterrupt):
            run_study(tiny, s, data_dir=study.data_dir, quiet=True, engine="reference",
                      listeners=[*live, _CtrlC()])
    seeds, _ = _seed_runs(uri)
    assert list(seeds["status"]) == ["KILLED"]  # closed as interrupted, not left RUNNING
    (marker,) = [json.loads(p.read_text()) for p in tb.rglob("sweeplab-run.json")]
    assert marker["complete"] is False

    with Store(store) as s, live_listeners(s, uri, tb) as live:
        assert run_study(tiny, s, data_dir=study.data_dir, quiet=True, engine="reference",
                         listeners=live).trained == len(WIDTHS)
    _check_target(uri, store)  # the interrupted run replaced: one complete run per key
    for target, dest in (("mlflow", uri), ("tensorboard", str(tb))):
        rc, out, err = run_cli("export", target, dest, "--store", str(store))
        assert rc == 0 and out.startswith(f"{target}: 0 run(s) added, 2 already there"), err


@pytest.fixture
def mlflow_server(tmp_path):
    """A real `mlflow server` (SQLite backend, artifacts proxied to a temporary directory) on
    127.0.0.1; stopped afterwards, whatever happens."""
    with socket.socket() as s:  # a free port: bound, then freed for the server
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "mlflow"), "server", "--host", "127.0.0.1",
         "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
         "--artifacts-destination", str(tmp_path / "artifacts")],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120  # start-up imports MLflow and migrates the database
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
        assert proc.poll() is None, "mlflow server exited"
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_python_export_to_a_tracking_server(study, mlflow_server):
    # The other kind of tracking URI: a server over HTTP, written through the Python API
    # (the code the CLI runs). Same runs, params, steps and artifacts as a SQLite URI;
    # a second call adds nothing.
    import sweeplab

    res = sweeplab.open(study.store)
    n = len(WIDTHS) * len(SEEDS)
    summary = res.export("mlflow", mlflow_server, STUDY)
    assert (summary.target, summary.added, summary.present) == ("mlflow", n, 0)
    _check_target(mlflow_server, study.store)
    _check_parents(mlflow_server, study.store)  # artifacts through the server's proxy
    seeds, parents = _seed_runs(mlflow_server)
    again = res.export("mlflow", mlflow_server)
    assert (again.added, again.present) == (0, n)
    seeds2, parents2 = _seed_runs(mlflow_server)
    assert sorted(seeds2["run_id"]) == sorted(seeds["run_id"])
    assert sorted(parents2["run_id"]) == sorted(parents["run_id"])
