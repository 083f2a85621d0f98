"""Stitching screenshot stripes into one PNG, fast. No Django here.

Chromium encodes each stripe itself; joining them means decoding the stripes (libspng) and
encoding the whole again. The encoder is the cost that matters (a 1280x32768 page is 126 MB of
RGB): rows are written with PNG's "Sub" filter (computed with numpy; it turns flat areas into
zeros, which deflate fastest) and the rows are deflated in parallel slices, each ended with a
sync flush so that the slices join into one valid zlib stream (as pigz does). zlib releases the
GIL, so the slices really run side by side.
"""

from __future__ import annotations

import os
import zlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyspng

SIGNATURE = b"\x89PNG\r\n\x1a\n"
_SLICE_BYTES = 8 << 20
_pool = ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2),
                           thread_name_prefix="dpxdt-png")


def _chunk(kind: bytes, data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")


def _deflate(data: memoryview, last: bool) -> bytes:
    compressor = zlib.compressobj(1, zlib.DEFLATED, -15)  # raw deflate, level 1
    return compressor.compress(data) + compressor.flush(zlib.Z_FINISH if last else
                                                        zlib.Z_SYNC_FLUSH)


def encode(pixels: np.ndarray) -> bytes:
    """A PNG of an (height, width, 3 or 4) uint8 array."""
    height, width, channels = pixels.shape
    if channels not in (3, 4) or pixels.dtype != np.uint8:
        raise ValueError(f"need RGB or RGBA uint8 pixels, not {pixels.shape} {pixels.dtype}")
    rows = np.empty((height, width * channels + 1), dtype=np.uint8)
    rows[:, 0] = 1  # filter type Sub: each byte minus the same channel of the pixel to its left
    flat = pixels.reshape(height, width * channels)
    rows[:, 1:channels + 1] = flat[:, :channels]
    np.subtract(flat[:, channels:], flat[:, :-channels], out=rows[:, channels + 1:])
    raw = memoryview(rows.reshape(-1))
    row_bytes = rows.shape[1]
    step = max(1, _SLICE_BYTES // row_bytes) * row_bytes
    starts = range(0, len(raw), step)
    parts = list(_pool.map(lambda start: _deflate(raw[start:start + step],
                                                  start + step >= len(raw)), starts))
    stream = b"\x78\x01" + b"".join(parts) + zlib.adler32(raw).to_bytes(4, "big")
    color_type = 2 if channels == 3 else 6
    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, color_type, 0, 0, 0])
    return b"".join([SIGNATURE, _chunk(b"IHDR", header), _chunk(b"IDAT", stream),
                     _chunk(b"IEND", b"")])


def size(png: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's header."""
    if not png.startswith(SIGNATURE) or png[12:16] != b"IHDR":
        raise ValueError("not a PNG image")
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def stitch(stripes: list[bytes]) -> bytes:
    """One PNG of PNG stripes laid top to bottom (all of one width)."""
    if len(stripes) == 1:
        return stripes[0]
    arrays = [pyspng.load(stripe) for stripe in stripes]
    channels = min(array.shape[2] for array in arrays)
    return encode(np.concatenate([array[:, :, :channels] for array in arrays]))
