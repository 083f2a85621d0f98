"""What a diff found: ``DiffResult`` (counts, regions, causes, shifts, the diff images) and how
it is told (its summary lines, its verdict against a tolerance). Pure, no Django."""

from __future__ import annotations

import dataclasses

import numpy as np

from . import align as alignment
from . import causes as causing

DEFAULT_THRESHOLD = 0.1
DEFAULT_METRIC = "oklab"


@dataclasses.dataclass(frozen=True)
class Region:
    x: int
    y: int
    width: int
    height: int
    changed_pixels: int

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class SubtleRegion:
    """A coherent area whose pixels all changed by less than the threshold."""

    x: int
    y: int
    width: int
    height: int
    pixels: int
    mean_delta: float  # mean OKLab HyAB distance of its pixels (black↔white is 1)

    def as_dict(self) -> dict:
        return {**dataclasses.asdict(self), "mean_delta": round(self.mean_delta, 4)}


@dataclasses.dataclass(frozen=True)
class DiffResult:
    changed_pixels: int
    total_pixels: int
    before_size: tuple[int, int]
    after_size: tuple[int, int]
    regions: list[Region]
    diff_png: bytes | None
    threshold: float
    identical_bytes: bool = False
    metric: str = DEFAULT_METRIC
    subtle_regions: list[SubtleRegion] = dataclasses.field(default_factory=list)
    shifts: list[alignment.Shift] = dataclasses.field(default_factory=list)
    aligned_changed_pixels: int | None = None  # None: nothing moved, same as changed_pixels
    changed_blocks: list[tuple[int, int]] = dataclasses.field(default_factory=list)
    aligned_diff_png: bytes | None = None
    # The diff image's top ``diff_top_rows`` rows as (rows, width, 3) RGB, when asked for and
    # there is a diff image: a thumbnail is made of it without decoding diff_png again.
    diff_top: np.ndarray | None = dataclasses.field(default=None, compare=False, repr=False)
    # The compare stopped once the changes were over ``stop_over``: the counts are a lower
    # bound, and the pair is certainly not within that tolerance.
    partial: bool = False
    # With layout maps of both captures: what changed in the page's terms (pdiff.causes), most
    # pixels first; the changed pixels no cause explains (after alignment); the causes that
    # differed between two loads of the page (noise); why the maps were not used, if not.
    has_layout: bool = False
    causes: list[causing.Cause] = dataclasses.field(default_factory=list)
    unexplained_pixels: int | None = None
    # Pixels inside the causes' boxes that differ at all (any threshold): what they changed.
    cause_pixels: int = 0
    # Removed blocks opened in the aligned diff image: (new-page row it opens at, rows), in
    # order; a row y of the new page is row y + the rows of the bands at or above it there.
    aligned_bands: list[tuple[int, int]] = dataclasses.field(default_factory=list)
    noise_causes: list[causing.Cause] = dataclasses.field(default_factory=list)
    layout_note: str = ""
    # The first changed row (new image) of rows that moved and changed at once, so that lining
    # them up explains little (text reflowed): the aligned pass was not made. None otherwise.
    reflowed_below: int | None = None

    @property
    def distortion(self) -> float:
        """Changed pixels as a fraction of the (padded) canvas, 0..1, before any alignment."""
        return self._share(self.changed_pixels)

    def _share(self, pixels: int) -> float:
        return pixels / self.total_pixels if self.total_pixels else 0.0

    @property
    def size_changed(self) -> bool:
        return self.before_size != self.after_size

    @property
    def differs(self) -> bool:
        return (
            self.changed_pixels > 0
            or self.size_changed
            or bool(self.subtle_regions)
            or bool(self.dom_causes)
        )

    @property
    def dom_causes(self) -> list[causing.Cause]:
        """The causes the page's elements name (not pixels alone)."""
        return [cause for cause in self.causes if cause.kind in causing.DOM_KINDS]

    @property
    def summary_lines(self) -> list[str]:
        """What a reviewer reads first: one line per cause, at most three, then "and N
        more"; without causes, what the pixels say in at most three clauses."""
        size = (
            (self.before_size[1], self.after_size[1])
            if self.before_size[1] != self.after_size[1]
            else None
        )
        if self.causes:
            lines = causing.summary_lines(self.causes, height_change=size)
            if self.reflowed_below is not None:
                lines[0] += f"; {alignment.reflow_words(self.reflowed_below)}"
            return lines
        return [
            alignment.summary(
                self.changed_blocks,
                self.shifts,
                self.after_size[1],
                size,
                subtle=[r.as_dict() for r in self.subtle_regions],
                reflowed_below=self.reflowed_below,
            )
        ]

    @property
    def summary(self) -> str:
        return "\n".join(self.summary_lines)

    @property
    def focus(self) -> tuple[int, int, int, int] | None:
        """Where the first change is (x, y, width, height in the new image): the first
        cause's box, else the first changed block or subtle region."""
        for cause in self.causes:
            if cause.box:
                return cause.box
        candidates = []
        if self.changed_blocks:
            a, b = self.changed_blocks[0]
            candidates.append((0, a, self.after_size[0], b - a))
        candidates += [(r.x, r.y, r.width, r.height) for r in self.subtle_regions[:1]]
        candidates += [(r.x, r.y, r.width, r.height) for r in self.regions[:1]]
        return min(candidates, key=lambda box: box[1]) if candidates else None

    def within(self, tolerance: float) -> bool:
        """Whether a build that tolerates ``tolerance`` (a share of changed pixels) would call
        this unchanged. A size change or a subtle region is never tolerated. With layout maps,
        a change the page's elements name counts whatever the colour threshold: the pixels the
        tolerance weighs are those that differ at all inside the causes' boxes and those over
        the threshold that no cause explains (with no tolerance, any cause is a change)."""
        if not self.differs:
            return True
        if self.has_layout:
            if self.dom_causes and not tolerance:
                return False
            share = self._share((self.unexplained_pixels or 0) + self.cause_pixels)
            return not self.size_changed and not self.subtle_regions and share <= tolerance
        return not self.size_changed and not self.subtle_regions and self.distortion <= tolerance

    def elements_decide(self, tolerance: float) -> bool:
        """Whether the page's elements alone make this a change, however many pixels no cause
        explains: then a second screenshot, which can only tell whether those pixels are
        noise, cannot change the verdict."""
        if not self.has_layout or not self.dom_causes:
            return False
        return not tolerance or self.size_changed or self._share(self.cause_pixels) > tolerance

    def pixels_within(self, tolerance: float) -> bool:
        """Whether what pixels alone say (the changes no cause of the page's elements explains)
        is within ``tolerance``: without layout maps, the whole verdict."""
        if not self.has_layout:
            return self.within(tolerance)
        share = self._share(self.unexplained_pixels or 0)
        size_alone = self.size_changed and not self.dom_causes
        return not size_alone and not self.subtle_regions and share <= tolerance

    def as_dict(self) -> dict:
        """Everything but the PNG bytes, JSON-ready."""
        return {
            "changed_pixels": self.changed_pixels,
            "total_pixels": self.total_pixels,
            "distortion": self.distortion,
            "size_changed": self.size_changed,
            "before_size": list(self.before_size),
            "after_size": list(self.after_size),
            "threshold": self.threshold,
            "metric": self.metric,
            "identical_bytes": self.identical_bytes,
            "regions": [r.as_dict() for r in self.regions],
            "subtle_regions": [r.as_dict() for r in self.subtle_regions],
            "shifts": [s.as_dict() for s in self.shifts],
            "aligned_changed_pixels": (
                self.changed_pixels
                if self.aligned_changed_pixels is None
                else self.aligned_changed_pixels
            ),
            "changed_blocks": [list(b) for b in self.changed_blocks],
            "summary": self.summary,
            "summary_lines": self.summary_lines,
            "focus": list(self.focus) if self.focus else None,
            "has_layout": self.has_layout,
            "causes": [cause.as_dict() for cause in self.causes],
            "unexplained_pixels": self.unexplained_pixels,
            "cause_pixels": self.cause_pixels,
            "aligned_bands": [list(band) for band in self.aligned_bands],
            "noise_causes": [cause.as_dict() for cause in self.noise_causes],
            "layout_note": self.layout_note,
            "reflowed_below": self.reflowed_below,
        }
