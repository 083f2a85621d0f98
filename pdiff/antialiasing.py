"""pixelmatch's anti-aliasing test ("Anti-aliased Pixel and Intensity Slope Detector",
V. Vysniauskas, 2009), compiled with numba: a loop over the pixels in question, as pixelmatch
itself runs it, instead of numpy arrays of every pixel's eight neighbours.

A pixel that differs beyond the threshold is not counted when it looks like anti-aliasing in
either image: among its eight neighbours (the canvas border counts as one equal neighbour) at
most two have its exact colour, there are both darker and brighter ones, and the darkest or the
brightest of them sits in a flat area (3+ equal neighbours) of both images. Brightness is
pixelmatch 7.2's for ``yiq`` (translucent pixels blended onto its checkerboard) and main's for
``oklab`` (blended onto white; when the luma cancels out, alpha decides).

The functions work on a window of rows of both images (``pdiff.metric.Window``): pixels are
window-flat indices, ``top`` is the window's first canvas row, and a neighbour exists when it is
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


@njit(cache=True)
def brightness_delta(img, centre, neighbour, k, yiq):
    """Luma difference of window pixels ``centre`` and ``neighbour`` of ``img`` ((n, 4) RGBA),
    the ramp direction; ``k`` is the centre's byte offset on the canvas (the checkerboard)."""
    cr, cg, cb, ca = img[centre, 0], img[centre, 1], img[centre, 2], img[centre, 3]
    nr, ng, nb, na = img[neighbour, 0], img[neighbour, 1], img[neighbour, 2], img[neighbour, 3]
    if cr == nr and cg == ng and cb == nb and ca == na:
        return 0.0
    r1, g1, b1, a1 = float(cr), float(cg), float(cb), float(ca)
    r2, g2, b2, a2 = float(nr), float(ng), float(nb), float(na)
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


@njit(cache=True)
def _on_border(x, canvas_y, width, canvas_height):
    return x == 0 or x == width - 1 or canvas_y == 0 or canvas_y == canvas_height - 1


@njit(cache=True)
def has_many_siblings(img32, pixel, width, top, canvas_height):
    """3+ of the pixel's 8 neighbours (the canvas border counts as one) have exactly its RGBA:
    it is in a flat area, not on an anti-aliased edge. ``img32``: the window as uint32."""
    x, y = pixel % width, pixel // width
    zeroes = 1 if _on_border(x, y + top, width, canvas_height) else 0
    value = img32[pixel]
    for j in range(8):
        nx, ny = x + _DX[j], y + _DY[j]
        if nx < 0 or nx >= width or ny + top < 0 or ny + top >= canvas_height:
            continue
        if img32[ny * width + nx] == value:
            zeroes += 1
            if zeroes > 2:
                return True
    return False


@njit(cache=True)
def antialiased(img, a32, b32, pixel, width, top, canvas_height, yiq):
    """pixelmatch's antialiased(img, x, y, ...): ``img`` is the image examined ((n, 4)),
    ``a32`` the same image as uint32 and ``b32`` the other."""
    x, y = pixel % width, pixel // width
    zeroes = 1 if _on_border(x, y + top, width, canvas_height) else 0
    k = (pixel + top * width) * 4
    darkest, brightest = 0.0, 0.0
    darkest_at, brightest_at = -1, -1
    for j in range(8):
        nx, ny = x + _DX[j], y + _DY[j]
        if nx < 0 or nx >= width or ny + top < 0 or ny + top >= canvas_height:
            continue
        neighbour = ny * width + nx
        delta = brightness_delta(img, pixel, neighbour, k, yiq)
        if delta == 0:
            zeroes += 1
            if zeroes > 2:  # 3+ equal neighbours: certainly not anti-aliasing
                return False
        elif delta < darkest:
            darkest, darkest_at = delta, neighbour
        elif delta > brightest:
            brightest, brightest_at = delta, neighbour
    if darkest == 0 or brightest == 0:  # no ramp: not anti-aliasing
        return False
    return (
        has_many_siblings(a32, darkest_at, width, top, canvas_height)
        and has_many_siblings(b32, darkest_at, width, top, canvas_height)
    ) or (
        has_many_siblings(a32, brightest_at, width, top, canvas_height)
        and has_many_siblings(b32, brightest_at, width, top, canvas_height)
    )


@njit(cache=True)
def excluded(img1, img2, a32, b32, pixels, width, top, canvas_height, yiq):
    """For each window pixel in ``pixels``: anti-aliasing in either image (not counted)."""
    out = np.zeros(pixels.size, dtype=np.bool_)
    for i in range(pixels.size):
        pixel = pixels[i]
        out[i] = antialiased(img1, a32, b32, pixel, width, top, canvas_height, yiq) or antialiased(
            img2, b32, a32, pixel, width, top, canvas_height, yiq
        )
    return out


@njit(cache=True)
def many_siblings(img32, pixels, width, top, canvas_height):
    """``has_many_siblings`` for each window pixel in ``pixels``."""
    out = np.zeros(pixels.size, dtype=np.bool_)
    for i in range(pixels.size):
        out[i] = has_many_siblings(img32, pixels[i], width, top, canvas_height)
    return out
