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

import dataclasses
import hashlib
import json
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable

from . import align
from .layout import (
    CANVAS_TAGS,
    CLOSED_SHADOW_HOST,
    FRAME_TAGS,
    IMAGE_TAGS,
    SVG_SHAPES,
    VIDEO_TAGS,
    Element,
    LayoutMap,
    css_escape,
)

KINDS = ("style", "text", "added", "removed", "image", "size", "pixels")
# The kinds a release may group runs by: a cause the page's elements name. A pixel cause says
# only where pixels changed, not that two pages changed the same way.
DOM_KINDS = ("style", "text", "added", "removed", "image", "size")
# The text's properties among those recorded: they paint only where there is text, and but
# for the decoration a child inherits them (a child with its parent's change only inherited it).
_TEXT = {
    "color",
    "font-family",
    "font-size",
    "font-weight",
    "font-style",
    "line-height",
    "letter-spacing",
    "text-transform",
    "text-align",
    "text-shadow",
}
TEXT_PROPERTIES = _TEXT | {"text-decoration"}
INHERITED = _TEXT | {"visibility", "fill", "stroke"}
SVG_PROPERTIES = {"fill", "stroke"}
# Containers whose children size each other (a cell of one row widens the column of every row).
LAYOUT_CONTAINERS = re.compile(r"\b(flex|grid|table|table-row-group|table-row)\b")
# Boxes kept per cause (the count says how many elements share it).
MAX_BOXES = 50
# Summary lines: one per cause, at most this many, then "and N more".
SUMMARY_LINES = 3
# Changes listed in one cause's line.
LINE_CHANGES = 3
_RGB = re.compile(r"rgba?\((\d+), (\d+), (\d+)(?:, ([\d.]+))?\)")


@dataclasses.dataclass(frozen=True)
class Change:
    prop: str
    before: str
    after: str

    def as_list(self) -> list[str]:
        return [self.prop, self.before, self.after]


@dataclasses.dataclass
class Cause:
    kind: str
    selector: str  # the shortest unique one, or the shared one of a group
    tags: tuple[str, ...]
    changes: tuple[Change, ...] = ()
    count: int = 1
    boxes: list[tuple[int, int, int, int]] = dataclasses.field(default_factory=list)
    side: str = "after"  # which screenshot the boxes are in ("before" for a removed element)
    what: str = ""  # pixel causes: canvas, video, frame, closed shadow root, image, ""
    # Pixels inside the boxes that differ between the screenshots (set by pdiff.core).
    pixels: int = 0
    # The boxes of this cause's elements in the other screenshot (their before boxes).
    other_boxes: list[tuple[int, int, int, int]] = dataclasses.field(default_factory=list)
    members: list[int] = dataclasses.field(default_factory=list, repr=False)  # after indices
    # Every box the cause paints in (the new page's): its elements' and those of what inherited
    # the change from them or is part of them (a link's code, an added block's children).
    extent: list[tuple[int, int, int, int]] = dataclasses.field(default_factory=list, repr=False)

    @property
    def key(self) -> str:
        """The cause's identity across pages: its kind, tags and changes (not its count, its
        boxes or the classes a page happens to give the elements)."""
        identity = [self.kind, list(self.tags), [c.as_list() for c in self.changes], self.what]
        return json.dumps(identity, separators=(",", ":"), ensure_ascii=False)

    @property
    def box(self) -> tuple[int, int, int, int] | None:
        """The first box, where a reviewer is taken to."""
        return self.boxes[0] if self.boxes else None

    def label(self) -> str:
        """The cause without what differs from page to page: a release's group heading."""
        return printable(_describe(self, "`" + ", ".join(self.tags) + "`", counted=False))

    def line(self) -> str:
        """The cause in one line of a summary."""
        return printable(_describe(self, f"`{self.selector}`", counted=True))

    def as_dict(self) -> dict:
        return {
            "kind": self.kind,
            "selector": self.selector,
            "tags": list(self.tags),
            "changes": [c.as_list() for c in self.changes],
            "count": self.count,
            "boxes": [list(b) for b in self.boxes[:MAX_BOXES]],
            "side": self.side,
            "what": self.what,
            "pixels": self.pixels,
            "line": self.line(),
            "label": self.label(),
        }


def cause_set_key(causes: Iterable[Cause]) -> str:
    """A digest of a run's causes as a release groups runs: the same causes, the same key;
    empty when any cause is a pixel cause (such a run is reviewed on its own)."""
    causes = list(causes)
    keys = sorted({cause.key for cause in causes})
    if not keys or any(cause.kind not in DOM_KINDS for cause in causes):
        return ""
    return hashlib.sha1("\n".join(keys).encode(), usedforsecurity=False).hexdigest()


@dataclasses.dataclass
class LayoutDiff:
    """What the layout maps say: the causes (not yet confirmed by pixels), the moves (after-side
    row ranges and how far they moved: candidate offsets for the alignment), the boxes never to
    compare (ignored elements, both sides), and the elements that differed between two loads
    of the same page (``noise``)."""

    causes: list[Cause]
    moves: list[tuple[int, int, int]]  # (y0, y1, dy): after rows [y0, y1) were dy lower
    ignore_boxes: list[tuple[int, int, int, int]]
    before: LayoutMap
    after: LayoutMap
    noise: list[Cause] = dataclasses.field(default_factory=list)
    # Where pixels changed because of the causes, not as causes of their own (canvas boxes of
    # the new page, and of the old one): the strip a container grew by around what grew inside
    # it, a box resized by the layout.
    consequences: list[tuple[int, int, int, int]] = dataclasses.field(default_factory=list)
    old_consequences: list[tuple[int, int, int, int]] = dataclasses.field(default_factory=list)
    # The boxes (new page) of the outermost elements that only moved, and how far down:
    # (x, y, width, height, dy). Their pixels are explained where the screenshots agree.
    moved_boxes: list[tuple[int, int, int, int, int]] = dataclasses.field(default_factory=list)


# --- matching -------------------------------------------------------------------------------


def match(before: LayoutMap, after: LayoutMap) -> dict[int, int]:
    """after index -> before index for the elements that are the same element.

    As a tree: the roots are one element; the children of two matched elements are aligned as
    a text diff aligns lines, by what they are and hold (tag, id, classes, own text, source and
    everything inside them), so an element inserted among its siblings does not pair each
    following sibling with its predecessor; between the aligned ones, children of the same
    tag and classes in order are one element whose content changed. Whatever is left (moved
    to another parent: a wrapper inserted around it) is paired by the same content anywhere,
    in document order."""
    digests_before, digests_after = _subtree_digests(before), _subtree_digests(after)
    pairs: dict[int, int] = {}
    queue: list[tuple[int, int]] = []
    if before.elements and after.elements and before.elements[0].tag == after.elements[0].tag:
        queue.append((0, 0))
    while True:
        while queue:
            a, b = queue.pop()
            pairs[a] = b
            queue.extend(
                _align_children(
                    after.elements[a],
                    before.elements[b],
                    after,
                    before,
                    digests_after,
                    digests_before,
                )
            )
        taken = set(pairs.values())
        left_before = [e for e in before.elements if e.index not in taken]
        left_after = [e for e in after.elements if e.index not in pairs]
        if not left_before or not left_after:
            return pairs
        # Moved elsewhere in the tree: the same content, in the same order.
        keys_before = [hash((_signature(e), digests_before[e.index])) for e in left_before]
        keys_after = [hash((_signature(e), digests_after[e.index])) for e in left_after]
        found = [
            (left_after[j + k].index, left_before[i + k].index)
            for i, j, size in align.matching_blocks(keys_before, keys_after)
            for k in range(size)
        ]
        # Only the outermost of a moved subtree: its insides are aligned from it.
        chosen = {a for a, _ in found}
        found = [(a, b) for a, b in found if after.elements[a].parent not in chosen]
        if not found:
            return pairs
        queue.extend(found)


def _align_children(new: Element, old: Element, after, before, digests_after, digests_before):
    """Pairs (after index, before index) of the children of two matched elements."""
    kids_new = [after.elements[i] for i in new.children]
    kids_old = [before.elements[i] for i in old.children]
    if not kids_new or not kids_old:
        return []
    keys_old = [hash((_signature(e), digests_before[e.index])) for e in kids_old]
    keys_new = [hash((_signature(e), digests_after[e.index])) for e in kids_new]
    if keys_old == keys_new:
        return [(n.index, o.index) for n, o in zip(kids_new, kids_old, strict=True)]
    blocks = align.matching_blocks(keys_old, keys_new)
    found = []
    for i, j, size in blocks:
        found += [(kids_new[j + k].index, kids_old[i + k].index) for k in range(size)]
    for (o0, o1), (n0, n1) in _gaps(blocks, len(kids_old), len(kids_new)):
        waiting: dict[tuple, list[Element]] = defaultdict(list)
        for e in kids_old[o0:o1]:
            waiting[(e.tag, e.classes)].append(e)
        for e in kids_new[n0:n1]:
            queue = waiting.get((e.tag, e.classes))
            if queue:
                found.append((e.index, queue.pop(0).index))
    return found


def _subtree_digests(layout: LayoutMap) -> list[int]:
    """A digest per element of what it holds: its own text and source, and its children's
    tags, classes and digests, in order."""
    digests = [0] * len(layout.elements)
    for element in reversed(layout.elements):
        inside = tuple(
            (layout.elements[c].tag, layout.elements[c].classes, digests[c])
            for c in element.children
        )
        digests[element.index] = hash((element.text, element.src, inside))
    return digests


def _signature(element: Element) -> tuple:
    return (element.tag, element.id, element.classes, element.text, element.src)


def _gaps(blocks, n_before: int, n_after: int):
    gaps = []
    i = j = 0
    for bi, bj, size in [*blocks, (n_before, n_after, 0)]:
        if bi > i or bj > j:
            gaps.append(((i, bi), (j, bj)))
        i, j = bi + size, bj + size
    return gaps


# --- causes ---------------------------------------------------------------------------------


def find(before: LayoutMap, after: LayoutMap) -> LayoutDiff:
    """The causes of the differences between two captures' layout maps."""
    pairs = match(before, after)
    back = {b: a for a, b in pairs.items()}
    ignored_after = _ignored(after, pairs, before, back)
    ignore_boxes = _ignore_boxes(before, after, pairs, back, ignored_after)
    style_changes = _StyleChanges(before, after)

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


class _StyleChanges:
    """The painted property changes between two elements' value tuples (memoised per pair of
    tuples: a page has a few hundred)."""

    def __init__(self, before: LayoutMap, after: LayoutMap):
        self.before, self.after = before, after
        self.props = [p for p in after.props if before.has_prop(p)]
        self.same_props = before.props == after.props
        self.memo: dict[tuple[int, int], tuple[Change, ...]] = {}

    def between(self, old: Element, new: Element) -> tuple[Change, ...]:
        key = (old.style, new.style)
        found = self.memo.get(key)
        if found is not None:
            return found
        a, b = self.before.styles[old.style], self.after.styles[new.style]
        if (self.same_props and a == b) or not any(a) or not any(b):
            # The same values, or one side's not read (outside its screenshot): nothing known.
            changes: tuple[Change, ...] = ()
        else:
            changes = tuple(
                change
                for p in self.props
                if self.before.value(old, p) != self.after.value(new, p)
                for change in _sides(p, self.before.value(old, p), self.after.value(new, p))
            )
            changes = _without_current_color(changes)
        self.memo[key] = changes
        return changes


# Shorthands of four sides, told side by side ("padding-top 0px → 4px").
_BOX_SIDES = {"padding", "margin"}


def _sides(prop: str, before: str, after: str) -> list[Change]:
    """A change of ``prop``; a padding or margin as the sides that changed."""
    if prop not in _BOX_SIDES:
        return [Change(prop, before, after)]
    old, new = _four(before), _four(after)
    if old is None or new is None:
        return [Change(prop, before, after)]
    return [
        Change(f"{prop}-{side}", a, b)
        for side, a, b in zip(("top", "right", "bottom", "left"), old, new, strict=True)
        if a != b
    ]


def _four(value: str) -> tuple[str, str, str, str] | None:
    parts = value.split()
    if len(parts) == 1:
        return (parts[0],) * 4  # type: ignore[return-value]
    if len(parts) == 2:
        return (parts[0], parts[1], parts[0], parts[1])
    if len(parts) == 3:
        return (parts[0], parts[1], parts[2], parts[1])
    if len(parts) == 4:
        return (parts[0], parts[1], parts[2], parts[3])
    return None


def _without_current_color(changes: tuple[Change, ...]) -> tuple[Change, ...]:
    """Drop the changes that only followed ``color`` (currentColor in a border, an outline, an
    underline, a shadow, an SVG fill)."""
    color = next((c for c in changes if c.prop == "color"), None)
    if color is None:
        return changes
    return tuple(
        c
        for c in changes
        if c.prop == "color"
        or c.before.replace(color.before, "\0") != c.after.replace(color.after, "\0")
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


# --- noise: two loads of the same page ------------------------------------------------------


def noise_between(first: LayoutMap, second: LayoutMap) -> set[int]:
    """Indices (in ``first``) of the elements that differ between two loads of the same page:
    other painted values, text, source or size. What differs so is noise, not a change."""
    pairs = match(second, first)  # first index -> second index
    styles = _StyleChanges(second, first)
    noisy = set()
    for element in first.elements:
        other = pairs.get(element.index)
        if other is None:
            noisy.add(element.index)
            continue
        twin = second.elements[other]
        if (
            styles.between(twin, element)
            or twin.text != element.text
            or twin.src != element.src
            or (twin.w, twin.h) != (element.w, element.h)
        ):
            noisy.add(element.index)
    return noisy


def without_noise(diff: LayoutDiff, noisy: set[int]) -> LayoutDiff:
    """The causes with the noisy elements taken out of them (a cause left with none is noise),
    and the noisy elements' boxes added to those never compared."""
    real, noise = [], []
    for cause in diff.causes:
        if not cause.members:
            real.append(cause)  # a removed element: only the first load had it
            continue
        kept = [index for index in cause.members if index not in noisy]
        if len(kept) == len(cause.members):
            real.append(cause)
            continue
        gone = [index for index in cause.members if index in noisy]
        noise_elements = [diff.after.elements[index] for index in gone]
        noise_boxes = [b for b in (diff.after.clipped(e.box) for e in noise_elements) if b]
        noise.append(
            dataclasses.replace(
                cause, members=gone, count=len(gone), boxes=noise_boxes, extent=noise_boxes
            )
        )
        if kept:
            elements = [diff.after.elements[index] for index in kept]
            boxes = [b for b in (diff.after.clipped(e.box) for e in elements) if b]
            real.append(
                dataclasses.replace(
                    cause,
                    members=kept,
                    count=len(kept),
                    boxes=boxes,
                    extent=[box for box in cause.extent if box not in noise_boxes],
                    selector=selector_for(diff.after, elements),
                )
            )
    masked = []
    for cause in noise:
        masked += [*cause.boxes, *cause.other_boxes]
    return dataclasses.replace(
        diff, causes=real, noise=diff.noise + noise, ignore_boxes=[*diff.ignore_boxes, *masked]
    )


# --- pixel causes ---------------------------------------------------------------------------


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


# --- selectors ------------------------------------------------------------------------------


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


# --- words ----------------------------------------------------------------------------------


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


def _describe(cause: Cause, who: str, *, counted: bool) -> str:
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
        return f"{who}{count}: src {_short_url(change.before)} → {_short_url(change.after)}"
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


def _short_url(url: str) -> str:
    tail = url.rstrip("/").rsplit("/", 1)[-1] or url
    return tail if len(tail) <= 60 else tail[:57] + "…"
