"""The retry policy every pipeline task shares (releases.tasks.run_step). The tasks themselves
run in real worker processes in tests/e2e."""

import pytest
from celery.exceptions import Retry, SoftTimeLimitExceeded
from django.conf import settings

from releases import services
from releases.models import Release, Run
from releases.tasks import run_step


class Transient(Exception):
    pass


class FakeTask:
    def __init__(self, retries):
        self.request = type("Request", (), {"retries": retries})()
        self.retried = None

    def retry(self, exc, countdown, max_retries):
        self.retried = (countdown, max_retries)
        return Retry(exc=exc)


@pytest.fixture
def run(keyed):
    release = Release.objects.create(build=keyed.build, name="r", number=1, status="processing")
    return Run.objects.create(release=release, name="/", status="needs_diff")


def boom(step):
    raise Transient("storage unreachable")


def test_transient_error_is_retried_with_backoff(run):
    task = FakeTask(retries=2)
    with pytest.raises(Retry):
        run_step(task, run.id, label="diff", time_limit=60, work=boom, transient=Transient)
    assert task.retried == (20, settings.TRANSIENT_RETRIES)
    run.refresh_from_db()
    assert run.status == "needs_diff"


def test_past_the_retries_the_run_fails_and_the_release_finishes(run):
    result = run_step(
        FakeTask(retries=settings.TRANSIENT_RETRIES),
        run.id,
        label="diff",
        time_limit=60,
        work=boom,
        transient=Transient,
    )
    assert result == "failed"
    run.refresh_from_db()
    assert run.status == "failed"
    assert (
        run.failure_reason
        == f"diff failed after {settings.TRANSIENT_RETRIES + 1} tries: storage unreachable"
    )
    assert Release.objects.get().status == "reviewing"


def test_time_limit_fails_the_run(run):
    def slow(step):
        raise SoftTimeLimitExceeded()

    assert (
        run_step(
            FakeTask(0), run.id, label="capture", time_limit=420, work=slow, transient=Transient
        )
        == "failed"
    )
    run.refresh_from_db()
    assert run.failure_reason == "capture took longer than 420 s"


def test_other_errors_are_not_retried(run):
    def bug(step):
        raise KeyError("a bug")

    with pytest.raises(KeyError):
        run_step(FakeTask(0), run.id, label="diff", time_limit=60, work=bug, transient=Transient)


def test_a_database_deadlock_is_retried_and_its_retry_is_not_another_attempt(run):
    from django.db import OperationalError

    Run.objects.filter(pk=run.pk).update(pipeline_attempts=1)

    def deadlocked(step=None):
        raise OperationalError("deadlock detected")

    task = FakeTask(retries=0)
    with pytest.raises(Retry):
        run_step(task, run.id, label="capture", time_limit=60, work=deadlocked, transient=Transient)
    run.refresh_from_db()
    assert (run.status, run.pipeline_attempts) == ("needs_diff", 1)
    assert run.last_error == "capture: deadlock detected"
    # The retry claims the run again without counting an attempt.
    with pytest.raises(Retry):
        run_step(
            FakeTask(retries=1),
            run.id,
            label="diff",
            time_limit=60,
            work=lambda step: (services.claim_for_diff(run.id, step), deadlocked()),
            transient=Transient,
        )
    run.refresh_from_db()
    assert run.pipeline_attempts == 1
