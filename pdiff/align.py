"""Which rows of a page moved: the rows of the two images aligned as a text diff aligns lines.

Each row of pixels is reduced to a hash of its bytes. Runs of equal rows (blank margins) are
collapsed first, so a page of 30,000 rows is a sequence of some thousands of "lines". Short
sequences are aligned by difflib's matcher (autojunk off: blank rows are common and must still
match); its time grows with the product of the lengths and with how often a line repeats (a
30,000-row table of contents whose every line changed colour took 47 s), so long ones are first
cut at anchors, as patience diff does: lines that occur exactly once in each, in the longest
run that keeps their order; the gaps between anchors are aligned the same way in turn, and a
gap too large for difflib with no anchor of its own is left unmatched (its rows count as
changed: alignment never hides a difference, it only explains one). Blocks of rows equal in
both images at different heights are shifts. A shift must be tall enough and hold more than one
kind of row, or a blank band that happens to match somewhere else would count as "moved".
"""

from __future__ import annotations

import bisect
import dataclasses
import difflib

import numpy as np

# A block of equal rows is a shift only if it is at least this tall and not all alike.
MIN_SHIFT_ROWS = 8
# Changed rows closer than this are reported as one block.
BLOCK_GAP_ROWS = 16
# A changed block smaller than this is not reported in the summary (its pixels still count).
MIN_BLOCK_PIXELS = 4
# Rows do not align when the rows an alignment leaves open hold more than this share of the
# changed pixels: the moves explain less than half of the change (see reflowed_below).
GIVE_UP_SHARE = 0.5
# ... and they are cut into at least this many pieces (reflowed text leaves hundreds: every
# paragraph, between the code blocks and headings that still match).
REFLOW_SEGMENTS = 8


@dataclasses.dataclass(frozen=True)
class Shift:
    """Rows [from_y, from_y + height) of the old image are rows [to_y, to_y + height) of the
    new one; ``dy`` = to_y - from_y (negative: moved up)."""

    from_y: int
    to_y: int
    height: int

    @property
    def dy(self) -> int:
        return self.to_y - self.from_y

    def as_dict(self) -> dict:
        return {"from_y": self.from_y, "to_y": self.to_y, "height": self.height, "dy": self.dy}


@dataclasses.dataclass(frozen=True)
class Alignment:
    """Row blocks of the new image: ``matched`` are equal to old rows (at ``dy``, possibly 0);
    the rest are "open": new, changed or reflowed rows."""

    matched: list[tuple[int, int, int]]  # (to_y, to_y_end, dy), in order
    shifts: list[Shift]
    # Rows of the new image known to have moved by dy, from elsewhere (the layout maps: an
    # element that only moved): (y, y_end, dy). Their offsets are candidates where they are.
    extra_moves: list[tuple[int, int, int]] = dataclasses.field(default_factory=list)

    def open_segments(self, height: int) -> list[tuple[int, int, tuple[int, ...], int]]:
        """New-image rows not matched: see ``_open_segments``."""
        return _open_segments(self.matched, height, self.extra_moves)

    def old_open_segments(self, height: int) -> list[tuple[int, int, tuple[int, ...], int]]:
        """Old-image rows not matched (removed or changed content), the same way round."""
        return _open_segments(
            [(a - dy, b - dy, -dy) for a, b, dy in self.matched],
            height,
            [(a - dy, b - dy, -dy) for a, b, dy in self.extra_moves],
        )

    def reflowed_below(self, row_changes: np.ndarray, height: int) -> int | None:
        """Whether the rows do not align: the rows of the new image this alignment leaves open,
        in REFLOW_SEGMENTS pieces or more, hold more than GIVE_UP_SHARE of the changed pixels
        (``row_changes``: per row, from the unaligned pass), so lining the rest up would
        explain little at the cost of a pass per candidate offset over those rows (text that
        reflowed: each line holds other words, and only blank rows and the odd heading still
        match). Then the first open row that changed (where the reflow starts), else None."""
        segments = self.open_segments(height)
        if len(segments) < REFLOW_SEGMENTS:
            return None  # a block or two inserted or changed: cheap to line up, and worth it
        open_changed = sum(int(row_changes[start:end].sum()) for start, end, *_ in segments)
        if open_changed <= GIVE_UP_SHARE * int(row_changes.sum()):
            return None
        for start, end, *_ in segments:
            changed = np.flatnonzero(row_changes[start:end])
            if changed.size:
                return start + int(changed[0])
        return None

    def reported_shifts(self, changed: list[tuple[int, int]]) -> list[Shift]:
        """The shifts as a reviewer should read them: successive blocks that moved by the same
        amount give or take a pixel, with no changed rows (``changed`` blocks) between them,
        are one move (by the amount most of their rows moved)."""
        groups: list[list[Shift]] = []
        for shift in self.shifts:
            if groups:
                last = groups[-1][-1]
                gap = (last.to_y + last.height, shift.to_y)
                quiet = not any(a < gap[1] and b > gap[0] for a, b in changed)
                if quiet and abs(shift.dy - last.dy) <= 1:
                    groups[-1].append(shift)
                    continue
            groups.append([shift])
        merged = []
        for group in groups:
            weights: dict[int, int] = {}
            for shift in group:
                weights[shift.dy] = weights.get(shift.dy, 0) + shift.height
            dy = max(weights, key=lambda d: (weights[d], -abs(d)))
            to_y = group[0].to_y
            end = group[-1].to_y + group[-1].height
            merged.append(Shift(to_y - dy, to_y, end - to_y))
        return merged


def gaps(matched: list[tuple[int, int, int]], old_height: int, new_height: int, extra=()):
    """The rows between matched blocks on both sides: (new_lo, new_hi, old_lo, old_hi) for
    each gap where either side has rows (one side empty: a block inserted or removed). Inside a
    gap, the ``extra`` moves (rows known to have moved, see ``Alignment.extra_moves``) that
    keep the order of both sides split it further: old rows are then placed beside the new
    rows they became, and what is left over on one side is what was inserted or removed."""
    if extra:
        # Rows equal at another offset than the one the elements there moved by matched by
        # chance (blank rows between lines of text that moved): not where those rows went.
        matched = [block for block in matched if not _contradicted(block, extra)]
    found = []
    new_y = old_y = 0
    for y, y_end, dy in [*matched, (new_height, new_height, new_height - old_height)]:
        if y > new_y or y - dy > old_y:
            found += _split(new_y, max(y, new_y), old_y, max(y - dy, old_y), extra)
        new_y, old_y = max(new_y, y_end), max(old_y, y_end - dy)
    return found


def _contradicted(block: tuple[int, int, int], extra) -> bool:
    y, y_end, dy = block
    other = sum(max(0, min(b, y_end) - max(a, y)) for a, b, d in extra if d != dy)
    return other * 2 > y_end - y


def _split(new_lo: int, new_hi: int, old_lo: int, old_hi: int, extra) -> list:
    inside = []
    for a, b, dy in extra:  # each cut to the gap, on both sides
        a = max(a, new_lo, old_lo + dy)
        b = min(b, new_hi, old_hi + dy)
        if a < b:
            inside.append((a, b, dy))
    inside.sort()
    parts = []
    for a, b, dy in inside:
        if a < new_lo or a - dy < old_lo:
            continue  # overlaps what was taken already, or out of order
        if a > new_lo or a - dy > old_lo:
            parts.append((new_lo, a, old_lo, a - dy))
        new_lo, old_lo = b, b - dy
    if new_hi > new_lo or old_hi > old_lo:
        parts.append((new_lo, new_hi, old_lo, old_hi))
    return parts


# Offsets the extra moves add to a segment's candidates, the ones covering most of it first.
MAX_EXTRA_CANDIDATES = 6


def _open_segments(matched: list[tuple[int, int, int]], height: int, extra=()):
    """The rows of an image not in ``matched`` (blocks (y, y_end, dy): row y is row y - dy of
    the other image), as (y, y_end, candidate dys, carry). The candidates are the offsets of the
    nearest blocks that moved, above and below, then 0, then those offsets give or take a pixel
    (content moved by a fractional number of CSS pixels lands 22 px up in one place and 23 px
    in the next): a pixel there is changed only if it differs at each; then the offsets of the
    ``extra`` moves over the segment's rows. ``carry`` is the offset of the block just above,
    which places these rows in the other image."""
    blocks = [*matched, (height, height, 0)]
    above, below = [], []
    last = 0
    for _, _, dy in blocks:
        above.append(last)
        last = dy or last
    last = 0
    for _, _, dy in reversed(blocks):
        below.append(last)
        last = dy or last
    below.reverse()
    segments = []
    y = 0
    carry = 0
    for n, (start, end, dy) in enumerate(blocks):
        if start > y:
            nearest = [d for d in (above[n], dy or below[n]) if d]
            candidates = [*nearest, 0, *(d + w for d in nearest for w in (-1, 1))]
            candidates += _extra_candidates(extra, y, start)
            segments.append((y, start, tuple(dict.fromkeys(candidates)), carry))
        y = max(y, end)
        carry = dy
    return segments


def _extra_candidates(extra, y0: int, y1: int) -> list[int]:
    """The offsets of the moves over rows [y0, y1), most rows covered first."""
    weights: dict[int, int] = {}
    for a, b, dy in extra:
        overlap = min(b, y1) - max(a, y0)
        if overlap > 0 and dy:
            weights[dy] = weights.get(dy, 0) + overlap
    return sorted(weights, key=lambda dy: -weights[dy])[:MAX_EXTRA_CANDIDATES]


# Rows are hashed in bands of this many pixels, so that the alignment can look only at the
# columns where something changed (a fixed sidebar beside moving content would otherwise make
# every row beside it different).
BAND = 32
_WEIGHTS = np.random.default_rng(20260722).integers(
    1, 2**63, size=BAND * 4 // 8 * 4096, dtype=np.uint64
) | np.uint64(1)


def band_hashes(rows: np.ndarray) -> np.ndarray:
    """(h, w, 4) RGBA rows -> (h, ceil(w / BAND)) uint64: a hash of each BAND-pixel band."""
    height, width = rows.shape[:2]
    bands = -(-width // BAND)
    if not height:
        return np.zeros((0, bands), dtype=np.uint64)
    if width != bands * BAND:
        rows = np.pad(rows, ((0, 0), (0, bands * BAND - width), (0, 0)))
    flat = np.ascontiguousarray(rows).reshape(height, -1).view(np.uint64)
    words = flat.reshape(height, bands, BAND * 4 // 8)
    weights = np.resize(_WEIGHTS, bands * BAND * 4 // 8).reshape(bands, -1)
    # A multilinear hash (uint64 arithmetic wraps). einsum sums the products as it goes: 4x
    # faster than multiplying out a temporary as large as the rows and summing that.
    return np.einsum("hbk,bk->hb", words, weights)


def row_keys(bands: np.ndarray, x0: int, x1: int) -> list[int]:
    """One key per row from its band hashes, over the bands that hold columns [x0, x1)."""
    part = np.ascontiguousarray(bands[:, x0 // BAND : -(-x1 // BAND)])
    return [hash(row) for row in map(bytes, part)]


def align(keys1: list[int], keys2: list[int], extra_moves=()) -> Alignment:
    """Align the rows of the old image (keys1) with those of the new one (keys2);
    ``extra_moves``: rows known to have moved (see ``Alignment.extra_moves``)."""
    n1, n2 = len(keys1), len(keys2)
    prefix = 0
    while prefix < min(n1, n2) and keys1[prefix] == keys2[prefix]:
        prefix += 1
    suffix = 0
    while suffix < min(n1, n2) - prefix and keys1[n1 - 1 - suffix] == keys2[n2 - 1 - suffix]:
        suffix += 1

    blocks: list[tuple[int, int, int]] = []  # (from_y, to_y, height) of equal rows
    if prefix:
        blocks.append((0, 0, prefix))
    runs1, starts1 = _runs(keys1[prefix : n1 - suffix])
    runs2, starts2 = _runs(keys2[prefix : n2 - suffix])
    for i, j, size in matching_blocks(runs1, runs2):
        if size:
            from_y, to_y = prefix + starts1[i], prefix + starts2[j]
            blocks.append((from_y, to_y, starts1[i + size] - starts1[i]))
    if suffix:
        blocks.append((n1 - suffix, n2 - suffix, suffix))

    matched = _merge(blocks)
    shifts = []
    kept = []
    for from_y, to_y, height in matched:
        if from_y == to_y:
            kept.append((to_y, to_y + height, 0))
        elif height >= MIN_SHIFT_ROWS and len(set(keys2[to_y : to_y + height])) > 1:
            kept.append((to_y, to_y + height, to_y - from_y))
            shifts.append(Shift(from_y, to_y, height))
    return Alignment(kept, shifts, list(extra_moves))


# Sequences up to this many cells (length x length) go to difflib whole (a few ms); longer ones
# are cut at anchors first.
DIFFLIB_CELLS = 250_000
# Gaps inside gaps are cut at their own anchors down to this depth (then left unmatched).
MAX_DEPTH = 40


def matching_blocks(a: list, b: list) -> list[tuple[int, int, int]]:
    """(i, j, size) blocks with a[i:i + size] == b[j:j + size], in order and not overlapping,
    as difflib's get_matching_blocks gives (without its closing empty block)."""
    pairs: list[tuple[int, int, int]] = []
    if len(a) * len(b) <= DIFFLIB_CELLS:
        _match_middle(a, 0, len(a), b, 0, len(b), pairs, 0)  # difflib, as it is
    else:
        _match(a, 0, len(a), b, 0, len(b), pairs)
    blocks: list[tuple[int, int, int]] = []
    for i, j, size in pairs:
        if blocks and blocks[-1][0] + blocks[-1][2] == i and blocks[-1][1] + blocks[-1][2] == j:
            blocks[-1] = (blocks[-1][0], blocks[-1][1], blocks[-1][2] + size)
        elif size:
            blocks.append((i, j, size))
    return blocks


def _match(a, alo, ahi, b, blo, bhi, out, depth=0) -> None:
    # Equal lines at both ends of the gap match as they are.
    head = 0
    while alo + head < ahi and blo + head < bhi and a[alo + head] == b[blo + head]:
        head += 1
    if head:
        out.append((alo, blo, head))
        alo, blo = alo + head, blo + head
    tail = 0
    while alo < ahi - tail and blo < bhi - tail and a[ahi - 1 - tail] == b[bhi - 1 - tail]:
        tail += 1
    if alo < ahi - tail and blo < bhi - tail:
        _match_middle(a, alo, ahi - tail, b, blo, bhi - tail, out, depth)
    if tail:
        out.append((ahi - tail, bhi - tail, tail))


def _match_middle(a, alo, ahi, b, blo, bhi, out, depth) -> None:
    if (ahi - alo) * (bhi - blo) <= DIFFLIB_CELLS:
        matcher = difflib.SequenceMatcher(None, a[alo:ahi], b[blo:bhi], autojunk=False)
        out.extend((alo + i, blo + j, n) for i, j, n in matcher.get_matching_blocks() if n)
        return
    anchors = _anchors(a, alo, ahi, b, blo, bhi) if depth < MAX_DEPTH else []
    if not anchors:
        return  # nothing to hold on to: left unmatched, so counted as changed
    i, j = alo, blo
    for ai, bj in anchors:
        _match(a, i, ai, b, j, bj, out, depth + 1)
        out.append((ai, bj, 1))
        i, j = ai + 1, bj + 1
    _match(a, i, ahi, b, j, bhi, out, depth + 1)


def _anchors(a, alo, ahi, b, blo, bhi) -> list[tuple[int, int]]:
    """Lines that occur once in a[alo:ahi] and once in b[blo:bhi], as (i, j) pairs: the
    longest run of them in the same order in both (patience sorting, O(n log n))."""
    seen_a: dict = {}
    for i in range(alo, ahi):
        seen_a[a[i]] = -1 if a[i] in seen_a else i
    seen_b: dict = {}
    for j in range(blo, bhi):
        seen_b[b[j]] = -1 if b[j] in seen_b else j
    pairs = [
        (i, seen_b[line]) for line, i in seen_a.items() if i >= 0 and seen_b.get(line, -1) >= 0
    ]
    pairs.sort()
    # Longest increasing run of j (by i order): tails[k] is the index of the pair that ends the
    # best run of length k + 1.
    tails: list[int] = []
    tail_js: list[int] = []
    previous = [-1] * len(pairs)
    for n, (_, j) in enumerate(pairs):
        k = bisect.bisect_left(tail_js, j)
        previous[n] = tails[k - 1] if k else -1
        if k == len(tails):
            tails.append(n)
            tail_js.append(j)
        else:
            tails[k] = n
            tail_js[k] = j
    chain = []
    n = tails[-1] if tails else -1
    while n >= 0:
        chain.append(pairs[n])
        n = previous[n]
    chain.reverse()
    return chain


def _runs(keys: list[int]) -> tuple[list[tuple[int, int]], list[int]]:
    """Runs of equal keys as (key, length), and each run's first row (plus the end)."""
    runs: list[tuple[int, int]] = []
    starts: list[int] = []
    for y, key in enumerate(keys):
        if runs and runs[-1][0] == key:
            runs[-1] = (key, runs[-1][1] + 1)
        else:
            runs.append((key, 1))
            starts.append(y)
    starts.append(len(keys))
    return runs, starts


def _merge(blocks: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """Join equal blocks that continue each other at the same offset."""
    merged: list[tuple[int, int, int]] = []
    for from_y, to_y, height in blocks:
        if merged:
            f, t, h = merged[-1]
            if f + h == from_y and t + h == to_y:
                merged[-1] = (f, t, h + height)
                continue
        merged.append((from_y, to_y, height))
    return merged


def changed_blocks(row_counts: np.ndarray) -> list[tuple[int, int]]:
    """Changed pixels per row -> [(y, y_end)] blocks of changed rows, rows closer than
    BLOCK_GAP_ROWS joined; blocks of fewer than MIN_BLOCK_PIXELS pixels (a speck where a border
    at a fractional position rounded the other way) are left out."""
    blocks: list[list[int]] = []
    for y in map(int, np.flatnonzero(row_counts)):
        if blocks and y - blocks[-1][1] < BLOCK_GAP_ROWS:
            blocks[-1][1] = y + 1
        else:
            blocks.append([y, y + 1])
    return [(a, b) for a, b in blocks if row_counts[a:b].sum() >= MIN_BLOCK_PIXELS]


def summary(
    blocks: list[tuple[int, int]],
    shifts: list[Shift],
    height: int,
    size_change: tuple[int, int] | None = None,
    subtle: list[dict] = (),  # type: ignore[assignment]
    reflowed_below: int | None = None,
) -> str:
    """What the pixels say, in at most three clauses: what changed (blocks and subtle colour
    changes), what moved (merged into one clause), how the page's height changed. Coordinates
    are the new page's ("after"), since that is what the diff image shows; a move says where
    its content was on the old page too ("before")."""
    parts = []
    changes = []
    if reflowed_below is not None:
        # Blocks and moves would be every other line of the page: the reflow is the news.
        blocks, shifts, subtle = [], [], []
        parts.append(reflow_words(reflowed_below))
    if blocks:
        shown = ", ".join(f"{a}–{b}" for a, b in blocks[:3])
        more = f" and {len(blocks) - 3} more" if len(blocks) > 3 else ""
        plural = "s" if len(blocks) != 1 else ""
        changes.append(f"{len(blocks)} block{plural} changed at y={shown}{more} (after)")
    if subtle:
        first = subtle[0]
        plural = "s" if len(subtle) != 1 else ""
        changes.append(
            f"{len(subtle)} subtle colour change{plural} (under the threshold) at "
            f"x={first['x']}, y={first['y']} (after, {first['width']}×{first['height']} px"
            + (f"; and {len(subtle) - 1} more)" if len(subtle) > 1 else ")")
        )
    if changes:
        parts.append(" and ".join(changes))
    if shifts:
        parts.append(_moves_clause(shifts, height))
    if size_change and size_change[0] != size_change[1]:
        parts.append(f"page height {size_change[0]} → {size_change[1]} px")
    if not parts:
        return "no change"
    return "; ".join(parts)


def reflow_words(y: int) -> str:
    return f"text reflowed below y={y} (after); rows do not align"


def _moves_clause(shifts: list[Shift], height: int) -> str:
    if len(shifts) == 1:
        shift = shifts[0]
        direction = "up" if shift.dy < 0 else "down"
        where = f"before y={shift.from_y} → after y={shift.to_y}"
        if shift.to_y + shift.height >= height and shift.to_y > 0:
            return f"content below y={shift.from_y} moved {direction} {abs(shift.dy)} px ({where})"
        return (
            f"content at y={shift.from_y}–{shift.from_y + shift.height} moved "
            f"{direction} {abs(shift.dy)} px ({where})"
        )
    down = [s.dy for s in shifts if s.dy > 0]
    up = [-s.dy for s in shifts if s.dy < 0]
    ways = []
    for name, amounts in (("down", down), ("up", up)):
        if amounts:
            low, high = min(amounts), max(amounts)
            ways.append(f"{name} {low} px" if low == high else f"{name} {low}–{high} px")
    top = shifts[0].to_y
    bottom = shifts[-1].to_y + shifts[-1].height
    ways_text = ", ".join(ways)
    return f"content moved in {len(shifts)} places ({ways_text}) at y={top}–{bottom} (after)"
