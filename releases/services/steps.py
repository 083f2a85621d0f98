"""The workers' steps on a run: a capture side or a diff claimed (one attempt, held by a lease),
its result recorded, and the second look at a page that differed (a recapture)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import transaction

from .. import runstate
from ..models import Run
from . import lifecycle, moves, scheduling
from .scheduling import LAYOUT_FIELDS, SIDES, Step, pending_captures

logger = logging.getLogger(__name__)

S = Run.Status


def _claim(run_id: int, step: str, claim: Step, waiting) -> Run | None:
    """Lock the run and hold ``step`` of it as one more attempt, if ``waiting(run)`` (it still
    waits for that step) and no other worker holds it; a run out of attempts fails instead."""
    with transaction.atomic():
        run = Run.locked(run_id)
        if run is None or run.release.is_closed or not waiting(run):
            return None
        if not scheduling.take_lease(run, step, claim.holder):
            return None  # another worker is at it
        if run.pipeline_attempts >= moves.attempt_limit(run, step):
            moves.fail(run, moves.out_of_attempts(run, step))
            claimed = None
        else:
            moves.count_attempt(run, claim)
            claimed = run
    if claimed is None:
        lifecycle.maybe_finish_release(run.release_id)
    return claimed


# --- captures (called by capture.services) --------------------------------------------------

# Where each side's encrypted config secrets are kept.
SECRET_FIELDS = {
    "run": "config_secrets",
    "ref": "ref_config_secrets",
    "recapture": "config_secrets",
}


@dataclass(frozen=True)
class CaptureClaim:
    run: Run
    url: str
    config_sha1: str
    secrets: str = ""  # encrypted (capture.services decrypts them)


@dataclass(frozen=True)
class Recheck:
    """The page loaded again for its layout map by the capture itself, at once, because its
    map differed from the baseline's (``capture.services``): the diff's noise check, without a
    first look and a capture of its own. ``failure``: why the second load failed (the run is
    then diffed without a noise check, as after a failed recapture)."""

    layout: object = None  # the artifacts, as store_artifact_for returns them
    log: object = None
    failure: str = ""


def claim_for_capture(run_id: int, side: str, claim: Step | None = None) -> CaptureClaim | None:
    """Start capturing one side of a run, if it still waits for that capture."""
    url_field, config_field, _, _ = SIDES[side]
    run = _claim(
        run_id,
        side,
        claim or Step.alone(),
        lambda run: run.status == S.DATA_PENDING and side in pending_captures(run),
    )
    if run is None:
        return None
    return CaptureClaim(
        run,
        getattr(run, url_field),
        getattr(run, f"{config_field}_id"),
        getattr(run, SECRET_FIELDS[side]),
    )


def record_capture(
    claim: CaptureClaim,
    side: str,
    *,
    image=None,
    log=None,
    layout=None,
    failure: str = "",
    thumbnail=None,
    recheck: Recheck | None = None,
) -> Run | None:
    """Record a capture's screenshot (or its failure), unless the run was requested anew
    meanwhile; then recompute the run's status as report_run does. ``recheck``: the page's
    second load for its layout map, made with the capture (the run side only)."""
    url_field, config_field, image_field, log_field = SIDES[side]
    with transaction.atomic():
        run = Run.locked(claim.run.pk)
        if (
            run is None
            or run.status != S.DATA_PENDING
            or run.release.is_closed
            or getattr(run, url_field) != claim.url
            or getattr(run, f"{config_field}_id") != claim.config_sha1
        ):
            logger.info("run %s changed while it was captured; result dropped", claim.run.pk)
            return None
        artifacts = {
            field: artifact
            for field, artifact in (
                (image_field, image),
                (log_field, log),
                (LAYOUT_FIELDS[side], layout),
            )
            if artifact is not None
        }
        if side == "recapture":
            _record_recapture(run, artifacts, failure)
            return run
        label = "capture failed" + (" (reference)" if side == "ref" else "")
        changed = moves.set_artifacts(run, artifacts)
        if thumbnail is not None and side == "run":
            run.thumbnail = thumbnail
            changed.add("thumbnail")
        moves.set_failure(run, f"{label}: {failure}" if failure else "", changed)
        message = _with_recheck(run, recheck, changed) if recheck and not failure else ""
        event = runstate.FAILED_EVENT if failure else runstate.CAPTURED
        moves.move(run, event, changed, moves.SYSTEM, message=message)
        logger.info("run %s %s capture recorded: %s", run.pk, side, ", ".join(sorted(changed)))
    lifecycle.maybe_finish_release(run.release_id)
    return run


def _with_recheck(run: Run, recheck: Recheck, changed: set[str]) -> str:
    """Record the second load made with the run's capture, if the run still wants one (after
    its new screenshot and map are set); the message of its move."""
    if not scheduling.layout_recheck_possible(run, run.release.build.recaptures):
        return ""
    run.recapture = Run.Recapture.FAILED if recheck.failure else Run.Recapture.LAYOUT_DONE
    changed.add("recapture")
    for field, artifact in (("recapture_layout", recheck.layout), ("recapture_log", recheck.log)):
        if artifact is not None:
            setattr(run, field, artifact)
            changed.add(field)
    if recheck.failure:
        return f"its elements differ from the baseline; loading it again failed: {recheck.failure}"
    return "its elements differ from the baseline: loaded again for its layout map"


def _record_recapture(run: Run, artifacts: dict, failure: str) -> None:
    """The second load of the page: its diff runs now. A recapture that fails costs the run
    nothing: it is diffed without a noise check."""
    if failure:
        run.recapture = Run.Recapture.FAILED
    elif run.recapture == Run.Recapture.LAYOUT:
        run.recapture = Run.Recapture.LAYOUT_DONE
    else:
        run.recapture = Run.Recapture.DONE
    for field, artifact in artifacts.items():
        setattr(run, field, artifact)
    run.pipeline_attempts = 0
    run.transition_to(
        moves.target(run, runstate.RECAPTURED),
        fields=["recapture", "pipeline_attempts", *artifacts],
        message=(
            f"recapture failed: {failure}"
            if failure
            else "layout map read again"
            if run.recapture == Run.Recapture.LAYOUT_DONE
            else "captured again"
        ),
    )
    scheduling.want_work(run)


def wants_recapture(run: Run) -> bool:
    """Whether a diff that found a difference should first capture the page again: the run
    was captured here (it has a config and a URL), the build recaptures, none was taken yet."""
    return scheduling.recapture_possible(run, run.release.build.recaptures)


def wants_layout_recheck(run: Run, *, with_map: bool = False) -> bool:
    """Whether a diff whose difference the page's elements explain should first have the page
    loaded again for its layout map alone (cheaper than a second screenshot); ``with_map``:
    asked by the capture that brings the run's map, which makes that load itself."""
    return scheduling.layout_recheck_possible(run, run.release.build.recaptures, with_map=with_map)


def _waiting_for_diff(run_id: int, image_sha1: str, ref_sha1: str) -> Run | None:
    """The run, locked, if it still waits for the diff of these two images (not new inputs,
    not failed, not in a closed release)."""
    run = Run.locked(run_id, status=S.NEEDS_DIFF, image_id=image_sha1, ref_image_id=ref_sha1)
    return None if run is None or run.release.is_closed else run


def request_recapture(
    run_id: int, *, image_sha1: str, ref_sha1: str, layout_only: bool = False
) -> bool:
    """Send the run back to capture its page once more (the diff found a difference and wants
    to know whether the page differs from itself); ``layout_only``: its layout map alone, no
    screenshot (the page's elements explain the difference). False if the run moved on
    meanwhile."""
    with transaction.atomic():
        run = _waiting_for_diff(run_id, image_sha1, ref_sha1)
        if run is None or not (wants_layout_recheck(run) if layout_only else wants_recapture(run)):
            return False
        run.recapture = Run.Recapture.LAYOUT if layout_only else Run.Recapture.WANTED
        run.pipeline_attempts = 0
        run.transition_to(
            moves.target(run, runstate.RECAPTURE_WANTED),
            message=(
                "its elements differ from the baseline: loading it again"
                if layout_only
                else "differs from the baseline: capturing again"
            ),
            fields=["recapture", "pipeline_attempts"],
        )
        scheduling.want_work(run)
    return True


# --- the diff (called by pdiff.services) -----------------------------------------------------


def claim_for_diff(run_id: int, claim: Step | None = None) -> Run | None:
    """Start a diff attempt: the run, if it still needs a diff and has attempts left.

    A run out of attempts (a message redelivered after its worker died, again and again) is
    failed here, so a poison input ends the run instead of looping."""
    return _claim(run_id, "diff", claim or Step.alone(), lambda run: run.status == S.NEEDS_DIFF)


# The fields record_diff writes.
_DIFF_FIELDS = [
    "changed_pixels",
    "distortion",
    "size_changed",
    "diff_log",
    "diff_image",
    "aligned_diff_image",
    "noise_image",
    "noise_pixels",
    "last_error",
    "thumbnail",
    "summary",
    "causes",
    "cause_key",
    "cause_crop",
]


def record_diff(
    run_id: int,
    *,
    image_sha1: str,
    ref_sha1: str,
    result,
    diff_image,
    diff_log,
    aligned_diff_image=None,
    tolerance: float = 0.0,
    noise=None,
    noise_image=None,
    thumbnail=None,
    cause_crop=None,
    cause_key: str = "",
) -> Run | None:
    """Record a finished diff (a ``pdiff.core.DiffResult``), unless the run moved on meanwhile
    (new inputs, failed, closed). A diff ``result.within(tolerance)`` counts as unchanged.

    ``noise`` is the DiffResult of the page against its recapture, when it differed from
    itself: ``result`` then has that noise masked out, and a run left with no difference but
    the noise is flaky. So is one whose only causes differed between two loads of the page
    (``result.noise_causes``). ``cause_key`` groups the run with the release's runs of the
    same causes (``pdiff.causes.cause_set_key``)."""
    with transaction.atomic():
        run = _waiting_for_diff(run_id, image_sha1, ref_sha1)
        if run is None:
            logger.info("run %s moved on while it was diffed; result dropped", run_id)
            return None
        found = not result.within(tolerance)
        outcome = (
            runstate.FOUND
            if found
            else runstate.NOISY
            if noise or result.noise_causes
            else runstate.UNCHANGED
        )
        status = moves.target(run, runstate.DIFF_RECORDED, diff_outcome=outcome)
        run.summary = summary_of(result, status)
        run.causes = [_stored_cause(cause) for cause in result.causes] if found else None
        run.cause_key = cause_key if found else ""
        run.cause_crop = cause_crop if found else None
        run.changed_pixels = result.changed_pixels
        run.distortion = result.distortion
        run.size_changed = result.size_changed
        run.diff_log = diff_log
        run.diff_image = diff_image if status != S.DIFF_NOT_FOUND else None
        run.aligned_diff_image = aligned_diff_image if found else None
        run.noise_image = noise_image if noise else None
        run.thumbnail = thumbnail or run.thumbnail
        run.last_error = ""
        run.noise_pixels = noise.changed_pixels if noise else None
        noise_note = (
            f"; the page differs from itself in {noise.changed_pixels} pixels (masked)"
            if noise
            else ""
        )
        run.transition_to(
            status,
            message=f"{result.changed_pixels} changed pixels ({result.distortion:.4%}): "
            f"{result.summary}{noise_note}",
            fields=_DIFF_FIELDS,
        )
        scheduling.dispatch_after_commit(run.release.build_id)
    lifecycle.maybe_finish_release(run.release_id)
    return run


# Boxes kept per cause on the run (the diff log keeps more).
STORED_BOXES = 10


def _stored_cause(cause) -> dict:
    stored = cause.as_dict()
    stored["boxes"] = stored["boxes"][:STORED_BOXES]
    return stored


def summary_of(result, status: str) -> str:
    """What the release page, the API and the tools say of a diffed run: its causes' lines,
    or for a flaky run what differed between two loads of the page."""
    if status == S.DIFF_FOUND:
        return result.summary
    if status == S.FLAKY:
        lines = [cause.line() for cause in result.noise_causes[:2]]
        what = "; ".join(lines) if lines else "pixels"
        return f"the page differs from itself ({what}); nothing else changed"
    return ""
