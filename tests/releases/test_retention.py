"""Retention on real storage: a build with 1,000 generated releases on the file system store
and on S3 (moto's server), collected as the daily task does; baselines, releases in review,
pinned ones and artifacts another build needs survive, and every remaining run's artifacts
are still there."""

import hashlib
import io
import os
import signal
import subprocess
import sys
import threading
from datetime import timedelta

import pytest
from django.utils import timezone

from artifacts import storage
from artifacts.models import Artifact, ArtifactDeletion
from releases import access, services
from releases.models import ApiKey, AuditLog, Build, Release, Run
from releases.services import retention
from tests.artifacts.test_s3_storage import s3, s3_endpoint  # noqa: F401 - fixtures
from tests.conftest import ROOT, Api, KeyedBuild, child_database_url, wait_for

RELEASES = 1000
REVIEWING = (5, 6)
PINNED = 10
ONLY_OLD = 4  # the one good release with a run named /only-old: its baseline


def image_bytes(i: int) -> bytes:
    return f"screenshot of release {i} ".encode() * 50


def status_of(i: int) -> str:
    if i in REVIEWING:
        return Release.Status.REVIEWING
    return Release.Status.BAD if i % 3 == 0 else Release.Status.GOOD


def store(build, data):
    return services.store_artifact_for(build, data, "image/png")


def generate(build: Build, other: Build):
    """Release i was made 999 - i days ago; each has /home (its own screenshot) and /shared
    (the same bytes in every release); release 4 alone has /only-old. Release 0's screenshot
    is also the other build's."""
    now = timezone.now()
    shared = store(build, b"the same page every day " * 40)
    releases = Release.objects.bulk_create(
        Release(build=build, name=f"r{i}", number=1, status=status_of(i), pinned=i == PINNED)
        for i in range(RELEASES)
    )
    runs = []
    for i, release in enumerate(releases):
        home = store(build, image_bytes(i))
        runs.append(Run(release=release, name="/home", status="diff_not_found", image=home))
        runs.append(Run(release=release, name="/shared", status="diff_not_found", image=shared))
        if i == ONLY_OLD:
            runs.append(Run(release=release, name="/only-old", status="diff_found", image=home))
    Run.objects.bulk_create(runs)
    for i, release in enumerate(releases):
        Release.objects.filter(pk=release.pk).update(created=now - timedelta(days=999 - i))
    old = Release.objects.create(build=other, name="b1", number=1, status="good")
    Run.objects.create(
        release=old, name="/x", status="no_diff_needed", image=store(other, image_bytes(0))
    )
    # Everything was stored long ago, as far as the grace period is concerned.
    Artifact.objects.update(stored_at=now - timedelta(days=1000))
    return releases


def expected_collected(releases) -> set[int]:
    newest = set(range(RELEASES - 20, RELEASES))
    return {
        release.id
        for i, release in enumerate(releases)
        if 999 - i >= 90
        and i not in newest
        and i not in REVIEWING
        and i != PINNED
        and i != ONLY_OLD
    }


def download(api, build_id, sha1) -> bytes:
    response = api.get("download", {"build_id": build_id, "sha1sum": sha1})
    assert response.status_code == 200, (sha1, response.status_code)
    return b"".join(response.streaming_content)


@pytest.fixture
def two_builds(keyed):
    other = services.create_build(name="blog")
    return keyed.build, other


def check_collection(api, keyed, two_builds):
    build, other = two_builds
    releases = generate(build, other)
    collected = expected_collected(releases)
    freed_sizes = [len(image_bytes(i)) for i, r in enumerate(releases) if r.id in collected and i]
    reviewing_before = {
        r.id: list(r.runs.values_list("image_id", flat=True))
        for r in Release.objects.filter(status="reviewing")
    }

    estimate = retention.collect(build, dry_run=True)
    assert Release.objects.filter(build=build).count() == RELEASES  # the dry run changed nothing
    [done, other_done] = retention.collect_all()

    assert set(done.release_ids) == collected and done.releases == len(collected)
    assert done.runs == 2 * len(collected)
    assert done.artifacts == len(freed_sizes) and done.bytes == sum(freed_sizes)
    assert (estimate.releases, estimate.runs, estimate.artifacts, estimate.bytes) == (
        done.releases,
        done.runs,
        done.artifacts,
        done.bytes,
    )
    assert other_done.releases == 0
    left = set(Release.objects.filter(build=build).values_list("id", flat=True))
    assert left == {r.id for r in releases} - collected
    assert {
        r.id: list(r.runs.values_list("image_id", flat=True))
        for r in Release.objects.filter(status="reviewing")
    } == reviewing_before
    assert Release.objects.filter(pk=releases[PINNED].pk).exists()

    # Every run name still answers find_run, and its image downloads with its SHA-1.
    for name in ("/home", "/shared", "/only-old"):
        found = api.post("find_run", {"build_id": build.id, "run_name": name})
        assert found.status_code == 200, found.content
        sha1 = found.json()["image"]
        assert hashlib.sha1(download(api, build.id, sha1)).hexdigest() == sha1
    # The other build's screenshot (release 0's too) is kept; the rest of release 0 is gone.
    other_key, other_secret = ApiKey.create(build=other, purpose="t")
    other_api = Api(api.client, KeyedBuild(other, other_key.id, other_secret))
    kept = hashlib.sha1(image_bytes(0)).hexdigest()
    assert download(other_api, other.id, kept) == image_bytes(0)
    assert not build.artifacts.filter(sha1=kept).exists()  # the build no longer owns it
    gone = hashlib.sha1(image_bytes(1)).hexdigest()
    assert not Artifact.objects.filter(sha1=gone).exists()
    assert not storage.backend().exists(storage.key_for(gone))
    # No remaining row points at a missing artifact.
    for row in Run.objects.values_list(*(f"{n}_id" for n in retention.RUN_ARTIFACTS)):
        for sha1 in filter(None, row):
            assert storage.backend().exists(storage.key_for(sha1)), sha1
    entry = AuditLog.objects.get(build=build, action=AuditLog.Action.COLLECTED)
    assert entry.message == done.sentence()
    assert entry.message.startswith(
        f"{len(collected)} releases ({2 * len(collected)} runs); "
        f"{done.artifacts} artifacts deleted, "
    )
    assert retention.collect(build).releases == 0  # nothing more to do


@pytest.mark.django_db
def test_a_thousand_releases_collected_on_the_file_system(api, keyed, two_builds):
    check_collection(api, keyed, two_builds)


@pytest.mark.e2e
@pytest.mark.django_db
def test_a_thousand_releases_collected_on_s3(api, keyed, two_builds, s3):  # noqa: F811
    check_collection(api, keyed, two_builds)
    assert s3.list_objects_v2(Bucket="dpxdt-artifacts")["KeyCount"] < 200


def old_release(build, data, *, name="r1", days=200):
    release = Release.objects.create(build=build, name=name, number=1, status="bad")
    run = Run.objects.create(
        release=release, name="/p", status="diff_found", image=store(build, data)
    )
    Release.objects.filter(pk=release.pk).update(created=timezone.now() - timedelta(days=days))
    Artifact.objects.filter(sha1=run.image_id).update(
        stored_at=timezone.now() - timedelta(days=days)
    )
    return release, run.image_id


@pytest.fixture
def keep_nothing(keyed):
    services.update_settings(access.Caller(), keyed.build, keep_days=0, keep_releases=0)
    return keyed.build


@pytest.mark.django_db
def test_two_builds_sharing_an_artifact_keep_it_while_either_needs_it(keep_nothing):
    build = keep_nothing
    other = services.create_build(name="other")
    services.update_settings(access.Caller(), other, keep_days=0, keep_releases=0)
    _, sha1 = old_release(build, b"shared bytes")
    old_release(other, b"shared bytes")
    assert retention.collect(build).artifacts == 0
    assert storage.read_bytes(sha1) == b"shared bytes"
    assert list(Artifact.objects.get(sha1=sha1).owners.all()) == [other]
    done = retention.collect(other)
    assert (done.releases, done.artifacts, done.bytes) == (1, 1, len(b"shared bytes"))
    assert not storage.backend().exists(storage.key_for(sha1))


@pytest.mark.django_db
def test_an_upload_made_before_the_collection_locks_it_is_kept(keep_nothing):
    build = keep_nothing
    _, sha1 = old_release(build, b"uploaded again")
    again = io.BytesIO(b"uploaded again")
    services.upload(access.Caller(), build, again, filename="shot.png")  # fresh again, owned
    assert retention.collect(build).artifacts == 0
    assert storage.read_bytes(sha1) == b"uploaded again"
    assert build.artifacts.filter(sha1=sha1).exists()  # report_run may still use it


@pytest.mark.django_db(transaction=True)
def test_an_upload_racing_the_deletion_of_its_bytes_survives(keep_nothing, monkeypatch):
    """The collection has deleted the row and is deleting the bytes (held here) when the
    same bytes are uploaded: the upload waits for the deletion, then writes them again."""
    build = keep_nothing
    _, sha1 = old_release(build, b"racing bytes")
    backend = storage.backend()
    deleting, go_on = threading.Event(), threading.Event()
    real_delete = type(backend).delete

    def slow_delete(self, name):
        deleting.set()
        assert go_on.wait(10)
        real_delete(self, name)

    monkeypatch.setattr(type(backend), "delete", slow_delete)
    collector = threading.Thread(target=retention.collect, args=(build,))
    collector.start()
    assert deleting.wait(10)
    assert ArtifactDeletion.objects.filter(sha1=sha1).exists()
    uploaded = []
    uploader = threading.Thread(
        target=lambda: uploaded.append(storage.store_bytes(b"racing bytes", "image/png"))
    )
    uploader.start()
    uploader.join(0.5)
    assert uploader.is_alive()  # waiting for the deletion
    go_on.set()
    collector.join(10)
    uploader.join(10)
    assert uploaded and uploaded[0].artifact.sha1 == sha1
    assert Artifact.objects.filter(sha1=sha1).exists()
    assert storage.read_bytes(sha1) == b"racing bytes"
    assert not ArtifactDeletion.objects.exists()


@pytest.mark.django_db
def test_a_deletion_left_half_done_is_finished(keyed):
    """A collection killed after deleting a row and before its bytes: the mark stays; once
    stale, the next collection deletes the bytes, or an upload of them takes over."""
    orphan = storage.store_bytes(b"orphan bytes", "image/png").artifact
    sha1 = orphan.sha1
    orphan.delete()
    ArtifactDeletion.objects.create(sha1=sha1)
    assert storage.finish_interrupted() == 0  # not stale yet: perhaps still running
    ArtifactDeletion.objects.update(started=timezone.now() - timedelta(hours=1))
    assert storage.finish_interrupted() == 1
    assert not storage.backend().exists(storage.key_for(sha1))

    ArtifactDeletion.objects.create(sha1=sha1)
    ArtifactDeletion.objects.update(started=timezone.now() - timedelta(hours=1))
    assert storage.store_bytes(b"orphan bytes", "image/png").created
    assert storage.read_bytes(sha1) == b"orphan bytes" and not ArtifactDeletion.objects.exists()


@pytest.mark.django_db
def test_pinned_reviewing_and_baseline_releases_are_never_collected(keep_nothing, client):
    build = keep_nothing
    pinned, _ = old_release(build, b"pinned", name="pinned")
    reviewing, _ = old_release(build, b"reviewing", name="reviewing")
    Release.objects.filter(pk=reviewing.pk).update(status="reviewing")
    baseline, _ = old_release(build, b"baseline", name="baseline", days=300)
    Release.objects.filter(pk=baseline.pk).update(status="good")
    services.pin_release(access.Caller(), pinned, True)
    done = retention.collect(build)
    assert done.releases == 0 and done.kept_baselines == 1
    assert Release.objects.filter(build=build).count() == 3
    services.pin_release(access.Caller(), pinned, False)
    assert retention.collect(build).releases == 1


@pytest.mark.django_db(transaction=True)
def test_the_database_refuses_to_delete_an_artifact_a_run_still_names(keep_nothing):
    """Should the check of what refers to an artifact ever be wrong, the foreign keys are the
    last word: nothing is deleted, neither the row nor the bytes."""
    _, sha1 = old_release(keep_nothing, b"still named")
    assert storage.forget(sha1, timezone.now(), lambda artifact: False) is None
    assert Artifact.objects.filter(sha1=sha1).exists()
    assert storage.read_bytes(sha1) == b"still named" and not ArtifactDeletion.objects.exists()


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_a_collection_killed_midway_leaves_no_row_without_its_bytes(two_builds):
    """``manage.py dpxdt_gc`` SIGKILLed while it collects: whole releases are gone or there,
    every row names bytes that exist; the next collection finishes the job."""
    build, other = two_builds
    releases = generate(build, other)
    env = {**os.environ, "DATABASE_URL": child_database_url()}
    process = subprocess.Popen(
        [sys.executable, "manage.py", "dpxdt_gc"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(
            lambda: Release.objects.filter(build=build).count() < RELEASES - 300,
            timeout=120,
            interval=0.02,
            message="the collection to get going",
        )
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    assert process.returncode == -signal.SIGKILL  # killed, not finished
    left = Release.objects.filter(build=build).count()
    assert 0 < RELEASES - left < RELEASES
    for release in Release.objects.filter(build=build):
        assert release.runs.count() == (3 if release.name == f"r{ONLY_OLD}" else 2)
    for sha1 in Artifact.objects.values_list("sha1", flat=True):
        assert storage.backend().exists(storage.key_for(sha1)), sha1
    retention.collect_all()
    remaining = set(Release.objects.filter(build=build).values_list("id", flat=True))
    assert remaining == {r.id for r in releases} - expected_collected(releases)
    for sha1 in Artifact.objects.values_list("sha1", flat=True):
        assert storage.backend().exists(storage.key_for(sha1)), sha1
    # What the killed run left owned but unused was found and deleted by the next one.
    for i, release in enumerate(releases):
        if release.id not in remaining and i:
            assert not Artifact.objects.filter(sha1=hashlib.sha1(image_bytes(i)).hexdigest())


@pytest.mark.django_db
def test_the_daily_task_collects_and_reports_in_plain_values(keep_nothing):
    import json

    from releases.tasks import collect_old_releases

    old_release(keep_nothing, b"daily")
    [report] = collect_old_releases()
    assert json.loads(json.dumps(report)) == report  # what a worker can log or return
    assert (report["releases"], report["artifacts"], report["release_ids"]) == (1, 1, 1)


@pytest.mark.django_db
def test_each_branchs_baseline_is_kept(keep_nothing):
    """A feature branch's newer good release does not make main's baseline collectable."""
    build = keep_nothing
    main, _ = old_release(build, b"main's", name="main-1", days=300)
    feature, _ = old_release(build, b"feature's", name="pr-1", days=200)
    Release.objects.filter(pk__in=[main.pk, feature.pk]).update(status="good")
    Release.objects.filter(pk=feature.pk).update(branch="feature")
    done = retention.collect(build)
    assert done.releases == 0 and done.kept_baselines == 2
