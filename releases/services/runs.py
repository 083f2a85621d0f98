"""Runs and the pipeline's state: releases from creation to review, what clients report,
captures and diffs claimed and recorded, failures, the sweeper."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from .. import access, notifications, pipeline, runstate, webhooks
from ..models import ARTIFACT_FIELDS, DIFF_OUTPUT_FIELDS, AuditLog, Build, Lease, Release, Run
from . import scheduling
from .scheduling import LAYOUT_FIELDS, SIDES, pending_captures

logger = logging.getLogger(__name__)

R = Release.Status
S = Run.Status
SYSTEM = access.Caller()


class Rejected(ValueError):
    """A request that is well-formed but not allowed in the current state; the message says why."""


# --- releases -------------------------------------------------------------------------------


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
            _stop(superseded, caller, reason=f"superseded by attempt #{release.number}")
        webhooks.release_event(release)  # a commit status "pending", if the build sends them
    if superseded:
        _fail_pending_runs(
            superseded.id,
            caller,
            lambda run: f"cancelled: release superseded by attempt #{release.number}",
        )
    return release


def _stop(release: Release, caller, *, reason: str) -> None:
    """Mark a locked, unfinished release bad: work still queued for its runs finds it closed and
    does nothing. The caller then fails its pending runs (``_fail_pending_runs``), after the
    release's lock is gone."""
    release.transition_to(R.BAD, message=reason, **caller.audit())
    webhooks.release_event(release)


def _fail_pending_runs(release_id: int, caller, reason_for) -> None:
    """Fail the release's pending runs for which ``reason_for(run)`` gives a reason (None: leave
    it), each in its own transaction, locked the way the workers lock a run (the run, then its
    release): locking runs while holding the release would deadlock against them."""
    pending = Run.objects.filter(release_id=release_id, status__in=Run.PENDING)
    failed = False
    for run_id in list(pending.values_list("id", flat=True)):
        with transaction.atomic():
            run = (
                Run.objects.select_for_update()
                .select_related("release")
                .filter(pk=run_id, status__in=Run.PENDING)
                .first()
            )
            reason = reason_for(run) if run is not None else None
            if reason:
                run.failure_reason = reason
                run.transition_to(
                    S.FAILED, message=reason, fields=["failure_reason"], **caller.audit()
                )
                failed = True
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
        _fail_pending_runs(release.id, access.Caller(), _nothing_to_come)
    maybe_finish_release(release.id)
    release.refresh_from_db()
    return release


def _nothing_to_come(run: Run) -> str | None:
    """Why a run waiting at runs_done will never get its images, if it will not."""
    if run.status != S.DATA_PENDING or pending_captures(run):
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


def run_counts(release: Release) -> dict[str, int]:
    counts = dict.fromkeys(S.values, 0)
    for row in release.runs.values("status").annotate(n=Count("id")):
        counts[row["status"]] = row["n"]
    return counts


# --- runs -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Report:
    """What one report_run call says about a run; empty values say nothing."""

    values: dict  # url, ref_url and the ARTIFACT_FIELDS, as strings
    run_failed: str = ""
    diff_failed: str = ""
    distortion: float | None = None


def report_run(
    caller: access.Caller,
    build: Build,
    *,
    release_name: str,
    release_number,
    run_name: str,
    report: Report,
) -> Run:
    """Record a run's data (dpxdt's report_run) and recompute its status.

    Every artifact named must belong to the build. The status is recomputed from the fields
    after the update; a run that now has both images goes to needs_diff and its diff is queued
    once the transaction commits."""
    artifacts = {
        field: access.artifact_in(build, sha1)
        for field, sha1 in report.values.items()
        if field in ARTIFACT_FIELDS and sha1
    }
    with transaction.atomic():
        release = _open_release(build, release_name, release_number)
        run = _run_for_update(release, run_name)
        changed = _update_run(run, report, artifacts, caller)
        AuditLog.record(
            AuditLog.Action.REPORT_RUN,
            build_id=build.id,
            release=release,
            run=run,
            message=", ".join(sorted(changed)) or "no change",
            **caller.audit(),
        )
    maybe_finish_release(release.id)
    return run


def _open_release(build: Build, name: str, number) -> Release:
    """The release, locked, if it still takes runs (receiving or processing)."""
    release = access.release_in(build, name, number, for_update=True)
    if release.status not in (R.RECEIVING, R.PROCESSING):
        raise Rejected(
            f"release {release.name!r} #{release.number} is {release.status}; "
            "it accepts no more runs (create a new attempt)"
        )
    return release


def _check_branches(build: Build, release: Release, branch: str, base_branch: str) -> None:
    """A request naming branches must name the release's own (set by create_release)."""
    for given, held, what in (
        (branch, release.branch, "branch"),
        (base_branch, release.base_branch, "base branch"),
    ):
        if given and given != (held or build.main_branch):
            raise Rejected(
                f"release {release.name!r} #{release.number} is on {what} "
                f"{held or build.main_branch!r}, not {given!r} (give it to create_release)"
            )


def _update_run(run: Run, report: Report, artifacts: dict, caller: access.Caller) -> set[str]:
    """Apply a report to a locked run, recompute its status, queue its diff if it needs one."""
    changed = _apply_report(run, report, artifacts)
    event = runstate.FAILED_EVENT if report.run_failed or report.diff_failed else runstate.REPORTED
    target = runstate.next_status(
        _facts(run, changed, diff_log_reported="diff_log" in changed and bool(run.diff_log_id)),
        event,
    )
    _move(run, target, changed, caller)
    return changed


def _facts(run: Run, changed: set[str], *, diff_log_reported: bool = False) -> runstate.Facts:
    return runstate.Facts(
        status=run.status,
        has_image=bool(run.image_id),
        has_ref_image=bool(run.ref_image_id),
        identical_images=bool(run.image_id) and run.image_id == run.ref_image_id,
        has_diff_image=bool(run.diff_image_id),
        expects_reference=bool(run.ref_config_id or run.ref_url),
        inputs_changed=bool({"image", "ref_image"} & changed),
        diff_log_reported=diff_log_reported,
    )


def _move(run: Run, target: str, changed: set[str], caller: access.Caller, message=""):
    """Save a locked run's changed fields and move it to ``target`` (its diff queued when it
    needs one)."""
    if run.last_error:  # a step finished: its earlier transient errors are history
        run.last_error = ""
        changed.add("last_error")
    if target == S.DIFF_NOT_FOUND and run.image_id and run.image_id == run.ref_image_id:
        if (run.distortion, run.changed_pixels) != (0.0, 0):  # identical bytes: nothing changed
            run.distortion, run.changed_pixels = 0.0, 0
            changed.update({"distortion", "changed_pixels"})
    if target == S.NEEDS_DIFF:
        run.pipeline_attempts = 0
        changed.add("pipeline_attempts")
    moved = target != run.status
    if moved:
        run.transition_to(target, fields=sorted(changed), message=message, **caller.audit())
    elif changed:
        run.save(update_fields=sorted(changed | {"modified"}))
    if target == S.NEEDS_DIFF and (moved or {"image", "ref_image"} & changed):
        scheduling.want_work(run)  # its diff takes its turn
    elif moved:
        scheduling.dispatch_after_commit(run.release.build_id)  # its slot may be free


def _run_for_update(release: Release, name: str) -> Run:
    try:
        return access.run_in(release, name, for_update=True)
    except access.NotFound:
        pass
    if release.runs.count() >= settings.MAX_RUNS_PER_RELEASE:
        raise Rejected(
            f"release {release.name!r} #{release.number} has {settings.MAX_RUNS_PER_RELEASE} "
            "runs, the most a release may have (DPXDT_MAX_RUNS_PER_RELEASE)"
        )
    try:
        with transaction.atomic():
            Run.objects.create(release=release, name=name)
    except IntegrityError:  # created concurrently; the release lock makes this rare
        pass
    return access.run_in(release, name, for_update=True)


def _apply_report(run: Run, report: Report, artifacts: dict) -> set[str]:
    changed = set()
    for field in ("url", "ref_url"):
        value = report.values.get(field)
        if value and getattr(run, field) != value:
            setattr(run, field, value)
            changed.add(field)
    changed |= _set_artifacts(run, artifacts)
    if report.distortion is not None and run.distortion != report.distortion:
        run.distortion = report.distortion
        changed.add("distortion")
    failure = "; ".join(
        f"{label}: {text}"
        for label, text in (("run failed", report.run_failed), ("diff failed", report.diff_failed))
        if text
    )
    _set_failure(run, failure, changed)
    return changed


def _set_failure(run: Run, failure: str, changed: set[str]) -> None:
    """Record why the run failed; new inputs without a failure clear an old reason."""
    if failure and run.failure_reason != failure:
        run.failure_reason = failure
        changed.add("failure_reason")
    elif not failure and run.failure_reason and changed & {"image", "ref_image"}:
        run.failure_reason = ""
        changed.add("failure_reason")


def _set_artifacts(run: Run, artifacts: dict) -> set[str]:
    """Set a locked run's artifact fields; new inputs make its earlier diff stale."""
    changed = set()
    for field, artifact in artifacts.items():
        if getattr(run, f"{field}_id") != artifact.sha1:
            setattr(run, field, artifact)
            changed.add(field)
    if {"image", "ref_image"} & changed and "diff_image" not in changed:
        # New inputs make any earlier diff, and the recapture of the old page, stale.
        for field in DIFF_OUTPUT_FIELDS:
            if getattr(run, f"{field}_id"):
                setattr(run, field, None)
                changed.add(field)
        for field in ("summary", "cause_key"):
            if getattr(run, field):
                setattr(run, field, "")
                changed.add(field)
        if run.causes is not None:
            run.causes = None
            changed.add("causes")
        for field in ("distortion", "changed_pixels", "noise_pixels"):
            if getattr(run, field) is not None:
                setattr(run, field, None)
                changed.add(field)
        if run.recapture:
            run.recapture = Run.Recapture.NONE
            changed.add("recapture")
        if run.size_changed:
            run.size_changed = False
            changed.add("size_changed")
    return changed


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


# --- captures (called by capture.services) --------------------------------------------------


def request_run(
    caller: access.Caller,
    build: Build,
    *,
    release_name: str,
    release_number,
    run_name: str,
    url: str,
    config,
    ref_url: str = "",
    ref_config=None,
    secrets: str = "",
    ref_secrets: str = "",
    branch: str = "",
    base_branch: str = "",
) -> Run:
    """Ask for the run to be captured (dpxdt's request_run); ``config`` and ``ref_config`` are
    stored config Artifacts (secrets masked), ``secrets`` and ``ref_secrets`` their secret
    parts, encrypted. Without a reference, the baseline is the same-named run of the newest
    good release. Requesting a run again captures it again."""
    with transaction.atomic():
        release = _open_release(build, release_name, release_number)
        _check_branches(build, release, branch, base_branch)
        run = _run_for_update(release, run_name)
        run.url, run.config, run.image, run.log, run.layout = url, config, None, None, None
        run.config_secrets = secrets
        if ref_url:
            run.ref_url, run.ref_config, run.ref_image, run.ref_log, run.ref_layout = (
                ref_url,
                ref_config,
                None,
                None,
                None,
            )
            run.ref_config_secrets = ref_secrets
        else:
            baseline = baseline_run(build, run_name, release.branch, release.base_branch)
            run.ref_url = baseline.url if baseline else ""
            for field in ("ref_config", "ref_image", "ref_log", "ref_layout"):
                setattr(run, field, getattr(baseline, field[4:]) if baseline else None)
            run.ref_config_secrets = baseline.config_secrets if baseline else ""
        run.distortion = run.changed_pixels = run.noise_pixels = run.causes = None
        for field in DIFF_OUTPUT_FIELDS:
            setattr(run, field, None)
        run.summary = run.cause_key = ""
        run.recapture = Run.Recapture.NONE
        run.size_changed, run.failure_reason, run.pipeline_attempts = False, "", 0
        fields = [
            *DIFF_OUTPUT_FIELDS,
            "layout",
            "ref_layout",
            "summary",
            "causes",
            "cause_key",
            "config_secrets",
            "ref_config_secrets",
            "noise_pixels",
            "recapture",
            "url",
            "config",
            "image",
            "log",
            "ref_url",
            "ref_config",
            "ref_image",
            "ref_log",
            "distortion",
            "changed_pixels",
            "size_changed",
            "failure_reason",
            "pipeline_attempts",
        ]
        if run.status != S.DATA_PENDING:
            run.transition_to(
                S.DATA_PENDING, fields=fields, message="capture requested", **caller.audit()
            )
        else:
            run.save(update_fields=[*fields, "modified"])
        AuditLog.record(
            AuditLog.Action.REQUEST_RUN,
            build_id=build.id,
            release=release,
            run=run,
            message=f"{url}" + (f" against {ref_url}" if ref_url else ""),
            **caller.audit(),
        )
        scheduling.want_work(run)
    return run


def wants_recapture(run: Run) -> bool:
    """Whether a diff that found a difference should first capture the page again: the run
    was captured here (it has a config and a URL), the build recaptures, none was taken yet."""
    return scheduling.recapture_possible(run, run.release.build.recaptures)


def wants_layout_recheck(run: Run) -> bool:
    """Whether a diff whose difference the page's elements explain should first have the page
    loaded again for its layout map alone (cheaper than a second screenshot)."""
    return scheduling.layout_recheck_possible(run, run.release.build.recaptures)


def _diffed_inputs_current(run: Run, image_sha1: str, ref_sha1: str) -> bool:
    """Whether a locked run still waits for the diff of these two images (not new inputs, not
    failed, not in a closed release)."""
    return (
        run.status == S.NEEDS_DIFF
        and run.image_id == image_sha1
        and run.ref_image_id == ref_sha1
        and not run.release.is_closed
    )


def request_recapture(
    run_id: int, *, image_sha1: str, ref_sha1: str, layout_only: bool = False
) -> bool:
    """Send the run back to capture its page once more (the diff found a difference and wants
    to know whether the page differs from itself); ``layout_only``: its layout map alone, no
    screenshot (the page's elements explain the difference). False if the run moved on
    meanwhile."""
    with transaction.atomic():
        run = Run.objects.select_for_update().select_related("release__build").get(pk=run_id)
        wanted = wants_layout_recheck(run) if layout_only else wants_recapture(run)
        if not _diffed_inputs_current(run, image_sha1, ref_sha1) or not wanted:
            return False
        run.recapture = Run.Recapture.LAYOUT if layout_only else Run.Recapture.WANTED
        run.pipeline_attempts = 0
        run.transition_to(
            S.DATA_PENDING,
            message=(
                "its elements differ from the baseline: loading it again"
                if layout_only
                else "differs from the baseline: capturing again"
            ),
            fields=["recapture", "pipeline_attempts"],
        )
        scheduling.want_work(run)
    return True


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


def claim_for_capture(run_id: int, side: str) -> CaptureClaim | None:
    """Start capturing one side of a run, if it still waits for that capture."""
    url_field, config_field, _, _ = SIDES[side]
    with transaction.atomic():
        run = (
            Run.objects.select_for_update()
            .select_related("release__build")
            .filter(pk=run_id)
            .first()
        )
        if (
            run is None
            or run.status != S.DATA_PENDING
            or run.release.is_closed
            or side not in pending_captures(run)
        ):
            return None
        # Both sides of a pair count against one budget.
        limit = settings.MAX_PIPELINE_ATTEMPTS * len(pending_captures(run))
        if not scheduling.take_lease(run, side):
            return None  # another worker is capturing it
        if run.pipeline_attempts >= limit:
            _fail(run, _out_of_attempts(run, "capture"))
            claim = None
        else:
            _count_attempt(run)
            claim = CaptureClaim(
                run,
                getattr(run, url_field),
                getattr(run, f"{config_field}_id"),
                getattr(run, SECRET_FIELDS[side]),
            )
    if claim is None:
        maybe_finish_release(run.release_id)
    return claim


def record_capture(
    claim: CaptureClaim,
    side: str,
    *,
    image=None,
    log=None,
    layout=None,
    failure: str = "",
    thumbnail=None,
) -> Run | None:
    """Record a capture's screenshot (or its failure), unless the run was requested anew
    meanwhile; then recompute the run's status as report_run does."""
    url_field, config_field, image_field, log_field = SIDES[side]
    with transaction.atomic():
        run = Run.objects.select_for_update().select_related("release__build").get(pk=claim.run.pk)
        if (
            run.status != S.DATA_PENDING
            or run.release.is_closed
            or getattr(run, url_field) != claim.url
            or getattr(run, f"{config_field}_id") != claim.config_sha1
        ):
            logger.info("run %s changed while it was captured; result dropped", run.pk)
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
            # A recapture that fails costs the run nothing: it is diffed without a noise check.
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
                S.NEEDS_DIFF,
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
            return run
        label = "capture failed" + (" (reference)" if side == "ref" else "")
        changed = _set_artifacts(run, artifacts)
        if thumbnail is not None and side == "run":
            run.thumbnail = thumbnail
            changed.add("thumbnail")
        _set_failure(run, f"{label}: {failure}" if failure else "", changed)
        event = runstate.FAILED_EVENT if failure else runstate.CAPTURED
        _move(run, runstate.next_status(_facts(run, changed), event), changed, SYSTEM)
        logger.info("run %s %s capture recorded: %s", run.pk, side, ", ".join(sorted(changed)))
    maybe_finish_release(run.release_id)
    return run


# --- the diff step (called by pdiff.services) ------------------------------------------------


def claim_for_diff(run_id: int) -> Run | None:
    """Start a diff attempt: the run, if it still needs a diff and has attempts left.

    A run out of attempts (a message redelivered after its worker died, again and again) is
    failed here, so a poison input ends the run instead of looping."""
    with transaction.atomic():
        run = (
            Run.objects.select_for_update()
            .select_related("release__build")
            .filter(pk=run_id)
            .first()
        )
        if run is None or run.status != S.NEEDS_DIFF or run.release.is_closed:
            return None
        if not scheduling.take_lease(run, "diff"):
            return None  # another worker is diffing it
        if run.pipeline_attempts >= settings.MAX_PIPELINE_ATTEMPTS:
            _fail(run, _out_of_attempts(run, "diff"))
            claimed = None
        else:
            _count_attempt(run)
            claimed = run
    if claimed is None:
        maybe_finish_release(run.release_id)
    return claimed


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
        run = Run.objects.select_for_update().select_related("release__build").get(pk=run_id)
        if not _diffed_inputs_current(run, image_sha1, ref_sha1):
            logger.info("run %s moved on while it was diffed; result dropped", run_id)
            return None
        found = not result.within(tolerance)
        noisy = bool(noise or result.noise_causes)
        status = S.DIFF_FOUND if found else S.FLAKY if noisy else S.DIFF_NOT_FOUND
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
            fields=[
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
            ],
        )
        scheduling.dispatch_after_commit(run.release.build_id)
    maybe_finish_release(run.release_id)
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


def _count_attempt(run: Run) -> None:
    """A claimed step is an attempt at the run, unless it is a retry after a transient error."""
    if not scheduling.is_retry():
        Run.objects.filter(pk=run.pk).update(
            pipeline_attempts=F("pipeline_attempts") + 1, modified=timezone.now()
        )


def _out_of_attempts(run: Run, step: str) -> str:
    reason = f"{step} did not finish after {run.pipeline_attempts} attempts"
    return f"{reason}; the last error: {run.last_error}" if run.last_error else reason


def note_transient_error(run_id: int, error: str) -> None:
    """A step hit a transient error and will be retried (a retry does not count against the
    run's attempts: ``scheduling.is_retry``): the error is kept as the reason to give should
    the run run out of attempts after all."""
    Run.objects.filter(pk=run_id).update(last_error=error[:2000], modified=timezone.now())


def fail_run(run_id: int, reason: str) -> None:
    """End a pending run as failed with a readable reason; the release can then finish."""
    with transaction.atomic():
        run = Run.objects.select_for_update().select_related("release").filter(pk=run_id).first()
        if run is None or run.status not in Run.PENDING:
            return
        _fail(run, reason)
    maybe_finish_release(run.release_id)


def _fail(run: Run, reason: str) -> None:
    run.failure_reason = reason
    run.transition_to(S.FAILED, message=reason, fields=["failure_reason"])
    scheduling.dispatch_after_commit(run.release.build_id)


def sweep_stuck_runs(now=None) -> dict[str, int]:
    """Hand work that was lost to the workers again, and send work waiting for its turn:

    - steps whose lease expired (their worker died: killed, out of memory, its host gone);
    - all work sent and not taken, when the broker lost its messages (a restart);
    - work sent more than ``STUCK_RUN_SECONDS`` ago that no worker holds (a message lost
      some other way), the last resort.

    A run out of attempts fails instead. Runs every ``SWEEP_SECONDS`` (Celery beat)."""
    now = now or timezone.now()
    lost = set()
    expired = Lease.objects.filter(until__lt=now)
    lost.update(expired.values_list("run_id", flat=True))
    expired.delete()
    queued = Run.objects.filter(status__in=Run.PENDING, queued_at__isnull=False)
    try:
        broker_lost = pipeline.broker_lost_messages()
    except pipeline.BROKER_ERRORS as exc:
        logger.warning("sweeper: the broker is unreachable (%s); checking it next time", exc)
        broker_lost = False
    stale = (
        queued
        if broker_lost
        else queued.filter(queued_at__lt=now - timedelta(seconds=settings.STUCK_RUN_SECONDS))
    )
    lost.update(scheduling.unheld(stale, now).values_list("id", flat=True)[:10000])
    requeued = failed = 0
    for run_id in sorted(lost):
        with transaction.atomic():
            run = (
                Run.objects.select_for_update()
                .select_related("release")
                .filter(pk=run_id, status__in=Run.PENDING, release__status__in=scheduling.OPEN)
                .first()
            )
            if run is None:
                continue
            sides = pending_captures(run) if run.status == S.DATA_PENDING else []
            if run.status == S.DATA_PENDING and not sides:
                continue  # waiting for a client's report_run, not for a worker
            limit = settings.MAX_PIPELINE_ATTEMPTS * max(1, len(sides))
            if run.pipeline_attempts >= limit:
                _fail(run, _out_of_attempts(run, "capture" if sides else "diff"))
                failed += 1
            else:
                Run.objects.filter(pk=run.pk).update(queued_at=None)
                requeued += 1
        if run.status == S.FAILED:
            maybe_finish_release(run.release_id)
    sent = sum(scheduling.dispatch(build_id) for build_id in scheduling.builds_waiting())
    if requeued or failed:
        logger.warning(
            "sweeper: %d runs lost their work and were sent again, %d failed", requeued, failed
        )
    return {"requeued": requeued, "failed": failed, "sent": sent}
