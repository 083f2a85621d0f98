"""PNG in and out a stripe of rows at a time, so that a diff's memory is bounded by the image's
width, not its height.

A plain truecolour PNG (8-bit RGB or RGBA, not interlaced, no tRNS: what browsers and screenshot
tools write, at any compression level) is decoded here: ISA-L's inflate, about 2.5 times zlib's
speed, and a compiled pass that undoes the row filters straight into RGBA, both releasing the GIL
so that two images decode side by side. Up to WHOLE_DECODE_PIXELS it is decoded whole, once (its
stripes are then views, not copies), else a band of rows at a time. Every other PNG is libvips's
(pyvips with its bundled library), which reads it sequentially and hands out rows on demand. Only
PNG is accepted: every screenshot Depicted takes or is sent is a PNG, and a lossy format would
make every compression artefact a "change".
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import cast

import numpy as np
import pyvips
from isal import igzip_lib, isal_zlib
from numba import njit

from . import parallel

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# The largest image we agree to decode (width * height); a guard against decompression bombs.
MAX_PIXELS = 200_000_000
# Plain truecolour images up to this many pixels are decoded whole: a pass then copies no rows,
# and the aligned pass reads rows at any offset for free. Two such images hold 512 MB (a pair of
# 1280x50,000 pages); anything larger is read a band of rows at a time, so memory stays bounded
# by the width.
WHOLE_DECODE_PIXELS = 64_000_000

# Magic numbers of what people send instead of a PNG, to name it in the error.
_OTHER_FORMATS = [
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"%PDF", "PDF"),
    (b"\x00\x00\x01\x00", "ICO"),
]

# libvips keeps decoded images in a cache for reuse; a diff never reads an image twice.
pyvips.cache_set_max(0)


class ImageDecodeError(ValueError):
    """An input is not a readable PNG. The message says which one and why."""


def describe_format(data: bytes) -> str:
    """A short name for what ``data`` is, for error messages: "JPEG", "WebP", "text", ..."""
    for magic, name in _OTHER_FORMATS:
        if data.startswith(magic):
            return name
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    if data[4:12] in (b"ftypavif", b"ftypheic"):
        return "AVIF/HEIF"
    head = data[:512].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")):
        return "HTML"
    if head.startswith(b"<svg") or (head.startswith(b"<?xml") and b"<svg" in head):
        return "SVG"
    try:
        data[:512].decode("utf-8")
    except UnicodeDecodeError:
        return "unknown binary data"
    return "text"


def png_size(data: bytes, label: str) -> tuple[int, int]:
    """(width, height) from the PNG header; refuses anything that is not a PNG of a sane size."""
    if not data:
        raise ImageDecodeError(f"{label} image is empty")
    if not data.startswith(PNG_SIGNATURE):
        raise ImageDecodeError(f"{label} image is not a PNG image: {describe_format(data)}")
    if len(data) < 33 or data[12:16] != b"IHDR":
        raise ImageDecodeError(f"{label} image cannot be decoded: the PNG header is cut short")
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if not width or not height:
        raise ImageDecodeError(f"{label} image cannot be decoded: it is {width}x{height}")
    if width * height > MAX_PIXELS:
        raise ImageDecodeError(
            f"{label} image is too large: {width}x{height} is {width * height:,} pixels, "
            f"over the limit of {MAX_PIXELS:,}"
        )
    return width, height


def _plain(data: bytes) -> bool:
    """Whether ``data`` (its header checked by png_size()) is a plain truecolour PNG, what every
    browser and screenshot tool writes: 8 bits per channel, RGB or RGBA, not interlaced, and no
    tRNS chunk (a transparent colour) before the image data. Those are read by ``_PlainPng``."""
    if data[24] != 8 or data[25] not in (2, 6) or data[26] or data[27] or data[28]:
        return False
    for kind, _ in _chunks(data, "image"):
        if kind == b"IDAT":
            return True
        if kind in (b"IEND", b"tRNS"):
            return False
    return False


def _chunks(data: bytes, label: str, check: bool = False) -> Iterator[tuple[bytes, memoryview]]:
    """(kind, body) of each chunk after the signature, up to IEND; with ``check``, a chunk cut
    short or whose CRC does not match is an ImageDecodeError."""
    view = memoryview(data)
    position = 8
    while position + 8 <= len(data):
        length = int.from_bytes(data[position : position + 4], "big")
        kind = data[position + 4 : position + 8]
        end = position + 12 + length
        if check:
            if end > len(data):
                raise ImageDecodeError(
                    f"{label} image cannot be decoded: the file ends inside its "
                    f"{kind.decode('latin-1')} chunk"
                )
            crc = int.from_bytes(data[end - 4 : end], "big")
            if isal_zlib.crc32(view[position + 4 : end - 4]) != crc:
                raise ImageDecodeError(
                    f"{label} image cannot be decoded: CRC error in its "
                    f"{kind.decode('latin-1')} chunk"
                )
        yield kind, view[position + 8 : end - 4]
        if kind == b"IEND":
            return
        position = end


# What ISA-L raises on corrupt data (its stubs do not say it is an exception class).
_INFLATE_ERROR = cast(type[Exception], igzip_lib.IsalError)


class _PlainPng:
    """A plain truecolour PNG (see ``_plain``) decoded here: ISA-L's inflate (about 2.5 times
    zlib's speed, the GIL released) and a compiled pass that undoes the row filters and writes
    RGBA. Read a band of rows at a time, so a whole image never holds its inflated bytes
    too."""

    # Rows inflated and unfiltered at a time when decoding a whole image.
    BAND_ROWS = 1024

    def __init__(self, data: bytes, width: int, height: int, label: str):
        self.width, self.height, self.label = width, height, label
        self.channels = 3 if data[25] == 2 else 4
        self._stride = width * self.channels + 1  # a row's bytes, its filter byte first
        self._data = data

    def rows(
        self, rows: int, first: int | None = None, into: np.ndarray | None = None
    ) -> Iterator[np.ndarray]:
        """(h, width, 4) arrays of the image's rows, top to bottom (``bands``); with ``into``
        (an array of the whole image), written there and given as views of it."""
        compressed = b"".join(
            body for kind, body in _chunks(self._data, self.label, True) if kind == b"IDAT"
        )
        inflate = igzip_lib.IgzipDecompressor(flag=igzip_lib.DECOMP_ZLIB)
        previous = np.zeros(self.width * self.channels, dtype=np.uint8)
        for top, bottom in bands(self.height, rows, first):
            need = (bottom - top) * self._stride
            try:
                # One call per band: the decompressor keeps what it has not read yet.
                data = inflate.decompress(compressed, need)
            except _INFLATE_ERROR as exc:
                raise self._error(f"the compressed image data is corrupt ({exc})") from None
            compressed = b""
            if len(data) < need:
                row = top + len(data) // self._stride
                raise self._error(f"the image data ends at row {row} of {self.height}")
            raw = np.frombuffer(data, dtype=np.uint8)
            stripe = (
                into[top:bottom]
                if into is not None
                else np.empty((bottom - top, self.width, 4), dtype=np.uint8)
            )
            bad = _unfilter(raw, previous, self.width, self.channels, stripe)
            if bad >= 0:
                kind = raw[bad * self._stride]
                raise self._error(f"unknown row filter {kind} in row {top + bad}")
            yield stripe

    def whole(self) -> np.ndarray:
        pixels = np.empty((self.height, self.width, 4), dtype=np.uint8)
        for _ in self.rows(self.BAND_ROWS, into=pixels):
            pass
        return pixels

    def _error(self, detail: str) -> ImageDecodeError:
        return ImageDecodeError(f"{self.label} image cannot be decoded: {detail}")


@njit(nogil=True, cache=True)
def _unfilter(raw, previous, width, channels, out):
    """Undo the PNG row filters of ``raw`` (rows of a filter byte and width * channels bytes)
    into ``out`` as RGBA (opaque where there is no alpha). ``previous``: the unfiltered row
    above the first (zeros for the image's first), updated to the last. Returns -1, or the
    index of the first row with an unknown filter."""
    size = width * channels
    rows = out.shape[0]
    flat = out.reshape(rows, width * 4)
    above = previous
    line = np.empty(size, dtype=np.uint8)
    for y in range(rows):
        start = y * (size + 1) + 1
        kind = raw[start - 1]
        data = raw[start : start + size]
        if kind == 0:
            line[:] = data
        elif kind == 1:
            line[:channels] = data[:channels]
            for i in range(channels, size):
                line[i] = data[i] + line[i - channels]
        elif kind == 2:
            for i in range(size):
                line[i] = data[i] + above[i]
        elif kind == 3:
            for i in range(channels):
                line[i] = data[i] + (above[i] >> 1)
            for i in range(channels, size):
                line[i] = data[i] + ((np.uint16(line[i - channels]) + above[i]) >> 1)
        elif kind == 4:
            for i in range(channels):
                line[i] = data[i] + above[i]  # no left neighbour: the byte above
            for i in range(channels, size):
                a = np.int32(line[i - channels])
                b = np.int32(above[i])
                c = np.int32(above[i - channels])
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                if pa <= pb and pa <= pc:
                    line[i] = data[i] + a
                elif pb <= pc:
                    line[i] = data[i] + b
                else:
                    line[i] = data[i] + c
        else:
            return y
        row = flat[y]
        if channels == 4:
            row[:] = line
        else:
            for x in range(width):
                row[4 * x] = line[3 * x]
                row[4 * x + 1] = line[3 * x + 1]
                row[4 * x + 2] = line[3 * x + 2]
                row[4 * x + 3] = 255
        above, line = line, above
    previous[:] = above
    return -1


class PngRows:
    """A PNG read top to bottom as RGBA rows; ``stripes()`` may be called again to reread."""

    def __init__(self, data: bytes, label: str):
        self.width, self.height = png_size(data, label)
        self.label = label
        self._data = data
        self._plain = _PlainPng(data, self.width, self.height, label) if _plain(data) else None
        self._whole = self._plain is not None and self.width * self.height <= WHOLE_DECODE_PIXELS
        self._pixels: np.ndarray | None = None

    def pixels(self) -> np.ndarray | None:
        """The whole image as a read-only (height, width, 4) array, decoded on first use; None
        for an image that is read a stripe at a time (see WHOLE_DECODE_PIXELS)."""
        return self._decoded() if self._whole else None

    def _decoded(self) -> np.ndarray:
        if self._pixels is None:
            if self._plain is None:
                raise ValueError("the PNG was neither decoded nor readable")
            pixels = self._plain.whole()
            pixels.flags.writeable = False
            self._pixels = pixels
        return self._pixels

    def prepare(self, *others: PngRows) -> None:
        """Decode this image and ``others`` that are read whole, side by side (one thread
        each: the decoder releases the GIL), so that a pass over them starts at once."""
        waiting = [parallel.submit(other.pixels) for other in others if other._whole]
        try:
            self.pixels()
        finally:
            for future in waiting:
                future.result()

    def stripes(self, rows: int, first: int | None = None) -> Iterator[np.ndarray]:
        """(h, width, 4) uint8 arrays of at most ``rows`` rows, top to bottom; with ``first``,
        the stripes start at that many rows and double up to ``rows`` (see ``bands``). A pass
        with ``first`` may stop after a few rows, so it reads the image a stripe at a time."""
        if first is None and self._whole:
            pixels = self._decoded()
            for top, bottom in bands(self.height, rows):
                yield pixels[top:bottom]
            return
        if self._plain is not None:
            yield from self._plain.rows(rows, first)
            return
        try:
            image = pyvips.Image.pngload_buffer(self._data, access="sequential", fail_on="warning")
            if image.interpretation != "srgb" or image.format != "uchar":
                image = image.colourspace("srgb")  # grey, 16-bit: to 8-bit sRGB as browsers show
            if not image.hasalpha():
                image = image.bandjoin(255)
            region = pyvips.Region.new(image)
        except pyvips.Error as exc:
            raise self._error(exc) from exc
        for top, bottom in bands(self.height, rows, first):
            count = bottom - top
            try:
                buffer = region.fetch(0, top, self.width, count)
            except pyvips.Error as exc:
                raise self._error(exc) from exc
            yield np.frombuffer(buffer, dtype=np.uint8).reshape(count, self.width, 4)

    def _error(self, exc: pyvips.Error) -> ImageDecodeError:
        detail = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        return ImageDecodeError(f"{self.label} image cannot be decoded: {detail}")


# Rows a RowReader keeps above the last row asked for, so that a read with context rows just
# above the previous one does not reread the image.
_KEEP_ROWS = 8


def bands(height: int, rows: int, first: int | None = None) -> Iterator[tuple[int, int]]:
    """(top, bottom) of stripes of ``rows`` rows over ``height`` rows; with ``first``, the
    first stripe has that many rows and each next one twice as many, up to ``rows``: a pass
    that may stop at its first change reads little, and a whole pass still has few stripes."""
    size = min(first or rows, rows)
    top = 0
    while top < height:
        bottom = min(top + size, height)
        yield top, bottom
        top, size = bottom, min(size * 2, rows)


class RowReader:
    """Rows of a PngRows on a canvas of ``width`` columns, read forward through a window.

    ``rows(top, bottom)`` gives canvas rows [top, bottom): rows outside the image and columns
    past its width are transparent, as on the diff's common canvas. Reading may go back a few
    rows; reading further back rereads the image from the start."""

    def __init__(
        self, source: PngRows, width: int, stripe_rows: int, first_rows: int | None = None
    ):
        self._source = source
        self._width = width
        self._stripe_rows = stripe_rows
        self._first_rows = first_rows
        # A whole image on a canvas of its own width needs no window: its rows are views.
        self._views = first_rows is None and source.width == width
        self._restart()

    def _restart(self):
        self._stripes = self._source.stripes(self._stripe_rows, self._first_rows)
        self._buffer = np.zeros((0, self._width, 4), dtype=np.uint8)
        self._buffer_top = 0

    def rows(self, top: int, bottom: int) -> np.ndarray:
        """Canvas rows [top, bottom); a read-only view where no padding is needed."""
        lo, hi = max(top, 0), min(bottom, self._source.height)
        if lo >= hi:
            return np.zeros((max(bottom - top, 0), self._width, 4), dtype=np.uint8)
        whole = self._source.pixels() if self._views else None
        found = whole[lo:hi] if whole is not None else self._window(lo, hi)
        if (lo, hi) == (top, bottom):
            return found
        out = np.zeros((bottom - top, self._width, 4), dtype=np.uint8)
        out[lo - top : hi - top] = found
        return out

    def _window(self, lo: int, hi: int) -> np.ndarray:
        """Image rows [lo, hi), padded to the canvas width, from the stripes read so far."""
        if lo < self._buffer_top:
            self._restart()
        while self._buffer_top + len(self._buffer) < hi:
            stripe = next(self._stripes)
            drop = min(max(lo - _KEEP_ROWS - self._buffer_top, 0), len(self._buffer))
            kept = self._buffer[drop:]
            self._buffer_top += drop
            if stripe.shape[1] < self._width:
                stripe = np.pad(stripe, ((0, 0), (0, self._width - stripe.shape[1]), (0, 0)))
            self._buffer = np.concatenate([kept, stripe]) if len(kept) else stripe
            self._buffer.flags.writeable = False
        return self._buffer[lo - self._buffer_top : hi - self._buffer_top]
