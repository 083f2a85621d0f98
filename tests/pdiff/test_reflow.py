"""Text that reflowed: the row alignment's work is bounded. When lining rows up would explain
less than half of what changed (each line holds other words; only code blocks and headings still
match, lower down), compare() gives up before the aligned pass and says so, in a fixed share of
the time the unaligned comparison takes. Pages rendered by real Chromium."""

import statistics
import time

import numpy as np
import pytest

from pdiff import align, core, parallel, realign
from tests.processes import PLAIN_CHROMIUM_ARGS

pytestmark = pytest.mark.e2e

WORDS = [
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "the",
    "lazy",
    "dog",
    "while",
    "a",
    "heap",
    "queue",
    "keeps",
    "its",
    "smallest",
    "item",
    "first",
    "and",
    "every",
    "parent",
    "is",
    "no",
    "greater",
    "than",
    "its",
    "children",
    "so",
    "that",
    "popping",
    "gives",
    "them",
    "in",
    "order",
]


def article(spacing: str) -> str:
    rng = np.random.default_rng(7)
    parts = [
        "<html><head><style>body{font-family:'DejaVu Sans',sans-serif;margin:40px;width:900px}"
        "pre{background:#eef;padding:8px}"
        + (f"p{{letter-spacing:{spacing}}}" if spacing else "")
        + "</style></head><body>"
    ]
    for section in range(24):
        words = " ".join(rng.choice(WORDS, size=90))
        parts.append(f"<h2>Section {section}</h2><p>{words}.</p>")
        parts.append(f"<pre>heapq.heappush(heap, {section})\nheapq.heappop(heap)</pre>")
    return "".join(parts) + "</body></html>"


@pytest.fixture(scope="module")
def reflowed_pair():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=PLAIN_CHROMIUM_ARGS
        )
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        shots = []
        for spacing in ("", "0.6px"):
            page.set_content(article(spacing))
            shots.append(page.screenshot(full_page=True))
        browser.close()
    return shots


def median_seconds(action, repeat=3) -> float:
    action()  # warm: compiled kernels loaded, threads started
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def test_reflowed_text_gives_up_aligning_and_says_so(reflowed_pair, monkeypatch):
    before, after = reflowed_pair

    def no_aligned_pass(*args, **kwargs):
        raise AssertionError("the aligned pass was made for rows that do not align")

    monkeypatch.setattr(realign, "aligned_pass", no_aligned_pass)
    result = core.compare(before, after)
    assert result.size_changed and result.changed_pixels > 100_000
    assert result.reflowed_below is not None and result.reflowed_below < 200
    assert result.shifts == [] and result.aligned_changed_pixels is None
    assert result.summary.startswith(
        f"text reflowed below y={result.reflowed_below} (after); rows do not align; page height "
    )
    assert result.as_dict()["reflowed_below"] == result.reflowed_below
    # The counts are the unaligned comparison's, exactly.
    assert result.changed_pixels == core.compare(before, after, align=False).changed_pixels


def test_giving_up_takes_a_fixed_share_of_the_unaligned_time(reflowed_pair):
    before, after = reflowed_pair
    aligned = median_seconds(lambda: core.compare(before, after))
    unaligned = median_seconds(lambda: core.compare(before, after, align=False))
    print(f"with the alignment {aligned:.3f} s, without {unaligned:.3f} s")
    # Hashing the rows and matching them is all it adds (the aligned pass took 3 to 6 times
    # the unaligned comparison on such pages before it gave up).
    assert aligned <= 1.5 * unaligned + 0.05


def test_content_that_only_moved_is_still_aligned(reflowed_pair):
    """The same page with one paragraph cut: what is below moved up and aligns."""
    import io

    from PIL import Image

    before, _ = reflowed_pair
    image = np.asarray(Image.open(io.BytesIO(before)).convert("RGBA"))
    cut = np.concatenate([image[:300], image[420:]])
    out = io.BytesIO()
    Image.fromarray(cut).save(out, format="PNG")
    result = core.compare(before, out.getvalue())
    assert result.reflowed_below is None
    assert result.shifts and result.shifts[0].dy == -120
    assert "moved up 120 px" in result.summary


def test_reflowed_below_is_where_many_open_pieces_hold_most_of_the_change():
    # Ten paragraphs (open rows), each followed by a code block that moved (matched).
    matched = [(0, 100, 0)] + [(100 + 60 * n + 40, 100 + 60 * n + 60, 2 * n) for n in range(10)]
    moved = align.Alignment(matched, [])
    changes = np.zeros(800, dtype=np.int64)
    for n in range(10):
        changes[100 + 60 * n + 5 : 100 + 60 * n + 40] = 50  # the paragraphs: changed
        changes[100 + 60 * n + 40 : 100 + 60 * n + 60] = 10  # the blocks: changed unaligned
    assert moved.reflowed_below(changes, 800) == 105
    for n in range(10):
        changes[100 + 60 * n + 40 : 100 + 60 * n + 60] = 1000  # the moves hold most: line up
    assert moved.reflowed_below(changes, 800) is None
    # One block inserted (few open pieces): lined up whatever its share.
    one = align.Alignment([(0, 100, 0), (140, 800, 40)], [align.Shift(100, 140, 40)])
    changes[:] = 0
    changes[100:140] = 1000
    changes[140:800] = 1
    assert one.reflowed_below(changes, 800) is None


def test_the_counts_do_not_depend_on_how_the_work_is_split(reflowed_pair, monkeypatch):
    before, after = reflowed_pair
    together = core.compare(before, after).as_dict()
    monkeypatch.setattr(parallel, "threads", lambda: 1)
    alone = core.compare(before, after).as_dict()
    monkeypatch.setattr(parallel, "threads", lambda: 5)
    from pdiff import metric

    monkeypatch.setattr(metric, "_SPLIT_PIXELS", 1000)
    five = core.compare(before, after).as_dict()
    assert together == alone == five
