"""A newcomer's `make demo` on a fresh clone: seconds until the first epoch, and `.venv` size.

Clones this repository once per git ref given (e.g. `main` and `h22`) into a fresh folder,
runs `make demo DATA=...` there in a pseudo-terminal (so the live bar draws as a user sees it)
and stops at the first finished model-epoch the bar shows ("epoch 1/"). Refs run one after
the other, not side by side: two installs at once would share the disk and two cores.

    .venv/bin/python bench/first_epoch.py main h22 --data /work/shared/data
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path


def _du(path: Path) -> int:
    return int(subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True,
                              check=True).stdout.split()[0])


def measure(repo: Path, ref: str, data: str, timeout_s: float,
            keep: bool = False) -> tuple[float, int, str]:
    """Seconds from `make demo` to the first epoch, `.venv` bytes, and the output's tail."""
    work = Path(tempfile.mkdtemp(prefix=f"first_epoch_{ref}_"))
    clone = work / "clone"
    subprocess.run(["git", "clone", "--quiet", "--branch", ref, str(repo), str(clone)],
                   check=True)
    pid, fd = pty.fork()
    if pid == 0:  # the child: a newcomer's shell, without this venv on PATH
        os.chdir(clone)
        env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
        env["PATH"] = ":".join(p for p in env["PATH"].split(":") if ".venv" not in p)
        env["COLUMNS"] = "200"  # wide enough that the bar shows "seed S epoch 1/E"
        os.execvpe("make", ["make", "demo", f"DATA={data}"], env)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
    t0, out, seconds = time.perf_counter(), b"", float("nan")
    try:
        while time.perf_counter() - t0 < timeout_s:
            ready, _, _ = select.select([fd], [], [], 1.0)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the child closed the terminal: make ended
                break
            if not chunk:
                break
            out += chunk
            if b"epoch 1/" in out:
                seconds = time.perf_counter() - t0
                break
    finally:
        os.killpg(os.getpgid(pid), signal.SIGTERM) if _alive(pid) else None
        os.waitpid(pid, 0)
    size = _du(clone / ".venv")
    if keep:
        print(f"{ref}: clone kept at {clone}", file=sys.stderr)
    else:
        shutil.rmtree(work, ignore_errors=True)
    return seconds, size, out.decode(errors="replace")[-2000:]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("refs", nargs="+", help="git refs of this repository to clone and time")
    ap.add_argument("--data", default=os.environ.get("SWEEPLAB_DATA", "../shared/data"))
    ap.add_argument("--timeout", type=float, default=1200.0, help="seconds per ref")
    ap.add_argument("--keep", action="store_true", help="keep the clones (and their .venv)")
    args = ap.parse_args()
    repo = Path(__file__).resolve().parents[1]
    rows = []
    for ref in args.refs:
        seconds, size, tail = measure(repo, ref, os.path.abspath(args.data), args.timeout,
                                      args.keep)
        if seconds != seconds:
            print(f"{ref}: no epoch within {args.timeout:.0f} s; output ended with:\n{tail}",
                  file=sys.stderr)
        rows.append((ref, seconds, size))
        print(f"{ref:<12} first epoch after {seconds:7.1f} s   .venv {size / 1e9:5.2f} GB",
              flush=True)
    if len(rows) > 1:
        (a, ta, sa), (b, tb, sb) = rows[0], rows[-1]
        print(f"{b} / {a}: time {tb / ta:.2f}x, .venv size {sb / sa:.2f}x")


if __name__ == "__main__":
    main()
