"""A release from creation to review: attempts numbered and superseded, runs_done, the move to
reviewing once no run is pending, and the baseline a run is compared with."""

from __future__ import annotations

from collections.abc import Callable

from django.db import transaction
from django.db.models import Q

from .. import access, notifications, runstate, webhooks
from ..models import AuditLog, Build, Release, Run
from . import moves, scheduling

R = Release.Status
S = Run.Status


def create_release(
    caller: access.Caller,
    build: Build,
    *,
    name: str,
    url: str = "",
    branch: str = "",
    base_branch: str = "",
    commit_sha: str = "",
) -> Release:
    """A new attempt at ``name``, on ``branch`` (default: the build's main branch), its runs
    compared with ``branch``'s good runs, else ``base_branch``'s (default: the main branch).
    An earlier attempt still processing is superseded: marked bad, and its unfinished runs
    failed so that queued work for them does nothing."""
    with transaction.atomic():
        Build.objects.select_for_update().filter(pk=build.pk).first()  # serialise numbering
        last = Release.objects.filter(build=build, name=name).order_by("-number").first()
        release = Release.objects.create(
            build=build,
            name=name,
            url=url,
            number=(last.number + 1) if last else 1,
            branch="" if branch == build.main_branch else branch,
            base_branch="" if base_branch == build.main_branch else base_branch,
            commit_sha=commit_sha,
        )
        AuditLog.record(
            AuditLog.Action.CREATED_RELEASE,
            build_id=build.id,
            release=release,
            message=f"{name} #{release.number}"
            + (f" on {release.branch}" if release.branch else ""),
            **caller.audit(),
        )
        superseded = last if last is not None and last.status == R.PROCESSING else None
        if superseded:
            stop_release(superseded, caller, reason=f"superseded by attempt #{release.number}")
        webhooks.release_event(release)  # a commit status "pending", if the build sends them
    if superseded:
        fail_pending_runs(
            superseded.id,
            caller,
            lambda run: f"cancelled: release superseded by attempt #{release.number}",
        )
    return release


def stop_release(release: Release, caller: access.Caller, *, reason: str) -> None:
    """Mark a locked, unfinished release bad: work still queued for its runs finds it closed and
    does nothing. The caller then fails its pending runs (``fail_pending_runs``), after the
    release's lock is gone."""
    release.transition_to(R.BAD, message=reason, **caller.audit())
    webhooks.release_event(release)


def fail_pending_runs(
    release_id: int, caller: access.Caller, reason_for: Callable[[Run], str | None]
) -> None:
    """Fail the release's pending runs for which ``reason_for(run)`` gives a reason (None: leave
    it), each in its own transaction, locked the way the workers lock a run (the run, then its
    release): locking runs while holding the release would deadlock against them."""
    pending = Run.objects.filter(release_id=release_id, status__in=Run.PENDING)
    failed = False
    for run_id in list(pending.values_list("id", flat=True)):
        with transaction.atomic():
            run = Run.locked(run_id, status__in=Run.PENDING)
            reason = reason_for(run) if run is not None else None
            if run is not None and reason:
                failed |= moves.fail(run, reason, caller, runstate.CANCELLED, dispatch=False)
    if failed:  # their slots are free: the build's other work takes them
        scheduling.dispatch(Release.objects.get(pk=release_id).build_id)


def runs_done(caller: access.Caller, build: Build, *, name: str, number) -> Release:
    """All runs are reported. Moves a receiving release to processing; never resets a release
    that is already further along (the original reset good and bad releases). A run still
    waiting for an image no one will send now (a client reported one side only, nothing is
    to be captured) fails saying which, so the release can reach review."""
    with transaction.atomic():
        release = access.release_in(build, name, number, for_update=True)
        if release.status == R.RECEIVING:
            release.transition_to(R.PROCESSING, **caller.audit())
    if release.status == R.PROCESSING:
        fail_pending_runs(release.id, access.Caller(), _nothing_to_come)
    maybe_finish_release(release.id)
    release.refresh_from_db()
    return release


def _nothing_to_come(run: Run) -> str | None:
    """Why a run waiting at runs_done will never get its images, if it will not."""
    if run.status != S.DATA_PENDING or scheduling.pending_captures(run):
        return None
    side = "reference image" if run.image_id else "image"
    return f"no {side} reported (runs_done came before it)"


def maybe_finish_release(release_id: int) -> bool:
    """Move a processing release to reviewing once none of its runs is pending.

    Recomputed from the database each time (no chord callbacks), so it is idempotent and any
    number of workers may call it."""
    with transaction.atomic():
        release = Release.objects.select_for_update().filter(pk=release_id).first()
        if release is None or release.status != R.PROCESSING:
            return False
        if release.runs.filter(status__in=Run.PENDING).exists():
            return False
        release.transition_to(R.REVIEWING, message="all runs finished")
        webhooks.release_event(release)
        transaction.on_commit(lambda: notifications.release_ready(release_id))
    return True


def baseline_run(
    build: Build, run_name: str, branch: str = "", base_branch: str = ""
) -> Run | None:
    """The same-named run with an image in the newest good release of ``branch`` that has
    one, else of ``base_branch`` (both default to the build's main branch, which releases
    without a branch are on): a branch's release marked good is that branch's baseline only.

    Falls back to older good releases when the newest lacks the name (the original did not)."""
    good = Run.objects.filter(
        release__build=build, release__status=R.GOOD, name=run_name, image__isnull=False
    )
    for each in dict.fromkeys((branch or build.main_branch, base_branch or build.main_branch)):
        found = (
            good.filter(on_branch(build, each, "release__"))
            .select_related("release")
            .order_by("-release__created", "-release__id")
            .first()
        )
        if found is not None:
            return found
    return None


def on_branch(build: Build, branch: str, prefix: str = "") -> Q:
    """Releases on ``branch`` (the main branch takes those that name none)."""
    query = Q(**{f"{prefix}branch": branch})
    if branch == build.main_branch:
        query |= Q(**{f"{prefix}branch": ""})
    return query
