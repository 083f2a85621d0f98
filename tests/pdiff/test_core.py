import functools
import io
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pdiff import comparison, core
from tests.conftest import BLACK, make_png

FIXTURES = Path(__file__).parent / "fixtures"
TOOLS = Path(__file__).resolve().parents[1] / "tools"
# Counts recorded by running pixelmatch itself on these pairs: 7.2.0 (YIQ) from npm, and its
# main branch (OKLab) from tests/tools/pixelmatch-main (tests/tools/pixelmatch_main_count.mjs).
RECORDED = json.loads((FIXTURES / "pixelmatch.json").read_text())
RECORDED_MAIN = json.loads((FIXTURES / "pixelmatch-main.json").read_text())
MAIN = TOOLS / "pixelmatch-main" / "fixtures"
HAVE_NODE = bool(shutil.which("node") and (TOOLS / "node_modules" / "pixelmatch").exists())
NODE_REASON = (
    "the recorded counts above still run; this re-runs pixelmatch itself where node "
    "and tests/tools/node_modules are installed (make test does)"
)


def fixture_pair(name):
    return (FIXTURES / f"{name}-before.png").read_bytes(), (
        FIXTURES / f"{name}-after.png"
    ).read_bytes()


def test_identical_bytes_short_circuit_without_decoding():
    png = make_png()
    result = core.compare(png, png)
    assert result.identical_bytes
    assert result.changed_pixels == 0
    assert result.total_pixels == 200 * 200
    assert result.diff_png is None
    assert not result.differs


def test_identical_pixels_in_different_encodings_count_nothing():
    result = core.compare(make_png(compress_level=0), make_png(compress_level=9))
    assert not result.identical_bytes
    assert result.changed_pixels == 0
    assert result.diff_png is None


def test_moved_square_changes_exactly_800_pixels():
    before = make_png(squares=[(20, 20, 20, BLACK)])
    after = make_png(squares=[(120, 120, 20, BLACK)])
    result = core.compare(before, after)
    assert result.changed_pixels == 800
    assert result.distortion == pytest.approx(800 / 40000)
    assert not result.size_changed
    boxes = sorted((r.x, r.y, r.width, r.height, r.changed_pixels) for r in result.regions)
    assert boxes == [(20, 20, 20, 20, 400), (120, 120, 20, 20, 400)]


def antialiased_edge(grey):
    """White | one grey column (the anti-aliased edge) | black."""
    pixels = np.full((40, 40, 4), 255, dtype=np.uint8)
    pixels[:, 20, :3] = grey
    pixels[:, 21:, :3] = 0
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def test_change_in_antialiased_edge_pixels_only_is_not_counted():
    before, after = antialiased_edge(128), antialiased_edge(165)
    assert core.compare(before, after).changed_pixels == 0
    # The change is real and above the threshold: counting anti-aliasing shows it.
    assert core.compare(before, after, include_aa=True).changed_pixels == 40


def test_threshold_decides_what_a_small_colour_change_is():
    before = make_png(squares=[(50, 50, 10, (250, 250, 250, 255))])
    after = make_png()
    assert core.compare(before, after).changed_pixels == 0
    assert core.compare(before, after, threshold=0.0).changed_pixels == 100


@pytest.mark.parametrize("key", sorted(RECORDED))
def test_yiq_counts_match_pixelmatch_7_2_on_real_screenshots(key):
    name, threshold = key.split("@")
    before, after = fixture_pair(name)
    result = core.compare(before, after, threshold=float(threshold), metric="yiq")
    assert result.changed_pixels == RECORDED[key]


@pytest.mark.parametrize("key", sorted(RECORDED_MAIN))
def test_oklab_counts_match_pixelmatch_main_on_real_screenshots(key):
    name, threshold = key.split("@")
    result = core.compare(*fixture_pair(name), threshold=float(threshold))
    assert result.metric == "oklab"
    assert result.changed_pixels == RECORDED_MAIN[key]


# pixelmatch main's own fixtures and the counts its test.js expects of them.
MAIN_EXPECTED = [
    ("1a", "1b", 0.05, 154),
    ("1a", "1b", 0.1, 120),
    ("2a", "2b", 0.05, 12821),
    ("3a", "3b", 0.05, 220),
    ("4a", "4b", 0.05, 36563),
    ("5a", "5b", 0.05, 0),
    ("6a", "6b", 0.05, 51),
    ("6a", "6a", 0.0, 0),
    ("7a", "7b", 0.1, 2440),
    ("8a", "5b", 0.05, 32896),
]


@pytest.mark.parametrize("one, two, threshold, expected", MAIN_EXPECTED)
def test_oklab_counts_match_pixelmatch_main_test_suite(one, two, threshold, expected):
    result = core.compare(MAIN / f"{one}.png", MAIN / f"{two}.png", threshold=threshold)
    assert result.changed_pixels == expected


@pytest.mark.parametrize("one, two, threshold, expected", MAIN_EXPECTED)
def test_counts_do_not_depend_on_the_stripe_height(one, two, threshold, expected, monkeypatch):
    monkeypatch.setattr(comparison, "STRIPE_PIXELS", 1)
    monkeypatch.setattr(comparison, "MIN_STRIPE_ROWS", 3)  # stripes of 3 rows: every edge case
    result = core.compare(MAIN / f"{one}.png", MAIN / f"{two}.png", threshold=threshold)
    assert result.changed_pixels == expected


def pixel(rgb):
    return make_png(1, 1, background=(*rgb, 255))


@pytest.mark.parametrize(
    "one, two, oklab, yiq",
    [
        # pixelmatch main's metric tests: the #127 pairs and the near-black toe.
        ((41, 56, 157), (41, 56, 0), 1, 1),  # very different
        ((39, 44, 92), (39, 44, 14), 1, 0),  # clearly different: YIQ misses it
        ((0, 254, 252), (94, 254, 252), 0, 1),  # nearly identical: YIQ flags it
        ((0, 254, 252), (47, 254, 252), 0, 1),  # imperceptible: YIQ flags it
        ((0, 0, 0), (13, 13, 13), 0, 0),
        ((0, 0, 0), (23, 23, 23), 1, 0),  # #000 -> #171717: YIQ misses it
        # A brand green going one shade darker (#16a34a -> #15803d) is a design change.
        ((0x16, 0xA3, 0x4A), (0x15, 0x80, 0x3D), 1, 0),
    ],
)
def test_oklab_metric_sees_what_people_see(one, two, oklab, yiq):
    assert core.compare(pixel(one), pixel(two)).changed_pixels == oklab
    assert core.compare(pixel(one), pixel(two), metric="yiq").changed_pixels == yiq


def test_unknown_metric_is_refused():
    with pytest.raises(ValueError, match="metric must be one of oklab, yiq"):
        core.compare(make_png(), make_png(), metric="lab")


def test_lookup_tables_are_the_ones_v8_computes():
    """pdiff/oklab_tables.bin is what tests/tools/oklab_tables.mjs prints (checked with node
    where it is installed) and has the shape pdiff.metric expects."""
    from pdiff import metric

    assert metric._LIN.size == 257 and metric._CBRT.size == 4098
    assert metric._LIN[255] == metric._LIN[256] == 1.0
    assert metric._CBRT[4096] == 1.0
    if shutil.which("node"):
        printed = subprocess.run(
            ["node", str(TOOLS / "oklab_tables.mjs")], check=True, capture_output=True
        ).stdout
        assert printed == (Path(metric.__file__).with_name("oklab_tables.bin")).read_bytes()


def _js_brightness_delta(center, neighbour, k, *, main: bool) -> float:
    """The anti-aliasing test's brightness delta for one pixel pair, as pixelmatch's JavaScript
    computes it: main's brightnessDelta (translucent pixels blended onto white; when the luma
    cancels out, alpha decides), or 7.2.0's colorDelta(img, img, k, m, yOnly=true) (blended
    onto its checkerboard, keyed by the centre's byte offset ``k``)."""
    r1, g1, b1, a1 = (int(v) for v in center)
    r2, g2, b2, a2 = (int(v) for v in neighbour)
    dr, dg, db, da = r1 - r2, g1 - g2, b1 - b2, a1 - a2
    if not dr and not dg and not db and not da:
        return 0.0
    if a1 < 255 or a2 < 255:
        rb, gb, bb = (
            (255, 255, 255)
            if main
            else (
                48 + 159 * (k % 2),
                48 + 159 * (int(k / 1.618033988749895) % 2),
                48 + 159 * (int(k / 2.618033988749895) % 2),
            )
        )
        dr = (r1 * a1 - r2 * a2 - rb * da) / 255
        dg = (g1 * a1 - g2 * a2 - gb * da) / 255
        db = (b1 * a1 - b2 * a2 - bb * da) / 255
        d = dr * 0.29889531 + dg * 0.58662247 + db * 0.11448223
        return da / 2 if main and d == 0 and da else d
    return dr * 0.29889531 + dg * 0.58662247 + db * 0.11448223


_main_brightness_delta = functools.partial(_js_brightness_delta, main=True)
_v7_brightness_delta = functools.partial(_js_brightness_delta, main=False)


def _js_has_many_siblings(img32, x1, y1, width, height) -> bool:
    """pixelmatch's hasManySiblings, transcribed."""
    val = img32[y1 * width + x1]
    x0, y0 = max(x1 - 1, 0), max(y1 - 1, 0)
    x2, y2 = min(x1 + 1, width - 1), min(y1 + 1, height - 1)
    zeroes = 1 if x1 in (x0, x2) or y1 in (y0, y2) else 0
    for x in range(x0, x2 + 1):
        for y in range(y0, y2 + 1):
            if (x, y) != (x1, y1):
                zeroes += img32[y * width + x] == val
                if zeroes > 2:
                    return True
    return False


def _js_antialiased(img, x1, y1, width, height, a32, b32, delta) -> bool:
    """pixelmatch's antialiased (index.js), transcribed; ``delta`` its brightness delta."""
    x0, y0 = max(x1 - 1, 0), max(y1 - 1, 0)
    x2, y2 = min(x1 + 1, width - 1), min(y1 + 1, height - 1)
    zeroes = 1 if x1 in (x0, x2) or y1 in (y0, y2) else 0
    least = most = 0.0
    least_at = most_at = (0, 0)
    centre = img[y1 * width + x1]
    for x in range(x0, x2 + 1):
        for y in range(y0, y2 + 1):
            if (x, y) == (x1, y1):
                continue
            d = delta(centre, img[y * width + x], (y1 * width + x1) * 4)
            if d == 0:
                zeroes += 1
                if zeroes > 2:
                    return False
            elif d < least:
                least, least_at = d, (x, y)
            elif d > most:
                most, most_at = d, (x, y)
    if least == 0 or most == 0:
        return False
    return (
        _js_has_many_siblings(a32, *least_at, width, height)
        and _js_has_many_siblings(b32, *least_at, width, height)
    ) or (
        _js_has_many_siblings(a32, *most_at, width, height)
        and _js_has_many_siblings(b32, *most_at, width, height)
    )


def _page_like_pixels(rng, count, translucent):
    """Random RGBA with runs of equal colours, as on a page; translucent ones where asked,
    white at any alpha among them (the luma cancels out, alpha decides)."""
    palette = rng.integers(0, 256, size=(6, 4), dtype=np.uint8)
    palette[:, 3] = 255
    if translucent:
        palette[::2, 3] = rng.integers(0, 255, size=3)
        palette[0, :3] = 255
    pixels = palette[rng.integers(0, len(palette), size=count)]
    noisy = rng.random(count) < 0.4
    pixels[noisy] = rng.integers(0, 256, size=(noisy.sum(), 4), dtype=np.uint8)
    pixels[noisy, 3] = 255
    if translucent:
        see_through = noisy & (rng.random(count) < 0.5)
        pixels[see_through, 3] = rng.integers(0, 255, size=see_through.sum())
        pixels[see_through & (rng.random(count) < 0.2), :3] = 255
    return pixels


@pytest.mark.parametrize("metric_name", ["oklab", "yiq"])
@pytest.mark.parametrize("translucent", [False, True])
def test_the_brightness_delta_is_pixelmatchs_bit_for_bit(translucent, metric_name):
    """The anti-aliasing test's ramp direction: main's brightnessDelta for OKLab, 7.2.0's
    for YIQ, bit for bit (sign of zero included), or a pixel could be taken for anti-aliasing
    where pixelmatch does not."""
    from pdiff import antialiasing

    rng = np.random.default_rng(8 + translucent)
    pixels = _page_like_pixels(rng, 20_000, translucent)
    js = _main_brightness_delta if metric_name == "oklab" else _v7_brightness_delta
    values = pixels.view(np.uint32).reshape(-1)
    found, expected = [], []
    for _ in range(20_000):
        centre, neighbour = (int(i) for i in rng.integers(0, len(pixels), size=2))
        k = centre * 4
        found.append(
            antialiasing.brightness_delta(
                values[centre], values[neighbour], k, metric_name == "yiq"
            )
        )
        expected.append(js(pixels[centre], pixels[neighbour], k))
    assert found == expected
    assert np.array_equal(np.signbit(found), np.signbit(expected))
    assert min(found) < 0 < max(found) and 0.0 in found


@pytest.mark.parametrize("metric_name", ["oklab", "yiq"])
@pytest.mark.parametrize("translucent", [False, True])
def test_the_anti_aliasing_test_is_pixelmatchs(translucent, metric_name, monkeypatch):
    """Pixel by pixel on two page-like images, borders included: the compiled test excludes
    exactly the pixels pixelmatch's antialiased() (in either image) would, also when a stripe's
    window starts below the canvas's top."""
    from pdiff import antialiasing, metric

    rng = np.random.default_rng(20 + translucent)
    width, height = 37, 23
    one = _page_like_pixels(rng, width * height, translucent)
    two = one.copy()
    changed = rng.random(len(one)) < 0.3
    two[changed] = _page_like_pixels(rng, int(changed.sum()), translucent)
    a32, b32 = one.view(np.uint32).reshape(-1), two.view(np.uint32).reshape(-1)
    delta = _main_brightness_delta if metric_name == "oklab" else _v7_brightness_delta
    pixels = np.arange(width * height)
    expected = [
        _js_antialiased(one, p % width, p // width, width, height, a32, b32, delta)
        or _js_antialiased(two, p % width, p // width, width, height, b32, a32, delta)
        for p in pixels
    ]
    yiq = metric_name == "yiq"
    found = antialiasing.excluded(a32, b32, pixels, width, 0, height, yiq)
    assert found.tolist() == expected and 0 < sum(expected) < len(expected) // 2
    # The same rows seen through a window that starts 5 rows down, with its context.
    win = metric.Window(
        one.reshape(height, width, 4)[3:], two.reshape(height, width, 4)[3:], 3, height
    )
    inside = np.arange(2 * width, win.flat1.shape[0])
    windowed = antialiasing.excluded(win.a32, win.b32, inside, width, 3, height, yiq)
    assert windowed.tolist() == expected[5 * width :]


@pytest.mark.skipif(not HAVE_NODE, reason=NODE_REASON)
@pytest.mark.parametrize("name", sorted({key.split("@")[0] for key in RECORDED}))
@pytest.mark.parametrize(
    "metric, script", [("yiq", "pixelmatch_count.mjs"), ("oklab", "pixelmatch_main_count.mjs")]
)
def test_counts_match_pixelmatch_run_live(name, metric, script):
    output = subprocess.run(
        [
            "node",
            str(TOOLS / script),
            str(FIXTURES / f"{name}-before.png"),
            str(FIXTURES / f"{name}-after.png"),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    expected = json.loads(output)["changed"]
    assert core.compare(*fixture_pair(name), metric=metric).changed_pixels == expected


def test_real_screenshot_change_is_located():
    result = core.compare(*fixture_pair("text"))
    assert result.changed_pixels > 0
    region = result.regions[0]
    image = Image.open(io.BytesIO(result.diff_png))
    assert image.size == (480, 240)
    # Every changed pixel is red in the diff image and inside the reported region.
    rgb = np.asarray(image.convert("RGB"))
    red = np.argwhere((rgb[..., 0] == 255) & (rgb[..., 1] == 0) & (rgb[..., 2] == 0))
    assert len(red) == result.changed_pixels
    assert red[:, 1].min() >= region.x and red[:, 1].max() < region.x + region.width
    assert red[:, 0].min() >= region.y and red[:, 0].max() < region.y + region.height


def test_diff_image_is_the_new_page_faded_to_grey():
    before = make_png(squares=[(20, 20, 20, BLACK)])
    after = make_png(squares=[(120, 120, 20, BLACK)])
    rgb = np.asarray(Image.open(io.BytesIO(core.compare(before, after).diff_png)).convert("RGB"))
    assert tuple(rgb[0, 0]) == (254, 254, 254)  # white page, faded: near white
    assert tuple(rgb[130, 130]) == (255, 0, 0)  # changed: red
    assert tuple(rgb[25, 25]) == (255, 0, 0)
    assert rgb[100, 100, 0] == rgb[100, 100, 1] == rgb[100, 100, 2]  # greys elsewhere


@pytest.mark.parametrize("width, height, rows", [(201, 900, 301), (320, 100, 100)])
def test_the_diff_images_top_is_kept_as_it_is_written(width, height, rows, monkeypatch):
    """``diff_top`` (for a thumbnail) is the diff PNG's top, pixel for pixel, also when it spans
    several stripes and the 4-bit PNG pads its rows (an odd width)."""
    monkeypatch.setattr(comparison, "STRIPE_PIXELS", 64 * width)  # stripes of 64 rows
    before = make_png(width, height, squares=[(20, 20, 40, BLACK), (0, 250, 10, BLACK)])
    after = make_png(width, height, squares=[(60, 60, 40, BLACK), (100, 280, 30, (200, 0, 0, 255))])
    result = core.compare(before, after, diff_top_rows=rows)
    rgb = np.asarray(Image.open(io.BytesIO(result.diff_png)).convert("RGB"))
    assert result.diff_top.shape == (rows, width, 3)
    assert np.array_equal(result.diff_top, rgb[:rows])
    assert core.compare(before, after).diff_top is None  # not asked for
    assert core.compare(before, before, diff_top_rows=rows).diff_top is None  # no diff image


def test_size_change_pads_onto_the_larger_canvas_and_is_reported():
    result = core.compare(make_png(200, 200), make_png(200, 250))
    assert result.size_changed
    assert result.before_size == (200, 200) and result.after_size == (200, 250)
    assert result.total_pixels == 200 * 250
    assert result.changed_pixels == 200 * 50  # exactly the new strip
    assert (result.regions[0].y, result.regions[0].height) == (200, 50)
    assert result.differs


def test_size_change_in_width_and_height_keeps_the_top_left_aligned():
    before = make_png(100, 100, squares=[(10, 10, 10, BLACK)])
    after = make_png(120, 90, squares=[(10, 10, 10, BLACK)])
    result = core.compare(before, after)
    # Canvas 120x100. The strip x 100..120 (90 high) is new, the strip y 90..100 (100 wide)
    # is gone; the corner beyond both is padding on both sides, so unchanged.
    assert result.changed_pixels == 20 * 90 + 100 * 10
    assert result.total_pixels == 120 * 100
    assert result.size_changed


def test_alpha_only_change_is_seen():
    before, after = fixture_pair("alpha")
    assert core.compare(before, after).changed_pixels == RECORDED_MAIN["alpha@0.1"] > 0
    assert core.compare(before, after, metric="yiq").changed_pixels == RECORDED["alpha@0.1"]


def test_transparent_and_opaque_white_differ():
    transparent = make_png(50, 50, background=(255, 255, 255, 0))
    opaque = make_png(50, 50)
    assert core.compare(transparent, opaque).changed_pixels > 0


@pytest.mark.parametrize("side", ["before", "after"])
def test_corrupt_image_names_the_side(side):
    good = make_png()
    corrupt = good[:60] + b"garbage" * 10
    args = (corrupt, good) if side == "before" else (good, corrupt)
    with pytest.raises(core.ImageDecodeError, match=side):
        core.compare(*args)


def test_not_an_image_at_all():
    with pytest.raises(core.ImageDecodeError, match="after image is not a PNG image: text"):
        core.compare(make_png(), b"this is a log file, not a screenshot")


def test_empty_input():
    with pytest.raises(core.ImageDecodeError, match="before image is empty"):
        core.compare(b"", make_png())


def test_paths_are_accepted(tmp_path):
    (tmp_path / "a.png").write_bytes(make_png(squares=[(0, 0, 10, BLACK)]))
    (tmp_path / "b.png").write_bytes(make_png())
    assert core.compare(tmp_path / "a.png", str(tmp_path / "b.png")).changed_pixels == 100


def test_missing_path_is_a_decode_error(tmp_path):
    with pytest.raises(core.ImageDecodeError, match="cannot be read"):
        core.compare(tmp_path / "missing.png", make_png())


@pytest.mark.parametrize(
    "fmt, name",
    [("JPEG", "JPEG"), ("GIF", "GIF"), ("WEBP", "WebP"), ("BMP", "BMP"), ("TIFF", "TIFF")],
)
def test_only_png_is_accepted(fmt, name):
    out = io.BytesIO()
    Image.new("RGB", (30, 30), (255, 255, 255)).save(out, format=fmt)
    with pytest.raises(core.ImageDecodeError, match=f"^before image is not a PNG image: {name}$"):
        core.compare(out.getvalue(), make_png(30, 30))


def test_identical_bytes_that_are_not_png_are_refused_too():
    out = io.BytesIO()
    Image.new("RGB", (30, 30)).save(out, format="JPEG")
    with pytest.raises(core.ImageDecodeError, match="not a PNG image: JPEG"):
        core.compare(out.getvalue(), out.getvalue())


def png_header(width, height):
    from pdiff.diffimage import png_chunk

    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 6, 0, 0, 0])
    return core.PNG_SIGNATURE + png_chunk(b"IHDR", header) + png_chunk(b"IEND", b"")


def test_decompression_bomb_is_refused_from_its_header():
    bomb = png_header(50_000, 50_000)  # 2.5 billion pixels claimed in 45 bytes
    with pytest.raises(
        core.ImageDecodeError, match="after image is too large: 50000x50000 is 2,500,000,000 pixels"
    ):
        core.compare(make_png(), bomb)


@pytest.mark.parametrize("mode", ["RGB", "L", "LA", "P", "I;16"])
def test_every_png_colour_type_is_read_as_rgba(mode):
    rgba = Image.new("RGBA", (40, 30), (255, 255, 255, 255))
    rgba.paste(Image.new("RGBA", (10, 10), (0, 0, 0, 255)), (5, 5))
    converted = rgba.convert("I;16" if mode == "I;16" else mode)
    if mode == "I;16":
        converted = Image.fromarray(np.asarray(rgba.convert("L")).astype(np.uint16) * 257)
    out = io.BytesIO()
    converted.save(out, format="PNG")
    result = core.compare(make_png(40, 30, squares=[(5, 5, 10, BLACK)]), out.getvalue())
    assert result.changed_pixels == 0


def test_threshold_out_of_range():
    with pytest.raises(ValueError, match="threshold"):
        core.compare(make_png(), make_png(), threshold=1.5)


def test_wholly_different_large_images_are_counted_in_slices():
    before = make_png(1500, 1500)
    after = make_png(1500, 1500, background=BLACK)
    assert core.compare(before, after).changed_pixels == 1500 * 1500  # more than one slice


def test_decode_gives_the_whole_image_as_rgba():
    png = make_png(30, 20, squares=[(5, 5, 4, BLACK)])
    pixels = core.decode(png)
    assert pixels.shape == (20, 30, 4) and pixels.dtype == np.uint8
    assert tuple(pixels[6, 6]) == (0, 0, 0, 255) and tuple(pixels[0, 0]) == (255, 255, 255, 255)
    with pytest.raises(core.ImageDecodeError, match="image is not a PNG image: text"):
        core.decode(b"hello")


def test_oklab_scale_is_black_to_white_one():
    from pdiff.metric import oklab_distance

    assert oklab_distance((0, 0, 0), (255, 255, 255)) == pytest.approx(1.0, abs=1e-6)
    assert oklab_distance((255, 255, 255), (255, 255, 255)) == 0
    # The threshold is on that scale: mid grey is about 0.46 from white.
    grey = oklab_distance((128, 128, 128), (255, 255, 255))
    assert 0.4 < grey < 0.5
    assert (
        core.compare(
            pixel((128, 128, 128)), pixel((255, 255, 255)), threshold=grey + 0.01
        ).changed_pixels
        == 0
    )
    assert (
        core.compare(
            pixel((128, 128, 128)), pixel((255, 255, 255)), threshold=grey - 0.01
        ).changed_pixels
        == 1
    )
    assert (
        core.compare(pixel((0, 0, 0)), pixel((255, 255, 255)), threshold=0.99).changed_pixels == 1
    )


def _tall_pair(changes_at):
    from tests.pdiff.test_verdict import png

    before = np.full((12_000, 400, 4), 255, dtype=np.uint8)
    after = before.copy()
    for y in changes_at:
        after[y : y + 20, 50:350, :3] = 0
    return png(before), png(after)


def test_stop_over_stops_at_the_first_stripe_past_the_tolerance():
    before, after = _tall_pair([100, 11_000])
    whole = core.compare(before, after)
    stopped = core.compare(before, after, stop_over=0.0, make_diff_png=False, align=False)
    assert stopped.partial and not whole.partial
    assert 0 < stopped.changed_pixels < whole.changed_pixels  # the change at 11,000 unread
    assert not stopped.within(0.0)


def test_stop_over_starts_with_a_small_stripe_so_a_change_at_the_top_reads_little():
    before, after = _tall_pair([100, 150, 9_000])
    stopped = core.compare(before, after, stop_over=0.0, make_diff_png=False, align=False)
    # The pass stops after the first stripe (rows 0-127), which holds rows 100-119 of the first
    # change and none of the second (150) or third (9,000).
    assert core.FIRST_STRIPE_ROWS == 128
    assert stopped.partial and stopped.changed_pixels == 20 * 300


def test_bands_grow_from_the_first_to_the_full_stripe():
    from pdiff.pngio import bands

    assert list(bands(1000, 300)) == [(0, 300), (300, 600), (600, 900), (900, 1000)]
    assert list(bands(1000, 300, 128)) == [
        (0, 128),
        (128, 384),
        (384, 684),
        (684, 984),
        (984, 1000),
    ]
    assert list(bands(50, 300, 128)) == [(0, 50)]


def test_stop_over_reads_everything_while_within_the_tolerance():
    before, after = _tall_pair([100, 11_000])
    tolerant = core.compare(before, after, stop_over=0.01, make_diff_png=False, align=False)
    whole = core.compare(before, after, make_diff_png=False, align=False)
    assert not tolerant.partial and tolerant.within(0.01)
    assert tolerant.changed_pixels == whole.changed_pixels == 2 * 20 * 300
