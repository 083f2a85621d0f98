"""The causes' boxes on the canvas, asked a stripe of rows at a time: which pixels they cover
(explained), and how many differing pixels each cause's boxes hold."""

from __future__ import annotations

import numpy as np

from .metric import CHANGED


class Cover:
    """Boxes of causes on a canvas, asked a stripe of rows at a time: which pixels they cover,
    and how many pixels whose bytes differ lie inside each cause's boxes. Boxes of cause -1 are
    the causes' consequences: covered (explained), not counted for any cause."""

    def __init__(
        self,
        boxes: list[tuple[int, tuple[int, int, int, int]]],
        causes: int,
        restyled: set[int] = frozenset(),  # type: ignore[assignment]
    ):
        self.restyled = restyled  # the causes that changed what is drawn in their boxes
        self.boxes = sorted(
            {(n, tuple(map(int, box))) for n, box in boxes if box[2] > 0 and box[3] > 0},
            key=lambda item: (item[1][1], item),
        )
        self.pixels = np.zeros(causes, dtype=np.int64)
        self.differing_covered = 0  # pixels inside any box whose bytes differ, each once
        self.covered = np.zeros(0, dtype=bool)
        self._exact = np.zeros(0, dtype=bool)
        self._causes = np.zeros(0, dtype=bool)

    def _clipped(self, top: int, bottom: int, width: int):
        """(cause, y0, y1, x0, x1) of each box's part in rows [top, bottom), stripe rows."""
        for n, (x, y, w, h) in self.boxes:
            if y >= bottom:
                break
            y0, y1 = max(y, top) - top, min(y + h, bottom) - top
            x0, x1 = max(x, 0), min(x + w, width)
            if y0 < y1 and x0 < x1:
                yield n, y0, y1, x0, x1

    def covered_rows(self, top: int, bottom: int, width: int) -> np.ndarray:
        """(rows, width): the pixels of rows [top, bottom) inside any box (nothing kept)."""
        covered = np.zeros((bottom - top, width), dtype=bool)
        for _, y0, y1, x0, x1 in self._clipped(top, bottom, width):
            covered[y0:y1, x0:x1] = True
        return covered

    def stripe(
        self,
        top: int,
        bottom: int,
        width: int,
        differing: np.ndarray | None = None,
        covered: np.ndarray | None = None,
    ):
        """Rows [top, bottom): ``covered`` (flat, per pixel; given, if ``covered_rows`` made it
        already) and, given the stripe-flat indices of the ``differing`` pixels, the count
        inside each cause's boxes added to ``pixels``."""
        rows = bottom - top
        known = covered is not None
        covered = covered if covered is not None else np.zeros((rows, width), dtype=bool)
        by_causes = np.zeros((rows, width), dtype=bool)
        restyled = np.zeros((rows, width), dtype=bool)
        exact: np.ndarray | None = None
        if differing is not None:
            flat = np.zeros(rows * width, dtype=bool)
            flat[differing] = True
            exact = flat.reshape(rows, width)
        for n, y0, y1, x0, x1 in self._clipped(top, bottom, width):
            if not known:
                covered[y0:y1, x0:x1] = True
            if n < 0:
                continue
            by_causes[y0:y1, x0:x1] = True
            if n in self.restyled:
                restyled[y0:y1, x0:x1] = True
            if exact is not None:
                self.pixels[n] += int(np.count_nonzero(exact[y0:y1, x0:x1]))
        self.covered = covered.reshape(-1)
        self._causes = by_causes.reshape(-1)
        self.restyled_mask = restyled.reshape(-1)
        self._exact = exact.reshape(-1) if exact is not None else np.zeros(0, dtype=bool)
        if exact is not None:
            self.differing_covered += int(np.count_nonzero(self._exact & self._causes))
        return self

    def differing_inside(self, states: np.ndarray) -> np.ndarray:
        """Stripe-flat indices of the pixels inside the boxes whose bytes differ but that are
        not counted as changed: a cause's change under the threshold, drawn softly."""
        if not self._exact.size:
            return np.zeros(0, dtype=np.int64)
        return np.flatnonzero(self._exact & self._causes & (states.reshape(-1) != CHANGED))
