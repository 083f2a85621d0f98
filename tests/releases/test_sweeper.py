from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from releases import services
from releases.models import Release, Run


@pytest.fixture
def release(keyed):
    return Release.objects.create(build=keyed.build, name="r", number=1, status="processing")


@pytest.fixture
def sent(monkeypatch):
    calls = []
    monkeypatch.setattr("releases.pipeline._send", lambda signature, run_id: calls.append(run_id))
    return calls


def stale(run, seconds=3600):
    Run.objects.filter(pk=run.pk).update(modified=timezone.now() - timedelta(seconds=seconds))


def test_sweeper_restarts_a_stuck_diff(release, sent, django_capture_on_commit_callbacks):
    run = Run.objects.create(
        release=release, name="/stuck", status="needs_diff", pipeline_attempts=1
    )
    stale(run)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.sweep_stuck_runs() == {"restarted": 1, "failed": 0}
    assert sent == [run.id]
    run.refresh_from_db()
    assert run.status == "needs_diff"
    # Restarted just now: not stuck again until the deadline passes once more.
    with django_capture_on_commit_callbacks(execute=True):
        assert services.sweep_stuck_runs() == {"restarted": 0, "failed": 0}


@override_settings(MAX_PIPELINE_ATTEMPTS=3)
def test_sweeper_fails_a_run_out_of_attempts_and_finishes_the_release(release, sent):
    run = Run.objects.create(
        release=release, name="/poison", status="needs_diff", pipeline_attempts=3
    )
    stale(run)
    assert services.sweep_stuck_runs() == {"restarted": 0, "failed": 1}
    run.refresh_from_db()
    assert run.status == "failed"
    assert run.failure_reason == "diff did not finish after 3 attempts"
    release.refresh_from_db()
    assert release.status == "reviewing"
    assert sent == []


def test_sweeper_ignores_fresh_runs_and_closed_releases(release, keyed, sent):
    Run.objects.create(release=release, name="/fresh", status="needs_diff")
    closed = Release.objects.create(build=keyed.build, name="old", number=1, status="bad")
    stale(Run.objects.create(release=closed, name="/old", status="needs_diff"))
    assert services.sweep_stuck_runs() == {"restarted": 0, "failed": 0}


@override_settings(MAX_PIPELINE_ATTEMPTS=2)
def test_claim_counts_attempts_and_fails_past_the_limit(release):
    run = Run.objects.create(release=release, name="/r", status="needs_diff")
    assert services.claim_for_diff(run.id) is not None
    assert services.claim_for_diff(run.id) is not None
    assert services.claim_for_diff(run.id) is None  # a third delivery: give up
    run.refresh_from_db()
    assert run.status == "failed"
    assert run.pipeline_attempts == 2
    assert "did not finish after 2 attempts" in run.failure_reason


def test_claim_skips_runs_that_need_no_diff(release):
    run = Run.objects.create(release=release, name="/r", status="diff_found")
    assert services.claim_for_diff(run.id) is None
    assert services.claim_for_diff(999999) is None
