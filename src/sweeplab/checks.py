"""Checks of what input arrays hold, not just their shape: shared by the datasets
(sweeplab.data) and ``predict``'s images (sweeplab.saved_models)."""

from __future__ import annotations

import numpy as np


def pixel_problem(x: np.ndarray, top: float | None) -> str | None:
    """None when every pixel of ``x`` is a finite number in [0, top] (any finite number for
    ``top=None``: data taken as given); else a sentence with the count of the others and the
    index of the first (image, row, column[, channel])."""
    if x.dtype == np.uint8 and (top is None or top >= 255):
        return None  # every uint8 is in range; the datasets' usual case costs nothing
    if np.issubdtype(x.dtype, np.floating):
        bad = ~np.isfinite(x) if top is None else ~np.isfinite(x) | (x < 0) | (x > top)
    elif np.issubdtype(x.dtype, np.integer) or x.dtype == bool:
        bad = np.zeros(x.shape, bool) if top is None else (x < 0) | (x > top)
    else:
        return f"pixels must be numbers; received dtype {x.dtype}"
    n = int(np.count_nonzero(bad))
    if not n:
        return None
    first = tuple(int(i) for i in np.unravel_index(int(np.argmax(bad)), x.shape))
    where = "" if top is None else f" in [0, {top:g}]"
    return (f"{n} pixel value(s) are not finite numbers{where} (the first at index "
            f"{first}: {x[first].item()!r})")
