"""What a cause is (``Cause``, its ``Change``s), the key that groups a release's runs by their
causes, and what two layout maps say (``LayoutDiff``). Pure, no Django."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Iterable

from .layout import (
    LayoutMap,
)
from .wording import describe, printable

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
        return printable(describe(self, "`" + ", ".join(self.tags) + "`", counted=False))

    def line(self) -> str:
        """The cause in one line of a summary."""
        return printable(describe(self, f"`{self.selector}`", counted=True))

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
