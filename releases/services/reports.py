"""What clients say about runs: ``report_run`` (data they captured or diffed themselves) and
``request_run`` (a page for the capture workers), into a release that still takes runs."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction

from .. import access, runstate
from ..models import ARTIFACT_FIELDS, AuditLog, Build, Release, Run
from . import lifecycle, moves, scheduling
from .errors import Rejected

R = Release.Status


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
        release = open_release(build, release_name, release_number)
        run = run_for_update(release, run_name)
        changed = update_run(run, report, artifacts, caller)
        AuditLog.record(
            AuditLog.Action.REPORT_RUN,
            build_id=build.id,
            release=release,
            run=run,
            message=", ".join(sorted(changed)) or "no change",
            **caller.audit(),
        )
    lifecycle.maybe_finish_release(release.id)
    return run


def open_release(build: Build, name: str, number) -> Release:
    """The release, locked, if it still takes runs (receiving or processing)."""
    release = access.release_in(build, name, number, for_update=True)
    if release.status not in (R.RECEIVING, R.PROCESSING):
        raise Rejected(
            f"release {release.name!r} #{release.number} is {release.status}; "
            "it accepts no more runs (create a new attempt)"
        )
    return release


def update_run(run: Run, report: Report, artifacts: dict, caller: access.Caller) -> set[str]:
    """Apply a report to a locked run, recompute its status, queue its diff if it needs one."""
    changed = set()
    for field in ("url", "ref_url"):
        value = report.values.get(field)
        if value and getattr(run, field) != value:
            setattr(run, field, value)
            changed.add(field)
    changed |= moves.set_artifacts(run, artifacts)
    if report.distortion is not None and run.distortion != report.distortion:
        run.distortion = report.distortion
        changed.add("distortion")
    failure = "; ".join(
        f"{label}: {text}"
        for label, text in (("run failed", report.run_failed), ("diff failed", report.diff_failed))
        if text
    )
    moves.set_failure(run, failure, changed)
    event = runstate.FAILED_EVENT if failure else runstate.REPORTED
    moves.move(
        run,
        event,
        changed,
        caller,
        diff_log_reported="diff_log" in changed and bool(run.diff_log_id),
    )
    return changed


def run_for_update(release: Release, name: str) -> Run:
    """The release's run of that name, locked; created if the release may take one more."""
    with contextlib.suppress(access.NotFound):  # else created below
        return access.run_in(release, name, for_update=True)
    if release.runs.count() >= settings.MAX_RUNS_PER_RELEASE:
        raise Rejected(
            f"release {release.name!r} #{release.number} has {settings.MAX_RUNS_PER_RELEASE} "
            "runs, the most a release may have (DPXDT_MAX_RUNS_PER_RELEASE)"
        )
    # Created concurrently (an IntegrityError): the release lock makes this rare.
    with contextlib.suppress(IntegrityError), transaction.atomic():
        Run.objects.create(release=release, name=name)
    return access.run_in(release, name, for_update=True)


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


# The inputs request_run sets on a run, each side's: the URL, the config and its secrets; the
# images, logs and layout maps captured from them go.
_NEW_SIDE = ("url", "config", "config_secrets", "image", "log", "layout")


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
        release = open_release(build, release_name, release_number)
        _check_branches(build, release, branch, base_branch)
        run = run_for_update(release, run_name)
        sides: dict[str, tuple] = {"": (url, config, secrets, None, None, None)}
        if ref_url:
            sides["ref_"] = (ref_url, ref_config, ref_secrets, None, None, None)
        else:
            baseline = lifecycle.baseline_run(build, run_name, release.branch, release.base_branch)
            sides["ref_"] = tuple(
                getattr(baseline, field) if baseline else default
                for field, default in zip(_NEW_SIDE, ("", None, "", None, None, None), strict=True)
            )
        inputs = {f"{prefix}{field}" for prefix in sides for field in _NEW_SIDE}
        for prefix, values in sides.items():
            for field, value in zip(_NEW_SIDE, values, strict=True):
                setattr(run, f"{prefix}{field}", value)
        run.reset_outputs()
        run.failure_reason, run.pipeline_attempts = "", 0
        fields = sorted(inputs | set(Run.OUTPUT_FIELDS) | {"failure_reason", "pipeline_attempts"})
        goal = moves.target(run, runstate.REQUESTED)
        if run.status != goal:
            run.transition_to(goal, fields=fields, message="capture requested", **caller.audit())
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
