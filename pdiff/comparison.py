"""One compare(): both images read a stripe at a time and compared pixel by pixel (the first
pass), its counts, regions, diff image and row hashes, and with layout maps what the causes'
boxes explain. The aligned pass, when rows moved, is ``pdiff.realign``'s."""

from __future__ import annotations

from concurrent.futures import Future

import numpy as np

from . import align as alignment
from . import causes as causing
from . import parallel
from .cells import CellStats, tally
from .cover import Cover
from .diffimage import DiffImageWriter
from .layout import LayoutMap
from .metric import CHANGED, SAME, SUBTLE, Window, classify
from .pngio import PngRows, RowReader, bands
from .result import Region, SubtleRegion

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
# of the changed pixels (see Comparison.causes_hold_most).
CAUSE_SHARE = 0.25
RESTYLED_KINDS = ("style", "text", "image")
# Regions of unexplained pixels reported as causes of their own.
MAX_PIXEL_CAUSES = 10
# Rows of context a stripe needs on either side (the anti-aliasing test looks 2 rows away).
CONTEXT = 2


class Comparison:
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
        self.changed_cells = CellStats(self.width, self.height, REGION_CELL)
        self.subtle_cells = CellStats(self.width, self.height, SUBTLE_CELL)
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
        self.cover_new = Cover(
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
        self.cover_old = Cover(
            [(n, box) for n, c in enumerate(causes) for box in c.other_boxes]
            + [(n, box) for n, c in enumerate(causes) if c.side == "before" for box in c.boxes]
            + [(-1, box) for box in (layout.old_consequences if layout is not None else [])],
            len(causes),
        )
        self.unexplained = 0
        self.unexplained_cells = CellStats(self.width, self.height, REGION_CELL)
        self.unexplained_at: list[np.ndarray] = []  # the first pass's, canvas-flat, in order
        # The first pass's changed pixels in the boxes of causes that restyled their content.
        self.cause_changed = 0
        self.bands: list[tuple[int, int]] = []  # removed blocks in the aligned diff image
        # The stripe of rows the aligned pass read last (``realign.offset_states``).
        self.last_rows = np.zeros((0, self.width, 4), dtype=np.uint8)

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
            win = self.window(reader1, reader2, top, bottom, 0)
            first = top - win.top
            # Inside the causes' boxes a change under the threshold is the cause's: whether it
            # is a subtle one of its own is not asked.
            quiet = (
                self.cover_new.covered_rows(top, bottom, self.width)
                if self.layout is not None
                else None
            )
            states, deltas = self.states(win, first, first + bottom - top, raw=True, quiet=quiet)
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
            rows1 = win.img1[first : first + real_rows(self.src1, top, bottom)]
            rows2 = win.img2[first : first + real_rows(self.src2, top, bottom)]
            self.bands1.append(alignment.band_hashes(rows1))
            self.bands2.append(alignment.band_hashes(rows2))
        wanted = self.layout is not None  # the pixels whose bytes differ, for the causes
        differing = np.flatnonzero(states) if wanted and self.ignore else None
        self.mask_ignored(states, top)
        changed, subtle, found, row_counts, span = tally(
            states, max(0, min(self.common_height, bottom) - top), wanted and not self.ignore
        )
        if differing is None:
            differing = found
        self.record(changed, top, self.changed_cells)
        subtle = subtle if self.subtle else None
        soft = None
        if self.layout is not None:
            # Inside a cause's boxes a change is the cause's; outside, it is unexplained.
            cover = self.cover_new.stripe(top, bottom, self.width, differing, covered)
            outside = changed[~cover.covered[changed]]
            self.unexplained += outside.size
            self.cause_changed += int(np.count_nonzero(cover.restyled_mask[changed]))
            self.record(outside, top, self.unexplained_cells)
            self.unexplained_at.append(outside + top * self.width)
            if subtle is not None:
                subtle = subtle[~cover.covered[subtle]]
            soft = cover.differing_inside(states)
        if subtle is not None:
            self.record(subtle, top, self.subtle_cells, deltas.reshape(-1)[subtle])
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

    def mask_ignored(self, states: np.ndarray, top: int) -> None:
        """Clear the states of new-image rows [top, top + len(states)) inside ignored boxes."""
        for x, y, width, height in self.ignore:
            lo, hi = max(y - top, 0), min(y + height - top, len(states))
            if lo < hi:
                states[lo:hi, max(x, 0) : x + width] = SAME

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

    def window(
        self, reader1: RowReader, reader2: RowReader, top: int, bottom: int, dy: int
    ) -> Window:
        """Canvas rows [top, bottom) of the new image and the old rows ``dy`` above them, with
        context rows."""
        lo, hi = max(top - CONTEXT, 0), min(bottom + CONTEXT, self.height)
        return Window(reader1.rows(lo - dy, hi - dy), reader2.rows(lo, hi), lo, self.height)

    def states(
        self,
        win: Window,
        first: int,
        last: int,
        only: np.ndarray | None = None,
        *,
        raw: bool = False,
        quiet: np.ndarray | None = None,
    ):
        """Per pixel of window rows [first, last): CHANGED (counted), SUBTLE (under the
        threshold but clearly and flatly changed) or SAME; and the subtle pixels' distance.
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
            np.bitwise_and(states, SUBTLE | CHANGED, out=states)  # DIFFERS counts as the same
        if only is not None:
            return states, deltas
        return states.reshape(last - first, win.width), deltas.reshape(last - first, win.width)

    def record(self, flat: np.ndarray, top: int, cells: CellStats, values=None) -> None:
        cells.add_flat(flat, top, self.width, values)


def real_rows(src: PngRows, top: int, bottom: int) -> int:
    """How many of canvas rows [top, bottom) are rows of the image (not padding)."""
    return max(0, min(bottom, src.height) - top)
