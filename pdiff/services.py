"""Diff one run: fetch both images, compare them with ``pdiff.core``, record the result."""

from __future__ import annotations

import dataclasses
import json
import logging
import time

from django.conf import settings

from artifacts import storage, thumbnails
from capture import config as capture_config
from releases import services as release_services

from . import causes as causing
from . import core
from .layout import LayoutError, LayoutMap

logger = logging.getLogger(__name__)


class TransientError(RuntimeError):
    """Worth retrying: storage was unreachable or slow."""


@dataclasses.dataclass(frozen=True)
class DiffSettings:
    threshold: float  # colour threshold
    tolerance: float  # share of changed pixels still "unchanged"
    metric: str  # "oklab" or "yiq"


def diff_settings(run) -> DiffSettings:
    """The run's capture config, then the build's settings, then the server's defaults."""
    build = run.release.build
    config = _run_config(run)
    threshold = config.diffThreshold
    if threshold is None:
        threshold = (
            build.diff_threshold if build.diff_threshold is not None else settings.DIFF_THRESHOLD
        )
    tolerance = config.maxDistortion
    return DiffSettings(
        threshold,
        tolerance if tolerance is not None else build.max_distortion,
        config.diffMetric or build.diff_metric,
    )


def _run_config(run) -> capture_config.CaptureConfig:
    """The run's config (``capture.config``). A run reported by a client may carry any file as
    its config, or none: then only its diff keys are read, if they are valid, else it has no
    overrides."""
    if not run.config_id:
        return capture_config.parse({})
    try:
        raw = json.loads(storage.read_bytes(run.config_id))
    except (storage.ArtifactMissing, ValueError):
        return capture_config.parse({})
    diff_keys = {key: raw[key] for key in DIFF_KEYS if key in raw} if isinstance(raw, dict) else {}
    for keys in (raw, diff_keys):
        try:
            return capture_config.parse(keys)
        except capture_config.ConfigError:
            continue  # not a capture config: its diff keys alone, else none
    return capture_config.parse({})


# The keys of a capture config the diff reads.
DIFF_KEYS = ("diffThreshold", "diffMetric", "maxDistortion")


# Noise found between two captures of a page is masked out with this margin around it (the
# anti-aliased edge of a box whose colour changes is noise too).
NOISE_MARGIN = 4


def diff_run(run_id: int, step: release_services.Step | None = None) -> str:
    """Returns what happened ("skipped", "found", "same", "flaky", "recapturing",
    "rechecking", "failed", "dropped").

    A difference is first checked for noise, once: where the page's elements explain it (the
    layout maps name causes), the page is loaded again for its layout map alone
    ("rechecking"), and causes that differ between the two loads are noise; where pixels alone
    differ, the page is captured again ("recapturing") and what differs between the two
    screenshots is noise."""
    run = release_services.claim_for_diff(run_id, step)
    if run is None:
        return "skipped"
    if run.image_id is None or run.ref_image_id is None:  # claimed needs_diff: both are there
        release_services.fail_run(run_id, "diff failed: an image of the pair is missing")
        return "failed"
    started = time.monotonic()
    try:
        pair = _fetch(run, run.image_id, run.ref_image_id)
    except storage.ArtifactMissing as exc:
        release_services.fail_run(run_id, f"diff failed: {exc}")
        return "failed"
    except storage.TRANSIENT_ERRORS as exc:  # network storage: connection errors, timeouts, 5xx
        raise TransientError(f"could not read images from storage: {exc}") from exc
    fetched = time.monotonic()
    try:
        chosen = diff_settings(run)
    except storage.TRANSIENT_ERRORS as exc:  # storage unreachable while reading the config
        raise TransientError(f"could not read the run's config: {exc}") from exc
    options = dict(
        threshold=chosen.threshold, metric=chosen.metric, subtle_min_area=settings.SUBTLE_MIN_AREA
    )
    second_look = _second_look(run, pair.before, pair.after, pair.layouts, chosen, options)
    if second_look is not None:
        return _look_again(run_id, pair, second_look)
    try:
        noise = _noise(pair.after, pair.again, options) if pair.again else None
        ignore = [_widened(region) for region in noise.regions] if noise else []
        result = core.compare(
            pair.before,
            pair.after,
            ignore=ignore,
            # The thumbnail is made of the diff image's top, as the diff wrote it.
            diff_top_rows=_thumbnail_rows(pair.before, pair.after),
            **pair.layouts,
            **options,
        )
    except core.ImageDecodeError as exc:
        release_services.fail_run(run_id, f"diff failed: {exc}")
        return "failed"
    if (
        run.recapture == run.Recapture.LAYOUT_DONE
        and release_services.wants_recapture(run)
        and not result.pixels_within(chosen.tolerance)
        and not result.elements_decide(chosen.tolerance)
    ):
        # The elements were the same again, but pixels no element explains differ too, and
        # the verdict hangs on them: is the page the same again in those? A second screenshot
        # tells. (When the elements' causes make it a change anyway, it could not.)
        return _look_again(run_id, pair, "recapturing")
    seconds = {
        "fetch": round(fetched - started, 3),
        "compare": round(time.monotonic() - fetched, 3),
    }
    return _record(run, pair, result, chosen, noise, ignore, seconds)


@dataclasses.dataclass
class _Pair:
    """What a diff reads: both screenshots, the recapture's, and their layout maps."""

    image_sha1: str
    ref_sha1: str
    recapture_sha1: str | None
    before: bytes
    after: bytes
    again: bytes | None
    layouts: dict


def _fetch(run, image_sha1: str, ref_sha1: str) -> _Pair:
    recapture_sha1 = run.recapture_image_id
    return _Pair(
        image_sha1,
        ref_sha1,
        recapture_sha1,
        before=storage.read_bytes(ref_sha1),
        after=storage.read_bytes(image_sha1),
        again=storage.read_bytes(recapture_sha1) if recapture_sha1 else None,
        layouts=_read_layouts(
            before_layout=run.ref_layout_id,
            after_layout=run.layout_id,
            recheck_layout=run.recapture_layout_id,
        ),
    )


def _look_again(run_id: int, pair: _Pair, look: str) -> str:
    """Send the run back for a second look (``look``: "rechecking", its layout map again;
    "recapturing", a second screenshot); "dropped" if it moved on meanwhile."""
    layout_only = look == "rechecking"
    if not release_services.request_recapture(
        run_id, image_sha1=pair.image_sha1, ref_sha1=pair.ref_sha1, layout_only=layout_only
    ):
        return "dropped"
    logger.info(
        "run %s differs from its baseline; %s",
        run_id,
        "loading it again" if layout_only else "capturing it again",
    )
    return look


def _record(run, pair: _Pair, result, chosen: DiffSettings, noise, ignore, seconds) -> str:
    """Store the diff's log and images, and record its verdict on the run."""
    build = run.release.build
    log = result.as_dict()
    log.update(
        before=pair.ref_sha1,
        after=pair.image_sha1,
        max_distortion=chosen.tolerance,
        seconds=seconds,
    )
    if pair.recapture_sha1:
        log["recapture"] = pair.recapture_sha1
        log["noise"] = (
            {
                "changed_pixels": noise.changed_pixels,
                "regions": [r.as_dict() for r in noise.regions[:100]],
                "masked": [list(box) for box in ignore[:100]],
            }
            if noise
            else None
        )
    found = not result.within(chosen.tolerance)
    try:
        diff_log = release_services.store_artifact_for(
            build, json.dumps(log, indent=1).encode(), "application/json"
        )
        diff_image, aligned_image, noise_image = (
            release_services.store_artifact_for(build, png, "image/png") if png else None
            for png in (result.diff_png, result.aligned_diff_png, noise.diff_png if noise else None)
        )
        thumbnail = _thumbnail(build, pair.after, result)
        crop = _cause_crop(build, pair.before, pair.after, result) if found else None
    except storage.TRANSIENT_ERRORS as exc:
        raise TransientError(f"could not store the diff: {exc}") from exc
    recorded = release_services.record_diff(
        run.pk,
        image_sha1=pair.image_sha1,
        ref_sha1=pair.ref_sha1,
        result=result,
        diff_image=diff_image,
        aligned_diff_image=aligned_image,
        diff_log=diff_log,
        tolerance=chosen.tolerance,
        noise=noise,
        noise_image=noise_image,
        thumbnail=thumbnail,
        cause_crop=crop,
        cause_key=causing.cause_set_key(result.causes),
    )
    if recorded is None:
        return "dropped"
    logger.info(
        "run %s: %d changed pixels in %.0f ms",
        run.pk,
        result.changed_pixels,
        seconds["compare"] * 1000,
    )
    outcomes: dict[str, str] = {
        release_services.S.DIFF_FOUND: "found",
        release_services.S.FLAKY: "flaky",
    }
    return outcomes.get(recorded.status, "same")


def _read_layouts(**sha1s: str | None) -> dict:
    """The layout maps by compare()'s argument names, each read and parsed once for the first
    look and the verdict alike. A missing map is None (the verdict is then the pixels'); one
    that cannot be parsed stays bytes, so that compare() says why it left it out."""
    layouts: dict = {}
    read: dict = {}  # by SHA-1: the same map twice (a page laid out the same again) is read once
    for name, sha1 in sha1s.items():
        if sha1 in read:
            layouts[name] = read[sha1]
            continue
        data = None
        if sha1:
            try:
                data = storage.read_bytes(sha1)
            except storage.ArtifactMissing as exc:
                logger.warning("layout map %s is missing (%s); diffing by pixels alone", sha1, exc)
        try:
            layouts[name] = LayoutMap.parse(data) if data is not None else None
        except LayoutError:
            layouts[name] = data
        if sha1:
            read[sha1] = layouts[name]
    return layouts


def _second_look(run, before, after, layouts, chosen, options) -> str | None:
    """Whether the page should be looked at again before the verdict: "rechecking" (its
    layout map again: the elements name a cause), "recapturing" (a second screenshot: pixels
    alone differ), or None (no second look wanted, or nothing differs)."""
    maps = layouts["before_layout"], layouts["after_layout"]
    if (
        release_services.wants_layout_recheck(run)
        and all(isinstance(m, LayoutMap) for m in maps)
        and causing.find(*maps).causes
    ):
        return "rechecking"
    if not release_services.wants_recapture(run) or run.recapture == run.Recapture.LAYOUT_DONE:
        # (After a layout recheck, the final diff itself tells whether a screenshot is wanted:
        # a first look would compare and match the maps once more for the same answer.)
        return None
    # A first look without the parts only a final verdict needs (diff images, alignment),
    # with the layout recheck's map if there was one (what differed between loads is noise).
    try:
        result = core.compare(
            before,
            after,
            make_diff_png=False,
            align=False,
            stop_over=chosen.tolerance,
            **layouts,
            **options,
        )
    except core.ImageDecodeError:
        return None  # the final diff fails the run with the reason
    # A second screenshot only tells whether pixels no element explains are noise: wanted
    # when they differ and the verdict hangs on them.
    pixels_decide = not result.pixels_within(chosen.tolerance)
    return "recapturing" if pixels_decide and not result.elements_decide(chosen.tolerance) else None


def _thumbnail(build, after: bytes, result):
    """The run's thumbnail: of the diff image around its first change (of its top, kept in
    memory, when the change is there), else of the screenshot's top."""
    if result.diff_png is None:
        return release_services.store_thumbnail_for(build, after)
    focus = result.focus
    rows = thumbnails.top_rows(*_canvas(result))
    if focus is not None and focus[1] + focus[3] / 2 > rows / 2:  # below the top's middle
        return release_services.store_thumbnail_for(
            build, result.diff_png, centre=focus[1] + focus[3] // 2
        )
    return release_services.store_thumbnail_for(build, after, top=result.diff_top)


def _cause_crop(build, before: bytes, after: bytes, result):
    """Before and after crops of the first change, side by side, for the release page."""
    boxes = _crop_boxes(result)
    if boxes is None:
        return None
    try:
        crop = thumbnails.pair_crop(before, after, *boxes)
    except thumbnails.ThumbnailError as exc:
        logger.warning("no crop of the change: %s", exc)
        return None
    return release_services.store_artifact_for(build, crop, "image/webp")


def _crop_boxes(result):
    """Where the first change is on each side: a cause's element where it was and where it is
    (a removed one where it was, on both), else the first changed area, on both."""
    for cause in result.causes:
        if cause.box:
            if cause.side == "before":
                return cause.box, cause.box
            return (cause.other_boxes[0] if cause.other_boxes else cause.box), cause.box
    focus = result.focus
    return (focus, focus) if focus else None


def _canvas(result) -> tuple[int, int]:
    return (
        max(result.before_size[0], result.after_size[0]),
        max(result.before_size[1], result.after_size[1]),
    )


def _noise(first: bytes, second: bytes, options: dict):
    """The page against its own recapture: None when the two agree. Any pixel that changed at
    all between two captures of the same page is noise (threshold 0, anti-aliasing counted):
    two random colours can be close, and the baseline's may not be."""
    options = {**options, "threshold": 0.0}
    noise = core.compare(first, second, subtle=False, align=False, include_aa=True, **options)
    return noise if noise.changed_pixels or noise.size_changed else None


def _thumbnail_rows(before: bytes, after: bytes) -> int:
    """The rows of the diff image (on the canvas of both images) its thumbnail shows."""
    (w1, h1), (w2, h2) = core.png_size(before, "before"), core.png_size(after, "after")
    return thumbnails.top_rows(max(w1, w2), max(h1, h2))


def _widened(region) -> tuple[int, int, int, int]:
    return (
        max(region.x - NOISE_MARGIN, 0),
        max(region.y - NOISE_MARGIN, 0),
        region.width + 2 * NOISE_MARGIN,
        region.height + 2 * NOISE_MARGIN,
    )
