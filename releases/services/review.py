"""Human review: approving and rejecting runs, retrying failed ones, marking and
cancelling releases."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.db import transaction

from .. import access, runstate, webhooks
from ..models import AuditLog, Release, Run
from . import moves, scheduling
from .errors import Rejected
from .lifecycle import fail_pending_runs, stop_release

logger = logging.getLogger(__name__)

R = Release.Status
S = Run.Status


# --- human review ---------------------------------------------------------------------------


def approve_run(caller: access.Caller, run: Run) -> Run:
    return _review(caller, run, runstate.APPROVED)


def reject_run(caller: access.Caller, run: Run) -> Run:
    return _review(caller, run, runstate.REJECTED)


def _review(caller: access.Caller, run: Run, event: str) -> Run:
    with transaction.atomic():
        locked = Run.locked(run.pk)
        if locked is None:
            raise access.NotFound(f"run {run.name!r} is gone")
        _refuse_if_marked(locked.release)
        locked.transition_to(moves.target(locked, event), **caller.audit())
    return locked


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
        for run in Run.locked_many(release=release, status=S.DIFF_FOUND):
            run.transition_to(
                moves.target(run, runstate.APPROVED),
                message="approved with all changes",
                **caller.audit(),
            )
            count += 1
    return count


@dataclass
class CauseGroup:
    """Changed runs of a release with the same causes (``Run.cause_key``)."""

    key: str
    labels: list[str]  # one per cause, as the group heading shows them
    runs: list[str] = field(default_factory=list)  # names, in order
    changed: int = 0  # still to review (diff_found)
    approved: int = 0
    example: Run | None = None  # the first run: its crop and summary stand for the group

    @property
    def label(self) -> str:
        return "; ".join(self.labels)


def cause_groups(release: Release) -> list[CauseGroup]:
    """The release's changed (and approved) runs grouped by identical causes, largest first.
    Runs with a change no element names (pixels alone) are in none: they are reviewed on
    their own."""
    groups: dict[str, CauseGroup] = {}
    first: dict[str, int] = {}
    rows = (
        release.runs.filter(status__in=(S.DIFF_FOUND, S.DIFF_APPROVED))
        .exclude(cause_key="")
        .order_by("name")
        .values_list("id", "name", "status", "cause_key")
    )
    for run_id, name, status, key in rows:
        group = groups.setdefault(key, CauseGroup(key, []))
        group.runs.append(name)
        if status == S.DIFF_FOUND:
            group.changed += 1
        else:
            group.approved += 1
        first.setdefault(key, run_id)
    for example in Run.objects.filter(pk__in=first.values()).only(
        "id", "name", "causes", "cause_key", "cause_crop", "summary", "release_id"
    ):
        group = groups[example.cause_key]
        group.example = example
        group.labels = [cause.get("label", "") for cause in example.causes or []]
    return sorted(groups.values(), key=lambda g: (-len(g.runs), g.label))


def approve_group(caller: access.Caller, release: Release, key: str) -> list[str]:
    """Approve the changed runs of one cause group at once (every one of them has exactly
    those causes and nothing else). Returns their names; audited as one action."""
    if not key:
        raise Rejected("no group given")
    with transaction.atomic():
        release = Release.objects.select_for_update().get(pk=release.pk)
        _refuse_if_marked(release)
        runs = list(Run.locked_many(release=release, status=S.DIFF_FOUND, cause_key=key))
        if not runs and not release.runs.filter(cause_key=key).exists():
            raise access.NotFound(f"no group {key!r} in release {release.name!r} #{release.number}")
        label = "; ".join(
            cause.get("label", "") for cause in (runs[0].causes if runs else []) or []
        )
        for run in runs:
            run.transition_to(
                moves.target(run, runstate.APPROVED),
                message=f"approved with its group: {label}",
                **caller.audit(),
            )
        if runs:
            AuditLog.record(
                AuditLog.Action.APPROVED_GROUP,
                build_id=release.build_id,
                release=release,
                message=f"{len(runs)} runs: {label}",
                **caller.audit(),
            )
    return [run.name for run in runs]


def retry_failed(caller: access.Caller, release: Release, run_name: str | None = None) -> int:
    """Run failed runs again: captures again where the run has configs, the diff again where it
    has both images. A release under review goes back to processing."""
    retried = 0
    with transaction.atomic():
        release = Release.objects.select_for_update().get(pk=release.pk)
        if release.is_closed:
            raise Rejected(f"release is {release.status}; mark it reviewing to retry runs")
        runs = Run.locked_many(release=release, status=S.FAILED)
        if run_name is not None:
            runs = runs.filter(name=run_name)
        for run in runs:
            target = moves.target(run, runstate.RETRIED)
            if target == run.status:
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
        stop_release(release, caller, reason=f"cancelled by {who}")
    fail_pending_runs(release.id, caller, lambda run: f"cancelled by {who}")
    return release


def pin_release(caller: access.Caller, release: Release, pinned: bool) -> Release:
    """An owner keeps a release (retention never collects a pinned one), or lets it go."""
    with transaction.atomic():
        release = Release.objects.select_for_update().get(pk=release.pk)
        if release.pinned != pinned:
            release.pinned = pinned
            release.save(update_fields=["pinned", "modified"])
            AuditLog.record(
                AuditLog.Action.PINNED_RELEASE if pinned else AuditLog.Action.UNPINNED_RELEASE,
                build_id=release.build_id,
                release=release,
                message=f"{release.name} #{release.number}",
                **caller.audit(),
            )
    return release


def mark_release(caller: access.Caller, release: Release, status: str) -> Release:
    with transaction.atomic():
        release = Release.objects.select_for_update().get(pk=release.pk)
        if release.status != status:
            release.transition_to(status, **caller.audit())
            webhooks.release_event(release)
    return release
