"""pixelmatch's anti-aliasing test ("Anti-aliased Pixel and Intensity Slope Detector",
V. Vysniauskas, 2009), compiled with numba: a loop over the pixels in question, as pixelmatch
itself runs it, instead of numpy arrays of every pixel's eight neighbours.

A pixel that differs beyond the threshold is not counted when it looks like anti-aliasing in
either image: among its eight neighbours (the canvas border counts as one equal neighbour) at
most two have its exact colour, there are both darker and brighter ones, and the darkest or the
brightest of them sits in a flat area (3+ equal neighbours) of both images. Brightness is
pixelmatch 7.2's for ``yiq`` (translucent pixels blended onto its checkerboard) and main's for
``oklab`` (blended onto white; when the luma cancels out, alpha decides).

The functions work on a window of rows of both images (``pdiff.metric.Window``) as uint32
RGBA: a pixel is given by its place (x, y) in the window (``excluded`` takes window-flat
indices), ``top`` is the window's first canvas row, and a neighbour exists when it is
inside the canvas of ``canvas_height`` rows (the window carries two rows of context either side
where the canvas has them). Arithmetic is pixelmatch's, in float64 and in the same order, with
no fast-math: the tests check the counts against pixelmatch's own, and each function against a
line-by-line transcription of its JavaScript.

Compiled on first use and cached beside this file (numba's ``cache=True``; NUMBA_CACHE_DIR moves
the cache where the code is read-only).
"""

from __future__ import annotations

import numpy as np
from numba import njit

# The 8 neighbours in pixelmatch's order (x outer, y inner): ties in the darkest / brightest
# neighbour are broken by this order.
_DX = np.array([-1, -1, -1, 0, 0, 1, 1, 1], dtype=np.int64)
_DY = np.array([-1, 0, 1, -1, 1, -1, 0, 1], dtype=np.int64)


@njit(cache=True, nogil=True)
def brightness_delta(centre, neighbour, k, yiq):
    """Luma difference of two RGBA pixels given as uint32 (little-endian: red in the low
    byte), the ramp direction; ``k`` is the centre's byte offset on the canvas (the
    checkerboard)."""
    if centre == neighbour:
        return 0.0
    ca, na = (centre >> 24) & 255, (neighbour >> 24) & 255
    r1, g1, b1 = float(centre & 255), float((centre >> 8) & 255), float((centre >> 16) & 255)
    r2 = float(neighbour & 255)
    g2, b2 = float((neighbour >> 8) & 255), float((neighbour >> 16) & 255)
    a1, a2 = float(ca), float(na)
    dr, dg, db, da = r1 - r2, g1 - g2, b1 - b2, a1 - a2
    translucent = ca < 255 or na < 255
    if yiq:  # pixelmatch 7.2: blended onto its checkerboard
        if translucent:
            kf = float(k)
            rb = 48.0 + 159.0 * (kf % 2.0)
            gb = 48.0 + 159.0 * (np.floor(kf / 1.618033988749895) % 2.0)
            bb = 48.0 + 159.0 * (np.floor(kf / 2.618033988749895) % 2.0)
            dr = (r1 * a1 - r2 * a2 - rb * da) / 255
            dg = (g1 * a1 - g2 * a2 - gb * da) / 255
            db = (b1 * a1 - b2 * a2 - bb * da) / 255
        return dr * 0.29889531 + dg * 0.58662247 + db * 0.11448223
    if translucent:  # main: blended onto white
        dr = (r1 * a1 - r2 * a2 - 255 * da) / 255
        dg = (g1 * a1 - g2 * a2 - 255 * da) / 255
        db = (b1 * a1 - b2 * a2 - 255 * da) / 255
    delta = dr * 0.29889531 + dg * 0.58662247 + db * 0.11448223
    if translucent and delta == 0 and da != 0:
        return da / 2
    return delta


@njit(cache=True, nogil=True)
def _on_border(x, canvas_y, width, canvas_height):
    return x == 0 or x == width - 1 or canvas_y == 0 or canvas_y == canvas_height - 1


@njit(cache=True, nogil=True)
def has_many_siblings(img32, x, y, width, top, canvas_height):
    """3+ of the 8 neighbours of window pixel (x, y) (the canvas border counts as one) have
    exactly its RGBA: it is in a flat area, not on an anti-aliased edge. ``img32``: the window
    as uint32."""
    zeroes = 1 if _on_border(x, y + top, width, canvas_height) else 0
    value = img32[y * width + x]
    for j in range(8):
        nx, ny = x + _DX[j], y + _DY[j]
        if nx < 0 or nx >= width or ny + top < 0 or ny + top >= canvas_height:
            continue
        if img32[ny * width + nx] == value:
            zeroes += 1
            if zeroes > 2:
                return True
    return False


@njit(cache=True, nogil=True)
def antialiased(a32, b32, x, y, width, top, canvas_height, yiq):
    """pixelmatch's antialiased(img, x, y, ...) for window pixel (x, y): ``a32`` is the image
    examined and ``b32`` the other, both the window as uint32. Pixels are given by place, not
    by index, so that no neighbour costs a division."""
    zeroes = 1 if _on_border(x, y + top, width, canvas_height) else 0
    k = (y * width + x + top * width) * 4
    centre = a32[y * width + x]
    darkest, brightest = 0.0, 0.0
    darkest_x, darkest_y, brightest_x, brightest_y = -1, -1, -1, -1
    for j in range(8):
        nx, ny = x + _DX[j], y + _DY[j]
        if nx < 0 or nx >= width or ny + top < 0 or ny + top >= canvas_height:
            continue
        delta = brightness_delta(centre, a32[ny * width + nx], k, yiq)
        if delta == 0:
            zeroes += 1
            if zeroes > 2:  # 3+ equal neighbours: certainly not anti-aliasing
                return False
        elif delta < darkest:
            darkest, darkest_x, darkest_y = delta, nx, ny
        elif delta > brightest:
            brightest, brightest_x, brightest_y = delta, nx, ny
    if darkest == 0 or brightest == 0:  # no ramp: not anti-aliasing
        return False
    return flat_in_both(a32, b32, darkest_x, darkest_y, width, top, canvas_height) or (
        flat_in_both(a32, b32, brightest_x, brightest_y, width, top, canvas_height)
    )


@njit(cache=True, nogil=True)
def _antialiased_inside(a32, b32, x, y, width, top, canvas_height, yiq):
    """``antialiased`` for a pixel off the canvas border, the common case: all eight
    neighbours exist, so none is bounds-checked. The same answer, in about half the time:

    * neighbours with the centre's exact value are counted first, with integer compares (3+ of
      them: a flat area, answered at once);
    * an opaque pair's brightness difference is written out (``brightness_delta`` is called
      only for a translucent one), in its arithmetic and order;
    * the zero count, the darkest and the brightest are kept without branches (the first of
      equal extremes wins, as in pixelmatch's ``<`` and ``>``): on text, whose neighbours
      are anything, each branch was a coin toss for the processor."""
    pixel = y * width + x
    centre = a32[pixel]
    up, down = pixel - width, pixel + width
    # The eight neighbours in pixelmatch's order (x outer, y inner).
    around = (up - 1, pixel - 1, down - 1, up, down, up + 1, pixel + 1, down + 1)
    equal = 0
    for at in around:
        equal += int(a32[at] == centre)
    if equal > 2:
        return False
    k = (pixel + top * width) * 4
    opaque = (centre >> 24) == 255
    r1, g1, b1 = float(centre & 255), float((centre >> 8) & 255), float((centre >> 16) & 255)
    zeroes = 0
    darkest, brightest = 0.0, 0.0
    darkest_at, brightest_at = -1, -1
    for at in around:
        neighbour = a32[at]
        if opaque and (neighbour >> 24) == 255:
            delta = (
                (r1 - float(neighbour & 255)) * 0.29889531
                + (g1 - float((neighbour >> 8) & 255)) * 0.58662247
                + (b1 - float((neighbour >> 16) & 255)) * 0.11448223
            )
        else:
            delta = brightness_delta(centre, neighbour, k, yiq)
        zeroes += int(delta == 0)
        darker = delta < darkest
        darkest = delta if darker else darkest
        darkest_at = at if darker else darkest_at
        brighter = delta > brightest
        brightest = delta if brighter else brightest
        brightest_at = at if brighter else brightest_at
    if zeroes > 2 or darkest == 0 or brightest == 0:  # a flat area, or no ramp
        return False
    return flat_in_both(
        a32, b32, darkest_at % width, darkest_at // width, width, top, canvas_height
    ) or flat_in_both(
        a32, b32, brightest_at % width, brightest_at // width, width, top, canvas_height
    )


@njit(cache=True, nogil=True)
def either(a32, b32, x, y, width, top, canvas_height, yiq):
    """Anti-aliasing in either image: pixelmatch leaves the pixel out."""
    if 0 < x < width - 1 and 0 < y + top < canvas_height - 1:
        return _antialiased_inside(
            a32, b32, x, y, width, top, canvas_height, yiq
        ) or _antialiased_inside(b32, a32, x, y, width, top, canvas_height, yiq)
    return antialiased(a32, b32, x, y, width, top, canvas_height, yiq) or antialiased(
        b32, a32, x, y, width, top, canvas_height, yiq
    )


@njit(cache=True, nogil=True)
def flat_in_both(a32, b32, x, y, width, top, canvas_height):
    """Window pixel (x, y) has many siblings in both images: a flat area, not an edge."""
    if 0 < x < width - 1 and 0 < y + top < canvas_height - 1:
        pixel = y * width + x
        return _many_siblings_inside(a32, pixel, width) and _many_siblings_inside(b32, pixel, width)
    return has_many_siblings(a32, x, y, width, top, canvas_height) and has_many_siblings(
        b32, x, y, width, top, canvas_height
    )


@njit(cache=True, nogil=True)
def _many_siblings_inside(img32, pixel, width):
    """``has_many_siblings`` for a pixel off the canvas border: no neighbour bounds-checked."""
    value = img32[pixel]
    same = 0
    for offset in (-width - 1, -1, width - 1, -width, width, -width + 1, 1, width + 1):
        if img32[pixel + offset] == value:
            same += 1
            if same > 2:
                return True
    return False


@njit(cache=True, nogil=True)
def excluded(a32, b32, pixels, width, top, canvas_height, yiq):
    """For each window pixel in ``pixels`` (flat indices): anti-aliasing in either image."""
    out = np.zeros(pixels.size, dtype=np.bool_)
    for i in range(pixels.size):
        x, y = pixels[i] % width, pixels[i] // width
        out[i] = either(a32, b32, x, y, width, top, canvas_height, yiq)
    return out
