"""Two layout maps matched element by element: by path first, then, for the elements whose
path changed, by tag, id, classes, text and source in document order, as a text diff aligns
lines. Pure, no Django."""

from __future__ import annotations

from collections import defaultdict

from . import align
from .layout import (
    Element,
    LayoutMap,
)


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
