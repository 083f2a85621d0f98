"""Rows that moved: the aligned pass (compare again with the moved rows lined up, removed
blocks shown as bands of their own), and, where lining up is not worth it, the moved elements
of the layout maps explaining the pixels they account for."""

from __future__ import annotations

import numpy as np

from . import align as alignment
from .cells import CellStats
from .comparison import BAND_MARGIN, CONTEXT, REGION_CELL, SUBTLE_CELL, Comparison
from .diffimage import DiffImageWriter
from .metric import CHANGED, SUBTLE, Window
from .pngio import PngRows, RowReader


def explain_moves(cmp: Comparison, moved_boxes) -> None:
    """Without the aligned pass: of the first pass's unexplained pixels, those the layout's
    moved elements ((x, y, width, height, dy) boxes in the new image) explain no longer
    count. A pixel near such an element (in its box, or where it was: dy higher) is
    explained when both what the new image shows there is what the old one showed dy
    higher (or the page's background: nothing was drawn there), and what the old one
    showed there is what the new one shows dy lower: its content and the content it
    replaced both moved. Each give or take a row, as the aligned pass takes offsets (a
    fractional move rounds either way). Needs both images whole (see
    WHOLE_DECODE_PIXELS); else nothing changes."""
    old, new = cmp.src1.pixels(), cmp.src2.pixels()
    if old is None or new is None or not cmp.unexplained or not moved_boxes:
        return
    at = np.concatenate(cmp.unexplained_at)
    ys, xs = at // cmp.width, at % cmp.width
    found_new = np.zeros(at.size, dtype=bool)  # the new content is found in the old image
    found_old = np.zeros(at.size, dtype=bool)  # and the old content in the new one
    new32 = new.view(np.uint32)[..., 0]
    # Where an element was, the new page may show just its background: nothing new drawn.
    colours, counts = np.unique(new32[:: max(1, len(new32) // 256)], return_counts=True)
    found_new |= (
        new32[np.minimum(ys, len(new32) - 1), np.minimum(xs, new32.shape[1] - 1)]
        == (colours[np.argmax(counts)])
    )
    old_rows = RowReader(cmp.src1, cmp.width, cmp.stripe_rows)
    new_rows = RowReader(cmp.src2, cmp.width, cmp.stripe_rows)
    # A screenshot cut at its maximum height: what moved below its end is not lost.
    cut = cmp.src1.height == cmp.src2.height
    for x, y, w, h, dy in moved_boxes:
        lo, hi = max(min(y, y - dy), 0), max(y + h, y - dy + h, 0)
        i0, i1 = np.searchsorted(at, [lo * cmp.width, hi * cmp.width])
        near = np.arange(i0, i1)
        near = near[(xs[near] >= x) & (xs[near] < x + w)]
        if not near.size:
            continue
        top = max(int(ys[near[0]]) - CONTEXT, 0)
        bottom = min(int(ys[near[-1]]) + 1 + CONTEXT, cmp.height)
        for step in (dy, dy - 1, dy + 1):
            # The new rows against the old ones step higher; the old against the new lower;
            # each for the pixels not found yet.
            for found, window in (
                (found_new, Window(old_rows.rows(top - step, bottom - step),
                                   new_rows.rows(top, bottom), top, cmp.height)),
                (found_old, Window(new_rows.rows(top + step, bottom + step),
                                   old_rows.rows(top, bottom), top, cmp.height)),
            ):  # fmt: skip
                ask = near[~found[near]]
                if ask.size:
                    states, _ = cmp.states(window, 0, bottom - top, only=at[ask] - top * cmp.width)
                    found[ask[states != CHANGED]] = True
            if cut:
                found_old[near[ys[near] + step >= cmp.src2.height]] = True
    left = at[~(found_new & found_old)]
    cmp.unexplained = left.size
    cmp.unexplained_cells = CellStats(cmp.width, cmp.height, REGION_CELL)
    cmp.unexplained_cells.add_flat(left, 0, cmp.width)


def aligned_pass(cmp: Comparison, moved: alignment.Alignment):
    """Compare again with the moved rows lined up. A new row equal to an old one at its
    block's offset is unchanged. In the rows between blocks, a pixel of the new image counts
    only if it differs at every nearby offset (a fixed sidebar next to moved content is
    unchanged), and so does a pixel of the old image (text that was removed), placed where
    it would be in the new image: inside the rows that replaced it, never over rows that
    only moved. Old rows with no new rows to stand in (a removed block) are shown as a band
    of their own, opened in the aligned image where they were removed."""
    width = cmp.width
    removed, removed_unexplained, bands, band_rows, band_unexplained = _removed(cmp, moved)
    rows_changed = np.zeros(cmp.height, dtype=np.int64)
    subtle_cells = CellStats(width, cmp.height, SUBTLE_CELL)
    writer = DiffImageWriter(width, cmp.height + band_rows) if cmp.make_png else None
    total = 0
    if cmp.layout is not None:
        cmp.unexplained = band_unexplained
        cmp.unexplained_cells = CellStats(width, cmp.height, REGION_CELL)
    for at, parts in bands.items():
        count = sum(int(np.count_nonzero(mask)) for _, mask, _ in parts)
        total += count
        rows_changed[min(at, cmp.height - 1)] += count
        if cmp.layout is not None:
            ys = np.full(sum(n for *_, n in parts), min(at, cmp.height - 1))
            cmp.unexplained_cells.add(np.zeros_like(ys), ys)
    inserted = sorted(bands)
    for top, states, deltas in offset_states(
        cmp,
        cmp.src2,
        cmp.src1,
        moved.open_segments(cmp.src2.height),
        new_rows=writer is not None,
    ):
        rows = len(states)
        new_changed = states == CHANGED
        mask = new_changed | np.unpackbits(removed[top : top + rows], axis=1, count=width).astype(
            bool
        )
        mask[max(cmp.src2.height - top, 0) :] = False  # rows the new page does not have
        changed = np.flatnonzero(mask)
        total += changed.size
        rows_changed[top : top + rows] += np.bincount(changed // width, minlength=rows)
        subtle = np.flatnonzero(states == SUBTLE) if cmp.subtle else None
        if removed_unexplained is not None:
            cover = cmp.cover_new.stripe(top, top + rows, width).covered.reshape(rows, width)
            alone = (new_changed & ~cover) | np.unpackbits(
                removed_unexplained[top : top + rows], axis=1, count=width
            ).astype(bool)
            alone[max(cmp.src2.height - top, 0) :] = False
            outside = np.flatnonzero(alone)
            cmp.unexplained += outside.size
            cmp.record(outside, top, cmp.unexplained_cells)
            if subtle is not None:
                subtle = subtle[~cover.reshape(-1)[subtle]]
        if subtle is not None:
            cmp.record(subtle, top, subtle_cells, deltas.reshape(-1)[subtle])
        if writer:
            _write_with_bands(writer, cmp.last_rows, mask, top, inserted, bands)
    if writer:
        for at in inserted:
            if at >= cmp.height:  # removed from the very end of the page
                _write_bands(writer, bands[at])
    # Kept even when nothing is left: "only moved" is worth seeing.
    png = writer.finish() if writer else None
    cmp.bands = [(at, sum(len(band) for band, *_ in bands[at])) for at in inserted]
    return total, rows_changed, png, subtle_cells


def _removed(cmp: Comparison, moved: alignment.Alignment):
    """The old image's changed pixels placed where they would be in the new one (a bit per
    pixel; and those no cause explains), and the removed blocks that have no new rows to stand
    in: new row -> [(old rows, changed mask, unexplained count)], their rows and unexplained
    pixels in all."""
    width = cmp.width
    gaps = alignment.gaps(moved.matched, cmp.src1.height, cmp.src2.height, moved.extra_moves)
    removed = np.zeros((cmp.height, -(-width // 8)), dtype=np.uint8)  # a bit per pixel
    # The same, of the removed pixels no cause explains (outside the causes' old boxes).
    removed_unexplained = np.zeros_like(removed) if cmp.layout is not None else None
    # Removed blocks: new row -> [(old rows, changed mask, unexplained count)], in order.
    bands: dict[int, list[tuple[np.ndarray, np.ndarray, int]]] = {}
    band_rows = 0
    band_unexplained = 0
    for top, states, _ in offset_states(
        cmp,
        cmp.src1,
        cmp.src2,
        moved.old_open_segments(cmp.src1.height),
        new_rows=True,
    ):
        old_rows = cmp.last_rows
        old_cover = (
            cmp.cover_old.stripe(top, top + len(states), width).covered.reshape(states.shape)
            if removed_unexplained is not None
            else None
        )
        for new_lo, new_hi, old_lo, old_hi in gaps:
            lo, hi = max(old_lo, top), min(old_hi, top + len(states))
            if lo >= hi:
                continue
            rows = states[lo - top : hi - top] == CHANGED
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
                new_hi == cmp.src2.height == cmp.src1.height == old_hi
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
    return removed, removed_unexplained, bands, band_rows, band_unexplained


def offset_states(cmp: Comparison, this: PngRows, other: PngRows, segments, new_rows: bool = False):
    """Per stripe of ``this`` image's canvas rows: (top, states, deltas) where the rows in
    ``segments`` are compared with ``other`` at each candidate offset and keep the smallest
    state (a pixel that matches anywhere near is explained), and all other rows are SAME.
    With ``new_rows``, ``cmp.last_rows`` holds the stripe's rows of ``this``."""
    mine = RowReader(this, cmp.width, cmp.stripe_rows)
    theirs = RowReader(other, cmp.width, cmp.stripe_rows)
    for top in range(0, cmp.height, cmp.stripe_rows):
        bottom = min(top + cmp.stripe_rows, cmp.height)
        rows = bottom - top
        states = np.zeros((rows, cmp.width), dtype=np.uint8)
        deltas = np.zeros((rows, cmp.width), dtype=np.float32)
        stripe_lo = max(top - CONTEXT, 0)
        stripe = mine.rows(stripe_lo, min(bottom + CONTEXT, cmp.height))
        for start, end, dys, _ in segments:
            lo, hi = max(start, top), min(end, bottom)
            if lo >= hi:
                continue
            ctx_lo, ctx_hi = max(lo - CONTEXT, 0), min(hi + CONTEXT, cmp.height)
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
                return Window(there, here, ctx_lo, cmp.height)

            # The likeliest offset first; the others only for the pixels still open.
            best_states, best_deltas = cmp.states(facing(dys[0]), first, first + hi - lo)
            best_states, best_deltas = best_states.reshape(-1), best_deltas.reshape(-1)
            for dy in dys[1:]:
                open_ = np.flatnonzero(best_states)
                if not open_.size:
                    break
                s, d = cmp.states(
                    facing(dy), first, first + hi - lo, only=open_ + first * cmp.width
                )
                take = s < best_states[open_]
                best_states[open_[take]] = s[take]
                best_deltas[open_[take]] = d[take]
            states[lo - top : hi - top] = best_states.reshape(hi - lo, cmp.width)
            deltas[lo - top : hi - top] = best_deltas.reshape(hi - lo, cmp.width)
        if new_rows:
            cmp.last_rows = stripe[top - stripe_lo : bottom - stripe_lo]
        cmp.mask_ignored(states, top)
        yield top, states, deltas


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
