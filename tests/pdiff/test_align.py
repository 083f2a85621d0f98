"""pdiff/align.py: the row matcher behind shifts, on short sequences (difflib) and long ones
(cut at anchors first)."""

import difflib
import random
import time

import pytest

from pdiff import align


def valid(blocks, a, b):
    i0 = j0 = 0
    for i, j, size in blocks:
        assert size > 0 and i >= i0 and j >= j0 and a[i : i + size] == b[j : j + size]
        i0, j0 = i + size, j + size
    return True


@pytest.mark.parametrize("seed", range(20))
def test_short_sequences_match_as_difflib_does(seed):
    rng = random.Random(seed)
    a = [rng.randint(0, 6) for _ in range(rng.randint(0, 200))]
    b = [rng.randint(0, 6) for _ in range(rng.randint(0, 200))]
    expected = [
        tuple(m)
        for m in difflib.SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks()
        if m.size
    ]
    assert align.matching_blocks(a, b) == expected


@pytest.mark.parametrize("seed", range(20))
def test_long_sequences_give_valid_blocks_cut_at_anchors(seed, monkeypatch):
    monkeypatch.setattr(align, "DIFFLIB_CELLS", 50)  # every gap over 7 x 7 is cut at anchors
    rng = random.Random(seed)
    a = [rng.randint(0, 40) for _ in range(rng.randint(0, 300))]
    b = [x if rng.random() < 0.8 else rng.randint(0, 40) for x in a]
    assert valid(align.matching_blocks(a, b), a, b)


def rows(count, start=0):
    # A table of contents: a distinct line of text, then the same blank gap, over and over.
    return [key for n in range(start, start + count) for key in (10_000 + n, 1, 1, 2)]


def test_a_moved_block_in_a_long_page_is_found():
    old = rows(6000)
    new = old[:4000] + [7, 7, 8, 9] * 10 + old[4000:]  # 40 rows inserted at row 4,000
    started = time.monotonic()
    moved = align.align(old, new)
    assert time.monotonic() - started < 10
    assert [(s.from_y, s.to_y, s.dy) for s in moved.shifts] == [(4000, 4040, 40)]


def test_a_long_page_whose_every_line_changed_is_aligned_in_bounded_time():
    # python3.11-doc's allos.html with every link recoloured: 20,000 runs of which none match
    # but the blank gaps; difflib alone took 47 s on it.
    old = rows(7000)
    new = rows(7000, start=50_000)
    started = time.monotonic()
    moved = align.align(old, new)
    assert time.monotonic() - started < 10
    assert moved.shifts == []
