"""The live progress line at the widths a terminal has: the bar, the count and the time left
stay visible from 60 columns up; labels give way first."""

import io
import re

import pytest

from sweeplab.progress import BAR_MIN, Progress

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
LONG = "conv=3x3-64,depth=4,dropout=0.25,lr=0.001 seed 12 epoch 5/5"  # a long config label


@pytest.mark.parametrize("columns", [60, 80, 120])
def test_terminal_line_keeps_bar_count_and_eta(columns, monkeypatch):
    monkeypatch.setenv("COLUMNS", str(columns))  # rich sizes a non-tty console from it
    out = io.StringIO()
    p = Progress("q7a-depth-sweep", 20, stream=out, mode="terminal")
    p.start(4)
    for e in range(1, 6):
        p.epoch("conv=3x3-64,depth=4,dropout=0.25,lr=0.001", 12, e, 5)
    p.run_done()
    p.close()
    # the last frame rich drew (Live redraws the same line in place)
    frames = [ANSI.sub("", f) for f in re.split(r"[\r\n]", out.getvalue())]
    last = [f for f in frames if "model-epochs" in f][-1].rstrip()
    assert len(last) < columns
    assert re.search(f"━{{{BAR_MIN // 4},}}", last)  # 5/20 done: a quarter of the bar, or more
    assert "─" in last  # and the rest of the bar, still to go
    assert " 5/20 model-epochs" in last
    assert re.search(r"ETA \d+m\d\ds", last)  # a rate is known after the first epoch
    assert "runs 1/4" in last
    assert (LONG in last) == (columns == 120)  # the long label only where it fits
    assert "q7a-depth-sweep" not in last  # the study's name comes last: no room left for it


def test_line_before_the_first_epoch_and_when_done():
    p = Progress("q1", 4, stream=io.StringIO(), mode="plain")
    p.start(2)
    first = p.text(60).plain
    assert "─" * BAR_MIN in first and "━" not in first and "0/4 model-epochs, ETA -" in first
    for e in (1, 2, 1, 2):
        p.epoch("base", 0, e, 2)
    done = p.text(60).plain
    assert "─" not in done and "4/4 model-epochs, ETA 0m00s" in done


@pytest.mark.parametrize("columns", [60, 120])
def test_a_note_is_a_second_line_cut_at_the_width(columns):
    """A search's state (candidates, budget, incumbent) goes below the bar: the bar's own
    line keeps its count and time left at any width, and the note never wraps."""
    p = Progress("q7s", 8, stream=io.StringIO(), mode="plain")
    p.start(4)
    p.epoch("w1=210, w2=48", 0, 1, 2)
    note = "27 candidates (23 dropped), 70/80 runs of the budget; incumbent " + "w" * 100
    p.set_note(note)
    bar, second = p.text(columns).plain.split("\n")
    assert " 1/8 model-epochs" in bar and len(bar) < columns
    assert second == note[:columns - 1]
    p.set_note("")
    assert "\n" not in p.text(columns).plain
