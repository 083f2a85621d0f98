"""Diff one run: fetch both images, compare them with ``pdiff.core``, record the result."""

from __future__ import annotations

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


def threshold_for(build) -> float:
    return build.diff_threshold if build.diff_threshold is not None else settings.DIFF_THRESHOLD


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

    threshold = threshold_for(build)
    try:
        result = core.compare(before, after, threshold=threshold)
    except core.ImageDecodeError as exc:
        release_services.fail_run(run_id, f"diff failed: {exc}")
        return "failed"
    compared = time.monotonic()

    log = result.as_dict()
    log.update(before=ref_sha1, after=image_sha1, seconds={
        "fetch": round(fetched - started, 3), "compare": round(compared - fetched, 3)})
    try:
        diff_log = release_services.store_artifact_for(
            build, json.dumps(log, indent=1).encode(), "application/json")
        diff_image = (release_services.store_artifact_for(build, result.diff_png, "image/png")
                      if result.diff_png else None)
    except Exception as exc:
        raise TransientError(f"could not store the diff: {exc}") from exc

    recorded = release_services.record_diff(
        run_id, image_sha1=image_sha1, ref_sha1=ref_sha1, changed_pixels=result.changed_pixels,
        distortion=result.distortion, size_changed=result.size_changed, diff_image=diff_image,
        diff_log=diff_log)
    if recorded is None:
        return "dropped"
    logger.info("run %s: %d changed pixels in %.0f ms", run_id, result.changed_pixels,
                (compared - fetched) * 1000)
    return "found" if recorded.status == recorded.Status.DIFF_FOUND else "same"
