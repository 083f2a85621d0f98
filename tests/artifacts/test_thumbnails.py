"""Thumbnails: small, of the top of the page, and never of something that is not a sane PNG."""

import io

import numpy as np
import pytest
from PIL import Image

from artifacts import thumbnails
from pdiff import core
from tests.conftest import BLACK, make_png


def test_a_tall_page_gives_a_small_picture_of_its_top():
    page = make_png(1280, 8000, squares=[(0, 0, 640, BLACK)])  # black square at the top left
    small = thumbnails.thumbnail(page)
    image = Image.open(io.BytesIO(small))
    assert image.format == "WEBP"
    assert image.size == (240, 360)  # 1280 wide -> 240; the top 1920 rows -> 360
    assert len(small) < 50_000
    assert image.convert("L").getpixel((10, 10)) < 40  # the square is there
    assert image.convert("L").getpixel((200, 300)) > 215


def test_a_small_image_is_not_enlarged():
    image = Image.open(io.BytesIO(thumbnails.thumbnail(make_png(100, 50))))
    assert image.size == (100, 50)


def test_a_diff_images_top_in_memory_gives_the_thumbnail_its_png_gives():
    """The diff worker makes the thumbnail of the diff image it holds, without decoding the
    PNG it wrote: the same picture, byte for byte."""
    before = make_png(1280, 3000)
    after = make_png(1280, 3000, squares=[(100, 100, 400, BLACK), (0, 1800, 300, BLACK)])
    result = core.compare(before, after, diff_top_rows=thumbnails.top_rows(1280, 3000))
    small = thumbnails.thumbnail_of_pixels(result.diff_top)
    assert small == thumbnails.thumbnail(result.diff_png)
    assert Image.open(io.BytesIO(small)).size == (240, 360)


def test_pixels_that_are_not_the_top_of_an_rgb_image_are_refused():
    with pytest.raises(thumbnails.ThumbnailError, match="not the top of an RGB image"):
        thumbnails.thumbnail_of_pixels(np.zeros((10, 10, 4), dtype=np.uint8))


@pytest.mark.parametrize(
    "data, message",
    [
        (b"GIF89a...", "not a PNG image"),
        (
            b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
            + (50_000).to_bytes(4, "big") * 2
            + b"\x08\x06\0\0\0",
            "a 50000x50000 image is not thumbnailed",
        ),
    ],
)
def test_what_cannot_be_thumbnailed_says_why(data, message):
    with pytest.raises(thumbnails.ThumbnailError, match=message):
        thumbnails.thumbnail(data)
