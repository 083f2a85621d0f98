"""Human review: approving and rejecting runs, retrying failed ones, marking and
cancelling releases."""

from __future__ import annotations

import logging

from django.db import transaction

from .. import access, webhooks
from ..models import Release, Run
from . import scheduling
from .runs import Rejected, _fail_pending_runs, _stop, pending_captures

logger = logging.getLogger(__name__)

R = Release.Status
S = Run.Status


# --- human review ---------------------------------------------------------------------------


def approve_run(caller: access.Caller, run: Run) -> Run:
    return _review(caller, run, S.DIFF_APPROVED)


def reject_run(caller: access.Caller, run: Run) -> Run:
    return _review(caller, run, S.DIFF_FOUND)


def _review(caller, run, status):
    with transaction.atomic():
        run = Run.objects.select_for_update().select_related("release").get(pk=run.pk)
        _refuse_if_marked(run.release)
        run.transition_to(status, **caller.audit())
    return run


def _refuse_if_marked(release: Release) -> None:
    """Runs are reviewed while their release is under review; a release already marked good or
    bad must go back to reviewing first (its page offers that)."""
    if release.status in (Release.Status.GOOD, Release.Status.BAD):
        raise Rejected(
            f"release {release.name!r} #{release.number} is marked {release.status}: "
            "mark it reviewing again to change its runs"
        )


def approve_all(caller: access.Caller, release: Release) -> int:
    """Approve every changed run of a release at once (bulk review)."""
    count = 0
    with transaction.atomic():
        _refuse_if_marked(Release.objects.select_for_update().get(pk=release.pk))
        for run in (
            release.runs.select_for_update()
            .select_related("release")
            .filter(status=S.DIFF_FOUND)
            .order_by("name")
        ):
            run.transition_to(
                S.DIFF_APPROVED, message="approved with all changes", **caller.audit()
            )
            count += 1
    return count


def retry_failed(caller: access.Caller, release: Release, run_name: str | None = None) -> int:
    """Run failed runs again: captures again where the run has configs, the diff again where it
    has both images. A release under review goes back to processing."""
    retried = 0
    with transaction.atomic():
        release = Release.objects.select_for_update().get(pk=release.pk)
        if release.is_closed:
            raise Rejected(f"release is {release.status}; mark it reviewing to retry runs")
        runs = release.runs.select_for_update().select_related("release").filter(status=S.FAILED)
        if run_name is not None:
            runs = runs.filter(name=run_name)
        for run in runs:
            sides = pending_captures(run)  # a capture that failed left its image empty
            if sides:
                target = S.DATA_PENDING
            elif run.image_id and run.ref_image_id:  # the diff failed
                target = S.NEEDS_DIFF
            else:
                continue  # a client reported the failure and gave nothing to redo
            run.failure_reason, run.pipeline_attempts = "", 0
            run.transition_to(
                target,
                message="retried",
                fields=["failure_reason", "pipeline_attempts"],
                **caller.audit(),
            )
            scheduling.want_work(run)
            retried += 1
        if retried and release.status == R.REVIEWING:
            release.transition_to(
                R.PROCESSING, message=f"retrying {retried} failed runs", **caller.audit()
            )
    return retried


def cancel_release(caller: access.Caller, release: Release) -> Release:
    """Stop an attempt that is still receiving or processing: it is marked bad and its
    unfinished runs fail, so their queued work does nothing."""
    with transaction.atomic():
        release = Release.objects.select_for_update().get(pk=release.pk)
        if release.status not in (R.RECEIVING, R.PROCESSING):
            raise Rejected(
                f"only a receiving or processing release can be cancelled, "
                f"this one is {release.status}"
            )
        who = getattr(caller.user, "get_username", lambda: "an API key")()
        _stop(release, caller, reason=f"cancelled by {who}")
    _fail_pending_runs(release.id, caller, lambda run: f"cancelled by {who}")
    return release


def mark_release(caller: access.Caller, release: Release, status: str) -> Release:
    with transaction.atomic():
        release = Release.objects.select_for_update().get(pk=release.pk)
        if release.status != status:
            release.transition_to(status, **caller.audit())
            webhooks.release_event(release)
    return release
