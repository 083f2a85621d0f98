"""When do two pixels differ: the colour metrics, vectorised, and the anti-aliasing test.

Both metrics are pixelmatch's, computed only for the pixels whose bytes differ:

* ``"oklab"`` (pixelmatch's main branch, unreleased in 2026): the HyAB distance in OKLab,
  ``|ΔLr| + sqrt(Δa² + Δb²)`` with Ottosson's toe-corrected lightness Lr, normalised so that
  black↔white is 1.0; a pixel differs when the distance exceeds ``threshold``. It separates the
  colour pairs YIQ confuses (pixelmatch issue #127) and does not over-weigh near-black.
* ``"yiq"`` (pixelmatch 7.2.0): the squared YIQ distance against ``35215 * threshold**2``.

Semi-transparent pixels are blended onto pixelmatch's checkerboard first, so a change of alpha
alone is seen. A pixel above the threshold is not counted when it looks like anti-aliasing in
either image (the "Anti-aliased Pixel and Intensity Slope Detector" test pixelmatch uses;
``pdiff.antialiasing``, compiled).

The functions work on a ``Window``: a band of rows of both images on the common canvas, with
two rows of context above and below where the canvas has them, so a diff can walk a tall image
a stripe at a time and still give pixelmatch's counts exactly.
"""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import numpy as np
from numba import njit

from . import antialiasing, parallel

METRICS = ("oklab", "yiq")
# 35215 is the largest possible YIQ distance; pixelmatch 7.2.0 scales the threshold by it.
MAX_YIQ_DELTA = 35215.0

# pixelmatch main's lookup tables as V8 computes them (tests/tools/oklab_tables.mjs):
# sRGB byte -> linear light (257 entries), cube root of i/4096 (4098 entries).
_TABLES = np.fromfile(Path(__file__).with_name("oklab_tables.bin"), dtype="<f8")
_LIN, _CBRT = _TABLES[:257], _TABLES[257:]
_CBRT_N = 4096
_TOE_K1 = 0.206
_TOE_K2 = 0.03
_TOE_K3 = (1 + _TOE_K1) / (1 + _TOE_K2)


@dataclasses.dataclass
class Window:
    """Rows [top, top + h) of both images on a canvas of ``canvas_height`` rows."""

    img1: np.ndarray  # (h, width, 4) uint8, C-contiguous
    img2: np.ndarray
    top: int
    canvas_height: int

    def __post_init__(self):
        self.width = self.img1.shape[1]
        self.flat1 = self.img1.reshape(-1, 4)
        self.flat2 = self.img2.reshape(-1, 4)
        self.a32 = self.img1.view(np.uint32).reshape(-1)
        self.b32 = self.img2.view(np.uint32).reshape(-1)


# What classify() says of a pixel. DIFFERS: its bytes differ, but it is not counted (under the
# threshold and not subtle, or anti-aliasing); callers that only count take it as SAME.
SAME, SUBTLE, CHANGED, DIFFERS = 0, 1, 2, 4
# Rows of work below which a classify() runs on the calling thread alone.
_SPLIT_PIXELS = 1 << 18
# Opaque colours whose OKLab values each thread remembers (a page draws a few thousand).
_MEMO_BITS = 16
_MEMO_MASK = (1 << _MEMO_BITS) - 1


def classify(
    win: Window,
    first: int,
    last: int,
    *,
    metric: str,
    threshold: float,
    include_aa: bool,
    subtle: bool,
    only: np.ndarray | None = None,
    min_delta: float = 0.0,
    quiet: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel of window rows [first, last), or of the window-flat indices ``only`` (sorted,
    in those rows): its state (SAME, SUBTLE, CHANGED or DIFFERS, uint8) and, for a SUBTLE one,
    its OKLab HyAB distance (float32, else 0). CHANGED is what pixelmatch counts. With
    ``subtle``, a pixel under the threshold by at least ``min_delta`` in a flat area of both
    images (3+ equal neighbours: not an anti-aliased edge) is SUBTLE, except where ``quiet``
    (a mask of those rows, not with ``only``) is set: there it is DIFFERS.

    One compiled pass per pixel (the colour distance, then the anti-aliasing test for the
    pixels over the threshold), split over the cores (``pdiff.parallel``) when the work is
    large."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}: expected one of {', '.join(METRICS)}")
    width = win.width
    count = (last - first) * width if only is None else only.size
    states = np.zeros(count, dtype=np.uint8)
    deltas = np.zeros(count, dtype=np.float32)
    arguments = (
        win.flat1,
        win.flat2,
        win.a32,
        win.b32,
        width,
        win.top,
        win.canvas_height,
        metric == "yiq",
        float(threshold),
        MAX_YIQ_DELTA * threshold * threshold,
        include_aa,
        subtle,
        float(min_delta),
    )

    offset = first * width
    listed = only if only is not None else _NONE
    hushed = quiet.reshape(-1) if quiet is not None and only is None else _NO_MASK

    def part(lo: int, hi: int) -> None:
        _classify(
            *arguments,
            listed[lo:hi],
            offset + lo,
            offset + hi,
            hushed[lo:hi],
            *_memo(),
            states[lo:hi],
            deltas[lo:hi],
        )

    parallel.run(part, count, _SPLIT_PIXELS, step=width if only is None else 1)
    return states, deltas


_local = threading.local()
_NONE = np.zeros(0, dtype=np.int64)
_NO_MASK = np.zeros(0, dtype=np.bool_)


def _memo() -> tuple[np.ndarray, np.ndarray]:
    """This thread's memo of opaque colours' OKLab values: keys (RGBA as uint32; 0, a
    transparent colour, is never a key) and (l, m, s, Lr) values."""
    memo = getattr(_local, "memo", None)
    if memo is None:
        memo = _local.memo = (
            np.zeros(1 << _MEMO_BITS, dtype=np.uint32),
            np.zeros((1 << _MEMO_BITS, 4)),
        )
    return memo


@njit(nogil=True, cache=True)
def _classify(
    img1, img2, a32, b32, width, top, canvas_height, yiq, threshold, yiq_limit, include_aa,
    subtle, min_delta, pixels, lo, hi, quiet, keys, values, states, deltas,
):  # fmt: skip
    """The states of window pixels ``pixels`` (if any) or [lo, hi), in pixelmatch's
    arithmetic throughout. One loop with the common case written out; what is rarer (a colour
    not seen yet, a translucent pixel, the anti-aliasing test) is called."""
    listed = pixels.size > 0
    x, y = lo % width - 1, lo // width  # (x, y) of pixel i, kept by counting in a range
    for n in range(pixels.size if listed else hi - lo):
        if listed:
            i = pixels[n]
        else:
            i = lo + n
            x += 1
            if x == width:
                x, y = 0, y + 1
        v1, v2 = a32[i], b32[i]
        if v1 == v2:
            continue
        if listed:
            x, y = i % width, i // width
        k = (i + top * width) * 4  # pixelmatch's byte offset, for the checkerboard
        if yiq:
            over = abs(_yiq(img1, img2, i, k)) > yiq_limit
            d_lr, d_ab = 0.0, 0.0
        else:
            # (l, m, s, Lr) of each colour from this thread's memo (a translucent pixel is
            # blended onto the checkerboard at its place: computed). Written out here, not
            # called: a call per pixel costs numba about ten times the lookup.
            if (v1 >> 24) != 255 or (v2 >> 24) != 255:
                l1, m1, s1, lr1 = _oklab_fresh(img1, i, k)
                l2, m2, s2, lr2 = _oklab_fresh(img2, i, k)
            else:
                rgb = np.int64(v1) & 0xFFFFFF
                h = ((rgb * 40503) ^ (rgb >> 11)) & _MEMO_MASK
                if keys[h] != v1:
                    _remember(img1, i, v1, k, keys, values, h)
                l1, m1, s1, lr1 = values[h, 0], values[h, 1], values[h, 2], values[h, 3]
                rgb = np.int64(v2) & 0xFFFFFF
                h = ((rgb * 40503) ^ (rgb >> 11)) & _MEMO_MASK
                if keys[h] != v2:
                    _remember(img2, i, v2, k, keys, values, h)
                l2, m2, s2, lr2 = values[h, 0], values[h, 1], values[h, 2], values[h, 3]
            d_lr, d_ab = _difference(l1, m1, s1, lr1, l2, m2, s2, lr2)
            rest = threshold - abs(d_lr)
            over = not (rest > 0 and d_ab <= rest * rest)
        if over:
            aa = not include_aa and antialiasing.either(
                a32, b32, x, y, width, top, canvas_height, yiq
            )
            states[n] = DIFFERS if aa else CHANGED
            continue
        states[n] = DIFFERS
        if not subtle or (quiet.size and quiet[n]):
            continue
        if yiq:
            d_lr, d_ab = _oklab_uncached(img1, img2, i, k)
        delta = abs(d_lr) + np.sqrt(d_ab)
        if delta >= min_delta and antialiasing.flat_in_both(
            a32, b32, x, y, width, top, canvas_height
        ):
            states[n] = SUBTLE
            deltas[n] = delta


@njit(nogil=True, cache=True, inline="never")
def _remember(img, i, v, k, keys, values, slot) -> None:
    keys[slot] = v
    values[slot, 0], values[slot, 1], values[slot, 2], values[slot, 3] = _oklab_fresh(img, i, k)


@njit(nogil=True, cache=True, inline="never")
def _oklab_fresh(img, i, k):
    """(l, m, s, Lr) of window pixel i, computed (not from the memo)."""
    l_, m_, s_ = _lms(img[i], k)
    return l_, m_, s_, _toe(0.2104542553 * l_ + 0.7936177850 * m_ - 0.0040720468 * s_)


@njit(nogil=True, cache=True)
def _difference(l1, m1, s1, lr1, l2, m2, s2, lr2):
    """(ΔLr, Δa² + Δb²) of two colours' (l, m, s, Lr), in pixelmatch main's arithmetic."""
    dl, dm, ds = l1 - l2, m1 - m2, s1 - s2
    da = 1.9779984951 * dl - 2.4285922050 * dm + 0.4505937099 * ds
    db = 0.0259040371 * dl + 0.7827717662 * dm - 0.8086757660 * ds
    return lr1 - lr2, da * da + db * db


@njit(nogil=True, cache=True, inline="never")
def _oklab_uncached(img1, img2, i, k):
    """(ΔLr, Δa² + Δb²) of window pixel i without the memo (the YIQ metric's subtle test)."""
    return _difference(*_oklab_fresh(img1, i, k), *_oklab_fresh(img2, i, k))


@njit(nogil=True, cache=True)
def _yiq(img1, img2, i, k):
    """Squared YIQ distance of two RGBA pixels, negative when the second is darker
    (pixelmatch 7.2.0's colorDelta), translucent ones blended onto its checkerboard."""
    r1, g1, b1, a1 = float(img1[i, 0]), float(img1[i, 1]), float(img1[i, 2]), float(img1[i, 3])
    r2, g2, b2, a2 = float(img2[i, 0]), float(img2[i, 1]), float(img2[i, 2]), float(img2[i, 3])
    dr, dg, db = r1 - r2, g1 - g2, b1 - b2
    if a1 < 255 or a2 < 255:
        kf = float(k)
        rb = 48 + 159 * (kf % 2)
        gb = 48 + 159 * (np.floor(kf / 1.618033988749895) % 2)
        bb = 48 + 159 * (np.floor(kf / 2.618033988749895) % 2)
        da = a1 - a2
        dr = (r1 * a1 - r2 * a2 - rb * da) / 255
        dg = (g1 * a1 - g2 * a2 - gb * da) / 255
        db = (b1 * a1 - b2 * a2 - bb * da) / 255
    y = dr * 0.29889531 + dg * 0.58662247 + db * 0.11448223
    in_phase = dr * 0.59597799 - dg * 0.27417610 - db * 0.32180189
    q = dr * 0.21147017 - dg * 0.52261711 + db * 0.31114694
    delta = 0.5053 * y * y + 0.299 * in_phase * in_phase + 0.1957 * q * q
    return -delta if y > 0 else delta


def oklab_distance(rgb1, rgb2) -> float:
    """The OKLab HyAB distance between two opaque sRGB colours (0..1, black↔white is 1)."""
    p1 = np.array([[*rgb1, 255]], dtype=np.uint8)
    p2 = np.array([[*rgb2, 255]], dtype=np.uint8)
    d_lr, d_ab = _oklab_uncached(p1, p2, 0, 0)
    return float(abs(d_lr) + np.sqrt(d_ab))


# --- the colour distances ---------------------------------------------------------------------


@njit(cache=True)
def _lin(x):
    """sRGB channel value 0..255 (fractional after blending) -> linear, interpolating LIN."""
    i = int(x)
    return _LIN[i] + (_LIN[i + 1] - _LIN[i]) * (x - i)


@njit(cache=True)
def _cbrt(x):
    t = x * _CBRT_N
    i = int(t)
    return _CBRT[i] + (_CBRT[i + 1] - _CBRT[i]) * (t - i)


@njit(cache=True)
def _toe(lightness):
    x = _TOE_K3 * lightness - _TOE_K1
    return 0.5 * (x + np.sqrt(x * x + 4 * _TOE_K2 * _TOE_K3 * lightness))


@njit(cache=True)
def _lms(p, k):
    """Cube-rooted LMS of an RGBA pixel, blended onto the checkerboard when translucent."""
    r, g, b, a = float(p[0]), float(p[1]), float(p[2]), float(p[3])
    if a < 255:
        kf = float(k)
        rb = 48 + 159 * (kf % 2)
        gb = 48 + 159 * (np.floor(kf / 1.618033988749895) % 2)
        bb = 48 + 159 * (np.floor(kf / 2.618033988749895) % 2)
        r = (r * a + rb * (255 - a)) / 255
        g = (g * a + gb * (255 - a)) / 255
        b = (b * a + bb * (255 - a)) / 255
    lr, lg, lb = _lin(r), _lin(g), _lin(b)
    l_ = _cbrt(0.4122214708 * lr + 0.5363325363 * lg + 0.0514459929 * lb)
    m_ = _cbrt(0.2119034982 * lr + 0.6806995451 * lg + 0.1073969566 * lb)
    s_ = _cbrt(0.0883024619 * lr + 0.2817188376 * lg + 0.6299787005 * lb)
    return l_, m_, s_
