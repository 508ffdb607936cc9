"""`sweeplab export tensorboard` and `run --tensorboard`, read back with TensorBoard's own
event reader (EventAccumulator): every scalar at its epoch step equal to the store's value,
HParams per run, idempotence, live logging."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from export_study import (
    EPOCHS,
    METRICS,
    SEEDS,
    STUDY,
    WIDTHS,
    add_seed,
    copy_store,
    metric_steps,
    store_runs,
)

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import (  # noqa: E402
    EventAccumulator,
)
from tensorboard.plugins.hparams import api_pb2  # noqa: E402
from tensorboard.plugins.hparams import metadata as hp_metadata  # noqa: E402
from tensorboard.util import tensor_util  # noqa: E402

from sweeplab.export import run_export  # noqa: E402
from sweeplab.store import Store  # noqa: E402


@pytest.fixture(scope="module")
def study(export_study):
    return export_study


def _read(run_dir: Path) -> tuple[dict[str, list[tuple[int, float]]], dict, dict]:
    """(tag -> [(step, value)] in file order, session start info, session end info)."""
    acc = EventAccumulator(str(run_dir), size_guidance={"tensors": 0})  # 0: keep every event
    acc.Reload()
    scalars = {tag: [(e.step, tensor_util.make_ndarray(e.tensor_proto).item())
                     for e in acc.Tensors(tag)]
               for tag in acc.Tags()["tensors"] if not tag.startswith("_hparams_/")}
    content = acc.PluginTagToContent(hp_metadata.PLUGIN_NAME)
    start = hp_metadata.parse_session_start_info_plugin_data(
        content[hp_metadata.SESSION_START_INFO_TAG])
    end = hp_metadata.parse_session_end_info_plugin_data(
        content[hp_metadata.SESSION_END_INFO_TAG])
    return scalars, start, end


def _files(logdir: Path) -> dict[str, bytes]:
    return {str(p.relative_to(logdir)): p.read_bytes() for p in sorted(logdir.rglob("*"))
            if p.is_file()}


def _check_logdir(logdir: Path, store: Path) -> None:
    """One run directory per finished run, each scalar step equal to the store's value,
    the config's axis values as HParams, one session group per config."""
    runs = store_runs(store)
    dirs = sorted(p.parent for p in logdir.rglob("events.out.tfevents.*"))
    assert len(dirs) == len(set(dirs)) == len(runs)  # one event file per run, none twice
    groups: dict[str, set[str]] = {}
    for (h, seed), (label, result) in runs.items():
        run_dir = logdir / STUDY / label / f"seed_{seed}"
        scalars, start, end = _read(run_dir)
        assert set(scalars) == {name for name, _ in METRICS}
        for name, field in METRICS:
            points = scalars[name]
            # steps in increasing order, none twice: TensorBoard's default loader drops
            # every point at or after a step that comes out of order
            steps = [s for s, _ in points]
            assert steps == sorted(set(steps)), (label, seed, name, steps)
            # TensorBoard's scalars are float32 (its default loader shows no others): the
            # store's float64 rounded once to the nearest float32, then exact
            want = {k: float(np.float32(v)) for k, v in metric_steps(result.epochs,
                                                                     field).items()}
            assert dict(points) == want, (label, seed, name)
        hparams = {k: v.number_value if v.HasField("number_value") else v.string_value
                   for k, v in start.hparams.items()}
        assert hparams == {"study": STUDY, "width": float(label.split("=")[1])}
        assert end.status == api_pb2.STATUS_SUCCESS
        groups.setdefault(start.group_name, set()).add(label)
        marker = json.loads((run_dir / "sweeplab-run.json").read_text())
        assert marker["key"] == f"{h}:{seed}" and marker["complete"] is True
    # all seeds of a config share its group: the HParams view compares configs
    assert groups == {f"{STUDY}/width={w}": {f"width={w}"} for w in WIDTHS}


def test_export_matches_the_store_and_a_second_adds_nothing(study, tmp_path, run_cli):
    logdir = tmp_path / "tb"
    rc, out, err = run_cli("export", "tensorboard", str(logdir), "--store", str(study.store))
    assert rc == 0, err
    n = len(WIDTHS) * len(SEEDS)
    assert out.startswith(f"tensorboard: {n} run(s) added, 0 already there")
    _check_logdir(logdir, study.store)
    # epoch 0 (the untrained model) has the test numbers only
    scalars, _, _ = _read(logdir / STUDY / f"width={WIDTHS[0]}" / "seed_0")
    assert [s for s, _ in scalars["test/accuracy"]] == list(range(EPOCHS + 1))
    assert [s for s, _ in scalars["train/loss"]] == list(range(1, EPOCHS + 1))
    before = _files(logdir)

    rc, out, err = run_cli("export", "tensorboard", str(logdir), STUDY, "--store",
                           str(study.store))
    assert rc == 0, err
    assert out.startswith(f"tensorboard: 0 run(s) added, {n} already there")
    assert _files(logdir) == before  # not a byte changed


def test_a_new_seed_adds_exactly_one_run(study, tmp_path):
    store = copy_store(study.store, tmp_path / "s.db")
    logdir = tmp_path / "tb"
    with Store(store, readonly=True) as s:
        assert run_export(s, "tensorboard", logdir).added == len(WIDTHS) * len(SEEDS)
    before = _files(logdir)
    add_seed(study, store, seed=2, width=WIDTHS[0])

    with Store(store, readonly=True) as s:
        summary = run_export(s, "tensorboard", logdir)
    assert (summary.added, summary.present) == (1, len(WIDTHS) * len(SEEDS))
    after = _files(logdir)
    assert {k: v for k, v in after.items() if k in before} == before
    new = {str(Path(k).parent) for k in set(after) - set(before)}
    assert new == {f"{STUDY}/width={WIDTHS[0]}/seed_2"}
    _check_logdir(logdir, store)


def test_live_run_then_export_adds_nothing(study, run_cli):
    # `run --tensorboard` wrote every epoch live, then the whole run again in order once
    # epoch 0 (reported by the engines with the finished run) was known
    _check_logdir(study.live_tb, study.store)
    before = _files(study.live_tb)
    rc, out, err = run_cli("export", "tensorboard", str(study.live_tb), "--store",
                           str(study.store))
    assert rc == 0, err
    n = len(WIDTHS) * len(SEEDS)
    assert out.startswith(f"tensorboard: 0 run(s) added, {n} already there")
    assert _files(study.live_tb) == before


def test_a_half_written_live_run_is_replaced(study, tmp_path):
    # What a killed `run --tensorboard` leaves: an incomplete marker whose writer is gone
    # (pid 2**22 + 1 is above Linux's pid_max limit) and an event file with fewer epochs.
    logdir = tmp_path / "tb"
    with Store(study.store, readonly=True) as s:
        run_export(s, "tensorboard", logdir)
    run_dir = logdir / STUDY / f"width={WIDTHS[1]}" / "seed_1"
    (run_dir / "sweeplab-run.json").write_text(json.dumps({
        "key": json.loads((run_dir / "sweeplab-run.json").read_text())["key"],
        "complete": False, "writer": f"{socket.gethostname()}:{2**22 + 1}"}))
    shutil.copy(next(run_dir.glob("events.out.tfevents.*")), run_dir / "events.out.tfevents.0")

    with Store(study.store, readonly=True) as s:
        summary = run_export(s, "tensorboard", logdir)
    assert (summary.added, summary.replaced, summary.present) == (1, 1, 3)
    _check_logdir(logdir, study.store)  # one event file again, the store's values


def test_missing_extra_and_empty_dir_give_one_line(study, tmp_path, monkeypatch, run_cli):
    rc, out, err = run_cli("export", "tensorboard", "", "--store", str(study.store))
    assert rc == 2 and err.count("\n") == 1 and "output directory is empty" in err
    rc, out, err = run_cli("export", "tensorboard", str(tmp_path), "nope", "--store",
                           str(study.store))
    assert rc == 2 and err.count("\n") == 1 and f"Studies there: {STUDY}" in err
    # tensorboard made unimportable (None in sys.modules fails `import` as a missing package
    # does); the code path is the real one
    monkeypatch.setitem(__import__("sys").modules, "tensorboard", None)
    rc, out, err = run_cli("export", "tensorboard", str(tmp_path / "tb"), "--store",
                           str(study.store))
    assert rc == 2 and err.count("\n") == 1 and "pip install 'sweeplab[tensorboard]'" in err
    assert not (tmp_path / "tb").exists()  # nothing written


@pytest.fixture
def tensorboard_server(study):
    """Real `tensorboard` (default loader) serving the live log directory on 127.0.0.1;
    stopped afterwards, whatever happens."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "tensorboard.main", "--logdir",
                             str(study.live_tb), "--host", "127.0.0.1", "--port", str(port),
                             "--reload_interval", "1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _get(url: str, body: dict | None = None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def test_tensorboard_serves_the_scalars_and_hparams_metrics(study, tensorboard_server):
    # What the EventAccumulator cannot show: TensorBoard's own server (its default, Rust
    # loader) lists the scalars and fills the HParams view's metric columns
    n = len(WIDTHS) * len(SEEDS)
    deadline = time.monotonic() + 90  # start-up imports TensorFlow; loading takes seconds
    tags: dict = {}
    while time.monotonic() < deadline:
        try:
            tags = _get(f"{tensorboard_server}/data/plugin/scalars/tags")
        except OSError:
            tags = {}
        if len(tags) == n and all(len(t) == 4 for t in tags.values()):
            break
        time.sleep(1)
    assert len(tags) == n, tags
    runs = store_runs(study.store)
    for (_, seed), (label, result) in runs.items():
        points = _get(f"{tensorboard_server}/data/plugin/scalars/scalars?"
                      + urllib.parse.urlencode({"run": f"{STUDY}/{label}/seed_{seed}",
                                                "tag": "test/accuracy"}))
        assert [(step, v) for _, step, v in points] == [
            (e.epoch, float(np.float32(e.test_acc))) for e in result.epochs]
    exp = _get(f"{tensorboard_server}/data/plugin/hparams/experiment",
               {"experimentName": "", "includeMetrics": True})
    assert {m["name"]["tag"] for m in exp["metricInfos"]} == {name for name, _ in METRICS}
    groups = _get(f"{tensorboard_server}/data/plugin/hparams/session_groups", {
        "experimentName": "", "allowedStatuses": ["STATUS_SUCCESS"], "colParams": [],
        "startIndex": 0, "sliceSize": 100, "aggregationType": "AGGREGATION_AVG",
        "includeMetrics": True})["sessionGroups"]
    assert sorted(g["name"] for g in groups) == sorted(f"{STUDY}/width={w}" for w in WIDTHS)
    for g in groups:
        final = [float(np.float32(r.final.test_acc)) for (_, _), (lab, r) in runs.items()
                 if f"{STUDY}/{lab}" == g["name"]]
        assert len(g["sessions"]) == len(SEEDS)
        (acc,) = [m["value"] for m in g["metricValues"]
                  if m["name"]["tag"] == "test/accuracy"]
        # each session's value is its last step (the final epoch), averaged over seeds
        assert acc == pytest.approx(np.mean(final), rel=1e-12)
