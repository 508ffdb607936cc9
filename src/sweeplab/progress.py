"""The study's progress bar, drawn by ``rich``: in a terminal, in Jupyter, or as one line.

One live bar per study: model-epochs done of total, runs done of total, model-epochs per
second, time left, and the config and seed being trained. Where it shows depends on where
the output goes:

- a terminal: rich's live bar, redrawn in place (``rich.progress.Progress``);
- a Jupyter kernel: one rich display (HTML) updated in place through its display id, so a
  saved notebook holds the final bar, not a stream of carriage returns; this needs no
  ipywidgets;
- anything else (a log file, CI): nothing while it runs, one line when it closes.
"""

from __future__ import annotations

import io
import sys
import time
from typing import Any, TextIO

REFRESH_S = 0.25  # at most this often is a Jupyter display updated (each is a message)


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
        self.t0 = time.perf_counter()
        self._bar: Any = None  # rich.progress.Progress once started
        self._task: Any = None
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
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        if self.mode == "terminal":
            console = Console(file=self.stream, force_terminal=True)
        else:  # rendered through IPython's display, never drawn by rich itself
            console = Console(file=io.StringIO(), force_jupyter=False, width=120)
        self._bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("model-epochs, runs {task.fields[runs]}, {task.fields[rate]}, ETA"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[current]}"),
            console=console,
            disable=self.mode == "jupyter",
            transient=False,
        )
        self._task = self._bar.add_task(self.study, total=max(self.total_epochs, 1),
                                        **self._fields())
        if self.mode == "terminal":
            self._bar.start()
        else:
            from IPython.display import display

            self._display = display(self._snapshot(), display_id=True)

    def epoch(self, label: str, seed: int, epoch: int, epochs: int) -> None:
        """One model-epoch finished (``epoch`` of ``epochs`` of ``label``, ``seed``)."""
        self.epochs_done += 1
        self.current = f"{label} seed {seed} epoch {epoch}/{epochs}"
        if self._bar is not None:
            self._bar.update(self._task, advance=1, **self._fields())
            self._draw()

    def skip(self, runs: int, epochs: int) -> None:
        """Runs this call will not train after all (finished or taken by another process)."""
        self.runs_total -= runs
        self.total_epochs -= runs * epochs
        if self._bar is not None and runs:
            self._bar.update(self._task, total=max(self.total_epochs, 1), **self._fields())
            self._draw()

    def run_done(self) -> None:
        """One run finished and is in the store."""
        self.runs_done += 1
        if self._bar is not None:
            self._bar.update(self._task, **self._fields())
            self._draw(force=True)

    def close(self) -> None:
        """Training ended (or was interrupted): leave the final state on screen."""
        if self._closed or not self.enabled:
            return
        self._closed = True
        if self._bar is not None:
            self._bar.update(self._task, **self._fields())
            if self.mode == "terminal":
                self._bar.stop()
            else:
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

    def _fields(self) -> dict[str, str]:
        rate = self.rate()
        return {"runs": f"{self.runs_done}/{self.runs_total}",
                "rate": f"{rate:.2f} model-epochs/s" if rate == rate else "- model-epochs/s",
                "current": self.current}

    def _snapshot(self) -> Any:
        """The bar as a rich renderable that Jupyter displays as HTML (rich's JupyterMixin)."""
        return self._bar.make_tasks_table(self._bar.tasks)

    def _draw(self, force: bool = False) -> None:
        if self._display is None:
            return  # the terminal bar redraws itself
        now = time.perf_counter()
        if force or now - self._last_draw >= REFRESH_S:
            self._last_draw = now
            self._display.update(self._snapshot())
