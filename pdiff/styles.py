"""Painted values compared element by element: what changed on an element itself, not what it
inherited, with a colour that only followed ``color`` folded into it. Pure, no Django."""

from __future__ import annotations

from .cause_types import Change
from .layout import (
    Element,
    LayoutMap,
)


class StyleChanges:
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
