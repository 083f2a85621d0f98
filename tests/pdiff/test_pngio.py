"""PNG reading: plain truecolour PNGs (8-bit RGB or RGBA, not interlaced, no tRNS: what browsers
and screenshot tools write, at any compression level) are decoded by pdiff.pngio itself, whole up
to WHOLE_DECODE_PIXELS or a stripe at a time; everything else is streamed by libvips. Both give
libvips's pixels, the same results, and errors that say what is wrong."""

import io
from pathlib import Path

import numpy as np
import pytest
import pyvips
from PIL import Image

from capture import png as capture_png
from pdiff import core, diffimage, pngio
from tests.conftest import BLACK, make_png

FIXTURES = Path(__file__).parent / "fixtures"
PAIRS = ["shift", "text", "button", "alpha"]
IMAGES = [f"{pair}-{side}" for pair in PAIRS for side in ("before", "after")]


def fast(data):
    """``data`` encoded as Chromium encodes a screenshot for speed: zlib's fastest level."""
    return encoded(Image.open(io.BytesIO(data)), compress_level=1)


def by_libvips(data):
    """The reference: ``data`` decoded by libvips as RGBA."""
    image = pyvips.Image.pngload_buffer(data)
    if not image.hasalpha():
        image = image.bandjoin(255)
    return np.ndarray(
        buffer=image.write_to_memory(), dtype=np.uint8, shape=(image.height, image.width, 4)
    )


def fixture(name):
    return fast((FIXTURES / f"{name}.png").read_bytes())


def streamed(monkeypatch):
    monkeypatch.setattr(pngio, "WHOLE_DECODE_PIXELS", 0)


def read_all(data, rows=7, first=None):
    return np.concatenate(list(pngio.PngRows(data, "after").stripes(rows, first)))


def encoded(image, **options):
    out = io.BytesIO()
    image.save(out, format="PNG", **options)
    return out.getvalue()


@pytest.mark.parametrize("name", IMAGES)
def test_whole_and_streamed_decodes_give_the_same_rows(name, monkeypatch):
    data = fixture(name)
    assert pngio.PngRows(data, "after").pixels() is not None  # encoded for speed: decoded whole
    whole = read_all(data)
    streamed(monkeypatch)
    assert pngio.PngRows(data, "after").pixels() is None
    assert np.array_equal(whole, read_all(data))


@pytest.mark.parametrize("pair", PAIRS)
def test_results_do_not_depend_on_how_the_images_are_decoded(pair, monkeypatch):
    before, after = fixture(f"{pair}-before"), fixture(f"{pair}-after")
    whole = core.compare(before, after)
    streamed(monkeypatch)
    stripes = core.compare(before, after)
    assert whole.as_dict() == stripes.as_dict()
    assert whole.changed_pixels > 0
    assert whole.diff_png is not None and stripes.diff_png is not None
    assert np.array_equal(core.decode(whole.diff_png), core.decode(stripes.diff_png))
    if whole.aligned_diff_png or stripes.aligned_diff_png:
        assert np.array_equal(
            core.decode(whole.aligned_diff_png), core.decode(stripes.aligned_diff_png)
        )


def rgb_with_transparent_white():
    image = Image.new("RGB", (20, 10), (255, 255, 255))
    image.paste(Image.new("RGB", (5, 5), (0, 0, 0)), (2, 2))
    return encoded(image, transparency=(255, 255, 255))


def interlaced():
    image = pyvips.Image.black(20, 10).bandjoin([0, 0]).cast("uchar") + 90
    return image.pngsave_buffer(interlace=True)


@pytest.mark.parametrize(
    "name, data",
    [
        ("RGB with a tRNS colour", rgb_with_transparent_white()),
        ("16-bit grey", encoded(Image.fromarray(np.full((10, 20), 40000, dtype=np.uint16)))),
        ("grey", encoded(Image.new("L", (20, 10), 128))),
        ("palette", encoded(Image.new("RGB", (20, 10), (9, 99, 199)).convert("P"))),
        ("interlaced", interlaced()),
    ],
)
def test_what_is_not_plain_truecolour_is_streamed_by_libvips(name, data):
    assert pngio.PngRows(data, "after").pixels() is None, name
    assert read_all(data).shape == (10, 20, 4)


def noise(mode, seed=3):
    """A page-like image in ``mode`` (flat runs, gradients and noise): every row filter."""
    rng = np.random.default_rng(seed)
    channels = len(mode)
    pixels = np.full((61, 47, channels), 250, dtype=np.uint8)
    pixels[10:30] = rng.integers(0, 256, size=(20, 47, channels))
    pixels[30:45] = np.arange(47, dtype=np.uint8)[None, :, None] * 5
    pixels[45:] = rng.integers(0, 256, size=(1, 47, channels))
    return Image.fromarray(pixels, mode)


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
@pytest.mark.parametrize("level", [0, 1, 6, 9])
def test_plain_truecolour_at_any_level_is_decoded_here_as_libvips_decodes_it(mode, level):
    data = encoded(noise(mode), compress_level=level)
    rows = pngio.PngRows(data, "after")
    assert rows.pixels() is not None
    assert np.array_equal(rows.pixels(), by_libvips(data))
    assert np.array_equal(
        np.concatenate(list(pngio.PngRows(data, "after").stripes(5, 2))), rows.pixels()
    )


@pytest.mark.parametrize(
    "name, data",
    [
        ("zlib's default level", make_png(20, 10)),
        ("zlib's level 2", make_png(20, 10, compress_level=2)),
        ("ISA-L's level 1 (capture.png)", capture_png.encode(np.zeros((10, 20, 3), np.uint8))),
        ("a real screenshot", (FIXTURES / "shift-before.png").read_bytes()),
    ],
)
def test_screenshots_are_decoded_whole_here(name, data):
    rows = pngio.PngRows(data, "after")
    assert rows.pixels() is not None, name
    assert np.array_equal(rows.pixels(), by_libvips(data))


def corrupt(data: bytes, kind: bytes, change) -> bytes:
    """``data`` with the body of its first ``kind`` chunk changed, its CRC kept or fixed."""
    at = data.index(kind) - 4
    length = int.from_bytes(data[at : at + 4], "big")
    body = change(data[at + 8 : at + 8 + length])
    chunk = diffimage.png_chunk(kind, body)
    return data[:at] + chunk + data[at + 12 + length :]


def test_a_chunk_whose_crc_does_not_match_names_it():
    data = encoded(noise("RGB"), compress_level=1)
    at = data.index(b"IDAT") + 10
    flipped = data[:at] + bytes([data[at] ^ 1]) + data[at + 1 :]
    with pytest.raises(
        core.ImageDecodeError, match="^after image cannot be decoded: CRC error in its IDAT chunk$"
    ):
        core.compare(data, flipped)


def rows_changed(change):
    """A change of an IDAT body made on its inflated rows (re-deflated after)."""
    import zlib

    return lambda body: zlib.compress(bytes(change(bytearray(zlib.decompress(body)))))


def with_filter(rows: bytearray, row: int, kind: int) -> bytearray:
    rows[row * (47 * 3 + 1)] = kind  # the row's filter byte
    return rows


@pytest.mark.parametrize(
    "change, message",
    [
        (rows_changed(lambda rows: with_filter(rows, 5, 9)), "unknown row filter 9 in row 5$"),
        (
            lambda body: body[:2] + b"\xff" * (len(body) - 2),
            "the compressed image data is corrupt",
        ),
        (
            rows_changed(lambda rows: rows[: 20 * (47 * 3 + 1)]),
            "the image data ends at row 20 of 61$",
        ),
    ],
    ids=["unknown filter", "corrupt deflate data", "ends early"],
)
def test_broken_image_data_says_what_is_wrong(change, message):
    data = corrupt(encoded(noise("RGB"), compress_level=1), b"IDAT", change)
    with pytest.raises(core.ImageDecodeError, match=f"^before image cannot be decoded: {message}"):
        core.compare(data, make_png(47, 61))


def test_a_transparent_colour_is_transparent():
    pixels = read_all(rgb_with_transparent_white())
    assert tuple(pixels[0, 0]) == (255, 255, 255, 0) and tuple(pixels[3, 3]) == (0, 0, 0, 255)


def test_an_image_over_the_whole_decode_bound_is_streamed(monkeypatch):
    data = make_png(40, 30, squares=[(5, 5, 10, BLACK)], compress_level=1)
    monkeypatch.setattr(pngio, "WHOLE_DECODE_PIXELS", 40 * 30 - 1)
    assert pngio.PngRows(data, "after").pixels() is None
    monkeypatch.setattr(pngio, "WHOLE_DECODE_PIXELS", 40 * 30)
    assert pngio.PngRows(data, "after").pixels() is not None


def test_a_truncated_screenshot_says_it_cannot_be_decoded():
    image = Image.effect_noise((300, 200), 64).convert("RGB")  # noise: a long IDAT to cut
    data = encoded(image, compress_level=1)
    cut = data[: len(data) // 2]
    assert pngio.PngRows(cut, "before")._whole
    with pytest.raises(core.ImageDecodeError, match="^before image cannot be decoded: "):
        core.compare(cut, data)


def test_the_whole_image_is_read_only():
    pixels = pngio.PngRows(make_png(10, 10, compress_level=1), "after").pixels()
    with pytest.raises(ValueError, match="read-only"):
        pixels[0, 0, 0] = 1


def test_a_first_look_streams_and_never_decodes_the_whole_image(monkeypatch):
    data = make_png(40, 300, squares=[(5, 5, 10, BLACK)], compress_level=1)
    expected = read_all(data)

    def refuse(*args, **kwargs):
        raise AssertionError("a first look decoded the whole image")

    monkeypatch.setattr(pngio._PlainPng, "whole", refuse)
    rows = pngio.PngRows(data, "after")
    stripes = list(rows.stripes(64, first=4))
    assert [len(stripe) for stripe in stripes[:3]] == [4, 8, 16]
    assert np.array_equal(np.concatenate(stripes), expected)
    reader = pngio.RowReader(rows, 40, 64, first_rows=4)
    assert np.array_equal(reader.rows(0, 12), expected[:12])


def test_a_reader_on_a_wider_canvas_pads_the_whole_image():
    data = make_png(30, 20, squares=[(5, 5, 4, BLACK)], compress_level=1)
    assert pngio.PngRows(data, "after").pixels() is not None
    reader = pngio.RowReader(pngio.PngRows(data, "after"), 50, 8)
    rows = reader.rows(-2, 25)
    assert rows.shape == (27, 50, 4)
    assert not rows[:2].any() and not rows[22:].any() and not rows[:, 30:].any()
    assert np.array_equal(rows[2:22, :30], read_all(data))


@pytest.mark.parametrize("width", [64, 37])
def test_the_diff_image_is_the_new_page_in_pillows_greys_orange_and_red(width):
    """Each pixel of the diff image is the palette grey of the new page's luma as Pillow
    converts RGBA to L (alpha ignored), orange where a change counts under the threshold, red
    where changed (red wins); an odd width pads the last byte."""
    rng = np.random.default_rng(width)
    after = rng.integers(0, 256, size=(9, width, 4), dtype=np.uint8)
    changed = np.array([0, 5, width * 3 + 2, after.shape[0] * width - 1])
    soft = np.array([1, 5, width * 4])
    writer = diffimage.DiffImageWriter(width, 9)
    writer.add(after, changed, soft)
    image = Image.open(io.BytesIO(writer.finish()))
    rows = np.asarray(image)  # palette indices
    luma = np.asarray(Image.fromarray(after, "RGBA").convert("L"))
    expected = np.minimum((255 - luma.astype(int)) // 16, 13)
    expected.reshape(-1)[soft] = 14
    expected.reshape(-1)[changed] = 15
    assert np.array_equal(rows, expected)
    palette = image.getpalette()
    assert tuple(palette[14 * 3 : 15 * 3]) == diffimage.SOFT_RGB
    assert tuple(palette[15 * 3 : 16 * 3]) == (255, 0, 0)
