"""Elements named for people: the shortest unique selector of an element or a group, and
causes found from pixels alone named by what is drawn there (a canvas, a video, a frame).
Pure, no Django."""

from __future__ import annotations

from collections import Counter

from .cause_types import Cause
from .layout import (
    CANVAS_TAGS,
    CLOSED_SHADOW_HOST,
    FRAME_TAGS,
    VIDEO_TAGS,
    Element,
    LayoutMap,
    css_escape,
)


def selector_for(layout: LayoutMap, elements: list[Element]) -> str:
    """The shortest selector that finds this element in its page, or for several elements the
    one they share (tag and common classes)."""
    if not elements:
        return ""
    if len(elements) == 1:
        return _unique(layout, elements[0])
    tags = {e.tag for e in elements}
    common = set(elements[0].classes)
    for element in elements[1:]:
        common &= set(element.classes)
    classes = "".join(f".{css_escape(name)}" for name in elements[0].classes if name in common)
    if len(tags) == 1:
        return next(iter(tags)) + classes
    if classes:
        return classes
    names = sorted(tags)
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def _unique(layout: LayoutMap, element: Element, depth: int = 0) -> str:
    counts = _SelectorCounts.of(layout)
    if element.id and counts.ids[element.id] == 1:
        return f"#{css_escape(element.id)}"
    if counts.tags[element.tag] == 1:
        return element.tag
    for name in element.classes:
        if counts.tag_classes[(element.tag, name)] == 1:
            return f"{element.tag}.{css_escape(name)}"
    if len(element.classes) > 1 and counts.segments[(element.tag, element.classes)] == 1:
        return element.tag + "".join(f".{css_escape(name)}" for name in element.classes)
    own = element.tag + "".join(f".{css_escape(name)}" for name in element.classes[:2])
    if element.parent < 0 or depth >= 3:
        return own
    parent = layout.elements[element.parent]
    siblings = sum(1 for c in parent.children if layout.elements[c].tag == element.tag)
    step = f"{own}:nth-of-type({element.nth})" if siblings > 1 else own
    return f"{_unique(layout, parent, depth + 1)} > {step}"


class _SelectorCounts:
    """How many elements of a map have each id, tag, tag and class, tag and classes."""

    _cache: dict[int, tuple[LayoutMap, _SelectorCounts]] = {}

    def __init__(self, layout: LayoutMap):
        self.ids: Counter = Counter(e.id for e in layout.elements if e.id)
        self.tags: Counter = Counter(e.tag for e in layout.elements)
        self.tag_classes: Counter = Counter(
            (e.tag, name) for e in layout.elements for name in set(e.classes)
        )
        self.segments: Counter = Counter((e.tag, e.classes) for e in layout.elements)

    @classmethod
    def of(cls, layout: LayoutMap) -> _SelectorCounts:
        cached = cls._cache.get(id(layout))
        if cached is None or cached[0] is not layout:
            cls._cache.clear()  # one map at a time: no map is kept alive by the cache
            cached = (layout, cls(layout))
            cls._cache[id(layout)] = cached
        return cached[1]


def pixel_cause(layout: LayoutMap | None, box: tuple[int, int, int, int], pixels: int) -> Cause:
    """Pixels that changed with no element change behind them, named by what is drawn there."""
    what, selector, tag = "", "", ""
    element = layout.deepest_at(*box) if layout is not None else None
    if element is not None:
        chain = [element, *layout.ancestors(element)]  # type: ignore[union-attr]
        for candidate in chain:
            if candidate.tag in CANVAS_TAGS:
                what = "canvas"
            elif candidate.tag in VIDEO_TAGS:
                what = "video"
            elif candidate.tag in FRAME_TAGS:
                what = "frame"
            elif candidate.flags & CLOSED_SHADOW_HOST:
                what = "closed shadow root"
            elif candidate.tag in {"img", "image", "picture"}:
                what = "image"
            else:
                continue
            element = candidate
            break
        selector = selector_for(layout, [element])  # type: ignore[arg-type]
        tag = element.tag
    return Cause(
        kind="pixels",
        selector=selector,
        tags=(tag,) if tag else (),
        boxes=[box],
        what=what,
        pixels=pixels,
    )
