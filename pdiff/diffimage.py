"""The diff image, written a stripe of rows at a time: the new page in greys with the changed
pixels in red and a cause's soft changes in orange, an indexed PNG (fast to write, small)."""

from __future__ import annotations

import zlib

import numpy as np
from isal import isal_zlib
from numba import njit

from . import parallel
from .pngio import PNG_SIGNATURE


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")


# Diff image palette: 14 greys (the new page faded to 10%, pixelmatch's alpha), orange for a
# change under the threshold that counts all the same (a cause's pixels, a subtle region) and
# red for a changed pixel.
_GREY_LEVELS = 14
_SOFT_INDEX = 14
_RED_INDEX = 15
SOFT_RGB = (255, 184, 77)
_PLTE = (
    b"".join(bytes([round(255 - (i * 16 + 8) * 0.1)] * 3) for i in range(_GREY_LEVELS))
    + bytes(SOFT_RGB)
    + b"\xff\x00\x00"
)
_PALETTE_RGB = np.frombuffer(_PLTE, dtype=np.uint8).reshape(-1, 3)
# Luma 0..255 -> grey index: 16 luma steps per entry, dark ink = higher index.
_LUMA_TO_INDEX = np.array(
    [min((255 - luma) // 16, _GREY_LEVELS - 1) for luma in range(256)], dtype=np.uint8
)


def _diff_rows(after: np.ndarray, changed: np.ndarray, soft: np.ndarray):
    """The diff image's rows: palette indices ((h, width): the grey of each pixel's luma, as
    Pillow converts RGBA to L, orange where ``soft`` and red where ``changed``), and the same
    packed two pixels to a byte behind each row's filter byte (0: None), ready to deflate.
    The greys and the packing are split over the cores by rows."""
    rows, width = after.shape[0], after.shape[1]
    indices = np.empty((rows, width), dtype=np.uint8)
    packed = np.zeros((rows, (width + 1) // 2 + 1), dtype=np.uint8)
    split = max(1, (1 << 18) // max(width, 1))
    parallel.run(lambda lo, hi: _greys(after[lo:hi], indices[lo:hi]), rows, split)
    _mark(indices, changed, soft)
    parallel.run(lambda lo, hi: _pack(indices[lo:hi], packed[lo:hi]), rows, split)
    return indices, packed


@njit(cache=True, nogil=True)
def _greys(after, indices):
    for y in range(after.shape[0]):
        for x in range(after.shape[1]):
            luma = (
                np.int32(after[y, x, 0]) * 19595
                + np.int32(after[y, x, 1]) * 38470
                + np.int32(after[y, x, 2]) * 7471
                + 0x8000
            ) >> 16
            indices[y, x] = _LUMA_TO_INDEX[luma]


@njit(cache=True, nogil=True)
def _mark(indices, changed, soft):
    width = indices.shape[1]
    for i in range(soft.size):
        indices[soft[i] // width, soft[i] % width] = _SOFT_INDEX
    for i in range(changed.size):
        indices[changed[i] // width, changed[i] % width] = _RED_INDEX


@njit(cache=True, nogil=True)
def _pack(indices, packed):
    width = indices.shape[1]
    for y in range(indices.shape[0]):
        for x in range(0, width, 2):
            right = indices[y, x + 1] if x + 1 < width else 0
            packed[y, x // 2 + 1] = (indices[y, x] << 4) | right


@njit(cache=True)
def _in_colour(indices):
    """The diff image's palette indices as (h, width, 3) RGB."""
    rows, width = indices.shape
    rgb = np.empty((rows, width, 3), dtype=np.uint8)
    for y in range(rows):
        for x in range(width):
            for channel in range(3):
                rgb[y, x, channel] = _PALETTE_RGB[indices[y, x], channel]
    return rgb


_NO_PIXELS = np.zeros(0, dtype=np.int64)


class DiffImageWriter:
    """The diff image: the new page faded to light grey with changed pixels in red, written a
    stripe at a time.

    A 4-bit palette PNG written by hand: Pillow has no 4-bit writer, and a full-page diff then
    packs into half the bytes of an 8-bit one and a sixth of an RGB one, which makes the encode
    (the most expensive step after decoding) about three times cheaper."""

    def __init__(self, width: int, height: int, keep_rows: int = 0):
        """``keep_rows``: that many rows of the image's top are also kept as RGB (``top``), for
        a thumbnail made without decoding the PNG again."""
        self.width, self.height = width, height
        self.keep_rows = min(keep_rows, height)
        self._top: list[np.ndarray] = []
        self._kept = 0
        # ISA-L's fastest level: about six times faster than zlib's level 1 on a diff image
        # (measured: 20 ms against 115 ms for 1280x30319), and about 5 % smaller.
        self._deflate = isal_zlib.compressobj(1)
        self._idat: list[bytes] = []

    def add(self, after: np.ndarray, changed: np.ndarray, soft: np.ndarray | None = None) -> None:
        """``after``: (h, width, 4) RGBA rows; ``changed`` (red) and ``soft`` (orange): flat
        indices into those rows."""
        if soft is None:
            soft = _NO_PIXELS
        indices, packed = _diff_rows(after, changed, soft.astype(np.int64, copy=False))
        if self._kept < self.keep_rows:
            top = indices[: self.keep_rows - self._kept]
            self._top.append(_in_colour(top))
            self._kept += len(top)
        self._idat.append(self._deflate.compress(packed))

    @property
    def top(self) -> np.ndarray | None:
        """The kept top rows, (keep_rows, width, 3) uint8 RGB, once that many were added."""
        if not self.keep_rows or self._kept < self.keep_rows:
            return None
        return self._top[0] if len(self._top) == 1 else np.concatenate(self._top)

    def finish(self) -> bytes:
        self._idat.append(self._deflate.flush())
        header = (
            self.width.to_bytes(4, "big") + self.height.to_bytes(4, "big") + bytes([4, 3, 0, 0, 0])
        )
        return b"".join(
            [
                PNG_SIGNATURE,
                png_chunk(b"IHDR", header),
                png_chunk(b"PLTE", _PLTE),
                png_chunk(b"IDAT", b"".join(self._idat)),
                png_chunk(b"IEND", b""),
            ]
        )
