"""How causes are told: a cause in one line, a run's summary, colours and texts shown short.
Pure, no Django."""

from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # cause_types tells its causes with this module's words
    from .cause_types import Cause

# Lines of a run's summary; changes named per cause.
SUMMARY_LINES = 3
LINE_CHANGES = 3
_RGB = re.compile(r"rgba?\((\d+), (\d+), (\d+)(?:, ([\d.]+))?\)")


def summary_lines(
    causes: list[Cause], *, height_change: tuple[int, int] | None = None
) -> list[str]:
    """One line per cause, at most SUMMARY_LINES, then "and N more"; a page height change is
    told on the first line (it follows from the causes)."""
    lines = [cause.line() for cause in causes[:SUMMARY_LINES]]
    if len(causes) > SUMMARY_LINES:
        rest = len(causes) - SUMMARY_LINES
        lines.append(f"and {rest} more cause{'s' if rest != 1 else ''}")
    if lines and height_change and height_change[0] != height_change[1]:
        lines[0] += "; " + height_words(*height_change)
    return lines


def height_words(before: int, after: int) -> str:
    difference = after - before
    return f"page {abs(difference)} px {'taller' if difference > 0 else 'shorter'}"


def describe(cause: Cause, who: str, *, counted: bool) -> str:
    count = f" ×{cause.count}" if counted and cause.count > 1 else ""
    if cause.kind == "style":
        shown = ", ".join(
            f"{c.prop} {colours(c.before)} → {colours(c.after)}"
            for c in cause.changes[:LINE_CHANGES]
        )
        more = len(cause.changes) - LINE_CHANGES
        return f"{who}{count}: {shown}" + (f" and {more} more" if more > 0 else "")
    if cause.kind == "text":
        change = cause.changes[0]
        before, after = text_change(change.before, change.after)
        return f"{who}{count}: text “{before}” → “{after}”"
    if cause.kind in ("added", "removed"):
        where = ""
        if counted and cause.box:
            x, y, w, h = cause.box
            where = f" ({w}×{h} px at {'before ' if cause.side == 'before' else ''}y={y})"
        return f"{who}{count} {cause.kind}{where}"
    if cause.kind == "image":
        change = cause.changes[0]
        return f"{who}{count}: src {short_url(change.before)} → {short_url(change.after)}"
    if cause.kind == "size":
        change = cause.changes[0]
        return f"{who}{count}: size {change.before} → {change.after} px"
    # pixels
    what = cause.what or "pixels"
    place = ""
    if counted and cause.box:
        x, y, w, h = cause.box
        place = f" at x={x}, y={y} ({w}×{h} px)"
    inside = f" `{cause.selector}`" if cause.selector and cause.what else ""
    if what == "pixels":
        return f"pixels changed{place}" + (f" in `{cause.selector}`" if cause.selector else "")
    if what == "closed shadow root":
        return f"closed shadow root of{inside} changed{place}"
    if what == "image":
        return f"image{inside} changed{place} (same src)"
    return f"{what}{inside} changed{place}"


def printable(text: str) -> str:
    """Text a page wrote (its words, class names), safe to print anywhere: a terminal, a CI log,
    an e-mail. A control or formatting character (an escape sequence, a bidirectional override)
    becomes U+FFFD."""
    return "".join(
        "\ufffd" if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") else ch for ch in text
    )


def colours(value: str) -> str:
    """rgb(0, 114, 170) → #0072aa inside a computed value (opaque colours only)."""

    def hexed(m: re.Match) -> str:
        if m.group(4) is not None and float(m.group(4)) != 1:
            return m.group(0)
        return "#" + "".join(f"{int(m.group(n)):02x}" for n in (1, 2, 3))

    return _RGB.sub(hexed, value)


def text_change(before: str, after: str, context: int = 16) -> tuple[str, str]:
    """The changed part of a text with a little of what surrounds it, on each side."""
    head = 0
    while head < min(len(before), len(after)) and before[head] == after[head]:
        head += 1
    tail = 0
    while (
        tail < min(len(before), len(after)) - head
        and before[len(before) - 1 - tail] == after[len(after) - 1 - tail]
    ):
        tail += 1
    # Whole words: back to the start of the word the change begins in, on to the end of the
    # one it ends in.
    while head > 0 and not before[head - 1].isspace():
        head -= 1
    while tail > 0 and not before[len(before) - tail].isspace():
        tail -= 1
    start = max(0, head - context)
    while start > 0 and not before[start - 1].isspace():
        start -= 1

    def part(text: str) -> str:
        end = len(text) - tail
        stop = min(len(text), end + context)
        while stop < len(text) and not text[stop].isspace():
            stop += 1
        piece = text[start:stop].strip()
        if len(piece) > 80:
            piece = piece[:77] + "…"
        return ("…" if start > 0 else "") + piece + ("…" if stop < len(text) else "")

    return part(before), part(after)


def short_url(url: str) -> str:
    tail = url.rstrip("/").rsplit("/", 1)[-1] or url
    return tail if len(tail) <= 60 else tail[:57] + "…"
