"""The study's progress bar, drawn by ``rich``: in a terminal one line redrawn in place and
fitted to its width; in Jupyter one display updated through its id (no ipywidgets, and a
saved notebook holds the final bar); elsewhere (a log, CI) one line when it closes.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

REFRESH_S = 0.25  # at most this often is a Jupyter display updated (each is a message)
BAR_MIN, BAR_MAX = 10, 40  # the bar's width in columns: never less, and no more is useful
JUPYTER_WIDTH = 115  # columns of the line in a notebook: rich's own Jupyter width


def _in_jupyter() -> bool:
    """Whether we run inside a Jupyter kernel (where rich renders HTML, not a terminal)."""
    from rich.console import _is_jupyter

    return bool(_is_jupyter())


def _duration(s: float) -> str:
    s = int(round(s))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


class Progress:
    """Runs and model-epochs done for one study (the runner calls these methods).

    Args:
        study: the study's name, shown first.
        total_epochs: model-epochs this call will train (runs x epochs).
        enabled: False shows nothing at all (``quiet``).
        stream: where terminal and plain output go (default: standard error).
        mode: "auto" (decide from ``stream`` and the kernel), "terminal", "jupyter" or
            "plain"; tests set it to see each.
    """

    def __init__(self, study: str, total_epochs: int, enabled: bool = True,
                 stream: TextIO | None = None, mode: str = "auto"):
        if mode not in ("auto", "terminal", "jupyter", "plain"):
            raise ValueError(f"mode must be auto, terminal, jupyter or plain. "
                             f"Received: mode={mode!r}")
        self.study = study
        self.total_epochs = total_epochs
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        if mode == "auto":
            isatty = getattr(self.stream, "isatty", lambda: False)
            mode = "jupyter" if _in_jupyter() else "terminal" if isatty() else "plain"
        self.mode = mode
        self.epochs_done = 0
        self.runs_done = 0
        self.runs_total = 0
        self.current = ""
        self.note = ""  # a second line (a search: its candidates, budget and incumbent)
        self.t0 = time.perf_counter()
        self._bar: Any = None  # rich.live.Live in a terminal (True in Jupyter) once started
        self._display: Any = None  # IPython DisplayHandle in Jupyter
        self._last_draw = 0.0
        self._closed = False

    # --- the runner's interface -------------------------------------------------------

    def start(self, runs_total: int) -> None:
        """Training begins: ``runs_total`` runs, ``total_epochs`` model-epochs."""
        self.runs_total = runs_total
        self.t0 = time.perf_counter()
        if not self.enabled or self.mode == "plain":
            return
        if self.mode == "terminal":
            from rich.console import Console
            from rich.live import Live

            console = Console(file=self.stream, force_terminal=True)
            self._bar = Live(_Line(self), console=console, refresh_per_second=4)
            self._bar.start()
        else:  # Jupyter: one display updated in place, drawn at a fixed width
            from IPython.display import display

            self._bar = True
            self._display = display(self._snapshot(), display_id=True)

    def epoch(self, label: str, seed: int, epoch: int, epochs: int) -> None:
        """One model-epoch finished (``epoch`` of ``epochs`` of ``label``, ``seed``)."""
        self.epochs_done += 1
        self.current = f"{label} seed {seed} epoch {epoch}/{epochs}"
        self._draw()

    def skip(self, runs: int, epochs: int) -> None:
        """Runs this call will not train after all (finished or taken by another process)."""
        self.runs_total -= runs
        self.total_epochs -= runs * epochs
        if runs:
            self._draw()

    def run_done(self) -> None:
        """One run finished and is in the store."""
        self.runs_done += 1
        self._draw(force=True)

    def close(self) -> None:
        """Training ended (or was interrupted): leave the final state on screen."""
        if self._closed or not self.enabled:
            return
        self._closed = True
        if self.mode == "terminal" and self._bar is not None:
            self._bar.stop()  # draws the final state once more
        self._draw(force=True)
        if self.mode == "plain" and self.runs_total:
            self.stream.write(self.line() + "\n")
            self.stream.flush()

    # --- what is shown ----------------------------------------------------------------

    def rate(self) -> float:
        """Model-epochs per second since :meth:`start` (nan before the first epoch)."""
        elapsed = time.perf_counter() - self.t0
        return self.epochs_done / elapsed if self.epochs_done and elapsed > 0 else float("nan")

    def line(self) -> str:
        """The one-line account written where no live bar can be drawn."""
        elapsed = time.perf_counter() - self.t0
        rate = self.rate()
        return (f"{self.study}: {self.runs_done}/{self.runs_total} runs, "
                f"{self.epochs_done}/{self.total_epochs} model-epochs in {_duration(elapsed)}"
                + (f" ({rate:.2f} model-epochs/s)" if rate == rate else ""))

    def text(self, width: int) -> Any:
        """The bar's line fitted to ``width`` columns (a ``rich.text.Text``).

        The bar, the model-epoch count and the time left are always there; the runs count,
        the config being trained, the rate and the study's name follow as room allows, in
        that order of priority, so a narrow terminal drops the labels, never the bar. The
        :attr:`note`, where there is one, is a second line (cut at ``width``).
        """
        from rich.text import Text

        rate = self.rate()
        left = (self.total_epochs - self.epochs_done) / rate if rate == rate and rate else None
        eta = "-" if left is None else _duration(left)
        core = f" {self.epochs_done}/{self.total_epochs} model-epochs, ETA {eta}"
        extras = {"runs": f", runs {self.runs_done}/{self.runs_total}",
                  "current": f"  {self.current}" if self.current else "",
                  "rate": f", {rate:.2f} model-epochs/s" if rate == rate else "",
                  "study": f"{self.study} "}
        room = width - 1 - BAR_MIN - len(core)  # -1: a full-width line wraps in some terminals
        kept = set()
        for key, part in extras.items():  # by priority; a part that does not fit is left out
            if part and len(part) <= room:
                kept.add(key)
                room -= len(part)
        bar_w = BAR_MIN + max(0, min(room, BAR_MAX - BAR_MIN))
        done = round(bar_w * min(self.epochs_done / max(self.total_epochs, 1), 1.0))
        line = Text(no_wrap=True, overflow="crop")
        if "study" in kept:
            line.append(extras["study"], style="bold")
        line.append("━" * done, style="bar.complete" if done < bar_w else "bar.finished")
        line.append("─" * (bar_w - done), style="bar.back")  # a lighter line: seen without colour
        line.append(core)
        for key in ("runs", "rate", "current"):  # shown in reading order
            if key in kept:
                line.append(extras[key])
        if self.note:
            line.append("\n" + self.note[:width - 1])
        return line

    def _snapshot(self) -> Any:
        """The line as a rich renderable that Jupyter displays as HTML (rich's JupyterMixin)."""
        return self.text(JUPYTER_WIDTH)

    def set_note(self, note: str) -> None:
        """Show ``note`` on the line below the bar from now on."""
        self.note = note
        self._draw(force=True)

    def _draw(self, force: bool = False) -> None:
        if self._display is None:
            return  # the terminal bar redraws itself (rich's Live, 4 times a second)
        now = time.perf_counter()
        if force or now - self._last_draw >= REFRESH_S:
            self._last_draw = now
            self._display.update(self._snapshot())


class _Line:
    """What rich's Live redraws: the progress line at the terminal's current width."""

    def __init__(self, progress: Progress):
        self.progress = progress

    def __rich_console__(self, console: Any, options: Any) -> Any:
        yield self.progress.text(options.max_width)
