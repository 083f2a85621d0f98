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
  after that, and ``aligned_diff_png`` shows it. ``distortion`` stays unaligned. When lining
  rows up would explain under half of the change (text reflowed), it is not done, and
  ``reflowed_below`` says so.
* Both images are read a stripe of rows at a time (``pdiff.pngio``), so memory is bounded by
  the width of the images, not their height; a screenshot of up to 64 MP is decoded whole,
  which is faster and bounded by that size.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from concurrent.futures import Future
from pathlib import Path

import numpy as np
from numba import njit

from . import align as alignment
from . import causes as causing
from . import parallel
from .layout import LayoutError, LayoutMap
from .metric import CHANGED, METRICS, SAME, SUBTLE, Window, classify
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
# Columns shown around what a removed block held, in the aligned diff.
BAND_MARGIN = 16
# With layout maps, rows are not lined up when the causes' own boxes hold more than this share
# of the changed pixels (see _Comparison.causes_hold_most).
CAUSE_SHARE = 0.25
RESTYLED_KINDS = ("style", "text", "image")
# Regions of unexplained pixels reported as causes of their own.
MAX_PIXEL_CAUSES = 10
# Rows of context a stripe needs on either side (the anti-aliasing test looks 2 rows away).
_CONTEXT = 2

_SAME, _SUBTLE, _CHANGED = SAME, SUBTLE, CHANGED


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
    # With layout maps of both captures: what changed in the page's terms (pdiff.causes), most
    # pixels first; the changed pixels no cause explains (after alignment); the causes that
    # differed between two loads of the page (noise); why the maps were not used, if not.
    has_layout: bool = False
    causes: list[causing.Cause] = dataclasses.field(default_factory=list)
    unexplained_pixels: int | None = None
    # Pixels inside the causes' boxes that differ at all (any threshold): what they changed.
    cause_pixels: int = 0
    # Removed blocks opened in the aligned diff image: (new-page row it opens at, rows), in
    # order; a row y of the new page is row y + the rows of the bands at or above it there.
    aligned_bands: list[tuple[int, int]] = dataclasses.field(default_factory=list)
    noise_causes: list[causing.Cause] = dataclasses.field(default_factory=list)
    layout_note: str = ""
    # The first changed row (new image) of rows that moved and changed at once, so that lining
    # them up explains little (text reflowed): the aligned pass was not made. None otherwise.
    reflowed_below: int | None = None

    @property
    def distortion(self) -> float:
        """Changed pixels as a fraction of the (padded) canvas, 0..1, before any alignment."""
        return self._share(self.changed_pixels)

    def _share(self, pixels: int) -> float:
        return pixels / self.total_pixels if self.total_pixels else 0.0

    @property
    def size_changed(self) -> bool:
        return self.before_size != self.after_size

    @property
    def differs(self) -> bool:
        return (
            self.changed_pixels > 0
            or self.size_changed
            or bool(self.subtle_regions)
            or bool(self.dom_causes)
        )

    @property
    def dom_causes(self) -> list[causing.Cause]:
        """The causes the page's elements name (not pixels alone)."""
        return [cause for cause in self.causes if cause.kind in causing.DOM_KINDS]

    @property
    def summary_lines(self) -> list[str]:
        """What a reviewer reads first: one line per cause, at most three, then "and N
        more"; without causes, what the pixels say in at most three clauses."""
        size = (
            (self.before_size[1], self.after_size[1])
            if self.before_size[1] != self.after_size[1]
            else None
        )
        if self.causes:
            lines = causing.summary_lines(self.causes, height_change=size)
            if self.reflowed_below is not None:
                lines[0] += f"; {alignment.reflow_words(self.reflowed_below)}"
            return lines
        return [
            alignment.summary(
                self.changed_blocks,
                self.shifts,
                self.after_size[1],
                size,
                subtle=[r.as_dict() for r in self.subtle_regions],
                reflowed_below=self.reflowed_below,
            )
        ]

    @property
    def summary(self) -> str:
        return "\n".join(self.summary_lines)

    @property
    def focus(self) -> tuple[int, int, int, int] | None:
        """Where the first change is (x, y, width, height in the new image): the first
        cause's box, else the first changed block or subtle region."""
        for cause in self.causes:
            if cause.box:
                return cause.box
        candidates = []
        if self.changed_blocks:
            a, b = self.changed_blocks[0]
            candidates.append((0, a, self.after_size[0], b - a))
        candidates += [(r.x, r.y, r.width, r.height) for r in self.subtle_regions[:1]]
        candidates += [(r.x, r.y, r.width, r.height) for r in self.regions[:1]]
        return min(candidates, key=lambda box: box[1]) if candidates else None

    def within(self, tolerance: float) -> bool:
        """Whether a build that tolerates ``tolerance`` (a share of changed pixels) would call
        this unchanged. A size change or a subtle region is never tolerated. With layout maps,
        a change the page's elements name counts whatever the colour threshold: the pixels the
        tolerance weighs are those that differ at all inside the causes' boxes and those over
        the threshold that no cause explains (with no tolerance, any cause is a change)."""
        if not self.differs:
            return True
        if self.has_layout:
            if self.dom_causes and not tolerance:
                return False
            share = self._share((self.unexplained_pixels or 0) + self.cause_pixels)
            return not self.size_changed and not self.subtle_regions and share <= tolerance
        return not self.size_changed and not self.subtle_regions and self.distortion <= tolerance

    def elements_decide(self, tolerance: float) -> bool:
        """Whether the page's elements alone make this a change, however many pixels no cause
        explains: then a second screenshot, which can only tell whether those pixels are
        noise, cannot change the verdict."""
        if not self.has_layout or not self.dom_causes:
            return False
        return not tolerance or self.size_changed or self._share(self.cause_pixels) > tolerance

    def pixels_within(self, tolerance: float) -> bool:
        """Whether what pixels alone say (the changes no cause of the page's elements explains)
        is within ``tolerance``: without layout maps, the whole verdict."""
        if not self.has_layout:
            return self.within(tolerance)
        share = self._share(self.unexplained_pixels or 0)
        size_alone = self.size_changed and not self.dom_causes
        return not size_alone and not self.subtle_regions and share <= tolerance

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
            "summary_lines": self.summary_lines,
            "focus": list(self.focus) if self.focus else None,
            "has_layout": self.has_layout,
            "causes": [cause.as_dict() for cause in self.causes],
            "unexplained_pixels": self.unexplained_pixels,
            "cause_pixels": self.cause_pixels,
            "aligned_bands": [list(band) for band in self.aligned_bands],
            "noise_causes": [cause.as_dict() for cause in self.noise_causes],
            "layout_note": self.layout_note,
            "reflowed_below": self.reflowed_below,
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
    before_layout=None,
    after_layout=None,
    recheck_layout=None,
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

    ``before_layout`` and ``after_layout``: the captures' layout maps (bytes as stored, or
    ``LayoutMap``s). With both, the result names the causes (``pdiff.causes``) and judges the
    pixels no cause explains; ``recheck_layout``, the map of a second load of the new page,
    makes what differed between the two loads noise. A map that cannot be read is left out
    (``layout_note`` says why) and the verdict is the pixels'.
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

    layout_diff, note = _layout_diff(before_layout, after_layout, recheck_layout)
    src1, src2 = PngRows(before_bytes, "before"), PngRows(after_bytes, "after")
    if layout_diff is not None:
        ignore = [*ignore, *layout_diff.ignore_boxes]
        # The page's elements say what moved: if nothing did, no rows are to be lined up.
        align = align and bool(layout_diff.moves or src1.height != src2.height)
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
        layout=layout_diff,
    )
    run.first_pass(None if stop_over is None else stop_over * run.width * run.height)
    shifts: list[alignment.Shift] = []
    aligned_changed = None
    aligned_png = None
    blocks = alignment.changed_blocks(run.row_changes)
    layout_moves = layout_diff.moves if layout_diff is not None else []
    reflowed_below = None
    if align and run.changed and not run.stopped and run.causes_hold_most():
        # Much of the change is the causes' own (text restyled or reflowed): lining rows up
        # would show it again, at a pass per candidate offset. What moved explains the rest.
        run.explain_moves(layout_diff.moved_boxes if layout_diff is not None else [])
    elif align and run.changed and not run.stopped:
        moved = alignment.align(*run.row_keys(), extra_moves=layout_moves)
        wanted = moved.shifts or (layout_moves and run.unexplained)
        if wanted:
            # Lining rows up costs a pass per candidate offset over the rows left open: worth
            # it only when the moves explain most of the change (not when text reflowed).
            reflowed_below = moved.reflowed_below(run.row_changes, src2.height)
        if reflowed_below is not None:
            if layout_diff is not None:
                run.explain_moves(layout_diff.moved_boxes)
        elif wanted:
            aligned_changed, aligned_rows, aligned_png, aligned_subtle = run.aligned_pass(moved)
            blocks = alignment.changed_blocks(aligned_rows)
            shifts = moved.reported_shifts(blocks)
            run.subtle_cells = aligned_subtle
    subtle_regions = run.subtle_regions(subtle_min_area)
    found_causes: list[causing.Cause] = []
    noise: list[causing.Cause] = []
    if layout_diff is not None:
        found_causes = run.confirmed_causes()
        found_causes += run.pixel_causes(layout_diff.after)
        noise = layout_diff.noise
    has_diff_png = bool(run.changed or subtle_regions or found_causes)
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
        has_layout=layout_diff is not None,
        causes=found_causes,
        unexplained_pixels=run.unexplained if layout_diff is not None else None,
        cause_pixels=run.cover_new.differing_covered,
        aligned_bands=run.bands,
        noise_causes=noise,
        layout_note=note,
        reflowed_below=reflowed_below,
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
def _tally(states, common_rows, want_differing):
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
    """_CellStats.add, compiled: one pass instead of a bincount and four ufunc.at."""
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
        layout: causing.LayoutDiff | None = None,
    ):
        self.src1, self.src2 = src1, src2
        self.layout = layout
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
        self.hash_later = False
        self.diff_png: bytes | None = None
        self.diff_top: np.ndarray | None = None
        # With layout maps: the causes' boxes (in the new image, and where their elements were
        # in the old one), the pixels that differ inside each cause's, and the changed pixels
        # outside all of them (the ones no cause explains).
        causes = layout.causes if layout is not None else []
        consequences = layout.consequences if layout is not None else []
        self.cover_new = _Cover(
            [
                (n, box)
                for n, c in enumerate(causes)
                if c.side == "after"
                for box in (c.extent or c.boxes)
            ]
            + [(n, box) for n, c in enumerate(causes) for box in c.other_boxes]
            + [(n, box) for n, c in enumerate(causes) if c.side == "before" for box in c.boxes]
            + [(-1, box) for box in consequences],
            len(causes),
            restyled={n for n, c in enumerate(causes) if c.kind in RESTYLED_KINDS},
        )
        self.cover_old = _Cover(
            [(n, box) for n, c in enumerate(causes) for box in c.other_boxes]
            + [(n, box) for n, c in enumerate(causes) if c.side == "before" for box in c.boxes]
            + [(-1, box) for box in (layout.old_consequences if layout is not None else [])],
            len(causes),
        )
        self.unexplained = 0
        self.unexplained_cells = _CellStats(self.width, self.height, REGION_CELL)
        self.unexplained_at: list[np.ndarray] = []  # the first pass's, canvas-flat, in order
        # The first pass's changed pixels in the boxes of causes that restyled their content.
        self.cause_changed = 0
        self.bands: list[tuple[int, int]] = []  # removed blocks in the aligned diff image

    def first_pass(self, stop_over_pixels: float | None = None) -> None:
        writer = DiffImageWriter(self.width, self.height, self.keep_rows) if self.make_png else None
        # A pass that may stop early starts with small stripes (most changed pages show it
        # in their first rows) and grows them, so a pass that does not stop costs about the same.
        first_rows = FIRST_STRIPE_ROWS if stop_over_pixels is not None else None
        if first_rows is None:
            self.src1.prepare(self.src2)
        # Images held whole are hashed for the alignment only if it is made (see row_keys).
        self.hash_later = self.src1.pixels() is not None and self.src2.pixels() is not None
        reader1 = RowReader(self.src1, self.width, self.stripe_rows, first_rows)
        reader2 = RowReader(self.src2, self.width, self.stripe_rows, first_rows)
        # What a stripe's states add up to (counts, regions, the diff image, row hashes) is
        # worked out on a thread of its own while the next stripe is compared, in order; a
        # pass that may stop early does it at once, to know its count.
        behind: Future | None = None
        for top, bottom in bands(self.height, self.stripe_rows, first_rows):
            win = self._window(reader1, reader2, top, bottom, 0)
            first = top - win.top
            # Inside the causes' boxes a change under the threshold is the cause's: whether it
            # is a subtle one of its own is not asked.
            quiet = (
                self.cover_new.covered_rows(top, bottom, self.width)
                if self.layout is not None
                else None
            )
            states, deltas = self._states(win, first, first + bottom - top, raw=True, quiet=quiet)
            if stop_over_pixels is not None:
                self._add_stripe(win, first, top, bottom, states, deltas, writer, quiet)
                if self.changed > stop_over_pixels:
                    self.stopped = True
                    return
                continue
            if behind is not None:
                behind.result()
            behind = parallel.in_order(
                self._add_stripe, win, first, top, bottom, states, deltas, writer, quiet
            )
        if behind is not None:
            behind.result()
        if writer:
            self.diff_png = writer.finish()
            self.diff_top = writer.top

    def _add_stripe(self, win, first, top, bottom, states, deltas, writer, covered) -> None:
        """Add canvas rows [top, bottom) (window rows from ``first``) and their states (raw:
        DIFFERS kept) to the counts, the regions, the diff image and the row hashes the
        alignment reads; ``covered``: what the causes' boxes cover there (with layout maps)."""
        if self.align and not self.hash_later:
            rows1 = win.img1[first : first + _real(self.src1, top, bottom)]
            rows2 = win.img2[first : first + _real(self.src2, top, bottom)]
            self.bands1.append(alignment.band_hashes(rows1))
            self.bands2.append(alignment.band_hashes(rows2))
        wanted = self.layout is not None  # the pixels whose bytes differ, for the causes
        differing = np.flatnonzero(states) if wanted and self.ignore else None
        self._mask_ignored(states, top)
        changed, subtle, found, row_counts, span = _tally(
            states, max(0, min(self.common_height, bottom) - top), wanted and not self.ignore
        )
        if differing is None:
            differing = found
        self._record(changed, top, self.changed_cells)
        subtle = subtle if self.subtle else None
        soft = None
        if self.layout is not None:
            # Inside a cause's boxes a change is the cause's; outside, it is unexplained.
            cover = self.cover_new.stripe(top, bottom, self.width, differing, covered)
            outside = changed[~cover.covered[changed]]
            self.unexplained += outside.size
            self.cause_changed += int(np.count_nonzero(cover.restyled_mask[changed]))
            self._record(outside, top, self.unexplained_cells)
            self.unexplained_at.append(outside + top * self.width)
            if subtle is not None:
                subtle = subtle[~cover.covered[subtle]]
            soft = cover.differing_inside(states)
        if subtle is not None:
            self._record(subtle, top, self.subtle_cells, deltas.reshape(-1)[subtle])
        self.row_changes[top:bottom] = row_counts
        self.span = (min(self.span[0], span[0]), max(self.span[1], span[1]))
        self.changed += changed.size
        if writer:
            writer.add(win.img2[first : first + bottom - top], changed, soft)

    def causes_hold_most(self) -> bool:
        """With layout maps: whether the boxes of the causes that restyled their content (a
        style, a text, an image: not an element added or removed, whose neighbours only moved)
        hold more than CAUSE_SHARE of the changed pixels. A text restyled or reflowed changes
        most pixels of its boxes (22 to 98 % of a docs page's changed pixels with every
        paragraph's letter-spacing changed); a box that grew (a padding, a margin) changes few
        of its own and moves what is below (5 to 18 % with every signature's padding-top
        changed): that is worth lining up."""
        return self.layout is not None and self.cause_changed > CAUSE_SHARE * self.changed

    def explain_moves(self, moved_boxes) -> None:
        """Without the aligned pass: of the first pass's unexplained pixels, those the layout's
        moved elements ((x, y, width, height, dy) boxes in the new image) explain no longer
        count. A pixel near such an element (in its box, or where it was: dy higher) is
        explained when both what the new image shows there is what the old one showed dy
        higher (or the page's background: nothing was drawn there), and what the old one
        showed there is what the new one shows dy lower: its content and the content it
        replaced both moved. Each give or take a row, as the aligned pass takes offsets (a
        fractional move rounds either way). Needs both images whole (see
        WHOLE_DECODE_PIXELS); else nothing changes."""
        old, new = self.src1.pixels(), self.src2.pixels()
        if old is None or new is None or not self.unexplained or not moved_boxes:
            return
        at = np.concatenate(self.unexplained_at)
        ys, xs = at // self.width, at % self.width
        found_new = np.zeros(at.size, dtype=bool)  # the new content is found in the old image
        found_old = np.zeros(at.size, dtype=bool)  # and the old content in the new one
        new32 = new.view(np.uint32)[..., 0]
        # Where an element was, the new page may show just its background: nothing new drawn.
        colours, counts = np.unique(new32[:: max(1, len(new32) // 256)], return_counts=True)
        found_new |= (
            new32[np.minimum(ys, len(new32) - 1), np.minimum(xs, new32.shape[1] - 1)]
            == (colours[np.argmax(counts)])
        )
        old_rows = RowReader(self.src1, self.width, self.stripe_rows)
        new_rows = RowReader(self.src2, self.width, self.stripe_rows)
        # A screenshot cut at its maximum height: what moved below its end is not lost.
        cut = self.src1.height == self.src2.height
        for x, y, w, h, dy in moved_boxes:
            lo, hi = max(min(y, y - dy), 0), max(y + h, y - dy + h, 0)
            i0, i1 = np.searchsorted(at, [lo * self.width, hi * self.width])
            near = np.arange(i0, i1)
            near = near[(xs[near] >= x) & (xs[near] < x + w)]
            if not near.size:
                continue
            top = max(int(ys[near[0]]) - _CONTEXT, 0)
            bottom = min(int(ys[near[-1]]) + 1 + _CONTEXT, self.height)
            for step in (dy, dy - 1, dy + 1):
                # The new rows against the old ones step higher; the old against the new lower;
                # each for the pixels not found yet.
                for found, window in (
                    (found_new, Window(old_rows.rows(top - step, bottom - step),
                                       new_rows.rows(top, bottom), top, self.height)),
                    (found_old, Window(new_rows.rows(top + step, bottom + step),
                                       old_rows.rows(top, bottom), top, self.height)),
                ):  # fmt: skip
                    ask = near[~found[near]]
                    if ask.size:
                        states, _ = self._states(
                            window, 0, bottom - top, only=at[ask] - top * self.width
                        )
                        found[ask[states != _CHANGED]] = True
                if cut:
                    found_old[near[ys[near] + step >= self.src2.height]] = True
        left = at[~(found_new & found_old)]
        self.unexplained = left.size
        self.unexplained_cells = _CellStats(self.width, self.height, REGION_CELL)
        self.unexplained_cells.add_flat(left, 0, self.width)

    def aligned_pass(self, moved: alignment.Alignment):
        """Compare again with the moved rows lined up. A new row equal to an old one at its
        block's offset is unchanged. In the rows between blocks, a pixel of the new image counts
        only if it differs at every nearby offset (a fixed sidebar next to moved content is
        unchanged), and so does a pixel of the old image (text that was removed), placed where
        it would be in the new image: inside the rows that replaced it, never over rows that
        only moved. Old rows with no new rows to stand in (a removed block) are shown as a band
        of their own, opened in the aligned image where they were removed."""
        width = self.width
        gaps = alignment.gaps(moved.matched, self.src1.height, self.src2.height, moved.extra_moves)
        removed = np.zeros((self.height, -(-width // 8)), dtype=np.uint8)  # a bit per pixel
        # The same, of the removed pixels no cause explains (outside the causes' old boxes).
        removed_unexplained = np.zeros_like(removed) if self.layout is not None else None
        # Removed blocks: new row -> [(old rows, changed mask, unexplained count)], in order.
        bands: dict[int, list[tuple[np.ndarray, np.ndarray, int]]] = {}
        band_rows = 0
        band_unexplained = 0
        for top, states, _ in self._unexplained(
            self.src1,
            self.src2,
            moved.old_open_segments(self.src1.height),
            new_rows=True,
        ):
            old_rows = self._last_rows
            old_cover = (
                self.cover_old.stripe(top, top + len(states), width).covered.reshape(states.shape)
                if removed_unexplained is not None
                else None
            )
            for new_lo, new_hi, old_lo, old_hi in gaps:
                lo, hi = max(old_lo, top), min(old_hi, top + len(states))
                if lo >= hi:
                    continue
                rows = states[lo - top : hi - top] == _CHANGED
                alone = rows & ~old_cover[lo - top : hi - top] if old_cover is not None else rows
                # Rows [old_lo, old_lo + fits) face the new gap's rows; the rest are a band.
                fits = new_hi - new_lo
                split = min(max(old_lo + fits - lo, 0), hi - lo)
                if split:
                    at = new_lo + lo - old_lo
                    removed[at : at + split] |= np.packbits(rows[:split], axis=1)
                    if removed_unexplained is not None:
                        removed_unexplained[at : at + split] |= np.packbits(alone[:split], axis=1)
                pushed_out = (  # rows a cut screenshot no longer holds: moved below its end
                    new_hi == self.src2.height == self.src1.height == old_hi
                )
                if split < hi - lo and not pushed_out:
                    # A removed block: what was drawn there (not its background) and is found
                    # nowhere near in the new page is the change; rows with none of it (the
                    # blank rows of a paragraph that lost a line) need no band.
                    band = old_rows[lo - top + split : hi - top]
                    ink = _ink(band) & rows[split:]
                    if not ink.any():
                        continue
                    if old_cover is not None:
                        alone = ink & ~old_cover[lo - top + split : hi - top]
                    unexplained = int(np.count_nonzero(alone if old_cover is not None else ink))
                    bands.setdefault(new_hi, []).append((band, ink, unexplained))
                    band_rows += len(band)
                    band_unexplained += unexplained

        rows_changed = np.zeros(self.height, dtype=np.int64)
        subtle_cells = _CellStats(width, self.height, SUBTLE_CELL)
        writer = DiffImageWriter(width, self.height + band_rows) if self.make_png else None
        total = 0
        if self.layout is not None:
            self.unexplained = band_unexplained
            self.unexplained_cells = _CellStats(width, self.height, REGION_CELL)
        for at, parts in bands.items():
            count = sum(int(np.count_nonzero(mask)) for _, mask, _ in parts)
            total += count
            rows_changed[min(at, self.height - 1)] += count
            if self.layout is not None:
                ys = np.full(sum(n for *_, n in parts), min(at, self.height - 1))
                self.unexplained_cells.add(np.zeros_like(ys), ys)
        inserted = sorted(bands)
        for top, states, deltas in self._unexplained(
            self.src2,
            self.src1,
            moved.open_segments(self.src2.height),
            new_rows=writer is not None,
        ):
            rows = len(states)
            new_changed = states == _CHANGED
            mask = new_changed | np.unpackbits(
                removed[top : top + rows], axis=1, count=width
            ).astype(bool)
            mask[max(self.src2.height - top, 0) :] = False  # rows the new page does not have
            changed = np.flatnonzero(mask)
            total += changed.size
            rows_changed[top : top + rows] += np.bincount(changed // width, minlength=rows)
            subtle = np.flatnonzero(states == _SUBTLE) if self.subtle else None
            if removed_unexplained is not None:
                cover = self.cover_new.stripe(top, top + rows, width).covered.reshape(rows, width)
                alone = (new_changed & ~cover) | np.unpackbits(
                    removed_unexplained[top : top + rows], axis=1, count=width
                ).astype(bool)
                alone[max(self.src2.height - top, 0) :] = False
                outside = np.flatnonzero(alone)
                self.unexplained += outside.size
                self._record(outside, top, self.unexplained_cells)
                if subtle is not None:
                    subtle = subtle[~cover.reshape(-1)[subtle]]
            if subtle is not None:
                self._record(subtle, top, subtle_cells, deltas.reshape(-1)[subtle])
            if writer:
                _write_with_bands(writer, self._last_rows, mask, top, inserted, bands)
        if writer:
            for at in inserted:
                if at >= self.height:  # removed from the very end of the page
                    _write_bands(writer, bands[at])
        # Kept even when nothing is left: "only moved" is worth seeing.
        png = writer.finish() if writer else None
        self.bands = [(at, sum(len(band) for band, *_ in bands[at])) for at in inserted]
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
            self._mask_ignored(states, top)
            yield top, states, deltas

    def _mask_ignored(self, states: np.ndarray, top: int) -> None:
        """Clear the states of new-image rows [top, top + len(states)) inside ignored boxes."""
        for x, y, width, height in self.ignore:
            lo, hi = max(y - top, 0), min(y + height - top, len(states))
            if lo < hi:
                states[lo:hi, max(x, 0) : x + width] = _SAME

    def confirmed_causes(self) -> list[causing.Cause]:
        """The layout's causes the screenshots show (some pixel inside their boxes differs),
        with that count, most first."""
        if self.layout is None:
            raise ValueError("no layout maps to name causes from")
        found = []
        for n, cause in enumerate(self.layout.causes):
            if self.cover_new.pixels[n]:
                cause.pixels = int(self.cover_new.pixels[n])
                found.append(cause)
        found.sort(key=lambda cause: -cause.pixels)
        return found

    def pixel_causes(self, after: LayoutMap) -> list[causing.Cause]:
        """The changed pixels no cause explains, a cause per region, named by what is drawn
        there (canvas, video, frame, ...)."""
        if not self.unexplained:
            return []
        regions = [
            region
            for region in self.unexplained_cells.components()
            if region[4] >= alignment.MIN_BLOCK_PIXELS
        ]
        return [
            causing.pixel_cause(after, (x, y, w, h), n)
            for x, y, w, h, n, _ in regions[:MAX_PIXEL_CAUSES]
        ]

    def row_keys(self) -> tuple[list[int], list[int]]:
        """Row keys of both images over the columns where something changed."""
        if self.hash_later:
            for bands, src in ((self.bands1, self.src1), (self.bands2, self.src2)):
                pixels = src.pixels()
                if pixels is None:
                    raise ValueError("the image was not decoded")
                if pixels.shape[1] < self.width:  # on the canvas: padded to its width
                    pixels = np.pad(pixels, ((0, 0), (0, self.width - pixels.shape[1]), (0, 0)))
                bands[:] = [alignment.band_hashes(pixels)]
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

    def _states(
        self,
        win: Window,
        first: int,
        last: int,
        only: np.ndarray | None = None,
        *,
        raw: bool = False,
        quiet: np.ndarray | None = None,
    ):
        """Per pixel of window rows [first, last): _CHANGED (counted), _SUBTLE (under the
        threshold but clearly and flatly changed) or _SAME; and the subtle pixels' distance.
        With ``only`` (window-flat indices in those rows), for just those pixels, in order.
        ``raw``: pixels whose bytes differ but that are not counted stay DIFFERS."""
        states, deltas = classify(
            win,
            first,
            last,
            only=only,
            metric=self.metric,
            threshold=self.threshold,
            include_aa=self.include_aa,
            subtle=self.subtle,
            min_delta=SUBTLE_MIN_DELTA,
            quiet=quiet,
        )
        if not raw:
            np.bitwise_and(states, _SUBTLE | _CHANGED, out=states)  # DIFFERS counts as the same
        if only is not None:
            return states, deltas
        return states.reshape(last - first, win.width), deltas.reshape(last - first, win.width)

    def _record(self, flat: np.ndarray, top: int, cells: _CellStats, values=None) -> None:
        cells.add_flat(flat, top, self.width, values)


def _write_with_bands(writer, rows: np.ndarray, mask: np.ndarray, top: int, inserted, bands):
    """The aligned image's rows [top, top + len(rows)) of the new page, with the removed
    blocks that open before any of these rows written in their place."""
    start = 0
    for at in inserted:
        if top <= at < top + len(rows):
            if at > top + start:
                part = slice(start, at - top)
                writer.add(rows[part], np.flatnonzero(mask[part]))
            _write_bands(writer, bands[at])
            start = at - top
    if start < len(rows):
        writer.add(rows[start:], np.flatnonzero(mask[start:]))


def _ink(rows: np.ndarray) -> np.ndarray:
    """(h, w) mask of the pixels of some rows that are not their background (the commonest
    colour among them)."""
    flat = np.ascontiguousarray(rows).view(np.uint32).reshape(rows.shape[:2])
    values, counts = np.unique(flat[:: max(1, len(flat) // 64)], return_counts=True)
    return flat != values[np.argmax(counts)]


def _write_bands(writer, parts) -> None:
    """Removed blocks in the aligned image: their rows (from the old page) in the diff's
    greys with what was drawn there in red, between dashed orange lines above and below. Only
    the columns of what was removed are shown (a sidebar beside it is not repeated)."""
    for band, changed, _ in parts:
        columns = np.flatnonzero(changed.any(axis=0))
        if columns.size:
            lo, hi = max(columns[0] - BAND_MARGIN, 0), columns[-1] + 1 + BAND_MARGIN
            band = band.copy()
            band[:, :lo] = 255
            band[:, hi:] = 255
        dashes = np.zeros(changed.shape, dtype=bool)
        dashes[[0, -1], :] = (np.arange(changed.shape[1]) // 6) % 2 == 0
        writer.add(band, np.flatnonzero(changed), np.flatnonzero(dashes & ~changed))


class _Cover:
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
        return np.flatnonzero(self._exact & self._causes & (states.reshape(-1) != _CHANGED))


def _layout_diff(before, after, recheck) -> tuple[causing.LayoutDiff | None, str]:
    """The causes from both captures' layout maps, less what a second load (``recheck``)
    showed to be noise; (None, why) when a map is missing or cannot be read."""
    if before is None or after is None:
        return None, ""
    try:
        maps = [
            m if isinstance(m, LayoutMap) or m is None else LayoutMap.parse(m)
            for m in (before, after, recheck)
        ]
    except LayoutError as exc:
        return None, f"layout maps not used: {exc}"
    before_map, after_map, recheck_map = maps
    if before_map is None or after_map is None:
        return None, "layout maps not used: one side has none"
    diff = causing.find(before_map, after_map)
    if recheck_map is not None:
        diff = causing.without_noise(diff, causing.noise_between(after_map, recheck_map))
    return diff, ""


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
