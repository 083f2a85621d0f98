"""Changed pixels grouped on a grid: counts, sums and boxes per cell, added a stripe at a time,
and the regions the touching cells form; a stripe's states tallied in one compiled pass."""

from __future__ import annotations

import numpy as np
from numba import njit

from .metric import CHANGED, SUBTLE


class CellStats:
    """Pixel count, value sum and bounding box per grid cell, added a stripe at a time; cells
    that touch (8-connected) form one region."""

    def __init__(self, width: int, height: int, cell: int):
        self.cell = cell
        self.width = width
        self.cols = -(-width // cell)
        cells = self.cols * -(-height // cell)
        self.count = np.zeros(cells, dtype=np.int64)
        self.total = np.zeros(cells)
        self.min_x = np.full(cells, width, dtype=np.int64)
        self.min_y = np.full(cells, height, dtype=np.int64)
        self.max_x = np.full(cells, -1, dtype=np.int64)
        self.max_y = np.full(cells, -1, dtype=np.int64)

    def add(self, xs: np.ndarray, ys: np.ndarray, values: np.ndarray | None = None) -> None:
        if xs.size:
            self.add_flat(ys * self.width + xs, 0, self.width, values)

    def add_flat(
        self, flat: np.ndarray, top: int, width: int, values: np.ndarray | None = None
    ) -> None:
        """Add the pixels at ``flat`` indices of rows starting at canvas row ``top``."""
        if flat.size:
            _add_to_cells(
                flat,
                top,
                width,
                self.cell,
                self.cols,
                values if values is not None else _NO_VALUES,
                self.count,
                self.total,
                self.min_x,
                self.min_y,
                self.max_x,
                self.max_y,
            )

    def components(self):
        """(x, y, width, height, pixels, value sum) per region, largest first."""
        if not self.count.any():
            return []
        from scipy import ndimage  # imported here: only needed when something changed

        grid = (self.count > 0).reshape(-1, self.cols)
        labels, count = ndimage.label(grid, structure=np.ones((3, 3), dtype=bool))
        labels = labels.reshape(-1)
        used = labels > 0
        label = labels[used] - 1
        pixels = np.bincount(label, weights=self.count[used], minlength=count)
        totals = np.bincount(label, weights=self.total[used], minlength=count)
        min_x = np.full(count, np.iinfo(np.int64).max)
        min_y = min_x.copy()
        max_x = np.full(count, -1)
        max_y = max_x.copy()
        np.minimum.at(min_x, label, self.min_x[used])
        np.minimum.at(min_y, label, self.min_y[used])
        np.maximum.at(max_x, label, self.max_x[used])
        np.maximum.at(max_y, label, self.max_y[used])
        found = [
            (
                int(min_x[i]),
                int(min_y[i]),
                int(max_x[i] - min_x[i] + 1),
                int(max_y[i] - min_y[i] + 1),
                int(pixels[i]),
                float(totals[i]),
            )
            for i in range(count)
        ]
        found.sort(key=lambda r: (-r[4], r[1], r[0]))
        return found


_NO_VALUES = np.zeros(0)


@njit(nogil=True, cache=True)
def tally(states, common_rows, want_differing):
    """Of a stripe's raw states ((rows, width)): the flat indices of the changed, of the
    subtle and (``want_differing``) of all the differing pixels, the changed pixels per row, and
    the columns [x0, x1) the changed pixels of its first ``common_rows`` rows (those both
    images have) span ((width, 0) if none). One pass to count, one to fill."""
    rows, width = states.shape
    counts = np.zeros(rows, dtype=np.int64)
    marked = np.zeros(rows, dtype=np.bool_)
    subtle_count, differing_count = 0, 0
    for y in range(rows):
        for x in range(width):
            state = states[y, x]
            if state:
                marked[y] = True
                differing_count += 1
                if state == CHANGED:
                    counts[y] += 1
                elif state == SUBTLE:
                    subtle_count += 1
    changed = np.empty(counts.sum(), dtype=np.int64)
    subtle = np.empty(subtle_count, dtype=np.int64)
    differing = np.empty(differing_count if want_differing else 0, dtype=np.int64)
    n_changed, n_subtle, n_differing = 0, 0, 0
    x0, x1 = width, 0
    for y in range(rows):
        if not marked[y]:
            continue
        for x in range(width):
            state = states[y, x]
            if not state:
                continue
            if want_differing:
                differing[n_differing] = y * width + x
                n_differing += 1
            if state == CHANGED:
                changed[n_changed] = y * width + x
                n_changed += 1
                if y < common_rows:
                    x0, x1 = min(x0, x), max(x1, x + 1)
            elif state == SUBTLE:
                subtle[n_subtle] = y * width + x
                n_subtle += 1
    return changed, subtle, differing, counts, (x0, x1)


@njit(nogil=True, cache=True)
def _add_to_cells(
    flat, top, width, cell, cols, values, count, total, min_x, min_y, max_x, max_y
):  # fmt: skip
    """CellStats.add, compiled: one pass instead of a bincount and four ufunc.at."""
    weighted = values.size > 0
    row, row_start = -1, 0  # indices come sorted: the row is counted, not divided out
    for n in range(flat.size):
        if n == 0 or flat[n] >= row_start + width:
            row = flat[n] // width
            row_start = row * width
        x, y = flat[n] - row_start, row + top
        c = (y // cell) * cols + x // cell
        count[c] += 1
        if weighted:
            total[c] += values[n]
        min_x[c] = min(min_x[c], x)
        min_y[c] = min(min_y[c], y)
        max_x[c] = max(max_x[c], x)
        max_y[c] = max(max_y[c], y)
