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
from pathlib import Path

import numpy as np
from numba import njit

from . import antialiasing

METRICS = ("oklab", "yiq")
# 35215 is the largest possible YIQ distance; pixelmatch 7.2.0 scales the threshold by it.
MAX_YIQ_DELTA = 35215.0
# Differing pixels examined at a time (bounds the temporary arrays).
_CHUNK = 1 << 20

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


@dataclasses.dataclass
class Verdict:
    """What ``compare_rows`` found among the differing pixels of some rows."""

    changed: np.ndarray  # window-flat indices of the counted pixels
    below: np.ndarray  # differing pixels under the threshold (not counted)
    below_delta: np.ndarray  # their OKLab HyAB distance
    # Every pixel whose bytes differ, counted or not (window-flat indices).
    differing: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, np.int64))


def compare_rows(
    win: Window,
    first: int,
    last: int,
    *,
    metric: str,
    threshold: float,
    include_aa: bool,
    want_below: bool = False,
    only: np.ndarray | None = None,
) -> Verdict:
    """The pixels of window rows [first, last) that pixelmatch would count as changed;
    ``only``: just these window-flat indices of those rows (sorted)."""
    width = win.width
    lo, hi = first * width, last * width
    if only is None:
        differing = np.flatnonzero(win.a32[lo:hi] != win.b32[lo:hi]) + lo
    else:
        differing = only[win.a32[only] != win.b32[only]]
    changed, below, below_delta = [], [], []
    for start in range(0, differing.size, _CHUNK):
        idx = differing[start : start + _CHUNK]
        p1, p2 = win.flat1[idx], win.flat2[idx]
        k = (idx + win.top * width) * 4  # pixelmatch's byte offset, for the checkerboard
        d_lr: np.ndarray | None = None
        d_ab: np.ndarray | None = None
        if metric == "oklab":
            d_lr, d_ab = _oklab_deltas(p1, p2, k)
            rest = threshold - np.abs(d_lr)
            over = ~((rest > 0) & (d_ab <= rest * rest))
        elif metric == "yiq":
            over = np.abs(_yiq_delta(p1, p2, k)) > MAX_YIQ_DELTA * threshold * threshold
        else:
            raise ValueError(f"unknown metric {metric!r}: expected one of {', '.join(METRICS)}")
        candidates = idx[over]
        if not include_aa and candidates.size:
            aa = antialiasing.excluded(
                win.flat1,
                win.flat2,
                win.a32,
                win.b32,
                candidates,
                width,
                win.top,
                win.canvas_height,
                metric == "yiq",
            )
            candidates = candidates[~aa]
        changed.append(candidates)
        if want_below:
            under = ~over
            if d_lr is None or d_ab is None:
                d_lr, d_ab = _oklab_deltas(p1[under], p2[under], k[under])
            else:
                d_lr, d_ab = d_lr[under], d_ab[under]
            below.append(idx[under])
            below_delta.append(np.abs(d_lr) + np.sqrt(d_ab))
    empty_i = np.zeros(0, dtype=np.int64)
    return Verdict(
        np.concatenate(changed) if changed else empty_i,
        np.concatenate(below) if below else empty_i,
        np.concatenate(below_delta) if below_delta else np.zeros(0),
        differing,
    )


def oklab_distance(rgb1, rgb2) -> float:
    """The OKLab HyAB distance between two opaque sRGB colours (0..1, black↔white is 1)."""
    p1 = np.array([[*rgb1, 255]], dtype=np.uint8)
    p2 = np.array([[*rgb2, 255]], dtype=np.uint8)
    d_lr, d_ab = _oklab_deltas(p1, p2, np.zeros(1, dtype=np.int64))
    return float(abs(d_lr[0]) + np.sqrt(d_ab[0]))


def has_many_siblings(win: Window, img32: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """For window pixels ``idx``: 3+ of the 8 neighbours (the canvas border counts as one)
    have exactly the same RGBA. Such a pixel is in a flat area, not on an anti-aliased edge."""
    return antialiasing.many_siblings(img32, idx, win.width, win.top, win.canvas_height)


# --- the colour distances ---------------------------------------------------------------------


def _checkerboard(k: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """pixelmatch's background for blending, keyed by the pixel's byte offset ``k``."""
    k = k.astype(np.float64)
    rb = 48 + 159 * (k % 2)
    gb = 48 + 159 * (np.floor(k / 1.618033988749895) % 2)
    bb = 48 + 159 * (np.floor(k / 2.618033988749895) % 2)
    return rb, gb, bb


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


@njit(cache=True)
def _oklab_deltas(p1, p2, k):
    """(ΔLr, Δa² + Δb²) between two sets of RGBA pixels ((n, 4) each; ``k``: their byte
    offsets, for the checkerboard), in pixelmatch main's arithmetic. Compiled: a pass per
    pixel instead of a dozen numpy temporaries."""
    n = p1.shape[0]
    d_lr = np.empty(n)
    d_ab = np.empty(n)
    for i in range(n):
        l1, m1, s1 = _lms(p1[i], k[i])
        l2, m2, s2 = _lms(p2[i], k[i])
        lr1 = _toe(0.2104542553 * l1 + 0.7936177850 * m1 - 0.0040720468 * s1)
        lr2 = _toe(0.2104542553 * l2 + 0.7936177850 * m2 - 0.0040720468 * s2)
        dl, dm, ds = l1 - l2, m1 - m2, s1 - s2
        da = 1.9779984951 * dl - 2.4285922050 * dm + 0.4505937099 * ds
        db = 0.0259040371 * dl + 0.7827717662 * dm - 0.8086757660 * ds
        d_lr[i] = lr1 - lr2
        d_ab[i] = da * da + db * db
    return d_lr, d_ab


def _yiq_channel_deltas(p1: np.ndarray, p2: np.ndarray, k: np.ndarray):
    """(dr, dg, db) between two sets of RGBA pixels, alpha-blended the way pixelmatch 7.2 does."""
    p1 = p1.astype(np.float64)
    p2 = p2.astype(np.float64)
    r1, g1, b1, a1 = p1.T
    r2, g2, b2, a2 = p2.T
    dr, dg, db = r1 - r2, g1 - g2, b1 - b2
    translucent = (a1 < 255) | (a2 < 255)
    if translucent.any():
        rb, gb, bb = _checkerboard(k)
        da = a1 - a2
        dr = np.where(translucent, (r1 * a1 - r2 * a2 - rb * da) / 255, dr)
        dg = np.where(translucent, (g1 * a1 - g2 * a2 - gb * da) / 255, dg)
        db = np.where(translucent, (b1 * a1 - b2 * a2 - bb * da) / 255, db)
    return dr, dg, db


def _yiq_delta(p1: np.ndarray, p2: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Squared YIQ distance, negative when the second pixel is darker (pixelmatch colorDelta)."""
    dr, dg, db = _yiq_channel_deltas(p1, p2, k)
    y = dr * 0.29889531 + dg * 0.58662247 + db * 0.11448223
    i = dr * 0.59597799 - dg * 0.27417610 - db * 0.32180189
    q = dr * 0.21147017 - dg * 0.52261711 + db * 0.31114694
    delta = 0.5053 * y * y + 0.299 * i * i + 0.1957 * q * q
    return np.where(y > 0, -delta, delta)
