"""Retention: old releases collected, their artifacts deleted once nothing needs them.

A build's releases older than its ``keep_days`` that are not among its newest
``keep_releases`` are collected (blank: DPXDT_KEEP_DAYS, DPXDT_KEEP_RELEASES; 0 days: any
age), **except** a release holding the current baseline of any run name (the newest good run
of that name with an image: what ``find_run`` and the next release compare with), one still
receiving, processing or in review, and one an owner pinned.

Artifacts are content-addressed and shared between builds. When a release is collected, its
build stops owning each artifact no other run of the build refers to, and an artifact that no
build owns and no run of any build refers to is deleted (``artifacts.storage.forget``: the row,
then the bytes), each under its row's lock, so an upload of the same bytes in the meantime wins:
it makes the artifact fresh again (a grace period, DPXDT_GC_GRACE_SECONDS, protects what was
stored recently, such as an upload whose ``report_run`` has not come yet).

Each release is collected in its own transaction (its runs, then the release), so a process
killed midway leaves whole releases and no run pointing at a missing artifact. Run by the daily
beat task and by ``manage.py dpxdt_gc``; each collection is written to the build's activity.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q, Sum
from django.template.defaultfilters import filesizeformat
from django.utils import timezone

from artifacts import storage
from artifacts.models import Artifact

from ..models import AuditLog, Build, Release, Run

logger = logging.getLogger(__name__)
R = Release.Status
# Every column of a run that names an artifact.
RUN_ARTIFACTS = tuple(
    f.name for f in Run._meta.get_fields() if f.many_to_one and f.related_model is Artifact
)
LIVE = (R.RECEIVING, R.PROCESSING, R.REVIEWING)
CHUNK = 500  # ids per IN (...) list: SQLite allows 999 parameters in some builds


@dataclass
class Collection:
    """What one collection did (or, dry, would do) for one build."""

    build_id: int
    releases: int = 0
    runs: int = 0
    artifacts: int = 0
    bytes: int = 0
    kept_baselines: int = 0  # releases past the policy kept for their baselines
    release_ids: list = field(default_factory=list)

    def sentence(self) -> str:
        """The activity log's words (after its "collected old releases")."""
        freed = filesizeformat(self.bytes).replace("\xa0", " ")
        return (
            f"{self.releases} releases ({self.runs} runs); {self.artifacts} artifacts "
            f"deleted, {freed} freed"
        )


def policy_of(build: Build) -> tuple[int, int]:
    """(keep_days, keep_releases) of a build: its own, else the server's."""
    days = settings.KEEP_DAYS if build.keep_days is None else build.keep_days
    count = settings.KEEP_RELEASES if build.keep_releases is None else build.keep_releases
    return days, count


def baseline_release_ids(build: Build) -> set[int]:
    """The releases holding a current baseline: per branch and run name, the newest good
    release's run with an image (the order ``runs.baseline_run`` reads them in; releases
    without a branch are on the main branch)."""
    rows = (
        Run.objects.filter(release__build=build, release__status=R.GOOD, image__isnull=False)
        .order_by("name", "-release__created", "-release__id")
        .values_list("release__branch", "name", "release_id")
    )
    held, seen = set(), set()
    for branch, name, release_id in rows.iterator():
        key = (branch or build.main_branch, name)
        if key not in seen:
            seen.add(key)
            held.add(release_id)
    return held


def collectable(build: Build, now=None) -> tuple[list[int], int]:
    """The ids of the releases the policy collects now, and how many it keeps for their
    baselines alone."""
    now = now or timezone.now()
    days, count = policy_of(build)
    newest = list(build.releases.order_by("-created", "-id").values_list("id", flat=True)[:count])
    past = (
        build.releases.filter(created__lte=now - timedelta(days=days), pinned=False)
        .exclude(id__in=newest)
        .exclude(status__in=LIVE)
        .order_by("created", "id")
        .values_list("id", flat=True)
    )
    held = baseline_release_ids(build)
    ids = list(past)
    return [i for i in ids if i not in held], sum(1 for i in ids if i in held)


def _artifacts_of(runs) -> set[str]:
    found: set[str] = set()
    for row in runs.values_list(*(f"{name}_id" for name in RUN_ARTIFACTS)).iterator():
        found.update(sha1 for sha1 in row if sha1)
    return found


def _referring_runs(sha1: str):
    query = Q()
    for name in RUN_ARTIFACTS:
        query |= Q(**{f"{name}_id": sha1})
    return Run.objects.filter(query)


def _stale(build: Build, stored_before, runs=None) -> set[str]:
    """What the build owns and none of ``runs`` (default: all of its runs) refers to, not
    stored since ``stored_before``: what its collected releases left, and uploads never
    reported (found again by every collection, so one killed midway leaves nothing behind for
    good)."""
    owned = set(
        build.artifacts.filter(
            Q(stored_at__lt=stored_before) | Q(stored_at__isnull=True, created__lt=stored_before)
        ).values_list("sha1", flat=True)
    )
    if runs is None:
        runs = Run.objects.filter(release__build=build)
    return owned - _artifacts_of(runs)


def collect(build: Build, *, dry_run: bool = False, now=None) -> Collection:
    """Collect what the policy says for one build (see the module docstring)."""
    now = now or timezone.now()
    ids, kept = collectable(build, now)
    result = Collection(build.id, kept_baselines=kept, release_ids=ids)
    stored_before = now - timedelta(seconds=settings.GC_GRACE_SECONDS)
    if dry_run:
        return _estimate(build, ids, result, stored_before)
    for release_id in ids:
        with transaction.atomic():
            release = Release.objects.select_for_update().filter(pk=release_id).first()
            if release is None or release.status in LIVE or release.pinned:
                continue  # gone, reopened or pinned since the list was made
            result.runs += Run.objects.filter(release_id=release_id).count()
            release.delete()  # its runs, leases and release-level entries with it
            result.releases += 1
    for sha1 in sorted(_stale(build, stored_before)):
        freed = storage.forget(sha1, stored_before, lambda a: _still_needed(a, build))
        if freed is not None:
            result.artifacts += 1
            result.bytes += freed
    if result.releases or result.artifacts:
        AuditLog.record(AuditLog.Action.COLLECTED, build_id=build.id, message=result.sentence())
        logger.info("build %s: collected %s", build.id, result.sentence())
    return result


def _still_needed(artifact: Artifact, build: Build) -> bool:
    """Under the artifact's lock: ``build`` stops owning it if none of its runs refers to it;
    True while any run of any build refers to it or any build still owns it."""
    refs = _referring_runs(artifact.sha1)
    if not refs.filter(release__build=build).exists():
        build.artifacts.remove(artifact)
        build.artifact_labels.filter(artifact=artifact).delete()
    return refs.exists() or artifact.owners.exists()


def _estimate(build: Build, ids: list[int], result: Collection, stored_before) -> Collection:
    """What collecting ``ids`` would free, nothing changed: what the build would own with no
    run of its own referring to it, stale, and owned by no other build."""
    result.releases = len(ids)
    result.runs = Run.objects.filter(release_id__in=ids).count() if ids else 0
    remaining = Run.objects.filter(release__build=build).exclude(release_id__in=ids)
    candidates = sorted(_stale(build, stored_before, remaining))
    owners = Build.artifacts.through.objects
    freed: list[int] = []
    for start in range(0, len(candidates), CHUNK):
        chunk = candidates[start : start + CHUNK]
        shared = set(
            owners.filter(artifact_id__in=chunk)
            .exclude(build_id=build.id)
            .values_list("artifact_id", flat=True)
        )
        freed += Artifact.objects.filter(sha1__in=set(chunk) - shared).values_list(
            "size", flat=True
        )
    result.artifacts, result.bytes = len(freed), sum(freed)
    return result


def storage_of(build: Build) -> int:
    """The bytes of every artifact the build owns (shared ones counted in full)."""
    return build.artifacts.aggregate(total=Sum("size"))["total"] or 0


def collect_all(*, build_id: int | None = None, dry_run: bool = False) -> list[Collection]:
    """Every build's collection (or one build's); interrupted deletions finished first."""
    if not dry_run:
        storage.finish_interrupted()
    builds = Build.objects.order_by("id")
    if build_id is not None:
        builds = builds.filter(pk=build_id)
    return [collect(build, dry_run=dry_run) for build in builds]
