"""Diff one run: fetch both images, compare them with ``pdiff.core``, record the result."""

from __future__ import annotations

import dataclasses
import json
import logging
import time

from django.conf import settings

from artifacts import storage
from releases import services as release_services

from . import core

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
    threshold = _fraction(config, "diffThreshold")
    if threshold is None:
        threshold = build.diff_threshold if build.diff_threshold is not None \
            else settings.DIFF_THRESHOLD
    tolerance = _fraction(config, "maxDistortion")
    metric = config.get("diffMetric")
    return DiffSettings(threshold, tolerance if tolerance is not None else build.max_distortion,
                        metric if metric in core.METRICS else build.diff_metric)


def _run_config(run) -> dict:
    """The run's config JSON. A run reported by a client may carry any file as its config, or
    none: then it has no overrides."""
    if not run.config_id:
        return {}
    try:
        config = json.loads(storage.read_bytes(run.config_id))
    except (storage.ArtifactMissing, ValueError):
        return {}
    return config if isinstance(config, dict) else {}


def _fraction(config: dict, key: str) -> float | None:
    value = config.get(key)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1:
        return float(value)
    return None


def diff_run(run_id: int) -> str:
    """Returns what happened ("skipped", "found", "same", "failed", "dropped")."""
    run = release_services.claim_for_diff(run_id)
    if run is None:
        return "skipped"
    build = run.release.build
    image_sha1, ref_sha1 = run.image_id, run.ref_image_id
    started = time.monotonic()
    try:
        before = storage.read_bytes(ref_sha1)
        after = storage.read_bytes(image_sha1)
    except storage.ArtifactMissing as exc:
        release_services.fail_run(run_id, f"diff failed: {exc}")
        return "failed"
    except Exception as exc:  # network storage: connection errors, timeouts, 5xx
        raise TransientError(f"could not read images from storage: {exc}") from exc
    fetched = time.monotonic()

    try:
        chosen = diff_settings(run)
    except Exception as exc:  # storage unreachable while reading the config
        raise TransientError(f"could not read the run's config: {exc}") from exc
    try:
        result = core.compare(before, after, threshold=chosen.threshold, metric=chosen.metric,
                              subtle_min_area=settings.SUBTLE_MIN_AREA)
    except core.ImageDecodeError as exc:
        release_services.fail_run(run_id, f"diff failed: {exc}")
        return "failed"
    compared = time.monotonic()

    log = result.as_dict()
    log.update(before=ref_sha1, after=image_sha1, max_distortion=chosen.tolerance, seconds={
        "fetch": round(fetched - started, 3), "compare": round(compared - fetched, 3)})
    try:
        diff_log = release_services.store_artifact_for(
            build, json.dumps(log, indent=1).encode(), "application/json")
        diff_image, aligned_image = (
            release_services.store_artifact_for(build, png, "image/png") if png else None
            for png in (result.diff_png, result.aligned_diff_png))
    except Exception as exc:
        raise TransientError(f"could not store the diff: {exc}") from exc

    recorded = release_services.record_diff(
        run_id, image_sha1=image_sha1, ref_sha1=ref_sha1, result=result, diff_image=diff_image,
        aligned_diff_image=aligned_image, diff_log=diff_log, tolerance=chosen.tolerance)
    if recorded is None:
        return "dropped"
    logger.info("run %s: %d changed pixels in %.0f ms", run_id, result.changed_pixels,
                (compared - fetched) * 1000)
    return "found" if recorded.status == recorded.Status.DIFF_FOUND else "same"
