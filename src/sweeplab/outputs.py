"""Where outputs go: a name (study, config, axis, label) becomes a file name only through
:func:`safe_name` and :func:`child` (never a path outside the destination), an MLflow name
or key through :func:`mlflow_name`/:func:`mlflow_key`; destinations are checked before
work and files written whole (:func:`write_whole`)."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

MAX_COMPONENT = 80  # characters in a file or directory name made from a name (ASCII only)
MLFLOW_NAME_MAX = 500  # MLflow's limit on a run or experiment name
MLFLOW_KEY_MAX = 250  # MLflow's limit on a param, metric or tag key
_UNSAFE = re.compile(r"[^A-Za-z0-9._=,+@-]+")
_MLFLOW_KEY_UNSAFE = re.compile(r"[^A-Za-z0-9_\-. ]+")  # MLflow also allows "/", but
# then refuses "a//b", "a/" and "/a" as path-like: slashes in a user's text become "_"


class UnsafePathError(ValueError):
    """A name joined under a destination would land outside it."""


def _tag(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]


def safe_name(text: str, max_len: int = MAX_COMPONENT) -> str:
    """A readable file or directory name for ``text``: ``width=32, depth=2`` ->
    ``width=32,depth=2``.

    Runs of characters other than ``A-Za-z0-9._=,+@-`` (slashes, spaces, ``..`` at the ends)
    become one ``_``; when anything else was changed, or the name is longer than
    ``max_len``, ``~`` and a short hash of the whole text are appended, so two names
    that differ only in what was replaced still get two files. Never empty, ``.`` or ``..``.
    """
    compact = text.replace(", ", ",")
    out = _UNSAFE.sub("_", compact).strip("._") or "_"
    if out != compact or len(out) > max_len:
        out = out[:max_len - 9].rstrip("._") + "~" + _tag(text)
    return out


def child(base: str | os.PathLike, *names: str) -> Path:
    """``base / safe_name(n1) / safe_name(n2) ...``, checked to stay under ``base``.

    Raises:
        UnsafePathError: the path leaves ``base`` (safe names cannot; the last line of defence).
    """
    root = Path(base)
    out = root.joinpath(*(safe_name(n) for n in names))
    within(root, out)
    return out


def within(base: str | os.PathLike, path: str | os.PathLike) -> Path:
    """``path``, after checking that it resolves to ``base`` or below (links followed).

    Raises:
        UnsafePathError: it does not.
    """
    root = os.path.realpath(base)
    real = os.path.realpath(path)
    if os.path.commonpath([root, real]) != root:
        raise UnsafePathError(f"refusing to write {str(path)[:200]!r}: it is outside "
                              f"{str(base)[:200]!r}")
    return Path(path)


def shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters (with an ellipsis) for a title or a line."""
    return text if len(text) <= limit else text[:limit - 1] + "\u2026"


def mlflow_name(text: str) -> str:
    """``text`` fitted to MLflow's 500-character run and experiment names (cut, with a hash
    of the whole text so two long names stay apart)."""
    if len(text) <= MLFLOW_NAME_MAX:
        return text
    return text[:MLFLOW_NAME_MAX - 10] + " ~" + _tag(text)


def mlflow_key(text: str) -> str:
    """``text`` as an MLflow param or tag key: MLflow's allowed characters and at most 250
    of them, with a hash of the whole text appended where anything was changed."""
    out = _MLFLOW_KEY_UNSAFE.sub("_", text)
    out = out.replace("..", "_")  # MLflow refuses ".." (a path escape) and "."
    out = "_" if out in ("", ".") else out
    if out != text or len(out) > MLFLOW_KEY_MAX:
        out = out[:MLFLOW_KEY_MAX - 9] + "-" + _tag(text)  # "~" is not a key character
    return out


# --- destinations -----------------------------------------------------------------------


class OutputError(ValueError):
    """An output cannot be written where it was asked (a directory where a file goes, an
    unwritable or full disk, the store itself). One line naming the path and why."""


def full_disk_error(err: OSError, path: str | os.PathLike, what: str) -> OutputError:
    """``err`` from writing ``what`` at ``path`` as one line naming the path (and saying the
    disk is full when it is: ENOSPC, EDQUOT)."""
    import errno

    why = ("the disk is full" if err.errno in (errno.ENOSPC, errno.EDQUOT)
           else err.strerror or str(err))
    return OutputError(f"cannot write {what} {str(path)[:300]!r}: {why}")


def write_whole(path: str | os.PathLike, content: str | bytes) -> Path:
    """Write a user-facing file whole or not at all: to a temporary name beside it, flushed
    to disk, then renamed into place. A full disk or a crash leaves the file as it was (an
    earlier report stays readable), never half of the new one.

    Raises:
        OSError: as open/write/rename raise it; the temporary file is removed.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.partial-{os.getpid()}")
    data = content.encode("utf-8") if isinstance(content, str) else content
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def check_file_destination(path: str | os.PathLike, what: str, *,
                           may_exist: bool = True) -> Path:
    """Check before any work that ``what`` can be written as the file ``path``: not a
    directory, not an existing file when ``may_exist`` is False, its folder writable (or
    creatable), and (for a device such as /dev/full) writable now.

    Raises:
        OutputError: one line saying which of these fails.
    """
    p = Path(path)
    if not str(path).strip():
        raise OutputError(f"{what}: the path is empty. Give a file path.")
    if p.is_dir():
        raise OutputError(f"{what} {str(p)!r} is a directory; give a file path.")
    if p.exists() and not may_exist:
        raise OutputError(f"{what} {str(p)!r} already exists; give a new path or remove it.")
    if p.exists() and not p.is_file():  # a device or a pipe: try one byte now
        try:
            with open(p, "ab") as f:
                f.write(b"\n")
                f.flush()
        except OSError as err:
            raise full_disk_error(err, p, what) from err
        raise OutputError(f"{what} {str(p)!r} is not a regular file; give a file path.")
    check_dir_destination(_existing_parent(p.parent), f"the folder of {what}")
    return p


def check_dir_destination(path: str | os.PathLike, what: str) -> Path:
    """Check that ``what`` can be written under the directory ``path`` (created when
    missing): not a file, and its nearest existing folder writable.

    Raises:
        OutputError: one line saying which fails.
    """
    p = Path(path)
    if not str(path).strip():
        raise OutputError(f"{what}: the path is empty. Give a directory.")
    if p.exists() and not p.is_dir():
        raise OutputError(f"{what} {str(p)!r} is a file; give a directory (created when "
                          f"missing).")
    base = _existing_parent(p)
    if not base.is_dir():
        raise OutputError(f"{what} {str(p)!r} is under {str(base)!r}, which is a file.")
    if not os.access(base, os.W_OK | os.X_OK):
        raise OutputError(f"{what} {str(p)!r}: {str(base)!r} is not writable.")
    return p


def _existing_parent(p: Path) -> Path:
    p = Path(os.path.abspath(p))
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two paths name one existing file (links and relative paths followed)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_report_out(out: str | os.PathLike, fmt: str) -> Path:
    """Check a report's destination before it is built: HTML and ``*.md`` are files (not a
    directory, a device or an unwritable folder); any other Markdown destination is a
    folder (``report.md`` and ``img/`` in it), which must not be a file.

    Raises:
        OutputError: one line saying what is wrong.
    """
    if fmt == "md" and Path(out).suffix != ".md":
        return check_dir_destination(out, "the Markdown report folder (an existing file "
                                          "is refused; a .md path is a file)")
    return check_file_destination(out, "the report")


def new_files_removed(before: set[Path], *roots: Path) -> None:
    """Remove the files under ``roots`` (or the roots, if files) that are not in ``before``:
    what a write that failed halfway (a full disk) left behind."""
    for root in roots:
        paths = [root] if root.is_file() else list(root.rglob("*")) if root.is_dir() else []
        for p in paths:
            if p.is_file() and p not in before:
                p.unlink(missing_ok=True)


def files_under(*roots: Path) -> set[Path]:
    """Every file under ``roots`` (a root that is a file counts as itself)."""
    out: set[Path] = set()
    for root in roots:
        if root.is_file():
            out.add(root)
        elif root.is_dir():
            out.update(p for p in root.rglob("*") if p.is_file())
    return out
