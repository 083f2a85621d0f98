"""A capture's layout map, read: the page's rendered elements with their paths, boxes, painted
property values, own text and sources (``capture.layout`` writes it; this is its reader).

The stored form is gzip-compressed JSON::

    {"format": 1, "width": W, "height": H, "scale": S,      # the screenshot, device pixels
     "props": [name, ...],                                     # the recorded properties
     "styles": [[value, ...], ...],                            # distinct value tuples
     "segments": [[tag, id, "class class"], ...],              # distinct tag/id/classes
     "elements": [[parent, segment, nth, x, y, w, h, style, flags, text, src], ...],
     "dropped": N}                                             # elements past the budget

Elements are in document order, each after its parent (``parent`` is an index, -1 for the
root). ``nth`` is the element's position among its parent's children of the same tag, from 1.
``flags``: 1 in an open shadow root, 2 host of a closed shadow root, 4 ignored
(``ignoreSelectors``). Boxes are border boxes in the screenshot's pixels.

Pure: no Django, no browser.
"""

from __future__ import annotations

import dataclasses
import json
import zlib

FORMAT = 1
IN_SHADOW, CLOSED_SHADOW_HOST, IGNORED = 1, 2, 4
# Elements whose own pixels come from elsewhere than their styles and text.
CANVAS_TAGS = {"canvas"}
VIDEO_TAGS = {"video"}
FRAME_TAGS = {"iframe", "frame", "embed", "object"}
IMAGE_TAGS = {"img", "image", "picture", "svg"}
SVG_SHAPES = {
    "svg",
    "path",
    "rect",
    "circle",
    "ellipse",
    "line",
    "polyline",
    "polygon",
    "text",
    "tspan",
    "use",
    "g",
}
# The largest map accepted (decompressed): 20,000 elements take about 1.5 MB.
MAX_BYTES = 64 * 1024 * 1024


class LayoutError(ValueError):
    """A layout map that cannot be read; the message says why."""


@dataclasses.dataclass(slots=True)
class Element:
    index: int
    parent: int
    tag: str
    id: str
    classes: tuple[str, ...]
    nth: int
    x: int
    y: int
    w: int
    h: int
    style: int
    flags: int
    text: str
    src: str
    path: str = ""
    depth: int = 0
    children: list[int] = dataclasses.field(default_factory=list)

    @property
    def box(self) -> tuple[int, int, int, int]:
        return (self.x, self.y, self.w, self.h)

    @property
    def area(self) -> int:
        return max(self.w, 0) * max(self.h, 0)

    @property
    def ignored(self) -> bool:
        return bool(self.flags & IGNORED)

    @property
    def segment(self) -> str:
        """tag#id.class.class, as a CSS selector reads."""
        return (
            self.tag
            + (f"#{css_escape(self.id)}" if self.id else "")
            + "".join(f".{css_escape(name)}" for name in self.classes)
        )


class LayoutMap:
    """The elements of one capture, with the helpers the cause finder needs."""

    def __init__(self, data: dict):
        try:
            if data.get("format") != FORMAT:
                raise LayoutError(f"layout map format {data.get('format')!r}, expected {FORMAT}")
            self.width = int(data["width"])
            self.height = int(data["height"])
            self.scale = float(data["scale"])
            self.props: tuple[str, ...] = tuple(data["props"])
            self.styles: list[tuple[str, ...]] = [tuple(values) for values in data["styles"]]
            segments = [
                (tag, id_, tuple(classes.split())) for tag, id_, classes in data["segments"]
            ]
            # Each distinct tag, id and classes written as a selector once, not per element.
            texts = [
                Element(0, 0, tag, i, c, 0, 0, 0, 0, 0, 0, 0, "", "").segment
                for tag, i, c in segments
            ]
            self.dropped = int(data.get("dropped") or 0)
            self.elements: list[Element] = []
            for index, row in enumerate(data["elements"]):
                parent, segment, nth, x, y, w, h, style, flags, text, src = row
                tag, id_, classes = segments[segment]
                if not -1 <= parent < index or not 0 <= style < len(self.styles):
                    raise LayoutError(f"element {index} refers to an unknown parent or style")
                element = Element(
                    index, parent, tag, id_, classes, nth, x, y, w, h, style, flags, text, src
                )
                if parent >= 0:
                    up = self.elements[parent]
                    element.depth = up.depth + 1
                    shadow = "::shadow/" if flags & IN_SHADOW else "/"
                    element.path = f"{up.path}{shadow}{texts[segment]}:{nth}"
                    up.children.append(index)
                else:
                    element.path = f"{texts[segment]}:{nth}"
                self.elements.append(element)
        except LayoutError:
            raise
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise LayoutError(f"layout map is malformed: {exc!r}") from None
        self._prop_index = {name: n for n, name in enumerate(self.props)}
        self._text_below: list[bool] | None = None

    @classmethod
    def parse(cls, data: bytes) -> LayoutMap:
        """From the stored bytes (gzip-compressed JSON, or the JSON itself)."""
        if data[:2] == b"\x1f\x8b":
            try:
                inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
                text = inflater.decompress(data, MAX_BYTES)
                if inflater.unconsumed_tail:
                    raise LayoutError(f"layout map is over {MAX_BYTES} bytes decompressed")
                if not inflater.eof:
                    raise LayoutError("layout map cannot be decompressed: it is cut short")
            except zlib.error as exc:
                raise LayoutError(f"layout map cannot be decompressed: {exc}") from None
        else:
            text = data
        try:
            parsed = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise LayoutError(f"layout map is not JSON: {exc}") from None
        if not isinstance(parsed, dict):
            raise LayoutError("layout map is not a JSON object")
        return cls(parsed)

    def __len__(self) -> int:
        return len(self.elements)

    def value(self, element: Element, prop: str) -> str:
        return self.styles[element.style][self._prop_index[prop]]

    def has_prop(self, prop: str) -> bool:
        return prop in self._prop_index

    def text_below(self, element: Element) -> bool:
        """Whether the element or anything inside it has text of its own."""
        if self._text_below is None:
            below = [bool(e.text) for e in self.elements]
            for e in reversed(self.elements):
                if below[e.index] and e.parent >= 0:
                    below[e.parent] = True
            self._text_below = below
        return self._text_below[element.index]

    def in_screenshot(self, element: Element) -> bool:
        """Whether any of the element's box is inside the screenshot."""
        return (
            element.w > 0
            and element.h > 0
            and element.x < self.width
            and element.y < self.height
            and element.x + element.w > 0
            and element.y + element.h > 0
        )

    def clipped(self, box: tuple[int, int, int, int]) -> tuple[int, int, int, int] | None:
        """A box cut to the screenshot, or None when nothing of it is inside."""
        x, y, w, h = box
        x0, y0 = max(x, 0), max(y, 0)
        x1, y1 = min(x + w, self.width), min(y + h, self.height)
        if x0 >= x1 or y0 >= y1:
            return None
        return (x0, y0, x1 - x0, y1 - y0)

    def ancestors(self, element: Element):
        index = element.parent
        while index >= 0:
            up = self.elements[index]
            yield up
            index = up.parent

    def deepest_at(self, x: int, y: int, w: int, h: int) -> Element | None:
        """The deepest element whose box holds the centre of the box (x, y, w, h): what is drawn
        there, in the tree's terms."""
        cx, cy = x + w / 2, y + h / 2
        best = None
        for element in self.elements:
            inside = (
                element.x <= cx < element.x + element.w and element.y <= cy < element.y + element.h
            )
            if inside and (best is None or element.depth >= best.depth):
                best = element
        return best


def css_escape(name: str) -> str:
    """A class or id as a CSS selector needs it (the common characters; enough to read)."""
    out = []
    for n, ch in enumerate(name):
        if ch.isalnum() or ch in "-_" or ord(ch) > 127:
            out.append(f"\\3{ch} " if n == 0 and ch.isdigit() else ch)
        else:
            out.append("\\" + ch)
    return "".join(out)
