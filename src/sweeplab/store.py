"""The run store: one SQLite file, crash-safe, never trains anything.

Layout (schema version 4; older stores are upgraded when opened for writing):

- ``meta``: key/value facts about the store (application name, creating version).
- ``studies``: a study's name and its definition (JSON) as last run; an earlier definition
  replaced on purpose (``run --redefine``) is kept as ``NAME@N`` with its configs.
- ``configs``: config hash -> canonical JSON. The same config in two studies is one row.
- ``study_configs``: which configs a study holds, with their labels and axis values.
- ``runs``: one row per (config, seed): status, engine, timing, versions, host, error,
  confusion matrix and probe outputs; since version 2 also the Keras backend, the device
  ("KIND:NAME"), the node (host) that trained it, its saved model file and its diagnostics
  (JSON, sweeplab.analysis.diagnostics); since version 3 its final predicted class per test
  example (``predictions``, :func:`pack_classes`) and the key of the test labels they were
  scored against (``labels_key``).
- ``test_labels``: key -> a test set's labels (:func:`pack_classes`), kept once per test set.
- ``epochs``: per-run, per-epoch metrics; epoch 0 is the untrained model; since version 4
  also the validation split's loss and accuracy (NULL: the config has none).

A run is marked ``running`` when it starts and becomes ``done`` in the single
transaction that writes all its results, so a crash at any moment leaves either a
finished run or one that is trained again. A file that is not a sweeplab store, or
one written by a newer schema, is refused before anything is written to it.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import itertools
import json
import math
import os
import re
import shutil
import socket
import sqlite3
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sweeplab.results import EpochRecord, RunResult

APPLICATION_ID = 0x53574C42  # "SWLB" in SQLite's header, so `file` and we can tell our stores
SCHEMA_VERSION = 4
DEFAULT_PATH = "sweeplab.db"
BUSY_TIMEOUT_S = 30.0  # wait this long for another writer before calling the store locked

_SCHEMA_V1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE studies (
    name TEXT PRIMARY KEY,
    definition TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE configs (
    hash TEXT PRIMARY KEY,
    canonical TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE study_configs (
    study TEXT NOT NULL REFERENCES studies(name) ON DELETE CASCADE,
    config_hash TEXT NOT NULL REFERENCES configs(hash),
    position INTEGER NOT NULL,
    label TEXT NOT NULL,
    axes TEXT NOT NULL,
    PRIMARY KEY (study, config_hash)
);
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    config_hash TEXT NOT NULL REFERENCES configs(hash),
    seed INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed')),
    engine TEXT,
    started_at TEXT,
    finished_at TEXT,
    wall_seconds REAL,
    versions TEXT,
    host TEXT,
    pid INTEGER,
    error TEXT,
    confusion TEXT,
    probe_untrained TEXT,
    probe_trained TEXT,
    UNIQUE (config_hash, seed)
);
CREATE TABLE epochs (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    epoch INTEGER NOT NULL,
    train_loss REAL,
    train_acc REAL,
    test_loss REAL NOT NULL,
    test_acc REAL NOT NULL,
    seconds REAL,
    PRIMARY KEY (run_id, epoch)
);
CREATE INDEX runs_by_status ON runs(config_hash, status);
"""

# version -> SQL that upgrades a store from version-1 to version. Version 1 is created whole,
# then upgraded step by step like an old store. Runs stored before a column existed read
# NULL there ("not recorded").
MIGRATIONS: dict[int, str] = {
    2: """
ALTER TABLE runs ADD COLUMN backend TEXT;
ALTER TABLE runs ADD COLUMN device TEXT;
ALTER TABLE runs ADD COLUMN node TEXT;
ALTER TABLE runs ADD COLUMN model_path TEXT;
ALTER TABLE runs ADD COLUMN diagnostics TEXT
""",
    3: """
ALTER TABLE runs ADD COLUMN predictions BLOB;
ALTER TABLE runs ADD COLUMN labels_key TEXT;
CREATE TABLE test_labels (key TEXT PRIMARY KEY, labels BLOB NOT NULL)
""",
    4: """
ALTER TABLE epochs ADD COLUMN val_loss REAL;
ALTER TABLE epochs ADD COLUMN val_acc REAL
""",
}


def pack_classes(classes: np.ndarray) -> bytes:
    """Class indices (M,) as bytes: one byte saying the width (1 below 256 classes, else 2),
    then the indices at that width, zlib-compressed (MNIST's 10,000 test predictions: 10,000
    bytes before compression, ~4-5 KB after)."""
    a = np.asarray(classes).reshape(-1)
    width = 1 if not a.size or int(a.max()) < 256 else 2
    if a.size and (int(a.min()) < 0 or int(a.max()) >= 1 << 16):
        raise ValueError(f"class indices must be in [0, 65535]. Received: [{int(a.min())}, "
                         f"{int(a.max())}]")
    return bytes([width]) + zlib.compress(a.astype(f"<u{width}").tobytes())


def unpack_classes(blob: bytes) -> np.ndarray:
    """The class indices :func:`pack_classes` packed, as a read-only uint8 or uint16 array."""
    return np.frombuffer(zlib.decompress(blob[1:]), f"<u{blob[0]}")


def _run_script(con: sqlite3.Connection, script: str) -> None:
    # Statement by statement: executescript() would COMMIT the open transaction first,
    # and a schema change must be all or nothing.
    for statement in script.split(";"):
        if statement.strip():
            con.execute(statement)


class StoreError(Exception):
    """The store cannot be used. The message names the file and what to do."""


@dataclass(frozen=True)
class StudyRow:
    """A study as recorded in the store."""

    name: str  # the study's name
    definition: dict[str, Any]  # the study as last run (sweeplab.study.study_to_dict)
    updated_at: str  # ISO time it was last saved


@dataclass(frozen=True)
class StudyConfigRow:
    """One config of a study, with its place in the sweep."""

    study: str  # study name
    config_hash: str  # sweeplab.spec.config_hash
    position: int  # order within the study's grid
    label: str  # e.g. "width=32"
    axes: dict[str, Any]  # axis name -> value label


@dataclass(frozen=True)
class RunRow:
    """A run's bookkeeping, without its metrics."""

    config_hash: str
    seed: int
    status: str  # running | done | failed
    engine: str | None
    started_at: str | None
    finished_at: str | None
    wall_seconds: float | None
    host: str | None  # the host of the process that claimed and stored it (the store's writer)
    error: str | None
    backend: str | None = None  # Keras backend; None = not recorded (stored before schema 2)
    device: str | None = None  # "KIND:NAME", e.g. "cpu:x86_64"; None = not recorded
    node: str | None = None  # host that trained it (differs from host on a Ray cluster)


def _owner_alive(host: str | None, pid: int | None) -> bool | None:
    """Whether the process that started a run still exists; None where it cannot be
    checked (another host, or no pid recorded)."""
    if not pid or host != socket.gethostname():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _jsonable(value: Any) -> Any:
    """Plain JSON values from numpy scalars, arrays and tuples; NaN and inf become None (JSON
    has neither, and a diverged run's numbers must still be storable)."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _finite_or_inf(x: float | None) -> float | None:
    """A diverged run's NaN loss as +inf: SQLite stores NaN as NULL, which the NOT NULL
    test_loss refuses (the run was lost as 'failed'); inf keeps it stored and still reads as
    not finite, i.e. diverged (sweeplab.analysis.diagnostics.diverged_epoch)."""
    return math.inf if x is not None and math.isnan(x) else x


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def holds_store(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a file holding a sweeplab store: False for no file, an empty one
    or an SQLite database without tables (what a run stopped before its first write leaves;
    opening it for writing makes it a store).

    Raises:
        StoreError: the file is not a sweeplab store this version can read (left untouched).
    """
    path = Path(path)
    return path.is_file() and _inspect_existing(path)


def _inspect_existing(path: Path) -> bool:
    """Refuse a file that is not a sweeplab store we can read, without writing to it.
    Returns False for a file that holds nothing yet (it becomes a new store)."""
    with open(path, "rb") as fh:
        header = fh.read(100)
    if len(header) == 0:
        return False  # an empty file holds nothing to lose: it becomes a new store
    if not header.startswith(b"SQLite format 3\x00"):
        raise StoreError(
            f"{path} is not a sweeplab store (not an SQLite database). It was left untouched; "
            "pass --store with another path."
        )
    try:
        con = sqlite3.connect(_read_only_uri(path), uri=True, timeout=BUSY_TIMEOUT_S)
        try:
            app_id = con.execute("PRAGMA application_id").fetchone()[0]
            version = con.execute("PRAGMA user_version").fetchone()[0]
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master")}
        finally:
            con.close()
    except sqlite3.DatabaseError as err:
        if not _dir_writable(path):
            raise StoreError(f"{path} cannot be opened: its directory is read-only and its "
                             f"write-ahead log ({path.name}-wal) holds data SQLite must index "
                             f"beside it ({err}). It was left untouched; copy the store with "
                             f"its -wal file to a writable place.") from err
        raise StoreError(f"{path} is damaged and cannot be read as a store ({err}). "
                         "It was left untouched.") from err
    if app_id != APPLICATION_ID:
        if app_id == 0 and not tables:
            return False  # an empty SQLite database: safe to initialise
        raise StoreError(
            f"{path} is an SQLite database but not a sweeplab store (application_id={app_id:#x},"
            f" tables: {', '.join(sorted(tables)) or 'none'}). It was left untouched; pass "
            "--store with another path."
        )
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{path} was written by a newer sweeplab (store schema {version}; this version reads "
            f"up to {SCHEMA_VERSION}). It was left untouched; upgrade sweeplab to use it."
        )
    return True


def _dir_writable(path: Path) -> bool:
    return os.access(path.parent if str(path.parent) else Path("."), os.W_OK | os.X_OK)


def _no_space(path: Path) -> bool:
    """Whether the disk under ``path`` is full (an I/O error there then means just that)."""
    try:
        return shutil.disk_usage(path.resolve().parent).free < 2**16
    except OSError:
        return False


def _read_only_uri(path: Path) -> str:
    """An SQLite URI that reads the store without writing anything. A WAL store normally
    needs its -shm index beside it; in a read-only directory, with no write-ahead log
    pending, the file alone is the whole store and is opened as immutable."""
    wal = path.with_name(path.name + "-wal")
    still = not _dir_writable(path) and (not wal.exists() or wal.stat().st_size == 0)
    return f"file:{path.resolve()}?mode=ro{'&immutable=1' if still else ''}"


def _check_writable(path: Path) -> None:
    """Refuse, before any training, a store that could be read but not written: SQLite
    would only fail at the first write (a traceback after the work was done)."""
    hint = ("Read it with `sweeplab ls/show/report --store`, or copy it to a writable place "
            "and pass --store with that path.")
    if path.exists() and not os.access(path, os.W_OK):
        raise StoreError(f"{path} is read-only: runs cannot be stored in it. It was left "
                         f"untouched. {hint}")
    # WAL mode keeps STORE-wal and STORE-shm beside the store: the directory must be writable.
    if not _dir_writable(path):
        raise StoreError(f"Cannot write {path}: its directory is read-only (SQLite keeps its "
                         "write-ahead log beside the store). Nothing was changed. "
                         + (hint if path.exists() else "Pass --store with a path in a "
                            "writable directory."))


class Store:
    """An open run store. Use as a context manager, or call :meth:`close`."""

    def __init__(self, path: str | os.PathLike = DEFAULT_PATH, readonly: bool = False):
        self.path = Path(path)
        self.readonly = readonly
        if self.path.exists():
            if not self.path.is_file():
                raise StoreError(f"{self.path} is not a file. Pass --store with a file path.")
            if not readonly:
                _check_writable(self.path)
            if not _inspect_existing(self.path) and readonly:
                raise StoreError(f"{self.path} holds no runs yet (an empty file, e.g. left by "
                                 "a run stopped before its first write). Run a study into it "
                                 "first, or pass --store PATH.")
        elif readonly:
            raise StoreError(f"No store at {self.path}. Run a study first, or pass --store PATH.")
        elif not self.path.parent.exists():
            raise StoreError(f"Cannot create {self.path}: directory {self.path.parent} "
                             "does not exist.")
        if not readonly and not self.path.exists():
            _check_writable(self.path)  # a new store: its directory (an existing one above)
        try:
            if readonly:
                self._con = sqlite3.connect(_read_only_uri(self.path), uri=True,
                                            timeout=BUSY_TIMEOUT_S, isolation_level=None)
            else:
                self._con = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S,
                                            isolation_level=None)
                self._con.execute("PRAGMA journal_mode=WAL")
                self._con.execute("PRAGMA synchronous=NORMAL")
            self._con.execute("PRAGMA foreign_keys=ON")
            if not readonly:
                self._migrate()
            else:
                self._read_old_schema()
        except sqlite3.OperationalError as err:
            raise self._error(err) from err
        except sqlite3.DatabaseError as err:
            raise StoreError(f"{self.path} is damaged ({err}).") from err

    # --- lifecycle ------------------------------------------------------------------

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _error(self, err: sqlite3.Error) -> StoreError:
        msg = str(err)
        if "locked" in msg or "busy" in msg:
            return StoreError(
                f"{self.path} is locked by another process (waited {BUSY_TIMEOUT_S:.0f} s). "
                "Wait for it to finish, or use another --store."
            )
        if "disk is full" in msg or ("disk I/O error" in msg or "unable to open" in msg) \
                and _no_space(self.path):
            return StoreError(f"cannot write the store {self.path}: the disk is full ({msg}); "
                              "runs finished before are kept. Free space and run again.")
        return StoreError(f"{self.path}: {msg}")

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction: all or nothing, one writer at a time."""
        if self.readonly:
            raise StoreError(f"{self.path} is open read-only.")
        try:
            self._con.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as err:
            raise self._error(err) from err
        try:
            yield self._con
        except sqlite3.OperationalError as err:  # e.g. a disk that filled up mid-write
            self._rollback()
            raise self._error(err) from err
        except BaseException:
            self._rollback()
            raise
        try:  # a full disk often shows only here, when the WAL grows at COMMIT
            self._con.execute("COMMIT")
        except sqlite3.OperationalError as err:
            self._rollback()
            raise self._error(err) from err

    def _rollback(self) -> None:
        # SQLite may already have rolled back (SQLITE_FULL does); the first error is the news.
        if self._con.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self._con.execute("ROLLBACK")

    def _read_old_schema(self) -> None:
        """Read an older store without upgrading it (it is open read-only): a TEMP view, which
        SQLite keeps apart from the file, shadows ``runs`` with each column added since as NULL
        ("not recorded"); a table added since is an empty TEMP table."""
        tables = {r[0] for r in self._con.execute("SELECT name FROM main.sqlite_master")}
        if "runs" in tables:
            for v in sorted(MIGRATIONS):
                for name, rest in re.findall(r"CREATE TABLE (\w+) (\([^;]*\))", MIGRATIONS[v]):
                    if name not in tables:
                        self._con.execute(f"CREATE TEMP TABLE {name} {rest}")
        for table in ("runs", "epochs"):
            have = {row[1] for row in self._con.execute(f"PRAGMA main.table_info({table})")}
            added = [c for v in sorted(MIGRATIONS) for t, c in
                     re.findall(r"ALTER TABLE (\w+) ADD COLUMN (\w+)", MIGRATIONS[v])
                     if t == table and c not in have]
            if have and added:
                self._con.execute(f"CREATE TEMP VIEW {table} AS SELECT *, "
                                  + ", ".join(f"NULL AS {c}" for c in added)
                                  + f" FROM main.{table}")

    def _migrate(self) -> None:
        version = self._con.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return
        with self._write() as con:
            if version == 0:
                _run_script(con, _SCHEMA_V1)
                con.execute(f"PRAGMA application_id={APPLICATION_ID}")
                con.executemany("INSERT INTO meta VALUES (?, ?)",
                                [("application", "sweeplab"), ("created_at", _now())])
                version = 1
            for v in range(version + 1, SCHEMA_VERSION + 1):
                _run_script(con, MIGRATIONS[v])
            con.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    # --- studies and configs --------------------------------------------------------

    def save_study(self, name: str, definition: dict[str, Any],
                   configs: Sequence[tuple[str, str, str, dict[str, Any]]]) -> None:
        """Record a study and its configs: (hash, canonical JSON, label, axes) in grid order.

        The study's list of configs is replaced; configs and runs are never deleted.
        """
        now = _now()
        with self._write() as con:
            con.execute(
                "INSERT INTO studies VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET "
                "definition=excluded.definition, updated_at=excluded.updated_at",
                (name, json.dumps(definition, sort_keys=True), now))
            con.execute("DELETE FROM study_configs WHERE study=?", (name,))
            for pos, (h, canonical, label, axes) in enumerate(configs):
                con.execute("INSERT OR IGNORE INTO configs VALUES (?, ?, ?)", (h, canonical, now))
                con.execute("INSERT INTO study_configs VALUES (?, ?, ?, ?, ?)",
                            (name, h, pos, label, json.dumps(axes, sort_keys=True)))

    def archive_study(self, name: str) -> str | None:
        """Keep the study's current definition, its configs and adaptive-seed record under
        ``NAME@N`` (the first free N), so that redefining ``name`` leaves its earlier runs
        listed; returns that name (None: the store has no such study)."""
        with self._write() as con:
            row = con.execute("SELECT definition, updated_at FROM studies WHERE name=?",
                              (name,)).fetchone()
            if row is None:
                return None
            taken = {n for (n,) in con.execute("SELECT name FROM studies")}
            kept = next(f"{name}@{n}" for n in itertools.count(1) if f"{name}@{n}" not in taken)
            definition = {**json.loads(row[0]), "name": kept}
            con.execute("INSERT INTO studies VALUES (?, ?, ?)",
                        (kept, json.dumps(definition, sort_keys=True), row[1]))
            con.execute("UPDATE study_configs SET study=? WHERE study=?", (kept, name))
            con.execute("UPDATE meta SET key=? WHERE key=?", (f"adaptive:{kept}",
                                                             f"adaptive:{name}"))
        return kept

    def studies(self) -> list[StudyRow]:
        rows = self._con.execute("SELECT name, definition, updated_at FROM studies ORDER BY name")
        return [StudyRow(n, json.loads(d), u) for n, d, u in rows]

    def study(self, name: str) -> StudyRow | None:
        row = self._con.execute("SELECT name, definition, updated_at FROM studies WHERE name=?",
                                (name,)).fetchone()
        return StudyRow(row[0], json.loads(row[1]), row[2]) if row else None

    def study_configs(self, name: str) -> list[StudyConfigRow]:
        rows = self._con.execute(
            "SELECT study, config_hash, position, label, axes FROM study_configs "
            "WHERE study=? ORDER BY position", (name,))
        return [StudyConfigRow(s, h, p, lab, json.loads(a)) for s, h, p, lab, a in rows]

    def config(self, hash_or_prefix: str) -> tuple[str, dict[str, Any]]:
        """A config by full hash or unique prefix: (hash, config dict).

        Raises:
            StoreError: no config, or an ambiguous prefix.
        """
        rows = self._con.execute("SELECT hash, canonical FROM configs WHERE hash LIKE ? || '%'",
                                 (hash_or_prefix,)).fetchall()
        if not rows:
            raise StoreError(f"No config {hash_or_prefix!r} in {self.path}. "
                             "`sweeplab ls` lists them.")
        if len(rows) > 1:
            raise StoreError(f"Config prefix {hash_or_prefix!r} matches {len(rows)} configs: "
                             f"{', '.join(r[0] for r in rows[:5])}. Give more digits.")
        return rows[0][0], json.loads(rows[0][1])

    def configs(self) -> list[tuple[str, dict[str, Any]]]:
        rows = self._con.execute("SELECT hash, canonical FROM configs ORDER BY created_at, hash")
        return [(h, json.loads(c)) for h, c in rows]

    def set_meta(self, key: str, value: Any) -> None:
        """Store a JSON-able fact about the store (e.g. how an adaptive study stopped)."""
        with self._write() as con:
            con.execute("INSERT INTO meta VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET "
                        "value=excluded.value", (key, json.dumps(value, sort_keys=True)))

    def get_meta(self, key: str) -> Any:
        row = self._con.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        if row is None:
            return None
        try:
            return json.loads(row[0])
        except ValueError:
            return row[0]  # the plain strings written at creation

    # --- runs -----------------------------------------------------------------------

    def done_seeds(self, config_hash: str) -> set[int]:
        rows = self._con.execute("SELECT seed FROM runs WHERE config_hash=? AND status='done'",
                                 (config_hash,))
        return {r[0] for r in rows}

    def run_rows(self, config_hash: str | None = None) -> list[RunRow]:
        sql = ("SELECT config_hash, seed, status, engine, started_at, finished_at, wall_seconds, "
               "host, error, backend, device, node FROM runs")
        args: tuple = ()
        if config_hash is not None:
            sql += " WHERE config_hash=?"
            args = (config_hash,)
        return [RunRow(*r) for r in self._con.execute(sql + " ORDER BY config_hash, seed", args)]

    def counts(self, config_hashes: Iterable[str]) -> dict[str, dict[str, int]]:
        """Per config: how many runs are in each status.

        A ``running`` row whose process is gone (started on this host by a pid that no
        longer exists: Ctrl-C, kill -9, a crash) is counted as ``interrupted``; the next
        ``run`` trains it again. Rows from other hosts cannot be checked and stay
        ``running``.
        """
        out: dict[str, dict[str, int]] = {}
        for h in config_hashes:
            n: dict[str, int] = {}
            for status, host, pid in self._con.execute(
                    "SELECT status, host, pid FROM runs WHERE config_hash=?", (h,)):
                if status == "running" and _owner_alive(host, pid) is False:
                    status = "interrupted"
                n[status] = n.get(status, 0) + 1
            out[h] = n
        return out

    def claim_run(self, config_hash: str, seed: int, engine: str) -> str:
        """Start a run unless it is done or another live process is training it.

        Returns "claimed" (this process now owns it, as :meth:`start_run`), "done"
        (finished meanwhile, e.g. by another ``sweeplab run`` on the same store) or
        "busy" (``running`` under a process on this host that is still alive). The check
        and the claim are one write transaction, so two processes never both claim a run.
        Rows from another host cannot be checked and are claimed again.
        """
        with self._write() as con:
            row = con.execute("SELECT status, host, pid FROM runs WHERE config_hash=? AND seed=?",
                              (config_hash, seed)).fetchone()
            if row and row[0] == "done":
                return "done"
            if (row and row[0] == "running" and row[2] != os.getpid()
                    and _owner_alive(row[1], row[2])):
                return "busy"
            self._start(con, config_hash, seed, engine)
            return "claimed"

    def start_run(self, config_hash: str, seed: int, engine: str) -> None:
        """Mark a run as started. Anything left of an earlier, unfinished try is cleared.

        Raises:
            StoreError: the run is already done (it must not be trained twice).
        """
        with self._write() as con:
            self._start(con, config_hash, seed, engine)

    def _start(self, con: sqlite3.Connection, config_hash: str, seed: int, engine: str) -> None:
        row = con.execute("SELECT id, status FROM runs WHERE config_hash=? AND seed=?",
                          (config_hash, seed)).fetchone()
        if row and row[1] == "done":
            raise StoreError(f"run {config_hash}/seed {seed} is already done in {self.path}.")
        if row:
            con.execute("DELETE FROM epochs WHERE run_id=?", (row[0],))
            con.execute(
                "UPDATE runs SET status='running', engine=?, started_at=?, finished_at=NULL,"
                " error=NULL, host=?, pid=? WHERE id=?",
                (engine, _now(), socket.gethostname(), os.getpid(), row[0]))
        else:
            con.execute(
                "INSERT INTO runs (config_hash, seed, status, engine, started_at, host, pid) "
                "VALUES (?, ?, 'running', ?, ?, ?, ?)",
                (config_hash, seed, engine, _now(), socket.gethostname(), os.getpid()))

    def finish_run(self, result: RunResult, versions: dict[str, str]) -> None:
        """Write a run's results and mark it done, in one transaction."""
        with self._write() as con:
            row = con.execute("SELECT id, status FROM runs WHERE config_hash=? AND seed=?",
                              (result.config_hash, result.seed)).fetchone()
            if row and row[1] == "done":
                raise StoreError(f"run {result.config_hash}/seed {result.seed} is already done.")
            if row is None:
                cur = con.execute(
                    "INSERT INTO runs (config_hash, seed, status, started_at) "
                    "VALUES (?, ?, 'running', ?)", (result.config_hash, result.seed, _now()))
                run_id = cur.lastrowid
            else:
                run_id = row[0]
                con.execute("DELETE FROM epochs WHERE run_id=?", (run_id,))
            labels_key = None
            if result.test_labels is not None:
                packed = pack_classes(result.test_labels)
                labels_key = hashlib.sha256(packed).hexdigest()[:32]
                con.execute("INSERT OR IGNORE INTO test_labels VALUES (?, ?)",
                            (labels_key, packed))
            con.executemany(
                "INSERT INTO epochs (run_id, epoch, train_loss, train_acc, test_loss, test_acc, "
                "seconds, val_loss, val_acc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(run_id, e.epoch, _finite_or_inf(e.train_loss), e.train_acc,
                  _finite_or_inf(e.test_loss), e.test_acc, e.seconds,
                  _finite_or_inf(e.val_loss), e.val_acc) for e in result.epochs])
            con.execute(
                "UPDATE runs SET status='done', engine=?, finished_at=?, wall_seconds=?, "
                "versions=?, host=?, pid=?, error=NULL, confusion=?, probe_untrained=?, "
                "probe_trained=?, backend=?, device=?, node=?, model_path=?, diagnostics=?, "
                "predictions=?, labels_key=? WHERE id=?",
                (result.engine, _now(), result.wall_seconds, json.dumps(versions),
                 socket.gethostname(), os.getpid(),
                 json.dumps(np.asarray(result.confusion).astype(int).tolist()),
                 json.dumps(list(result.probe_untrained)), json.dumps(list(result.probe_trained)),
                 result.backend, result.device, result.node or socket.gethostname(),
                 result.model_path,
                 json.dumps(_jsonable(result.diagnostics), sort_keys=True, allow_nan=False)
                 if result.diagnostics else None,
                 None if result.predictions is None else pack_classes(result.predictions),
                 labels_key, run_id))

    def set_model_path(self, config_hash: str, seed: int, path: str | None) -> None:
        """Record where a finished run's trained model was saved (sweeplab.saved_models).

        Raises:
            StoreError: the run is not done in this store.
        """
        with self._write() as con:
            cur = con.execute("UPDATE runs SET model_path=? WHERE config_hash=? AND seed=? "
                              "AND status='done'", (path, config_hash, seed))
            if cur.rowcount != 1:
                raise StoreError(f"run {config_hash[:10]}/seed {seed} is not done in "
                                 f"{self.path}; no model path recorded.")

    def fail_run(self, config_hash: str, seed: int, error: str) -> None:
        """Record why a run failed; it is tried again next time."""
        with self._write() as con:
            con.execute("UPDATE runs SET status='failed', finished_at=?, error=? "
                        "WHERE config_hash=? AND seed=? AND status!='done'",
                        (_now(), error[-4000:], config_hash, seed))

    def results(self, config_hash: str) -> list[RunResult]:
        """Every finished run of a config, by seed, with all its metrics."""
        runs = self._con.execute(
            "SELECT id, seed, engine, confusion, probe_untrained, probe_trained, wall_seconds, "
            "backend, device, node, model_path, diagnostics, predictions, labels_key "
            "FROM runs WHERE config_hash=? AND status='done' ORDER BY seed",
            (config_hash,)).fetchall()
        out = []
        labels: dict[str, np.ndarray | None] = {}  # one array per test set, shared by its runs
        for (run_id, seed, engine, conf, p0, p1, wall, backend, device, node, mpath, diag,
             pred, key) in runs:
            if key is not None and key not in labels:
                row = self._con.execute("SELECT labels FROM test_labels WHERE key=?",
                                        (key,)).fetchone()
                labels[key] = unpack_classes(row[0]) if row else None
            epochs = tuple(
                EpochRecord(ep, test_loss=tl, test_acc=ta, train_loss=trl, train_acc=tra,
                            seconds=sec or 0.0, val_loss=vl, val_acc=va)
                for ep, trl, tra, tl, ta, sec, vl, va in self._con.execute(
                    "SELECT epoch, train_loss, train_acc, test_loss, test_acc, seconds, "
                    "val_loss, val_acc FROM epochs WHERE run_id=? ORDER BY epoch", (run_id,)))
            out.append(RunResult(config_hash, seed, engine or "", epochs,
                                 np.asarray(json.loads(conf), dtype=np.int64),
                                 tuple(json.loads(p0)), tuple(json.loads(p1)), wall or 0.0,
                                 backend=backend or "", device=device or "", node=node or "",
                                 diagnostics=json.loads(diag) if diag else {},
                                 model_path=mpath,
                                 predictions=None if pred is None else unpack_classes(pred),
                                 test_labels=labels.get(key) if key else None))
        return out
