"""Thumbnails: the small picture of a screenshot the release page shows (never the full-size
image, which may be tens of megapixels). Made once, by the worker that has the image: the diff
worker for a run that is diffed (of its diff image, or of the screenshot when nothing changed),
the capture worker for a page with nothing to compare against."""

from __future__ import annotations

import numpy as np
import pyvips

THUMBNAIL_WIDTH = 240
# The part of a page a thumbnail shows: its top, as tall as 1.5 times its width.
THUMBNAIL_ASPECT = 1.5
# Larger images are not thumbnailed (the diff refuses them too).
MAX_PIXELS = 200_000_000
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# libwebp's effort (0-6): 2 encodes a thumbnail in half the time of the default 4 and within a
# percent of its size (measured on 60 docs pages: 5 ms against 10 ms, 8.2 KB either way).
WEBP_EFFORT = 2


class ThumbnailError(ValueError):
    pass


def top_rows(width: int, height: int) -> int:
    """How many rows of the top of a ``width`` x ``height`` image its thumbnail shows."""
    return min(height, max(1, int(width * THUMBNAIL_ASPECT)))


def thumbnail(data: bytes, centre: int | None = None) -> bytes:
    """A small WebP of the top of a PNG screenshot (THUMBNAIL_WIDTH wide, a few KB), read
    sequentially so that even the largest accepted image costs little memory; with ``centre``,
    of the rows around that one instead (a diff image around its first change)."""
    image, width, height = _load(data)
    rows = top_rows(width, height)
    top = 0 if centre is None else min(max(0, centre - rows // 2), height - rows)
    try:
        return _small(image.crop(0, top, width, rows))
    except pyvips.Error as exc:
        raise ThumbnailError(f"cannot be decoded: {exc}") from exc


def _load(data: bytes):
    if not data.startswith(PNG_SIGNATURE) or len(data) < 24:
        raise ThumbnailError("not a PNG image")
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if not width or not height or width * height > MAX_PIXELS:
        raise ThumbnailError(f"a {width}x{height} image is not thumbnailed")
    try:
        image = pyvips.Image.pngload_buffer(data, access="sequential", fail_on="warning")
        if image.interpretation != "srgb" or image.format != "uchar":
            image = image.colourspace("srgb")
    except pyvips.Error as exc:
        raise ThumbnailError(f"cannot be decoded: {exc}") from exc
    return image, width, height


# A crop of a change: the box with this much around it, at least CROP_MIN wide and high
# (a link is a few pixels), at most CROP_MAX (a section is a page); each side shown
# CROP_SIDE_WIDTH wide.
CROP_MARGIN = 24
CROP_MIN = (320, 120)
CROP_MAX = (1280, 480)
CROP_SIDE_WIDTH = 360


def pair_crop(before: bytes, after: bytes, before_box, after_box) -> bytes:
    """Before and after crops of one change side by side (before left), a WebP a few KB: the
    release page's picture of a group of changes. Boxes are (x, y, width, height)."""
    parts = []
    for data, box in ((before, before_box), (after, after_box)):
        image, width, height = _load(data)
        x, y, w, h = _window(box, width, height)
        try:
            crop = image.crop(x, y, w, h)
            if crop.hasalpha():
                crop = crop.flatten(background=[255, 255, 255])
            parts.append(crop.resize(CROP_SIDE_WIDTH / w))
        except pyvips.Error as exc:
            raise ThumbnailError(f"cannot be cropped: {exc}") from exc
    rows = max(part.height for part in parts)
    parts = [
        part.extract_band(0, n=3) if part.bands > 3 else part
        for part in (p.embed(0, 0, p.width, rows, extend="white") for p in parts)
    ]
    divider = (pyvips.Image.black(4, rows, bands=3) + 160).cast("uchar")
    joined = parts[0].join(divider, "horizontal").join(parts[1], "horizontal")
    joined = joined.copy(interpretation="srgb")
    return bytes(joined.webpsave_buffer(Q=75, keep="none", effort=WEBP_EFFORT))


def _window(box, width: int, height: int) -> tuple[int, int, int, int]:
    """The area a crop of ``box`` shows, inside a ``width`` x ``height`` image."""
    x, y, w, h = (int(v) for v in box)
    w = min(max(w + 2 * CROP_MARGIN, CROP_MIN[0]), CROP_MAX[0], width)
    # At least half as high as wide: a wide, flat box (a heading, a row) still shows what is
    # around it.
    h = min(max(h + 2 * CROP_MARGIN, CROP_MIN[1], w // 2), CROP_MAX[1], height)
    cx, cy = x + int(box[2]) // 2, y + int(box[3]) // 2
    left = min(max(0, cx - w // 2), width - w)
    top = min(max(0, cy - h // 2), height - h)
    if int(box[3]) + 2 * CROP_MARGIN > h:  # a tall box: its top
        top = min(max(0, y - CROP_MARGIN), height - h)
    return left, top, w, h


def thumbnail_of_pixels(top: np.ndarray) -> bytes:
    """The same thumbnail from an image's top in memory: ``top`` is its first
    ``top_rows(width, height)`` rows, (rows, width, 3) uint8 sRGB. The diff hands its diff
    image over this way, so the PNG it just encoded need not be decoded again."""
    rows, width, bands = top.shape
    if bands != 3 or top.dtype != np.uint8 or not rows or not width:
        raise ThumbnailError(f"not the top of an RGB image: {top.shape} {top.dtype}")
    image = pyvips.Image.new_from_memory(np.ascontiguousarray(top).data, width, rows, 3, "uchar")
    return _small(image.copy(interpretation="srgb"))


def _small(top: pyvips.Image) -> bytes:
    small = top.resize(min(1.0, THUMBNAIL_WIDTH / top.width))
    return bytes(small.webpsave_buffer(Q=70, keep="none", effort=WEBP_EFFORT))
