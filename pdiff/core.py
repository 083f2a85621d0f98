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
from pathlib import Path

import numpy as np

from . import align as alignment
from . import causes as causing
from . import realign
from .comparison import (
    FIRST_STRIPE_ROWS,
    STRIPE_PIXELS,
    SUBTLE_MIN_AREA,
    Comparison,
)
from .layout import LayoutError, LayoutMap
from .metric import METRICS
from .pngio import MAX_PIXELS, PNG_SIGNATURE, ImageDecodeError, PngRows, png_size
from .result import DEFAULT_METRIC, DEFAULT_THRESHOLD, DiffResult, Region, SubtleRegion

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
    "STRIPE_PIXELS",
    "FIRST_STRIPE_ROWS",
    "png_size",
]


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
    run = Comparison(
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
    lined = _line_up(run, layout_diff, align)
    return _result(run, layout_diff, note, lined, subtle_min_area)


def _result(
    run: Comparison,
    layout_diff: causing.LayoutDiff | None,
    note: str,
    lined: _LinedUp,
    subtle_min_area: int,
) -> DiffResult:
    """The comparison's findings, as DiffResult tells them."""
    src1, src2, threshold, metric = run.src1, run.src2, run.threshold, run.metric
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
        shifts=lined.shifts,
        aligned_changed_pixels=lined.changed,
        changed_blocks=lined.blocks,
        aligned_diff_png=lined.png,
        partial=run.stopped,
        diff_top=run.diff_top if has_diff_png else None,
        has_layout=layout_diff is not None,
        causes=found_causes,
        unexplained_pixels=run.unexplained if layout_diff is not None else None,
        cause_pixels=run.cover_new.differing_covered,
        aligned_bands=run.bands,
        noise_causes=noise,
        layout_note=note,
        reflowed_below=lined.reflowed_below,
    )


@dataclasses.dataclass
class _LinedUp:
    """What lining the moved rows up found (nothing, when it was not done)."""

    blocks: list
    shifts: list[alignment.Shift] = dataclasses.field(default_factory=list)
    changed: int | None = None  # changed pixels left with the rows lined up
    png: bytes | None = None  # the aligned diff image
    reflowed_below: int | None = None  # text reflowed below this row: rows do not align


def _line_up(run: Comparison, layout_diff: causing.LayoutDiff | None, align: bool) -> _LinedUp:
    """After the first pass: line the moved rows up and compare again, if that explains the
    change; else let the layout's moved elements explain what they can."""
    lined = _LinedUp(alignment.changed_blocks(run.row_changes))
    if not (align and run.changed and not run.stopped):
        return lined
    moved_boxes = layout_diff.moved_boxes if layout_diff is not None else []
    if run.causes_hold_most():
        # Much of the change is the causes' own (text restyled or reflowed): lining rows up
        # would show it again, at a pass per candidate offset. What moved explains the rest.
        realign.explain_moves(run, moved_boxes)
        return lined
    layout_moves = layout_diff.moves if layout_diff is not None else []
    moved = alignment.align(*run.row_keys(), extra_moves=layout_moves)
    if not (moved.shifts or (layout_moves and run.unexplained)):
        return lined
    # Lining rows up costs a pass per candidate offset over the rows left open: worth it only
    # when the moves explain most of the change (not when text reflowed).
    lined.reflowed_below = moved.reflowed_below(run.row_changes, run.src2.height)
    if lined.reflowed_below is not None:
        if layout_diff is not None:
            realign.explain_moves(run, moved_boxes)
        return lined
    lined.changed, aligned_rows, lined.png, run.subtle_cells = realign.aligned_pass(run, moved)
    lined.blocks = alignment.changed_blocks(aligned_rows)
    lined.shifts = moved.reported_shifts(lined.blocks)
    return lined


def decode(data: bytes, label: str = "image") -> np.ndarray:
    """A whole PNG as a (height, width, 4) uint8 RGBA array, read the way compare() reads it
    (for callers that want the pixels; compare() itself never holds a whole image)."""
    rows = PngRows(data, label)
    return np.concatenate(list(rows.stripes(max(1, STRIPE_PIXELS // rows.width))))


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
    if recheck_map is not None and recheck_map is not after_map:  # the same map: no noise
        diff = causing.without_noise(diff, causing.noise_between(after_map, recheck_map))
    return diff, ""


def _read(source, label: str) -> bytes:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    if isinstance(source, (str, os.PathLike)):
        try:
            return Path(source).read_bytes()
        except OSError as exc:
            raise ImageDecodeError(f"{label} image cannot be read: {exc}") from exc
    raise TypeError(f"{label} must be bytes or a path, not {type(source).__name__}")
