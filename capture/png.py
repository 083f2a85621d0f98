"""Stitching screenshot stripes into one PNG, fast. No Django here.

Chromium encodes each stripe itself; joining them means decoding the stripes (libspng) and
encoding the whole again. The encoder is the cost that matters (a 1280x32768 page is 126 MB of
RGB): rows are written unfiltered and deflated with ISA-L (PyPI ``isal``) at its fastest level,
about six times faster than zlib's level 1 (measured: 50 ms against 300 ms for that page), for
a file about as large.
"""

from __future__ import annotations

import zlib

import numpy as np
import pyspng
from isal import isal_zlib

SIGNATURE = b"\x89PNG\r\n\x1a\n"
_BUFFER_ROWS = 256


def _chunk(kind: bytes, data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")


def encode(pixels: np.ndarray) -> bytes:
    """A PNG of an (height, width, 3 or 4) uint8 array."""
    return encode_parts([pixels])


def encode_parts(parts) -> bytes:
    """A PNG of (height, width, channels) uint8 arrays laid top to bottom (an iterable, so
    that each part may be made only when it is needed)."""
    compressor = isal_zlib.compressobj(1)
    stream, buffer, width, channels, height = [], None, None, None, 0
    for pixels in parts:
        if buffer is None:
            _, width, channels = pixels.shape
            if channels not in (3, 4) or pixels.dtype != np.uint8:
                raise ValueError(
                    f"need RGB or RGBA uint8 pixels, not {pixels.shape} {pixels.dtype}"
                )
            # Rows go through one small buffer (filter byte 0: None, then the pixels): a
            # whole-image copy would cost more in page faults than the compression itself.
            buffer = np.zeros((_BUFFER_ROWS, width * channels + 1), dtype=np.uint8)
        if pixels.shape[1] != width or pixels.shape[2] < channels:
            raise ValueError(f"parts differ: {pixels.shape} after width {width}x{channels}")
        rows = pixels[:, :, :channels].reshape(pixels.shape[0], width * channels)
        for top in range(0, rows.shape[0], _BUFFER_ROWS):
            count = min(_BUFFER_ROWS, rows.shape[0] - top)
            buffer[:count, 1:] = rows[top : top + count]
            stream.append(compressor.compress(buffer[:count]))
        height += rows.shape[0]
    if buffer is None:
        raise ValueError("no pixels to encode")
    stream.append(compressor.flush())
    color_type = 2 if channels == 3 else 6
    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, color_type, 0, 0, 0])
    return b"".join(
        [
            SIGNATURE,
            _chunk(b"IHDR", header),
            _chunk(b"IDAT", b"".join(stream)),
            _chunk(b"IEND", b""),
        ]
    )


def size(png: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's header."""
    if not png.startswith(SIGNATURE) or png[12:16] != b"IHDR":
        raise ValueError("not a PNG image")
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def stitch(stripes: list[bytes]) -> bytes:
    """One PNG of PNG stripes laid top to bottom (all of one width)."""
    if len(stripes) == 1:
        return stripes[0]
    channels = 3 if all(_color_type(stripe) == 2 for stripe in stripes) else 4
    return encode_parts(
        pyspng.load(stripe, format="RGB" if channels == 3 else "RGBA") for stripe in stripes
    )


def _color_type(png: bytes) -> int:
    size(png)  # checks the header
    return png[25]
