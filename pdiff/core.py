"""The perceptual diff: two PNG screenshots in, a DiffResult out.

Pure and Django-free, so the local tool can use it without a server.

* Pixels are compared with pixelmatch's rules (``pdiff.metric``): OKLab HyAB by default, YIQ
  as pixelmatch 7.2.0 for builds that keep it; anti-aliased pixels are not counted. Counts are
  pixelmatch's exactly; the tests check that on its own fixtures and on real screenshots.
* Images of different sizes are padded with transparent pixels onto the larger canvas, so a
  page that grew shows its new strip as changed, and ``size_changed`` says so.
* Areas changed by less than the threshold everywhere but coherently (a button a shade darker,
  a card background from white to grey-50) are reported as ``subtle_regions``.
* Rows that moved (content inserted or removed above them) are found by aligning the rows of
  the two images (``pdiff.align``); ``aligned_changed_pixels`` counts what is left changed
  after that, and ``aligned_diff_png`` shows it. ``distortion`` stays unaligned.
* Both images are read a stripe of rows at a time (``pdiff.pngio``), so memory is bounded by
  the width of the images, not their height; a screenshot of up to 48 MP is decoded whole,
  which is faster and bounded by that size.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from . import align as alignment
from .metric import METRICS, Window, compare_rows, has_many_siblings
from .pngio import (
    MAX_PIXELS,
    PNG_SIGNATURE,
    DiffImageWriter,
    ImageDecodeError,
    PngRows,
    RowReader,
    bands,
    png_size,
)

__all__ = [
    "compare",
    "decode",
    "DiffResult",
    "Region",
    "SubtleRegion",
    "ImageDecodeError",
    "METRICS",
    "MAX_PIXELS",
    "PNG_SIGNATURE",
    "DEFAULT_THRESHOLD",
    "DEFAULT_METRIC",
    "SUBTLE_MIN_AREA",
]

DEFAULT_THRESHOLD = 0.1
DEFAULT_METRIC = "oklab"
# Side of the grid cells that group changed pixels into regions.
REGION_CELL = 32
# Subtle regions: pixels changed by less than the threshold but at least this much (OKLab
# HyAB; a 3-step change of an sRGB grey is 0.011, white -> Tailwind gray-50 is 0.020), in a
# flat area of both images, grouped on a grid of this cell size, at least this many pixels.
SUBTLE_MIN_DELTA = 0.012
SUBTLE_CELL = 8
SUBTLE_MIN_AREA = 400
# Pixels per stripe and image: the unit of work and of memory.
STRIPE_PIXELS = 4_000_000
MIN_STRIPE_ROWS = 64
# The first stripe's rows in a pass that stops at the first change over its limit.
FIRST_STRIPE_ROWS = 128
# Rows of context a stripe needs on either side (the anti-aliasing test looks 2 rows away).
_CONTEXT = 2

_SAME, _SUBTLE, _CHANGED = 0, 1, 2


@dataclasses.dataclass(frozen=True)
class Region:
    x: int
    y: int
    width: int
    height: int
    changed_pixels: int

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class SubtleRegion:
    """A coherent area whose pixels all changed by less than the threshold."""

    x: int
    y: int
    width: int
    height: int
    pixels: int
    mean_delta: float  # mean OKLab HyAB distance of its pixels (black↔white is 1)

    def as_dict(self) -> dict:
        return {**dataclasses.asdict(self), "mean_delta": round(self.mean_delta, 4)}


@dataclasses.dataclass(frozen=True)
class DiffResult:
    changed_pixels: int
    total_pixels: int
    before_size: tuple[int, int]
    after_size: tuple[int, int]
    regions: list[Region]
    diff_png: bytes | None
    threshold: float
    identical_bytes: bool = False
    metric: str = DEFAULT_METRIC
    subtle_regions: list[SubtleRegion] = dataclasses.field(default_factory=list)
    shifts: list[alignment.Shift] = dataclasses.field(default_factory=list)
    aligned_changed_pixels: int | None = None  # None: nothing moved, same as changed_pixels
    changed_blocks: list[tuple[int, int]] = dataclasses.field(default_factory=list)
    aligned_diff_png: bytes | None = None
    # The diff image's top ``diff_top_rows`` rows as (rows, width, 3) RGB, when asked for and
    # there is a diff image: a thumbnail is made of it without decoding diff_png again.
    diff_top: np.ndarray | None = dataclasses.field(default=None, compare=False, repr=False)
    # The compare stopped once the changes were over ``stop_over``: the counts are a lower
    # bound, and the pair is certainly not within that tolerance.
    partial: bool = False

    @property
    def distortion(self) -> float:
        """Changed pixels as a fraction of the (padded) canvas, 0..1, before any alignment."""
        return self.changed_pixels / self.total_pixels if self.total_pixels else 0.0

    @property
    def size_changed(self) -> bool:
        return self.before_size != self.after_size

    @property
    def differs(self) -> bool:
        return self.changed_pixels > 0 or self.size_changed or bool(self.subtle_regions)

    @property
    def summary(self) -> str:
        size = (
            (self.before_size[1], self.after_size[1])
            if self.before_size[1] != self.after_size[1]
            else None
        )
        line = alignment.summary(self.changed_blocks, self.shifts, self.after_size[1], size)
        if self.subtle_regions:
            count = len(self.subtle_regions)
            subtle = f"{count} subtle colour change{'s' if count != 1 else ''}"
            line = subtle if line == "no change" else f"{line}; {subtle}"
        return line

    def within(self, tolerance: float) -> bool:
        """Whether a build that tolerates ``tolerance`` (a share of changed pixels) would call
        this unchanged. A size change or a subtle region is never tolerated."""
        if not self.differs:
            return True
        return not self.size_changed and not self.subtle_regions and self.distortion <= tolerance

    def as_dict(self) -> dict:
        """Everything but the PNG bytes, JSON-ready."""
        return {
            "changed_pixels": self.changed_pixels,
            "total_pixels": self.total_pixels,
            "distortion": self.distortion,
            "size_changed": self.size_changed,
            "before_size": list(self.before_size),
            "after_size": list(self.after_size),
            "threshold": self.threshold,
            "metric": self.metric,
            "identical_bytes": self.identical_bytes,
            "regions": [r.as_dict() for r in self.regions],
            "subtle_regions": [r.as_dict() for r in self.subtle_regions],
            "shifts": [s.as_dict() for s in self.shifts],
            "aligned_changed_pixels": (
                self.changed_pixels
                if self.aligned_changed_pixels is None
                else self.aligned_changed_pixels
            ),
            "changed_blocks": [list(b) for b in self.changed_blocks],
            "summary": self.summary,
        }


def compare(
    before,
    after,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    metric: str = DEFAULT_METRIC,
    include_aa: bool = False,
    make_diff_png: bool = True,
    subtle: bool = True,
    subtle_min_area: int = SUBTLE_MIN_AREA,
    align: bool = True,
    ignore: Sequence[tuple[int, int, int, int]] = (),
    stop_over: float | None = None,
    diff_top_rows: int = 0,
) -> DiffResult:
    """Compare two PNG screenshots (bytes, or paths to them).

    ``threshold`` is pixelmatch's: 0 counts any colour change, 1 almost none; ``metric`` is
    "oklab" (pixelmatch main) or "yiq" (pixelmatch 7.2.0). ``include_aa`` counts anti-aliased
    pixels as changes too. ``subtle`` looks for coherent changes under the threshold of at
    least ``subtle_min_area`` pixels; ``align`` looks for rows that moved. Pixels inside the
    ``ignore`` boxes (x, y, width, height; a page's noise) are never counted. With
    ``stop_over`` (a share of changed pixels, as a tolerance is), the pass stops at the first
    stripe past which more than that share has changed (``partial``: only "it differs" is
    known), so a question that needs no more than that is answered without reading the rest.
    ``diff_top_rows``: keep that many rows of the diff image's top as RGB in ``diff_top``.
    """
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be between 0 and 1, got {threshold}")
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
    before_bytes = _read(before, "before")
    after_bytes = _read(after, "after")

    if before_bytes == after_bytes:
        size = png_size(before_bytes, "before")
        return DiffResult(
            0,
            size[0] * size[1],
            size,
            size,
            [],
            None,
            threshold,
            identical_bytes=True,
            metric=metric,
        )

    src1, src2 = PngRows(before_bytes, "before"), PngRows(after_bytes, "after")
    run = _Comparison(
        src1,
        src2,
        threshold=threshold,
        metric=metric,
        include_aa=include_aa,
        subtle=subtle,
        make_png=make_diff_png,
        keep_rows=diff_top_rows,
        ignore=ignore,
        align=align,
    )
    run.first_pass(None if stop_over is None else stop_over * run.width * run.height)
    shifts: list[alignment.Shift] = []
    aligned_changed = None
    aligned_png = None
    blocks = alignment.changed_blocks(run.row_changes)
    if align and run.changed and not run.stopped:
        moved = alignment.align(*run.row_keys())
        if moved.shifts:
            aligned_changed, aligned_rows, aligned_png, aligned_subtle = run.aligned_pass(moved)
            blocks = alignment.changed_blocks(aligned_rows)
            shifts = moved.reported_shifts(blocks)
            run.subtle_cells = aligned_subtle
    subtle_regions = run.subtle_regions(subtle_min_area)
    has_diff_png = bool(run.changed or subtle_regions)
    return DiffResult(
        run.changed,
        run.width * run.height,
        (src1.width, src1.height),
        (src2.width, src2.height),
        run.regions(),
        run.diff_png if has_diff_png else None,
        threshold,
        metric=metric,
        subtle_regions=subtle_regions,
        shifts=shifts,
        aligned_changed_pixels=aligned_changed,
        changed_blocks=blocks,
        aligned_diff_png=aligned_png,
        partial=run.stopped,
        diff_top=run.diff_top if has_diff_png else None,
    )


def decode(data: bytes, label: str = "image") -> np.ndarray:
    """A whole PNG as a (height, width, 4) uint8 RGBA array, read the way compare() reads it
    (for callers that want the pixels; compare() itself never holds a whole image)."""
    rows = PngRows(data, label)
    return np.concatenate(list(rows.stripes(max(1, STRIPE_PIXELS // rows.width))))


class _CellStats:
    """Pixel count, value sum and bounding box per grid cell, added a stripe at a time; cells
    that touch (8-connected) form one region."""

    def __init__(self, width: int, height: int, cell: int):
        self.cell = cell
        self.cols = -(-width // cell)
        cells = self.cols * -(-height // cell)
        self.count = np.zeros(cells, dtype=np.int64)
        self.total = np.zeros(cells)
        self.min_x = np.full(cells, width, dtype=np.int64)
        self.min_y = np.full(cells, height, dtype=np.int64)
        self.max_x = np.full(cells, -1, dtype=np.int64)
        self.max_y = np.full(cells, -1, dtype=np.int64)

    def add(self, xs: np.ndarray, ys: np.ndarray, values: np.ndarray | None = None) -> None:
        if not xs.size:
            return
        cells = (ys // self.cell) * self.cols + xs // self.cell
        self.count += np.bincount(cells, minlength=self.count.size)
        if values is not None:
            self.total += np.bincount(cells, weights=values, minlength=self.total.size)
        np.minimum.at(self.min_x, cells, xs)
        np.minimum.at(self.min_y, cells, ys)
        np.maximum.at(self.max_x, cells, xs)
        np.maximum.at(self.max_y, cells, ys)

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


class _Comparison:
    """One compare(): the unaligned pass over both images, and the aligned pass if rows moved."""

    def __init__(
        self,
        src1: PngRows,
        src2: PngRows,
        *,
        threshold: float,
        metric: str,
        include_aa: bool,
        subtle: bool,
        make_png: bool,
        keep_rows: int = 0,
        ignore=(),
        align=True,
    ):
        self.src1, self.src2 = src1, src2
        self.ignore = [tuple(map(int, box)) for box in ignore]
        self.align = align
        self.width = max(src1.width, src2.width)
        self.height = max(src1.height, src2.height)
        self.stripe_rows = max(MIN_STRIPE_ROWS, STRIPE_PIXELS // self.width)
        self.threshold, self.metric, self.include_aa = threshold, metric, include_aa
        self.subtle = subtle
        self.make_png = make_png
        self.keep_rows = keep_rows
        self.changed = 0
        self.stopped = False
        self.row_changes = np.zeros(self.height, dtype=np.int64)
        self.changed_cells = _CellStats(self.width, self.height, REGION_CELL)
        self.subtle_cells = _CellStats(self.width, self.height, SUBTLE_CELL)
        # Columns of the pixels changed in rows both images have (not a size change's strip).
        self.common_height = min(src1.height, src2.height)
        self.span = (self.width, 0)
        self.bands1: list[np.ndarray] = []
        self.bands2: list[np.ndarray] = []
        self.diff_png: bytes | None = None
        self.diff_top: np.ndarray | None = None

    def first_pass(self, stop_over_pixels: float | None = None) -> None:
        writer = DiffImageWriter(self.width, self.height, self.keep_rows) if self.make_png else None
        # A pass that may stop early starts with small stripes (most changed pages show it
        # in their first rows) and grows them, so a pass that does not stop costs about the same.
        first_rows = FIRST_STRIPE_ROWS if stop_over_pixels is not None else None
        reader1 = RowReader(self.src1, self.width, self.stripe_rows, first_rows)
        reader2 = RowReader(self.src2, self.width, self.stripe_rows, first_rows)
        for top, bottom in bands(self.height, self.stripe_rows, first_rows):
            win = self._window(reader1, reader2, top, bottom, 0)
            first = top - win.top
            if self.align:
                rows1 = win.img1[first : first + _real(self.src1, top, bottom)]
                rows2 = win.img2[first : first + _real(self.src2, top, bottom)]
                self.bands1.append(alignment.band_hashes(rows1))
                # Most stripes of a pair are the same bytes on both sides: hash them once.
                same = rows1.shape == rows2.shape and np.array_equal(rows1, rows2)
                self.bands2.append(self.bands1[-1] if same else alignment.band_hashes(rows2))
            states, deltas = self._states(win, first, first + bottom - top)
            self._mask_ignored(states, top)
            changed = np.flatnonzero(states == _CHANGED)
            self._record(changed, top, self.changed_cells)
            if self.subtle:
                subtle = np.flatnonzero(states == _SUBTLE)
                self._record(subtle, top, self.subtle_cells, deltas.reshape(-1)[subtle])
            self.row_changes[top:bottom] = np.bincount(
                changed // self.width, minlength=bottom - top
            )
            both = changed[changed < (self.common_height - top) * self.width]
            if both.size:
                xs = both % self.width
                self.span = (min(self.span[0], int(xs.min())), max(self.span[1], int(xs.max()) + 1))
            self.changed += changed.size
            if writer:
                writer.add(win.img2[first : first + bottom - top], changed)
            if stop_over_pixels is not None and self.changed > stop_over_pixels:
                self.stopped = True
                return
        if writer:
            self.diff_png = writer.finish()
            self.diff_top = writer.top

    def aligned_pass(self, moved: alignment.Alignment):
        """Compare again with the moved rows lined up. A new row equal to an old one at its
        block's offset is unchanged. In the rows between blocks, a pixel of the new image counts
        only if it differs at every nearby offset (a fixed sidebar next to moved content is
        unchanged), and so does a pixel of the old image (text that was removed), placed where
        it would be in the new image."""
        width = self.width
        removed = np.zeros((self.height, -(-width // 8)), dtype=np.uint8)  # a bit per pixel
        for top, states, _ in self._unexplained(
            self.src1, self.src2, moved.old_open_segments(self.src1.height)
        ):
            for start, end, _, carry in moved.old_open_segments(self.src1.height):
                lo, hi = max(start, top), min(end, top + len(states))
                if lo >= hi:
                    continue
                rows = states[lo - top : hi - top] == _CHANGED
                new_lo, new_hi = max(lo + carry, 0), min(hi + carry, self.height)
                if new_lo < new_hi:
                    removed[new_lo:new_hi] |= np.packbits(
                        rows[new_lo - lo - carry : new_hi - lo - carry], axis=1
                    )

        rows_changed = np.zeros(self.height, dtype=np.int64)
        subtle_cells = _CellStats(width, self.height, SUBTLE_CELL)
        writer = DiffImageWriter(width, self.height) if self.make_png else None
        total = 0
        for top, states, deltas in self._unexplained(
            self.src2, self.src1, moved.open_segments(self.src2.height), new_rows=writer is not None
        ):
            rows = len(states)
            mask = (states == _CHANGED) | np.unpackbits(
                removed[top : top + rows], axis=1, count=width
            ).astype(bool)
            mask[max(self.src2.height - top, 0) :] = False  # rows the new page does not have
            changed = np.flatnonzero(mask)
            total += changed.size
            rows_changed[top : top + rows] = np.bincount(changed // width, minlength=rows)
            if self.subtle:
                subtle = np.flatnonzero(states == _SUBTLE)
                self._record(subtle, top, subtle_cells, deltas.reshape(-1)[subtle])
            if writer:
                writer.add(self._last_rows, changed)
        # Kept even when nothing is left: "only moved" is worth seeing.
        png = writer.finish() if writer else None
        return total, rows_changed, png, subtle_cells

    def _unexplained(self, this: PngRows, other: PngRows, segments, new_rows: bool = False):
        """Per stripe of ``this`` image's canvas rows: (top, states, deltas) where the rows in
        ``segments`` are compared with ``other`` at each candidate offset and keep the smallest
        state (a pixel that matches anywhere near is explained), and all other rows are _SAME.
        With ``new_rows``, ``self._last_rows`` holds the stripe's rows of ``this``."""
        mine = RowReader(this, self.width, self.stripe_rows)
        theirs = RowReader(other, self.width, self.stripe_rows)
        for top in range(0, self.height, self.stripe_rows):
            bottom = min(top + self.stripe_rows, self.height)
            rows = bottom - top
            states = np.zeros((rows, self.width), dtype=np.uint8)
            deltas = np.zeros((rows, self.width), dtype=np.float32)
            stripe_lo = max(top - _CONTEXT, 0)
            stripe = mine.rows(stripe_lo, min(bottom + _CONTEXT, self.height))
            for start, end, dys, _ in segments:
                lo, hi = max(start, top), min(end, bottom)
                if lo >= hi:
                    continue
                ctx_lo, ctx_hi = max(lo - _CONTEXT, 0), min(hi + _CONTEXT, self.height)
                # The other image's rows every candidate offset needs, read once.
                other_lo = ctx_lo - max(dys)
                other_rows = theirs.rows(other_lo, ctx_hi - min(dys))
                here = stripe[ctx_lo - stripe_lo : ctx_hi - stripe_lo]
                first = lo - ctx_lo

                def facing(
                    dy,
                    ctx_lo=ctx_lo,
                    ctx_hi=ctx_hi,
                    other_lo=other_lo,
                    other_rows=other_rows,
                    here=here,
                ):
                    """The other image's rows that face [ctx_lo, ctx_hi) at offset dy."""
                    start = ctx_lo - dy - other_lo
                    there = np.ascontiguousarray(other_rows[start : start + ctx_hi - ctx_lo])
                    return Window(there, here, ctx_lo, self.height)

                # The likeliest offset first; the others only for the pixels still open.
                best_states, best_deltas = self._states(facing(dys[0]), first, first + hi - lo)
                best_states, best_deltas = best_states.reshape(-1), best_deltas.reshape(-1)
                for dy in dys[1:]:
                    open_ = np.flatnonzero(best_states)
                    if not open_.size:
                        break
                    s, d = self._states(
                        facing(dy), first, first + hi - lo, only=open_ + first * self.width
                    )
                    take = s < best_states[open_]
                    best_states[open_[take]] = s[take]
                    best_deltas[open_[take]] = d[take]
                states[lo - top : hi - top] = best_states.reshape(hi - lo, self.width)
                deltas[lo - top : hi - top] = best_deltas.reshape(hi - lo, self.width)
            if new_rows:
                self._last_rows = stripe[top - stripe_lo : bottom - stripe_lo]
            if this is self.src2:
                self._mask_ignored(states, top)
            yield top, states, deltas

    def _mask_ignored(self, states: np.ndarray, top: int) -> None:
        """Clear the states of new-image rows [top, top + len(states)) inside ignored boxes."""
        for x, y, width, height in self.ignore:
            lo, hi = max(y - top, 0), min(y + height - top, len(states))
            if lo < hi:
                states[lo:hi, max(x, 0) : x + width] = _SAME

    def row_keys(self) -> tuple[list[int], list[int]]:
        """Row keys of both images over the columns where something changed."""
        x0, x1 = self.span if self.span[0] < self.span[1] else (0, self.width)
        return (
            alignment.row_keys(np.concatenate(self.bands1), x0, x1),
            alignment.row_keys(np.concatenate(self.bands2), x0, x1),
        )

    def regions(self) -> list[Region]:
        return [Region(x, y, w, h, n) for x, y, w, h, n, _ in self.changed_cells.components()]

    def subtle_regions(self, min_area: int) -> list[SubtleRegion]:
        if not self.subtle:
            return []
        return [
            SubtleRegion(x, y, w, h, n, total / n)
            for x, y, w, h, n, total in self.subtle_cells.components()
            if n >= min_area
        ]

    def _window(
        self, reader1: RowReader, reader2: RowReader, top: int, bottom: int, dy: int
    ) -> Window:
        """Canvas rows [top, bottom) of the new image and the old rows ``dy`` above them, with
        context rows."""
        lo, hi = max(top - _CONTEXT, 0), min(bottom + _CONTEXT, self.height)
        return Window(reader1.rows(lo - dy, hi - dy), reader2.rows(lo, hi), lo, self.height)

    def _states(self, win: Window, first: int, last: int, only: np.ndarray | None = None):
        """Per pixel of window rows [first, last): _CHANGED (counted), _SUBTLE (under the
        threshold but clearly and flatly changed) or _SAME; and the subtle pixels' distance.
        With ``only`` (window-flat indices in those rows), for just those pixels, in order."""
        rows = last - first
        offset = first * win.width
        verdict = compare_rows(
            win,
            first,
            last,
            want_below=self.subtle,
            only=only,
            metric=self.metric,
            threshold=self.threshold,
            include_aa=self.include_aa,
        )
        if only is not None:
            states = np.zeros(only.size, dtype=np.uint8)
            deltas = np.zeros(only.size, dtype=np.float32)
            states[np.searchsorted(only, verdict.changed)] = _CHANGED
            if self.subtle and verdict.below.size:
                idx, delta = self._subtle_pixels(win, verdict)
                states[np.searchsorted(only, idx)] = _SUBTLE
                deltas[np.searchsorted(only, idx)] = delta
            return states, deltas
        states = np.zeros(rows * win.width, dtype=np.uint8)
        deltas = np.zeros(rows * win.width, dtype=np.float32)
        states[verdict.changed - offset] = _CHANGED
        if self.subtle and verdict.below.size:
            idx, delta = self._subtle_pixels(win, verdict)
            states[idx - offset] = _SUBTLE
            deltas[idx - offset] = delta
        return states.reshape(rows, win.width), deltas.reshape(rows, win.width)

    @staticmethod
    def _subtle_pixels(win: Window, verdict) -> tuple[np.ndarray, np.ndarray]:
        """The pixels under the threshold that changed clearly, in a flat area of both images
        (not an anti-aliased edge), with their distance."""
        clear = verdict.below_delta >= SUBTLE_MIN_DELTA
        idx, delta = verdict.below[clear], verdict.below_delta[clear]
        flat = has_many_siblings(win, win.a32, idx) & has_many_siblings(win, win.b32, idx)
        return idx[flat], delta[flat]

    def _record(self, flat: np.ndarray, top: int, cells: _CellStats, values=None) -> None:
        cells.add(flat % self.width, flat // self.width + top, values)


def _real(src: PngRows, top: int, bottom: int) -> int:
    """How many of canvas rows [top, bottom) are rows of the image (not padding)."""
    return max(0, min(bottom, src.height) - top)


def _read(source, label: str) -> bytes:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    if isinstance(source, (str, os.PathLike)):
        try:
            return Path(source).read_bytes()
        except OSError as exc:
            raise ImageDecodeError(f"{label} image cannot be read: {exc}") from exc
    raise TypeError(f"{label} must be bytes or a path, not {type(source).__name__}")
