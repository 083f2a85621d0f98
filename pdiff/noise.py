"""Noise: what differs between two loads of the same page, and a diff without it. Pure, no
Django."""

from __future__ import annotations

import dataclasses

from .cause_types import LayoutDiff
from .layout import (
    LayoutMap,
)
from .matching import match
from .naming import selector_for
from .styles import StyleChanges


def noise_between(first: LayoutMap, second: LayoutMap) -> set[int]:
    """Indices (in ``first``) of the elements that differ between two loads of the same page:
    other painted values, text, source or size. What differs so is noise, not a change."""
    pairs = match(second, first)  # first index -> second index
    styles = StyleChanges(second, first)
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
