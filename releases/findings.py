"""What a diff found, shaped for the run page: the summary line, the shifts, the subtle
regions with their boxes as percentages of the diff image (to outline them), the noise.

Pure (no Django), so the local tool's HTML report shapes its results the same way."""

from __future__ import annotations

import json

MAX_LISTED = 50


def from_log(text: str | None, *, noise_pixels: int | None = None) -> dict | None:
    """From the diff log (pdiff's DiffResult.as_dict() plus the pipeline's fields) as stored;
    None for a log that is missing, truncated or not ours (a client may send any file)."""
    if not text:
        return None
    try:
        log = json.loads(text)
    except ValueError:
        return None
    return shape(log, noise_pixels=noise_pixels)


def shape(log, *, noise_pixels: int | None = None) -> dict | None:
    """From a diff result as a dict (pdiff's DiffResult.as_dict())."""
    try:
        width = max(log["before_size"][0], log["after_size"][0])
        height = max(log["before_size"][1], log["after_size"][1])
    except (ValueError, KeyError, TypeError, IndexError):
        return None
    subtle = [
        {
            **region,
            "box": {
                "left": 100 * region["x"] / width,
                "top": 100 * region["y"] / height,
                "width": 100 * region["width"] / width,
                "height": 100 * region["height"] / height,
            },
        }
        for region in log.get("subtle_regions", [])[:MAX_LISTED]
    ]
    noise = log.get("noise") or {}
    return {
        "summary": log.get("summary", ""),
        "subtle_regions": subtle,
        "noise_boxes": len(noise.get("masked", [])),
        "noise_pixels": noise_pixels if noise_pixels is not None else noise.get("changed_pixels"),
        "shifts": log.get("shifts", [])[:MAX_LISTED],
        "metric": log.get("metric", "yiq"),
        "aligned_changed_pixels": log.get("aligned_changed_pixels"),
    }
