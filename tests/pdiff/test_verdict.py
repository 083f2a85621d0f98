"""What a reviewer is told, on pages rendered by real Chromium: subtle colour changes found,
rendering noise not; content that moved reported as a move, not as a page of red."""

import io

import numpy as np
import pytest
from PIL import Image

from pdiff import align, core
from tests import pythondoc
from tests.processes import PLAIN_CHROMIUM_ARGS

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=PLAIN_CHROMIUM_ARGS
        )
        yield browser
        browser.close()


def render(chromium, html, width=640, height=300):
    page = chromium.new_page(viewport={"width": width, "height": height})
    try:
        page.set_content(html)
        return page.screenshot()
    finally:
        page.close()


def card(button="#2563eb", background="#ffffff", style=""):
    """A pricing card: Tailwind gray-200 border, a blue-600 button."""
    return f"""<html><body style="margin:0;font-family:'DejaVu Sans',sans-serif;background:#fff">
      <div style="position:absolute;left:40px;top:30px;width:500px;padding:24px;
                  background:{background};border:1px solid #e5e7eb;border-radius:8px;{style}">
        <h2 style="margin:0 0 8px">Pro plan</h2>
        <p style="margin:0 0 16px;color:#374151">Everything in Free, plus unlimited builds,
          webhooks and priority support for your whole team.</p>
        <button style="background:{button};color:#fff;border:0;border-radius:6px;
                       padding:10px 18px;font-size:15px">Upgrade now</button>
      </div></body></html>"""


def test_button_from_blue_600_to_blue_700_is_a_subtle_region(chromium):
    before, after = render(chromium, card()), render(chromium, card(button="#1d4ed8"))
    result = core.compare(before, after)
    assert result.changed_pixels == 0  # every pixel is under the threshold...
    [region] = result.subtle_regions  # ...but the button as a whole is found
    assert 60 <= region.x <= 70 and 140 <= region.y <= 150
    assert 100 <= region.width <= 140 and 30 <= region.height <= 45
    assert region.pixels >= core.SUBTLE_MIN_AREA
    assert region.mean_delta == pytest.approx(0.072, abs=0.01)
    assert result.differs and not result.within(0.5)
    assert result.summary == (
        f"1 subtle colour change (under the threshold) at x={region.x}, y={region.y} "
        f"(after, {region.width}×{region.height} px)"
    )


def test_card_from_white_to_gray_50_is_a_subtle_region(chromium):
    before, after = render(chromium, card()), render(chromium, card(background="#f9fafb"))
    result = core.compare(before, after)
    assert result.changed_pixels == 0
    [region] = result.subtle_regions
    assert (region.x, region.y) == (41, 31)  # inside the 1 px border
    assert region.width > 500 and region.height > 150
    assert region.mean_delta == pytest.approx(0.0196, abs=0.002)


def test_the_subtle_area_threshold_is_a_setting(chromium):
    before, after = render(chromium, card()), render(chromium, card(button="#1d4ed8"))
    assert core.compare(before, after, subtle_min_area=100_000).subtle_regions == []
    assert core.compare(before, after, subtle=False).subtle_regions == []


@pytest.mark.parametrize(
    "noise",
    [
        "text-rendering:geometricPrecision",  # glyphs rasterised without hinting
        "transform:translateX(0.3px)",  # the whole card a third of a pixel to the right
        "font-kerning:none",
    ],
)
def test_rendering_noise_is_never_a_subtle_region(chromium, noise):
    before, after = render(chromium, card()), render(chromium, card(style=noise))
    assert before != after
    result = core.compare(before, after)
    assert result.subtle_regions == []


def test_the_same_page_rendered_twice_has_nothing_to_report(chromium):
    first, second = render(chromium, card()), render(chromium, card())
    result = core.compare(first, second)
    assert (result.changed_pixels, result.subtle_regions, result.shifts) == (0, [], [])
    assert result.summary == "no change"


def test_yiq_builds_get_subtle_regions_too(chromium):
    before, after = render(chromium, card()), render(chromium, card(background="#f9fafb"))
    assert len(core.compare(before, after, metric="yiq").subtle_regions) == 1


# --- shifts -------------------------------------------------------------------------------------


def png(pixels):
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def striped_page(lines, width=300, sidebar=True):
    """White page, one black 'line of text' per entry of ``lines`` (its x extent), 10 px apart,
    and a fixed grey sidebar strip with marks that do not move."""
    pixels = np.full((20 + 12 * len(lines) + 40, width, 4), 255, dtype=np.uint8)
    for n, (x0, x1) in enumerate(lines):
        top = 20 + 12 * n
        pixels[top : top + 4, x0:x1, :3] = 0
        pixels[top + 1, x0:x1:3, :3] = 90  # texture, so rows are not all alike
    if sidebar:
        pixels[:, :40, :3] = 220
        pixels[8::9, 5:35, :3] = 60
    return pixels


def test_inserted_lines_are_a_shift_not_a_page_of_changes():
    lines = [(70, 70 + (n * 37) % 150) for n in range(40)]
    before = striped_page(lines)
    after = striped_page(lines[:5] + [(70, 230), (70, 160)] + lines[5:])  # two lines inserted
    result = core.compare(png(before), png(after))
    assert result.distortion > 0.05  # unaligned, everything below the insertion is red
    [shift] = result.shifts
    assert shift.dy == 24 and shift.to_y > 80
    assert shift.to_y + shift.height == after.shape[0]
    # After aligning, only the inserted lines (and the fixed sidebar's marks next to them,
    # which now face other rows) are left.
    assert 0 < result.aligned_changed_pixels < 2 * 4 * 160 + 300
    [(start, end)] = result.changed_blocks
    assert start >= 80 and end <= 20 + 12 * 7 + 4 + align.BLOCK_GAP_ROWS
    assert result.summary == (
        f"1 block changed at y={start}–{end} (after); content below y={shift.from_y} moved "
        f"down 24 px (before y={shift.from_y} → after y={shift.to_y}); page height "
        f"{before.shape[0]} → {after.shape[0]} px"
    )
    aligned = np.asarray(Image.open(io.BytesIO(result.aligned_diff_png)).convert("RGB"))
    red = (aligned[..., 0] == 255) & (aligned[..., 1] == 0)
    assert red.sum() == result.aligned_changed_pixels
    assert not red[end + align.BLOCK_GAP_ROWS :].any()


def test_removed_text_next_to_blank_space_is_still_a_change():
    """A line shortened (text removed at its end) while everything below moves up: the removed
    text faces white at the moved offset, so only checking the old image finds it."""
    lines = [(70, 70 + (n * 37) % 150) for n in range(40)]
    shorter = [(70, 230), (70, 100)] + lines  # a paragraph of two lines...
    one_line = [(70, 160)] + lines  # ...becomes one shorter line
    result = core.compare(png(striped_page(shorter)), png(striped_page(one_line)))
    assert [s.dy for s in result.shifts] == [-12]
    assert result.aligned_changed_pixels >= 0.9 * 4 * (230 - 160)  # the text cut from line 1
    assert result.changed_blocks[0][0] <= 24


def test_no_shift_when_nothing_moved():
    lines = [(70, 70 + (n * 37) % 150) for n in range(20)]
    changed = list(lines)
    changed[8] = (70, 230)
    result = core.compare(png(striped_page(lines)), png(striped_page(changed)))
    assert result.shifts == [] and result.aligned_diff_png is None
    assert result.aligned_changed_pixels is None
    assert result.as_dict()["aligned_changed_pixels"] == result.changed_pixels
    assert (
        result.summary == f"1 block changed at y={result.changed_blocks[0][0]}–"
        f"{result.changed_blocks[0][1]} (after)"
    )


@pytest.fixture(scope="module")
def heapq_pair(chromium, tmp_path_factory):
    """library/heapq.html of python3.11-doc before and after a one-sentence edit near the top,
    captured full page by Chromium."""
    root = tmp_path_factory.mktemp("docs")
    pages = pythondoc.heapq_edit(root)
    server, base = pythondoc.serve(root)
    shots = []
    page = chromium.new_page(viewport={"width": 1280, "height": 800})
    for path in pages:
        page.goto(f"{base}/{path}")
        shots.append(page.screenshot(full_page=True))
    page.close()
    server.shutdown()
    return shots


def test_one_sentence_edit_on_a_docs_page_is_one_block_and_a_move(heapq_pair):
    result = core.compare(*heapq_pair)
    assert result.distortion > 0.05  # unaligned: the whole page below is red (6.2 % here)
    [(start, end)] = result.changed_blocks
    assert 190 <= start <= 210 and end <= 250  # the first paragraph, and nothing else
    [shift] = result.shifts
    assert shift.dy == -22
    assert shift.to_y + shift.height == result.after_size[1]
    assert result.summary.startswith(
        f"1 block changed at y={start}–{end} (after); content below y={shift.from_y} moved up "
        f"22 px (before y={shift.from_y} → after y={shift.to_y})"
    )
    assert result.aligned_changed_pixels < 2000
    assert result.subtle_regions == []
    # The aligned diff shows the removed words in red over the new page's paragraph (what
    # replaced them), never over the text that moved up; below them at most a speck or two (a
    # border at a fractional position that rounded the other way).
    aligned = np.asarray(Image.open(io.BytesIO(result.aligned_diff_png)).convert("RGB"))
    assert aligned.shape[0] == max(result.before_size[1], result.after_size[1])  # no band
    red = (aligned[..., 0] == 255) & (aligned[..., 1] == 0)
    assert red[start:end].sum() > 400
    assert red[:start].sum() == 0 and red[end:].sum() <= 3


def test_content_that_only_moved_has_an_aligned_diff_with_nothing_left():
    lines = [(70, 70 + (n * 37) % 150) for n in range(40)]
    page = striped_page(lines, sidebar=False)
    moved = np.full((page.shape[0] + 30, page.shape[1], 4), 255, dtype=np.uint8)
    moved[30:] = page  # everything 30 px lower: a banner's worth of white space at the top
    result = core.compare(png(page), png(moved))
    assert result.changed_pixels > 0
    assert [(s.dy, s.to_y + s.height) for s in result.shifts] == [(30, moved.shape[0])]
    assert result.aligned_changed_pixels == 0 and result.changed_blocks == []
    [shift] = result.shifts
    assert result.summary.startswith(
        f"content below y={shift.from_y} moved down 30 px (before y={shift.from_y} → after "
    )
    aligned = np.asarray(Image.open(io.BytesIO(result.aligned_diff_png)).convert("RGB"))
    assert not ((aligned[..., 0] == 255) & (aligned[..., 1] == 0)).any()


def test_a_removed_block_opens_a_band_in_the_aligned_diff_never_drawn_over_what_moved_up():
    """A picture removed from the middle of a page: everything below moves up. The aligned
    diff shows the picture where it was, in a band of its own rows opened there, and the text
    that moved up into its place is not red."""
    lines = [(70, 70 + (n * 37) % 150) for n in range(40)]
    before = striped_page(lines, sidebar=False)
    picture = np.full((60, before.shape[1], 4), 255, dtype=np.uint8)
    picture[10:50, 100:200, :3] = (30, 90, 160)  # a diagram
    before = np.concatenate([before[:200], picture, before[200:]])
    after = striped_page(lines, sidebar=False)
    result = core.compare(png(before), png(after))
    aligned = np.asarray(Image.open(io.BytesIO(result.aligned_diff_png)).convert("RGB"))
    assert aligned.shape[0] == before.shape[0] + 60  # the canvas, and the band of 60 rows
    red = (aligned[..., 0] == 255) & (aligned[..., 1] == 0) & (aligned[..., 2] == 0)
    ys, xs = np.nonzero(red)
    assert ys.min() >= 200 and ys.max() < 260  # the diagram, in the band opened at row 200
    assert xs.min() >= 100 and xs.max() < 200
    assert red.sum() == result.aligned_changed_pixels >= 0.99 * 40 * 100  # less its AA corners
    # Below the band, the new page's rows as they are: what moved up is not red.
    assert not red[260:].any()


def test_many_moves_are_one_clause_and_a_summary_three_at_most():
    """Twenty blocks each 4 px lower than the last (a padding rule on twenty elements): one
    clause for the moves, one for the page's height, nothing more."""
    lines = [(70, 70 + (n * 37) % 150) for n in range(60)]
    before = striped_page(lines, sidebar=False)
    rows = []
    for n in range(len(before)):
        rows.append(before[n])
        if n > 20 and (n - 20) % 36 == 0 and len(rows) < len(before) + 80:
            rows += [np.full_like(before[n], 255)] * 4
    after = np.stack(rows)
    result = core.compare(png(before), png(after))
    assert len(result.shifts) > 3
    clauses = result.summary.split("; ")
    assert len(clauses) <= 3
    [moves] = [clause for clause in clauses if clause.startswith("content moved")]
    assert moves.startswith(f"content moved in {len(result.shifts)} places (down 4–")
    assert moves.endswith("(after)")
    assert clauses[-1] == f"page height {before.shape[0]} → {after.shape[0]} px"
