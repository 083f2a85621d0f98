"""Thumbnails: the small picture of a screenshot the release page shows (never the full-size
image, which may be tens of megapixels). Made once, by the worker that has the image."""

from __future__ import annotations

import pyvips

THUMBNAIL_WIDTH = 240
# The part of a page a thumbnail shows: its top, as tall as 1.5 times its width.
THUMBNAIL_ASPECT = 1.5
# Larger images are not thumbnailed (the diff refuses them too).
MAX_PIXELS = 200_000_000
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class ThumbnailError(ValueError):
    pass


def thumbnail(data: bytes) -> bytes:
    """A small WebP of the top of a PNG screenshot (THUMBNAIL_WIDTH wide, a few KB), read
    sequentially so that even the largest accepted image costs little memory."""
    if not data.startswith(PNG_SIGNATURE) or len(data) < 24:
        raise ThumbnailError("not a PNG image")
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if not width or not height or width * height > MAX_PIXELS:
        raise ThumbnailError(f"a {width}x{height} image is not thumbnailed")
    try:
        image = pyvips.Image.pngload_buffer(data, access="sequential", fail_on="warning")
        if image.interpretation != "srgb" or image.format != "uchar":
            image = image.colourspace("srgb")
        top = image.crop(0, 0, width, min(height, max(1, int(width * THUMBNAIL_ASPECT))))
        small = top.resize(min(1.0, THUMBNAIL_WIDTH / width))
        return bytes(small.webpsave_buffer(Q=70, strip=True))
    except pyvips.Error as exc:
        raise ThumbnailError(f"cannot be decoded: {exc}") from exc
