"""The perceptual diff: two images in, a DiffResult out.

Pure and Django-free, so the local tool can use it without a server.

The comparison is pixelmatch's (mapbox/pixelmatch 7.x), vectorised with numpy so that only the
pixels that differ are ever looked at:

* two pixels "match" when their squared YIQ distance is at most ``35215 * threshold**2``;
  semi-transparent pixels are blended onto pixelmatch's checkerboard first, so a change of
  alpha alone is seen;
* a pixel above the threshold is not counted when it looks like anti-aliasing in either image
  (the "Anti-aliased Pixel and Intensity Slope Detector" test pixelmatch uses);
* images of different sizes are padded with transparent pixels onto the larger canvas, so a
  page that grew shows its new strip as changed, and ``size_changed`` says so.

Counts agree with pixelmatch's exactly; the tests check that on real screenshot pairs.
"""

from __future__ import annotations

import dataclasses
import io
import os
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

try:  # libspng decodes PNG ~2.5x faster than Pillow; Pillow remains the fallback.
    import pyspng
except ImportError:  # pragma: no cover - pyspng is in requirements, this is for odd platforms
    pyspng = None

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# 35215 is the largest possible YIQ distance; pixelmatch scales the threshold by it.
MAX_YIQ_DELTA = 35215.0
DEFAULT_THRESHOLD = 0.1
# Side of the grid cells that group changed pixels into regions.
REGION_CELL = 32
# Differing pixels examined at a time (bounds memory to a few hundred MB).
_CHUNK = 1 << 20
# The largest image we agree to decode (width * height); a guard against decompression bombs.
MAX_PIXELS = 200_000_000

# Order of the 8 neighbours exactly as pixelmatch visits them (x outer, y inner): ties in the
# darkest / brightest neighbour are broken by this order.
_NEIGHBOURS = [(dx, dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1) if (dx, dy) != (0, 0)]



class ImageDecodeError(ValueError):
    """An input is not a readable image. The message says which one and why."""


@dataclasses.dataclass(frozen=True)
class Region:
    x: int
    y: int
    width: int
    height: int
    changed_pixels: int

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class DiffResult:
    changed_pixels: int
    total_pixels: int
    before_size: tuple[int, int]
    after_size: tuple[int, int]
    regions: list[Region]
    diff_png: bytes | None
    threshold: float
    identical_bytes: bool = False

    @property
    def distortion(self) -> float:
        """Changed pixels as a fraction of the (padded) canvas, 0..1."""
        return self.changed_pixels / self.total_pixels if self.total_pixels else 0.0

    @property
    def size_changed(self) -> bool:
        return self.before_size != self.after_size

    @property
    def differs(self) -> bool:
        return self.changed_pixels > 0 or self.size_changed

    def as_dict(self) -> dict:
        """Everything but the PNG bytes, JSON-ready."""
        return {
            "changed_pixels": self.changed_pixels,
            "total_pixels": self.total_pixels,
            "distortion": self.distortion,
            "size_changed": self.size_changed,
            "before_size": list(self.before_size),
            "after_size": list(self.after_size),
            "threshold": self.threshold,
            "identical_bytes": self.identical_bytes,
            "regions": [r.as_dict() for r in self.regions],
        }


def compare(before, after, *, threshold: float = DEFAULT_THRESHOLD, include_aa: bool = False,
            make_diff_png: bool = True) -> DiffResult:
    """Compare two images (PNG/JPEG/... bytes, or paths to them).

    ``threshold`` is pixelmatch's: 0 counts any colour change, 1 almost none.
    ``include_aa`` counts anti-aliased pixels as changes too.
    """
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be between 0 and 1, got {threshold}")
    before_bytes = _read(before, "before")
    after_bytes = _read(after, "after")

    if before_bytes == after_bytes:
        size = _peek_size(before_bytes, "before")
        return DiffResult(0, size[0] * size[1], size, size, [], None, threshold, identical_bytes=True)

    img1 = decode(before_bytes, "before")
    img2 = decode(after_bytes, "after")
    before_size = (img1.shape[1], img1.shape[0])
    after_size = (img2.shape[1], img2.shape[0])
    if before_size != after_size:
        img1, img2 = _pad_to_common_canvas(img1, img2)
    height, width = img1.shape[:2]

    changed = changed_pixel_indices(img1, img2, threshold=threshold, include_aa=include_aa)
    regions = _regions(changed, width, height)
    diff_png = _diff_png(img2, changed) if make_diff_png and changed.size else None
    return DiffResult(int(changed.size), width * height, before_size, after_size, regions,
                      diff_png, threshold)


def changed_pixel_indices(img1: np.ndarray, img2: np.ndarray, *, threshold: float = DEFAULT_THRESHOLD,
                          include_aa: bool = False) -> np.ndarray:
    """Flat indices of the pixels pixelmatch would count, for two equal-sized RGBA arrays."""
    height, width = img1.shape[:2]
    a32 = _as_u32(img1)
    b32 = _as_u32(img2)
    differing = np.flatnonzero(a32 != b32)
    flat1 = img1.reshape(-1, 4)
    flat2 = img2.reshape(-1, 4)
    max_delta = MAX_YIQ_DELTA * threshold * threshold
    # In slices, so that two wholly different full-page images need bounded memory.
    parts = []
    for start in range(0, differing.size, _CHUNK):
        idx = differing[start:start + _CHUNK]
        delta = _color_delta(flat1[idx], flat2[idx], idx * 4)
        candidates = idx[np.abs(delta) > max_delta]
        if not include_aa and candidates.size:
            aa = _antialiased(flat1, candidates, width, height, a32, b32)
            rest = ~aa
            aa[rest] = _antialiased(flat2, candidates[rest], width, height, b32, a32)
            candidates = candidates[~aa]
        parts.append(candidates)
    return np.concatenate(parts) if parts else differing


def decode(data: bytes, label: str = "image") -> np.ndarray:
    """Decode image bytes into a C-contiguous (height, width, 4) uint8 RGBA array."""
    if not data:
        raise ImageDecodeError(f"{label} image is empty")
    if data.startswith(PNG_SIGNATURE) and pyspng is not None:
        _check_png_size(data, label)
        try:
            array = pyspng.load(data, format="RGBA")
        except Exception as exc:  # libspng reports corrupt data as a bare RuntimeError
            raise ImageDecodeError(f"{label} image cannot be decoded: {exc}") from exc
        if array.dtype != np.uint8:  # 16-bit PNG: keep the high byte, as browsers display it
            array = (array >> 8).astype(np.uint8)
        return np.ascontiguousarray(array)
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > MAX_PIXELS:
                raise ImageDecodeError(f"{label} image is too large: {image.width}x{image.height}")
            return np.asarray(image.convert("RGBA")).copy()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, ImageDecodeError):
            raise
        raise ImageDecodeError(f"{label} image cannot be decoded: {exc}") from exc


def _read(source, label: str) -> bytes:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    if isinstance(source, (str, os.PathLike)):
        try:
            return Path(source).read_bytes()
        except OSError as exc:
            raise ImageDecodeError(f"{label} image cannot be read: {exc}") from exc
    raise TypeError(f"{label} must be bytes or a path, not {type(source).__name__}")


def _peek_size(data: bytes, label: str) -> tuple[int, int]:
    if data.startswith(PNG_SIGNATURE) and len(data) >= 24 and data[12:16] == b"IHDR":
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except (UnidentifiedImageError, OSError) as exc:
        raise ImageDecodeError(f"{label} image cannot be decoded: {exc}") from exc


def _check_png_size(data: bytes, label: str) -> None:
    width, height = _peek_size(data, label)
    if width * height > MAX_PIXELS:
        raise ImageDecodeError(f"{label} image is too large: {width}x{height}")


def _pad_to_common_canvas(img1: np.ndarray, img2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    height = max(img1.shape[0], img2.shape[0])
    width = max(img1.shape[1], img2.shape[1])

    def pad(img):
        if img.shape[:2] == (height, width):
            return img
        canvas = np.zeros((height, width, 4), dtype=np.uint8)  # transparent
        canvas[: img.shape[0], : img.shape[1]] = img
        return canvas

    return pad(img1), pad(img2)


def _as_u32(img: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(img).view(np.uint32).reshape(-1)


def _checkerboard(k: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """pixelmatch's background for blending, keyed by the pixel's byte offset ``k``."""
    k = k.astype(np.float64)
    rb = 48 + 159 * (k % 2)
    gb = 48 + 159 * (np.floor(k / 1.618033988749895) % 2)
    bb = 48 + 159 * (np.floor(k / 2.618033988749895) % 2)
    return rb, gb, bb


def _channel_deltas(p1: np.ndarray, p2: np.ndarray, k: np.ndarray):
    """(dr, dg, db) between two sets of RGBA pixels, alpha-blended the way pixelmatch does."""
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


def _color_delta(p1: np.ndarray, p2: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Squared YIQ distance, negative when the second pixel is darker (pixelmatch colorDelta)."""
    dr, dg, db = _channel_deltas(p1, p2, k)
    y = dr * 0.29889531 + dg * 0.58662247 + db * 0.11448223
    i = dr * 0.59597799 - dg * 0.27417610 - db * 0.32180189
    q = dr * 0.21147017 - dg * 0.52261711 + db * 0.31114694
    delta = 0.5053 * y * y + 0.299 * i * i + 0.1957 * q * q
    return np.where(y > 0, -delta, delta)


def _brightness_delta(center: np.ndarray, neighbour: np.ndarray, k: np.ndarray) -> np.ndarray:
    dr, dg, db = _channel_deltas(center, neighbour, k)
    same = np.all(center == neighbour, axis=1)
    return np.where(same, 0.0, dr * 0.29889531 + dg * 0.58662247 + db * 0.11448223)


def _neighbourhood(idx: np.ndarray, width: int, height: int):
    """For pixels ``idx``: x, y, the on-border flag, and (8, n) neighbour indices + validity."""
    x = idx % width
    y = idx // width
    edge = (x == 0) | (x == width - 1) | (y == 0) | (y == height - 1)
    nidx = np.empty((8, idx.size), dtype=np.int64)
    valid = np.empty((8, idx.size), dtype=bool)
    for j, (dx, dy) in enumerate(_NEIGHBOURS):
        nx, ny = x + dx, y + dy
        valid[j] = (nx >= 0) & (nx < width) & (ny >= 0) & (ny < height)
        nidx[j] = np.where(valid[j], ny * width + nx, idx)
    return x, y, edge, nidx, valid


def _has_many_siblings(img32: np.ndarray, idx: np.ndarray, width: int, height: int) -> np.ndarray:
    _, _, edge, nidx, valid = _neighbourhood(idx, width, height)
    equal = (img32[nidx] == img32[idx]) & valid
    return edge.astype(np.int64) + equal.sum(axis=0) > 2


def _antialiased(flat: np.ndarray, idx: np.ndarray, width: int, height: int,
                 a32: np.ndarray, b32: np.ndarray) -> np.ndarray:
    """pixelmatch's antialiased(img, x, y, ...) for every pixel in ``idx`` at once.

    ``flat`` is the image examined, ``a32`` the same image as uint32 and ``b32`` the other."""
    result = np.zeros(idx.size, dtype=bool)
    if not idx.size:
        return result
    # Cheap pre-check: a pixel with 3+ identical neighbours (counting the border) is not
    # anti-aliasing. Identical RGBA implies a zero brightness delta, so this only drops pixels
    # the full test below would drop too, and in flat areas it drops nearly all of them.
    _, _, edge, nidx, valid = _neighbourhood(idx, width, height)
    same = ((a32[nidx] == a32[idx]) & valid).sum(axis=0) + edge
    keep = np.flatnonzero(same <= 2)
    if not keep.size:
        return result
    idx, edge, nidx, valid = idx[keep], edge[keep], nidx[:, keep], valid[:, keep]
    center = flat[idx]
    k = idx * 4
    deltas = np.stack([_brightness_delta(center, flat[nidx[j]], k) for j in range(8)])
    zero = (deltas == 0) & valid
    few_equal = edge.astype(np.int64) + zero.sum(axis=0) <= 2

    darker = np.where(valid & (deltas < 0), deltas, np.inf)
    brighter = np.where(valid & (deltas > 0), deltas, -np.inf)
    has_both = np.isfinite(darker.min(axis=0)) & np.isfinite(brighter.max(axis=0))
    maybe = few_equal & has_both
    if not maybe.any():
        return result

    cols = np.flatnonzero(maybe)
    min_pos = nidx[darker[:, cols].argmin(axis=0), cols]
    max_pos = nidx[brighter[:, cols].argmax(axis=0), cols]
    result[keep[cols]] = (
        (_has_many_siblings(a32, min_pos, width, height) & _has_many_siblings(b32, min_pos, width, height))
        | (_has_many_siblings(a32, max_pos, width, height) & _has_many_siblings(b32, max_pos, width, height))
    )
    return result


def _regions(changed: np.ndarray, width: int, height: int) -> list[Region]:
    """Group changed pixels into regions: 8-connected components of REGION_CELL-sized cells,
    each reported with the exact bounding box of its changed pixels, largest first."""
    if not changed.size:
        return []
    from scipy import ndimage  # imported here: only needed when something changed

    xs = changed % width
    ys = changed // width
    cells_w = -(-width // REGION_CELL)
    cells_h = -(-height // REGION_CELL)
    cx = xs // REGION_CELL
    cy = ys // REGION_CELL
    grid = np.zeros((cells_h, cells_w), dtype=bool)
    grid[cy, cx] = True
    labels, count = ndimage.label(grid, structure=np.ones((3, 3), dtype=bool))
    pixel_labels = labels[cy, cx] - 1
    counts = np.bincount(pixel_labels, minlength=count)
    min_x = np.full(count, width)
    min_y = np.full(count, height)
    max_x = np.zeros(count, dtype=np.int64)
    max_y = np.zeros(count, dtype=np.int64)
    np.minimum.at(min_x, pixel_labels, xs)
    np.minimum.at(min_y, pixel_labels, ys)
    np.maximum.at(max_x, pixel_labels, xs)
    np.maximum.at(max_y, pixel_labels, ys)
    regions = [
        Region(int(min_x[i]), int(min_y[i]), int(max_x[i] - min_x[i] + 1), int(max_y[i] - min_y[i] + 1),
               int(counts[i]))
        for i in range(count)
    ]
    regions.sort(key=lambda r: (-r.changed_pixels, r.y, r.x))
    return regions


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (len(data).to_bytes(4, "big") + kind + data
            + zlib.crc32(kind + data).to_bytes(4, "big"))


# Diff image palette: 15 greys (the new page faded to 10%, pixelmatch's alpha) and red.
_GREY_LEVELS = 15
_RED_INDEX = 15
_PLTE = b"".join(bytes([round(255 - (i * 16 + 8) * 0.1)] * 3) for i in range(_GREY_LEVELS)) + b"\xff\x00\x00"
# Luma 0..255 -> grey index: 16 luma steps per entry, dark ink = higher index.
_LUMA_TO_INDEX = [min((255 - luma) // 16, _GREY_LEVELS - 1) for luma in range(256)]


def _diff_png(after: np.ndarray, changed: np.ndarray) -> bytes:
    """The new image faded to light grey with changed pixels in red.

    Written as a 4-bit palette PNG by hand: Pillow has no 4-bit writer, and a full-page diff
    then packs into half the bytes of an 8-bit one and a sixth of an RGB one, which makes the
    encode (the most expensive step after decoding) about three times cheaper."""
    height, width = after.shape[:2]
    grey = Image.frombuffer("RGBA", (width, height), after, "raw", "RGBA", 0, 1).convert("L")
    indices = np.array(grey.point(_LUMA_TO_INDEX), dtype=np.uint8)
    indices.reshape(-1)[changed] = _RED_INDEX
    if width % 2:
        indices = np.pad(indices, ((0, 0), (0, 1)))
    rows = np.zeros((height, indices.shape[1] // 2 + 1), dtype=np.uint8)  # filter byte 0: None
    rows[:, 1:] = (indices[:, 0::2] << 4) | indices[:, 1::2]
    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([4, 3, 0, 0, 0])
    return b"".join([
        PNG_SIGNATURE,
        _png_chunk(b"IHDR", header),
        _png_chunk(b"PLTE", _PLTE),
        _png_chunk(b"IDAT", zlib.compress(rows.tobytes(), 1)),
        _png_chunk(b"IEND", b""),
    ])
