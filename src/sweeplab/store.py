"""The run store: one SQLite file, crash-safe, never trains anything.

Tables (schema version 6; older stores are upgraded when opened for writing): ``meta``,
``studies`` (definitions; one replaced by ``run --redefine`` is kept as ``NAME@N``),
``configs`` (hash -> canonical JSON, shared between studies), ``study_configs``, ``runs``
(one per config and seed, with its diagnostics and per-example ``predictions`` and
``val_predictions``), ``test_labels`` (label sets, test and validation), ``epochs`` (epoch 0
= the untrained model) and ``damaged`` (what ``check --repair`` set aside). Every finished
record carries a ``checksum`` written in the transaction that writes it and verified on
every read (:func:`run_checksum`); not SQLite's ``cksumvfs``, which Python's ``sqlite3``
cannot load everywhere, and a checksum per record names what is damaged where a page
checksum names only a page.

A run becomes ``done`` in the one transaction that writes all its results, so a crash
leaves either a finished run or one that is trained again. A file that is not a sweeplab
store, or has a newer schema, is refused before anything is written to it.
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
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sweeplab.errors import FieldError
from sweeplab.results import EpochRecord, RunResult

APPLICATION_ID = 0x53574C42  # "SWLB" in SQLite's header, so `file` and we can tell our stores
SCHEMA_VERSION = 6
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
    5: """
ALTER TABLE runs ADD COLUMN checksum TEXT;
ALTER TABLE configs ADD COLUMN checksum TEXT;
ALTER TABLE studies ADD COLUMN checksum TEXT;
ALTER TABLE meta ADD COLUMN checksum TEXT;
CREATE TABLE damaged (
    id INTEGER PRIMARY KEY,
    found_at TEXT NOT NULL,
    what TEXT NOT NULL,
    reason TEXT NOT NULL,
    record TEXT
)
""",
    6: """
ALTER TABLE runs ADD COLUMN val_predictions BLOB;
ALTER TABLE runs ADD COLUMN val_labels_key TEXT
""",
}
CHECKSUMMED = 5  # the first schema whose records carry checksums


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
        added = re.match(r"\s*ALTER TABLE (\w+) ADD COLUMN (\w+)", statement)
        made = re.match(r"\s*CREATE TABLE (\w+)", statement)
        if (added and added[2] in {r[1] for r in con.execute(f"PRAGMA table_info({added[1]})")}
                or made and con.execute("SELECT 1 FROM sqlite_master WHERE name=?",
                                        (made[1],)).fetchone()):
            continue  # already there (a file whose version number is older than its tables)
        if statement.strip():
            con.execute(statement)


class StoreError(FieldError):
    """The store cannot be used. The message names the file and what to do."""


class DamagedStoreError(StoreError):
    """SQLite cannot read the store's pages (``check`` then says which runs still can)."""


def _damaged_file(path: Path, err: sqlite3.Error) -> StoreError:
    """SQLite found the file's pages damaged: one line naming it and what to do."""
    return DamagedStoreError(f"{path} is damaged: SQLite cannot read it ({_flat(err)}). "
                             f"Restore it from a copy; `sweeplab check --store {path}` says "
                             "which runs are still readable.")


@dataclass(frozen=True)
class Damaged:
    """A stored record that failed its checksum, did not parse or missed a field: it is
    named, never read (left out of every number)."""

    what: str  # "run", "config", "study" or "meta"
    reason: str  # e.g. "checksum mismatch", "does not parse (confusion: ...)"
    config_hash: str | None = None  # a run's or a config's hash (as stored: may be damaged)
    seed: int | None = None  # a run's seed (as stored)
    name: str | None = None  # a study's name or a meta key
    run_id: int | None = None  # the runs row, for check --repair

    def line(self, label: str | None = None) -> str:
        """One line naming it: 'run of config q6 width=32 (3f2a9c01de) seed 3: checksum
        mismatch'; ``label``: the config as its study names it."""
        if self.what == "run":
            ref = f"{label} ({self.config_hash!s:.10})" if label else f"{self.config_hash!s:.10}"
            return f"run of config {ref} seed {self.seed}: {self.reason}"
        if self.what == "config":
            return f"definition of config {self.config_hash!s:.10}: {self.reason}"
        return f"{self.what} {self.name!r}: {self.reason}"


def _blob(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"blob": value.hex()}
    raise TypeError(f"{type(value).__name__} is not an SQLite value")


def _digest(*parts: Any) -> str:
    """blake2b (128 bits) of the canonical JSON of ``parts``: exact for every SQLite value
    (floats by their shortest round-trip repr, blobs as hex, text as stored: a lone
    surrogate from undecodable bytes is escaped, never equal to good text)."""
    text = json.dumps(parts, separators=(",", ":"), ensure_ascii=True, default=_blob)
    return hashlib.blake2b(text.encode("ascii"), digest_size=16).hexdigest()


def _fields(row: Mapping[str, Any], *leave: str) -> list[tuple[str, Any]]:
    """A row's non-NULL columns but ``leave`` and its checksum, by name: a column a later
    schema adds is NULL in the rows stored before it, so their checksums still hold."""
    return sorted((k, v) for k, v in row.items()
                  if v is not None and k != "checksum" and k not in leave)


def run_checksum(row: Mapping[str, Any], epochs: Sequence[Mapping[str, Any]]) -> str:
    """The checksum of one run's whole record: every column of its ``runs`` row (but its id)
    and every one of its ``epochs`` rows. The one definition of what a run's record is: a
    column added to ``runs`` joins it by itself; a new table of per-run facts joins it by
    being passed here (from :meth:`Store._seal_run` and :meth:`Store._scan`)."""
    return _digest("run", _fields(row, "id"),
                   sorted(_fields(e, "run_id") for e in epochs))


def _row_checksum(table: str, row: Mapping[str, Any], *more: Any) -> str:
    """The checksum of a config, meta or study row (a study's with its list of configs)."""
    return _digest(table, _fields(row), *more)


def _text(raw: bytes) -> str:
    """TEXT as stored: bytes a flipped bit made invalid UTF-8 read as lone surrogates (which
    then fail their checksum or parse) instead of an error that hides the record's name."""
    return raw.decode("utf-8", "surrogateescape")


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
        raise StoreError.about("{path} is not a sweeplab store (not an SQLite database). It "
                               "was left untouched; pass {store} with another path.", path=path)
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
                             f"beside it ({_flat(err)}). It was left untouched; copy the store "
                             "with its -wal file to a writable place.") from err
        raise DamagedStoreError(f"{path} is damaged and cannot be read as a store "
                                f"({_flat(err)}). "
                                "It was left untouched. Restore it from a copy; `sweeplab "
                                f"check --store {path}` says which runs are still readable."
                                ) from err
    if app_id != APPLICATION_ID:
        if app_id == 0 and not tables:
            return False  # an empty SQLite database: safe to initialise
        raise StoreError.about(
            "{path} is an SQLite database but not a sweeplab store (application_id={app_id:#x}, "
            "tables: {tables}). It was left untouched; pass {store} with another path.",
            path=path, app_id=app_id, tables=", ".join(sorted(tables)) or "none")
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
            "and pass {store} with that path.")
    if path.exists() and not os.access(path, os.W_OK):
        raise StoreError.about("{path} is read-only: runs cannot be stored in it. It was left "
                               "untouched. " + hint, path=path)
    # WAL mode keeps STORE-wal and STORE-shm beside the store: the directory must be writable.
    if not _dir_writable(path):
        raise StoreError.about("Cannot write {path}: its directory is read-only (SQLite keeps "
                               "its write-ahead log beside the store). Nothing was changed. "
                               + (hint if path.exists() else "Pass {store} with a path in a "
                                  "writable directory."), path=path)


class Store:
    """An open run store. Use as a context manager, or call :meth:`close`."""

    def __init__(self, path: str | os.PathLike = DEFAULT_PATH, readonly: bool = False):
        self.path = Path(path)
        self.readonly = readonly
        if self.path.exists():
            if not self.path.is_file():
                raise StoreError.about("{path} is not a file. Pass {store} with a file path.",
                                       path=self.path)
            if not readonly:
                _check_writable(self.path)
            if not _inspect_existing(self.path) and readonly:
                raise StoreError.about("{path} holds no runs yet (an empty file, e.g. left by "
                                       "a run stopped before its first write). Run a study "
                                       "into it first, or pass {store:PATH}.", path=self.path)
        elif readonly:
            raise StoreError.about("No store at {path}. Run a study first, or pass "
                                   "{store:PATH}.", path=self.path)
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
            self._con.text_factory = _text
            self._records: _Records | None = None  # the verified records, read once
            if not readonly:
                self._migrate()
            else:
                self._read_old_schema()
        except sqlite3.OperationalError as err:
            raise self._error(err) from err
        except sqlite3.DatabaseError as err:
            raise _damaged_file(self.path, err) from err

    # --- lifecycle ------------------------------------------------------------------

    def close(self) -> None:
        self._con.close()

    def data_version(self) -> int:
        """A number that changes whenever another connection commits to the store (SQLite's
        ``PRAGMA data_version``): a reader's cheap way to see that it is out of date."""
        return int(self._con.execute("PRAGMA data_version").fetchone()[0])

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _error(self, err: sqlite3.Error) -> StoreError:
        msg = _flat(err)
        if "locked" in msg or "busy" in msg:
            return StoreError.about("{path} is locked by another process (waited {s:.0f} s). "
                                    "Wait for it to finish, or use another {store}.",
                                    path=self.path, s=BUSY_TIMEOUT_S)
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
        self._records = None
        try:
            self._con.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as err:
            raise self._error(err) from err
        try:
            yield self._con
        except sqlite3.OperationalError as err:  # e.g. a disk that filled up mid-write
            self._rollback()
            raise self._error(err) from err
        except sqlite3.DatabaseError as err:
            self._rollback()
            if type(err) is sqlite3.DatabaseError:  # damaged pages met while writing
                raise _damaged_file(self.path, err) from err
            raise
        except BaseException:
            self._rollback()
            raise
        finally:
            self._records = None
        try:  # a full disk often shows only here, when the WAL grows at COMMIT
            self._con.execute("COMMIT")
        except sqlite3.DatabaseError as err:
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
            # Read again under the write lock: another process opening a new or older store
            # at the same moment may have created or upgraded it since the read above.
            version = con.execute("PRAGMA user_version").fetchone()[0]
            if version == SCHEMA_VERSION:
                return
            if version == 0:
                _run_script(con, _SCHEMA_V1)
                con.execute(f"PRAGMA application_id={APPLICATION_ID}")
                con.executemany("INSERT INTO meta (key, value) VALUES (?, ?)",
                                [("application", "sweeplab"), ("created_at", _now())])
                version = 1
            for v in range(version + 1, SCHEMA_VERSION + 1):
                _run_script(con, MIGRATIONS[v])
            con.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            if version < CHECKSUMMED:  # checksums for the records that parse, the rest aside
                self._repair(con, seal=True)

    # --- studies and configs --------------------------------------------------------

    def save_study(self, name: str, definition: dict[str, Any],
                   configs: Sequence[tuple[str, str, str, dict[str, Any]]]) -> None:
        """Record a study and its configs: (hash, canonical JSON, label, axes) in grid order.

        The study's list of configs is replaced; configs and runs are never deleted.
        """
        now = _now()
        with self._write() as con:
            con.execute(
                "INSERT INTO studies (name, definition, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT(name) DO UPDATE SET "
                "definition=excluded.definition, updated_at=excluded.updated_at",
                (name, json.dumps(definition, sort_keys=True), now))
            con.execute("DELETE FROM study_configs WHERE study=?", (name,))
            for pos, (h, canonical, label, axes) in enumerate(configs):
                con.execute("INSERT OR IGNORE INTO configs (hash, canonical, created_at) "
                            "VALUES (?, ?, ?)", (h, canonical, now))
                con.execute("INSERT INTO study_configs VALUES (?, ?, ?, ?, ?)",
                            (name, h, pos, label, json.dumps(axes, sort_keys=True)))
                self._seal_config(con, h, canonical)
            self._seal_study(con, name)

    def archive_study(self, name: str) -> str | None:
        """Keep the study's current definition, its configs, adaptive-seed record and search
        state under ``NAME@N`` (the first free N), so that redefining ``name`` leaves its
        earlier runs listed; returns that name (None: the store has no such study). A
        search's Optuna journal, a file beside the store, is moved by the caller (api.run)."""
        with self._write() as con:
            row = con.execute("SELECT definition, updated_at FROM studies WHERE name=?",
                              (name,)).fetchone()
            if row is None:
                return None
            taken = {n for (n,) in con.execute("SELECT name FROM studies")}
            kept = next(f"{name}@{n}" for n in itertools.count(1) if f"{name}@{n}" not in taken)
            try:
                definition = {**_object(row[0]), "name": kept}
            except (ValueError, TypeError) as err:
                raise StoreError(f"{self.path}: the definition of study {name!r} is damaged "
                                 f"({_why(err)}); `sweeplab check --store {self.path} "
                                 "--repair` sets it aside.") from err
            con.execute("INSERT INTO studies (name, definition, updated_at) VALUES (?, ?, ?)",
                        (kept, json.dumps(definition, sort_keys=True), row[1]))
            con.execute("UPDATE study_configs SET study=? WHERE study=?", (kept, name))
            for what in ("adaptive", "search"):  # its adaptive-seed record, a search's state
                con.execute("UPDATE meta SET key=? WHERE key=?", (f"{what}:{kept}",
                                                                 f"{what}:{name}"))
                self._seal_meta(con, f"{what}:{kept}")
            self._seal_study(con, kept)
            self._seal_study(con, name)
        return kept

    def studies(self) -> list[StudyRow]:
        """Every study.

        Raises:
            StoreError: a study's record is damaged (which one, and what to do).
        """
        records = self._read()
        bad = next((d for d in records.damaged if d.what == "study"), None)
        if bad is not None:
            self._study(str(bad.name))
        return [row for row, _ in records.studies.values()]

    def study(self, name: str) -> StudyRow | None:
        """Raises:
            StoreError: the study's record is damaged."""
        return self._study(name)[0]

    def study_configs(self, name: str) -> list[StudyConfigRow]:
        return self._study(name)[1]

    def _study(self, name: str) -> tuple[StudyRow | None, list[StudyConfigRow]]:
        records = self._read()
        if name in records.studies:
            return records.studies[name]
        bad = next((d for d in records.damaged if d.what == "study" and d.name == name), None)
        if bad is not None:
            raise StoreError(f"{self.path}: the {bad.line()}; its runs are kept. Run "
                             f"`sweeplab check --store {self.path} --repair` to set it aside "
                             "(the next `sweeplab run` of the study writes it again), or "
                             f"restore {self.path} from a copy.")
        return None, []

    def config(self, hash_or_prefix: str) -> tuple[str, dict[str, Any]]:
        """A config by full hash or unique prefix: (hash, config dict).

        Raises:
            StoreError: no config, an ambiguous prefix, or a damaged definition.
        """
        records = self._read()
        rows = [h for h in records.configs if h.startswith(hash_or_prefix)]
        bad = [d for d in records.damaged if d.what == "config"
               and str(d.config_hash).startswith(hash_or_prefix)]
        if bad and len(rows) + len(bad) == 1:
            raise StoreError(f"{self.path}: the {bad[0].line()}; its runs are kept. Run its "
                             "study again (`sweeplab run STUDY`) to write it again, or restore "
                             f"{self.path} from a copy.")
        if not rows:
            raise StoreError(f"No config {hash_or_prefix!r} in {self.path}. "
                             "`sweeplab ls` lists them.")
        if len(rows) + len(bad) > 1:
            raise StoreError(f"Config prefix {hash_or_prefix!r} matches "
                             f"{len(rows) + len(bad)} configs: "
                             f"{', '.join(rows[:5])}. Give more digits.")
        return rows[0], records.configs[rows[0]]

    def configs(self) -> list[tuple[str, dict[str, Any]]]:
        """The configs whose definitions are intact, oldest first."""
        return list(self._read().configs.items())

    def set_meta(self, key: str, value: Any) -> None:
        """Store a JSON-able fact about the store (e.g. how an adaptive study stopped)."""
        with self._write() as con:
            con.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE "
                        "SET value=excluded.value", (key, json.dumps(value, sort_keys=True)))
            self._seal_meta(con, key)

    def get_meta(self, key: str) -> Any:
        """A fact set by :meth:`set_meta` (None: not set, or its record is damaged)."""
        return self._read().meta.get(key)

    # --- runs -----------------------------------------------------------------------

    def done_seeds(self, config_hash: str) -> set[int]:
        rows = self._con.execute("SELECT seed FROM runs WHERE config_hash=? AND status='done'",
                                 (config_hash,))
        return {r[0] for r in rows}

    def run_rows(self, config_hash: str | None = None) -> list[RunRow]:
        """The bookkeeping of the runs whose records are intact, by config and seed."""
        rows = self._read().rows
        return sorted((r for h in ([config_hash] if config_hash else list(rows))
                       for r in rows.get(h, [])), key=lambda r: (r.config_hash, r.seed))

    def counts(self, config_hashes: Iterable[str]) -> dict[str, dict[str, int]]:
        """Per config: how many runs are in each status.

        A ``running`` row whose process is gone (started on this host by a pid that no
        longer exists: Ctrl-C, kill -9, a crash) is counted as ``interrupted``; the next
        ``run`` trains it again. Rows from other hosts cannot be checked and stay
        ``running``. A run whose record is damaged counts as ``damaged``.
        """
        counts = self._read().counts
        return {h: dict(counts.get(h, {})) for h in config_hashes}

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
                " error=NULL, host=?, pid=?, checksum=NULL WHERE id=?",
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
            # Label sets are content-addressed in test_labels: the test set's, and the
            # validation split's (the same table; a split is a fixed subset of the data).
            labels_key, val_labels_key = (self._put_labels(con, y) for y in
                                          (result.test_labels, result.val_labels))
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
                "predictions=?, labels_key=?, val_predictions=?, val_labels_key=? WHERE id=?",
                (result.engine, _now(), result.wall_seconds, json.dumps(versions),
                 socket.gethostname(), os.getpid(),
                 json.dumps(np.asarray(result.confusion).astype(int).tolist()),
                 json.dumps(list(result.probe_untrained)), json.dumps(list(result.probe_trained)),
                 result.backend, result.device, result.node or socket.gethostname(),
                 result.model_path,
                 json.dumps(_jsonable(result.diagnostics), sort_keys=True, allow_nan=False)
                 if result.diagnostics else None,
                 None if result.predictions is None else pack_classes(result.predictions),
                 labels_key,
                 None if result.val_predictions is None
                 else pack_classes(result.val_predictions),
                 val_labels_key, run_id))
            self._seal_run(con, run_id)

    @staticmethod
    def _put_labels(con: sqlite3.Connection, labels: np.ndarray | None) -> str | None:
        """Keep a label set once (content-addressed); its key, None for no labels."""
        if labels is None:
            return None
        packed = pack_classes(labels)
        key = hashlib.sha256(packed).hexdigest()[:32]
        con.execute("INSERT OR IGNORE INTO test_labels VALUES (?, ?)", (key, packed))
        return key

    def set_model_path(self, config_hash: str, seed: int, path: str | None) -> None:
        """Record where a finished run's trained model was saved (sweeplab.saved_models).

        Raises:
            StoreError: the run is not done in this store.
        """
        with self._write() as con:
            row = con.execute("SELECT id, checksum FROM runs WHERE config_hash=? AND seed=? "
                              "AND status='done'", (config_hash, seed)).fetchone()
            if row is None:
                raise StoreError(f"run {config_hash[:10]}/seed {seed} is not done in "
                                 f"{self.path}; no model path recorded.")
            if row[1] is not None and self._run_digest(con, row[0]) != row[1]:
                raise StoreError(f"run {config_hash[:10]}/seed {seed} is damaged in "
                                 f"{self.path}; no model path recorded.")  # not sealed anew
            con.execute("UPDATE runs SET model_path=? WHERE id=?", (path, row[0]))
            self._seal_run(con, row[0])

    def fail_run(self, config_hash: str, seed: int, error: str) -> None:
        """Record why a run failed; it is tried again next time."""
        with self._write() as con:
            con.execute("UPDATE runs SET status='failed', finished_at=?, error=? "
                        "WHERE config_hash=? AND seed=? AND status!='done'",
                        (_now(), error[-4000:], config_hash, seed))

    def results(self, config_hash: str) -> list[RunResult]:
        """Every finished run of a config whose record is intact, by seed."""
        return list(self._read().results.get(config_hash, []))

    def damaged(self) -> list[Damaged]:
        """Every record that failed its checksum, did not parse or missed a field."""
        return list(self._read().damaged)

    @property
    def checksummed(self) -> bool:
        """Whether the store's records carry checksums (False: written before schema 5 and
        open read-only; the next ``run`` or ``check --repair`` adds them)."""
        return self._version() >= CHECKSUMMED

    # --- reading: every record verified ---------------------------------------------

    def _version(self) -> int:
        return self._query("PRAGMA main.user_version")[0]["user_version"]

    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Rows as dicts; pages SQLite cannot read become one line naming the file."""
        try:
            cur = self._con.execute(sql, args)
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        except sqlite3.DatabaseError as err:
            if isinstance(err, sqlite3.OperationalError) and any(
                    w in str(err) for w in ("locked", "busy", "disk is full", "I/O")):
                raise self._error(err) from err
            raise _damaged_file(self.path, err) from err

    def _read(self) -> _Records:
        """Every record of the store, verified, read once (again when another connection
        has written since: PRAGMA data_version)."""
        version = self._query("PRAGMA data_version")[0]["data_version"]
        if self._records is None or self._records.data_version != version:
            self._records = self._scan(version)
        return self._records

    def _scan(self, data_version: int) -> _Records:
        sealed = self._version() >= CHECKSUMMED
        out = _Records(data_version)

        def verify(checksum: Any, digest: Callable[[], str]) -> str | None:
            if not sealed:  # an older store: its records carry no checksums (yet)
                return None
            if checksum is None:
                return "no checksum" if sealed else None
            return None if digest() == checksum else "checksum mismatch"

        for row in self._query("SELECT * FROM meta"):
            why = verify(row.get("checksum"), lambda row=row: _row_checksum("meta", row))
            if why:
                out.damaged.append(Damaged("meta", why, name=str(row.get("key"))))
                continue
            try:
                out.meta[row["key"]] = json.loads(row["value"])
            except (ValueError, TypeError):
                out.meta[row["key"]] = row["value"]  # the plain strings written at creation
        listed: dict[Any, list[dict[str, Any]]] = {}
        for row in self._query("SELECT * FROM study_configs ORDER BY position"):
            listed.setdefault(row.get("study"), []).append(row)
        for row in self._query("SELECT * FROM studies ORDER BY name"):
            name, rows = row.get("name"), listed.get(row.get("name"), [])
            why = verify(row.get("checksum"), lambda row=row, rows=rows: _row_checksum(
                "studies", row, [_fields(r) for r in rows]))
            try:
                if why is None:
                    definition = json.loads(row["definition"])
                    if not isinstance(definition, dict):
                        raise ValueError("not a JSON object")
                    out.studies[name] = (
                        StudyRow(name, definition, row["updated_at"]),
                        [StudyConfigRow(r["study"], r["config_hash"], int(r["position"]),
                                        r["label"], _object(r["axes"])) for r in rows])
            except (ValueError, TypeError, KeyError) as err:
                why = f"does not parse ({_why(err)})"
            if why:
                out.damaged.append(Damaged("study", why, name=str(name)))
        for row in self._query("SELECT * FROM configs ORDER BY created_at, hash"):
            h = row.get("hash")
            why = verify(row.get("checksum"), lambda row=row: _row_checksum("configs", row))
            try:
                if why is None:
                    out.configs[h] = _object(row["canonical"])
            except (ValueError, TypeError) as err:
                why = f"does not parse ({_why(err)})"
            if why:
                out.damaged.append(Damaged("config", why, config_hash=str(h)))
        labels: dict[Any, Any] = {}  # key -> labels; a damaged set -> the reason
        for row in self._query("SELECT * FROM test_labels"):
            try:  # content-addressed: the key is the packed labels' sha256
                if hashlib.sha256(row["labels"]).hexdigest()[:32] != row["key"]:
                    raise ValueError("checksum mismatch")
                labels[row["key"]] = _unpack(row["labels"])
            except (ValueError, TypeError) as err:
                labels[row["key"]] = f"its test labels are damaged ({_why(err)})"
        epochs: dict[Any, list[dict[str, Any]]] = {}
        for e in self._query("SELECT * FROM epochs"):
            epochs.setdefault(e.get("run_id"), []).append(e)
        seen: dict[tuple[Any, Any], list[Any]] = {}
        for row in self._query("SELECT * FROM runs"):
            key, status = (row.get("config_hash"), row.get("seed")), row.get("status")
            eps = epochs.get(row.get("id"), [])
            why = verify(row.get("checksum"), lambda row=row, eps=eps: run_checksum(row, eps))
            if why == "no checksum" and status != "done":
                why = None  # a run not finished has no results to vouch for
            if why is None and status not in ("running", "done", "failed"):
                why = f"unknown status {status!r}"
            seen.setdefault(key, []).append(row.get("id"))
            result = None
            if why is None and status == "done":
                lkey, vkey = row.get("labels_key"), row.get("val_labels_key")
                test = labels.get(lkey, "its test labels are missing" if sealed else None)
                val = labels.get(vkey, "its validation labels are missing" if sealed else None)
                if lkey is not None and isinstance(test, str):
                    why = test
                elif vkey is not None and isinstance(val, str):
                    why = val.replace("test labels", "validation labels")
                else:
                    try:
                        result = _run_result(row, eps, None if lkey is None else test,
                                             None if vkey is None else val)
                    except (ValueError, TypeError, KeyError, OverflowError) as err:
                        why = f"does not parse ({_why(err)})"
            h = str(key[0])
            if why:
                out.damaged.append(Damaged("run", why, config_hash=h, seed=key[1],
                                           run_id=row.get("id")))
                status = "damaged"
            else:
                out.rows.setdefault(h, []).append(RunRow(
                    h, key[1], status, row["engine"], row["started_at"], row["finished_at"],
                    row["wall_seconds"], row["host"], row["error"], row.get("backend"),
                    row.get("device"), row.get("node")))
                if result is not None:
                    out.results.setdefault(h, []).append(result)
                if status == "running" and _owner_alive(row["host"], row["pid"]) is False:
                    status = "interrupted"
            n = out.counts.setdefault(h, {})
            n[status] = n.get(status, 0) + 1
        # A run read twice (a page linked twice) is no run: neither copy is counted.
        twice = {(str(h), seed): ids for (h, seed), ids in seen.items() if len(ids) > 1}
        for results in out.results.values():
            results[:] = sorted((r for r in results if (r.config_hash, r.seed) not in twice),
                                key=lambda r: r.seed)
        for rows in out.rows.values():
            rows[:] = [r for r in rows if (r.config_hash, r.seed) not in twice]
        out.damaged += [Damaged("run", "stored twice (the file's pages are damaged)",
                                config_hash=h, seed=seed, run_id=ids[0])
                        for (h, seed), ids in sorted(twice.items(), key=str)]
        return out

    # --- writing checksums ----------------------------------------------------------

    def _run_digest(self, con: sqlite3.Connection, run_id: int) -> str:
        row = _dict(con.execute("SELECT * FROM runs WHERE id=?", (run_id,)))[0]
        return run_checksum(row, _dict(con.execute("SELECT * FROM epochs WHERE run_id=?",
                                                   (run_id,))))

    def _seal_run(self, con: sqlite3.Connection, run_id: int) -> None:
        """The run's checksum, from its record as SQLite now holds it (read back, so the
        digest is of exactly what a later read will see), in the writing transaction."""
        con.execute("UPDATE runs SET checksum=? WHERE id=?",
                    (self._run_digest(con, run_id), run_id))

    def _seal_config(self, con: sqlite3.Connection, config_hash: str, canonical: str) -> None:
        """Seal a config; a stored definition that fails its checksum (or has none) is
        written again from ``canonical``, what its hash names."""
        row = _dict(con.execute("SELECT * FROM configs WHERE hash=?", (config_hash,)))[0]
        if row.get("checksum") is not None and \
                _row_checksum("configs", row) == row["checksum"]:
            return
        row["canonical"] = canonical
        con.execute("UPDATE configs SET canonical=?, checksum=? WHERE hash=?",
                    (canonical, _row_checksum("configs", row), config_hash))

    def _seal_study(self, con: sqlite3.Connection, name: str) -> None:
        rows = _dict(con.execute("SELECT * FROM studies WHERE name=?", (name,)))
        if rows:
            listed = _dict(con.execute("SELECT * FROM study_configs WHERE study=? "
                                       "ORDER BY position", (name,)))
            con.execute("UPDATE studies SET checksum=? WHERE name=?", (_row_checksum(
                "studies", rows[0], [_fields(r) for r in listed]), name))

    def _seal_meta(self, con: sqlite3.Connection, key: str) -> None:
        for row in _dict(con.execute("SELECT * FROM meta WHERE key=?", (key,))):
            con.execute("UPDATE meta SET checksum=? WHERE key=?",
                        (_row_checksum("meta", row), key))

    # --- check and repair -----------------------------------------------------------

    def check(self) -> StoreCheck:
        """SQLite's integrity_check, every checksum, every record parsed. Reads only."""
        problems = [str(r["integrity_check"]) for r in self._query("PRAGMA integrity_check")]
        problems = [p for p in problems if p != "ok"]
        self._records = None
        return StoreCheck(self.path, problems, self.damaged(), self.checksummed)

    def repair(self) -> list[Damaged]:
        """Set every damaged record aside (a copy in the ``damaged`` table) and mark damaged
        runs not done, so the next ``run`` trains exactly those again; add checksums to the
        records of an older store that parse. Returns what was set aside.

        Raises:
            StoreError: SQLite cannot read the file (restore it from a copy).
        """
        with self._write() as con:
            return self._repair(con, seal=False)

    def _repair(self, con: sqlite3.Connection, seal: bool) -> list[Damaged]:
        problems = [r[0] for r in con.execute("PRAGMA integrity_check")]
        if problems != ["ok"]:
            con.execute("REINDEX")  # indexes rebuilt from the tables (a damaged index)
        if seal:  # an older store: seal what parses; the scan then sets the rest aside
            for (run_id,) in con.execute("SELECT id FROM runs WHERE status='done' AND "
                                         "checksum IS NULL").fetchall():
                eps = _dict(con.execute("SELECT * FROM epochs WHERE run_id=?", (run_id,)))
                try:
                    _run_result(_dict(con.execute("SELECT * FROM runs WHERE id=?",
                                                  (run_id,)))[0], eps)
                except (ValueError, TypeError, KeyError, OverflowError):
                    continue
                self._seal_run(con, run_id)
            for (h, canonical) in con.execute("SELECT hash, canonical FROM configs WHERE "
                                              "checksum IS NULL").fetchall():
                with contextlib.suppress(ValueError, TypeError):
                    _object(canonical)
                    self._seal_config(con, h, canonical)
            for (name,) in con.execute("SELECT name FROM studies WHERE checksum IS NULL"
                                       ).fetchall():
                self._seal_study(con, name)
            for (key,) in con.execute("SELECT key FROM meta WHERE checksum IS NULL").fetchall():
                self._seal_meta(con, key)
        self._records = None
        damaged = self._scan(-1).damaged
        for d in damaged:
            record: dict[str, Any] = {}
            if d.what == "run" and d.run_id is not None:
                record = {"run": _dict(con.execute("SELECT * FROM runs WHERE id=?",
                                                   (d.run_id,))),
                          "epochs": _dict(con.execute("SELECT * FROM epochs WHERE run_id=?",
                                                      (d.run_id,)))}
                con.execute("UPDATE runs SET status='failed', checksum=NULL, error=? "
                            "WHERE id=?", (f"damaged in the store ({d.reason}); set aside by "
                                           "check --repair, trained again by the next run",
                                           d.run_id))
            elif d.what == "study":
                record = {"study": _dict(con.execute("SELECT * FROM studies WHERE name=?",
                                                     (d.name,))),
                          "configs": _dict(con.execute("SELECT * FROM study_configs WHERE "
                                                       "study=?", (d.name,)))}
                con.execute("DELETE FROM study_configs WHERE study=?", (d.name,))
                con.execute("DELETE FROM studies WHERE name=?", (d.name,))
            elif d.what == "meta":
                record = {"meta": _dict(con.execute("SELECT * FROM meta WHERE key=?",
                                                    (d.name,)))}
                con.execute("DELETE FROM meta WHERE key=?", (d.name,))
            else:  # a config: its runs stay; the next run of its study writes it again
                record = {"config": _dict(con.execute("SELECT * FROM configs WHERE hash=?",
                                                      (d.config_hash,)))}
            con.execute("INSERT INTO damaged (found_at, what, reason, record) VALUES "
                        "(?, ?, ?, ?)", (_now(), d.line(), d.reason,
                                         json.dumps(_canonical_record(record))))
        return damaged


def salvage(path: str | os.PathLike, why: str) -> StoreCheck:
    """For a file SQLite cannot read whole: the finished runs that can still be read one by
    one and verify (what the ``sqlite3`` shell's ``.recover`` would keep of the results).
    Reads only."""
    path = Path(path)
    readable: list[tuple[str, int]] = []
    lost: int | None = 0
    try:
        con = sqlite3.connect(f"file:{path.resolve()}?mode=ro", uri=True)
        con.text_factory = _text
        try:
            top, known = con.execute("SELECT max(id) FROM runs").fetchone()[0] or 0, True
        except sqlite3.Error:  # the runs table's root is lost: look run by run, and how
            top, known, lost = 10_000, False, None  # many runs there were is not known
        misses = 0
        for run_id in range(1, top + 1):
            if misses > 200 and not known:
                break
            try:
                rows = _dict(con.execute("SELECT * FROM runs WHERE id=?", (run_id,)))
            except sqlite3.Error:
                if known:
                    lost = (lost or 0) + 1
                else:  # no row read: whether this id was ever a run is not known
                    misses += 1
                continue
            if not rows:
                misses += 1
                continue
            row, misses = rows[0], 0
            try:
                eps = _dict(con.execute("SELECT * FROM epochs NOT INDEXED WHERE run_id=?",
                                        (run_id,)))
                if row.get("status") != "done":
                    continue
                if row.get("checksum") is not None and run_checksum(row, eps) != \
                        row["checksum"]:
                    raise ValueError("checksum mismatch")
                _run_result(row, eps)
                readable.append((row["config_hash"], row["seed"]))
            except (sqlite3.Error, ValueError, TypeError, KeyError, OverflowError):
                lost = None if lost is None else lost + 1
        con.close()
    except sqlite3.Error:
        lost = None
    return StoreCheck(path, [why], [], True, readable=readable, unreadable=lost)


def _dict(cur: sqlite3.Cursor) -> list[dict[str, Any]]:
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def _canonical_record(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _canonical_record(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical_record(v) for v in value]
    if isinstance(value, bytes):
        return {"blob": value.hex()}
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    return value


def _flat(err: Exception) -> str:
    """SQLite's message on one line (a damaged schema's error quotes its SQL, newlines too)."""
    return " ".join(str(err).split())


def _why(err: Exception) -> str:
    """An exception as a short phrase on one line."""
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text[:100]}"


def _object(text: Any) -> dict[str, Any]:
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError(f"not a JSON object: {str(text)[:40]!r}")
    return value


def _number(x: Any, name: str, optional: bool = False) -> float | None:
    if x is None and optional:
        return None
    if not isinstance(x, (int, float)) or isinstance(x, bool):
        raise ValueError(f"{name} is {x!r}, not a number")
    return x


def _numbers(text: Any, name: str) -> tuple[Any, ...]:
    value = json.loads(text)
    if not isinstance(value, list) or not all(
            v is None or isinstance(v, (int, float)) for v in value):
        raise ValueError(f"{name} is not a list of numbers")
    return tuple(value)


def _unpack(blob: Any) -> np.ndarray:
    """unpack_classes, any failure of damaged bytes a ValueError."""
    try:
        return unpack_classes(blob)
    except Exception as err:  # zlib.error, IndexError, TypeError: all mean damaged bytes
        raise ValueError(f"packed classes do not unpack ({type(err).__name__})") from err


def _run_result(row: Mapping[str, Any], epochs: Sequence[Mapping[str, Any]],
                test_labels: np.ndarray | None = None,
                val_labels: np.ndarray | None = None) -> RunResult:
    """A finished run from its stored record (and its test set's and validation split's
    labels, when kept).

    Raises:
        ValueError, TypeError, KeyError: the record does not parse or misses a field.
    """
    eps = sorted(epochs, key=lambda e: _number(e["epoch"], "epoch") or 0)
    if not eps or [e["epoch"] for e in eps] != list(range(len(eps))):
        raise ValueError(f"epochs {[e['epoch'] for e in eps]} are not 0..E")
    records = tuple(EpochRecord(e["epoch"], test_loss=_number(e["test_loss"], "test_loss"),
                                test_acc=_number(e["test_acc"], "test_acc"),
                                train_loss=_number(e["train_loss"], "train_loss", True),
                                train_acc=_number(e["train_acc"], "train_acc", True),
                                seconds=_number(e["seconds"], "seconds", True) or 0.0,
                                val_loss=_number(e.get("val_loss"), "val_loss", True),
                                val_acc=_number(e.get("val_acc"), "val_acc", True))
                    for e in eps)
    confusion = np.asarray(json.loads(row["confusion"]), dtype=np.int64)
    if confusion.ndim != 2 or confusion.shape[0] != confusion.shape[1]:
        raise ValueError(f"confusion has shape {confusion.shape}, not (k, k)")
    diagnostics = _object(row["diagnostics"]) if row.get("diagnostics") else {}
    if not isinstance(row["config_hash"], str) or not isinstance(row["seed"], int):
        raise TypeError("config hash or seed of the wrong type")
    pred = row.get("predictions")
    predictions = None if pred is None else _unpack(pred)
    if predictions is not None and test_labels is not None and \
            predictions.shape != test_labels.shape:
        raise ValueError(f"{len(predictions)} predictions for {len(test_labels)} test labels")
    vpred = row.get("val_predictions")
    val_predictions = None if vpred is None else _unpack(vpred)
    if val_predictions is not None and val_labels is not None and \
            val_predictions.shape != val_labels.shape:
        raise ValueError(f"{len(val_predictions)} validation predictions for "
                         f"{len(val_labels)} validation labels")
    return RunResult(row["config_hash"], row["seed"], row["engine"] or "", records, confusion,
                     _numbers(row["probe_untrained"], "probe_untrained"),
                     _numbers(row["probe_trained"], "probe_trained"),
                     _number(row["wall_seconds"], "wall_seconds", True) or 0.0,
                     backend=row.get("backend") or "", device=row.get("device") or "",
                     node=row.get("node") or "", diagnostics=diagnostics,
                     model_path=row.get("model_path"), predictions=predictions,
                     test_labels=test_labels, val_predictions=val_predictions,
                     val_labels=val_labels)


@dataclass
class _Records:
    """Every record of a store, verified (Store._scan)."""

    data_version: int  # PRAGMA data_version when read
    studies: dict[str, tuple[StudyRow, list[StudyConfigRow]]] = field(default_factory=dict)
    configs: dict[str, dict[str, Any]] = field(default_factory=dict)  # hash -> config
    meta: dict[str, Any] = field(default_factory=dict)
    results: dict[str, list[RunResult]] = field(default_factory=dict)  # hash -> done, by seed
    rows: dict[str, list[RunRow]] = field(default_factory=dict)  # hash -> bookkeeping
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # hash -> status -> n
    damaged: list[Damaged] = field(default_factory=list)


@dataclass(frozen=True)
class StoreCheck:
    """What :meth:`Store.check` found."""

    path: Path
    problems: list[str]  # SQLite's integrity_check lines (empty: its pages are sound)
    damaged: list[Damaged]  # records that failed their checksum or did not parse
    checksummed: bool  # False: an older store whose records carry no checksums yet
    readable: list[tuple[str, int]] | None = None  # SQLite cannot read the file whole:
    # the (config hash, seed) of the finished runs still readable one by one (salvage)
    unreadable: int | None = 0  # and how many run records could not be read or verify
    # (None: the runs table itself cannot be read, so how many runs it held is not known)

    @property
    def ok(self) -> bool:
        return not self.problems and not self.damaged

    def lines(self) -> list[str]:
        """What a user reads: one line per finding, then what to do."""
        if self.readable is not None:
            lost = (f"{self.unreadable} could not" if self.unreadable is not None else
                    "the runs table itself cannot be read, so how many runs are lost is not "
                    "known")
            runs = ", ".join(f"{h!s:.10}/seed {s}" for h, s in self.readable[:12])
            return [*self.problems,
                    f"{len(self.readable)} finished run(s) can still be read and verify "
                    f"(what the sqlite3 shell's `.recover` would keep of the results)"
                    f"{': ' + runs if runs else ''}{' ...' if len(self.readable) > 12 else ''}"
                    f"; {lost}. Restore {self.path} from a copy; "
                    "else `.recover` it into a new file and run the studies into that (runs "
                    "it lacks are trained again)."]
        out = [f"{self.path}: SQLite integrity_check: {p}" for p in self.problems[:20]]
        out += [f"{self.path}: damaged {d.line()}" for d in self.damaged]
        if not self.checksummed:
            out.append(f"{self.path}: written before checksums (store schema < "
                       f"{CHECKSUMMED}): records were parsed but cannot be verified; "
                       "`--repair` (or the next `sweeplab run`) adds checksums to those "
                       "that parse.")
        if self.ok:
            out.append(f"{self.path}: ok: pages sound, every record "
                       f"{'verified by its checksum and ' if self.checksummed else ''}parsed.")
        elif self.damaged:
            runs = sum(d.what == "run" for d in self.damaged)
            out.append(f"{len(self.damaged)} damaged record(s), {runs} of them run(s), left "
                       "out of every number. `sweeplab check --store PATH --repair` sets them "
                       "aside (runs marked not done: the next `sweeplab run` trains exactly "
                       "those again).")
        else:
            out.append("Restore the store from a copy, or `--repair` to rebuild its "
                       "indexes.")
        return out
