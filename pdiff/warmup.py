"""python -m pdiff.warmup: compile the diff's compiled passes ahead of the first diff.

numba compiles each function of ``pdiff`` on its first call, for each kind of argument it is
given, and keeps the machine code beside the source (``cache=True``; NUMBA_CACHE_DIR moves it).
On a new install the first diff would pay for all of it: about 17 s on a 2-core host, in the
middle of a release. ``make setup`` runs this once, so a worker's first diff only loads the
cached code (about 0.5 s). It compares small made-up screenshots in every way a diff compares
(both metrics, opaque and translucent pixels, anti-aliasing counted or not, a first look that
stops early, rows that moved, a page that grew, layout maps naming a cause); a test checks
that a diff of real screenshots compiles nothing after it.
"""

from __future__ import annotations

import io
import json
import sys
import time

import numpy as np
from PIL import Image

from . import core
from .layout import LayoutMap

WIDTH, HEIGHT = 160, 240


def _page(seed: int, *, shift: int = 0, alpha: int = 255, height: int = HEIGHT) -> np.ndarray:
    """A made-up screenshot: lines of 'text' (dark strokes with grey edges) on white, a flat
    panel, moved down ``shift`` rows."""
    rng = np.random.default_rng(seed)
    image = np.full((height, WIDTH, 4), 255, dtype=np.uint8)
    image[20:60, 10:150, :3] = (232, 240, 254)  # a panel
    for line in range(70, height - 20, 14):
        y = line + shift
        if y + 9 >= height:
            break
        for x in range(8, WIDTH - 12, 6):
            if rng.random() < 0.8:
                image[y : y + 9, x : x + 2, :3] = 34
                image[y : y + 9, x + 2, :3] = 150  # an anti-aliased edge
    image[..., 3] = alpha
    return image


def _png(pixels: np.ndarray, mode: str = "RGBA") -> bytes:
    out = io.BytesIO()
    image = Image.fromarray(pixels, "RGBA")
    (image if mode == "RGBA" else image.convert(mode)).save(out, format="PNG", compress_level=1)
    return out.getvalue()


def _layout(colour: str, height: int = HEIGHT) -> LayoutMap:
    """A layout map of _page's page: a body, the panel (its background ``colour``), a
    paragraph."""
    return LayoutMap(
        {
            "format": 1,
            "width": WIDTH,
            "height": height,
            "scale": 1,
            "props": ["color", "background-color"],
            "styles": [["rgb(34, 34, 34)", "rgba(0, 0, 0, 0)"], ["rgb(34, 34, 34)", colour]],
            "segments": [["html", "", ""], ["body", "", ""], ["div", "", "panel"], ["p", "", ""]],
            "elements": [
                [-1, 0, 1, 0, 0, WIDTH, height, 0, 0, "", ""],
                [0, 1, 1, 0, 0, WIDTH, height, 0, 0, "", ""],
                [1, 2, 1, 10, 20, 140, 40, 1, 0, "", ""],
                [1, 3, 1, 8, 70, 140, height - 90, 0, 0, "Some text", ""],
            ],
            "dropped": 0,
        }
    )


def warm() -> float:
    """Run every kind of compare once; returns the seconds it took."""
    started = time.monotonic()
    before = _page(1)
    after = _page(2)
    moved = _page(1, shift=5)
    taller = _page(1, height=HEIGHT + 30)
    for mode in ("RGBA", "RGB"):
        old, new = _png(before, mode), _png(after, mode)
        for metric in core.METRICS:
            core.compare(old, new, metric=metric)
            core.compare(old, new, metric=metric, include_aa=True, make_diff_png=False)
            core.compare(old, new, metric=metric, align=False, stop_over=0.0, diff_top_rows=50)
        core.compare(old, _png(moved, mode))
        core.compare(old, _png(taller, mode))
    translucent = _png(_page(1, alpha=128)), _png(_page(2, alpha=200))
    for metric in core.METRICS:
        core.compare(*translucent, metric=metric)
    panel = before.copy()
    panel[20:60, 10:150, :3] = (200, 220, 250)
    core.compare(
        _png(before),
        _png(panel),
        before_layout=_layout("rgb(232, 240, 254)"),
        after_layout=_layout("rgb(200, 220, 250)"),
        recheck_layout=_layout("rgb(200, 220, 250)"),
    )
    core.compare(
        _png(before),
        _png(moved),
        before_layout=_layout("rgb(232, 240, 254)"),
        after_layout=_layout("rgb(232, 240, 254)"),
    )
    return time.monotonic() - started


def main() -> int:
    seconds = warm()
    print(json.dumps({"warmed": True, "seconds": round(seconds, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
