"""Causes: what changed between two captures, in the page's own terms.

Two layout maps (``pdiff.layout``) are matched element by element: by path first, then, for the
elements whose path changed (something was inserted before them), by tag, id, classes, text and
source in document order, as a text diff aligns lines. Each matched pair is compared, and what
differs becomes a cause:

* ``style``: painted properties changed. A change an element inherited from its parent is its
  parent's cause, not its own (``div.body { color }`` is one cause, not one per paragraph), and
  a colour that only followed ``color`` (a border, an underline in currentColor) is part of the
  colour's change. Elements with the same changes form one cause: ``a`` ×120: color … → ….
* ``text``: an element's own text changed.
* ``added`` / ``removed``: an element (the outermost of a new or gone subtree) on one side only.
* ``image``: an image, video or frame shows another source.
* ``size``: an element's box changed size and nothing inside it, around it or above it in the
  tree explains that (an image whose file changed dimensions under one URL).

Moves are consequences, not causes: an element that only moved is not reported, and its move is
handed to the pixel alignment as a candidate offset. Elements under ``ignoreSelectors`` are
left out on both sides, and their boxes are not compared.

A cause counts only where the screenshot shows it: ``pdiff.core`` checks that some pixel inside
its boxes differs (``confirmed``). Pixels that differ with no cause behind them are reported from
pixels (``pixel_cause``), as what is drawn there: a canvas, a video, a frame, a closed shadow
root, an image whose bytes changed under one URL.

Pure: no Django, no browser.
"""

from __future__ import annotations

from collections import defaultdict

from .cause_types import (  # noqa: F401 (the names callers know causes by)
    DOM_KINDS,
    INHERITED,
    KINDS,
    LAYOUT_CONTAINERS,
    MAX_BOXES,
    SVG_PROPERTIES,
    TEXT_PROPERTIES,
    Cause,
    Change,
    LayoutDiff,
    cause_set_key,
)
from .layout import (
    FRAME_TAGS,
    IMAGE_TAGS,
    SVG_SHAPES,
    VIDEO_TAGS,
    Element,
    LayoutMap,
)
from .matching import match
from .naming import pixel_cause, selector_for  # noqa: F401
from .noise import noise_between, without_noise  # noqa: F401
from .styles import StyleChanges
from .wording import colours, printable, summary_lines, text_change  # noqa: F401

# --- causes ---------------------------------------------------------------------------------


def find(before: LayoutMap, after: LayoutMap) -> LayoutDiff:
    """The causes of the differences between two captures' layout maps."""
    pairs = match(before, after)
    back = {b: a for a, b in pairs.items()}
    ignored_after = _ignored(after, pairs, before, back)
    ignore_boxes = _ignore_boxes(before, after, pairs, back, ignored_after)
    style_changes = StyleChanges(before, after)

    own: dict[int, tuple[Change, ...]] = {}  # after index -> its own style changes
    all_changes: dict[int, tuple[Change, ...]] = {}
    text: list[Element] = []
    image: list[Element] = []
    for element in after.elements:
        b_index = pairs.get(element.index)
        if b_index is None or element.index in ignored_after:
            continue
        old = before.elements[b_index]
        changes = style_changes.between(old, element)
        all_changes[element.index] = changes
        if changes:
            inherited = all_changes.get(element.parent, ()) if element.parent in pairs else ()
            kept = tuple(
                c
                for c in changes
                if not (c.prop in INHERITED and c in inherited) and _paints(after, element, c)
            )
            if kept:
                own[element.index] = kept
        if old.text != element.text:
            text.append(element)
        if old.src != element.src and element.tag in IMAGE_TAGS | VIDEO_TAGS | FRAME_TAGS:
            image.append(element)

    causes: list[Cause] = []
    groups: dict[tuple[Change, ...], list[Element]] = defaultdict(list)
    for index, changes in own.items():
        groups[changes].append(after.elements[index])
    for changes, members in groups.items():
        causes.append(_cause(after, "style", members, changes, before, pairs))

    # The same text or source changed the same way: one cause.
    for kind, prop, changed in (("text", "text", text), ("image", "src", image)):
        by_values: dict[tuple[str, str], list[Element]] = defaultdict(list)
        for element in changed:
            old = before.elements[pairs[element.index]]
            by_values[(getattr(old, prop), getattr(element, prop))].append(element)
        for (old_value, new_value), members in by_values.items():
            change = Change(prop, old_value, new_value)
            causes.append(_cause(after, kind, members, (change,), before, pairs))

    causes += _added(after, pairs, ignored_after, "added")
    ignored_before = {pairs[a] for a in ignored_after if a in pairs} | {
        e.index for e in before.elements if e.ignored
    }
    causes += _added(before, back, ignored_before, "removed")
    # Where something was removed, its parent (in the new page) shrank because of it.
    emptied = {back[e.parent] for e in before.elements if e.index not in back and e.parent in back}
    causes += _sizes(before, after, pairs, causes, own, ignored_after, emptied)
    causes = [cause for cause in causes if cause.boxes or cause.other_boxes]
    _extents(after, causes, all_changes)
    consequences, old_consequences = (
        _consequences(before, after, pairs, causes) if causes else ([], [])
    )
    moves, moved_boxes = _moves(before, after, pairs)
    return LayoutDiff(
        causes,
        moves,
        ignore_boxes,
        before,
        after,
        consequences=consequences,
        old_consequences=old_consequences,
        moved_boxes=moved_boxes,
    )


def _paints(layout: LayoutMap, element: Element, change: Change) -> bool:
    """Whether a change of this property on this element can show: text properties where there
    is text, SVG paint on SVG shapes, anything else on a box with an area on the screenshot."""
    if change.prop in TEXT_PROPERTIES:
        return layout.text_below(element)
    if change.prop in SVG_PROPERTIES:
        return element.tag in SVG_SHAPES
    return layout.in_screenshot(element) or any(
        layout.in_screenshot(layout.elements[child]) for child in element.children
    )


def _cause(after, kind, members, changes, before, pairs) -> Cause:
    members = sorted(members, key=lambda e: e.index)
    # The outermost members only: inside one of them, another is part of it.
    inside = set()
    chosen = set(e.index for e in members)
    for element in members:
        if any(up.index in chosen for up in after.ancestors(element)):
            inside.add(element.index)
    outer = [e for e in members if e.index not in inside] or members
    boxes = [b for b in (after.clipped(e.box) for e in outer) if b]
    partners = [before.elements[pairs[e.index]] for e in outer if e.index in pairs]
    other = [b for b in (before.clipped(e.box) for e in partners) if b]
    return Cause(
        kind=kind,
        selector=selector_for(after, outer),
        tags=tuple(sorted({e.tag for e in outer})),
        changes=tuple(changes),
        count=len(outer),
        boxes=boxes,
        other_boxes=other,
        members=[e.index for e in outer],
    )


def _extents(after: LayoutMap, causes: list[Cause], all_changes) -> None:
    """Each cause's extent: its elements' boxes, and those of the elements inside them that
    inherited its change (style) or are part of them (added)."""
    for cause in causes:
        cause.extent = list(cause.boxes)
        inherited = {c for c in cause.changes if c.prop in INHERITED}
        if not (cause.kind == "added" or (cause.kind == "style" and inherited)):
            continue
        stack = [child for index in cause.members for child in after.elements[index].children]
        while stack:
            element = after.elements[stack.pop()]
            if cause.kind == "added" or inherited <= set(all_changes.get(element.index, ())):
                box = after.clipped(element.box)
                if box:
                    cause.extent.append(box)
                stack.extend(element.children)


def _ignored(after: LayoutMap, pairs, before: LayoutMap, back) -> set[int]:
    """After indices of ignored elements: marked so in either capture."""
    ignored = {e.index for e in after.elements if e.ignored}
    for element in before.elements:
        if element.ignored and element.index in back:
            ignored.add(back[element.index])
    # Inside an ignored element is ignored too (a mark in the other capture only).
    for element in after.elements:
        if element.parent in ignored:
            ignored.add(element.index)
    return ignored


def _ignore_boxes(before, after, pairs, back, ignored_after) -> list[tuple[int, int, int, int]]:
    """The boxes of the outermost ignored elements on both sides, in canvas coordinates."""
    boxes = []
    for index in sorted(ignored_after):
        element = after.elements[index]
        if element.parent in ignored_after:
            continue
        boxes.append(element.box)
        if index in pairs:
            boxes.append(before.elements[pairs[index]].box)
    for element in before.elements:  # gone from the new page, and ignored there
        outermost = element.parent < 0 or not before.elements[element.parent].ignored
        if element.ignored and element.index not in back and outermost:
            boxes.append(element.box)
    return [box for box in boxes if box[2] > 0 and box[3] > 0]


def _added(layout: LayoutMap, pairs, ignored: set[int], kind: str) -> list[Cause]:
    """The outermost elements of ``layout`` with no partner (``pairs`` maps its indices), as
    causes grouped by what they are: ``added`` (after) or ``removed`` (before)."""
    groups: dict[tuple, list[Element]] = defaultdict(list)
    for element in layout.elements:
        if element.index in pairs or element.index in ignored:
            continue
        if element.parent >= 0 and element.parent not in pairs:
            continue  # inside another new element: part of it
        groups[(element.tag, element.classes, element.text)].append(element)
    causes = []
    for _, members in groups.items():
        boxes = []
        for element in members:
            box = _painted_box(layout, element)
            if box:
                boxes.append(box)
        if not boxes:
            continue
        causes.append(
            Cause(
                kind=kind,
                selector=selector_for(layout, members),
                tags=tuple(sorted({e.tag for e in members})),
                changes=(Change("text", "", members[0].text),) if members[0].text else (),
                count=len(members),
                boxes=boxes,
                side="after" if kind == "added" else "before",
                members=[e.index for e in members] if kind == "added" else [],
            )
        )
    return causes


def _painted_box(layout: LayoutMap, element: Element) -> tuple[int, int, int, int] | None:
    """The element's box on the screenshot, or, for a box with no area (a wrapper of floats,
    display: contents), the box around what is inside it."""
    box = layout.clipped(element.box)
    if box:
        return box
    x0 = y0 = 1 << 30
    x1 = y1 = -1
    stack = list(element.children)
    while stack:
        child = layout.elements[stack.pop()]
        inner = layout.clipped(child.box)
        if inner:
            x0, y0 = min(x0, inner[0]), min(y0, inner[1])
            x1, y1 = max(x1, inner[0] + inner[2]), max(y1, inner[1] + inner[3])
        stack.extend(child.children)
    return (x0, y0, x1 - x0, y1 - y0) if x1 > x0 and y1 > y0 else None


def _sizes(before, after, pairs, causes, own, ignored_after, emptied) -> list[Cause]:
    """Elements whose box changed size with nothing to explain it: no cause on them, inside
    them, on an ancestor, or anywhere in a flex, grid or table container around them. Only the
    deepest: an element grows because what is inside it grew."""
    explained = set(own) | set(emptied)
    for cause in causes:
        explained.update(cause.members)
    # Everything above a cause (it grew because its content did) and below a style cause.
    above = set()
    for index in list(explained):
        for up in after.ancestors(after.elements[index]):
            above.add(up.index)
    styled = set(own)
    resized = []
    for element in after.elements:
        b_index = pairs.get(element.index)
        if b_index is None or element.index in ignored_after or element.index in explained:
            continue
        old = before.elements[b_index]
        if _same_size(old, element) or not after.in_screenshot(element):
            continue
        if element.index in above:
            continue
        ups = list(after.ancestors(element))
        if any(up.index in styled for up in ups):
            continue
        if any(
            up.index in above and LAYOUT_CONTAINERS.search(after.value(up, "display") or "")
            for up in ups
            if after.has_prop("display")
        ):
            continue
        resized.append(element)
    chosen = {e.index for e in resized}
    deepest = [e for e in resized if not _has_descendant_in(after, e, chosen - {e.index})]
    result = []
    for element in deepest:
        old = before.elements[pairs[element.index]]
        change = Change("size", f"{old.w}×{old.h}", f"{element.w}×{element.h}")
        result.append(_cause(after, "size", [element], (change,), before, pairs))
    return result


# Boxes are whole device pixels around fractional CSS boxes: an element that moved by a
# fraction may be a pixel taller or wider without changing size.
SIZE_TOLERANCE = 1
# How far a container's edge is looked at when it grew: its border and shadow move with it.
EDGE = 4


def _same_size(old: Element, new: Element) -> bool:
    return abs(old.w - new.w) <= SIZE_TOLERANCE and abs(old.h - new.h) <= SIZE_TOLERANCE


def _consequences(before, after, pairs, causes):
    """Where pixels changed because of the causes, as boxes of the new page and of the old one:
    for every matched element whose box changed size that is no cause itself, the strip it grew
    or shrank by at its bottom and right edges (the border, background and shadow that moved
    with them), and the whole box of the innermost ones (what is laid out inside a resized box
    is laid out anew: a glyph centred in it, a canvas drawn to its size)."""
    cause_members = {index for cause in causes for index in cause.members}
    resized = set()
    for element in after.elements:
        b_index = pairs.get(element.index)
        if b_index is None or element.index in cause_members:
            continue
        old = before.elements[b_index]
        if (old.w, old.h) != (element.w, element.h):
            resized.add(element.index)
    new_boxes, old_boxes = [], []
    for index in resized:
        element = after.elements[index]
        old = before.elements[pairs[index]]
        if not _has_descendant_in(after, element, resized):  # innermost: the whole box
            new_boxes += [element.box, old.box]
            old_boxes += [element.box, old.box]
            continue
        for at, boxes in ((element, new_boxes), (old, old_boxes)):
            top = at.y + min(old.h, element.h) - EDGE
            bottom = at.y + max(old.h, element.h) + EDGE
            boxes.append((at.x - EDGE, top, max(old.w, element.w) + 2 * EDGE, bottom - top))
            left = at.x + min(old.w, element.w) - EDGE
            right = at.x + max(old.w, element.w) + EDGE
            if right - left > 2 * EDGE:
                boxes.append((left, at.y - EDGE, right - left, max(old.h, element.h) + 2 * EDGE))
    return (
        [b for b in (after.clipped(box) for box in new_boxes) if b],
        [b for b in (before.clipped(box) for box in old_boxes) if b],
    )


def _has_descendant_in(layout: LayoutMap, element: Element, indices: set[int]) -> bool:
    if not indices:
        return False
    stack = list(element.children)
    while stack:
        index = stack.pop()
        if index in indices:
            return True
        stack.extend(layout.elements[index].children)
    return False


def _moves(before: LayoutMap, after: LayoutMap, pairs):
    """After rows that hold elements which only moved down or up, with how far, (y0, y1, dy);
    and their boxes, (x, y, width, height, dy): the outermost such element of each subtree
    (its content moved with it)."""
    moved: dict[int, int] = {}
    found = []
    boxes = []
    for element in after.elements:
        b_index = pairs.get(element.index)
        if b_index is None:
            continue
        old = before.elements[b_index]
        dy = element.y - old.y
        if not dy or old.x != element.x or not _same_size(old, element):
            continue
        moved[element.index] = dy
        if moved.get(element.parent) == dy:
            continue
        clipped = after.clipped(element.box)
        if clipped:
            found.append((clipped[1], clipped[1] + clipped[3], dy))
            boxes.append((*clipped, dy))
    return found, boxes
