"""What a diff found, shaped for the run page: the summary lines, the causes and the subtle
regions with their boxes as percentages of the diff image (to outline them), the shifts, the
noise.

Pure (no Django), so the local tool's HTML report shapes its results the same way."""

from __future__ import annotations

import json

MAX_LISTED = 50
# Boxes outlined per cause on the diff image (a cause of 500 links shows its first ones).
MAX_BOXES = 20


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

    def percent(x, y, w, h):
        return {
            "left": 100 * x / width,
            "top": 100 * y / height,
            "width": 100 * w / width,
            "height": 100 * h / height,
        }

    subtle = [
        {**region, "box": percent(region["x"], region["y"], region["width"], region["height"])}
        for region in log.get("subtle_regions", [])[:MAX_LISTED]
    ]
    # The aligned diff: the canvas's rows with removed blocks opened between them.
    bands = [(int(at), int(rows)) for at, rows in log.get("aligned_bands", [])]
    aligned_height = height + sum(rows for _, rows in bands)

    def in_aligned(x, y, w, h):
        y += sum(rows for at, rows in bands if at <= y)
        return {
            "left": 100 * x / width,
            "top": 100 * y / aligned_height,
            "width": 100 * w / width,
            "height": 100 * h / aligned_height,
        }

    causes = []
    for number, cause in enumerate(log.get("causes", [])[:MAX_LISTED], start=1):
        shown = cause.get("boxes", [])[:MAX_BOXES]
        causes.append(
            {
                "number": number,
                "line": cause.get("line", ""),
                "kind": cause.get("kind", ""),
                "side": cause.get("side", "after"),
                "boxes": [percent(*box) for box in shown],
                "aligned_boxes": [in_aligned(*box) for box in shown],
            }
        )
    noise = log.get("noise") or {}
    summary = log.get("summary", "")
    focus = log.get("focus")
    summary_lines = log.get("summary_lines") or [line for line in summary.split("\n") if line]
    if causes and summary_lines and summary_lines[0].startswith(causes[0]["line"]):
        causes[0]["line"] = summary_lines[0]  # with the page's height change, if any
    return {
        "focus": percent(*focus) if focus and len(focus) == 4 else None,
        "summary": summary,
        "summary_lines": summary_lines,
        "causes": causes,
        "noise_causes": [cause.get("line", "") for cause in log.get("noise_causes", [])],
        "subtle_regions": subtle,
        "noise_boxes": len(noise.get("masked", [])),
        "noise_pixels": noise_pixels if noise_pixels is not None else noise.get("changed_pixels"),
        # Moves are consequences of the causes above them: listed only when no cause is named.
        "shifts": [] if causes else log.get("shifts", [])[:MAX_LISTED],
        "moved_with_causes": bool(causes and log.get("shifts")),
        # The aligned diff has the new page's rows (no removed block opened in it): the causes
        # are outlined there too, and the page opens on it when content moved.
        "aligned_outlined": bool(causes and log.get("shifts")),
        "metric": log.get("metric", "yiq"),
        "aligned_changed_pixels": log.get("aligned_changed_pixels"),
    }
